"""cgroup v2 beyond the basics: hugetlb reservation limits, the unified map for what the spec
has no field for (io.latency, misc.max), and `events --stats` in runc 1.2's v2 shape (PSI).

The cgroup2 parts run wherever a cgroup2 hierarchy is mounted (the development host's hybrid
one at /sys/fs/cgroup/unified has the hugetlb controller and PSI files); the CLI ones need a
pure v2 host (the guest lane), and skip with the reason elsewhere.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from cgroup_helpers import TestParent, wait_for  # noqa: E402,F401

from conformance.fixtures import Runtime  # noqa: E402
from pyrunc.cgroups import Cgroup, mounted_hierarchies, stats_v2  # noqa: E402
from pyrunc.cgroups import resources as rs  # noqa: E402
from pyrunc.cgroups.writes import WritePlan  # noqa: E402
from pyrunc.errors import ConfigError  # noqa: E402

MB = 1 << 20
PURE_V2 = mounted_hierarchies()[0] == [] and mounted_hierarchies()[1] is not None
PSI_KEYS = {"some", "full"}
PSI_DATA = {"avg10", "avg60", "avg300", "total"}


def _unified(parent: TestParent, name: str) -> Cgroup:
    """A cgroup2-only Cgroup below the test parent, on this host's cgroup2 mount."""
    unified = mounted_hierarchies()[1]
    if unified is None:
        pytest.skip("no cgroup2 mount")
    cg = Cgroup("v2", {"": unified[0] + parent.prefix + "/" + name})
    parent.made.append(cg)
    return cg


def _controllers(cg: Cgroup) -> list[str]:
    return Path(cg.paths[""], "cgroup.controllers").read_text().split()


# ---- hugetlb: .rsvd limits, as runc writes them ------------------------------------------------

def test_hugetlb_rsvd_written_and_skipped_where_missing(tmp_path, monkeypatch):
    """Each page size's limit goes to hugetlb.SIZE.max and hugetlb.SIZE.rsvd.max; a kernel
    without the reservation files is no error (runc skips them), other refusals are."""
    monkeypatch.setattr(rs, "hugepage_sizes", lambda: ["2MB", "1GB"])
    (tmp_path / "cgroup.controllers").write_text("hugetlb\n")
    for f in ("hugetlb.2MB.max", "hugetlb.1GB.max"):
        (tmp_path / f).write_text("max\n")
    cg = Cgroup("v2", {"": str(tmp_path)})
    res = {"hugepageLimits": [{"pageSize": "2MB", "limit": 4 * MB},
                              {"pageSize": "1GB", "limit": 0}]}
    plan = WritePlan(cg)
    rs.build(plan, res, "linux.resources", updating=False)
    assert [op[2] for op in plan.ops] == ["hugetlb.2MB.max", "hugetlb.2MB.rsvd.max",
                                          "hugetlb.1GB.max", "hugetlb.1GB.rsvd.max"]
    plan.run()  # no .rsvd files here: skipped
    assert (tmp_path / "hugetlb.2MB.max").read_text() == str(4 * MB)
    assert not (tmp_path / "hugetlb.2MB.rsvd.max").exists()
    (tmp_path / "hugetlb.2MB.rsvd.max").mkdir()  # present but refused: an error naming the value
    plan = WritePlan(cg)
    rs.build(plan, res, "linux.resources", updating=False)
    with pytest.raises(ConfigError) as ei:
        plan.run()
    assert ei.value.path == "linux.resources.hugepageLimits[0].limit"
    assert "reservation" in str(ei.value)
    v1 = WritePlan(Cgroup("v1", {"hugetlb": str(tmp_path)}))
    rs.build(v1, res, "linux.resources", updating=False)
    assert [op[2] for op in v1.ops][:2] == ["hugetlb.2MB.limit_in_bytes",
                                            "hugetlb.2MB.rsvd.limit_in_bytes"]


def test_hugetlb_limits_on_cgroup2(parent):
    sizes = rs.hugepage_sizes()
    if not sizes:
        pytest.skip("this kernel has no huge pages")
    cg = _unified(parent, "huge")
    cg.create()
    if "hugetlb" not in _controllers(cg):
        pytest.skip(f"no hugetlb controller in cgroup2 (has {_controllers(cg)})")
    d = Path(cg.paths[""])
    cg.apply({"hugepageLimits": [{"pageSize": ps, "limit": 2 * (i + 1) * 1024 * MB}
                                 for i, ps in enumerate(sizes)]})
    for i, ps in enumerate(sizes):
        want = str(2 * (i + 1) * 1024 * MB)
        assert (d / f"hugetlb.{ps}.max").read_text().strip() == want
        rsvd = d / f"hugetlb.{ps}.rsvd.max"
        if rsvd.exists():  # kernel 5.7+
            assert rsvd.read_text().strip() == want
    cg.update({"hugepageLimits": [{"pageSize": sizes[0], "limit": 0}]})
    assert (d / f"hugetlb.{sizes[0]}.max").read_text().strip() == "0"
    s = stats_v2.stats(str(d))
    assert sorted(s["hugetlb"]) == sorted(sizes)
    assert s["hugetlb"][sizes[0]] == {"failcnt": 0}  # no usage: omitted, as Go's omitempty


# ---- events --stats on cgroup2: runc's types.Stats --------------------------------------------

def _check_psi(p: dict) -> None:
    assert set(p) == PSI_KEYS, p
    for kind in PSI_KEYS:
        assert set(p[kind]) == PSI_DATA
        assert isinstance(p[kind]["total"], int)
        assert all(isinstance(p[kind][k], (int, float)) for k in PSI_DATA)


def test_v2_stats_shape_and_psi(parent):
    cg = _unified(parent, "stats")
    cg.create()
    p = parent.spawn(sys.executable, "-c", "import sys\nfor i in range(3 * 10 ** 6): pass\n"
                     "sys.stdin.read()", stdin=subprocess.PIPE,
                     preexec_fn=lambda: cg.add(os.getpid()))
    wait_for(lambda: cg.stats()["cpu"]["usage"].get("total", 0) > 0, timeout=120,
             what="cpu usage")
    s = cg.stats()
    assert list(s) == ["cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt",
                       "network_interfaces"]
    assert s["cpu"]["usage"]["user"] + s["cpu"]["usage"]["kernel"] > 0
    assert "percpu" not in s["cpu"]["usage"]  # v2 has no per-CPU usage
    assert s["pids"]["current"] == 1  # pids.current, or cgroup.procs counted without it
    assert s["cpuset"] == {"cpu_exclusive": 0, "mem_hardwall": 0, "mem_exclusive": 0,
                           "memory_migrate": 0, "memory_spread_page": 0,
                           "memory_spread_slab": 0, "memory_pressure": 0,
                           "sched_load_balance": 0, "sched_relax_domain_level": 0}
    assert s["memory"]["kernel"] == {"limit": 0, "failcnt": 0}
    if os.path.exists(cg.paths[""] + "/cpu.pressure"):
        _check_psi(s["cpu"]["psi"])
        _check_psi(s["memory"]["psi"])
        _check_psi(s["blkio"]["psi"])
    else:
        assert "psi" not in s["cpu"]
    json.dumps(s)  # encodable as it is
    p.stdin.close()
    p.wait()


def test_psi_parsing_like_runc(tmp_path):
    (tmp_path / "cpu.pressure").write_text(
        "some avg10=1.50 avg60=0.00 avg300=12.25 total=123456\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
    (tmp_path / "io.pressure").write_text("some avg10=0.10 avg60=0.20 avg300=0.30 total=7\n")
    assert stats_v2.psi(str(tmp_path), "cpu.pressure") == {
        "some": {"avg10": 1.5, "avg60": 0, "avg300": 12.25, "total": 123456},
        "full": {"avg10": 0, "avg60": 0, "avg300": 0, "total": 0}}
    # Go encodes 0.0 as 0: so does pyrunc's output
    assert json.dumps(stats_v2.psi(str(tmp_path), "cpu.pressure")["full"]) == \
        '{"avg10": 0, "avg60": 0, "avg300": 0, "total": 0}'
    # no "full" line (io on an old kernel): zeros, as runc's struct
    assert stats_v2.psi(str(tmp_path), "io.pressure")["full"]["total"] == 0
    assert stats_v2.psi(str(tmp_path), "memory.pressure") is None


# ---- through the CLI, on a pure v2 host --------------------------------------------------------

def _need_pure_v2() -> None:
    if not PURE_V2:
        pytest.skip("needs a pure cgroup v2 host (the guest lane); this one is hybrid or v1")


def _v2_dir(cfg_path: str) -> Path:
    return Path(mounted_hierarchies()[1][0]) / cfg_path.lstrip("/")


def _key_paths(d, prefix: str = "") -> set[str]:
    out = set()
    if isinstance(d, dict):
        for k, v in d.items():
            out.add(prefix + k)
            out |= _key_paths(v, prefix + k + ".")
    return out


def test_events_stats_v2_fields_match_runc(rt, state_root, tmp_path):
    """The same busy container under pyrunc and runc: every field runc reports, pyrunc reports
    with the same name (runc 1.1's field set; pyrunc adds runc 1.2's psi)."""
    _need_pure_v2()
    runc_path = shutil.which("runc") or "/usr/sbin/runc"
    res = {"memory": {"limit": 64 * MB}, "pids": {"limit": 20},
           "cpu": {"quota": 5000, "period": 100000}}
    script = "while :; do :; done"
    outs = {}
    for name, r in (("pyrunc", rt), ("runc", Runtime(runc_path, state_root, tmp_path / "runc"))):
        (tmp_path / "runc").mkdir(exist_ok=True)
        try:
            b = r.bundle(["sh", "-c", script], lambda c: c["linux"].update(resources=res))
            cid = r.create(b)
            r.ok("start", cid)
            cg = _v2_dir(json.loads((b / "config.json").read_text())["linux"]["cgroupsPath"])
            wait_for(lambda: "nr_throttled 0" not in (cg / "cpu.stat").read_text(),
                     timeout=120, what="throttling")
            outs[name] = json.loads(r.ok("events", "--stats", cid).stdout)
            r.kill_and_delete(cid)
        finally:
            if r is not rt:
                assert not r.cleanup()
    ours, theirs = outs["pyrunc"]["data"], outs["runc"]["data"]
    assert list(ours) == list(theirs)
    # Fields Go omits when zero come and go with what each container did: per-device I/O,
    # and the page cache (runc's init copies the runc binary into a memfd, charged to the
    # container: "file" and so memory.cache are >0 for runc's container only).
    missing = {k for k in _key_paths(theirs) - _key_paths(ours)
               if not k.startswith("memory.raw.") and not k.startswith("blkio.")
               and k != "memory.cache"}
    assert not missing, missing
    assert set(ours["memory"]["raw"]) == set(theirs["memory"]["raw"])
    assert ours["pids"] == {"current": 1, "limit": 20}
    assert ours["memory"]["usage"]["limit"] == 64 * MB
    assert ours["cpu"]["throttling"]["throttledPeriods"] > 0
    assert ours["cpu"]["throttling"]["throttledTime"] > 0
    for k in ("cpu", "memory", "blkio"):
        _check_psi(ours[k]["psi"])


def _root_block_device() -> str | None:
    """MAJ:MIN of the disk the root file system is on (io.latency wants a whole disk)."""
    dev = os.stat("/").st_dev
    base = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    if not base.exists():
        return None
    if (base / "partition").exists():
        base = base.resolve().parent
    try:
        return (base / "dev").read_text().strip()
    except OSError:
        return None


def test_unified_io_latency_and_misc(rt):
    """The spec has no field for io.latency nor for the misc controller (runc neither): the
    unified map sets them, and a refusal is one error naming the key."""
    _need_pure_v2()
    disk = _root_block_device()
    if disk is None:
        pytest.skip("the root file system is on no block device")
    ctrls = (_v2_dir("/") / "cgroup.controllers").read_text().split()
    if "io" not in ctrls:
        pytest.skip(f"no io controller (has {ctrls})")
    b = rt.bundle(["sleep", "1000"], lambda c: c["linux"].update(
        resources={"unified": {"io.latency": f"{disk} target=5000"}}))
    # io.latency is there only with CONFIG_BLK_CGROUP_IOLATENCY (not in Debian 12's 6.1)
    if not any(Path(d, "io.latency").exists() for d in _v2_dir("/").iterdir() if d.is_dir()):
        r = rt("create", "--bundle", str(b), rt.new_id())
        assert r.returncode != 0
        assert "linux.resources.unified.io.latency" in r.stderr and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    else:
        cid = rt.create(b)
        cg = _v2_dir(json.loads((b / "config.json").read_text())["linux"]["cgroupsPath"])
        assert f"{disk} target=5000" in (cg / "io.latency").read_text()
        rt.ok("update", "--resources", "-", cid,
              input=json.dumps({"unified": {"io.latency": f"{disk} target=7000"}}).encode())
        assert f"{disk} target=7000" in (cg / "io.latency").read_text()
        rt.kill_and_delete(cid)
    if "misc" not in ctrls:
        return
    capacity = (_v2_dir("/") / "misc.capacity").read_text().split()
    value = f"{capacity[0]} 1" if capacity else "no-such-resource 1"
    b = rt.bundle(["true"], lambda c: c["linux"].update(
        resources={"unified": {"misc.max": value}}))
    if capacity:
        cid = rt.create(b)
        cg = _v2_dir(json.loads((b / "config.json").read_text())["linux"]["cgroupsPath"])
        assert value in (cg / "misc.max").read_text()
        rt.kill_and_delete(cid)
    else:  # this machine has no misc resource (no SEV, no TDX): the kernel says EINVAL
        r = rt("create", "--bundle", str(b), rt.new_id())
        assert r.returncode != 0
        assert "misc.max" in r.stderr and "Traceback" not in r.stderr
