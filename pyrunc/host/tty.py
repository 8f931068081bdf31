"""A container's terminal proxied to pyrunc's own, for `run` and attached `exec` with a terminal
and no --console-socket (commands.run.run_with_terminal, commands.exec.exec_with_terminal).

The init opens the pty in the container's devpts (CONSOLE op) and sends the master over a unix
socket, exactly as it does to containerd; here pyrunc is the receiver.  pyrunc's stdin goes to
the master and the master's output to pyrunc's stdout; when stdin is a terminal it is put into
raw mode (the container's pty does the line discipline) and its window size is copied to the
pty, initially and on every SIGWINCH.  process.consoleSize, when set, gives the initial size.
"""
from __future__ import annotations

import array
import fcntl
import os
import select
import signal
import socket
import struct
import termios

from pyrunc.errors import PyruncError
from pyrunc.signals import exit_code, forwarder, handle_all, restore



def recv_master(sock: socket.socket, timeout: float = 10.0) -> int:
    """The pty master fd sent with SCM_RIGHTS over ``sock`` (runc's console protocol)."""
    sock.settimeout(timeout)
    fds = array.array("i")
    try:
        _, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(fds.itemsize))
    except socket.timeout:
        raise PyruncError("the container sent no console") from None
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
    if not fds:
        raise PyruncError("the container sent no console")
    for extra in fds[1:]:
        os.close(extra)
    return fds[0]


def set_size(master: int, rows: int, cols: int) -> None:
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def copy_size(src: int, master: int) -> None:
    """Give the pty the window size of terminal ``src`` (nothing when src is no terminal)."""
    try:
        ws = fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return
    fcntl.ioctl(master, termios.TIOCSWINSZ, ws)


def initial_size(master: int, console_size: object) -> None:
    if isinstance(console_size, dict) and console_size.get("height") and \
            console_size.get("width"):
        set_size(master, int(console_size["height"]), int(console_size["width"]))
    else:
        copy_size(0, master)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            select.select([], [fd], [])


def proxy(master: int, pid: int, console_size: object = None) -> int:
    """Proxy the pty until ``pid`` (our child) exits; its exit status (128+N if killed).

    Every catchable signal but SIGWINCH is forwarded to ``pid``; SIGWINCH resizes the pty.
    """
    stdin_tty = os.isatty(0)
    saved = termios.tcgetattr(0) if stdin_tty else None
    initial_size(master, console_size)

    def winch(_sig: int, _frame: object) -> None:
        copy_size(0, master)

    old = handle_all(forwarder(pid), exclude=(signal.SIGWINCH,))
    old[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, winch)
    pidfd = os.pidfd_open(pid)
    try:
        if stdin_tty:
            raw = termios.tcgetattr(0)
            raw[0] &= ~(termios.BRKINT | termios.ICRNL | termios.INPCK | termios.ISTRIP |
                        termios.IXON)
            raw[1] &= ~termios.OPOST
            raw[2] = (raw[2] & ~(termios.CSIZE | termios.PARENB)) | termios.CS8
            raw[3] &= ~(termios.ECHO | termios.ICANON | termios.IEXTEN | termios.ISIG)
            raw[6][termios.VMIN] = 1
            raw[6][termios.VTIME] = 0
            termios.tcsetattr(0, termios.TCSANOW, raw)
        _pump(master, pidfd)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(pidfd)
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        restore(old)
    return exit_code(status)


def _pump(master: int, pidfd: int) -> None:
    """Copy stdin -> master and master -> stdout until the process exits (pidfd readable)."""
    os.set_blocking(master, False)
    stdin_open = True
    while True:
        rlist = [master, pidfd] + ([0] if stdin_open else [])
        ready, _, _ = select.select(rlist, [], [])
        if 0 in ready:
            try:
                data = os.read(0, 65536)
            except OSError:
                data = b""
            if data:
                _write_all(master, data)
            else:
                stdin_open = False  # keep the pty open: the process may still write
        if master in ready or pidfd in ready:
            if not _drain(master):
                if pidfd not in ready:
                    # every slave is closed but the process lives on (it closed its stdio)
                    select.select([pidfd], [], [])
                return
        if pidfd in ready:
            _drain(master)
            return


def _drain(master: int) -> bool:
    """Copy what the master has to stdout; False once the pty has no slave left (EIO)."""
    while True:
        try:
            data = os.read(master, 65536)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        _write_all(1, data)
