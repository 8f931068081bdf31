"""linux.resources onto cgroup v1 files (and the v1 hierarchies of a hybrid host): memory with
memsw ordering, cpu with periods the kernel accepts in either order, blkio (CFQ or BFQ).

resources.build validates the shared shapes and calls here only for a v1 host.
"""

import errno
from pyrunc import fastos as os  # os without its import cost (see fastos)

from pyrunc.cgroups import _read, _write
from pyrunc.cgroups.resources import (MAX_UINT64, _blkio_entries, _check_usage, _cpu_common,
                                      _cpuset, _devnum, _exists, _get, _kernel_memory_warning,
                                      _read_int, _unlimited_or_positive, _weight)
from pyrunc.cgroups.writes import WritePlan
from pyrunc.errors import ConfigError


def memory(plan: WritePlan, mem: dict, path: str, updating: bool) -> None:
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


def cpu(plan: WritePlan, cpu: dict, path: str, updating: bool) -> None:
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



def blkio(plan: WritePlan, bio: dict, path: str) -> None:
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
