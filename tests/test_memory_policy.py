"""linux.memoryPolicy (runtime-spec 1.3 config-linux.md#memory-policy): set_mempolicy(2) for
the container's process, inherited by what it forks and execs, and by `exec`'d processes (as
runc's setns init does).  /proc/self/numa_maps shows the task's policy on every mapping that
has none of its own ("interleave:0", "bind:0").  The hosts have one NUMA node, node0."""
from __future__ import annotations

import pytest

from linux_helpers import create_fails, run_script, skip_on_runc

LACKS = "linux.memoryPolicy (runtime-spec 1.3)"


def _policy(**mp):
    def edit(cfg):
        cfg["ociVersion"] = "1.3.0"
        cfg["linux"]["memoryPolicy"] = mp
    return edit


def _policies(out: str) -> set[str]:
    return {line.split()[1] for line in out.splitlines() if len(line.split()) > 1}


@pytest.mark.parametrize("mp,want", [
    ({"mode": "MPOL_INTERLEAVE", "nodes": "0"}, "interleave:0"),
    ({"mode": "MPOL_BIND", "nodes": "0"}, "bind:0"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}, "bind=static:0"),
    ({"mode": "MPOL_PREFERRED", "nodes": "0"}, "prefer:0"),
    ({"mode": "MPOL_LOCAL"}, "local"),
    ({"mode": "MPOL_DEFAULT"}, "default"),
], ids=["interleave", "bind", "bind-static", "preferred", "local", "default"])
def test_policy_is_the_container_process(rt, mp, want):
    skip_on_runc(rt.path, LACKS)
    # the shell's own mappings and those of a child it forks and execs
    out = run_script(rt, "cat /proc/self/numa_maps; sh -c 'cat /proc/self/numa_maps'",
                     _policy(**mp))
    assert _policies(out) == {want}, out


def test_exec_gets_the_policy(rt):
    skip_on_runc(rt.path, LACKS)
    b = rt.bundle(["sleep", "1000"], _policy(mode="MPOL_INTERLEAVE", nodes="0"))
    cid = rt.create(b)
    rt.ok("start", cid)
    r = rt.ok("exec", cid, "cat", "/proc/self/numa_maps")
    assert _policies(r.stdout) == {"interleave:0"}, r.stdout
    rt.kill_and_delete(cid)


@pytest.mark.parametrize("mp,path,phrase", [
    ({"mode": "MPOL_SIDEWAYS", "nodes": "0"}, "linux.memoryPolicy.mode", "MPOL_SIDEWAYS"),
    ({"nodes": "0"}, "linux.memoryPolicy.mode", "required"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_LOUD"]},
     "linux.memoryPolicy.flags[0]", "MPOL_F_LOUD"),
    ({"mode": "MPOL_BIND", "nodes": "0",
      "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]},
     "linux.memoryPolicy.flags", "exclude"),
    ({"mode": "MPOL_BIND", "nodes": "zero"}, "linux.memoryPolicy.nodes", "node list"),
    ({"mode": "MPOL_BIND", "nodes": "3-1"}, "linux.memoryPolicy.nodes", "node range"),
    ({"mode": "MPOL_BIND", "nodes": "4096"}, "linux.memoryPolicy.nodes", "node range"),
    ({"mode": "MPOL_BIND"}, "linux.memoryPolicy.nodes", "at least one node"),
    ({"mode": "MPOL_INTERLEAVE", "nodes": ""}, "linux.memoryPolicy.nodes", "at least one"),
    ({"mode": "MPOL_LOCAL", "nodes": "0"}, "linux.memoryPolicy.nodes", "takes no nodes"),
    ({"mode": "MPOL_DEFAULT", "nodes": "0-1"}, "linux.memoryPolicy.nodes", "takes no nodes"),
    ({"mode": 2, "nodes": "0"}, "linux.memoryPolicy.mode", "string"),
    # a node the host does not have: the kernel's EINVAL, worded with the policy
    ({"mode": "MPOL_BIND", "nodes": "7"}, "linux.memoryPolicy",
     "set_mempolicy MPOL_BIND nodes 7: invalid argument"),
], ids=["mode", "no-mode", "flag", "two-flags", "nodes-syntax", "nodes-order", "nodes-big",
        "bind-no-nodes", "interleave-empty", "local-nodes", "default-nodes", "mode-type",
        "absent-node"])
def test_bad_policy_is_one_clear_error(rt, mp, path, phrase):
    skip_on_runc(rt.path, LACKS)
    r = create_fails(rt, _policy(**mp))
    err = r.stderr.strip()
    assert r.returncode == 1 and len(err.splitlines()) == 1, err
    assert f"{path}:" in err and phrase in err, err


def test_not_an_object(rt):
    skip_on_runc(rt.path, LACKS)
    r = create_fails(rt, lambda c: c["linux"].__setitem__("memoryPolicy", "MPOL_BIND"))
    assert "linux.memoryPolicy: must be an object" in r.stderr, r.stderr
