"""Test helpers for seccomp: run code under a compiled filter in a forked child, raw syscalls,
Podman's default profile as Podman would hand it to a runtime, and a user-notify agent.

Everything runs on the real kernel: the child installs the program with seccomp(2) exactly as the
init does (no_new_privs, then SECCOMP_SET_MODE_FILTER with the program's flags).
"""
from __future__ import annotations

import ctypes
import errno
import json
import mmap
import os
import select
import signal
import socket
import struct
import threading
import time
import traceback

from pyrunc._native import lib

PODMAN_PROFILE = "/usr/share/containers/seccomp.json"
# Podman's default_capabilities (containers.conf), as Podman filters its profile with them.
PODMAN_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
               "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID",
               "CAP_SYS_CHROOT"]
CHILD_DEADLINE = 60.0  # seconds before a stuck child is killed (a safety net, not a check)

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


def nr(name: str) -> int:
    """The native syscall number of ``name``, from libseccomp's tables."""
    n = lib.pyrunc_seccomp_resolve_name(name.encode())
    assert n >= 0, name
    return n


def sys_call(name: str, *args: int) -> tuple[int, int]:
    """Make syscall ``name`` with raw 64-bit args: (return value, errno or 0)."""
    ctypes.set_errno(0)
    ret = _syscall(ctypes.c_long(nr(name)), *(ctypes.c_ulong(a & (2**64 - 1)) for a in args))
    return ret, (ctypes.get_errno() if ret == -1 else 0)


class ChildResult:
    def __init__(self, status: int, value: object) -> None:
        self.status = status
        self.value = value

    @property
    def signal(self) -> int | None:
        return os.WTERMSIG(self.status) if os.WIFSIGNALED(self.status) else None

    @property
    def exit_code(self) -> int | None:
        return os.WEXITSTATUS(self.status) if os.WIFEXITED(self.status) else None

    def __repr__(self) -> str:
        return f"ChildResult(signal={self.signal}, exit={self.exit_code}, value={self.value!r})"


class FilteredChild:
    """A forked child that loaded a program and runs ``body(listener_fd_or_0)``.

    The result travels through shared memory, so the child needs no syscall to report it (the
    filter under test may forbid write).  ``shm`` (bytes 0..1M) is also free for a test's own
    hand-shakes past RESULT_AT.  ``wait()`` kills the child if it outlives CHILD_DEADLINE.
    """

    RESULT_AT = 4096

    def __init__(self, program, body, flags: int | None = None) -> None:
        self.shm = mmap.mmap(-1, 1 << 20)
        bpf = program.bpf
        load_flags = program.flags if flags is None else flags
        self.pid = os.fork()
        if self.pid == 0:  # the child: never return into pytest
            code = 0
            try:
                rc = lib.pyrunc_seccomp_load(load_flags, bpf, len(bpf))
                value = {"load_error": -rc} if rc < 0 else body(rc)
            except BaseException:
                value = {"exception": traceback.format_exc()}
                code = 70
            data = json.dumps(value).encode()
            at = self.RESULT_AT
            self.shm[at + 8:at + 8 + len(data)] = data
            self.shm[at:at + 8] = len(data).to_bytes(8, "little")
            os._exit(code)

    def wait(self) -> ChildResult:
        pid = self.pid
        try:
            deadline = time.monotonic() + CHILD_DEADLINE
            while True:
                got, status = os.waitpid(pid, os.WNOHANG)
                if got == pid:
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    _, status = os.waitpid(pid, 0)
                    break
                time.sleep(0.005)
        except BaseException:
            self.kill()
            raise
        at = self.RESULT_AT
        n = int.from_bytes(self.shm[at:at + 8], "little")
        value = json.loads(self.shm[at + 8:at + 8 + n]) if n else None
        self.shm.close()
        return ChildResult(status, value)

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def run_filtered(program, body, flags: int | None = None) -> ChildResult:
    """Fork; the child loads ``program`` and returns ``body(listener_fd_or_0)`` to us."""
    return FilteredChild(program, body, flags).wait()


def podman_profile(caps: list[str] | None = None) -> dict:
    """Podman's default profile as Podman puts it in config.json on this machine (amd64).

    containers/common's own format is filtered the way its setupSeccomp does: archMap gives the
    architectures for the native one; a rule is dropped when an excluded cap is held or an
    included cap is missing, or when its arches do not include amd64.
    """
    caps = PODMAN_CAPS if caps is None else caps
    if not os.path.exists(PODMAN_PROFILE):
        import pytest
        pytest.skip(f"{PODMAN_PROFILE} is missing: apt-get install golang-github-containers-common")
    with open(PODMAN_PROFILE) as f:
        src = json.load(f)
    out: dict = {"defaultAction": src["defaultAction"]}
    if "defaultErrnoRet" in src:
        out["defaultErrnoRet"] = src["defaultErrnoRet"]
    for m in src.get("archMap") or []:
        if m["architecture"] == "SCMP_ARCH_X86_64":
            out["architectures"] = [m["architecture"]] + list(m.get("subArchitectures") or [])
    out["syscalls"] = []
    for call in src["syscalls"]:
        inc, exc = call.get("includes") or {}, call.get("excludes") or {}
        if "amd64" in (exc.get("arches") or []):
            continue
        if any(c in caps for c in exc.get("caps") or []):
            continue
        if inc.get("arches") and "amd64" not in inc["arches"]:
            continue
        if any(c not in caps for c in inc.get("caps") or []):
            continue
        rule: dict = {"names": call.get("names") or [call["name"]], "action": call["action"]}
        if call.get("errnoRet") is not None:
            rule["errnoRet"] = call["errnoRet"]
        if call.get("args"):
            rule["args"] = [{k: a[k] for k in ("index", "value", "valueTwo", "op") if k in a}
                            for a in call["args"]]
        out["syscalls"].append(rule)
    return out


# --- user notification: the agent side -------------------------------------------------------

# struct seccomp_notif: u64 id, u32 pid, u32 flags, struct seccomp_data {int nr; u32 arch;
# u64 instruction_pointer; u64 args[6]}; struct seccomp_notif_resp: u64 id, s64 val,
# s32 error, u32 flags.
_NOTIF = struct.Struct("=QIIiIQ6Q")
_RESP = struct.Struct("=QqiI")
SECCOMP_IOCTL_NOTIF_RECV = (3 << 30) | (_NOTIF.size << 16) | (ord("!") << 8) | 0
SECCOMP_IOCTL_NOTIF_SEND = (3 << 30) | (_RESP.size << 16) | (ord("!") << 8) | 1
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1


def notif_recv(fd: int) -> dict:
    import fcntl
    buf = bytearray(_NOTIF.size)
    fcntl.ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, buf, True)
    nid, pid, flags, sysnr, arch, _ip, *args = _NOTIF.unpack(buf)
    return {"id": nid, "pid": pid, "nr": sysnr, "arch": arch, "args": args}


def notif_send(fd: int, nid: int, val: int = 0, error: int = 0, flags: int = 0) -> None:
    import fcntl
    fcntl.ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, bytearray(_RESP.pack(nid, val, error, flags)), True)


class NotifyAgent:
    """A seccomp agent on a unix socket, as listenerPath names it.

    It accepts every connection (create's, and one per exec), takes the process state and the
    listener fd of each, and answers notifications with ``answer(notif) -> (val, error, flags)``
    on a thread per listener until no process uses that filter any more.
    """

    def __init__(self, sock_path: str, answer) -> None:
        self.path = sock_path
        self.answer = answer
        self.states: list[dict] = []
        self.fds: list[int] = []
        self.notifs: list[dict] = []
        self.error: BaseException | None = None
        self.closing = False
        self.servers: list[threading.Thread] = []
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(sock_path)
        self.srv.listen(4)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def state(self) -> dict | None:
        """The first connection's message (create's)."""
        return self.states[0] if self.states else None

    def _accept(self) -> None:
        try:
            while True:
                try:
                    conn, _ = self.srv.accept()
                except OSError:
                    if self.closing:
                        return  # closed: no more connections (or nobody came: the test says)
                    raise
                fds: list[int] = []
                with conn:
                    data = b""
                    while True:
                        msg, anc, _flags, _addr = conn.recvmsg(65536, socket.CMSG_SPACE(4 * 4))
                        for level, kind, payload in anc:
                            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                                n = len(payload) // 4
                                fds.extend(struct.unpack(f"{n}i", payload[:4 * n]))
                        if not msg:
                            break
                        data += msg
                self.fds.extend(fds)
                self.states.append(json.loads(data))
                t = threading.Thread(target=self._serve, args=(fds[0],), daemon=True)
                self.servers.append(t)
                t.start()
        except BaseException as e:  # reported by close()
            self.error = e

    def _serve(self, fd: int) -> None:
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            while True:
                events = dict(poller.poll()).get(fd, 0)
                if not events & select.POLLIN:
                    break  # POLLHUP: no process uses the filter any more
                try:
                    notif = notif_recv(fd)
                except OSError as e:
                    if e.errno in (errno.ENOENT, errno.EINTR):  # the caller died / interrupted
                        continue
                    raise
                self.notifs.append(notif)
                val, error, flags = self.answer(notif)
                try:
                    notif_send(fd, notif["id"], val, error, flags)
                except OSError as e:
                    if e.errno != errno.ENOENT:
                        raise
        except BaseException as e:  # reported by close()
            self.error = e

    def close(self) -> None:
        """Stop accepting, wait for every listener to be done (the processes using the filters
        must have exited), release the fds; raise what went wrong in a thread."""
        self.closing = True
        try:  # wakes an accept() that never got its connection
            self.srv.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.srv.close()
        self.thread.join(CHILD_DEADLINE)
        for t in self.servers:
            t.join(CHILD_DEADLINE)
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        if self.error is not None:
            raise self.error


# --- other ABIs of this x86-64 kernel --------------------------------------------------------

X32_SYSCALL_BIT = 0x40000000
I386_GETPPID = 64
_i386_code: mmap.mmap | None = None


def raw_syscall(number: int, *args: int) -> tuple[int, int]:
    """syscall(2) with a raw number (e.g. an x32 one): (return value, errno or 0)."""
    ctypes.set_errno(0)
    ret = _syscall(ctypes.c_long(number), *(ctypes.c_ulong(a) for a in args))
    return ret, (ctypes.get_errno() if ret == -1 else 0)


def i386_syscall(number: int) -> int:
    """An argument-less i386 syscall through int 0x80 (the kernel's compat entry): its raw
    return value (-errno on failure).  Without IA32 emulation the process dies of SIGSEGV."""
    global _i386_code
    if _i386_code is None:
        _i386_code = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    code = b"\xb8" + number.to_bytes(4, "little") + b"\xcd\x80\xc3"  # mov eax,N; int 0x80; ret
    _i386_code[:len(code)] = code
    addr = ctypes.addressof(ctypes.c_char.from_buffer(_i386_code))
    return ctypes.CFUNCTYPE(ctypes.c_int)(addr)()
