"""pause, resume, ps, events and update on a real process group with a real State on disk."""
from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from cgroup_helpers import TestParent, cgroup_dir, leftovers, wait_for  # noqa: E402

from pyrunc.commands import cgroups as cc  # noqa: E402
from pyrunc import jsonio  # noqa: E402
from pyrunc.errors import PyruncError  # noqa: E402
from pyrunc.state import State, proc_start_time  # noqa: E402

MB = 1 << 20


@pytest.fixture
def box(tmp_path):
    """A 'container': a cgroup with a sleeping init in it, and its State."""
    tp = TestParent()
    try:
        cg = tp.child("ctr")
        cg.create()
        cg.apply({"memory": {"limit": 256 * MB}, "pids": {"limit": 64}})
        init = tp.spawn("sleep", "1000", preexec_fn=lambda: cg.add(os.getpid()))
        st = State("ctr1", str(tmp_path))
        st.pid = init.pid
        st.start_time = proc_start_time(init.pid)[1]
        st.cgroup = cg.to_json()
        st.save()
        yield tp, cg, st, init
    finally:
        tp.cleanup()
    assert leftovers(tp.prefix) == []


def test_pause_resume(box):
    _tp, cg, st, _init = box
    assert st.status() == "running"
    with pytest.raises(PyruncError, match="container not paused"):
        cc.resume(st)
    cc.pause(st)
    assert st.status() == "paused" and cg.frozen()
    with pytest.raises(PyruncError, match="container not running"):
        cc.pause(st)
    cc.resume(st)
    assert st.status() == "running" and not cg.frozen()


def test_pause_stopped_is_error(box):
    _tp, _cg, st, init = box
    init.kill()
    init.wait()
    assert st.status() == "stopped"
    with pytest.raises(PyruncError, match="container not running"):
        cc.pause(st)
    with pytest.raises(PyruncError, match="container not running"):
        cc.update(st, {"memory": "64m"})


def test_ps_json_and_table(box):
    tp, cg, st, init = box
    other = tp.spawn("sleep", "1001", preexec_fn=lambda: cg.add(os.getpid()))
    out = io.StringIO()
    cc.ps(st, "json", [], out)
    assert jsonio.loads(out.getvalue()) == sorted([init.pid, other.pid])
    out = io.StringIO()
    cc.ps(st, "table", [], out)
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:2] == ["UID", "PID"]
    assert sorted(int(line.split()[1]) for line in lines[1:]) == sorted([init.pid, other.pid])
    out = io.StringIO()
    cc.ps(st, "table", ["-o", "pid,comm"], out)
    assert sorted(line.split() for line in out.getvalue().splitlines()[1:]) == sorted(
        [str(p), "sleep"] for p in (init.pid, other.pid))
    with pytest.raises(PyruncError, match="invalid format option"):
        cc.ps(st, "yaml", [], io.StringIO())


def test_ps_json_empty_is_null_like_runc(box):
    _tp, cg, st, init = box
    cg.signal_all(signal.SIGKILL)
    init.wait()
    out = io.StringIO()
    cc.ps(st, "json", [], out)
    assert out.getvalue() == "null\n"


def test_events_stats(box):
    _tp, _cg, st, _init = box
    out = io.StringIO()
    cc.events(st, True, 5.0, out)
    ev = jsonio.loads(out.getvalue())
    assert ev["type"] == "stats" and ev["id"] == "ctr1"
    assert ev["data"]["pids"] == {"current": 1, "limit": 64}
    assert ev["data"]["memory"]["usage"]["limit"] == 256 * MB
    with pytest.raises(PyruncError, match="greater than 0"):
        cc.events(st, True, 0, io.StringIO())


class _Sink(io.StringIO):
    """A stream the events thread writes while the test reads (StringIO is not thread-safe)."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def write(self, s: str) -> int:
        with self.lock:
            return super().write(s)

    def lines(self) -> list[dict]:
        with self.lock:
            return [jsonio.loads(x) for x in self.getvalue().splitlines()]


def test_events_stream_reports_oom_and_ends_with_the_cgroup(box):
    tp, cg, st, _init = box
    cg.update({"memory": {"limit": 48 * MB}})
    sink = _Sink()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            cc.events(st, False, 0.05, sink)
        except BaseException as e:  # surfaced below
            errors.append(e)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    wait_for(lambda: any(e["type"] == "stats" for e in sink.lines()), what="a stats event")
    hog = tp.spawn(sys.executable, "-c", "b = b'x' * (200 << 20)",
                   preexec_fn=lambda: cg.add(os.getpid()))
    assert hog.wait() == -signal.SIGKILL
    wait_for(lambda: any(e["type"] == "oom" for e in sink.lines()), what="an oom event")
    assert {"type": "oom", "id": "ctr1"} in sink.lines()
    cg.destroy()
    t.join(10)
    assert not t.is_alive() and not errors


def test_update_flags(box):
    _tp, cg, st, init = box
    cc.update(st, {"memory": "128m", "memory-reservation": "64M", "pids-limit": 10,
                   "cpu-quota": "25000", "cpu-period": "50000", "cpu-share": "256",
                   "cpuset-cpus": "0"})
    rd = lambda c, f: open(f"{cgroup_dir(init.pid, c)}/{f}").read().strip()  # noqa: E731
    if cg.mode != "v2":
        assert rd("memory", "memory.limit_in_bytes") == str(128 * MB)
        assert rd("memory", "memory.soft_limit_in_bytes") == str(64 * MB)
        assert rd("cpu", "cpu.cfs_quota_us") == "25000"
        assert rd("cpu", "cpu.cfs_period_us") == "50000"
        assert rd("cpu", "cpu.shares") == "256"
        assert rd("cpuset", "cpuset.cpus") == "0"
    assert rd("pids", "pids.max") == "10"
    saved = State("ctr1", st.dir)
    saved._load()
    assert saved.config["resources"]["pids"] == {"limit": 10}
    with pytest.raises(PyruncError, match="invalid value for memory: invalid size: 'lots'"):
        cc.update(st, {"memory": "lots"})
    with pytest.raises(PyruncError, match="invalid value for cpu-quota"):
        cc.update(st, {"cpu-quota": "1.5"})


def test_update_resources_from_stdin_like_containerd(box, tmp_path):
    _tp, cg, st, init = box
    # containerd sends the whole LinuxResources, devices and zero values included
    res = {"devices": [{"allow": False, "access": "rwm"}],
           "memory": {"limit": 200 * MB, "swap": 200 * MB if cg.mode != "v2" else 0},
           "cpu": {"shares": 1024, "quota": 0, "period": 0, "cpus": "", "mems": ""},
           "pids": {"limit": 33}, "blockIO": {}}
    cc.update(st, {"resources": "-", "memory": "1m"},
              stdin=io.BytesIO(jsonio.dumps(res).encode()))
    rd = lambda c, f: open(f"{cgroup_dir(init.pid, c)}/{f}").read().strip()  # noqa: E731
    assert rd("pids", "pids.max") == "33"
    if cg.mode != "v2":
        assert rd("memory", "memory.limit_in_bytes") == str(200 * MB)  # --memory ignored
        assert "a *:* rwm" not in rd("devices", "devices.list").splitlines()  # deny-all
    f = tmp_path / "res.json"
    f.write_text(jsonio.dumps({"pids": {"limit": 44}}))
    cc.update(st, {"resources": str(f)})
    assert rd("pids", "pids.max") == "44"
    f.write_text("{nope")
    with pytest.raises(PyruncError, match="invalid resources JSON"):
        cc.update(st, {"resources": str(f)})
    with pytest.raises(PyruncError, match=r"resources\.pids\.limit"):
        cc.update(st, {"resources": "-"}, stdin=io.BytesIO(b'{"pids": {"limit": -9}}'))


def test_units_and_durations():
    assert cc.ram_in_bytes("512m") == 512 * MB
    assert cc.ram_in_bytes("1.5g") == 3 * (1 << 29)
    assert cc.ram_in_bytes("100 KiB") == 100 * 1024
    assert cc.ram_in_bytes("42") == 42
    for bad in ("", "-5", "1x", "m"):
        with pytest.raises(ValueError):
            cc.ram_in_bytes(bad)
    assert cc.parse_duration("1m30s") == 90
    assert cc.parse_duration("250ms") == 0.25
    with pytest.raises(PyruncError):
        cc.parse_duration("5 seconds")


def test_main_dispatch_parses_flags(box, tmp_path):
    _tp, cg, st, init = box

    class Ctx:
        def __init__(self, command: str) -> None:
            self.command = command

        def store(self):
            from pyrunc.state import Store
            return Store(os.path.dirname(st.dir))
    os.rename(st.dir, os.path.join(os.path.dirname(st.dir), "ctr1"))
    st.dir = os.path.join(os.path.dirname(st.dir), "ctr1")
    assert cc.main(Ctx("update"), ["--pids-limit", "12", "ctr1"]) == 0
    assert open(f"{cgroup_dir(init.pid, 'pids')}/pids.max").read().strip() == "12"
    assert cc.main(Ctx("pause"), ["ctr1"]) == 0
    assert cg.frozen()
    assert cc.main(Ctx("resume"), ["ctr1"]) == 0
    assert not cg.frozen()
    script = tmp_path.parent / f"ps_main_{os.getpid()}.py"
    script.write_text("import sys\n"
                      "from pyrunc.commands import cgroups as c\n"
                      "from pyrunc.state import Store\n"
                      "class C:\n"
                      "    command = 'ps'\n"
                      "    def store(self):\n"
                      "        return Store(sys.argv[1])\n"
                      "sys.exit(c.main(C(), ['--format', 'json', 'ctr1']))\n")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, str(script), os.path.dirname(st.dir)],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": repo})
    assert jsonio.loads(out.stdout) == [st.pid], out.stderr
