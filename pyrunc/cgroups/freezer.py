"""Freezing a container's cgroup (pause, resume) and signalling all of it while frozen
(kill --all, delete -f of a running container).

Off the hot path: delete of a stopped container, start, state and kill of the init alone never
import it.  v1 has freezer.state; cgroup2 has cgroup.freeze, whose effect is seen in
cgroup.events ("frozen 1"), which is what a pause waits for.
"""

from pyrunc import fastos as os  # os without its import cost (see fastos)

from pyrunc.cgroups import V1, Cgroup, _read, _write, pid_namespace
from pyrunc.errors import PyruncError


def signal_all(cg: Cgroup, sig: int, pid_ns: tuple[int, int] | None = None) -> None:
    """Send ``sig`` to every process; frozen meanwhile so nothing forks past the signal.

    With ``pid_ns`` (the (st_dev, st_ino) of a container's own pid namespace), only the
    processes in that namespace: a cgroup the config named may hold the host's processes
    too, and those are not the container's to signal.  Frozen processes cannot exit, so
    no pid listed here is recycled before its signal."""
    if not cg.pids():
        return  # nothing there (or the cgroup is gone): nothing to freeze or signal
    cg.check_not_ours()
    was_frozen = cg.frozen()
    can_freeze = cg._freezer() is not None
    if can_freeze and not was_frozen:
        cg.freeze()
    try:
        for pid in cg.pids():
            if pid_ns is not None and pid_namespace(pid) != pid_ns:
                continue
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
    finally:
        # A frozen v1 task acts on SIGKILL only once thawed; keep a paused container paused
        # otherwise.
        if can_freeze and (not was_frozen or sig == 9):
            cg.thaw()


def set_frozen(cg: Cgroup, on: bool) -> None:
    """Freeze (pause) or thaw (resume) every process, and return once the kernel says so;
    a freeze that does not take within 10 s is undone and is an error."""
    import time

    f = cg._freezer()
    if f is None:
        raise PyruncError("cannot freeze: no freezer cgroup (v1 freezer or cgroup2) is mounted")
    kind, p = f
    deadline = time.monotonic() + 10
    delay = 0.0005
    if kind == V1:
        want = "FROZEN" if on else "THAWED"
        tries = 0
        while True:
            tries += 1
            if on and tries % 50 == 0:
                # A freeze can stall on a task caught mid-vfork; thawing and freezing again
                # lets it through (runc does the same).
                _write(p + "/freezer.state", "THAWED")
            _write(p + "/freezer.state", want)
            if _read(p + "/freezer.state").strip() == want:
                return
            if time.monotonic() > deadline:
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.02)
    else:
        _write(p + "/cgroup.freeze", "1" if on else "0")
        want = "frozen 1" if on else "frozen 0"
        while True:
            if want in _read(p + "/cgroup.events").splitlines():
                return
            if time.monotonic() > deadline:
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.02)
    if on:  # do not leave it half frozen
        try:
            set_frozen(cg, False)
        except PyruncError:
            pass
    raise PyruncError(f"cannot {'freeze' if on else 'thaw'} cgroup {p}: timed out")

