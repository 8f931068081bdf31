"""`features`: the runtime-spec features document (features.md) for this build."""
from __future__ import annotations

from pyrunc import OCI_VERSION, caps
from pyrunc.config import HOOK_STAGES
from pyrunc.planner import EXTRA_MOUNT_OPTIONS, MOUNT_FLAGS, PROPAGATION, RECURSIVE_ATTRS


def features() -> dict:
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": list(HOOK_STAGES),
        "mountOptions": sorted([*MOUNT_FLAGS, *PROPAGATION, *RECURSIVE_ATTRS,
                                *EXTRA_MOUNT_OPTIONS]),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps.NAMES[:caps.last_cap() + 1],
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False,
                       "rdma": True},
            "seccomp": {"enabled": True, "actions": [
                "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
                "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
                              "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]},
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": True}},
        },
        "annotations": {"org.opencontainers.runtime-spec.features": "pyrunc"},
    }
