"""The `delete` operation (runtime.md#delete, runtime.md#lifecycle steps 11-12)."""
from __future__ import annotations

import json

from conformance import leftovers


def test_delete_stopped_container_removes_it(rt):
    """runtime.md#delete: deleting a stopped container succeeds; afterwards the id is
    unknown to `state`."""
    cid = rt.create(rt.bundle(["true"]))
    rt.ok("start", cid)
    rt.wait_stopped(cid)
    rt.ok("delete", cid)
    assert rt("state", cid).returncode != 0


def test_id_can_be_reused_after_delete(rt):
    """runtime.md#delete: once a container is deleted its id may be used again."""
    cid = rt.create(rt.bundle(["true"]))
    rt.ok("start", cid)
    rt.wait_stopped(cid)
    rt.ok("delete", cid)
    b2 = rt.bundle(["sleep", "1000"])
    rt.create(b2, cid)
    assert rt.state(cid)["bundle"] == str(b2)
    rt.kill_and_delete(cid)


def test_delete_running_container_without_force_fails(rt):
    """runtime.md#delete: deleting a container that is not stopped (running) is an error
    with no effect: same pid, still running, the process alive."""
    cid = rt.create(rt.bundle(["sleep", "1000"]))
    rt.ok("start", cid)
    before = rt.state(cid)
    assert rt("delete", cid).returncode != 0
    after = rt.state(cid)
    assert after["status"] == "running" and after["pid"] == before["pid"]
    assert leftovers.is_alive(after["pid"])
    rt.kill_and_delete(cid)


def test_delete_created_container_is_all_or_nothing(rt):
    """runtime.md#delete / runtime.md#errors: deleting a `created` container either fails
    and leaves it created (the spec) or removes it completely (runc kills and deletes a
    created container); never anything in between."""
    cid = rt.create(rt.bundle(["sleep", "1000"]))
    pid = rt.state(cid)["pid"]
    if rt("delete", cid).returncode != 0:
        assert rt.status(cid) == "created" and leftovers.is_alive(pid)
        rt.kill_and_delete(cid)
    else:
        assert rt("state", cid).returncode != 0
        assert rt.cleanup() == []


def test_delete_force_removes_running_container(rt):
    """runtime.md#delete (runc's --force): a running container is killed and removed, with
    its process gone."""
    cid = rt.create(rt.bundle(["sleep", "1000"]))
    rt.ok("start", cid)
    pid = rt.state(cid)["pid"]
    rt.ok("delete", "--force", cid)
    assert rt("state", cid).returncode != 0
    assert not leftovers.is_alive(pid)


def test_delete_unknown_id_fails(rt):
    """runtime.md#delete: deleting a container that does not exist is an error."""
    assert rt("delete", rt.new_id()).returncode != 0


def test_delete_without_id_fails(rt):
    """runtime.md#delete: delete without a container id is an error."""
    assert rt("delete").returncode != 0


def test_delete_keeps_the_bundle(rt):
    """runtime.md#delete: resources not created by the container (the bundle: config.json,
    rootfs) are not deleted."""
    b = rt.bundle(["true"])
    config = (b / "config.json").read_text()
    cid = rt.create(b)
    rt.ok("start", cid)
    rt.wait_stopped(cid)
    rt.ok("delete", cid)
    assert (b / "config.json").read_text() == config
    assert json.loads(config)["process"]["args"] == ["true"]
    assert (b / "rootfs" / "bin" / "busybox").is_file()
