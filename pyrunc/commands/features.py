"""`features`: the runtime-spec features document (features.md) for this build."""
from __future__ import annotations

from pyrunc import OCI_VERSION
from pyrunc.config import caps
from pyrunc.config import HOOK_STAGES
from pyrunc.config.linux import MPOL_FLAGS, MPOL_MODES
from pyrunc.host.probes import apparmor_enabled
from pyrunc.plan.selinux import enabled as selinux_enabled
from pyrunc.plan.kernel import EXTRA_MOUNT_OPTIONS, MOUNT_FLAGS, PROPAGATION, RECURSIVE_ATTRS


def features() -> dict:
    from pyrunc.seccomp.compile import features as seccomp_features
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": list(HOOK_STAGES),
        "mountOptions": sorted([*MOUNT_FLAGS, *PROPAGATION, *RECURSIVE_ATTRS,
                                *EXTRA_MOUNT_OPTIONS]),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps.NAMES[:caps.last_cap() + 1],
            "cgroup": {"v1": True, "v2": True, "systemd": _systemd(), "systemdUser": _systemd(),
                       "rdma": True},
            "seccomp": seccomp_features(),  # the table the compiler itself uses
            "apparmor": {"enabled": apparmor_enabled()},
            "selinux": {"enabled": selinux_enabled()},
            # pyrunc cannot apply Intel RDT (a config with it is refused), nor its 1.3 fields
            "intelRdt": {"enabled": False, "schemata": False, "monitoring": False},
            "memoryPolicy": {"modes": sorted(MPOL_MODES), "flags": sorted(MPOL_FLAGS)},
            "mountExtensions": {"idmap": {"enabled": True}},
            "netDevices": {"enabled": True},
        },
        "annotations": {"org.opencontainers.runtime-spec.features": "pyrunc"},
    }


def _systemd() -> bool:
    """The systemd driver works where systemd runs (sd_booted)."""
    import os
    return os.path.isdir("/run/systemd/system")
