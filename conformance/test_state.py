"""The `state` operation and the state document (runtime.md#state, runtime.md#query-state)."""
from __future__ import annotations

import json
import os
import time

import pytest

from conformance import leftovers
from conformance.schema import validate_state

SLEEP = ["sleep", "1000"]


def test_state_fields_of_created_container(rt):
    """runtime.md#state: ociVersion, id, status, pid, bundle are present and right."""
    b = rt.bundle(SLEEP)
    cid = rt.create(b)
    st = rt.state(cid)
    assert isinstance(st["ociVersion"], str) and st["ociVersion"]
    assert st["id"] == cid
    assert st["status"] == "created"
    assert isinstance(st["pid"], int) and st["pid"] > 0
    assert st["bundle"] == str(b)
    assert os.path.isabs(st["bundle"])
    rt.kill_and_delete(cid)


def test_state_validates_against_schema_in_every_status(rt):
    """runtime.md#state: the state JSON adheres to state-schema.json when created, running
    and stopped."""
    gate = rt.gate()
    b = rt.bundle(["sh", "-c", f"read x < {gate.inside}"], share=True)
    cid = rt.create(b)
    validate_state(rt.state(cid))
    rt.ok("start", cid)
    st = rt.state(cid)
    assert st["status"] == "running"
    validate_state(st)
    gate.open()  # let the container exit
    validate_state(rt.wait_stopped(cid))
    rt.ok("delete", cid)


def test_state_output_is_one_json_object(rt):
    """runtime.md#query-state: the operation returns the state: stdout is exactly one JSON
    object (nothing else mixed in)."""
    cid = rt.create(rt.bundle(SLEEP))
    out = rt.ok("state", cid).stdout
    assert isinstance(json.loads(out), dict)
    rt.kill_and_delete(cid)


def test_bundle_is_absolute_when_created_with_relative_path(rt):
    """runtime.md#state: `bundle` is the absolute path to the bundle directory, even when
    create was given a relative one."""
    b = rt.bundle(SLEEP)
    cid = rt.new_id()
    rt.ok("create", "--bundle", b.name, cid, cwd=b.parent)
    st = rt.state(cid)
    assert st["bundle"] == str(b)
    rt.kill_and_delete(cid)


def test_annotations_in_state(rt):
    """runtime.md#state: `annotations` holds the annotations of config.json."""
    ann = {"org.example.key": "value", "org.example.other": "with space"}
    cid = rt.create(rt.bundle(SLEEP, annotations=ann))
    st = rt.state(cid)
    assert st.get("annotations") == ann
    rt.kill_and_delete(cid)


def test_no_annotations_absent_or_empty(rt):
    """runtime.md#state: without annotations in config.json, `annotations` is absent or an
    empty map."""
    cid = rt.create(rt.bundle(SLEEP))
    st = rt.state(cid)
    assert st.get("annotations", {}) == {}
    rt.kill_and_delete(cid)


def test_created_pid_is_live_process(rt):
    """runtime.md#state: `pid` of a created container is the container process as seen by
    the host: it exists and is not a zombie."""
    cid = rt.create(rt.bundle(SLEEP))
    pid = rt.state(cid)["pid"]
    assert leftovers.is_alive(pid)
    rt.kill_and_delete(cid)


def test_pid_is_the_process_that_runs_the_program(rt):
    """runtime.md#state: `pid` is the container process; start runs the program in it, so
    the pid stays the same from created to running, and /proc/<pid> shows the program."""
    cid = rt.create(rt.bundle(SLEEP))
    pid = rt.state(cid)["pid"]
    rt.ok("start", cid)
    st = rt.state(cid)
    assert st["status"] == "running"
    assert st["pid"] == pid
    for _ in range(500):  # the exec may still be under way right after start returns
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        if cmdline[:2] == [b"sleep", b"1000"]:
            break
        time.sleep(0.01)
    assert cmdline[:2] == [b"sleep", b"1000"]
    rt.kill_and_delete(cid)


def test_status_transitions(rt):
    """runtime.md#state: status goes created -> running -> stopped (runtime.md#lifecycle
    steps 2, 8 and 10)."""
    gate = rt.gate()
    b = rt.bundle(["sh", "-c", f"read x < {gate.inside}"], share=True)
    cid = rt.create(b)
    assert rt.status(cid) == "created"
    rt.ok("start", cid)
    assert rt.status(cid) == "running"
    gate.open()
    assert rt.wait_stopped(cid)["status"] == "stopped"
    rt.ok("delete", cid)


def test_stopped_after_program_exits(rt):
    """runtime.md#lifecycle step 10: once the program exits the status is stopped, with no
    runtime command in between."""
    cid = rt.create(rt.bundle(["true"]))
    rt.ok("start", cid)
    assert rt.wait_stopped(cid)["status"] == "stopped"
    rt.ok("delete", cid)


def test_state_of_unknown_id_fails(rt):
    """runtime.md#query-state: querying a container that does not exist is an error."""
    r = rt("state", rt.new_id())
    assert r.returncode != 0
    assert r.stdout.strip() == "" or "status" not in r.stdout


def test_state_without_id_fails(rt):
    """runtime.md#query-state: the operation is an error without a container id."""
    assert rt("state").returncode != 0


@pytest.mark.parametrize("status", ["created", "running"])
def test_state_lists_other_containers_independently(rt, status):
    """runtime.md#state: `id` is unique per container: two containers report their own id,
    pid and bundle."""
    b1, b2 = rt.bundle(SLEEP), rt.bundle(SLEEP)
    c1, c2 = rt.create(b1), rt.create(b2)
    if status == "running":
        rt.ok("start", c1)
        rt.ok("start", c2)
    s1, s2 = rt.state(c1), rt.state(c2)
    assert (s1["id"], s2["id"]) == (c1, c2)
    assert (s1["bundle"], s2["bundle"]) == (str(b1), str(b2))
    assert s1["pid"] != s2["pid"]
    assert s1["status"] == s2["status"] == status
    rt.kill_and_delete(c1)
    rt.kill_and_delete(c2)
