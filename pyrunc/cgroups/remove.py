"""Removing a container's cgroup: kill what is left (cgroup.kill where the kernel has it, the
frozen signal_all else), wait until every hierarchy is empty, rmdir deepest first.

Off create's path: delete of a stopped container rmdirs the directories the state file names
without this package (state.py), and comes here only when that fails (delete -f of a running
container, kill --all's clean-up, a create that failed).
"""

import errno
from pyrunc import fastos as os  # os without its import cost (see fastos)

from pyrunc.cgroups import Cgroup, _collect_pids, _exists, _write
from pyrunc.errors import PyruncError


def destroy(cg: Cgroup, timeout: float = 10.0) -> None:
    """Kill whatever is left, wait until every hierarchy is empty, remove the directories.

    Idempotent and tolerant of directories that are already gone.  Uses cgroup.kill when the
    kernel has it (v2 and the unified half of hybrid), and SIGKILL per process otherwise and
    in addition, since a process may have left the unified cgroup but not the v1 ones.
    """
    import time

    cg.check_not_ours()
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        left = cg.pids()
        if not left:
            break
        u = cg.paths.get("")
        if u is not None and _exists(u + "/cgroup.kill"):
            try:
                _write(u + "/cgroup.kill", "1")
            except OSError:
                pass
        try:
            cg.signal_all(9)  # frozen meanwhile, so a forking loop cannot outrun it
        except (OSError, PyruncError):
            for pid in left:  # the freezer failed: kill what we saw, and loop
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            try:
                if cg.frozen():
                    cg.thaw()
            except (OSError, PyruncError):
                pass
        if time.monotonic() > deadline:
            raise PyruncError(f"cannot empty cgroup: processes {left[:10]} are still in it")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    for p in cg._dirs():
        _rmtree(p, deadline)

def remove_leaving_foreign(cg: Cgroup, timeout: float = 10.0) -> None:
    """Remove the directories, signalling nothing: for a container with its own pid
    namespace, whose processes all died with its init, whatever is still in the cgroup is
    not the container's (a config may name a cgroup the host's processes are in).  A
    directory that still holds processes is left with a warning, and so are its parents."""
    import time
    deadline = time.monotonic() + timeout
    _kill_own_children(cg)
    for p in cg._dirs():
        _rmtree(p, deadline, leave_busy=True)

def _kill_own_children(cg: Cgroup) -> None:
    """A create that failed before it learnt the container process' pid leaves it to
    this: that process is this runtime's own child (CLONE_PARENT), so it is known to be
    the container's."""
    from pyrunc.state import proc_stat
    me = os.getpid()
    for pid in cg.pids():
        try:
            if int(proc_stat(pid)[1]) != me:
                continue
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (OSError, ValueError, IndexError):
            pass


def _rmtree(p: str, deadline: float, leave_busy: bool = False) -> bool:
    """rmdir p and any sub-cgroups, deepest first; gone already is fine; busy is retried.

    With ``leave_busy``, a directory that holds processes is left (with a warning) instead of
    waited for; returns whether p is gone."""
    import time

    try:
        it = os.scandir(p)
    except FileNotFoundError:
        return True
    with it:
        subs = [e.path for e in it if e.is_dir(follow_symlinks=False)]
    gone = True
    for s in subs:
        gone = _rmtree(s, deadline, leave_busy) and gone
    if not gone:
        return False  # a child left in place keeps its parent too
    delay = 0.001
    while True:
        try:
            os.rmdir(p)
            return True
        except FileNotFoundError:
            return True
        except OSError as e:
            if e.errno != errno.EBUSY or time.monotonic() > deadline:
                raise PyruncError(f"cannot remove cgroup {p}: {e.strerror}") from None
            if leave_busy:
                held: set[int] = set()
                _collect_pids(p, held)
                if held:
                    from pyrunc import log
                    shown = " ".join(map(str, sorted(held)[:10]))
                    log.warning(f"cgroup {p} is left in place: it holds processes that are "
                                f"not the container's (pids {shown})")
                    return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
