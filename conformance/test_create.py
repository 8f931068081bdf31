"""The `create` operation (runtime.md#create, runtime.md#lifecycle steps 1-2)."""
from __future__ import annotations

import json

from conformance import leftovers

SLEEP = ["sleep", "1000"]


def test_create_makes_created_container(rt):
    """runtime.md#create: on success the status is `created`."""
    cid = rt.create(rt.bundle(SLEEP))
    assert rt.status(cid) == "created"
    rt.kill_and_delete(cid)


def test_program_does_not_run_until_start(rt):
    """runtime.md#lifecycle step 2 / runtime.md#create: process.args MUST NOT be applied
    until start: the program's file is absent after create and present after start."""
    b = rt.bundle(["sh", "-c", "echo started > /share/marker"], share=True)
    cid = rt.create(b)
    # Let a (wrong) early start show itself: wait a state round-trip or two.
    for _ in range(3):
        assert rt.status(cid) == "created"
    assert not (rt.share / "marker").exists()
    rt.ok("start", cid)
    rt.wait_stopped(cid)
    assert (rt.share / "marker").read_text() == "started\n"
    rt.ok("delete", cid)


def test_duplicate_id_fails_and_keeps_first_container(rt):
    """runtime.md#create: an id that is not unique is an error and no new container is
    created; the first container is untouched (runtime.md#errors)."""
    b1 = rt.bundle(SLEEP)
    b2 = rt.bundle(["sh", "-c", "echo second > /share/second"], share=True)
    cid = rt.create(b1)
    before = rt.state(cid)
    r = rt("create", "--bundle", b2, cid)
    assert r.returncode != 0
    after = rt.state(cid)
    assert after == before
    assert leftovers.is_alive(after["pid"])
    rt.ok("start", cid)  # still the first container, still usable
    assert rt.state(cid)["bundle"] == str(b1)
    assert not (rt.share / "second").exists()
    rt.kill_and_delete(cid)


def test_create_without_id_fails(rt):
    """runtime.md#create: create without a container id is an error."""
    b = rt.bundle(SLEEP)
    assert rt("create", "--bundle", b).returncode != 0


def test_create_with_missing_bundle_fails_and_leaves_nothing(rt, tmp_path):
    """runtime.md#create / runtime.md#errors: a bundle that does not exist is an error and
    no container is created."""
    cid = rt.new_id()
    r = rt("create", "--bundle", tmp_path / "no-such-bundle", cid)
    assert r.returncode != 0
    assert rt("state", cid).returncode != 0


def test_create_with_missing_root_fails_and_leaves_nothing(rt):
    """runtime.md#lifecycle step 2 / runtime.md#errors: if the environment cannot be made
    (here: the root path does not exist) create fails and no container exists."""
    def bad_root(cfg):
        cfg["root"]["path"] = "no-such-rootfs"

    cid = rt.new_id()
    r = rt("create", "--bundle", rt.bundle(SLEEP, bad_root), cid)
    assert r.returncode != 0
    assert rt("state", cid).returncode != 0


def test_config_changes_after_create_do_not_affect_container(rt):
    """runtime.md#create: changes to config.json after create have no effect on the
    container."""
    b = rt.bundle(["sh", "-c", "echo first > /share/out"], share=True)
    cid = rt.create(b)
    cfg = json.loads((b / "config.json").read_text())
    cfg["process"]["args"] = ["sh", "-c", "echo changed > /share/out"]
    (b / "config.json").write_text(json.dumps(cfg))
    rt.ok("start", cid)
    rt.wait_stopped(cid)
    assert (rt.share / "out").read_text() == "first\n"
    rt.ok("delete", cid)


def test_two_containers_from_separate_bundles(rt):
    """runtime.md#state: ids are unique per container; each has its own process."""
    c1 = rt.create(rt.bundle(SLEEP))
    c2 = rt.create(rt.bundle(SLEEP))
    p1, p2 = rt.state(c1)["pid"], rt.state(c2)["pid"]
    assert p1 != p2 and leftovers.is_alive(p1) and leftovers.is_alive(p2)
    rt.kill_and_delete(c1)
    assert rt.status(c2) == "created"  # the other one is untouched
    rt.kill_and_delete(c2)
