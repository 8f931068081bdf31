"""runc's stats event for a pure cgroup v2 host, read as runc's fs2 manager reads it.

Field for field what runc 1.2+ puts in types.Stats from a cgroup2 directory (libcontainer's
fs2 stat functions, converted by runc's events.go): cpu.stat (usage and throttling), memory.stat
and memory.{current,max,peak} and memory.swap.* (swap as memory+swap, like v1's memsw), io.stat
(bytes and ios per device, as v1's Read/Write entries), pids, hugetlb (the reservation counter
where the kernel has one) and PSI from cpu/memory/io.pressure.  runc does not stat cpuset on v2
(all zero), reports 0 failcnt for memory and kernel memory (v2 has no such counters), and keeps
its misc and rdma stats out of the event (types.Stats has no field for them): so do we.
"""
from __future__ import annotations

from pyrunc.cgroups.stats import _cpuset, _kv, _mem_entry, _omit, _throttling, _usage

MAX_UINT64 = (1 << 64) - 1


def _uint(d: str, name: str) -> int | None:
    """A single-value file as runc's GetCgroupParamUint reads it ("max" is the max uint64, a
    negative number 0); None when the file is missing or unreadable."""
    try:
        with open(f"{d}/{name}") as f:
            s = f.read().strip()
    except OSError:
        return None
    if s == "max":
        return MAX_UINT64
    try:
        return max(0, int(s))
    except ValueError:
        return None


def _psi_value(s: str) -> int | float:
    """A PSI average as Go's encoder writes a float64: an integral one without ".0"."""
    v = float(s)
    return int(v) if v.is_integer() else v


def psi(d: str, name: str) -> dict | None:
    """cpu/memory/io.pressure as runc's PSIStats ({"some": ..., "full": ...}); None when the
    kernel has no PSI (file missing, or reading it refused: psi=0 on the command line)."""
    try:
        with open(f"{d}/{name}") as f:
            text = f.read()
    except OSError:
        return None
    out = {"some": {"avg10": 0, "avg60": 0, "avg300": 0, "total": 0},
           "full": {"avg10": 0, "avg60": 0, "avg300": 0, "total": 0}}
    for line in text.splitlines():
        kind, *fields = line.split()
        if kind not in out:
            continue
        for f in fields:
            k, _, v = f.partition("=")
            if k == "total":
                out[kind][k] = int(v)
            elif k in out[kind]:
                out[kind][k] = _psi_value(v)
    return out


def _memory_data(d: str, prefix: str) -> tuple[int, int, int] | None:
    """(usage, limit, peak) of memory.* or memory.swap.*; None without the .current file."""
    usage = _uint(d, prefix + ".current")
    if usage is None:
        return None
    return usage, _uint(d, prefix + ".max") or 0, _uint(d, prefix + ".peak") or 0


def _memory(d: str) -> dict:
    raw = dict(sorted(_kv(f"{d}/memory.stat").items()))  # Go encodes maps with sorted keys
    mem = _memory_data(d, "memory") or (0, 0, 0)
    swap = _memory_data(d, "memory.swap") or (0, 0, 0)
    # runc reports v2 swap as memory+swap (v1's memsw), its limit too unless swap is unlimited
    # (a uint64 sum, which wraps as Go's does), and no peak for the sum.
    swap_limit = swap[1] if swap[1] == MAX_UINT64 else (swap[1] + mem[1]) & MAX_UINT64
    memory = {"cache": raw.get("file", 0),
              "usage": _mem_entry(mem[1], mem[0], mem[2], 0),
              "swap": _mem_entry(swap_limit, (swap[0] + mem[0]) & MAX_UINT64, 0, 0),
              "kernel": _mem_entry(0, 0, 0, 0), "kernelTCP": _mem_entry(0, 0, 0, 0),
              "raw": raw}
    p = psi(d, "memory.pressure")
    if p is not None:
        memory["psi"] = p
    return _omit(memory, ("cache", "raw"))


def _cpu(d: str) -> dict:
    st = _kv(f"{d}/cpu.stat")
    cpu = {"usage": _usage(st.get("usage_usec", 0) * 1000, None, None, None,
                           st.get("system_usec", 0) * 1000, st.get("user_usec", 0) * 1000),
           "throttling": _throttling(st, "throttled_usec", 1000)}
    p = psi(d, "cpu.pressure")
    if p is not None:
        cpu["psi"] = p
    return cpu


def _pids(d: str) -> dict:
    current = _uint(d, "pids.current")
    limit = 0
    if current is None:  # no pids controller: count the processes, as runc does
        try:
            with open(f"{d}/cgroup.procs") as f:
                current = f.read().count("\n")
        except OSError:
            current = 0
    else:
        limit = _uint(d, "pids.max") or 0
        if limit == MAX_UINT64:  # "max": runc has always said 0 for no limit
            limit = 0
    return _omit({"current": current, "limit": limit}, ("current", "limit"))


_IO_OPS = {"rbytes": ("ioServiceBytesRecursive", "Read"),
           "wbytes": ("ioServiceBytesRecursive", "Write"),
           "rios": ("ioServicedRecursive", "Read"),
           "wios": ("ioServicedRecursive", "Write")}


def _blkio(d: str) -> dict:
    tables: dict[str, list[dict]] = {"ioServiceBytesRecursive": [], "ioServicedRecursive": []}
    try:
        with open(f"{d}/io.stat") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        fields = line.split()
        dev = fields[0].split(":") if fields else []
        if len(dev) != 2 or not all(x.isdigit() for x in dev):
            continue
        for item in fields[1:]:
            k, eq, v = item.partition("=")
            if not eq or k not in _IO_OPS or not v.isdigit():
                continue  # cost.* and dbytes/dios: runc keeps them out of the event
            table, op = _IO_OPS[k]
            tables[table].append(_omit({"major": int(dev[0]), "minor": int(dev[1]), "op": op,
                                        "value": int(v)}, ("major", "minor", "op", "value")))
    blkio: dict = {k: v for k, v in tables.items() if v}
    p = psi(d, "io.pressure")
    if p is not None:
        blkio["psi"] = p
    return blkio


def _hugetlb(d: str) -> dict:
    """Per page size: usage of the reservation counter where the kernel has it (what the limits
    runc writes hold), else of faults; failcnt from hugetlb.SIZE.events "max"."""
    from pyrunc.cgroups.resources import hugepage_sizes
    out = {}
    rsvd = ".rsvd"
    for ps in hugepage_sizes():
        usage = _uint(d, f"hugetlb.{ps}{rsvd}.current")
        if usage is None and rsvd:
            rsvd = ""
            usage = _uint(d, f"hugetlb.{ps}.current")
        if usage is None:
            break  # no hugetlb controller in this cgroup
        out[ps] = _omit({"usage": usage, "max": 0,
                         "failcnt": _kv(f"{d}/hugetlb.{ps}.events").get("max", 0)},
                        ("usage", "max"))
    return dict(sorted(out.items()))


def stats(d: str) -> dict:
    """types.Stats of the cgroup2 directory ``d``, in runc's field order."""
    return {"cpu": _cpu(d), "cpuset": _cpuset(None), "memory": _memory(d), "pids": _pids(d),
            "blkio": _blkio(d), "hugetlb": _hugetlb(d), "intel_rdt": {},
            "network_interfaces": None}
