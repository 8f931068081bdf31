"""Cgroup manager basics with real processes: resolve, create, add, pids, signal, freeze, destroy."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from cgroup_helpers import (TestParent, all_mountpoints, leftovers, proc_cgroup,  # noqa: E402,F401
                            wait_for)

from pyrunc.cgroups import (Cgroup, clean_path, mounted_hierarchies,  # noqa: E402
                            read_proc_cgroup)
from pyrunc.errors import PyruncError  # noqa: E402


def test_clean_path_like_runc():
    assert clean_path("") == ""
    assert clean_path("/a/../../b/./c/") == "/b/c"
    assert clean_path("../../x") == "x"
    assert clean_path("a//b/..") == "a"


def test_resolve_absolute_relative_absent():
    own = read_proc_cgroup()
    ab = Cgroup.resolve("/x/../abs/y", "id1")
    mounts = all_mountpoints()
    for key, p in ab.paths.items():
        assert p.endswith("/abs/y"), (key, p)
        assert any(p == m.rstrip("/") + "/abs/y" for m in mounts), (key, p, mounts)
    rel = Cgroup.resolve("rel/../../y", "id1")
    absent = Cgroup.resolve(None, "id1")
    for key in rel.paths:
        base = own[key].rstrip("/")
        if ab.mode == "v2":
            base = base.rsplit("/", 1)[0]
        assert rel.paths[key].endswith(base + "/y"), (key, rel.paths[key])
        assert absent.paths[key].endswith(base + "/id1"), (key, absent.paths[key])
    # every mounted hierarchy with a /proc/self/cgroup line is used
    assert set(ab.paths) <= set(own)
    if "" in own:
        assert "" in ab.paths
    assert ab.mode in ("v1", "v2", "hybrid")


def test_json_round_trip():
    cg = Cgroup.resolve("/pyrunc-json/x", "id")
    back = Cgroup.from_json(cg.to_json())
    assert back.mode == cg.mode and back.paths == cg.paths
    from pyrunc import jsonio
    assert Cgroup.from_json(jsonio.loads(jsonio.dumps(cg.to_json()))).paths == cg.paths


def test_create_add_pids_destroy(parent):
    cg = parent.child("c1")
    cg.create()
    for p in cg.paths.values():
        assert os.path.isdir(p)
    proc = parent.spawn("sleep", "1000")
    cg.add(proc.pid)
    seen = proc_cgroup(proc.pid)
    for key in cg.paths:
        assert seen[key] == parent.prefix + "/c1", (key, seen[key])
    assert cg.pids() == [proc.pid]
    cg.destroy()
    assert proc.wait() == -signal.SIGKILL
    assert leftovers(parent.prefix + "/c1") == []
    cg.destroy()  # idempotent once gone


def test_cpuset_inherited_from_parent(parent):
    cg = parent.child("cs")
    cg.create()
    p = cg.path("cpuset")
    if p is None or cg.mode == "v2":
        pytest.skip("no v1 cpuset hierarchy")
    root = p[: p.index(parent.prefix)]
    for f in ("cpuset.cpus", "cpuset.mems"):
        with open(f"{p}/{f}") as a, open(f"{root}/{f}") as b:
            assert a.read().strip() == b.read().strip() != ""


def test_destroy_kills_forked_descendants_and_subcgroups(parent):
    cg = parent.child("tree")
    cg.create()
    # the shell forks two sleepers, reports their pids on stdout, then waits
    proc = parent.spawn("sh", "-c", "sleep 1000 & a=$!; sleep 1000 & echo $a $!; exec >&-; wait",
                        stdout=subprocess.PIPE, env={"PATH": os.environ["PATH"]},
                        preexec_fn=lambda: cg.add(os.getpid()))
    kids = [int(x) for x in proc.stdout.readline().split()]
    proc.stdout.close()
    # a nested cgroup made by the container itself is removed too
    sub = cg.paths[next(iter(cg.paths))] + "/inner"
    os.mkdir(sub)
    assert set(cg.pids()) == {proc.pid, *kids}
    cg.destroy()
    proc.wait()
    for k in kids:
        wait_for(lambda: not os.path.exists(f"/proc/{k}") or _state(k) == "Z", what="kid gone")
    assert leftovers(parent.prefix + "/tree") == []


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def test_signal_all(parent):
    cg = parent.child("sig")
    cg.create()
    procs = [parent.spawn("sleep", "1000") for _ in range(3)]
    for p in procs:
        cg.add(p.pid)
    assert cg.pids() == sorted(p.pid for p in procs)
    cg.signal_all(signal.SIGTERM)
    for p in procs:
        assert p.wait() == -signal.SIGTERM
    assert cg.pids() == []
    assert not cg.frozen()


def _utime(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[11])


def test_freeze_stops_busy_loop(parent):
    cg = parent.child("frz")
    cg.create()
    proc = parent.spawn(sys.executable, "-c", "while True: pass")
    cg.add(proc.pid)
    assert not cg.frozen()
    cg.freeze()
    assert cg.frozen()
    before = _utime(proc.pid)
    time.sleep(0.3)
    assert _utime(proc.pid) == before  # no progress at all while frozen
    # signals other than KILL keep a paused container paused
    cg.signal_all(signal.SIGCONT)
    assert cg.frozen()
    cg.thaw()
    assert not cg.frozen()
    wait_for(lambda: _utime(proc.pid) > before, what="busy loop to run again")
    cg.freeze()
    cg.destroy()  # destroy works on a frozen cgroup
    assert proc.wait() == -signal.SIGKILL
    assert leftovers(parent.prefix + "/frz") == []


def test_add_missing_cgroup_is_clear_error(parent):
    cg = parent.child("never")
    with pytest.raises(PyruncError, match="cannot add pid"):
        cg.add(os.getpid())


def test_never_touches_own_cgroup(parent):
    own_before = read_proc_cgroup()
    cg = parent.child("own")
    cg.create()
    proc = parent.spawn("sleep", "1000")
    cg.add(proc.pid)
    cg.destroy()
    proc.wait()
    assert read_proc_cgroup() == own_before
    assert os.getpid() not in cg.pids()


def test_resolve_paths_on_every_host_layout():
    from pyrunc.cgroups import resolve_paths
    # pure v2, runtime in /user.slice/session-1.scope: relative paths go under its parent
    v2 = ([], ("/sys/fs/cgroup", "/"))
    own = {"": "/user.slice/session-1.scope"}
    assert resolve_paths("c1", *v2, own) == ("v2", {"": "/sys/fs/cgroup/user.slice/c1"})
    assert resolve_paths("/a/b", *v2, own) == ("v2", {"": "/sys/fs/cgroup/a/b"})
    assert resolve_paths("c1", *v2, {"": "/"}) == ("v2", {"": "/sys/fs/cgroup/c1"})
    # v1 with co-mounted cpu,cpuacct and a named hierarchy, no cgroup2
    v1 = [(frozenset({"rw", "cpu", "cpuacct"}), "/sys/fs/cgroup/cpu,cpuacct", "/"),
          (frozenset({"rw", "memory"}), "/sys/fs/cgroup/memory", "/"),
          (frozenset({"rw", "xattr", "name=systemd"}), "/sys/fs/cgroup/systemd", "/")]
    own = {"cpuacct,cpu": "/x", "memory": "/m", "name=systemd": "/s", "": "/"}
    mode, paths = resolve_paths("c1", v1, None, own)
    assert mode == "v1"
    assert paths == {"cpuacct,cpu": "/sys/fs/cgroup/cpu,cpuacct/x/c1",
                     "memory": "/sys/fs/cgroup/memory/m/c1",
                     "name=systemd": "/sys/fs/cgroup/systemd/s/c1"}
    # inside a container: the hierarchy's mount root is our own cgroup
    v1c = [(frozenset({"rw", "memory"}), "/sys/fs/cgroup/memory", "/docker/abc")]
    assert resolve_paths("c1", v1c, None, {"memory": "/docker/abc"})[1] == \
        {"memory": "/sys/fs/cgroup/memory/c1"}
    # hybrid: v1 plus the unified mount, relative to our own cgroup in each
    mode, paths = resolve_paths("c1", v1[1:2], ("/sys/fs/cgroup/unified", "/"),
                                {"memory": "/m", "": "/u"})
    assert mode == "hybrid" and paths == {"memory": "/sys/fs/cgroup/memory/m/c1",
                                          "": "/sys/fs/cgroup/unified/u/c1"}
    # a hierarchy known to the kernel but not mounted is skipped; nothing mounted is an error
    assert resolve_paths("/c", v1[1:2], None, {"memory": "/", "pids": "/"})[1] == \
        {"memory": "/sys/fs/cgroup/memory/c"}
    with pytest.raises(PyruncError, match="no cgroup hierarchy"):
        resolve_paths("/c", [], None, {"memory": "/"})


def test_destroy_beats_a_fork_loop(parent):
    cg = parent.child("forky")
    cg.create()
    cg.apply({"pids": {"limit": 40}})
    proc = parent.spawn("sh", "-c", "while true; do sleep 1000 & done",
                        stderr=subprocess.DEVNULL, preexec_fn=lambda: cg.add(os.getpid()))
    wait_for(lambda: len(cg.pids()) >= 30, what="the loop to fork")
    cg.destroy()
    proc.wait()
    assert leftovers(parent.prefix + "/forky") == []


def test_create_failure_is_clear_error(parent):
    # a cgroup path below a regular file cannot be made in any hierarchy
    cg = parent.child("ok")
    cg.create()
    bad = Cgroup(cg.mode, {k: v + "/cgroup.procs/x" for k, v in cg.paths.items()})
    with pytest.raises(PyruncError, match="cannot create cgroup"):
        bad.create()


def test_refuses_cgroups_that_hold_the_runtime():
    own = read_proc_cgroup()
    with pytest.raises(PyruncError, match="hierarchy root"):
        Cgroup.resolve("/", "id")
    deepest = max(own.values(), key=len)  # in any hierarchy, cgroup2's "" key too
    if deepest != "/":
        with pytest.raises(PyruncError, match="holds the runtime"):
            Cgroup.resolve(deepest, "id")
        parent_of_own = deepest.rsplit("/", 1)[0]
        if parent_of_own:
            with pytest.raises(PyruncError, match="holds the runtime"):
                Cgroup.resolve(parent_of_own, "id")
    # a state file pointing at a hierarchy root is refused before anything is signalled
    v1, unified = mounted_hierarchies()
    roots = {"": unified[0]} if unified else {"memory": next(m for _o, m, _r in v1)}
    with pytest.raises(PyruncError, match="hierarchy root"):
        Cgroup.from_json({"mode": "v2" if "" in roots else "v1", "paths": roots}).check_not_ours()
