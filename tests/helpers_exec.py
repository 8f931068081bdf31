"""Helpers shared by the exec, tty, hooks and run tests: a running container, a console-socket
receiver like containerd's, and reading a pty until some text appears."""
from __future__ import annotations

import array
import os
import select
import socket
import time
from pathlib import Path

WAIT = 20.0


def running(rt, args=None, **kw) -> str:
    """create + start a container running `args` (default: sleep), return its id."""
    b = rt.bundle(args or ["sleep", "1000"], **kw)
    cid = rt.create(b)
    rt.ok("start", cid)
    return cid


class ConsoleReceiver:
    """A unix socket a runtime connects to with --console-socket and sends a pty master on."""

    def __init__(self, directory: Path) -> None:
        self.path = str(directory / "console.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(4)
        self.sock.settimeout(WAIT)
        self.masters: list[int] = []

    def receive(self) -> int:
        """Accept one connection and return the fd it carried (SCM_RIGHTS)."""
        conn, _ = self.sock.accept()
        with conn:
            fds = array.array("i")
            _, anc, _, _ = conn.recvmsg(1024, socket.CMSG_SPACE(fds.itemsize))
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
        assert len(fds) == 1, "no fd received over the console socket"
        self.masters.append(fds[0])
        return fds[0]

    def close(self) -> None:
        for fd in self.masters:
            os.close(fd)
        self.sock.close()


def read_until(fd: int, needle: bytes, timeout: float = WAIT) -> bytes:
    """Read a pty master until `needle` has appeared; everything read so far."""
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{needle!r} not seen on the pty; got {buf!r}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            buf += data
    assert needle in buf, f"{needle!r} not seen on the pty; got {buf!r}"
    return buf


def wait_file(path: Path, timeout: float = WAIT) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.01)
    return path.read_text()
