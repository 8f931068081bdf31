"""The `start` operation (runtime.md#start, runtime.md#lifecycle steps 6-8)."""
from __future__ import annotations


def test_start_runs_program_and_status_is_running(rt):
    """runtime.md#start: start runs the user-specified program; the status is `running`
    while it runs."""
    gate = rt.gate()
    b = rt.bundle(["sh", "-c", f"echo up > /share/up; read x < {gate.inside}"], share=True)
    cid = rt.create(b)
    rt.ok("start", cid)
    assert rt.status(cid) == "running"
    gate.open()
    rt.wait_stopped(cid)
    assert (rt.share / "up").read_text() == "up\n"
    rt.ok("delete", cid)


def test_start_unknown_id_fails(rt):
    """runtime.md#start: starting a container that does not exist is an error."""
    assert rt("start", rt.new_id()).returncode != 0


def test_start_without_id_fails(rt):
    """runtime.md#start: start without a container id is an error."""
    assert rt("start").returncode != 0


def test_start_running_container_fails_without_effect(rt):
    """runtime.md#start: starting a container that is not `created` (here running) is an
    error and has no effect: same pid, still running, program started once."""
    b = rt.bundle(["sh", "-c", "echo x >> /share/starts; exec sleep 1000"], share=True)
    cid = rt.create(b)
    rt.ok("start", cid)
    before = rt.state(cid)
    assert rt("start", cid).returncode != 0
    after = rt.state(cid)
    assert after["status"] == "running" and after["pid"] == before["pid"]
    rt.kill_and_delete(cid)
    assert (rt.share / "starts").read_text() == "x\n"


def test_start_stopped_container_fails(rt):
    """runtime.md#start: starting a stopped container is an error and it stays stopped;
    the program does not run again."""
    b = rt.bundle(["sh", "-c", "echo x >> /share/starts"], share=True)
    cid = rt.create(b)
    rt.ok("start", cid)
    rt.wait_stopped(cid)
    assert rt("start", cid).returncode != 0
    assert rt.status(cid) == "stopped"
    rt.ok("delete", cid)
    assert (rt.share / "starts").read_text() == "x\n"


def test_program_exit_code_does_not_break_lifecycle(rt):
    """runtime.md#lifecycle step 10: a program that fails (exit 3) is just a stopped
    container, which can be deleted."""
    cid = rt.create(rt.bundle(["sh", "-c", "exit 3"]))
    rt.ok("start", cid)
    assert rt.wait_stopped(cid)["status"] == "stopped"
    rt.ok("delete", cid)
