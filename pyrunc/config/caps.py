"""Capability names and their numbers (linux/capability.h); the plan carries only bit masks."""

from pyrunc.errors import ConfigError

NAMES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
    "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON",
    "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]
NUMBER = {name: i for i, name in enumerate(NAMES)}


def number(name: str) -> int | None:
    """The number of a capability named as configs name them ("CAP_KILL", "kill", "Cap_Kill":
    runc accepts each), or None for a name linux/capability.h does not have."""
    n = name.upper()
    return NUMBER.get(n if n.startswith("CAP_") else "CAP_" + n)


_last_cap: int | None = None


def last_cap() -> int:
    """The kernel's highest capability number (a newer kernel may know more than NAMES)."""
    global _last_cap
    if _last_cap is None:
        _last_cap = _read_last_cap()
    return _last_cap


def _read_last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
            return int(f.read())
    except OSError:
        return len(NAMES) - 1


def mask(names: object, path: str, unknown_ok: bool = True) -> int:
    """Bit mask of a list of capability names.  Unknown names are skipped like runc does
    (a config written for a newer kernel still runs) unless ``unknown_ok`` is false."""
    if names is None:
        return 0
    if not isinstance(names, list):
        raise ConfigError(path, "must be an array of capability names")
    m = 0
    top = last_cap()
    for i, n in enumerate(names):
        if not isinstance(n, str):
            raise ConfigError(f"{path}[{i}]", "must be a capability name")
        num = number(n)
        if num is None:
            if unknown_ok:
                continue
            raise ConfigError(f"{path}[{i}]", f"unknown capability {n!r}")
        if num <= top:
            m |= 1 << num
    return m
