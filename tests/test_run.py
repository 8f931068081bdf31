"""Foreground `run`: signals reach the container, its status comes back, the container is
deleted unless --keep; --preserve-fds, LISTEN_FDS/LISTEN_PID and NOTIFY_SOCKET as runc."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import pytest

from tests.helpers_exec import wait_file

WAIT = 20


def wait_running(rt, cid: str) -> None:
    """Poll `state` until the container exists and runs (a background `run` creates it)."""
    deadline = time.monotonic() + WAIT
    while rt.status(cid) != "running":
        assert time.monotonic() < deadline, f"{cid} is not running after {WAIT}s"
        time.sleep(0.02)


def test_run_exit_status_and_delete(rt):
    b = rt.bundle(["sh", "-c", "exit 3"])
    cid = rt.new_id()
    assert rt("run", "--bundle", b, cid).returncode == 3
    assert rt("state", cid).returncode == 1


def test_run_keep(rt):
    b = rt.bundle(["true"])
    cid = rt.new_id()
    assert rt("run", "--keep", "--bundle", b, cid).returncode == 0
    assert rt.status(cid) == "stopped"
    rt.ok("delete", cid)


def test_run_killed_container_gives_128_plus_signal(rt):
    b = rt.bundle(["sleep", "1000"])
    cid = rt.new_id()
    p = rt.popen("run", "--bundle", b, cid)
    wait_running(rt, cid)
    rt.ok("kill", cid, "KILL")
    assert p.wait(timeout=WAIT) == 137
    assert rt("state", cid).returncode == 1


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 42), (signal.SIGUSR1, 43),
                                      (signal.SIGINT, 44), (signal.SIGHUP, 45)])
def test_run_forwards_signals(rt, sig, code):
    # pid 1 of a pid namespace ignores signals it has no handler for: trap them.
    script = (f"trap 'exit {code}' {sig.name[3:]}; echo ready > /share/ready; "
              "while :; do sleep 0.05; done")
    b = rt.bundle(["sh", "-c", script], share=True)
    cid = rt.new_id()
    p = rt.popen("run", "--bundle", b, cid)
    wait_file(rt.share / "ready")
    p.send_signal(sig)
    assert p.wait(timeout=WAIT) == code
    assert rt("state", cid).returncode == 1


def test_run_detached(rt):
    b = rt.bundle(["sleep", "1000"])
    cid = rt.new_id()
    rt.ok("run", "-d", "--bundle", b, cid)
    assert rt.status(cid) == "running"
    rt.kill_and_delete(cid)


def _run_with_fds(rt, b, cid, extra_args, fds_script, env=None):
    """Run `pyrunc run` through bash so that fds 3 and 4 are pipes; what the container wrote
    to them."""
    r3, w3 = os.pipe()
    r4, w4 = os.pipe()
    try:
        argv = ["bash", "-c", f'exec "$@" 3>&{w3} 4>&{w4} {w3}>&- {w4}>&-', "bash",
                *rt.command("run", *extra_args, "--bundle", b, cid)]
        if env is not None and "LISTEN_FDS" in env:
            # LISTEN_PID must be pyrunc's pid: bash execs pyrunc, so it is bash's.
            argv[2] = 'export LISTEN_PID=$$; ' + argv[2]
        rt._track(cid)
        p = subprocess.Popen(argv, pass_fds=(w3, w4), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, env=env)
        rt.popens.append(p)
        os.close(w3)
        os.close(w4)
        w3 = w4 = -1
        out, _ = p.communicate(timeout=WAIT)
        return p.returncode, out.decode(), os.read(r3, 100), os.read(r4, 100)
    finally:
        for fd in (r3, w3, r4, w4):
            if fd >= 0:
                os.close(fd)


def test_run_preserve_fds(rt):
    b = rt.bundle(["sh", "-c", "echo three >&3; echo four >&4; ls /proc/$$/fd; true"])
    rc, out, f3, f4 = _run_with_fds(rt, b, rt.new_id(), ["--preserve-fds", "2"], None)
    assert rc == 0
    assert sorted(out.split()) == ["0", "1", "2", "3", "4"]
    assert (f3, f4) == (b"three\n", b"four\n")


def test_run_socket_activation(rt):
    b = rt.bundle(["sh", "-c", "echo $LISTEN_FDS $LISTEN_PID; echo a >&3; echo b >&4; "
                   "ls /proc/$$/fd; true"])
    env = dict(os.environ, LISTEN_FDS="1")
    rc, out, f3, f4 = _run_with_fds(rt, b, rt.new_id(), ["--preserve-fds", "1"], None, env=env)
    assert rc == 0
    lines = out.split("\n")
    assert lines[0] == "1 1"
    assert sorted(out.split()[2:]) == ["0", "1", "2", "3", "4"]
    assert (f3, f4) == (b"a\n", b"b\n")


def test_run_listen_fds_for_another_pid_are_ignored(rt):
    b = rt.bundle(["sh", "-c", "echo x${LISTEN_FDS}x; ls /proc/$$/fd; true"])
    cid = rt.new_id()
    r = rt("run", "--bundle", b, cid, env=dict(os.environ, LISTEN_FDS="1", LISTEN_PID="1"))
    assert r.returncode == 0
    assert r.stdout.split() == ["xx", "0", "1", "2"]


SD_NOTIFY_C = r"""
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
int main(int argc, char **argv) {
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    strncpy(a.sun_path, getenv("NOTIFY_SOCKET"), sizeof(a.sun_path) - 1);
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    return sendto(s, argv[1], strlen(argv[1]), 0, (struct sockaddr *)&a, sizeof(a)) < 0;
}
"""


def test_notify_socket(rt, tmp_path):
    """The container's READY=1 reaches the host's NOTIFY_SOCKET with the container's pid."""
    src = tmp_path / "sd_notify.c"
    src.write_text(SD_NOTIFY_C)
    host = tmp_path / "host-notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(host))
    listener.settimeout(WAIT)
    try:
        script = ("echo $NOTIFY_SOCKET > /share/env; sd_notify STATUS=starting; "
                  "sd_notify READY=1; sleep 1000")
        b = rt.bundle(["sh", "-c", script], share=True)
        subprocess.run(["gcc", "-static", "-Os", "-o", str(b / "rootfs" / "bin" / "sd_notify"),
                        str(src)], check=True)
        cid = rt.new_id()
        env = dict(os.environ, NOTIFY_SOCKET=str(host))
        rt.ok("run", "-d", "--bundle", b, cid, env=env)  # returns once READY=1 came
        pid = rt.state(cid)["pid"]
        msg = listener.recv(4096).decode().split("\n")
        if not any(m.startswith("MAINPID=") for m in msg):  # runc sends it separately
            msg += listener.recv(4096).decode().split("\n")
        assert "READY=1" in msg and f"MAINPID={pid}" in msg
        assert (rt.share / "env").read_text().strip() == "/run/notify/notify.sock"
        rt.kill_and_delete(cid)
    finally:
        listener.close()
