"""Starting the C init from a sealed memfd and talking to it over the sync pipe.

The init is never executed from its host path: a copy in a sealed memfd is what runs, so inside
the container /proc/PID/exe leads to an anonymous, immutable file and never to a host binary
(runc CVE-2019-5736).  The control fds (plan, sync, exec fifo, console) are placed right after the
preserved fds, so fds 3..3+N-1 stay the caller's, as with runc's --preserve-fds.
"""

import fcntl
from pyrunc import fastos as os  # os without its import cost (see fastos)

from pyrunc.errors import PyruncError
from pyrunc.plan import MESSAGE_MAX, InitFds

# the package's own copy: pyrunc/libexec/ in a checkout and in an installed wheel alike
INIT_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "libexec",
                         "pyrunc-init")
SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


def sealed_init() -> int:
    """A close-on-exec memfd holding a sealed copy of pyrunc-init."""
    try:
        src = os.open(INIT_PATH, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise PyruncError(f"open {INIT_PATH}: {e.strerror} (run `make install`)") from None
    try:
        size = os.fstat(src).st_size
        mfd = os.memfd_create("pyrunc-init", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        off = 0
        while off < size:
            n = os.sendfile(mfd, src, off, size - off)
            if n <= 0:
                raise PyruncError("copying pyrunc-init into a memfd failed")
            off += n
    finally:
        os.close(src)
    fcntl.fcntl(mfd, fcntl.F_ADD_SEALS, SEALS)
    return mfd


def check_preserved_fds(n: int) -> None:
    """--preserve-fds N hands fds 3..3+N-1 to the container: they must be the caller's, open
    before pyrunc allocates any fd of its own (else a pipe of ours would take their place)."""
    if n < 0:
        raise PyruncError(f"--preserve-fds: {n} is negative")
    for fd in range(3, 3 + n):
        try:
            os.fstat(fd)
        except OSError:
            raise PyruncError(f"--preserve-fds {n}: fd {fd} is not open") from None


class Init:
    """A started init: its first-stage pid, the read end of its sync pipe and, until the plan
    is sent, the write end of its plan pipe."""

    __slots__ = ("stage1", "sync", "plan_w", "pid", "notify_fd")

    def __init__(self, stage1: int, sync: int, plan_w: int = -1) -> None:
        self.stage1 = stage1
        self.sync = sync
        self.plan_w = plan_w
        self.pid = 0
        self.notify_fd = -1

    def send_plan(self, plan: bytes) -> None:
        """Write the whole plan and close the pipe; the init starts executing it."""
        try:
            view = memoryview(plan)
            while view:
                n = os.write(self.plan_w, view)
                view = view[n:]
        except BrokenPipeError:
            # The init died before reading its plan: say why (its own E line, or how it ended).
            self._close_plan()
            try:
                self.wait_for("P")
            except PyruncError:
                self.close()
                raise
            _, status = os.waitpid(self.stage1, 0) if self.stage1 else (0, 0)
            self.close()
            raise PyruncError(f"pyrunc-init exited before reading its plan (status {status})") \
                from None
        except BaseException:
            self.close()
            raise
        self._close_plan()

    def _close_plan(self) -> None:
        if self.plan_w >= 0:
            os.close(self.plan_w)
            self.plan_w = -1

    def wait_for(self, until: str) -> None:
        """Read sync messages until ``until`` ('P', 'R', 'H', 'N') or EOF; raise on an 'E'.

        Once the init has joined a container's namespaces, what it sends is treated as
        attacker input: a message is acted on only in the shape and order the protocol allows
        (see _message), so even a process that could write into the pipe could not make
        pyrunc signal, wait for or report a process it did not create.  The init is also
        non-dumpable from its first instruction, so nothing in the container can reach the
        pipe through /proc/PID/fd in the first place.  Reaps the first stage once it has
        reported the container's pid.  Each message is read whole and nothing past it
        (pyrunc.plan: a kind byte, a u32 length, the payload).
        """
        while True:
            head = self._read(5, between_messages=True)
            if not head:
                self._reap_stage1()
                if until == "EOF":
                    return
                raise PyruncError("container init exited without reporting"
                                  + (f" ({self._exit_status()})" if self.pid else ""))
            n = int.from_bytes(head[1:], "little")
            if n > MESSAGE_MAX:
                raise PyruncError("pyrunc-init sent a message longer than the protocol allows")
            text = self._read(n).decode("utf-8", "replace") if n else ""
            if self._message(chr(head[0]), text, until) == until:
                return

    def _read(self, n: int, between_messages: bool = False) -> bytes:
        """Exactly n bytes of the sync pipe; b"" at an EOF only where a message would start."""
        data = b""
        while len(data) < n:
            chunk = os.read(self.sync, n - len(data))
            if not chunk:
                if data or not between_messages:
                    raise PyruncError("pyrunc-init's message ended in the middle")
                return b""
            data += chunk
        return data

    def _message(self, kind: str, text: str, until: str) -> str:
        """Check one message and act on it; its kind."""
        msg = kind + text
        if kind in ("E", "e"):
            self._reap_stage1()
            raise PyruncError(_error_text(kind, text))
        if until == "EOF":  # after R the init has closed its end: nothing may follow
            raise PyruncError(f"pyrunc-init sent {_shown(msg)} after it was done")
        if kind == "P":
            self._take_pid(text)
        elif not self.pid or kind not in ("R", "H", "N"):
            raise PyruncError(f"pyrunc-init sent an unexpected message {_shown(msg)}")
        elif kind == "N":
            fd = _number(text, FD_MAX)
            if fd is None or self.notify_fd >= 0:
                raise PyruncError(f"pyrunc-init sent a bad listener message {_shown(msg)}")
            self.notify_fd = fd
        return kind

    def _take_pid(self, text: str) -> None:
        """The container process' pid, accepted once, and only if it names a child of this
        process other than the first stage (CLONE_PARENT makes the container process ours):
        never a pid that pyrunc would otherwise signal, wait for or write to --pid-file
        without having created it."""
        pid = _number(text, PID_MAX)
        if pid is None or self.pid or pid == self.stage1:
            raise PyruncError(f"pyrunc-init reported a bad pid {_shown(text)}")
        try:  # WNOWAIT: look, do not reap
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            raise PyruncError(f"pyrunc-init reported pid {pid}, which is not a process it "
                              "created") from None
        self.pid = pid
        self._reap_stage1()

    def _exit_status(self) -> str:
        """How the init ended; never blocks for long (a live init is killed by the caller's
        cleanup, a protocol bug must not hang pyrunc)."""
        import time
        for _ in range(100):
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return f"pid {self.pid}"
            if pid:
                break
            time.sleep(0.001)
        else:
            return f"pid {self.pid}, still running"
        code = os.waitstatus_to_exitcode(status)
        return f"pid {self.pid}, " + (f"killed by signal {-code}" if code < 0 else
                                     f"exit status {code}")

    def _reap_stage1(self) -> None:
        if self.stage1:
            try:
                os.waitpid(self.stage1, 0)
            except ChildProcessError:
                pass
            self.stage1 = 0

    def close(self) -> None:
        """Release the pipes; a first stage still waiting for its plan is killed and reaped."""
        if self.plan_w >= 0:
            self._close_plan()
            kill_quietly(self.stage1)
            self._reap_stage1()
        if self.sync >= 0:
            os.close(self.sync)
            self.sync = -1


PID_MAX = 1 << 22  # the kernel's PID_MAX_LIMIT
FD_MAX = 1 << 20  # the kernel's NR_OPEN


def _number(text: str, top: int) -> int | None:
    """A decimal 1..top written the way the init writes numbers, or None."""
    if not (0 < len(text) <= 8 and text.isascii() and text.isdigit()) or text[0] == "0":
        return None
    n = int(text)
    return n if n <= top else None


def _shown(text: str) -> str:
    """Text from the init as one short, printable piece of an error line."""
    return repr(text[:60] + ("..." if len(text) > 60 else ""))


def _error_text(kind: str, text: str) -> str:
    """An E or e message as the error line pyrunc prints: one line of printable text;
    ``e<errno> <text>`` is worded here, as Python's libc does (see pyrunc/plan/__init__.py)."""
    text = "".join(c if c.isprintable() else " " for c in text)
    if kind == "e":
        num, _, rest = text.partition(" ")
        n = _number(num, 4095)
        if n is not None:
            return f"{rest}: {os.strerror(n)}"
    return text


def spawn_init(fds: InitFds) -> Init:
    """Start the init with stdio, the preserved fds and the control fds; it waits for its plan
    (Init.send_plan), so the caller can overlap its own work with the exec.

    ``fds`` numbers the preserved and control fds (plan.InitFds) and holds the host fds to
    place; the plan and sync pipes are made here.
    posix_spawn (a vfork) costs less than fork of this process; the file actions make the
    preserved fds inheritable (dup2 onto itself) and place the control fds.
    """
    mfd = sealed_init()
    plan_r, plan_w = os.pipe()
    sync_r, sync_w = os.pipe()
    base = fds.plan_fd
    wanted = [plan_r, sync_w, *fds.placed()]
    high: list[int] = []
    try:
        # Everything moves above the target numbers first: the memfd too, or a dup2 could
        # replace it (execve would then run a pipe).
        floor = max(base + len(wanted), 256)
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor) for fd in [*wanted, mfd]]
        actions = [(os.POSIX_SPAWN_DUP2, fd, fd) for fd in range(3, base)]
        actions += [(os.POSIX_SPAWN_DUP2, fd, base + i) for i, fd in enumerate(high[:-1])]
        pid = os.posix_spawn(f"/proc/self/fd/{high[-1]}",
                             ["pyrunc-init", str(base), str(base + 1)], {}, file_actions=actions)
    except OSError as e:
        os.close(plan_w)
        os.close(sync_r)
        raise PyruncError(f"starting pyrunc-init: {e.strerror or e}") from None
    finally:
        for fd in (*high, mfd, plan_r, sync_w):
            os.close(fd)
    return Init(pid, sync_r, plan_w)


def start_init(plan: bytes, fds: InitFds) -> Init:
    """spawn_init, then send_plan right away."""
    init = spawn_init(fds)
    init.send_plan(plan)
    return init


def kill_quietly(pid: int, sig: int = 9) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
