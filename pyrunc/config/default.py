"""`spec`: the default config.json, the same document `runc spec` writes."""
from __future__ import annotations

import os

from pyrunc import OCI_VERSION, jsonio
from pyrunc.errors import PyruncError

DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def default_spec(rootless: bool = False) -> dict:
    spec: dict = {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(DEFAULT_CAPS) for k in
                             ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "pyrunc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                         "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                            "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                              "/proc/sysrq-trigger"],
        },
    }
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        # A pure cgroup v2 host: runc adds a cgroup namespace (IsCgroup2UnifiedMode).
        spec["linux"]["namespaces"].append({"type": "cgroup"})
    if rootless:
        lx = spec["linux"]
        lx.pop("resources")
        # runc's ToRootless: no network namespace (no way to set one up), a user namespace
        lx["namespaces"] = [n for n in lx["namespaces"] if n["type"] != "network"] + \
            [{"type": "user"}]
        lx["uidMappings"] = [{"containerID": 0, "hostID": os.getuid(), "size": 1}]
        lx["gidMappings"] = [{"containerID": 0, "hostID": os.getgid(), "size": 1}]
        cgroup_mount = next(m for m in spec["mounts"] if m["destination"] == "/sys/fs/cgroup")
        mounts = [m for m in spec["mounts"] if m["destination"] not in ("/sys", "/sys/fs/cgroup")]
        for m in mounts:
            if m["destination"] == "/dev/pts":
                m["options"] = [o for o in m["options"] if o != "gid=5"]
            if m["destination"] == "/dev/mqueue":
                pass
        mounts.append({"destination": "/sys", "type": "none", "source": "/sys",
                       "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]})
        mounts.append(cgroup_mount)  # runc keeps it, after the /sys bind
        spec["mounts"] = mounts
    return spec


def write_spec(bundle: str, rootless: bool = False) -> None:
    path = os.path.join(bundle, "config.json")
    if os.path.exists(path):
        raise PyruncError("File config.json exists. Remove it first.")
    try:
        with open(path, "x") as f:
            f.write(jsonio.dumps(default_spec(rootless), indent="\t"))
    except OSError as e:
        raise PyruncError(f"{path}: {e.strerror}") from None
