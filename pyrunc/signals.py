"""Signal names as runc's `kill` accepts them (KILL, SIGKILL, 9), from the builtin _signal.

Names are looked up when asked, not tabled at import: `kill` is one of the five calls an engine
makes per container, and a table of _signal's names costs 30 us to build.
"""

import _signal

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
