"""linux.resources enforced on real processes: memory OOM kills, pids stop forks, CPU quota
throttles, device rules deny, live updates, clear errors, nothing left behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from cgroup_helpers import TestParent, leftovers, wait_for  # noqa: E402,F401

from pyrunc.cgroups import Cgroup, mounted_hierarchies  # noqa: E402
from pyrunc.cgroups import devices as dev  # noqa: E402
from pyrunc.cgroups import resources as rs  # noqa: E402
from pyrunc.cgroups import resources_v2 as rs2  # noqa: E402
from pyrunc.cgroups.writes import WritePlan  # noqa: E402
from pyrunc.cgroups.oom import OomEvents  # noqa: E402
from pyrunc.errors import ConfigError  # noqa: E402

MB = 1 << 20


def _read(cg: Cgroup, ctrl: str, name: str) -> str:
    """CTRL's file NAME of cg: in CTRL's v1 hierarchy, else in the cgroup2 one (pure v2 hosts,
    and hybrid ones where CTRL is not mounted as v1)."""
    d = cg.path(ctrl)
    with open(f"{d if d is not None else cg.path('')}/{name}") as f:
        return f.read().strip()


def _is_v1(cg: Cgroup, ctrl: str) -> bool:
    return cg.mode != "v2" and cg.path(ctrl) is not None


def _in(cg: Cgroup):
    return lambda: cg.add(os.getpid())


def _v1_or_skip(cg: Cgroup, ctrl: str) -> None:
    if not _is_v1(cg, ctrl):
        pytest.skip(f"needs the v1 {ctrl} controller (this host: {cg.mode})")


# ---- pure conversions (runc's numbers) ---------------------------------------------------------

def test_conversions_match_runc():
    assert rs.shares_to_weight(2) == 1
    assert rs.shares_to_weight(1024) == 39
    assert rs.shares_to_weight(262144) == 10000
    assert rs.blkio_weight_to_io_weight(10) == 1
    assert rs.blkio_weight_to_io_weight(1000) == 10000
    assert rs.blkio_weight_to_io_weight(500) == 4950
    assert rs.swap_to_v2(0, -1, "p") == -1
    assert rs.swap_to_v2(-1, 100, "p") == -1
    assert rs.swap_to_v2(300, 100, "p") == 200
    with pytest.raises(ConfigError, match="memory\\+swap limit should be >= memory limit"):
        rs.swap_to_v2(50, 100, "p")
    with pytest.raises(ConfigError, match="without memory limit"):
        rs.swap_to_v2(50, 0, "p")


# ---- memory ------------------------------------------------------------------------------------

def test_memory_limit_oom_kills_and_reports(parent):
    cg = parent.child("oom")
    cg.create()
    cg.apply({"memory": {"limit": 48 * MB, "swap": 48 * MB if cg.mode != "v2" else 0}})
    if cg.mode != "v2":
        assert _read(cg, "memory", "memory.limit_in_bytes") == str(48 * MB)
    oom = OomEvents(cg)
    try:
        p = parent.spawn(sys.executable, "-c", "b = b'x' * (200 << 20)", preexec_fn=_in(cg))
        assert p.wait() == -signal.SIGKILL
        wait_for(lambda: _oom_kills(cg) > 0, what="the kernel to count the OOM kill")
        assert cg.stats()["memory"]["usage"]["limit"] == 48 * MB
    finally:
        oom.close()


def _oom_kills(cg: Cgroup) -> int:
    name = "memory.events" if cg.mode == "v2" else "memory.oom_control"
    for line in _read(cg, "memory" if cg.mode != "v2" else "", name).splitlines():
        k, _, v = line.partition(" ")
        if k == "oom_kill":
            return int(v)
    return 0


def test_oom_event_source_counts_kills(parent):
    cg = parent.child("oomev")
    cg.create()
    cg.apply({"memory": {"limit": 48 * MB}})
    oom = OomEvents(cg)
    try:
        import select
        p = parent.spawn(sys.executable, "-c", "b = b'x' * (200 << 20)", preexec_fn=_in(cg))
        p.wait()
        poller = select.poll()
        poller.register(oom.fileno(), oom.events)
        assert poller.poll(10_000), "no OOM notification"
        assert oom.read() >= 1
    finally:
        oom.close()


def test_memory_below_usage_is_clear_error(parent):
    cg = parent.child("busy")
    cg.create()
    _v1_or_skip(cg, "memory")
    p = parent.spawn(sys.executable, "-c",
                     "import sys; b = b'x' * (64 << 20); print('ok', flush=True); sys.stdin.read()",
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, preexec_fn=_in(cg))
    assert p.stdout.readline() == b"ok\n"
    with pytest.raises(ConfigError, match=r"resources\.memory\.limit: rejecting memory limit"):
        cg.update({"memory": {"limit": 16 * MB, "checkBeforeUpdate": True}})
    with pytest.raises(ConfigError, match=r"unable to set memory limit to \d+ \(current usage"):
        cg.update({"memory": {"limit": 16 * MB}})
    assert p.poll() is None  # still alive: the limit was refused, not enforced by killing
    p.stdin.close()
    p.wait()


# ---- pids ------------------------------------------------------------------------------------------

FORKER = """
import os, sys, signal
kids, failed = [], 0
for i in range(int(sys.argv[1])):
    try:
        pid = os.fork()
    except BlockingIOError:
        failed += 1
        continue
    if pid == 0:
        signal.pause()
        os._exit(0)
    kids.append(pid)
for k in kids:
    os.kill(k, signal.SIGKILL)
    os.waitpid(k, 0)
print(len(kids), failed)
"""


def _fork(parent, cg, n: int) -> tuple[int, int]:
    p = parent.spawn(sys.executable, "-c", FORKER, str(n), stdout=subprocess.PIPE,
                     preexec_fn=_in(cg))
    out, _ = p.communicate()
    assert p.returncode == 0
    a, b = out.split()
    return int(a), int(b)


def test_pids_limit_stops_forks_and_update_changes_it(parent):
    cg = parent.child("pids")
    cg.create()
    cg.apply({"pids": {"limit": 4}})
    assert _read(cg, "pids", "pids.max") == "4"
    made, failed = _fork(parent, cg, 8)
    assert (made, failed) == (3, 5)  # the forker itself is the 4th task
    cg.update({"pids": {"limit": 7}})
    assert _read(cg, "pids", "pids.max") == "7"
    assert _fork(parent, cg, 8) == (6, 2)
    cg.update({"pids": {"limit": -1}})
    assert _read(cg, "pids", "pids.max") == "max"


# ---- cpu --------------------------------------------------------------------------------------

def test_cpu_quota_visible_and_throttles(parent):
    cg = parent.child("cpu")
    cg.create()
    cg.apply({"cpu": {"quota": 10000, "period": 100000, "shares": 512, "cpus": "0",
                      "mems": "0"}})
    if cg.mode == "v2":
        assert _read(cg, "", "cpu.max") == "10000 100000"
    else:
        assert _read(cg, "cpu", "cpu.cfs_quota_us") == "10000"
        assert _read(cg, "cpu", "cpu.cfs_period_us") == "100000"
        assert _read(cg, "cpu", "cpu.shares") == "512"
        assert _read(cg, "cpuset", "cpuset.cpus") == "0"
    parent.spawn(sys.executable, "-c", "while True: pass", preexec_fn=_in(cg))
    wait_for(lambda: cg.stats()["cpu"]["throttling"].get("throttledPeriods", 0) > 0,
             what="the busy loop to be throttled")
    # update: quota alone keeps the period (runc update semantics)
    cg.update({"cpu": {"quota": 20000}})
    if cg.mode != "v2":
        assert _read(cg, "cpu", "cpu.cfs_quota_us") == "20000"
        assert _read(cg, "cpu", "cpu.cfs_period_us") == "100000"
    cg.update({"cpu": {"quota": -1}})
    if cg.mode != "v2":
        assert _read(cg, "cpu", "cpu.cfs_quota_us") == "-1"


def test_cpu_bad_values(parent):
    cg = parent.child("cpubad")
    cg.create()
    for res, where in (({"cpu": {"quota": -7}}, "linux.resources.cpu.quota"),
                       ({"cpu": {"shares": "x"}}, "linux.resources.cpu.shares"),
                       ({"cpu": {"cpus": "zero"}}, "linux.resources.cpu.cpus"),
                       ({"cpu": {"idle": 3}}, "linux.resources.cpu.idle")):
        with pytest.raises(ConfigError) as ei:
            cg.apply(res)
        assert ei.value.path == where
    if _is_v1(cg, "cpu"):
        with pytest.raises(ConfigError, match="the minimum allowed cpu-shares is 2"):
            cg.apply({"cpu": {"shares": 1}})
        with pytest.raises(ConfigError, match="cpu.cfs_quota_us"):
            cg.apply({"cpu": {"quota": 10}})  # the kernel wants >= 1 ms


# ---- devices ------------------------------------------------------------------------------------

def _block_device() -> str:
    """A block device this session may open (so a refusal in a test is the cgroup's doing)."""
    for name in sorted(os.listdir("/sys/block")):
        p = f"/dev/{name}"
        try:
            os.close(os.open(p, os.O_RDONLY))
            return p
        except OSError:
            continue
    pytest.skip("no block device this session may open")


def _can_open(cg_or_add, path: str, mode: str = "rb") -> bool:
    code = f"open({path!r}, {mode!r}).close()"
    r = subprocess.run([sys.executable, "-c", code], preexec_fn=cg_or_add,
                       stderr=subprocess.DEVNULL)
    return r.returncode == 0


def test_v1_device_rules_enforced_and_minimal(parent):
    cg = parent.child("dev")
    cg.create()
    _v1_or_skip(cg, "devices")
    blk = _block_device()
    cg.apply({"devices": [{"allow": False, "access": "rwm"},
                          {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "r"}]})
    listing = _read(cg, "devices", "devices.list").splitlines()
    assert "c 1:3 rwm" in listing and "a *:* rwm" not in listing
    assert not any(line.startswith("b 254") or line == "b *:* rwm" for line in listing)
    assert _can_open(_in(cg), "/dev/null")
    assert not _can_open(_in(cg), blk)
    # a transition keeps what stays and removes only what goes
    rules = dev.rules_from_config({}, "linux.resources")
    cur = dev.Emulator.from_list("\n".join(listing))
    # the config's rules are the defaults' plus a narrower /dev/null: nothing to write, and
    # above all no "a" rule, which would open every device for a moment
    assert cur.transition(dev.fold(rules)) == []


def test_device_rule_errors():
    with pytest.raises(ConfigError) as ei:
        dev.rules_from_config({"devices": [{"allow": True, "type": "p", "access": "r"}]},
                              "linux.resources")
    assert ei.value.path == "linux.resources.devices[0].type"
    with pytest.raises(ConfigError) as ei:
        dev.rules_from_config({"devices": [{"allow": True, "type": "c", "access": "rx"}]},
                              "linux.resources")
    assert ei.value.path == "linux.resources.devices[0].access"
    with pytest.raises(ConfigError) as ei:
        dev.rules_from_config({"devices": [{"allow": True, "access": ""}]}, "linux.resources")
    assert "cannot be empty" in str(ei.value)
    # linux.devices redefining a default's path drops runc's default rule for it
    rules = dev.rules_from_config({}, "x", [{"path": "/dev/null", "type": "c", "major": 1,
                                             "minor": 3}])
    assert not any(r.major == 1 and r.minor == 3 for r in rules)


def _unified_cgroup(parent, name: str) -> Cgroup:
    """A cgroup2-only Cgroup (mode v2) on this host's cgroup2 mount, hybrid or not."""
    _v1, unified = mounted_hierarchies()
    if unified is None:
        pytest.skip("no cgroup2 mount")
    cg = Cgroup("v2", {"": unified[0] + parent.prefix + "/" + name})
    parent.made.append(cg)
    return cg


def test_v2_device_program_enforced(parent):
    cg = _unified_cgroup(parent, "bpf")
    cg.create()
    blk = _block_device()
    cg.apply({"devices": [{"allow": False, "access": "rwm"}]})
    first = dev.attached_programs(cg.paths[""])
    assert len(first) == 1
    assert _can_open(_in(cg), "/dev/null", "r+b")
    assert not _can_open(_in(cg), blk)
    # allow the block device read-only: the program is replaced, not stacked
    st = os.stat(blk)
    cg.apply({"devices": [{"allow": False, "access": "rwm"},
                          {"allow": True, "type": "b", "major": os.major(st.st_rdev),
                           "minor": os.minor(st.st_rdev), "access": "r"}]})
    second = dev.attached_programs(cg.paths[""])
    assert len(second) == 1 and second != first
    assert _can_open(_in(cg), blk, "rb")
    assert not _can_open(_in(cg), blk, "r+b")
    # an allow-all config: wildcard allow, so everything passes
    cg.apply({"devices": [{"allow": True, "access": "rwm"}]})
    assert _can_open(_in(cg), blk, "rb")


def test_v2_freeze_and_kill_on_cgroup2(parent):
    cg = _unified_cgroup(parent, "frz2")
    cg.create()
    p = parent.spawn(sys.executable, "-c", "while True: pass", preexec_fn=_in(cg))
    cg.freeze()
    assert cg.frozen()
    cg.thaw()
    assert not cg.frozen()
    cg.destroy()  # cgroup.kill
    assert p.wait() == -signal.SIGKILL
    assert not os.path.exists(cg.paths[""])


# ---- other controllers, validation, cleanliness ----------------------------------------------------

def test_unavailable_or_invalid_values_are_errors_and_change_nothing(parent):
    cg = parent.child("bad")
    cg.create()
    before = {c: _read(cg, c, f) for c, f in (("memory", "memory.limit_in_bytes"),
                                               ("pids", "pids.max"))
              if _is_v1(cg, c)}
    cases = [
        ({"memory": {"limit": 64 * MB}, "pids": {"limit": -5}}, "linux.resources.pids.limit"),
        ({"memory": {"limit": -2}}, "linux.resources.memory.limit"),
        ({"memory": {"limit": 64 * MB, "swap": 32 * MB}}, "linux.resources.memory.swap"),
        ({"memory": {"swappiness": 101}}, "linux.resources.memory.swappiness"),
        ({"hugepageLimits": [{"pageSize": "3MB", "limit": 1}]},
         "linux.resources.hugepageLimits[0].pageSize"),
        ({"blockIO": {"weight": 5}}, "linux.resources.blockIO.weight"),
        ({"devices": [{"allow": True, "type": "z", "access": "r"}], "pids": {"limit": 9}},
         "linux.resources.devices[0].type"),
        ({"bogus": {}}, "linux.resources.bogus"),
    ]
    for res, where in cases:
        with pytest.raises(ConfigError) as ei:
            cg.apply(res)
        assert ei.value.path == where, (res, str(ei.value))
    after = {c: _read(cg, c, f) for c, f in (("memory", "memory.limit_in_bytes"),
                                              ("pids", "pids.max"))
             if _is_v1(cg, c)}
    assert after == before


def test_host_cannot_apply_is_error(parent):
    cg = parent.child("host")
    cg.create()
    if cg.mode == "v2":
        with pytest.raises(ConfigError, match="net_cls"):
            cg.apply({"network": {"classID": 1}})
        return
    if cg.path("net_cls") is None:
        with pytest.raises(ConfigError, match="net_cls cgroup controller is not mounted"):
            cg.apply({"network": {"classID": 1}})
    if cg.path("hugetlb") is None:
        with pytest.raises(ConfigError, match="hugetlb") as ei:
            cg.apply({"hugepageLimits": [{"pageSize": rs.hugepage_sizes()[0], "limit": MB}]})
        assert ei.value.path == "linux.resources.hugepageLimits"
    if cg.path("rdma") is None:
        with pytest.raises(ConfigError, match="rdma"):
            cg.apply({"rdma": {"mlx5_0": {"hcaHandles": 3}}})
    with pytest.raises(ConfigError, match="cannot use unified on cgroup v1"):
        cg.apply({"unified": {"memory.high": "1G"}})


def test_v1_blkio_and_memory_files(parent):
    cg = parent.child("blk")
    cg.create()
    _v1_or_skip(cg, "blkio")
    blk = _block_device()
    st = os.stat(blk)
    devno = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    res = {"blockIO": {"throttleReadBpsDevice": [{"major": os.major(st.st_rdev),
                                                  "minor": os.minor(st.st_rdev),
                                                  "rate": MB}]},
           "memory": {"limit": 128 * MB, "reservation": 64 * MB, "swappiness": 10,
                      "disableOOMKiller": True}}
    if os.path.exists(cg.path("blkio") + "/blkio.bfq.weight") or \
            os.path.exists(cg.path("blkio") + "/blkio.weight"):
        res["blockIO"]["weight"] = 300
    cg.apply(res)
    assert _read(cg, "blkio", "blkio.throttle.read_bps_device") == f"{devno} {MB}"
    assert _read(cg, "memory", "memory.soft_limit_in_bytes") == str(64 * MB)
    assert _read(cg, "memory", "memory.swappiness") == "10"
    assert "oom_kill_disable 1" in _read(cg, "memory", "memory.oom_control")
    # growing memory and memsw together needs memsw first; the writer orders it
    if os.path.exists(cg.path("memory") + "/memory.memsw.limit_in_bytes"):
        cg.update({"memory": {"limit": 256 * MB, "swap": 512 * MB}})
        assert _read(cg, "memory", "memory.memsw.limit_in_bytes") == str(512 * MB)
        cg.update({"memory": {"limit": 64 * MB, "swap": 64 * MB}})
        assert _read(cg, "memory", "memory.memsw.limit_in_bytes") == str(64 * MB)
        cg.update({"memory": {"limit": -1}})
        assert int(_read(cg, "memory", "memory.limit_in_bytes")) > 1 << 60


def test_stats_format(parent):
    cg = parent.child("stats")
    cg.create()
    cg.apply({"pids": {"limit": 50}, "memory": {"limit": 256 * MB}})
    p = parent.spawn(sys.executable, "-c", "import sys; b = b'x' * (8 << 20); sys.stdin.read()",
                     stdin=subprocess.PIPE, preexec_fn=_in(cg))
    wait_for(lambda: cg.stats()["memory"]["usage"].get("usage", 0) > 8 * MB, what="usage")
    s = cg.stats()
    assert list(s) == ["cpu", "cpuset", "memory", "pids", "blkio", "hugetlb", "intel_rdt",
                       "network_interfaces"]
    assert s["pids"] == {"current": 1, "limit": 50}
    assert s["memory"]["usage"]["limit"] == 256 * MB
    assert "failcnt" in s["memory"]["usage"]
    assert s["cpu"]["usage"]["total"] > 0
    assert "kernel" in s["cpu"]["usage"] and "user" in s["cpu"]["usage"]
    if cg.mode != "v2":
        assert s["memory"]["raw"]["rss"] > 0
        assert len(s["cpu"]["usage"]["percpu"]) == os.cpu_count()
    p.stdin.close()
    p.wait()


def test_v1_memory_above_memsw_explains(parent):
    cg = parent.child("memsw")
    cg.create()
    _v1_or_skip(cg, "memory")
    if not os.path.exists(cg.path("memory") + "/memory.memsw.limit_in_bytes"):
        pytest.skip("no swap accounting")
    cg.apply({"memory": {"limit": 64 * MB, "swap": 64 * MB}})
    with pytest.raises(ConfigError, match="exceeds the memory\\+swap limit"):
        cg.update({"memory": {"limit": 128 * MB}})
    cg.update({"memory": {"limit": 128 * MB, "swap": 128 * MB}})
    assert _read(cg, "memory", "memory.limit_in_bytes") == str(128 * MB)


def test_signal_all_on_missing_cgroup_is_noop(parent):
    cg = parent.child("never-made")
    cg.signal_all(signal.SIGKILL)
    assert cg.pids() == []
    assert not cg.frozen()


# ---- v2 translation (this host's cgroup2 has no memory/cpu/io controllers to write to) --------

class _PlanOnly(WritePlan):
    """Records the v2 writes instead of needing a controller-enabled cgroup2 directory."""

    def dir(self, controller: str, path: str) -> str:
        return "/v2"

    def writes(self) -> list[tuple[str, str]]:
        return [(op[2], op[3]) for op in self.ops if op[0] == "w"]


def _v2_writes(res: dict, updating: bool = False) -> list[tuple[str, str]]:
    plan = _PlanOnly(Cgroup("v2", {"": "/v2"}))
    rs.build(plan, res, "linux.resources", updating)
    return plan.writes()


def test_v2_translation_like_runc(tmp_path, monkeypatch):
    monkeypatch.setattr(rs2, "_exists", lambda p: True)  # memory.swap.max, io.bfq.weight present
    assert _v2_writes({"memory": {"limit": 64 * MB, "swap": 96 * MB, "reservation": 32 * MB}}) \
        == [("memory.swap.max", str(32 * MB)), ("memory.max", str(64 * MB)),
            ("memory.low", str(32 * MB))]
    # swap == memory means no swap at all: 0, not "unset"
    assert _v2_writes({"memory": {"limit": 64 * MB, "swap": 64 * MB}})[0] == \
        ("memory.swap.max", "0")
    assert _v2_writes({"memory": {"limit": -1}}) == [("memory.swap.max", "max"),
                                                     ("memory.max", "max")]
    assert _v2_writes({"cpu": {"shares": 1024, "quota": 50000, "period": 200000}}) == \
        [("cpu.weight", "39"), ("cpu.max", "50000 200000")]
    assert _v2_writes({"cpu": {"quota": -1}}) == [("cpu.max", "max 100000")]
    assert _v2_writes({"cpu": {"quota": 20000}}) == [("cpu.max", "20000 100000")]
    assert _v2_writes({"pids": {"limit": -1}}) == [("pids.max", "max")]
    assert _v2_writes({"blockIO": {"weight": 500, "throttleReadBpsDevice": [
        {"major": 8, "minor": 0, "rate": 1000}]}}) == \
        [("io.bfq.weight", "500"), ("io.max", "8:0 rbps=1000")]
    assert _v2_writes({"unified": {"memory.high": "1G"}}) == [("memory.high", "1G")]
    for res, where in (({"cpu": {"realtimeRuntime": 5}}, "linux.resources.cpu.realtimeRuntime"),
                       ({"memory": {"swappiness": 5}}, "linux.resources.memory.swappiness"),
                       ({"memory": {"disableOOMKiller": True}},
                        "linux.resources.memory.disableOOMKiller"),
                       ({"memory": {"limit": 64 * MB, "swap": 32 * MB}},
                        "linux.resources.memory.swap"),
                       ({"network": {"classID": 3}}, "linux.resources.network"),
                       ({"unified": {"../x": "1"}}, "linux.resources.unified.../x"),
                       ({"unified": {"nodot": "1"}}, "linux.resources.unified.nodot"),
                       ({"blockIO": {"leafWeight": 100}}, "linux.resources.blockIO.leafWeight")):
        with pytest.raises(ConfigError) as ei:
            _v2_writes(res)
        assert ei.value.path == where, (res, str(ei.value))
    monkeypatch.setattr(rs2, "_exists", lambda p: False)  # no bfq: io.weight, converted
    assert _v2_writes({"blockIO": {"weight": 1000}}) == [("io.weight", "10000")]


def test_swappiness_minus_one_means_unset(parent):
    cg = parent.child("swp")
    cg.create()
    for v in (-1, (1 << 64) - 1):
        cg.apply({"memory": {"swappiness": v}})  # runc: unset, nothing written
    _v1_or_skip(cg, "memory")
    with pytest.raises(ConfigError, match=r"invalid memory swappiness value: 101 \(valid range"):
        cg.apply({"memory": {"swappiness": 101}})


def _blocks(prog: bytes) -> tuple[list[tuple], int]:
    """Decode a device program into its rule blocks (type, major, minor, access mask, verdict)
    and the default verdict; checks every jump lands on the next block."""
    import struct
    insns = [struct.unpack("<BBhi", prog[i:i + 8]) for i in range(0, len(prog), 8)]
    assert [i[0] for i in insns[:6]] == [0x61, 0x54, 0x61, 0x74, 0x61, 0x61]
    blocks, cur = [], {}
    for n, (code, regs, off, imm) in enumerate(insns[6:], 6):
        dst, src = regs & 0xF, regs >> 4
        if code in (0x55, 0x5d):
            end = n + off + 1
            assert insns[end - 1][0] == 0x95, "a jump must land right after a block's exit"
            if code == 0x55:
                cur[{2: "type", 4: "major", 5: "minor"}[dst]] = imm
        elif code == 0x54 and dst == 1:
            cur["mask"] = imm
        elif code == 0xb4:
            verdict = imm
        elif code == 0x95:
            if n == len(insns) - 1:
                return blocks, verdict
            blocks.append((cur.get("type"), cur.get("major", -1), cur.get("minor", -1),
                           cur.get("mask", 7), verdict))
            cur = {}
    raise AssertionError("no final exit")


def test_v2_program_for_runc_default_list():
    rules = dev.rules_from_config({}, "linux.resources")
    blocks, default = _blocks(dev.program(dev.fold(rules)))
    assert default == 0  # deny what no rule allows
    # one allow block per default rule, ordered by (major, minor, type) as runc's emulator does
    assert blocks == [(1, -1, -1, 1, 1), (2, -1, -1, 1, 1),
                      (2, 1, 3, 7, 1), (2, 1, 5, 7, 1), (2, 1, 7, 7, 1), (2, 1, 8, 7, 1),
                      (2, 1, 9, 7, 1), (2, 5, 0, 7, 1), (2, 5, 2, 7, 1), (2, 10, 200, 7, 1),
                      (2, 136, -1, 7, 1)]
    # a blocklist (allow all, deny one) inverts the verdicts
    blocks, default = _blocks(dev.program(dev.fold(
        [dev.Rule(True, "a", -1, -1, "rwm"), dev.Rule(False, "b", 8, -1, "w")])))
    assert default == 1 and blocks == [(1, 8, -1, 4, 0)]
