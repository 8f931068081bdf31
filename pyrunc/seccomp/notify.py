"""Hand the seccomp user-notification fd to the agent at ``linux.seccomp.listenerPath``.

runtime-spec config-linux.md#seccomp: the runtime connects an AF_UNIX SOCK_STREAM socket to
listenerPath, sends the container process state (JSON) with the listener fd in SCM_RIGHTS (the
fd in the first sendmsg), sends exactly one state per connection and closes it; a failure is an
error of the operation.  This runs during create, so it uses the builtin ``_socket`` (the
``socket`` package would import enum and selectors).
"""
from __future__ import annotations

import os
import sys

import _socket

from pyrunc import OCI_VERSION, jsonio
from pyrunc.errors import PyruncError


def fetch_listener_fd(pid: int, remote_fd: int) -> int:
    """Duplicate the listener fd ``remote_fd`` of process ``pid`` (the init that loaded the
    filter and reported the fd's number) into this process, close-on-exec (pidfd_getfd(2),
    Linux 5.6).  The init must keep that fd open until this returns."""
    from pyrunc._native import lib  # cffi: only containers with SCMP_ACT_NOTIFY pay for it
    try:
        pidfd = os.pidfd_open(pid)
    except OSError as e:
        raise PyruncError(f"seccomp: cannot reach the container process {pid}: "
                          f"{e.strerror}") from None
    try:
        fd = lib.pyrunc_pidfd_getfd(pidfd, remote_fd)
    finally:
        os.close(pidfd)
    if fd < 0:
        raise PyruncError(f"seccomp: cannot take the listener fd {remote_fd} of process {pid}: "
                          f"{os.strerror(-fd)}")
    return fd


def process_state(pid: int, state: dict, metadata: str | None) -> dict:
    """The container process state that goes with the fd (``fds`` names it seccompFd)."""
    msg: dict = {"ociVersion": OCI_VERSION, "fds": ["seccompFd"], "pid": pid}
    if metadata:
        msg["metadata"] = metadata
    msg["state"] = state
    return msg


def send_listener_fd(listener_path: str, fd: int, state: dict, metadata: str | None) -> None:
    """Send ``fd`` with the container process state to the agent listening on listener_path.

    ``state`` is the container's state (runtime.md#state: ociVersion, id, status, pid, bundle,
    annotations); its pid is the container process as seen by the runtime.  The caller keeps
    ``fd`` and closes it afterwards.  Raises PyruncError if the agent cannot be reached.
    """
    data = jsonio.dumps(process_state(state.get("pid", 0), state, metadata)).encode()
    rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder, signed=True))]
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect(listener_path)
        sent = sock.sendmsg([data], rights)
        while sent < len(data):  # only the first sendmsg carries the fd
            sent += sock.send(data[sent:])
    except OSError as e:
        raise PyruncError(f"seccomp: cannot send the listener fd to {listener_path}: "
                          f"{e.strerror or e}") from None
    finally:
        sock.close()
