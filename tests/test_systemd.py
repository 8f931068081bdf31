"""The systemd cgroup driver (`--systemd-cgroup`): the container's cgroup is a transient scope
unit systemd made, limited and removes (runc's docs/systemd.md).

Runtime-agnostic (the `rt` fixture; OCI_RUNTIME=/usr/sbin/runc runs them on runc 1.1.5): the
unit name comes from the cgroupsPath the test gives, except for the default one, whose prefix is
the runtime's own ("runc" for runc, "pyrunc" for pyrunc).  They need systemd as PID 1, so they
run in the stock-host guest lane (`make test-vm`) and skip on the development host.
"""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

pytestmark = pytest.mark.skipif(not os.path.isdir("/run/systemd/system"),
                                reason="needs systemd as PID 1 (the stock-host guest lane)")

SD = ("--systemd-cgroup",)
SLEEP = ["sleep", "1000"]
MiB = 1 << 20


def unit_props(unit: str, *names: str) -> dict[str, str]:
    """`systemctl show` of a unit: the test's own view of what systemd has."""
    out = subprocess.run(["systemctl", "show", unit, *[f"--property={n}" for n in names]],
                         capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def wait_unit_gone(unit: str, timeout: float = 10.0) -> dict[str, str]:
    """Poll until systemd has unloaded the unit (a stopped transient unit is collected)."""
    deadline = time.monotonic() + timeout
    while True:
        p = unit_props(unit, "LoadState", "ActiveState")
        if p.get("LoadState") == "not-found" or time.monotonic() > deadline:
            return p
        time.sleep(0.1)


def runtime_prefix(runtime: str) -> str:
    """The prefix a runtime gives a unit when the config names no cgroupsPath."""
    return "runc" if os.path.basename(runtime) == "runc" else "pyrunc"


def bundle(rt, cgroups_path: str | None, resources: dict | None = None,
           annotations: dict | None = None, args=SLEEP):
    def edit(cfg):
        if cgroups_path is None:
            cfg["linux"].pop("cgroupsPath", None)
        else:
            cfg["linux"]["cgroupsPath"] = cgroups_path
        if resources is not None:
            cfg["linux"]["resources"] = resources
        if annotations:
            cfg.setdefault("annotations", {}).update(annotations)
    return rt.bundle(args, edit)


def cgroup_of(pid: int) -> str:
    with open(f"/proc/{pid}/cgroup") as f:
        return [ln.split(":", 2)[2].strip() for ln in f if ln.startswith("0::")][0]


def read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


@pytest.fixture
def slices():
    """Slices a test names (systemd makes them on demand): stopped afterwards."""
    made: list[str] = []
    yield made
    for s in reversed(made):
        subprocess.run(["systemctl", "stop", s], capture_output=True)


def test_scope_with_limits_update_pause_and_delete(rt):
    cid = rt.new_id()
    unit = f"pyrunc-{cid}.scope"
    res = {"memory": {"limit": 64 * MiB}, "pids": {"limit": 50},
           "cpu": {"shares": 1024, "quota": 50000, "period": 100000}}
    rt.ok("create", "--bundle", bundle(rt, f"system.slice:pyrunc:{cid}", res), cid,
          global_args=SD)
    pid = rt.state(cid)["pid"]
    assert cgroup_of(pid) == f"/system.slice/{unit}"
    d = f"/sys/fs/cgroup/system.slice/{unit}"
    p = unit_props(unit, "ActiveState", "Delegate", "MemoryMax", "TasksMax",
                   "CPUQuotaPerSecUSec", "Slice")
    assert p["ActiveState"] == "active" and p["Delegate"] == "yes", p
    assert p["Slice"] == "system.slice"
    assert p["MemoryMax"] == str(64 * MiB) and p["TasksMax"] == "50", p
    assert p["CPUQuotaPerSecUSec"] == "500ms", p
    assert read(f"{d}/memory.max") == str(64 * MiB)
    assert read(f"{d}/pids.max") == "50"
    assert read(f"{d}/cpu.max") == "50000 100000"

    rt.ok("start", cid)
    rt.ok("update", "--memory", str(128 * MiB), "--pids-limit", "60", cid, global_args=SD)
    p = unit_props(unit, "MemoryMax", "TasksMax")
    assert p == {"MemoryMax": str(128 * MiB), "TasksMax": "60"}, p
    assert read(f"{d}/memory.max") == str(128 * MiB) and read(f"{d}/pids.max") == "60"

    rt.ok("pause", cid, global_args=SD)
    assert rt.status(cid) == "paused"
    assert read(f"{d}/cgroup.freeze") == "1"
    rt.ok("resume", cid, global_args=SD)
    assert rt.status(cid) == "running"
    ps = rt.ok("ps", "--format", "json", cid, global_args=SD)
    assert pid in json.loads(ps.stdout)

    rt.ok("kill", "--all", cid, "KILL", global_args=SD)
    deadline = time.monotonic() + 10
    while rt.status(cid) != "stopped" and time.monotonic() < deadline:
        time.sleep(0.05)
    rt.ok("delete", cid, global_args=SD)
    assert wait_unit_gone(unit).get("LoadState") == "not-found"
    assert not os.path.exists(d)


def test_running_container_deleted_with_force_leaves_no_unit(rt):
    cid = rt.new_id()
    unit = f"pyrunc-{cid}.scope"
    rt.ok("run", "-d", "--bundle", bundle(rt, f"system.slice:pyrunc:{cid}"), cid,
          global_args=SD)
    assert unit_props(unit, "ActiveState")["ActiveState"] == "active"
    rt.ok("delete", "-f", cid, global_args=SD)
    assert wait_unit_gone(unit).get("LoadState") == "not-found"
    assert not os.path.exists(f"/sys/fs/cgroup/system.slice/{unit}")


def test_default_cgroups_path_is_a_scope_in_system_slice(rt, runtime):
    """No cgroupsPath: runc's ":runc:<id>", with the runtime's own prefix."""
    cid = rt.new_id()
    unit = f"{runtime_prefix(runtime)}-{cid}.scope"
    rt.ok("create", "--bundle", bundle(rt, None), cid, global_args=SD)
    assert cgroup_of(rt.state(cid)["pid"]) == f"/system.slice/{unit}"
    rt.ok("delete", "-f", cid, global_args=SD)
    assert wait_unit_gone(unit).get("LoadState") == "not-found"


def test_empty_slice_and_nested_slice(rt, slices):
    """An empty slice is system.slice; a slice systemd does not know is made, nested by its
    dashes (a-b.slice inside a.slice)."""
    cid = rt.new_id()
    rt.ok("create", "--bundle", bundle(rt, f":pyrunc:{cid}"), cid, global_args=SD)
    assert cgroup_of(rt.state(cid)["pid"]) == f"/system.slice/pyrunc-{cid}.scope"
    rt.ok("delete", "-f", cid, global_args=SD)

    top = f"pyrunctest{rt.token}.slice"
    leaf = f"pyrunctest{rt.token}-a.slice"
    slices += [top, leaf]
    cid2 = rt.new_id()
    rt.ok("create", "--bundle", bundle(rt, f"{leaf}:pyrunc:{cid2}"), cid2, global_args=SD)
    assert cgroup_of(rt.state(cid2)["pid"]) == f"/{top}/{leaf}/pyrunc-{cid2}.scope"
    assert unit_props(leaf, "ActiveState")["ActiveState"] == "active"
    rt.ok("delete", "-f", cid2, global_args=SD)
    assert wait_unit_gone(f"pyrunc-{cid2}.scope").get("LoadState") == "not-found"


def test_failed_create_leaves_no_unit(rt):
    """The unit is started before the limits are written: a limit the kernel refuses fails the
    create, and the unit goes with it."""
    cid = rt.new_id()
    unit = f"pyrunc-{cid}.scope"
    r = rt("create", "--bundle", bundle(rt, f"system.slice:pyrunc:{cid}",
                                        {"unified": {"memory.nosuchfile": "1"}}), cid,
           global_args=SD)
    assert r.returncode != 0
    assert wait_unit_gone(unit).get("LoadState") == "not-found"
    assert not os.path.exists(f"/sys/fs/cgroup/system.slice/{unit}")
    assert not (rt.root / cid).exists()


def test_bad_cgroups_path_is_a_clear_error(rt):
    cid = rt.new_id()
    r = rt("create", "--bundle", bundle(rt, "system.slice/pyrunc"), cid, global_args=SD)
    assert r.returncode != 0 and "slice:prefix:name" in r.stderr, r.stderr
    r = rt("create", "--bundle", bundle(rt, f"bad--x.slice:pyrunc:{cid}"), cid, global_args=SD)
    assert r.returncode != 0 and "invalid slice name" in r.stderr, r.stderr
    assert wait_unit_gone(f"pyrunc-{cid}.scope").get("LoadState") == "not-found"


def test_annotations_and_more_properties(rt):
    """org.systemd.property.* annotations (GVariant text; ...Sec sent as ...USec), and the
    properties runc maps from memory.reservation, swap, cpus and the unified map."""
    cid = rt.new_id()
    unit = f"pyrunc-{cid}.scope"
    res = {"memory": {"limit": 64 * MiB, "reservation": 32 * MiB, "swap": 96 * MiB},
           "cpu": {"cpus": "0", "mems": "0"},
           "unified": {"memory.high": str(60 * MiB)}}
    ann = {"org.systemd.property.TimeoutStopSec": "uint64 123",
           "org.systemd.property.CollectMode": "'inactive-or-failed'"}
    rt.ok("create", "--bundle", bundle(rt, f"system.slice:pyrunc:{cid}", res, ann), cid,
          global_args=SD)
    p = unit_props(unit, "TimeoutStopUSec", "CollectMode", "MemoryLow", "MemoryHigh",
                   "MemorySwapMax", "AllowedCPUs", "AllowedMemoryNodes", "DevicePolicy")
    assert p["TimeoutStopUSec"] == "2min 3s" and p["CollectMode"] == "inactive-or-failed", p
    assert p["MemoryLow"] == str(32 * MiB) and p["MemoryHigh"] == str(60 * MiB), p
    assert p["MemorySwapMax"] == str(32 * MiB), p
    assert p["AllowedCPUs"] == "0" and p["AllowedMemoryNodes"] == "0", p
    assert p["DevicePolicy"] == "strict", p
    d = f"/sys/fs/cgroup/system.slice/{unit}"
    assert read(f"{d}/memory.high") == str(60 * MiB)
    assert read(f"{d}/memory.swap.max") == str(32 * MiB)
    rt.ok("delete", "-f", cid, global_args=SD)
    assert wait_unit_gone(unit).get("LoadState") == "not-found"


def test_features_reports_systemd(runtime):
    if os.path.basename(runtime) == "runc":
        pytest.skip("runc 1.1.5's features is experimental and says nothing of systemd")
    out = subprocess.run([runtime, "features"], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["linux"]["cgroup"]["systemd"] is True
