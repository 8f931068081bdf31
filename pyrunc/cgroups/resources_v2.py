"""linux.resources onto cgroup v2 files (a pure v2 host), with runc's conversions: cpu.weight
from shares, memory.swap.max from memory+swap, io.weight from blkio weights, the unified map.

resources.build validates the shared shapes and calls here only for a v2 host.
"""

import errno

from pyrunc.cgroups import _read
from pyrunc.cgroups.resources import (MAX_UINT64, _blkio_entries, _check_usage, _cpu_common,
                                      _cpuset, _devnum, _exists, _get, _kernel_memory_warning,
                                      _unlimited_or_positive, _v2num, _weight,
                                      blkio_weight_to_io_weight, shares_to_weight, swap_to_v2)
from pyrunc.cgroups.writes import WritePlan, v2_has
from pyrunc.errors import ConfigError


def memory(plan: WritePlan, mem: dict, path: str, updating: bool) -> None:
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


def cpu(plan: WritePlan, cpu: dict, path: str, updating: bool) -> None:
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


def blkio(plan: WritePlan, bio: dict, path: str) -> None:
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


def unified(plan: WritePlan, uni: dict, path: str) -> None:
    """The unified map: each key a cgroup2 file of the container's cgroup, written as given
    (io.latency, misc.max and the rest the spec has no field for), named in the error."""
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
