"""Signal names as runc's `kill` accepts them (KILL, SIGKILL, 9), from the builtin _signal."""
from __future__ import annotations

import _signal

from pyrunc.errors import PyruncError

_NAMES = {n: getattr(_signal, n) for n in dir(_signal)
          if n.startswith("SIG") and not n.startswith("SIG_") and isinstance(getattr(_signal, n), int)}


def parse_signal(text: str) -> int:
    """Turn KILL, SIGKILL, sigkill, 9 or RTMIN+3 into a number; a bad one is an error."""
    t = text.strip()
    if t.isdigit():
        n = int(t)
        if 0 < n < _signal.NSIG:
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
    elif name in _NAMES:
        return _NAMES[name]
    raise PyruncError(f"unknown signal {text!r}")
