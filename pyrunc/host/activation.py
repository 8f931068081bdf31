"""Socket activation as runc does it (go-systemd's activation.Files): when LISTEN_PID is
pyrunc's own pid, the LISTEN_FDS fds from 3 on go to the container's process before the
--preserve-fds ones, with LISTEN_FDS=N and LISTEN_PID=1 added to its environment."""
from __future__ import annotations

import os


def listen_fds() -> int:
    """How many activation fds pyrunc was given (0 when they are not meant for us)."""
    n = os.environ.get("LISTEN_FDS")
    if not n:
        return 0
    try:
        if int(os.environ.get("LISTEN_PID", "")) != os.getpid():
            return 0
        return max(int(n), 0)
    except ValueError:
        return 0


def apply(proc, preserve: int) -> int:
    """Add the activation env to ``proc`` (a config.Process); the total fds to preserve."""
    n = listen_fds()
    if not n:
        return preserve
    env = [e for e in proc.env if not e.startswith(("LISTEN_FDS=", "LISTEN_PID="))]
    proc.env = env + [f"LISTEN_FDS={n}", "LISTEN_PID=1"]
    return preserve + n
