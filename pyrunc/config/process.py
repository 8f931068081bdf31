"""config.json's `process`: its user, rlimits, capabilities, scheduling, I/O priority and
CPU affinity, validated as runc validates them.
"""

from pyrunc.config.fields import (ID_MAX, U64_MAX, array, boolean, check_type, cpu_list,
                                  id_value, obj, required_uint, string, strings, uint)
from pyrunc.errors import ConfigError

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}


class User:
    __slots__ = ("uid", "gid", "umask", "additional_gids")

    def __init__(self, d: dict, path: str) -> None:
        self.uid: int = id_value(d, "uid", path)
        self.gid: int = id_value(d, "gid", path)
        self.umask: int | None = uint(d, "umask", path)
        gids = array(d, "additionalGids", path, "an array of integers")
        for i, g in enumerate(gids):
            check_type(g, int, f"{path}.additionalGids[{i}]", "an integer")
            if not 0 <= g <= ID_MAX:
                raise ConfigError(f"{path}.additionalGids[{i}]",
                                  f"{g} is out of range: uids and gids must be in range "
                                  f"0-{ID_MAX}")
        self.additional_gids: list[int] = gids


class Rlimit:
    __slots__ = ("name", "resource", "soft", "hard")

    def __init__(self, d: dict, path: str) -> None:
        check_type(d, dict, path, "an object")
        name = string(d, "type", path)
        if name not in RLIMITS:
            raise ConfigError(f"{path}.type", f"unknown rlimit {name!r}")
        self.name = name
        self.resource = RLIMITS[name]
        self.soft = required_uint(d, "soft", path, U64_MAX)
        self.hard = required_uint(d, "hard", path, U64_MAX)
        if self.soft > self.hard:
            raise ConfigError(path, f"soft limit {self.soft} is above hard limit {self.hard}")


class Process:
    __slots__ = ("terminal", "console_size", "user", "args", "env", "cwd", "capabilities",
                 "rlimits", "no_new_privileges", "oom_score_adj", "apparmor_profile",
                 "selinux_label", "io_priority", "scheduler", "exec_cpu_affinity", "raw")

    def __init__(self, d: dict, path: str = "process") -> None:
        check_type(d, dict, path, "an object")
        self.raw = d
        self.terminal = boolean(d, "terminal", path)
        self.console_size = d.get("consoleSize")
        self.user = User(obj(d, "user", path), f"{path}.user")
        self.args = strings(d, "args", path)
        if not self.args:
            raise ConfigError(f"{path}.args", "must name the program to run")
        self.env = strings(d, "env", path)
        for i, e in enumerate(self.env):
            # runc: "invalid environment variable: missing '='" / "name cannot be empty"
            if "=" not in e:
                raise ConfigError(f"{path}.env[{i}]", f"{e!r} is not in NAME=VALUE form")
            if e.startswith("="):
                raise ConfigError(f"{path}.env[{i}]", "the variable's name is empty")
        cwd = string(d, "cwd", path)
        if not cwd:
            raise ConfigError(f"{path}.cwd", "is required")
        if not cwd.startswith("/"):
            raise ConfigError(f"{path}.cwd", f"{cwd!r} is not an absolute path")
        self.cwd = cwd
        caps = obj(d, "capabilities", path)
        self.capabilities = {k: caps.get(k) for k in
                             ("bounding", "effective", "permitted", "inheritable", "ambient")}
        rl = array(d, "rlimits", path)
        self.rlimits = [Rlimit(r, f"{path}.rlimits[{i}]") for i, r in enumerate(rl)]
        seen = set()
        for i, r in enumerate(self.rlimits):
            if r.name in seen:
                raise ConfigError(f"{path}.rlimits[{i}].type", f"duplicate rlimit {r.name}")
            seen.add(r.name)
        self.no_new_privileges = boolean(d, "noNewPrivileges", path)
        v = d.get("oomScoreAdj")
        if v is not None:
            check_type(v, int, f"{path}.oomScoreAdj", "an integer")
            if not -1000 <= v <= 1000:
                raise ConfigError(f"{path}.oomScoreAdj", f"{v} is outside -1000..1000")
        self.oom_score_adj: int | None = v
        self.apparmor_profile = string(d, "apparmorProfile", path)
        self.selinux_label = string(d, "selinuxLabel", path)
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
        aff = obj(d, "execCPUAffinity", path)
        self.exec_cpu_affinity = {k: cpu_list(string(aff, k, f"{path}.execCPUAffinity"),
                                              f"{path}.execCPUAffinity.{k}")
                                  for k in ("initial", "final") if aff.get(k) is not None}


def _check_capabilities(names: object, path: str) -> list[str]:
    """A name that is no capability this kernel has (unknown, or newer than it) is ignored
    with runc's warning: runtime-spec 1.1 config.md, a value that cannot be mapped to a kernel
    interface MUST be logged as a warning and SHOULD NOT fail the container, which lets one
    config serve several kernels."""
    if names is None:
        return []
    check_type(names, list, path, "an array of capability names")
    from pyrunc.config.caps import last_cap, number
    unavailable = []
    top = None
    for i, n in enumerate(names):  # type: ignore[arg-type]
        check_type(n, str, f"{path}[{i}]", "a capability name")
        num = number(n)
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
    check_type(v, dict, path, "an object")
    assert isinstance(v, dict)
    cls = string(v, "class", path)
    if cls not in IOPRIO_CLASSES:
        raise ConfigError(f"{path}.class", f"unknown I/O priority class {cls!r}")
    prio = v.get("priority", 0)
    check_type(prio, int, f"{path}.priority", "an integer")
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
    check_type(v, dict, path, "an object")
    assert isinstance(v, dict)
    pol = string(v, "policy", path)
    if pol not in SCHED_POLICIES:
        raise ConfigError(f"{path}.policy", f"unknown scheduling policy {pol!r}")
    if pol == "SCHED_ISO":
        raise ConfigError(f"{path}.policy", "SCHED_ISO is not implemented by Linux")
    flags = 0
    for i, f in enumerate(strings(v, "flags", path)):
        if f not in SCHED_FLAGS:
            raise ConfigError(f"{path}.flags[{i}]", f"unknown scheduler flag {f!r}")
        flags |= SCHED_FLAGS[f]
    nice = v.get("nice", 0)
    check_type(nice, int, f"{path}.nice", "an integer")
    if not -20 <= nice <= 19:
        raise ConfigError(f"{path}.nice", f"{nice} is outside -20..19")
    prio = v.get("priority", 0)
    check_type(prio, int, f"{path}.priority", "an integer")
    if pol in ("SCHED_FIFO", "SCHED_RR"):
        if not 1 <= prio <= 99:
            raise ConfigError(f"{path}.priority", f"{pol} needs a priority in 1..99")
    elif prio != 0:
        raise ConfigError(f"{path}.priority", f"{pol} takes no priority (0)")
    rt, dl, per = (uint(v, k, path, 0, U64_MAX) for k in ("runtime", "deadline", "period"))
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
