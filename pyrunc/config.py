"""config.json loaded into typed objects and validated before anything is created.

Every invalid value raises ConfigError naming its JSON path.  Classes use __slots__ rather than
dataclasses: importing dataclasses costs ~8 ms and this module is on the path of every create.
"""

from pyrunc import fastos as os  # os without its import cost (see fastos)

from pyrunc import jsonio
from pyrunc.errors import ConfigError, PyruncError

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")
RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}
HOOK_STAGES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
               "poststop")
U64_MAX = (1 << 64) - 1
# A hook's timeout in seconds: the wait for its output is a poll(2) in milliseconds, an int, so
# 2^31-1 ms (24.8 days) is the longest it can be.
HOOK_TIMEOUT_MAX = ((1 << 31) - 1) // 1000
# runc's range for every uid and gid: -1 (4294967295) means "leave unchanged" to setresuid and
# setresgid, so a value the kernel reads as -1 would leave the process running as root.
ID_MAX = (1 << 31) - 1


def _type(v: object, t: type | tuple, path: str, what: str) -> None:
    if not isinstance(v, t) or (t is int and isinstance(v, bool)):
        raise ConfigError(path, f"must be {what}")


def _obj(d: dict, key: str, path: str) -> dict:
    v = d.get(key)
    if v is None:
        return {}
    _type(v, dict, f"{path}.{key}" if path else key, "an object")
    return v


def _check_text(v: str, path: str) -> None:
    """A string that reaches a system call as a C string: a NUL byte would cut it short
    silently (the init's copy ends there), so the value the kernel sees would not be the
    config's."""
    if "\0" in v:
        raise ConfigError(path, "must not contain a NUL byte")
    if not v.isascii():  # a lone surrogate ("\ud800") is no text any system call can take
        try:
            v.encode()
        except UnicodeEncodeError as e:
            raise ConfigError(path, f"holds a lone surrogate "
                                    f"({ascii(v[e.start])[1:-1]}): not Unicode text") from None


def _str(d: dict, key: str, path: str, default: str | None = None) -> str | None:
    v = d.get(key, default)
    if v is not None:
        p = f"{path}.{key}" if path else key
        _type(v, str, p, "a string")
        _check_text(v, p)
    return v


def _list(d: dict, key: str, path: str, what: str = "an array") -> list:
    """d[key] as a list; absent or null is empty (as Go reads it), any other type an error
    (``x or []`` would take 0, false or "" for an empty list)."""
    v = d.get(key)
    if v is None:
        return []
    _type(v, list, f"{path}.{key}" if path else key, what)
    return v


def _strlist(d: dict, key: str, path: str) -> list[str]:
    p = f"{path}.{key}" if path else key
    v = _list(d, key, path, "an array of strings")
    for i, s in enumerate(v):
        _type(s, str, f"{p}[{i}]", "a string")
        _check_text(s, f"{p}[{i}]")
    return v


def _uint(d: dict, key: str, path: str, default: int | None = None, top: int = 0xFFFFFFFF
          ) -> int | None:
    v = d.get(key, default)
    if v is None:
        return None
    p = f"{path}.{key}" if path else key
    _type(v, int, p, "an integer")
    if v < 0 or v > top:
        raise ConfigError(p, f"{v} is out of range")
    return v


def _required_uint(d: dict, key: str, path: str, top: int = 0xFFFFFFFF) -> int:
    """An unsigned integer the schema requires (runc's decoder would read a missing one as 0)."""
    v = _uint(d, key, path, None, top)
    if v is None:
        raise ConfigError(f"{path}.{key}", "is required and must be an integer")
    return v


def _bool(d: dict, key: str, path: str) -> bool:
    v = d.get(key, False)
    _type(v, bool, f"{path}.{key}" if path else key, "true or false")
    return v


def _id(d: dict, key: str, path: str) -> int:
    """A uid or gid: runc's range, 0-2147483647 (see ID_MAX)."""
    v = d.get(key, 0)
    p = f"{path}.{key}"
    _type(v, int, p, "an integer")
    if not 0 <= v <= ID_MAX:
        raise ConfigError(p, f"{v} is out of range: uids and gids must be in range 0-{ID_MAX}")
    return v


class User:
    __slots__ = ("uid", "gid", "umask", "additional_gids")

    def __init__(self, d: dict, path: str) -> None:
        self.uid: int = _id(d, "uid", path)
        self.gid: int = _id(d, "gid", path)
        self.umask: int | None = _uint(d, "umask", path)
        gids = _list(d, "additionalGids", path, "an array of integers")
        for i, g in enumerate(gids):
            _type(g, int, f"{path}.additionalGids[{i}]", "an integer")
            if not 0 <= g <= ID_MAX:
                raise ConfigError(f"{path}.additionalGids[{i}]",
                                  f"{g} is out of range: uids and gids must be in range "
                                  f"0-{ID_MAX}")
        self.additional_gids: list[int] = gids


class Rlimit:
    __slots__ = ("name", "resource", "soft", "hard")

    def __init__(self, d: dict, path: str) -> None:
        _type(d, dict, path, "an object")
        name = _str(d, "type", path)
        if name not in RLIMITS:
            raise ConfigError(f"{path}.type", f"unknown rlimit {name!r}")
        self.name = name
        self.resource = RLIMITS[name]
        self.soft = _required_uint(d, "soft", path, U64_MAX)
        self.hard = _required_uint(d, "hard", path, U64_MAX)
        if self.soft > self.hard:
            raise ConfigError(path, f"soft limit {self.soft} is above hard limit {self.hard}")


class Process:
    __slots__ = ("terminal", "console_size", "user", "args", "env", "cwd", "capabilities",
                 "rlimits", "no_new_privileges", "oom_score_adj", "apparmor_profile",
                 "selinux_label", "io_priority", "scheduler", "exec_cpu_affinity", "raw")

    def __init__(self, d: dict, path: str = "process") -> None:
        _type(d, dict, path, "an object")
        self.raw = d
        self.terminal = _bool(d, "terminal", path)
        self.console_size = d.get("consoleSize")
        self.user = User(_obj(d, "user", path), f"{path}.user")
        self.args = _strlist(d, "args", path)
        if not self.args:
            raise ConfigError(f"{path}.args", "must name the program to run")
        self.env = _strlist(d, "env", path)
        for i, e in enumerate(self.env):
            # runc: "invalid environment variable: missing '='" / "name cannot be empty"
            if "=" not in e:
                raise ConfigError(f"{path}.env[{i}]", f"{e!r} is not in NAME=VALUE form")
            if e.startswith("="):
                raise ConfigError(f"{path}.env[{i}]", "the variable's name is empty")
        cwd = _str(d, "cwd", path)
        if not cwd:
            raise ConfigError(f"{path}.cwd", "is required")
        if not cwd.startswith("/"):
            raise ConfigError(f"{path}.cwd", f"{cwd!r} is not an absolute path")
        self.cwd = cwd
        caps = _obj(d, "capabilities", path)
        self.capabilities = {k: caps.get(k) for k in
                             ("bounding", "effective", "permitted", "inheritable", "ambient")}
        rl = _list(d, "rlimits", path)
        self.rlimits = [Rlimit(r, f"{path}.rlimits[{i}]") for i, r in enumerate(rl)]
        seen = set()
        for i, r in enumerate(self.rlimits):
            if r.name in seen:
                raise ConfigError(f"{path}.rlimits[{i}].type", f"duplicate rlimit {r.name}")
            seen.add(r.name)
        self.no_new_privileges = _bool(d, "noNewPrivileges", path)
        v = d.get("oomScoreAdj")
        if v is not None:
            _type(v, int, f"{path}.oomScoreAdj", "an integer")
            if not -1000 <= v <= 1000:
                raise ConfigError(f"{path}.oomScoreAdj", f"{v} is outside -1000..1000")
        self.oom_score_adj: int | None = v
        self.apparmor_profile = _str(d, "apparmorProfile", path)
        self.selinux_label = _str(d, "selinuxLabel", path)
        ignored: list[str] = []
        for key, lst in self.capabilities.items():
            for n in _check_capabilities(lst, f"{path}.capabilities.{key}"):
                if n not in ignored:
                    ignored.append(n)
        if ignored:  # one warning for all the sets, as runc's
            from pyrunc import log
            log.warning(f"ignoring unknown or unavailable capabilities: [{' '.join(ignored)}]")
        self.io_priority = _io_priority(d.get("ioPriority"), f"{path}.ioPriority")
        self.scheduler = _scheduler(d.get("scheduler"), f"{path}.scheduler")
        aff = _obj(d, "execCPUAffinity", path)
        self.exec_cpu_affinity = {k: cpu_list(_str(aff, k, f"{path}.execCPUAffinity"),
                                              f"{path}.execCPUAffinity.{k}")
                                  for k in ("initial", "final") if aff.get(k) is not None}


class Mount:
    __slots__ = ("destination", "type", "source", "options", "path", "uid_mappings",
                 "gid_mappings")

    def __init__(self, d: dict, path: str, relative_ok: bool = False) -> None:
        _type(d, dict, path, "an object")
        self.path = path
        dest = _str(d, "destination", path)
        if not dest:
            raise ConfigError(f"{path}.destination", "is required")
        if not dest.startswith("/"):
            # 1.0: MUST be absolute.  1.1+: MAY be relative (deprecated), read from "/".
            if not relative_ok:
                raise ConfigError(f"{path}.destination", f"{dest!r} is not an absolute path")
            from pyrunc import log
            log.warning(f"mount destination {dest} is not absolute. Support for non-absolute "
                        "mount destinations will be removed in a future release.")
            dest = "/" + dest
        # Cleaned, as runc's securejoin does: the /proc rules (planner.check_proc_mount) and
        # the init's check that a target outside /proc never lands on procfs both read it.
        self.destination = os.path.normpath(dest)
        self.type = _str(d, "type", path) or ""
        self.source = _str(d, "source", path) or ""
        self.options = _strlist(d, "options", path)
        self.uid_mappings = _id_mappings(d, "uidMappings", path)
        self.gid_mappings = _id_mappings(d, "gidMappings", path)
        if bool(self.uid_mappings) != bool(self.gid_mappings):
            raise ConfigError(f"{path}.uidMappings",
                              "an id-mapped mount needs both uidMappings and gidMappings")


class Namespace:
    __slots__ = ("type", "path")

    def __init__(self, d: dict, path: str) -> None:
        _type(d, dict, path, "an object")
        t = _str(d, "type", path)
        if t not in NAMESPACE_TYPES:
            raise ConfigError(f"{path}.type", f"unknown namespace type {t!r}")
        self.type: str = t
        self.path = _str(d, "path", path) or None


class IdMapping:
    __slots__ = ("container_id", "host_id", "size")

    def __init__(self, d: dict, path: str) -> None:
        _type(d, dict, path, "an object")
        self.container_id = _required_uint(d, "containerID", path)
        self.host_id = _required_uint(d, "hostID", path)
        self.size = _required_uint(d, "size", path)
        if not self.size:
            raise ConfigError(f"{path}.size", "must be at least 1")


def host_id(maps: list[IdMapping], cid: int) -> int | None:
    """The host id that container id ``cid`` maps to through ``maps``, or None if unmapped."""
    for m in maps:
        if m.container_id <= cid < m.container_id + m.size:
            return m.host_id + cid - m.container_id
    return None


class Hook:
    __slots__ = ("path", "args", "env", "timeout")

    def __init__(self, d: dict, path: str) -> None:
        _type(d, dict, path, "an object")
        p = _str(d, "path", path)
        if not p or not p.startswith("/"):
            raise ConfigError(f"{path}.path", "must be an absolute path")
        self.path = p
        self.args = _strlist(d, "args", path)
        self.env = _strlist(d, "env", path)
        t = d.get("timeout")
        if t is not None:
            _type(t, int, f"{path}.timeout", "an integer")
            if not 0 < t <= HOOK_TIMEOUT_MAX:
                raise ConfigError(f"{path}.timeout", f"{t} is outside 1..{HOOK_TIMEOUT_MAX} "
                                                     "(seconds)")
        self.timeout: int | None = t

    def to_json(self) -> dict:
        d: dict = {"path": self.path}
        if self.args:
            d["args"] = self.args
        if self.env:
            d["env"] = self.env
        if self.timeout is not None:
            d["timeout"] = self.timeout
        return d


class Linux:
    __slots__ = ("namespaces", "uid_mappings", "gid_mappings", "devices", "cgroups_path",
                 "resources", "rootfs_propagation", "masked_paths", "readonly_paths",
                 "sysctl", "seccomp", "mount_label", "personality", "time_offsets",
                 "intel_rdt", "memory_policy", "net_devices", "raw")

    def __init__(self, d: dict, path: str = "linux") -> None:
        _type(d, dict, path, "an object")
        self.raw = d
        ns = _list(d, "namespaces", path)
        self.namespaces = [Namespace(n, f"{path}.namespaces[{i}]") for i, n in enumerate(ns)]
        seen: set[str] = set()
        for i, n in enumerate(self.namespaces):
            if n.type in seen:
                raise ConfigError(f"{path}.namespaces[{i}].type",
                                  f"duplicate namespace type {n.type!r}")
            seen.add(n.type)
        self.uid_mappings = _id_mappings(d, "uidMappings", path)
        self.gid_mappings = _id_mappings(d, "gidMappings", path)
        devs = _list(d, "devices", path)
        for i, dev in enumerate(devs):  # the planner checks the values (_device_table)
            _type(dev, dict, f"{path}.devices[{i}]", "an object")
            _str(dev, "type", f"{path}.devices[{i}]")
            _str(dev, "path", f"{path}.devices[{i}]")
        self.devices = devs
        self.cgroups_path = _str(d, "cgroupsPath", path)
        self.resources = _obj(d, "resources", path)
        self.rootfs_propagation = _str(d, "rootfsPropagation", path)
        self.masked_paths = _strlist(d, "maskedPaths", path)
        self.readonly_paths = _strlist(d, "readonlyPaths", path)
        for key, lst in (("maskedPaths", self.masked_paths),
                         ("readonlyPaths", self.readonly_paths)):
            for i, p in enumerate(lst):
                if not p.startswith("/"):
                    raise ConfigError(f"{path}.{key}[{i}]", f"{p!r} is not an absolute path")
        sysctl = _obj(d, "sysctl", path)
        for k, v in sysctl.items():
            _type(v, str, f"{path}.sysctl.{k}", "a string")
            _check_text(v, f"{path}.sysctl.{k}")
        self.sysctl: dict[str, str] = sysctl
        self.seccomp = d.get("seccomp")
        if self.seccomp is not None:
            _type(self.seccomp, dict, f"{path}.seccomp", "an object")
        self.mount_label = _str(d, "mountLabel", path)
        self.personality = _personality(d.get("personality"), f"{path}.personality")
        self.time_offsets = _time_offsets(d.get("timeOffsets"), f"{path}.timeOffsets")
        self.intel_rdt = _intel_rdt(d.get("intelRdt"), f"{path}.intelRdt")
        self.memory_policy = memory_policy(d.get("memoryPolicy"), f"{path}.memoryPolicy")
        self.net_devices = _net_devices(d.get("netDevices"), f"{path}.netDevices")
        netns = self.namespace("network") if self.net_devices else None
        if self.net_devices and netns is None:
            raise ConfigError(f"{path}.netDevices", "unable to move network devices without a "
                                                    "network namespace")
        for host, name in self.net_devices.items():
            if name == "lo" and not netns.path:  # the kernel would move it, then refuse
                raise ConfigError(f"{path}.netDevices.{host}.name", "the container's new "
                                  "network namespace already has a device lo")
        if self.rootfs_propagation is not None and self.rootfs_propagation not in (
                "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable",
                "runbindable"):
            raise ConfigError(f"{path}.rootfsPropagation",
                              f"unknown propagation {self.rootfs_propagation!r}")

    def namespace(self, t: str) -> Namespace | None:
        for n in self.namespaces:
            if n.type == t:
                return n
        return None


def _id_mappings(d: dict, key: str, path: str) -> list[IdMapping]:
    """uidMappings/gidMappings, checked the way the kernel will: at most 340 ranges, no two
    overlapping on either side, none wrapping past 2^32."""
    v = d.get(key)
    if v is None:
        return []
    _type(v, list, f"{path}.{key}", "an array of id mappings")
    maps = [IdMapping(m, f"{path}.{key}[{i}]") for i, m in enumerate(v)]
    if len(maps) > 340:
        raise ConfigError(f"{path}.{key}", "has more than 340 ranges (the kernel's limit)")
    for i, m in enumerate(maps):
        for side in ("container_id", "host_id"):
            if getattr(m, side) + m.size > 1 << 32:
                raise ConfigError(f"{path}.{key}[{i}]", "range goes past 2^32")
        for j in range(i):
            o = maps[j]
            for side, name in (("container_id", "containerID"), ("host_id", "hostID")):
                a, b = getattr(m, side), getattr(o, side)
                if a < b + o.size and b < a + m.size:
                    raise ConfigError(f"{path}.{key}[{i}].{name}",
                                      f"overlaps {path}.{key}[{j}]")
    return maps


def _check_capabilities(names: object, path: str) -> list[str]:
    """A name that is no capability this kernel has (unknown, or newer than it) is ignored
    with runc's warning: runtime-spec 1.1 config.md, a value that cannot be mapped to a kernel
    interface MUST be logged as a warning and SHOULD NOT fail the container, which lets one
    config serve several kernels."""
    if names is None:
        return []
    _type(names, list, path, "an array of capability names")
    from pyrunc.caps import NUMBER, last_cap
    unavailable = []
    top = None
    for i, n in enumerate(names):  # type: ignore[arg-type]
        _type(n, str, f"{path}[{i}]", "a capability name")
        num = NUMBER.get(n.upper() if n.upper().startswith("CAP_") else "CAP_" + n.upper())
        if num is None:
            unavailable.append(n)
            continue
        if top is None:
            top = last_cap()
        if num > top:
            unavailable.append(n)
    return unavailable


IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}


def _io_priority(v: object, path: str) -> int | None:
    """process.ioPriority as the ioprio_set value: class << 13 | priority."""
    if v is None:
        return None
    _type(v, dict, path, "an object")
    assert isinstance(v, dict)
    cls = _str(v, "class", path)
    if cls not in IOPRIO_CLASSES:
        raise ConfigError(f"{path}.class", f"unknown I/O priority class {cls!r}")
    prio = v.get("priority", 0)
    _type(prio, int, f"{path}.priority", "an integer")
    if not 0 <= prio <= 7:
        raise ConfigError(f"{path}.priority", f"{prio} is outside 0..7")
    return IOPRIO_CLASSES[cls] << 13 | prio


SCHED_POLICIES = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3,
                  "SCHED_ISO": 4, "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}
SCHED_FLAGS = {"SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02,
               "SCHED_FLAG_DL_OVERRUN": 0x04, "SCHED_FLAG_KEEP_POLICY": 0x08,
               "SCHED_FLAG_KEEP_PARAMS": 0x10, "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
               "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40}


def _scheduler(v: object, path: str) -> bytes | None:
    """process.scheduler as the packed struct sched_attr (linux/sched/types.h, 56 bytes)."""
    if v is None:
        return None
    _type(v, dict, path, "an object")
    assert isinstance(v, dict)
    pol = _str(v, "policy", path)
    if pol not in SCHED_POLICIES:
        raise ConfigError(f"{path}.policy", f"unknown scheduling policy {pol!r}")
    if pol == "SCHED_ISO":
        raise ConfigError(f"{path}.policy", "SCHED_ISO is not implemented by Linux")
    flags = 0
    for i, f in enumerate(_strlist(v, "flags", path)):
        if f not in SCHED_FLAGS:
            raise ConfigError(f"{path}.flags[{i}]", f"unknown scheduler flag {f!r}")
        flags |= SCHED_FLAGS[f]
    nice = v.get("nice", 0)
    _type(nice, int, f"{path}.nice", "an integer")
    if not -20 <= nice <= 19:
        raise ConfigError(f"{path}.nice", f"{nice} is outside -20..19")
    prio = v.get("priority", 0)
    _type(prio, int, f"{path}.priority", "an integer")
    if pol in ("SCHED_FIFO", "SCHED_RR"):
        if not 1 <= prio <= 99:
            raise ConfigError(f"{path}.priority", f"{pol} needs a priority in 1..99")
    elif prio != 0:
        raise ConfigError(f"{path}.priority", f"{pol} takes no priority (0)")
    rt, dl, per = (_uint(v, k, path, 0, U64_MAX) for k in ("runtime", "deadline", "period"))
    if pol == "SCHED_DEADLINE":
        if not (rt and dl):
            raise ConfigError(path, "SCHED_DEADLINE needs runtime and deadline")
        if not rt <= dl <= (per or dl):  # the kernel's rule (period 0 means the deadline)
            raise ConfigError(path, "SCHED_DEADLINE needs runtime <= deadline <= period")
    import struct
    # util_min and util_max (0): the spec has no fields for them, but the kernel reads all
    # 56 bytes the size says, and with the UTIL_CLAMP flags it uses them.
    return struct.pack("<IIQiIQQQII", 56, SCHED_POLICIES[pol], flags, nice, prio, rt, dl, per,
                       0, 0)


def cpu_list(v: str | None, path: str, what: str = "CPU") -> bytes:
    """A cpuset-style list ("0-3,7") as a little-endian cpu_set_t bit mask (1024 CPUs; also
    a nodemask of 1024 NUMA nodes, the kernel's most, with ``what`` "node")."""
    cpus: set[int] = set()
    for part in (v or "").split(","):
        part = part.strip()
        lo, _, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi) if hi else int(lo)
        except ValueError:
            raise ConfigError(path, f"{v!r} is not a {what} list like 0-3,7") from None
        if a < 0 or b < a or b >= 1024:
            raise ConfigError(path, f"{part!r} is not a valid {what} range")
        cpus.update(range(a, b + 1))
    return cpu_mask(cpus)


def cpu_mask(cpus: set[int]) -> bytes:
    """CPU numbers as a little-endian cpu_set_t bit mask (1024 CPUs), as CPU_AFFINITY takes it."""
    mask = 0
    for c in cpus:
        mask |= 1 << c
    return mask.to_bytes(128, "little")


MPOL_MODES = {"MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3,
              "MPOL_LOCAL": 4, "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6}
MPOL_FLAGS = {"MPOL_F_NUMA_BALANCING": 1 << 13, "MPOL_F_RELATIVE_NODES": 1 << 14,
              "MPOL_F_STATIC_NODES": 1 << 15}


class MemoryPolicy:
    """linux.memoryPolicy (runtime-spec 1.3): set_mempolicy(mode | flags, nodemask)."""
    __slots__ = ("mode", "flags", "nodes", "text")

    def __init__(self, mode: int, flags: int, nodes: bytes, text: str) -> None:
        self.mode, self.flags, self.nodes, self.text = mode, flags, nodes, text


def memory_policy(v: object, path: str) -> MemoryPolicy | None:
    """Checked as runc 1.3 checks it: known mode and flag names, a node list, and the node
    count the mode takes (none for DEFAULT and LOCAL, at least one for BIND, INTERLEAVE,
    PREFERRED_MANY and WEIGHTED_INTERLEAVE, any for PREFERRED).  Whether the nodes exist is
    the kernel's to say (a cpuset, and the RELATIVE and STATIC flags, change which may)."""
    if v is None:
        return None
    _type(v, dict, path, "an object")
    assert isinstance(v, dict)
    mode = _str(v, "mode", path)
    if mode is None:
        raise ConfigError(f"{path}.mode", "is required")
    if mode not in MPOL_MODES:
        raise ConfigError(f"{path}.mode", f"invalid memory policy mode {mode!r}")
    flags = 0
    for i, f in enumerate(_strlist(v, "flags", path)):
        if f not in MPOL_FLAGS:
            raise ConfigError(f"{path}.flags[{i}]", f"invalid memory policy flag {f!r}")
        flags |= MPOL_FLAGS[f]
    both = MPOL_FLAGS["MPOL_F_RELATIVE_NODES"] | MPOL_FLAGS["MPOL_F_STATIC_NODES"]
    if flags & both == both:
        raise ConfigError(f"{path}.flags", "MPOL_F_RELATIVE_NODES and MPOL_F_STATIC_NODES "
                                           "exclude each other")
    nodes = (_str(v, "nodes", path) or "").strip()
    mask = cpu_list(nodes, f"{path}.nodes", "node") if nodes else bytes(128)
    count = bin(int.from_bytes(mask, "little")).count("1")
    if mode in ("MPOL_DEFAULT", "MPOL_LOCAL") and count:
        raise ConfigError(f"{path}.nodes", f"{mode} takes no nodes, but {count} are given")
    if mode not in ("MPOL_DEFAULT", "MPOL_LOCAL", "MPOL_PREFERRED") and not count:
        raise ConfigError(f"{path}.nodes", f"{mode} needs at least one node")
    return MemoryPolicy(MPOL_MODES[mode], flags, mask,
                        f"{path}: set_mempolicy {mode}" + (f" nodes {nodes}" if nodes else ""))


def _net_devices(v: object, path: str) -> dict[str, str]:
    """linux.netDevices (runtime-spec 1.3): host device name -> its name in the container
    (the same when "name" is absent).  Names are checked as runc checks them (the kernel's
    dev_valid_name): 1 to 15 bytes, not "." or "..", no "/", ":" or blank; a new name may be
    a "%d" template, which the kernel fills in."""
    if v is None:
        return {}
    _type(v, dict, path, "an object")
    assert isinstance(v, dict)
    out: dict[str, str] = {}
    for host, dev in v.items():
        _check_ifname(host, f"{path}.{host}")
        _type(dev, dict, f"{path}.{host}", "an object")
        name = _str(dev, "name", f"{path}.{host}") or host
        _check_ifname(name, f"{path}.{host}.name")
        out[host] = name
    seen: set[str] = set()
    for host, name in out.items():
        if "%" not in name and name in seen:
            raise ConfigError(f"{path}.{host}.name", f"{name!r} is given to two devices")
        seen.add(name)
    return out


def _check_ifname(name: str, path: str) -> None:
    _check_text(name, path)
    if not 0 < len(name.encode()) < 16 or name in (".", "..") or \
            any(c in name for c in "/: \t\n\r\v\f"):
        raise ConfigError(path, f"invalid network device name {name!r}")


def _intel_rdt(v: object, path: str) -> dict | None:
    """linux.intelRdt (closID, l3CacheSchema, memBwSchema, schemata (1.3), enableMonitoring
    (1.3)) checked for its types; whether the host can apply it is the planner's check."""
    if v is None:
        return None
    _type(v, dict, path, "an object")
    assert isinstance(v, dict)
    clos = _str(v, "closID", path)
    # "/" alone is the default CLOS (1.3, #1289), as runc allows it
    if clos is not None and (clos in (".", "..") or (len(clos) > 1 and "/" in clos)):
        raise ConfigError(f"{path}.closID", f"invalid intelRdt.closID {clos!r}")
    lines = [(f"{path}.{k}", _str(v, k, path)) for k in ("l3CacheSchema", "memBwSchema")]
    lines += [(f"{path}.schemata[{i}]", s) for i, s in enumerate(_strlist(v, "schemata", path))]
    for jp, line in lines:
        if line is not None and "\n" in line:
            raise ConfigError(jp, "must not contain a newline")
    _bool(v, "enableMonitoring", path)
    return v


PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}


def _personality(v: object, path: str) -> int | None:
    """linux.personality as the personality(2) value.  The spec defines no flags yet."""
    if v is None:
        return None
    _type(v, dict, path, "an object")
    assert isinstance(v, dict)
    dom = _str(v, "domain", path)
    if dom not in PERSONALITY_DOMAINS:
        raise ConfigError(f"{path}.domain", f"unknown personality domain {dom!r}")
    for i, f in enumerate(_strlist(v, "flags", path)):
        raise ConfigError(f"{path}.flags[{i}]", f"unknown personality flag {f!r}")
    return PERSONALITY_DOMAINS[dom]


def _time_offsets(v: object, path: str) -> str | None:
    """linux.timeOffsets as the text written to /proc/PID/timens_offsets."""
    if v is None:
        return None
    _type(v, dict, path, "an object")
    assert isinstance(v, dict)
    lines = []
    for clock, off in v.items():
        if clock not in ("monotonic", "boottime"):
            raise ConfigError(f"{path}.{clock}", "only monotonic and boottime can be offset")
        _type(off, dict, f"{path}.{clock}", "an object")
        secs = off.get("secs", 0)
        _type(secs, int, f"{path}.{clock}.secs", "an integer")
        ns = _uint(off, "nanosecs", f"{path}.{clock}", 0, 999999999)
        lines.append(f"{clock} {secs} {ns}\n")
    return "".join(lines)


class Config:
    __slots__ = ("oci_version", "root_path", "root_readonly", "hostname", "domainname",
                 "process", "mounts", "linux", "hooks", "annotations", "bundle", "raw")

    def __init__(self, d: object, bundle: str) -> None:
        _type(d, dict, "", "a JSON object")
        assert isinstance(d, dict)
        self.raw = d
        self.bundle = bundle
        v = d.get("ociVersion")
        if not isinstance(v, str):
            raise ConfigError("ociVersion", "is required and must be a string")
        check_oci_version(v)
        self.oci_version = v
        root = d.get("root")
        if not isinstance(root, dict):
            raise ConfigError("root", "is required and must be an object")
        rp = _str(root, "path", "root")
        if not rp:
            raise ConfigError("root.path", "is required")
        self.root_path = os.path.normpath(os.path.join(bundle, rp))
        self.root_readonly = _bool(root, "readonly", "root")
        self.hostname = _str(d, "hostname", "")
        self.domainname = _str(d, "domainname", "")
        for key, name in (("hostname", self.hostname), ("domainname", self.domainname)):
            if name is not None and len(name.encode()) > 64:
                raise ConfigError(key, "is longer than 64 bytes (the kernel's limit)")
        p = d.get("process")
        self.process = Process(p) if p is not None else None
        ms = _list(d, "mounts", "")
        rel = oci_minor(v) >= 1
        self.mounts = [Mount(m, f"mounts[{i}]", rel) for i, m in enumerate(ms)]
        self.linux = Linux(_obj(d, "linux", ""))
        hooks = _obj(d, "hooks", "")
        self.hooks: dict[str, list[Hook]] = {}
        for stage, lst in hooks.items():
            if stage not in HOOK_STAGES:
                raise ConfigError(f"hooks.{stage}", "unknown hook stage")
            _type(lst, list, f"hooks.{stage}", "an array")
            self.hooks[stage] = [Hook(h, f"hooks.{stage}[{i}]") for i, h in enumerate(lst)]
        ann = _obj(d, "annotations", "")
        for k, val in ann.items():
            _type(val, str, f"annotations.{k}", "a string")
        self.annotations: dict[str, str] = ann


def check_oci_version(v: str) -> None:
    """Accept every runtime-spec version from 1.0.0 through 1.3.x (with -rc/-dev suffixes)."""
    core = v.split("-", 1)[0].split("+", 1)[0]
    parts = core.split(".")
    try:
        major, minor = int(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        raise ConfigError("ociVersion", f"{v!r} is not a version") from None
    if major != 1 or minor > 3:
        raise ConfigError("ociVersion", f"version {v} is not supported (1.0.0 to 1.3.x are)")


def oci_minor(v: str) -> int:
    """The minor version of an already checked ociVersion."""
    return int(v.split("-", 1)[0].split("+", 1)[0].split(".")[1])


def load(bundle: str) -> Config:
    """Read and validate BUNDLE/config.json."""
    return Config(jsonio.load_file(os.path.join(bundle, "config.json"), "config.json"), bundle)
