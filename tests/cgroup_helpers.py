"""Test helpers for cgroups: a private parent cgroup in every hierarchy, removed afterwards.

Tests create their cgroups under ``/pyrunc-test-<pid>-<n>`` (absolute, so never below the cgroup
this session runs in) and remove everything they made even when they fail.
"""
from __future__ import annotations

import itertools
import os
import subprocess
import time

import pytest

from conformance.linux import mountinfo
from pyrunc.cgroups import Cgroup, mounted_hierarchies

_counter = itertools.count()


def all_mountpoints() -> list[str]:
    v1, unified = mounted_hierarchies()
    return [m for _o, m, _r in v1] + ([unified[0]] if unified else [])


def leftovers(prefix: str) -> list[str]:
    """Every directory named ``prefix`` (an absolute cgroup path) that still exists anywhere."""
    return [m + prefix for m in all_mountpoints() if os.path.isdir(m + prefix)]


class TestParent:
    __test__ = False  # not a pytest class
    """A dedicated parent cgroup path; ``child(name)`` resolves a Cgroup below it."""

    def __init__(self) -> None:
        self.prefix = f"/pyrunc-test-{os.getpid()}-{next(_counter)}"
        self.made: list[Cgroup] = []
        self.procs: list[subprocess.Popen] = []

    def child(self, name: str = "c") -> Cgroup:
        cg = Cgroup.resolve(f"{self.prefix}/{name}", "unused")
        self.made.append(cg)
        return cg

    def spawn(self, *args: str, **kw) -> subprocess.Popen:
        p = subprocess.Popen(list(args), **kw)
        self.procs.append(p)
        return p

    def cleanup(self) -> None:
        errors = []
        for cg in self.made:
            try:
                cg.thaw() if cg.frozen() else None
            except Exception:
                pass
            try:
                cg.destroy()
            except Exception as e:  # keep going: remove the rest
                errors.append(e)
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        for d in leftovers(self.prefix):
            deadline = time.monotonic() + 5
            for root, dirs, _files in os.walk(d, topdown=False):
                for sub in dirs:
                    _rmdir_retry(os.path.join(root, sub), deadline)
            _rmdir_retry(d, deadline)
        if errors:
            raise errors[0]


def _rmdir_retry(d: str, deadline: float) -> None:
    while True:
        try:
            os.rmdir(d)
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def proc_cgroup(pid: int) -> dict[str, str]:
    out = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _h, ctrls, path = line.rstrip("\n").split(":", 2)
            out[ctrls] = path
    return out


def cgroup_dir(pid: int, controller: str) -> str:
    """The directory of PID's cgroup that holds CONTROLLER's files ("pids", "memory", "freezer"...),
    found from /proc/PID/cgroup and this process's mount table alone, so that a test checks the
    same thing on a v1, a hybrid and a pure v2 host: the v1 hierarchy that has the controller if
    one is mounted, else the cgroup2 hierarchy."""
    own = proc_cgroup(pid)
    with open("/proc/self/mountinfo") as f:
        mounts = mountinfo(f.read()).values()
    for m in mounts:
        if m.fstype == "cgroup" and controller in m.super_options:
            key = next((k for k in own if controller in k.split(",")), None)
            if key is not None:
                return _below_mount(m.mount_point, m.root, own[key])
    unified = next((m for m in mounts if m.fstype == "cgroup2"), None)
    if unified is None or "" not in own:
        raise LookupError(f"no hierarchy with {controller} for pid {pid}: {own}")
    return _below_mount(unified.mount_point, unified.root, own[""])


def _below_mount(mnt: str, root: str, path: str) -> str:
    """PATH (as /proc/PID/cgroup names it) inside the hierarchy mounted at MNT from ROOT."""
    if root != "/" and (path == root or path.startswith(root + "/")):
        path = path[len(root):]
    return mnt + path.rstrip("/") if path != "/" else mnt


def is_v2_dir(d: str) -> bool:
    """True if cgroup directory D is in a cgroup2 hierarchy (its files have the v2 names)."""
    return os.path.exists(os.path.join(d, "cgroup.controllers"))


# v1 file -> its cgroup2 counterpart and how a v1 value is written there (as runc converts it:
# cpu.shares to cpu.weight by ConvertCPUSharesToCgroupV2Value, quota and period into cpu.max).
_V2_COUNTERPART = {
    "freezer.state": ("cgroup.freeze", lambda v, _cur: {"FROZEN": "1", "THAWED": "0"}[v]),
    "memory.limit_in_bytes": ("memory.max", lambda v, _cur: "max" if v == "-1" else v),
    "cpu.shares": ("cpu.weight", lambda v, _cur: str(1 + (int(v) - 2) * 9999 // 262142)),
    "cpu.cfs_quota_us": ("cpu.max", lambda v, cur: ("max" if v == "-1" else v) + " " + cur.split()[1]),
    "cpu.cfs_period_us": ("cpu.max", lambda v, cur: cur.split()[0] + " " + v),
}


def check_cgroup_setting(pid: int, v1_name: str, v1_value: str) -> None:
    """Asserts that PID's cgroup has the v1 setting V1_NAME = V1_VALUE: in that file where the
    controller is a v1 hierarchy, else in its cgroup2 counterpart, converted as runc does, so an
    engine test checks the same limit on v1, hybrid and pure v2 hosts."""
    ctrl = v1_name.split(".")[0]
    d = cgroup_dir(pid, ctrl)
    name, convert = v1_name, lambda v, _cur: v
    if is_v2_dir(d):
        name, convert = _V2_COUNTERPART.get(v1_name, (v1_name, convert))
    with open(f"{d}/{name}") as f:
        got = f.read().strip()
    want = convert(v1_value, got)
    assert got == want, f"{d}/{name}: {got!r}, not {want!r} (v1 {v1_name} = {v1_value})"


def wait_for(pred, timeout: float = 10.0, what: str = "condition") -> None:
    """Poll until pred() is true; the deadline only guards against hangs, it asserts no timing."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def parent():
    """A TestParent for one test; fails the test if anything is left under it afterwards.
    (tests/conftest.py imports it, which is how pytest finds it.)"""
    tp = TestParent()
    try:
        yield tp
    finally:
        tp.cleanup()
    assert leftovers(tp.prefix) == []
