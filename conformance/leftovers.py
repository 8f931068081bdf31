"""Find and remove what a test's containers left on the host: processes, cgroups, mounts.

Used by the `rt` fixture after every test. Everything here acts only on things it can tie to
the test (a marker string in a cgroup path or command line, a PID recorded with its start
time, a path under the test's temp dir), never on this process or its ancestors.
"""
from __future__ import annotations

import ctypes
import os
import signal
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
MNT_DETACH = 2


def proc_stat(pid: int) -> tuple[int, str, int] | None:
    """(ppid, state letter, start time in ticks) of `pid`, or None if it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    return int(fields[1]), fields[0], int(fields[19])


def is_alive(pid: int, starttime: int | None = None) -> bool:
    """True if `pid` exists, is not a zombie and (if given) started at `starttime`."""
    st = proc_stat(pid)
    if st is None or st[1] in ("Z", "X"):
        return False
    return starttime is None or st[2] == starttime


def protected_pids() -> set[int]:
    """This process and its ancestors: never signalled, whatever a cgroup says."""
    pids = {0, 1}
    pid = os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        st = proc_stat(pid)
        if st is None:
            break
        pid = st[0]
    return pids


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def find_processes(markers: list[str], known: dict[int, int]) -> dict[int, str]:
    """Live processes that belong to a test, with a description of each.

    A process belongs if its PID is in `known` (pid -> start time, as recorded from `state`),
    if its cgroup path or command line contains one of `markers`, or if it descends from one
    that does. Zombies are dead for this purpose (PID 1 reaps them when it gets to it).
    """
    protected = protected_pids()
    table: dict[int, tuple[int, str, int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st is not None and st[1] not in ("Z", "X"):
                table[int(name)] = st
    found: dict[int, str] = {}
    for pid, (ppid, _state, start) in table.items():
        if pid in protected:
            continue
        if known.get(pid) == start:
            found[pid] = "recorded container pid"
            continue
        cgroup = _read(f"/proc/{pid}/cgroup")
        cmdline = _read(f"/proc/{pid}/cmdline").replace("\0", " ")
        for m in markers:
            if m in cgroup or m in cmdline:
                found[pid] = f"{'cgroup' if m in cgroup else 'cmdline'} matches {m!r}"
                break
    # Descendants of what was found: a container's children whatever their cgroup.
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _state, _start) in table.items():
            if pid not in found and ppid in found and pid not in protected:
                found[pid] = f"child of {ppid}"
                changed = True
    for pid in found:
        cmd = _read(f"/proc/{pid}/cmdline").replace("\0", " ").strip() or _read(
            f"/proc/{pid}/comm").strip()
        found[pid] = f"pid {pid} ({cmd!r}): {found[pid]}"
    return found


def kill_processes(pids: list[int], timeout: float = 5.0) -> list[int]:
    """SIGKILL `pids` (each checked against its start time) and wait; return those still alive."""
    protected = protected_pids()
    starts = {}
    for pid in pids:
        st = proc_stat(pid)
        if st is not None and pid not in protected:
            starts[pid] = st[2]
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p, s in starts.items() if is_alive(p, s)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.01)


def hierarchies() -> list[Path]:
    """Every cgroup hierarchy mounted under /sys/fs/cgroup (v1 controllers, unified), once."""
    seen: set[str] = set()
    out = []
    try:
        entries = sorted(CGROUP_ROOT.iterdir())
    except OSError:
        return []
    if (CGROUP_ROOT / "cgroup.procs").exists():  # pure cgroup v2
        return [CGROUP_ROOT]
    for h in entries:
        real = os.path.realpath(h)
        if h.is_dir() and real not in seen and (h / "cgroup.procs").exists():
            seen.add(real)
            out.append(h)
    return out


def find_cgroups(markers: list[str], names: list[str] | tuple[str, ...] = ()) -> list[Path]:
    """Cgroup directories, in any hierarchy, whose name contains one of `markers` or is
    one of `names` exactly.

    Deepest first, so they can be removed in order.
    """
    found = []
    for h in hierarchies():
        for dirpath, dirnames, _files in os.walk(h):
            for d in dirnames:
                if d in names or any(m in d for m in markers):
                    found.append(Path(dirpath) / d)
    # Children of a found dir are found too (walk goes on into them); deepest first.
    return sorted(set(found), key=lambda p: len(p.parts), reverse=True)


def make_cgroup(path: str) -> list[Path]:
    """Create the absolute cgroup ``path`` in every hierarchy, a v1 cpuset level given its
    parent's cpus and mems (it starts empty, and takes no process then); its directories.
    For a test that needs a cgroup of its own before the runtime makes one; remove_cgroup
    takes each away again."""
    dirs = []
    for h in hierarchies():
        d = h
        for part in path.strip("/").split("/"):
            d = d / part
            d.mkdir(exist_ok=True)
            for f in ("cpuset.cpus", "cpuset.mems"):
                # only v1 has them at its root; an empty one in v2 means "the parent's"
                if (h / f).exists() and (d / f).exists() and not (d / f).read_text().strip():
                    (d / f).write_text((d.parent / f).read_text())
        dirs.append(d)
    return dirs


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError:
        pass


def remove_cgroup(path: Path, timeout: float = 5.0) -> str | None:
    """Thaw, empty (SIGKILL its processes) and rmdir a cgroup; return an error or None."""
    protected = protected_pids()
    if (path / "freezer.state").exists():
        _write(path / "freezer.state", "THAWED")
    if (path / "cgroup.freeze").exists():
        _write(path / "cgroup.freeze", "0")
    deadline = time.monotonic() + timeout
    while True:
        for sub in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if sub.is_dir():
                try:
                    sub.rmdir()
                except OSError:
                    pass
        pids = [int(p) for p in _read(str(path / "cgroup.procs")).split()]
        if protected & set(pids):
            return f"{path} holds this test process or an ancestor: not touched"
        if pids:
            kill_processes(pids, timeout=max(0.0, deadline - time.monotonic()))
        try:
            path.rmdir()
            return None
        except FileNotFoundError:
            return None
        except OSError as e:
            if time.monotonic() > deadline:
                return f"could not remove {path}: {e}"
            time.sleep(0.01)


def _unescape(field: str) -> str:
    """Undo mountinfo's octal escapes (\\040 for space, etc.)."""
    if "\\" not in field:
        return field
    return field.encode().decode("unicode_escape").encode("latin-1").decode(errors="replace")


def find_mounts(prefixes: list[str]) -> list[str]:
    """Mount points in this mount namespace whose path contains any of `prefixes`, deepest
    first (a substring match: also catches a temp dir mounted somewhere under another)."""
    found = []
    for line in _read("/proc/self/mountinfo").splitlines():
        fields = line.split()
        if len(fields) > 4:
            mnt = _unescape(fields[4])
            if any(p in mnt for p in prefixes):
                found.append(mnt)
    return sorted(set(found), key=len, reverse=True)


def unmount(paths: list[str]) -> list[str]:
    """Lazily unmount `paths` (and mounts stacked on them); return those still mounted."""
    libc = ctypes.CDLL(None, use_errno=True)
    for _ in range(20):
        remaining = find_mounts(paths)
        if not remaining:
            return []
        for p in remaining:
            libc.umount2(p.encode(), MNT_DETACH)
    return find_mounts(paths)
