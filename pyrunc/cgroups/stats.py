"""Container statistics in runc's `events --stats` format: the shared encoding, and v1's files.

The dict mirrors runc's types.Stats field for field and in order, with Go's omitempty rules, so
engines that decode runc's output (containerd's runc shim, docker stats) decode ours.  A pure v2
host's files are read by stats_v2.py; the OOM event source is oom.py.
"""
from __future__ import annotations

import os

from pyrunc.cgroups import V2, Cgroup, _read

_CLOCK_TICKS = 100  # USER_HZ, as runc assumes for cpuacct.stat


def _omit(d: dict, keys: tuple[str, ...]) -> dict:
    """Go's omitempty: drop the named keys whose value is zero or empty."""
    return {k: v for k, v in d.items() if k not in keys or v}


def _int(path: str, default: int = 0) -> int:
    try:
        s = _read(path).strip()
    except (FileNotFoundError, OSError):
        return default
    if s == "max":
        return 0
    try:
        return int(s)
    except ValueError:
        return default


def _kv(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        text = _read(path)
    except OSError:
        return out
    for line in text.splitlines():
        f = line.split()
        if len(f) == 2:
            try:
                out[f[0]] = int(f[1])
            except ValueError:
                pass
    return out


def _ints(path: str) -> list[int]:
    try:
        return [int(x) for x in _read(path).split()]
    except (OSError, ValueError):
        return []


def _cpu_list(s: str) -> list[int]:
    out: list[int] = []
    for part in s.strip().split(","):
        if not part:
            continue
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def _usage(total=0, percpu=None, pk=None, pu=None, kernel=0, user=0) -> dict:
    return _omit({"total": total, "percpu": percpu or [], "percpu_kernel": pk or [],
                  "percpu_user": pu or [], "kernel": kernel, "user": user},
                 ("total", "percpu", "percpu_kernel", "percpu_user"))


def _throttling(st: dict[str, int], time_key: str, mult: int) -> dict:
    return _omit({"periods": st.get("nr_periods", 0),
                  "throttledPeriods": st.get("nr_throttled", 0),
                  "throttledTime": st.get(time_key, 0) * mult},
                 ("periods", "throttledPeriods", "throttledTime"))


def _mem_entry(limit: int, usage: int, mx: int, failcnt: int) -> dict:
    return _omit({"limit": limit, "usage": usage, "max": mx, "failcnt": failcnt},
                 ("usage", "max"))


def _limit(v: int) -> int:
    """v1 "unlimited" (a huge page-aligned number) and v2 "max" read back as the max uint64."""
    return (1 << 64) - 1 if v <= 0 or v >= (1 << 62) else v


def stats(cg: Cgroup) -> dict:
    """The "data" of runc's stats event for this cgroup (types.Stats, as runc 1.2+ fills it)."""
    if cg.mode == V2:
        from pyrunc.cgroups import stats_v2
        return stats_v2.stats(cg.paths[""])
    return _stats_v1(cg)


def _cpuset(d: str | None) -> dict:
    out = {"cpus": [], "cpu_exclusive": 0, "mems": [], "mem_hardwall": 0, "mem_exclusive": 0,
           "memory_migrate": 0, "memory_spread_page": 0, "memory_spread_slab": 0,
           "memory_pressure": 0, "sched_load_balance": 0, "sched_relax_domain_level": 0}
    if d is not None:
        pre = "cpuset." if os.path.exists(d + "/cpuset.cpus") else ""
        try:
            out["cpus"] = _cpu_list(_read(f"{d}/{pre}cpus"))
            out["mems"] = _cpu_list(_read(f"{d}/{pre}mems"))
        except OSError:
            pass
        for k in ("cpu_exclusive", "mem_hardwall", "mem_exclusive", "memory_migrate",
                  "memory_spread_page", "memory_spread_slab", "memory_pressure",
                  "sched_load_balance", "sched_relax_domain_level"):
            out[k] = _int(f"{d}/{pre}{k}")
    return _omit(out, ("cpus", "mems"))


def _blkio_entries(path: str) -> list[dict]:
    out = []
    try:
        text = _read(path)
    except OSError:
        return out
    for line in text.splitlines():
        f = line.split()
        if len(f) < 2 or ":" not in f[0]:
            continue  # "Total N"
        maj, mnr = f[0].split(":")
        if len(f) == 3:
            e = {"major": int(maj), "minor": int(mnr), "op": f[1], "value": int(f[2])}
        else:
            e = {"major": int(maj), "minor": int(mnr), "op": "", "value": int(f[1])}
        out.append(_omit(e, ("major", "minor", "op", "value")))
    return out


def _usage_all(path: str) -> tuple[list[int], list[int]]:
    """Per-CPU (kernel, user) nanoseconds from cpuacct.usage_all ("cpu user system" rows)."""
    kernel: list[int] = []
    user: list[int] = []
    try:
        lines = _read(path).splitlines()[1:]
    except OSError:
        return kernel, user
    for line in lines:
        f = line.split()
        if len(f) == 3:
            user.append(int(f[1]))
            kernel.append(int(f[2]))
    return kernel, user


def _stats_v1(cg: Cgroup) -> dict:
    cpu = cg.path("cpu")
    acct = cg.path("cpuacct")
    usage = _usage()
    if acct is not None:
        st = _kv(f"{acct}/cpuacct.stat")
        pk, pu = _usage_all(f"{acct}/cpuacct.usage_all")
        usage = _usage(_int(f"{acct}/cpuacct.usage"), _ints(f"{acct}/cpuacct.usage_percpu"),
                       pk, pu,
                       st.get("system", 0) * 1_000_000_000 // _CLOCK_TICKS,
                       st.get("user", 0) * 1_000_000_000 // _CLOCK_TICKS)
    thr = _throttling(_kv(f"{cpu}/cpu.stat") if cpu else {}, "throttled_time", 1)
    mem = {"usage": _mem_entry(0, 0, 0, 0), "swap": _mem_entry(0, 0, 0, 0),
           "kernel": _mem_entry(0, 0, 0, 0), "kernelTCP": _mem_entry(0, 0, 0, 0)}
    raw: dict[str, int] = {}
    m = cg.path("memory")
    if m is not None:
        raw = _kv(f"{m}/memory.stat")
        for key, pre in (("usage", "memory"), ("swap", "memory.memsw"),
                         ("kernel", "memory.kmem"), ("kernelTCP", "memory.kmem.tcp")):
            mem[key] = _mem_entry(_limit(_int(f"{m}/{pre}.limit_in_bytes")),
                                  _int(f"{m}/{pre}.usage_in_bytes"),
                                  _int(f"{m}/{pre}.max_usage_in_bytes"),
                                  _int(f"{m}/{pre}.failcnt"))
    raw = dict(sorted(raw.items()))  # Go encodes maps with sorted keys
    memory = _omit({"cache": raw.get("cache", 0), **mem, "raw": raw}, ("cache", "raw"))
    p = cg.path("pids")
    pids = _omit({"current": _int(f"{p}/pids.current") if p else 0,
                  "limit": _int(f"{p}/pids.max") if p else 0}, ("current", "limit"))
    b = cg.path("blkio")
    blkio: dict = {}
    if b is not None:
        # CFQ files, else BFQ, else the throttle ones: the first that has data (as runc).
        sets = (("ioServiceBytesRecursive", "io_service_bytes_recursive"),
                ("ioServicedRecursive", "io_serviced_recursive"),
                ("ioQueueRecursive", "io_queued_recursive"),
                ("ioServiceTimeRecursive", "io_service_time_recursive"),
                ("ioWaitTimeRecursive", "io_wait_time_recursive"),
                ("ioMergedRecursive", "io_merged_recursive"),
                ("ioTimeRecursive", "time_recursive"),
                ("sectorsRecursive", "sectors_recursive"))
        if os.path.exists(f"{b}/blkio.io_serviced_recursive"):
            for key, f in sets:
                blkio[key] = _blkio_entries(f"{b}/blkio.{f}")
        elif os.path.exists(f"{b}/blkio.bfq.io_serviced_recursive"):
            for key, f in sets[:2]:
                blkio[key] = _blkio_entries(f"{b}/blkio.bfq.{f}")
        if not any(blkio.values()):
            blkio = {"ioServiceBytesRecursive":
                     _blkio_entries(f"{b}/blkio.throttle.io_service_bytes_recursive"),
                     "ioServicedRecursive":
                     _blkio_entries(f"{b}/blkio.throttle.io_serviced_recursive")}
        blkio = {k: v for k, v in blkio.items() if v}
    hugetlb = {}
    h = cg.path("hugetlb")
    if h is not None:
        from pyrunc.cgroups.resources import hugepage_sizes
        for ps in hugepage_sizes():
            hugetlb[ps] = _omit({"usage": _int(f"{h}/hugetlb.{ps}.usage_in_bytes"),
                                 "max": _int(f"{h}/hugetlb.{ps}.max_usage_in_bytes"),
                                 "failcnt": _int(f"{h}/hugetlb.{ps}.failcnt")},
                                ("usage", "max"))
    return {"cpu": {"usage": usage, "throttling": thr}, "cpuset": _cpuset(cg.path("cpuset")),
            "memory": memory, "pids": pids, "blkio": blkio,
            "hugetlb": dict(sorted(hugetlb.items())),
            "intel_rdt": {}, "network_interfaces": None}
