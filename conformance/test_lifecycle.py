"""The whole lifecycle, step by step (runtime.md#lifecycle)."""
from __future__ import annotations

from conformance import leftovers


def test_lifecycle_create_start_exit_delete(rt):
    """runtime.md#lifecycle steps 1-12: create makes a `created` container whose program
    has not run (steps 1-2); start runs it (6, 8); when it exits the container is `stopped`
    (10); delete destroys it (11-12) and the id is gone."""
    gate = rt.gate()
    b = rt.bundle(["sh", "-c", f"echo $$ > /share/ran; read x < {gate.inside}"], share=True)
    cid = rt.new_id()
    rt.ok("create", "--bundle", b, cid)
    st = rt.state(cid)
    assert st["status"] == "created"
    assert leftovers.is_alive(st["pid"])
    assert not (rt.share / "ran").exists()

    rt.ok("start", cid)
    st = rt.state(cid)
    assert st["status"] == "running"
    gate.open()
    st = rt.wait_stopped(cid)
    assert st["status"] == "stopped"
    assert (rt.share / "ran").read_text() == "1\n"  # PID 1 of its own pid namespace

    rt.ok("delete", cid)
    assert rt("state", cid).returncode != 0


def test_lifecycle_killed_instead_of_exiting(rt):
    """runtime.md#lifecycle step 10: the process may stop because of `kill`; the rest of the
    lifecycle (delete) is the same."""
    cid = rt.create(rt.bundle(["sleep", "1000"]))
    rt.ok("start", cid)
    rt.ok("kill", cid, "KILL")
    assert rt.wait_stopped(cid)["status"] == "stopped"
    rt.ok("delete", cid)
    assert rt("state", cid).returncode != 0


def test_lifecycle_killed_before_start(rt):
    """runtime.md#lifecycle / runtime.md#kill: a created container killed before start
    never runs its program, becomes stopped and can be deleted."""
    cid = rt.create(rt.bundle(["sh", "-c", "echo ran > /share/ran"], share=True))
    rt.ok("kill", cid, "KILL")
    assert rt.wait_stopped(cid)["status"] == "stopped"
    assert rt("start", cid).returncode != 0
    rt.ok("delete", cid)
    assert not (rt.share / "ran").exists()


def test_delete_destroys_what_create_made(rt):
    """runtime.md#lifecycle step 12: delete undoes create: the container's cgroups (named
    by linux.cgroupsPath) exist while it lives and are gone after delete, and no process,
    mount or state is left (the `rt` leftover check)."""
    cid = rt.create(rt.bundle(["sleep", "1000"]))
    rt.ok("start", cid)
    cgroups = leftovers.find_cgroups([rt.token])
    assert cgroups, "no cgroup named after linux.cgroupsPath in any hierarchy"
    rt.ok("kill", cid, "KILL")
    rt.wait_stopped(cid)
    rt.ok("delete", cid)
    assert [cg for cg in cgroups if cg.exists()] == []
    assert rt.cleanup() == []
