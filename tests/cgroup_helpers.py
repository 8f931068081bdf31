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
