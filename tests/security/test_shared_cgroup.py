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

import pytest

from conformance import leftovers
from conformance.bundle import CGROUP_PARENT
from conformance.linux import skip_on_runc


class HostCgroup:
    """A cgroup in every hierarchy holding a host process of the test's own."""

    def __init__(self, name: str) -> None:
        self.path = f"{CGROUP_PARENT}/{name}"
        self.dirs = leftovers.make_cgroup(self.path)
        self.victim = subprocess.Popen(["sleep", "600"])
        for d in self.dirs:
            (d / "cgroup.procs").write_text(str(self.victim.pid))

    def remove(self) -> None:
        self.victim.kill()
        self.victim.wait()
        for d in self.dirs:
            assert leftovers.remove_cgroup(d) is None


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
