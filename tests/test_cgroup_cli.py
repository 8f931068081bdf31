"""Cgroups through the runtime's command line, as engines use them.

Runtime-agnostic (the `rt` fixture): `OCI_RUNTIME=/usr/sbin/runc` runs the same tests against
runc, the reference.  Each container's cgroup is CGROUP_PARENT/<token>-bN, so the host files are
read straight from every hierarchy; the fixture fails the test if any cgroup is left.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path


MB = 1 << 20


def _hierarchies() -> dict[str, Path]:
    """v1 controller (or "" for cgroup2) -> mount point, from /proc/self/mountinfo."""
    out: dict[str, Path] = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fs, _src, opts = right.split()[:3]
            mnt = left.split()[4]
            if fs == "cgroup2":
                out.setdefault("", Path(mnt))
            elif fs == "cgroup":
                for o in opts.split(","):
                    if o not in ("rw", "ro") and "=" not in o or o.startswith("name="):
                        out.setdefault(o, Path(mnt))
    return out


H = _hierarchies()
V2 = list(H) == [""]


def _cg_file(cfg_path: str, ctrl: str, name: str) -> Path:
    base = H["" if V2 else ctrl]
    return base / cfg_path.lstrip("/") / name


def _resources(cfg: dict, res: dict) -> None:
    cfg["linux"]["resources"] = res


def _proc_cgroup(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _h, ctrls, path = line.split(":", 2)
        out[ctrls] = path
    return out


def _running(rt, res: dict, args: list[str] | None = None):
    b = rt.bundle(args or ["sleep", "1000"], lambda c: _resources(c, res))
    cid = rt.create(b)
    rt.ok("start", cid)
    cfg = json.loads((b / "config.json").read_text())
    return cid, cfg["linux"]["cgroupsPath"], rt.state(cid)["pid"]


def test_limits_applied_in_every_hierarchy(rt):
    cid, path, pid = _running(rt, {"memory": {"limit": 64 * MB}, "pids": {"limit": 20},
                                   "cpu": {"quota": 50000, "period": 100000}})
    seen = _proc_cgroup(pid)
    for key, p in seen.items():
        if key == "" or key.split(",")[0] in H:
            assert p == path, (key, p)
    if V2:
        assert _cg_file(path, "", "memory.max").read_text().strip() == str(64 * MB)
        assert _cg_file(path, "", "cpu.max").read_text().split() == ["50000", "100000"]
    else:
        assert _cg_file(path, "memory", "memory.limit_in_bytes").read_text().strip() \
            == str(64 * MB)
        assert _cg_file(path, "cpu", "cpu.cfs_quota_us").read_text().strip() == "50000"
    assert _cg_file(path, "pids", "pids.max").read_text().strip() == "20"
    rt.kill_and_delete(cid)
    for ctrl in H:
        assert not _cg_file(path, ctrl, "").exists(), ctrl


def test_ps_pause_resume_events_update(rt):
    cid, path, pid = _running(rt, {"memory": {"limit": 64 * MB}, "pids": {"limit": 20}})
    r = rt.ok("ps", "--format", "json", cid)
    assert json.loads(r.stdout) == [pid]
    table = rt.ok("ps", cid).stdout.splitlines()
    assert table[0].split()[1] == "PID" and [int(x.split()[1]) for x in table[1:]] == [pid]
    table = rt.ok("ps", cid, "-o", "pid,args").stdout.splitlines()
    assert table[1].split() == [str(pid), "sleep", "1000"]

    rt.ok("pause", cid)
    assert rt.state(cid)["status"] == "paused"
    r = rt("pause", cid)
    assert r.returncode != 0
    rt.ok("resume", cid)
    assert rt.state(cid)["status"] == "running"
    r = rt("resume", cid)
    assert r.returncode != 0 and "not paused" in r.stderr

    ev = json.loads(rt.ok("events", "--stats", cid).stdout)
    assert ev["type"] == "stats" and ev["id"] == cid
    assert ev["data"]["pids"]["current"] == 1 and ev["data"]["pids"]["limit"] == 20
    assert ev["data"]["memory"]["usage"]["limit"] == 64 * MB

    rt.ok("update", "--memory", "100m", "--memory-swap", "200m", "--pids-limit", "30", cid)
    assert _cg_file(path, "pids", "pids.max").read_text().strip() == "30"
    mem = _cg_file(path, "memory", "memory.max" if V2 else "memory.limit_in_bytes")
    assert mem.read_text().strip() == str(100 * MB)
    rt.ok("update", "--resources", "-", cid,
          input=json.dumps({"pids": {"limit": 40}, "memory": {"limit": 0}}).encode())
    assert _cg_file(path, "pids", "pids.max").read_text().strip() == "40"
    assert mem.read_text().strip() == str(100 * MB)  # 0 = unchanged
    r = rt("update", "--memory", "lots", cid)
    assert r.returncode != 0 and "invalid value for memory" in r.stderr
    rt.kill_and_delete(cid)


def test_kill_all_reaches_every_process(rt):
    cid, path, pid = _running(rt, {}, ["sh", "-c", "sleep 1000 & sleep 1000 & wait"])
    deadline = time.monotonic() + 10
    while len(json.loads(rt.ok("ps", "--format", "json", cid).stdout)) < 3:
        assert time.monotonic() < deadline, "children did not start"
        time.sleep(0.02)
    rt.ok("kill", "--all", cid, "KILL")
    rt.wait_stopped(cid)
    rt.ok("delete", cid)


def test_memory_limit_oom_kills_in_container(rt):
    gate = rt.gate()
    b = rt.bundle(["sh", "-c", f"read x < {gate.inside}; "
                   "dd if=/dev/zero of=/dev/null bs=128M count=1; echo survived; sleep 1000"],
                  lambda c: _resources(c, {"memory": {"limit": 32 * MB}}), share=True)
    cid = rt.create(b)
    rt.ok("start", cid)
    events = rt.popen("events", "--interval", "200ms", cid, stdout=subprocess.PIPE)
    # the stream starts with stats; then let the container exceed its limit
    first = json.loads(events.stdout.readline())
    assert first["type"] == "stats"
    gate.open()
    while True:
        line = events.stdout.readline()
        assert line, "events ended without an oom event"
        if json.loads(line)["type"] == "oom":
            break
    rt.kill_and_delete(cid)
    assert events.wait(timeout=20) == 0  # the stream ends with the container's cgroup


def test_bad_resources_fail_create_and_leave_nothing(rt):
    bad = [{"memory": {"limit": -5}}, {"devices": [{"allow": True, "type": "x", "access": "r"}]}]
    if os.path.basename(rt.path) != "runc":
        bad.append({"pids": {"limit": -7}})  # stricter than runc 1.1, which writes "max"
    for res in bad:
        b = rt.bundle(["true"], lambda c, res=res: _resources(c, res))
        cid = rt.new_id()
        r = rt("create", "--bundle", b, cid)
        assert r.returncode != 0, res
        assert rt("state", cid).returncode != 0


def _writable_with_mknod(cfg: dict) -> None:
    cfg["root"]["readonly"] = False
    for kind in ("bounding", "effective", "permitted"):
        cfg["process"]["capabilities"][kind].append("CAP_MKNOD")


def test_device_rules_enforced(rt):
    """runc's default list allows mknod of anything but opening only its own devices."""
    out = rt.script_output("head -c 1 /dev/zero >/dev/null && echo zero-ok; "
                           "mknod /tmp/k c 1 11 && (head -c 1 /tmp/k >/dev/null 2>&1 "
                           "&& echo kmsg-open || echo kmsg-denied)", _writable_with_mknod)
    assert "zero-ok" in out
    assert "kmsg-denied" in out, out


def test_create_into_a_frozen_cgroup_fails_instead_of_hanging(rt):
    """The init's first stage joins the cgroup first thing: in a frozen one it froze there and
    create never returned (issue 18).  runc: "container's cgroup unexpectedly frozen"."""
    from conformance import leftovers
    from conformance.bundle import CGROUP_PARENT
    path = f"{CGROUP_PARENT}/{rt.token}-frozen"
    dirs = leftovers.make_cgroup(path)
    try:
        for d in dirs:
            if (d / "freezer.state").exists():
                (d / "freezer.state").write_text("FROZEN")
            elif (d / "cgroup.freeze").exists():
                (d / "cgroup.freeze").write_text("1")
        cid = rt.new_id()
        r = rt("create", "--bundle", rt.bundle(["true"], cgroups_path=path), cid, timeout=20)
        assert r.returncode == 1 and "unexpectedly frozen" in r.stderr, r.stderr
        assert rt("state", cid).returncode != 0
    finally:
        for d in dirs:  # thaws too
            assert leftovers.remove_cgroup(d) is None
