"""NOTIFY_SOCKET passed through as runc does (runc's notify_socket.go).

When pyrunc runs with NOTIFY_SOCKET set (systemd's Type=notify), `create` bind-mounts a directory
of the container's state dir at /run/notify in the container and sets
NOTIFY_SOCKET=/run/notify/notify.sock for its process.  `start` (and `run`) bind a datagram
socket there before releasing the process, then wait until it sends READY=1 (or exits) and tell
the host's socket READY=1 and MAINPID=<the container's pid>.
"""
from __future__ import annotations

import os

from pyrunc.errors import PyruncError

IN_CONTAINER_DIR = "/run/notify"
SOCK_NAME = "notify.sock"


def host_socket() -> str | None:
    return os.environ.get("NOTIFY_SOCKET") or None


def socket_dir(state_dir: str) -> str:
    return os.path.join(state_dir, "notify")


def setup_spec(cfg, state_dir: str) -> None:
    """create: the mount and the env var (the config is changed in memory only)."""
    from pyrunc.config import Mount
    d = socket_dir(state_dir)
    os.makedirs(d, 0o755, exist_ok=True)
    cfg.mounts.append(Mount({"destination": IN_CONTAINER_DIR, "type": "bind", "source": d,
                             "options": ["bind", "nosuid", "noexec", "nodev", "ro"]},
                            f"mounts[{len(cfg.mounts)}]"))
    if cfg.process is not None:
        env = [e for e in cfg.process.env if not e.startswith("NOTIFY_SOCKET=")]
        cfg.process.env = env + [f"NOTIFY_SOCKET={IN_CONTAINER_DIR}/{SOCK_NAME}"]


def bind(state_dir: str):
    """The datagram socket the container's process will write to (None if not set up)."""
    d = socket_dir(state_dir)
    if not os.path.isdir(d):
        return None
    import socket
    path = os.path.join(d, SOCK_NAME)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    s.bind(path)
    os.chmod(path, 0o777)  # the container's user may be anyone
    return s


def wait_ready(sock, pid: int, alive) -> None:
    """Wait for READY=1 from the container (or its end), then tell the host socket."""
    import select
    import socket
    try:
        while True:
            r, _, _ = select.select([sock], [], [], 0.1)
            if not r:
                if not alive():
                    return
                continue
            data = sock.recv(4096)
            if b"READY=1" in data.split(b"\n"):
                break
    finally:
        sock.close()
    target = host_socket()
    if not target:
        return
    addr = "\0" + target[1:] if target.startswith("@") else target
    out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    try:
        out.connect(addr)
        out.send(f"READY=1\nMAINPID={pid}\n".encode())
    except OSError as e:
        raise PyruncError(f"notify socket {target}: {e.strerror}") from None
    finally:
        out.close()


def cleanup(state_dir: str) -> None:
    d = socket_dir(state_dir)
    if os.path.isdir(d):
        import shutil
        shutil.rmtree(d, ignore_errors=True)
