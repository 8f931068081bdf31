"""Processes for the bench: timed spawns, reaping container inits, and crun's mount namespace.

Why these exist rather than subprocess: a timed call should measure the runtime, not the
launcher, so every runtime is started the same cheap way (posix_spawn, i.e. vfork+exec) and timed
from just before the spawn to just after waitpid. The bench is a child subreaper, as an engine's
shim is, so a detached container init (whose `create` process has exited) is re-parented to us and
we can wait for its exit exactly, and reap it, before calling `delete`.
"""
from __future__ import annotations

import ctypes
import errno
import os
import select
import signal
import time
from contextlib import contextmanager
from typing import Iterator

PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_REC, MS_PRIVATE = 0x4000, 1 << 18
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
       "LANG": "C.UTF-8"}

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


class CallTimeout(RuntimeError):
    """A runtime call did not finish in time (it was killed)."""


class Result:
    """What one runtime call did: exit code, wall seconds, captured stdout and stderr."""

    __slots__ = ("argv", "rc", "seconds", "out", "err")

    def __init__(self, argv: list[str], rc: int, seconds: float, out: str, err: str) -> None:
        self.argv, self.rc, self.seconds, self.out, self.err = argv, rc, seconds, out, err

    def why(self) -> str:
        msg = (self.err.strip() or self.out.strip()).splitlines()
        return f"`{' '.join(self.argv)}` exited {self.rc}: {msg[-1] if msg else '(no output)'}"


def _read_all(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while True:
        b = os.read(fd, 65536)
        if not b:
            return b"".join(chunks).decode(errors="replace")
        chunks.append(b)


def spawn_timed(argv: list[str], tmpdir: str, timeout: float = 30.0) -> Result:
    """Run argv to completion with stdin /dev/null and stdout/stderr in unnamed temp files.

    Files, not pipes: `create` hands its stdio to the container, which would hold a pipe open.
    On a timeout the process is SIGKILLed and reaped before raising; on an interrupt it is
    given `timeout` to finish first.
    """
    out = os.open(tmpdir, os.O_TMPFILE | os.O_RDWR, 0o600)
    err = os.open(tmpdir, os.O_TMPFILE | os.O_RDWR, 0o600)
    null = os.open("/dev/null", os.O_RDONLY)
    actions = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, out, 1),
               (os.POSIX_SPAWN_DUP2, err, 2)]
    pid = 0
    try:
        t0 = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, ENV, file_actions=actions)
        pidfd = os.pidfd_open(pid)
        try:
            if not select.select([pidfd], [], [], timeout)[0]:
                raise CallTimeout(f"`{' '.join(argv)}` did not finish in {timeout:.0f}s (killed)")
        except KeyboardInterrupt:
            # Let the runtime finish (or undo) what it started: a SIGKILLed create leaves
            # cgroups and state behind. Ctrl-C reached it too; it gets `timeout` to exit.
            select.select([pidfd], [], [], timeout)
            raise
        finally:
            os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        dt = time.perf_counter() - t0
        pid = 0
        return Result(argv, os.waitstatus_to_exitcode(status), dt, _read_all(out), _read_all(err))
    finally:
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        for fd in (out, err, null):
            os.close(fd)


def become_subreaper(on: bool = True) -> None:
    _check(_libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0), "prctl(PR_SET_CHILD_SUBREAPER)")


def reap_zombies() -> None:
    """Reap every exited child (orphaned container inits). Only called between timed calls,
    when no spawned runtime is still running, so no status is stolen from a waiter."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def wait_exit(pid: int, timeout: float = 10.0) -> bool:
    """Wait until `pid` (normally our child, being a subreaper) has exited; reap it.

    Falls back to polling /proc when it is not our child. True if it is gone.
    """
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        select.select([pidfd], [], [], timeout)
    finally:
        os.close(pidfd)
    try:
        got, _ = os.waitpid(pid, os.WNOHANG)
        return got == pid
    except ChildProcessError:
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            return True
        if state in (b"Z", b"X"):
            return True
        time.sleep(0.005)
    return False


def cgroup2_is_hybrid() -> bool:
    """True if a cgroup2 hierarchy is mounted at /sys/fs/cgroup/unified (hybrid mode)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            if fields[4] == "/sys/fs/cgroup/unified" and fields[sep + 1] == "cgroup2":
                return True
    return False


class HiddenCgroup2:
    """A private mount namespace in which a tmpfs covers /sys/fs/cgroup/unified.

    crun 1.8 refuses hybrid cgroups; with cgroup2 hidden it sees plain cgroup v1. (A plain
    umount is not enough: crun then writes into the host's tmpfs under it.) crun still writes
    its container's cgroup.procs under the covering tmpfs, which is private and dies with the
    namespace, hence room for a few files (1 MB). The bench enters
    the namespace around each crun call (setns back and forth, outside the timed region), so
    crun is spawned exactly like the other runtimes. The namespace lives as long as we hold
    its fd.
    """

    def __init__(self) -> None:
        self.host = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        self.fd = -1
        cwd = os.getcwd()
        _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        try:
            _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None),
                   "mount --make-rprivate /")
            _check(_libc.mount(b"tmpfs", b"/sys/fs/cgroup/unified", b"tmpfs",
                               MS_NOSUID | MS_NODEV | MS_NOEXEC, b"size=1m,mode=755"),
                   "mount tmpfs on /sys/fs/cgroup/unified")
            self.fd = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            _check(_libc.setns(self.host, CLONE_NEWNS), "setns(host mount ns)")
            os.chdir(cwd)

    @contextmanager
    def entered(self) -> Iterator[None]:
        cwd = os.getcwd()
        _check(_libc.setns(self.fd, CLONE_NEWNS), "setns(crun mount ns)")
        try:
            yield
        finally:
            _check(_libc.setns(self.host, CLONE_NEWNS), "setns(host mount ns)")
            os.chdir(cwd)

    def close(self) -> None:
        for fd in (self.fd, self.host):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError as e:
                    if e.errno != errno.EBADF:
                        raise
        self.fd = self.host = -1
