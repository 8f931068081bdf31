"""linux.resources onto cgroup files, on v1 (and hybrid) and v2, with runc's conversions.

This module validates and dispatches, and writes what is the same on both (pids, hugetlb, rdma,
net_cls/net_prio); the version-specific writes are in resources_v1.py and resources_v2.py, of
which a host loads one.

Everything is validated before the first write, so a bad value names its JSON path and leaves the
cgroup as it was.  A value the host cannot apply (controller not mounted, file missing, kernel
says no) is a ``ConfigError`` too: nothing is skipped silently.  The two deliberate exceptions
are runc's: kernel memory limits (obsolete, ignored with a warning, as runc 1.1 does) and device
rules on ``update`` (runc update never changes them; containerd sends them anyway).
"""

import errno
from pyrunc import fastos as os  # os without its import cost (see fastos)

from pyrunc.cgroups import V2, Cgroup, _read
from pyrunc.cgroups.writes import WritePlan
from pyrunc.errors import ConfigError

MAX_INT64 = (1 << 63) - 1
MAX_UINT64 = (1 << 64) - 1


# ---- conversions (runc's libcontainer/cgroups/utils.go, v1.1) -------------------------------

def shares_to_weight(shares: int) -> int:
    """cpu.shares [2, 262144] to cpu.weight [1, 10000], linearly, as runc 1.1 does."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_weight_to_io_weight(weight: int) -> int:
    """blkio.weight [10, 1000] to io.weight [1, 10000]."""
    if weight == 0:
        return 0
    return 1 + (weight - 10) * 9999 // 990


def swap_to_v2(swap: int, memory: int, path: str) -> int:
    """v1 memory+swap to v2 memory.swap.max (swap alone); 0 = leave, -1 = max."""
    if memory == -1 and swap == 0:
        return -1
    if swap in (-1, 0):
        return swap
    if memory in (0, -1):
        raise ConfigError(path, "unable to set swap limit without memory limit")
    if swap < memory:
        raise ConfigError(path, "memory+swap limit should be >= memory limit")
    return swap - memory


def _v2num(v: int) -> str:
    return "max" if v == -1 else str(v)


# ---- validation helpers -----------------------------------------------------------------------

def _get(d: dict, key: str, path: str, kind: str, lo: int | None = None, hi: int | None = None):
    """d[key] checked against its spec type; None when absent or null."""
    v = d.get(key)
    p = f"{path}.{key}"
    if v is None:
        return None
    if kind == "bool":
        if not isinstance(v, bool):
            raise ConfigError(p, "must be a boolean")
        return v
    if kind == "str":
        if not isinstance(v, str):
            raise ConfigError(p, "must be a string")
        return v
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(p, "must be an integer")
    if kind == "u64":
        lo, hi = (0 if lo is None else lo), (MAX_UINT64 if hi is None else hi)
    elif kind == "i64":
        lo, hi = (-(1 << 63) if lo is None else lo), (MAX_INT64 if hi is None else hi)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ConfigError(p, f"{v} is out of range [{lo}, {hi}]")
    return v


def _obj(d: dict, key: str, path: str) -> dict | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, dict):
        raise ConfigError(f"{path}.{key}", "must be an object")
    return v


def _list(d: dict, key: str, path: str) -> list:
    v = d.get(key)
    if v is None:
        return []
    if not isinstance(v, list):
        raise ConfigError(f"{path}.{key}", "must be an array")
    return v


def _unlimited_or_positive(d: dict, key: str, path: str) -> int | None:
    """memory-style values: -1 unlimited, 0 unset, positive bytes; other negatives are errors."""
    v = _get(d, key, path, "i64")
    if v is not None and v < -1:
        raise ConfigError(f"{path}.{key}", f"invalid value {v}: must be -1 (unlimited) or >= 0")
    return v


def _exists(p: str) -> bool:
    return os.path.exists(p)


def _read_int(p: str) -> int:
    s = _read(p).strip()
    return -1 if s == "max" else int(s)


# ---- entry points --------------------------------------------------------------------------------

def update(cg: Cgroup, res: dict, path: str = "resources", before_writes=None) -> None:
    """Change the limits of a running container: only the values given (0 = unchanged, as in
    runc update).  Device rules are left alone, as runc update does.  ``before_writes`` runs
    once every value is validated, before the first write (systemd's properties)."""
    if not isinstance(res, dict):
        raise ConfigError(path, "must be an object")
    plan = WritePlan(cg)
    build(plan, res, path, updating=True)
    if before_writes is not None:
        before_writes()
    plan.run()


def build(plan: WritePlan, res: dict, path: str, updating: bool) -> None:
    """Queue every limit of ``res`` (all of linux.resources but devices, which Cgroup.apply
    hands to devices.py) on ``plan``, validating each before anything is written."""
    known = {"devices", "memory", "cpu", "pids", "blockIO", "hugepageLimits", "network", "rdma",
             "unified"}
    if plan.cg.mode == V2:
        from pyrunc.cgroups import resources_v2 as ver
    else:
        from pyrunc.cgroups import resources_v1 as ver  # type: ignore[no-redef]
    mem = _obj(res, "memory", path)
    if mem:
        ver.memory(plan, mem, f"{path}.memory", updating)
    cpu = _obj(res, "cpu", path)
    if cpu:
        ver.cpu(plan, cpu, f"{path}.cpu", updating)
    pids = _obj(res, "pids", path)
    if pids:
        _pids(plan, pids, f"{path}.pids")
    bio = _obj(res, "blockIO", path)
    if bio:
        ver.blkio(plan, bio, f"{path}.blockIO")
    _hugetlb(plan, _list(res, "hugepageLimits", path), f"{path}.hugepageLimits")
    net = _obj(res, "network", path)
    if net:
        _network(plan, net, f"{path}.network")
    rdma = _obj(res, "rdma", path)
    if rdma:
        _rdma(plan, rdma, f"{path}.rdma")
    uni = _obj(res, "unified", path)
    if uni:
        if plan.cg.mode != V2:
            raise ConfigError(f"{path}.unified", "invalid configuration: cannot use unified on "
                              "cgroup v1")
        ver.unified(plan, uni, f"{path}.unified")
    for k in res:
        if k not in known:
            raise ConfigError(f"{path}.{k}", "unknown resource")


# ---- memory ----------------------------------------------------------------------------------------

def _kernel_memory_warning(mem: dict, path: str) -> None:
    for k in ("kernel", "kernelTCP"):
        if _get(mem, k, path, "i64"):
            from pyrunc import log
            log.warning("Kernel memory settings are ignored and will be removed")
            return


def _check_usage(usage_file: str, limit: int, path: str) -> None:
    usage = int(_read(usage_file).strip())
    if limit < usage:
        raise ConfigError(path, f"rejecting memory limit {limit} below the current usage {usage}")


# ---- cpu / cpuset ----------------------------------------------------------------------------------

def _cpu_common(cpu: dict, path: str) -> dict:
    v = {
        "shares": _get(cpu, "shares", path, "u64"),
        "quota": _get(cpu, "quota", path, "i64"),
        "burst": _get(cpu, "burst", path, "u64"),
        "period": _get(cpu, "period", path, "u64"),
        "rt_runtime": _get(cpu, "realtimeRuntime", path, "i64"),
        "rt_period": _get(cpu, "realtimePeriod", path, "u64"),
        "cpus": _get(cpu, "cpus", path, "str"),
        "mems": _get(cpu, "mems", path, "str"),
        "idle": _get(cpu, "idle", path, "i64"),
    }
    q = v["quota"]
    if q is not None and q < -1:
        raise ConfigError(f"{path}.quota", f"invalid value {q}: must be -1 (unlimited) or >= 0")
    r = v["rt_runtime"]
    if r is not None and r < -1:
        raise ConfigError(f"{path}.realtimeRuntime",
                          f"invalid value {r}: must be -1 (unlimited) or >= 0")
    if v["idle"] is not None and v["idle"] not in (0, 1):
        raise ConfigError(f"{path}.idle", f"invalid value {v['idle']}: must be 0 or 1")
    for k in ("cpus", "mems"):
        s = v[k]
        if s and not all(c.isdigit() or c in ",-" for c in s.replace(" ", "")):
            raise ConfigError(f"{path}.{k}", f"invalid cpuset list {s!r}")
    return v


def _cpuset(plan: WritePlan, v: dict, path: str) -> None:
    for k in ("cpus", "mems"):
        if v[k]:
            d = plan.dir("cpuset", f"{path}.{k}")
            plan.write(d, f"cpuset.{k}", v[k], f"{path}.{k}")


# ---- pids, blkio, hugetlb, network, rdma, unified -------------------------------------------------

def _pids(plan: WritePlan, pids: dict, path: str) -> None:
    limit = _get(pids, "limit", path, "i64")
    if limit is None:
        raise ConfigError(f"{path}.limit", "is required")
    if limit < -1:
        raise ConfigError(f"{path}.limit", f"invalid value {limit}: must be -1 (unlimited) or "
                          "> 0")
    if limit == 0:
        return
    d = plan.dir("pids", path)
    plan.write(d, "pids.max", "max" if limit < 0 else str(limit), f"{path}.limit")


def _devnum(e: dict, path: str) -> str:
    maj = _get(e, "major", path, "i64", 0, (1 << 32) - 1)
    mnr = _get(e, "minor", path, "i64", 0, (1 << 32) - 1)
    if maj is None or mnr is None:
        raise ConfigError(path, "major and minor are required")
    return f"{maj}:{mnr}"


_THROTTLES = (("throttleReadBpsDevice", "read_bps_device", "rbps"),
              ("throttleWriteBpsDevice", "write_bps_device", "wbps"),
              ("throttleReadIOPSDevice", "read_iops_device", "riops"),
              ("throttleWriteIOPSDevice", "write_iops_device", "wiops"))


def _weight(d: dict, key: str, path: str) -> int | None:
    w = _get(d, key, path, "u64")
    if w is not None and w != 0 and not 10 <= w <= 1000:
        raise ConfigError(f"{path}.{key}", f"invalid value {w}: must be in [10, 1000]")
    return w or None


def _blkio_entries(bio: dict, path: str, v2: bool) -> tuple[list, list]:
    """blockIO's weightDevice and throttle entries, checked (the leaf weights are the caller's):
    ([(JSON path, entry)], [(v1 file or v2 io.max key, JSON path, entry)])."""
    wdevs = [(f"{path}.weightDevice[{i}]", e) for i, e in enumerate(_list(bio, "weightDevice",
                                                                          path))]
    thr = [(k2 if v2 else f, f"{path}.{k}[{i}]", e) for k, f, k2 in _THROTTLES
           for i, e in enumerate(_list(bio, k, path))]
    for p, e in wdevs:
        _devnum(e, p)
        _weight(e, "weight", p)
    for _f, p, e in thr:
        _devnum(e, p)
        if _get(e, "rate", p, "u64") is None:
            raise ConfigError(f"{p}.rate", "is required")
    return wdevs, thr


def hugepage_sizes() -> list[str]:
    """The host's huge page sizes as cgroup files name them ("2MB", "1GB")."""
    out = []
    try:
        names = os.listdir("/sys/kernel/mm/hugepages")
    except FileNotFoundError:
        return out
    for n in sorted(names):
        kb = int(n[len("hugepages-"):-len("kB")])
        out.append(_size_name(kb * 1024))
    return out


def _size_name(b: int) -> str:
    for unit, mult in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if b >= mult and b % mult == 0:
            return f"{b // mult}{unit}"
    return f"{b}B"


def _hugetlb(plan: WritePlan, limits: list, path: str) -> None:
    if not limits:
        return
    sizes = hugepage_sizes()
    items = []
    for i, e in enumerate(limits):
        p = f"{path}[{i}]"
        if not isinstance(e, dict):
            raise ConfigError(p, "must be an object")
        ps = _get(e, "pageSize", p, "str")
        limit = _get(e, "limit", p, "u64")
        if ps is None or limit is None:
            raise ConfigError(p, "pageSize and limit are required")
        if ps not in sizes:
            raise ConfigError(f"{p}.pageSize", f"invalid hugepage size {ps!r}: the host has "
                              f"{', '.join(sizes) or 'none'}")
        items.append((p, ps, limit))
    d = plan.dir("hugetlb", path)
    suffix = ".max" if plan.cg.mode == V2 else ".limit_in_bytes"
    for p, ps, limit in items:
        plan.write(d, f"hugetlb.{ps}{suffix}", str(limit), f"{p}.limit")
        # The reservation limit too where the kernel has it (5.7+), as runc does: a limit on
        # faults alone lets a mmap reserve pages it is later SIGBUSed for touching.
        plan.write(d, f"hugetlb.{ps}.rsvd{suffix}", str(limit), f"{p}.limit", _rsvd_missing_ok)


def _rsvd_missing_ok(e: OSError) -> str | None:
    """A kernel without hugetlb reservation accounting has no .rsvd files: skip, as runc does."""
    if e.errno == errno.ENOENT:
        return None
    return f"cannot set the hugetlb reservation limit: {e.strerror}"


def _network(plan: WritePlan, net: dict, path: str) -> None:
    classid = _get(net, "classID", path, "u64", 0, (1 << 32) - 1)
    prios = _list(net, "priorities", path)
    for i, e in enumerate(prios):
        p = f"{path}.priorities[{i}]"
        if not isinstance(e, dict) or not isinstance(e.get("name"), str) or not e["name"]:
            raise ConfigError(p, "must be an object with a name")
        _get(e, "priority", p, "u64", 0, (1 << 32) - 1)
    if classid is None and not prios:
        return
    if plan.cg.mode == V2:
        raise ConfigError(path, "cannot apply: cgroup v2 has no net_cls or net_prio controller")
    if classid is not None:
        d = plan.dir("net_cls", f"{path}.classID")
        plan.write(d, "net_cls.classid", str(classid), f"{path}.classID")
    for i, e in enumerate(prios):
        p = f"{path}.priorities[{i}]"
        d = plan.dir("net_prio", p)
        plan.write(d, "net_prio.ifpriomap", f"{e['name']} {e.get('priority') or 0}", p)


def _rdma(plan: WritePlan, rdma: dict, path: str) -> None:
    lines = []
    for dev, e in rdma.items():
        p = f"{path}.{dev}"
        if not isinstance(e, dict):
            raise ConfigError(p, "must be an object")
        parts = [dev]
        h = _get(e, "hcaHandles", p, "u64", 0, (1 << 32) - 1)
        o = _get(e, "hcaObjects", p, "u64", 0, (1 << 32) - 1)
        if h is not None:
            parts.append(f"hca_handle={h}")
        if o is not None:
            parts.append(f"hca_object={o}")
        if len(parts) > 1:
            lines.append((p, " ".join(parts)))
    if not lines:
        return
    d = plan.dir("rdma", path)
    for p, line in lines:
        plan.write(d, "rdma.max", line, p)


