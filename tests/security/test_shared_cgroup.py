"""A config that names a cgroup the host's processes are in (issue 16, hole 4).

With linux.cgroupsPath naming an existing cgroup that also holds a host process, and the
container in a pid namespace of its own, `delete -f` SIGKILLed that host process.  runc kills
only the container (the kernel takes every process of its pid namespace with its init) and
signals a whole cgroup only when the container shares a pid namespace.  A config naming, say,
a service's cgroup must never cost the host that service.  The marker: the test's own `sleep`,
moved into that cgroup, must survive `delete -f`, `kill --all` and a plain delete.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from conformance import leftovers
from conformance.bundle import CGROUP_PARENT
from conformance.linux import skip_on_runc


class HostCgroup:
    """A cgroup in every hierarchy holding a host process of the test's own."""

    def __init__(self, name: str) -> None:
        self.path = f"{CGROUP_PARENT}/{name}"
        self.dirs = []
        for h in leftovers.hierarchies():
            d = h
            for part in self.path.strip("/").split("/"):
                d = d / part
                d.mkdir(exist_ok=True)
                for f in ("cpuset.cpus", "cpuset.mems"):  # a v1 cpuset starts empty
                    if (d / f).exists() and not (d / f).read_text().strip():
                        (d / f).write_text((d.parent / f).read_text())
            self.dirs.append(d)
        self.victim = subprocess.Popen(["sleep", "600"])
        for d in self.dirs:
            (d / "cgroup.procs").write_text(str(self.victim.pid))

    def remove(self) -> None:
        self.victim.kill()
        self.victim.wait()
        deadline = time.monotonic() + 10
        for d in self.dirs:
            for sub in sorted((p for p in d.rglob("*") if p.is_dir()), reverse=True):
                sub.rmdir()
            while d.exists():
                try:
                    d.rmdir()
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)


@pytest.fixture
def host_cgroup(rt):
    cg = HostCgroup(f"{rt.token}-host")
    try:
        yield cg
    finally:
        cg.remove()


def _bundle(rt, host_cgroup):
    return rt.bundle(["sleep", "100"], cgroups_path=host_cgroup.path)


@pytest.mark.parametrize("how", ["delete -f of a running container",
                                 "delete -f of a created container",
                                 "kill --all, then delete"])
def test_the_hosts_process_in_the_named_cgroup_survives(rt, runtime, host_cgroup, how):
    if how.startswith("kill --all"):
        skip_on_runc(runtime, "kill --all limited to the container's own pid namespace (it "
                              "signals every process in the cgroup)")
    cid = rt.create(_bundle(rt, host_cgroup))
    if how != "delete -f of a created container":
        rt.ok("start", cid)
    if how.startswith("kill --all"):
        rt.ok("kill", "--all", cid, "KILL")
        rt.wait_stopped(cid)
        rt("delete", cid)
    else:
        rt("delete", "--force", cid)
    assert host_cgroup.victim.poll() is None, f"{how} killed the host's process"
    assert rt("state", cid).returncode != 0
