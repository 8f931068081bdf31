"""linux.resources onto cgroup files, on v1 (and hybrid) and v2, with runc's conversions.

Everything is validated before the first write, so a bad value names its JSON path and leaves the
cgroup as it was.  A value the host cannot apply (controller not mounted, file missing, kernel
says no) is a ``ConfigError`` too: nothing is skipped silently.  The two deliberate exceptions
are runc's: kernel memory limits (obsolete, ignored with a warning, as runc 1.1 does) and device
rules on ``update`` (runc update never changes them; containerd sends them anyway).
"""

import errno
from pyrunc import fastos as os  # os without its import cost (see fastos)

from pyrunc.cgroups import V2, Cgroup, _read, _write
from pyrunc.cgroups.writes import WritePlan, v2_has
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
    v2 = plan.cg.mode == V2
    mem = _obj(res, "memory", path)
    if mem:
        (_memory_v2 if v2 else _memory_v1)(plan, mem, f"{path}.memory", updating)
    cpu = _obj(res, "cpu", path)
    if cpu:
        (_cpu_v2 if v2 else _cpu_v1)(plan, cpu, f"{path}.cpu", updating)
    pids = _obj(res, "pids", path)
    if pids:
        _pids(plan, pids, f"{path}.pids")
    bio = _obj(res, "blockIO", path)
    if bio:
        (_blkio_v2 if v2 else _blkio_v1)(plan, bio, f"{path}.blockIO")
    _hugetlb(plan, _list(res, "hugepageLimits", path), f"{path}.hugepageLimits")
    net = _obj(res, "network", path)
    if net:
        _network(plan, net, f"{path}.network")
    rdma = _obj(res, "rdma", path)
    if rdma:
        _rdma(plan, rdma, f"{path}.rdma")
    uni = _obj(res, "unified", path)
    if uni:
        _unified(plan, uni, f"{path}.unified")
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


def _memory_v1(plan: WritePlan, mem: dict, path: str, updating: bool) -> None:
    limit = _unlimited_or_positive(mem, "limit", path) or 0
    swap = _unlimited_or_positive(mem, "swap", path) or 0
    resv = _unlimited_or_positive(mem, "reservation", path) or 0
    swappiness = _get(mem, "swappiness", path, "i64", -1, MAX_UINT64)
    if swappiness in (-1, MAX_UINT64):  # -1 (as int64 or uint64) means unset, as in runc
        swappiness = None
    oom_off = _get(mem, "disableOOMKiller", path, "bool")
    hier = _get(mem, "useHierarchy", path, "bool")
    check = _get(mem, "checkBeforeUpdate", path, "bool")
    _kernel_memory_warning(mem, path)
    if swappiness is not None and swappiness > 100:
        raise ConfigError(f"{path}.swappiness", f"invalid memory swappiness value: "
                          f"{swappiness} (valid range is 0-100)")
    if limit > 0 and swap > 0 and swap < limit:
        raise ConfigError(f"{path}.swap", "memory+swap limit should be >= memory limit")
    if hier is False:
        raise ConfigError(f"{path}.useHierarchy", "cannot apply: the kernel always accounts "
                          "memory hierarchically")
    if not (limit or swap or resv or swappiness is not None or oom_off):
        return
    d = plan.dir("memory", path)
    memsw = f"{d}/memory.memsw.limit_in_bytes"
    if limit == -1 and swap == 0 and _exists(memsw):
        swap = -1
    if swap and not _exists(memsw):
        raise ConfigError(f"{path}.swap", "cannot apply: swap accounting is not enabled on "
                          "this host (no memory.memsw.limit_in_bytes)")

    def busy(e: OSError, what: int = limit) -> str:
        if e.errno == errno.EBUSY:
            usage = _read(f"{d}/memory.usage_in_bytes").strip()
            peak = _read(f"{d}/memory.max_usage_in_bytes").strip()
            return (f"unable to set memory limit to {what} (current usage: {usage}, "
                    f"peak usage: {peak})")
        if e.errno == errno.EINVAL and _exists(memsw):
            sw = _read_int(memsw)
            if what == -1 or 0 < sw < what:
                return (f"cannot set memory limit to {what}: it exceeds the memory+swap limit "
                        f"{sw}; set the swap limit too")
        return f"cannot set memory.limit_in_bytes to {what}: {e.strerror}"

    if updating and check and limit > 0:
        plan.call(lambda: _check_usage(d + "/memory.usage_in_bytes", limit, path + ".limit"),
                  path)
    set_mem = (d, "memory.limit_in_bytes", str(limit), f"{path}.limit", busy)
    set_sw = (d, "memory.memsw.limit_in_bytes", str(swap), f"{path}.swap", None)
    if limit and swap:
        # The kernel wants memory <= memsw at every step: raise memsw first when growing.
        def ordered() -> None:
            cur = _read_int(f"{d}/memory.limit_in_bytes")
            first, second = (set_sw, set_mem) if swap == -1 or cur < swap else (set_mem, set_sw)
            sub = WritePlan(plan.cg)
            sub.write(*first)
            sub.write(*second)
            sub.run()
        plan.call(ordered, path)
    else:
        if limit:
            plan.write(*set_mem)
        if swap:
            plan.write(*set_sw)
    if resv:
        plan.write(d, "memory.soft_limit_in_bytes", str(resv), f"{path}.reservation")
    if swappiness is not None:
        plan.write(d, "memory.swappiness", str(swappiness), f"{path}.swappiness")
    if oom_off:
        plan.write(d, "memory.oom_control", "1", f"{path}.disableOOMKiller")


def _check_usage(usage_file: str, limit: int, path: str) -> None:
    usage = int(_read(usage_file).strip())
    if limit < usage:
        raise ConfigError(path, f"rejecting memory limit {limit} below the current usage {usage}")


def _memory_v2(plan: WritePlan, mem: dict, path: str, updating: bool) -> None:
    limit = _unlimited_or_positive(mem, "limit", path) or 0
    swap = _unlimited_or_positive(mem, "swap", path) or 0
    resv = _unlimited_or_positive(mem, "reservation", path) or 0
    check = _get(mem, "checkBeforeUpdate", path, "bool")
    _get(mem, "useHierarchy", path, "bool")
    _kernel_memory_warning(mem, path)
    if _get(mem, "swappiness", path, "i64", -1, MAX_UINT64) not in (None, -1, MAX_UINT64):
        raise ConfigError(f"{path}.swappiness", "cannot apply: cgroup v2 has no memory "
                          "swappiness")
    if _get(mem, "disableOOMKiller", path, "bool"):
        raise ConfigError(f"{path}.disableOOMKiller", "cannot apply: cgroup v2 cannot disable "
                          "the OOM killer")
    sw = swap_to_v2(swap, limit, f"{path}.swap")
    # memory+swap equal to memory means "no swap": memory.swap.max 0, which is not "unset"
    write_swap = sw != 0 or swap > 0
    if not (limit or write_swap or resv):
        return
    d = plan.dir("memory", path)
    if write_swap:
        if not _exists(f"{d}/memory.swap.max"):
            if swap:  # asked for explicitly; the implied "max" of an unlimited memory is moot
                raise ConfigError(f"{path}.swap", "cannot apply: swap accounting is not "
                                  "enabled on this host (no memory.swap.max)")
        else:
            plan.write(d, "memory.swap.max", _v2num(sw), f"{path}.swap")
    if limit:
        if (check or False) and updating and limit > 0:
            plan.call(lambda: _check_usage(d + "/memory.current", limit, path + ".limit"), path)
        plan.write(d, "memory.max", _v2num(limit), f"{path}.limit")
    if resv:
        plan.write(d, "memory.low", _v2num(resv), f"{path}.reservation")


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


def _period_then_value(plan: WritePlan, d: str, pfile: str, period: int | None, vfile: str,
                       value: int | None, ppath: str, vpath: str) -> None:
    """Write a period and its dependent value (cfs or rt) in an order the kernel accepts.

    A new period may be refused (EINVAL) until the value is changed too; then the period is
    written again after the value, as runc does.
    """
    def run() -> None:
        pending = False
        if period:
            try:
                _write(f"{d}/{pfile}", str(period))
            except OSError as e:
                if e.errno != errno.EINVAL or not value:
                    raise ConfigError(ppath, f"cannot set {pfile} to {period}: "
                                      f"{e.strerror}") from None
                pending = True
        if value:
            try:
                _write(f"{d}/{vfile}", str(value))
            except OSError as e:
                hint = ""
                if vfile == "cpu.rt_runtime_us" and e.errno == errno.EINVAL:
                    parent = os.path.dirname(d)
                    try:
                        hint = (f" (the parent cgroup allows {_read(parent + '/' + vfile).strip()}"
                                " us of realtime runtime)")
                    except OSError:
                        pass
                raise ConfigError(vpath, f"cannot set {vfile} to {value}: "
                                  f"{e.strerror}{hint}") from None
            if pending:
                try:
                    _write(f"{d}/{pfile}", str(period))
                except OSError as e:
                    raise ConfigError(ppath, f"cannot set {pfile} to {period}: "
                                      f"{e.strerror}") from None
    plan.call(run, ppath)


def _cpu_v1(plan: WritePlan, cpu: dict, path: str, updating: bool) -> None:
    v = _cpu_common(cpu, path)
    if v["shares"] or v["quota"] or v["period"] or v["burst"] is not None or v["rt_runtime"] \
            or v["rt_period"] or v["idle"] is not None:
        d = plan.dir("cpu", path)
        if v["rt_period"] or v["rt_runtime"]:
            _period_then_value(plan, d, "cpu.rt_period_us", v["rt_period"], "cpu.rt_runtime_us",
                               v["rt_runtime"], f"{path}.realtimePeriod",
                               f"{path}.realtimeRuntime")
        if v["shares"]:
            shares = v["shares"]

            def set_shares() -> None:
                try:
                    _write(f"{d}/cpu.shares", str(shares))
                except OSError as e:
                    raise ConfigError(f"{path}.shares", f"cannot set cpu.shares to {shares}: "
                                      f"{e.strerror}") from None
                got = int(_read(f"{d}/cpu.shares"))
                if got < shares:
                    raise ConfigError(f"{path}.shares", f"the maximum allowed cpu-shares is {got}")
                if got > shares:
                    raise ConfigError(f"{path}.shares", f"the minimum allowed cpu-shares is {got}")
            plan.call(set_shares, f"{path}.shares")
        if v["period"] or v["quota"]:
            _period_then_value(plan, d, "cpu.cfs_period_us", v["period"], "cpu.cfs_quota_us",
                               v["quota"], f"{path}.period", f"{path}.quota")
        if v["burst"] is not None:
            plan.write(d, "cpu.cfs_burst_us", str(v["burst"]), f"{path}.burst")
        if v["idle"] is not None:
            plan.write(d, "cpu.idle", str(v["idle"]), f"{path}.idle")
    _cpuset(plan, v, path)


def _cpu_v2(plan: WritePlan, cpu: dict, path: str, updating: bool) -> None:
    v = _cpu_common(cpu, path)
    if v["rt_runtime"] or v["rt_period"]:
        key = "realtimeRuntime" if v["rt_runtime"] else "realtimePeriod"
        raise ConfigError(f"{path}.{key}", "cannot apply: cgroup v2 has no realtime CPU "
                          "scheduling limits")
    if v["shares"] and not 2 <= v["shares"] <= 262144:
        raise ConfigError(f"{path}.shares", f"invalid value {v['shares']}: cpu shares must be "
                          "in [2, 262144]")
    if v["shares"] or v["quota"] or v["period"] or v["burst"] is not None \
            or v["idle"] is not None:
        d = plan.dir("cpu", path)
        if v["idle"] is not None:
            plan.write(d, "cpu.idle", str(v["idle"]), f"{path}.idle")
        if v["shares"]:
            plan.write(d, "cpu.weight", str(shares_to_weight(v["shares"])), f"{path}.shares")
        if v["quota"] or v["period"]:
            quota, period = v["quota"] or 0, v["period"] or 0
            if updating and not (quota and period):
                # runc update keeps the other half at its old value
                cur_q, cur_p = _read(f"{d}/cpu.max").split()
                quota = quota or (-1 if cur_q == "max" else int(cur_q))
                period = period or int(cur_p)
            s = str(quota) if quota > 0 else "max"
            s += " " + str(period or 100000)
            plan.write(d, "cpu.max", s, f"{path}.quota" if v["quota"] else f"{path}.period")
        if v["burst"] is not None:
            plan.write(d, "cpu.max.burst", str(v["burst"]), f"{path}.burst")
    _cpuset(plan, v, path)


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


def _blkio_v1(plan: WritePlan, bio: dict, path: str) -> None:
    weight = _weight(bio, "weight", path)
    leaf = _weight(bio, "leafWeight", path)
    wdevs, thr = _blkio_entries(bio, path, v2=False)
    for p, e in wdevs:
        _weight(e, "leafWeight", p)
    if not (weight or leaf or wdevs or thr):
        return
    d = plan.dir("blkio", path)
    bfq = _exists(f"{d}/blkio.bfq.weight")
    wfile = "blkio.bfq.weight" if bfq else "blkio.weight"
    wdfile = "blkio.bfq.weight_device" if bfq else "blkio.weight_device"
    if weight:
        plan.write(d, wfile, str(weight), f"{path}.weight")
    if leaf:
        plan.write(d, "blkio.leaf_weight", str(leaf), f"{path}.leafWeight")
    for p, e in wdevs:
        dev = _devnum(e, p)
        if e.get("weight"):
            plan.write(d, wdfile, f"{dev} {e['weight']}", f"{p}.weight")
        if e.get("leafWeight"):
            plan.write(d, "blkio.leaf_weight_device", f"{dev} {e['leafWeight']}",
                       f"{p}.leafWeight")
    for f, p, e in thr:
        plan.write(d, f"blkio.throttle.{f}", f"{_devnum(e, p)} {e['rate']}", p)


def _blkio_v2(plan: WritePlan, bio: dict, path: str) -> None:
    weight = _weight(bio, "weight", path)
    if _weight(bio, "leafWeight", path):
        raise ConfigError(f"{path}.leafWeight", "cannot apply: cgroup v2 has no leaf weight")
    wdevs, thr = _blkio_entries(bio, path, v2=True)
    for p, e in wdevs:
        if _weight(e, "leafWeight", p):
            raise ConfigError(f"{p}.leafWeight", "cannot apply: cgroup v2 has no leaf weight")
    if not (weight or wdevs or thr):
        return
    d = plan.dir("io", path)
    bfq = _exists(f"{d}/io.bfq.weight")
    if weight:
        if bfq:
            plan.write(d, "io.bfq.weight", str(weight), f"{path}.weight")
        else:
            plan.write(d, "io.weight", str(blkio_weight_to_io_weight(weight)), f"{path}.weight")
    for p, e in wdevs:
        if e.get("weight"):
            if bfq:
                plan.write(d, "io.bfq.weight", f"{_devnum(e, p)} {e['weight']}", f"{p}.weight")
            else:
                plan.write(d, "io.weight", f"{_devnum(e, p)} "
                           f"{blkio_weight_to_io_weight(e['weight'])}", f"{p}.weight")
    for k, p, e in thr:
        rate = e["rate"]
        plan.write(d, "io.max", f"{_devnum(e, p)} {k}={rate if rate else 'max'}", p)


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
    for p, ps, limit in items:
        if plan.cg.mode == V2:
            plan.write(d, f"hugetlb.{ps}.max", str(limit), f"{p}.limit")
        else:
            plan.write(d, f"hugetlb.{ps}.limit_in_bytes", str(limit), f"{p}.limit")


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


def _unified(plan: WritePlan, uni: dict, path: str) -> None:
    if plan.cg.mode != V2:
        raise ConfigError(path, "invalid configuration: cannot use unified on cgroup v1")
    d = plan.cg.paths[""]
    for k, v in uni.items():
        p = f"{path}.{k}"
        if not isinstance(v, str):
            raise ConfigError(p, "must be a string")
        if "/" in k or k in ("", ".", ".."):
            raise ConfigError(p, f"unified resource {k!r} must be a file name (no slashes)")
        ctrl, dot, _ = k.partition(".")
        if not dot:
            raise ConfigError(p, f"unified resource {k!r} must be in the form "
                              "CONTROLLER.PARAMETER")

        def err(e: OSError, k: str = k, ctrl: str = ctrl) -> str:
            if e.errno in (errno.ENOENT, errno.EPERM, errno.EACCES) and ctrl != "cgroup" \
                    and not v2_has(d, ctrl):
                return f"unified resource {k!r} can't be set: controller {ctrl!r} not available"
            return f"unable to set unified resource {k!r}: {e.strerror}"
        plan.write(d, k, v, p, err)
