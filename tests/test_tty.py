"""Terminals: the pty master over --console-socket (containerd's protocol), and `run` / `exec -t`
proxying the pty to pyrunc's own stdio."""
from __future__ import annotations

import os
import pty
import select
import time

from tests.helpers_exec import ConsoleReceiver, read_until, running


def test_create_console_socket_gives_a_working_pty(rt, tmp_path):
    b = rt.bundle(["sh"], terminal=True)
    recv = ConsoleReceiver(tmp_path)
    try:
        cid = rt.new_id()
        rt.ok("create", "--console-socket", recv.path, "--bundle", b, cid)
        master = recv.receive()
        rt.ok("start", cid)
        os.write(master, b"tty; echo pid=$$; echo con=$(stat -c %t:%T /dev/console)"
                         b" pts=$(stat -c %t:%T $(tty)) done-$((40+2))\n")
        out = read_until(master, b"done-42")
        assert b"/dev/pts/0" in out
        assert b"pid=1" in out
        line = [ln for ln in out.split(b"\n") if b"con=" in ln and b"done-42" in ln][0]
        con, pts = line.split()[0][4:], line.split()[1][4:]
        assert con == pts == b"88:0"  # /dev/console is the pty (major 136 = 0x88)
        os.write(master, b"exit 3\n")
        rt.wait_stopped(cid)
        rt.ok("delete", cid)
    finally:
        recv.close()


def test_console_socket_needs_terminal_and_back(rt, tmp_path):
    recv = ConsoleReceiver(tmp_path)
    try:
        b = rt.bundle(["true"])
        r = rt("create", "--console-socket", recv.path, "--bundle", b, rt.new_id())
        assert r.returncode == 1 and "console socket" in r.stderr
        b2 = rt.bundle(["true"], terminal=True)
        r = rt("create", "--bundle", b2, rt.new_id())
        assert r.returncode == 1 and "console socket" in r.stderr
    finally:
        recv.close()


def test_run_with_terminal_proxies_stdio(rt):
    """Not a terminal on stdin: pyrunc still proxies the pty, and exits with the status."""
    b = rt.bundle(["sh", "-c", "tty; stty size; read x; echo got-$x; exit 5"], terminal=True,
                  config_edit=lambda c: c["process"].__setitem__(
                      "consoleSize", {"height": 31, "width": 97}))
    cid = rt.new_id()
    r = rt("run", "--bundle", b, cid, input=b"hello\n")
    assert r.returncode == 5, r.stderr
    assert "/dev/pts/0" in r.stdout and "31 97" in r.stdout and "got-hello" in r.stdout
    assert rt("state", cid).returncode != 0  # deleted


def _run_in_pty(argv: list[str], send: bytes, timeout: float = 20.0) -> tuple[bytes, int]:
    """Run argv with a new pty as its stdio, type `send`, return (output, exit code)."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    try:
        import fcntl
        import struct
        import termios
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 132, 0, 0))
        os.write(fd, send)
        out = b""
        status = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                out += data
            else:
                done, st = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = st  # reaped here: keep its status, do not report 0
                    break
        if status is None:
            _, status = os.waitpid(pid, 0)
        return out, os.waitstatus_to_exitcode(status)
    finally:
        os.close(fd)


def test_run_with_terminal_on_a_real_terminal(rt):
    b = rt.bundle(["sh"], terminal=True)
    cid = rt.new_id()
    rt._track(cid)
    out, rc = _run_in_pty(rt.command("run", "--bundle", b, cid),
                          b"stty size; echo x-$((3*3)); exit 6\n")
    assert b"24 132" in out and b"x-9" in out
    assert rc == 6


def test_exec_tty_without_console_socket(rt):
    cid = running(rt)
    r = rt("exec", "-t", cid, "sh", "-c", "tty; read x; echo got-$x; exit 4", input=b"abc\n")
    assert r.returncode == 4, r.stderr
    assert "/dev/pts/" in r.stdout and "got-abc" in r.stdout
    # the container's /dev/console is not touched by exec
    assert rt.ok("exec", cid, "sh", "-c", "test -e /dev/console || echo none").stdout.strip() \
        == "none"


def test_window_size_follows_sigwinch(rt):
    import fcntl
    import struct
    import termios
    b = rt.bundle(["sh", "-c", "stty size; read x; stty size; exit 0"], terminal=True)
    cid = rt.new_id()
    rt._track(cid)
    pid, fd = pty.fork()
    if pid == 0:
        try:
            # The initial size is set before the runtime starts: set from the parent, it
            # raced with the runtime reading it under load.
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 132, 0, 0))
            os.execvp(rt.path, rt.command("run", "--bundle", b, cid))
        finally:
            os._exit(127)
    try:
        read_until(fd, b"24 132")
        # The kernel sends SIGWINCH to pyrunc (the pty's foreground process) on a resize.
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
        os.write(fd, b"go\r")
        read_until(fd, b"40 100")
    finally:
        status = _reap(pid)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0


def _reap(pid: int, timeout: float = 20.0) -> int:
    """waitpid that cannot hang the suite: kill the runtime when it outlives ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.02)
    os.kill(pid, 9)
    return os.waitpid(pid, 0)[1]


def test_the_terminal_belongs_to_the_processs_user(rt, tmp_path):
    """runc's fixStdioPermissions: the pty (made by root, outside the user switch) is given
    to the process' uid, its group (tty) kept, so tty-reading programs of non-root users work
    (issue 18)."""
    recv = ConsoleReceiver(tmp_path)
    try:
        def edit(c):
            c["process"]["terminal"] = True
            c["process"]["user"] = {"uid": 1000, "gid": 1000}
        b = rt.bundle(["sh", "-c", "stat -c owner=%u:%g $(readlink /proc/self/fd/0); sleep 100"],
                      edit)
        cid = rt.new_id()
        rt.ok("create", "--console-socket", recv.path, "--bundle", b, cid)
        master = recv.receive()
        rt.ok("start", cid)
        out = read_until(master, b"\n").decode()
        owner = out.split("owner=")[1].split()[0]
        assert owner.split(":")[0] == "1000", out
        assert owner.split(":")[1] == "5", out  # devpts' gid=5: the tty group
        rt.kill_and_delete(cid)
    finally:
        recv.close()


def test_console_size_sizes_the_pty_for_create_and_exec_process(rt, tmp_path):
    """process.consoleSize gives the pty's size when a console socket gets its master, as
    runc's init sets it: for create, and for exec -t --process (issue 18)."""
    import json
    recv = ConsoleReceiver(tmp_path)
    try:
        def edit(c):
            c["process"]["terminal"] = True
            c["process"]["consoleSize"] = {"height": 33, "width": 111}
        b = rt.bundle(["sh", "-c", "stty size; sleep 100"], edit)
        cid = rt.new_id()
        rt.ok("create", "--console-socket", recv.path, "--bundle", b, cid)
        master = recv.receive()
        rt.ok("start", cid)
        assert b"33 111" in read_until(master, b"33 111")
        proc = json.loads((b / "config.json").read_text())["process"]
        proc.update(args=["sh", "-c", "stty size"], consoleSize={"height": 44, "width": 77})
        (tmp_path / "p.json").write_text(json.dumps(proc))
        rt.ok("exec", "-d", "-t", "--console-socket", recv.path, "--process",
              tmp_path / "p.json", cid)
        assert b"44 77" in read_until(recv.receive(), b"44 77")
        rt.kill_and_delete(cid)
    finally:
        recv.close()
