"""Signal names as runc's `kill` accepts them (KILL, SIGKILL, 9), from the builtin _signal.

Names are looked up when asked, not tabled at import: `kill` is one of the five calls an engine
makes per container, and a table of _signal's names costs 30 us to build.  Forwarding passes the
signals pyrunc gets on to the process it runs (run, exec), also those before its pid is known.
"""

import _signal
import posix as _os

from pyrunc.errors import PyruncError


def parse_signal(text: str) -> int:
    """Turn KILL, SIGKILL, sigkill, 9 or RTMIN+3 into a number; a bad one is an error.
    0 is valid, as in runc: kill(2)'s liveness check, which sends nothing."""
    t = text.strip()
    if t.isdigit():
        n = int(t)
        if 0 <= n < _signal.NSIG:
            return n
        raise PyruncError(f"unknown signal {text!r}")
    name = t.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name.startswith("SIGRTMIN+") or name.startswith("SIGRTMAX-"):
        try:
            off = int(name[9:])
        except ValueError:
            raise PyruncError(f"unknown signal {text!r}") from None
        n = _signal.SIGRTMIN + off if name.startswith("SIGRTMIN") else _signal.SIGRTMAX - off
        if _signal.SIGRTMIN <= n <= _signal.SIGRTMAX:
            return n
    elif not name.startswith("SIG_"):  # SIG_DFL, SIG_IGN, SIG_BLOCK... are not signals
        n = getattr(_signal, name, None)
        if type(n) is int:  # a signal number (an uppercase name of _signal that is no function)
            return n
    raise PyruncError(f"unknown signal {text!r}")


# -- forwarding: run, attached exec and the tty proxy wait for a process like a shell does ------
_UNFORWARDED = (_signal.SIGKILL, _signal.SIGSTOP, _signal.SIGCHLD)


def handle_all(handler, exclude: tuple[int, ...] = ()) -> dict:
    """Install ``handler`` for every catchable signal but SIGCHLD (and ``exclude``); return
    the old handlers for restore()."""
    old = {}
    for s in range(1, _signal.NSIG):
        if s in _UNFORWARDED or s in exclude:
            continue
        try:
            old[s] = _signal.signal(s, handler)
        except (OSError, ValueError):
            pass
    return old


def restore(old: dict) -> None:
    for s, h in old.items():
        try:
            _signal.signal(s, h)
        except (OSError, ValueError, TypeError):
            pass


def forwarder(pid: int):
    """A signal handler that passes the signal on to ``pid``."""
    from pyrunc import fastos as os

    def forward(sig: int, _frame: object) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    return forward


def exit_code(status: int) -> int:
    """A wait status as a shell reports it: the exit code, or 128+N when signal N killed it."""
    from pyrunc import fastos as os
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def wait_exit_code(pid: int) -> int:
    """waitpid(pid) as an exit code; 0 if it is not our child (someone else reaped it)."""
    from pyrunc import fastos as os
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return 0
    return exit_code(status)


class Forwarding:
    """Every catchable signal pyrunc gets, passed on to the process it starts (run's container,
    exec's process) until it exits.

    The handlers go in before the process is started: the process may be running, and its
    caller may signal pyrunc, before spawn_exec has returned; a signal that arrives before the
    pid is known waits for it (a SIGTERM there would otherwise end pyrunc and leave the process
    running). Python handlers are reset by the exec of the init, which never sees them."""

    __slots__ = ("pid", "pending", "old")

    def __init__(self) -> None:
        self.pid = 0
        self.pending: list[int] = []
        self.old = handle_all(self._forward)

    def _forward(self, sig: int, _frame: object) -> None:
        if not self.pid:
            self.pending.append(sig)
            return
        try:
            _os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def attach(self, pid: int) -> None:
        """From now on signals go to ``pid``; those kept meanwhile go first."""
        self.pid = pid
        for sig in self.pending:
            self._forward(sig, None)
        self.pending.clear()

    def wait(self, pid: int) -> int:
        """attach(pid), then its exit status, 128+N if killed, once it has exited."""
        self.attach(pid)
        return wait_exit_code(pid)

    def stop(self) -> None:
        restore(self.old)
        self.old = {}
