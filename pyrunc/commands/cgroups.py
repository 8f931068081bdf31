"""runc's cgroup commands: pause, resume, ps, events, update.

``main(ctx, argv)`` is what the CLI calls; each command is also a function taking parsed
options and a loaded ``State``, so tests and other callers need no command line.  Off the hot
path: these may import what they need.
"""
from __future__ import annotations

import os
import sys
import time

from pyrunc import jsonio
from pyrunc.args import Flag, UsageError, one_id, parse
from pyrunc.cgroups import Cgroup
from pyrunc.errors import ConfigError, PyruncError

UPDATE_FLAGS = [
    Flag("resources,r", "str", "", "path to the file containing the resources to update or "
         "'-' to read from the standard input"),
    Flag("blkio-weight", "int", 0, "Specifies per cgroup weight, range is from 10 to 1000"),
    Flag("cpu-period", "str", "", "CPU CFS period to be used for hardcapping (in usecs). "
         "0 to use system default"),
    Flag("cpu-quota", "str", "", "CPU CFS hardcap limit (in usecs). Allowed cpu time in a "
         "given period"),
    Flag("cpu-share,cpu-shares", "str", "", "CPU shares (relative weight vs. other containers)"),
    Flag("cpu-rt-period", "str", "", "CPU realtime period to be used for hardcapping (in "
         "usecs). 0 to use system default"),
    Flag("cpu-rt-runtime", "str", "", "CPU realtime hardcap limit (in usecs). Allowed cpu time "
         "in a given period"),
    Flag("cpuset-cpus", "str", "", "CPU(s) to use"),
    Flag("cpuset-mems", "str", "", "Memory node(s) to use"),
    Flag("kernel-memory", "str", "", "(obsoleted; do not use)"),
    Flag("kernel-memory-tcp", "str", "", "(obsoleted; do not use)"),
    Flag("memory", "str", "", "Memory limit (in bytes)"),
    Flag("memory-reservation", "str", "", "Memory reservation or soft_limit (in bytes)"),
    Flag("memory-swap", "str", "", "Total memory usage (memory + swap); set '-1' to enable "
         "unlimited swap"),
    Flag("pids-limit", "int", 0, "Maximum number of pids allowed in the container"),
    Flag("l3-cache-schema", "str", "", "The string of Intel RDT/CAT L3 cache schema"),
    Flag("mem-bw-schema", "str", "", "The string of Intel RDT/MBA memory bandwidth schema"),
]
PS_FLAGS = [Flag("format,f", "str", "table", "select one of: table or json (default: \"table\")")]
EVENTS_FLAGS = [
    Flag("interval", "str", "5s", "set the stats collection interval"),
    Flag("stats", help="display the container's stats then exit"),
]


def main(ctx, argv: list[str]) -> int:
    """Parse the command's (ctx.command's) flags, load the container, run the command."""
    name = ctx.command
    store = ctx.store()
    if name in ("pause", "resume"):
        _, pos = parse(argv, [])
        st = store.load(one_id(pos, name))
        try:
            (pause if name == "pause" else resume)(st)
        finally:
            st.release()
        return 0
    if name == "ps":
        # runc: flags come before the id; everything after it goes to ps(1)
        o, pos = parse(argv, PS_FLAGS, stop_at_positional=True)
        if not pos:
            raise UsageError("ps: \"ps\" requires a minimum of 1 argument(s)")
        st = store.load(pos[0], lock=False)
        return ps(st, str(o["format"]), pos[1:])
    if name == "events":
        o, pos = parse(argv, EVENTS_FLAGS)
        st = store.load(one_id(pos, name), lock=False)
        return events(st, bool(o["stats"]), parse_duration(str(o["interval"])))
    if name == "update":
        o, pos = parse(argv, UPDATE_FLAGS)
        st = store.load(one_id(pos, name))
        try:
            update(st, o)
        finally:
            st.release()
        return 0
    raise UsageError(f"unknown command {name}")


def _cgroup(st) -> Cgroup:
    if not st.cgroup:
        raise PyruncError("container has no cgroup: a rootless container gets one only where "
                          "the user owns a delegated cgroup")
    return Cgroup.from_json(st.cgroup)


# ---- pause / resume ----------------------------------------------------------------------------

def pause(st) -> None:
    """Freeze every process of a running or created container (runc pause)."""
    if st.status() not in ("running", "created"):
        raise PyruncError("container not running")
    _cgroup(st).freeze()


def resume(st) -> None:
    """Thaw a paused container (runc resume)."""
    if st.status() != "paused":
        raise PyruncError("container not paused")
    _cgroup(st).thaw()


# ---- ps --------------------------------------------------------------------------------------

def container_pids(st) -> list[int]:
    if not st.cgroup:
        return pids_without_cgroup(st)
    cg = _cgroup(st)
    try:
        return cg.pids()
    except OSError as e:
        raise PyruncError(f"cannot list the container's processes: {e.strerror}") from None


def pids_without_cgroup(st) -> list[int]:
    """A rootless container that could make no cgroup (none delegated): its processes are
    those in its own pid namespace (the user may read their namespace links: it owns their
    user namespace), else the init and its descendants."""
    from pyrunc.cgroups import pid_namespace
    from pyrunc.state import proc_stat
    if not st.init_alive():
        return []
    ns = pid_namespace(st.pid) if st.own_pid_namespace() else None
    parents: dict[int, int] = {}
    found = {st.pid}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if ns is not None:
            if pid_namespace(pid) == ns:
                found.add(pid)
            continue
        try:
            parents[pid] = int(proc_stat(pid)[1])
        except (OSError, ValueError, IndexError):
            pass
    grown = ns is None
    while grown:
        grown = False
        for pid, ppid in parents.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grown = True
    if not st.init_alive():  # the pid was recycled meanwhile: nothing of the container's
        return []
    return sorted(found)


def ps(st, fmt: str, ps_args: list[str], out=None) -> int:
    """runc ps: a JSON array of host pids, or ps(1)'s table filtered to the container's pids."""
    out = out or sys.stdout
    if fmt not in ("table", "json"):
        raise PyruncError("invalid format option")
    pids = container_pids(st)
    if fmt == "json":
        out.write(jsonio.dumps(pids if pids else None) + "\n")  # Go encodes an empty slice as null
        return 0
    import subprocess
    r = subprocess.run(["ps", *(ps_args or ["-ef"])], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    text = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        raise PyruncError(f"exit status {r.returncode}: {text}")
    lines = text.split("\n")
    titles = lines[0].split()
    if "PID" not in titles:
        raise PyruncError("couldn't find PID field in ps output")
    idx = titles.index("PID")
    want = set(pids)
    out.write(lines[0] + "\n")
    for line in lines[1:]:
        if not line:
            continue
        fields = line.split()
        try:
            p = int(fields[idx])
        except (IndexError, ValueError):
            raise PyruncError(f"unable to parse pid: {line}") from None
        if p in want:
            out.write(line + "\n")
    return 0


# ---- events ----------------------------------------------------------------------------------

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
          "h": 3600.0}


def parse_duration(s: str) -> float:
    """Go's time.ParseDuration ("5s", "1m30s", "250ms") in seconds."""
    orig = s
    if s in ("0", "+0", "-0"):
        return 0.0
    sign = 1.0
    if s[:1] in "+-" and s:
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if not s:
        raise UsageError(f"invalid value {orig!r} for flag -interval: parse error")
    total = 0.0
    while s:
        i = 0
        while i < len(s) and (s[i].isdigit() or s[i] == "."):
            i += 1
        num, s = s[:i], s[i:]
        j = 0
        while j < len(s) and not (s[j].isdigit() or s[j] == "."):
            j += 1
        unit, s = s[:j], s[j:]
        if not num or unit not in _UNITS:
            raise UsageError(f"invalid value {orig!r} for flag -interval: parse error")
        try:
            total += float(num) * _UNITS[unit]
        except ValueError:
            raise UsageError(f"invalid value {orig!r} for flag -interval: parse error") from None
    return sign * total


def _event(kind: str, cid: str, data: dict | None = None) -> str:
    e: dict = {"type": kind, "id": cid}
    if data is not None:
        e["data"] = data
    return jsonio.dumps(e) + "\n"


def events(st, stats_only: bool, interval: float, out=None) -> int:
    """runc events: one stats event (--stats), or stats every interval plus oom events until
    the container's cgroup goes away."""
    out = out or sys.stdout
    if interval <= 0:
        raise PyruncError("duration interval must be greater than 0")
    if st.status() == "stopped":
        raise PyruncError(f"container with id {st.id} is not running")
    cg = _cgroup(st)
    if stats_only:
        out.write(_event("stats", st.id, cg.stats()))
        out.flush()
        return 0
    import select

    from pyrunc.cgroups.oom import OomEvents
    try:
        oom = OomEvents(cg)
    except OSError as e:
        raise PyruncError(f"cannot watch the container for OOM events: {e.strerror or e}"
                          ) from None
    poller = select.poll()
    poller.register(oom.fileno(), oom.events)
    next_stats = time.monotonic() + interval
    try:
        while True:
            wait = max(0.0, min(next_stats - time.monotonic(), 0.5))
            if poller.poll(int(wait * 1000)):
                for _ in range(oom.read()):
                    out.write(_event("oom", st.id))
                out.flush()
            if oom.gone() or st.status() == "stopped" and not cg.pids():
                return 0
            if time.monotonic() >= next_stats:
                next_stats += interval
                try:
                    out.write(_event("stats", st.id, cg.stats()))
                    out.flush()
                except OSError as e:
                    if oom.gone():
                        return 0
                    from pyrunc import log
                    log.error(str(e))
    finally:
        oom.close()


# ---- update --------------------------------------------------------------------------------------

_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(s: str) -> int:
    """docker/go-units RAMInBytes: "512m", "1.5g", "100 KiB", "1024" (binary multiples)."""
    import re
    m = re.fullmatch(r"(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?", s)
    if m is None:
        raise ValueError(f"invalid size: '{s}'")
    try:
        num = float(m.group(1))
    except ValueError:
        raise ValueError(f"invalid size: '{s}'") from None
    return int(num * _SIZE_UNITS[(m.group(2) or "").lower()])


def resources_from_flags(o: dict) -> dict:
    """runc update's flags as a linux.resources object holding only what was given."""
    res: dict = {}

    def put(section: str, key: str, value) -> None:
        res.setdefault(section, {})[key] = value

    if o.get("blkio-weight"):
        put("blockIO", "weight", o["blkio-weight"])
    for flag, key in (("cpuset-cpus", "cpus"), ("cpuset-mems", "mems")):
        if o.get(flag):
            put("cpu", key, o[flag])
    for flag, key, signed in (("cpu-period", "period", False), ("cpu-rt-period",
                              "realtimePeriod", False), ("cpu-share", "shares", False),
                              ("cpu-quota", "quota", True), ("cpu-rt-runtime", "realtimeRuntime",
                                                             True)):
        v = o.get(flag)
        if v:
            try:
                n = int(v, 10)
                if not signed and n < 0:
                    raise ValueError
            except ValueError:
                raise PyruncError(f"invalid value for {flag}: strconv.Parse"
                                  f"{'Int' if signed else 'Uint'}: parsing {v!r}: invalid "
                                  "syntax") from None
            put("cpu", key, n)
    for flag, key in (("memory", "limit"), ("memory-swap", "swap"),
                      ("kernel-memory", "kernel"), ("kernel-memory-tcp", "kernelTCP"),
                      ("memory-reservation", "reservation")):
        v = o.get(flag)
        if v:
            if v == "-1":
                n = -1
            else:
                try:
                    n = ram_in_bytes(v)
                except ValueError as e:
                    raise PyruncError(f"invalid value for {flag}: {e}") from None
            put("memory", key, n)
    if o.get("pids-limit"):
        put("pids", "limit", o["pids-limit"])
    return res


def read_resources(src: str, stdin=None) -> dict:
    """--resources FILE or -: a linux.resources JSON object (as containerd sends it)."""
    if src == "-":
        try:
            data = (stdin or sys.stdin.buffer).read(jsonio.MAX_FILE + 1)
        except OSError as e:
            raise PyruncError(f"read standard input: {e.strerror}") from None
        if len(data) > jsonio.MAX_FILE:
            raise PyruncError(f"invalid resources JSON: larger than {jsonio.MAX_FILE >> 20} MiB")
        try:
            res = jsonio.loads(data)
        except ValueError as e:
            raise PyruncError(f"invalid resources JSON: {e}") from None
    else:
        res = jsonio.load_file(src, "--resources", "invalid resources JSON")
    if not isinstance(res, dict):
        raise PyruncError("invalid resources JSON: not an object")
    return res


def update(st, o: dict, stdin=None) -> None:
    """runc update: change the live limits; --resources replaces every other flag."""
    if o.get("l3-cache-schema"):
        raise PyruncError("Intel RDT/CAT: l3 cache schema is not enabled")
    if o.get("mem-bw-schema"):
        raise PyruncError("Intel RDT/MBA: memory bandwidth schema is not enabled")
    if o.get("resources"):
        res = read_resources(str(o["resources"]), stdin)
    else:
        res = resources_from_flags(o)
    if st.status() == "stopped":
        raise PyruncError("container not running")
    cg = _cgroup(st)
    try:
        cg.update(res, path="resources")
    except ConfigError:
        raise
    # keep what was set, for a later look at the container's configuration
    saved = st.config.setdefault("resources", {})
    for k, v in res.items():
        if isinstance(v, dict) and isinstance(saved.get(k), dict):
            saved[k].update(v)
        else:
            saved[k] = v
    st.save()
