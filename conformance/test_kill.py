"""The `kill` operation (runtime.md#kill)."""
from __future__ import annotations

import time

from conformance import leftovers


def trap_script(sig: str) -> str:
    """A program that reports `sig` in /share/got and exits when it gets it. (As PID 1 of
    its pid namespace, sh would ignore a signal it has no handler for.)"""
    return (f"trap 'echo {sig} > /share/got; exit 0' {sig}; echo ready > /share/ready; "
            "while true; do sleep 0.05; done")


def wait_file(path, timeout: float = 20.0) -> str:
    """Wait until `path` exists and is not empty; return its text."""
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)
    return path.read_text()


def test_kill_created_container(rt):
    """runtime.md#kill: a `created` container can be signalled; SIGKILL stops it."""
    cid = rt.create(rt.bundle(["sleep", "1000"]))
    pid = rt.state(cid)["pid"]
    rt.ok("kill", cid, "KILL")
    assert rt.wait_stopped(cid)["status"] == "stopped"
    assert not leftovers.is_alive(pid)
    rt.ok("delete", cid)


def test_kill_running_container_with_sigkill(rt):
    """runtime.md#kill: SIGKILL to a running container stops it (lifecycle step 10)."""
    cid = rt.create(rt.bundle(["sleep", "1000"]))
    rt.ok("start", cid)
    pid = rt.state(cid)["pid"]
    rt.ok("kill", cid, "KILL")
    assert rt.wait_stopped(cid)["status"] == "stopped"
    assert not leftovers.is_alive(pid)
    rt.ok("delete", cid)


def test_kill_sends_the_named_signal(rt):
    """runtime.md#kill: the operation sends the specified signal to the container process
    (SIGUSR1, caught by a trap)."""
    cid = rt.create(rt.bundle(["sh", "-c", trap_script("USR1")], share=True))
    rt.ok("start", cid)
    wait_file(rt.share / "ready")
    rt.ok("kill", cid, "USR1")
    rt.wait_stopped(cid)
    assert (rt.share / "got").read_text() == "USR1\n"
    rt.ok("delete", cid)


def test_kill_by_signal_number(rt):
    """runtime.md#kill: the signal may be given by number (15 = SIGTERM)."""
    cid = rt.create(rt.bundle(["sh", "-c", trap_script("TERM")], share=True))
    rt.ok("start", cid)
    wait_file(rt.share / "ready")
    rt.ok("kill", cid, "15")
    rt.wait_stopped(cid)
    assert (rt.share / "got").read_text() == "TERM\n"
    rt.ok("delete", cid)


def test_signal_0_checks_liveness(rt):
    """kill(2)'s signal 0 sends nothing and says whether the process is there (runc accepts
    it, --all too): the container keeps running."""
    cid = rt.create(rt.bundle(["sleep", "100"]))
    rt.ok("start", cid)
    rt.ok("kill", cid, "0")
    rt.ok("kill", "--all", cid, "0")
    assert rt.status(cid) == "running"
    rt.kill_and_delete(cid)
    assert rt("kill", cid, "0").returncode != 0


def test_kill_unknown_id_fails(rt):
    """runtime.md#kill: signalling a container that does not exist is an error."""
    assert rt("kill", rt.new_id(), "KILL").returncode != 0


def test_kill_without_id_fails(rt):
    """runtime.md#kill: kill without a container id is an error."""
    assert rt("kill").returncode != 0


def test_kill_stopped_container_fails(rt):
    """runtime.md#kill: signalling a container that is neither created nor running is an
    error with no effect: it stays stopped and can be deleted."""
    cid = rt.create(rt.bundle(["true"]))
    rt.ok("start", cid)
    rt.wait_stopped(cid)
    assert rt("kill", cid, "KILL").returncode != 0
    assert rt.status(cid) == "stopped"
    rt.ok("delete", cid)
