"""process.selinuxLabel, exec --process-label and linux.mountLabel on a host with SELinux (issue
12): the SELinux variant of the guest lane (`make test-vm VM_LSM=selinux`, Debian's
selinux-policy-default, permissive), skipped elsewhere; tests/test_plan_selinux.py checks the
plans on every host.

The labels are the policy's own container types where it defines them (lxc_contexts: container_t
and container_file_t), else types every refpolicy has; with MCS categories where the policy has
them, so create and exec can be given labels that differ.
"""
from __future__ import annotations

import os

import pytest

from pyrunc.plan import selinux
from tests.helpers_exec import running

pytestmark = pytest.mark.skipif(not selinux.enabled(), reason="SELinux is not enabled")


def _defined(label: str) -> bool:
    """The kernel's check (selinuxfs `context`): is ``label`` a context of the loaded policy?"""
    fd = os.open(selinux.SELINUXFS + "/context", os.O_RDWR)
    try:
        os.write(fd, label.encode())
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _first(*labels: str) -> str:
    for label in labels:
        if _defined(label):
            return label
    pytest.fail(f"the loaded policy defines none of {labels}")


@pytest.fixture(scope="module")
def labels() -> tuple[str, str, str]:
    """(the container's process label, another one for exec, a file label for mounts)."""
    proc = _first("system_u:system_r:container_t:s0", "system_u:system_r:unconfined_t:s0")
    if _defined(proc + ":c1,c2"):
        return proc + ":c1,c2", proc + ":c3,c4", _first(
            "system_u:object_r:container_file_t:s0:c1,c2", "system_u:object_r:tmpfs_t:s0:c1,c2")
    other = _first("unconfined_u:unconfined_r:unconfined_t:s0", "system_u:system_r:initrc_t:s0")
    return proc, other, _first("system_u:object_r:container_file_t:s0",
                               "system_u:object_r:tmpfs_t:s0")


def _label(label):
    def edit(cfg):
        cfg["process"]["selinuxLabel"] = label
    return edit


def _current(text: str) -> str:
    return text.strip().rstrip("\0")


def test_the_container_runs_with_its_label(rt, labels):
    out = rt.script_output("cat /proc/self/attr/current", _label(labels[0]))
    assert _current(out) == labels[0]


def test_exec_gets_the_containers_label_or_process_label(rt, labels):
    cid = running(rt, config_edit=_label(labels[0]))
    cur = rt.ok("exec", cid, "cat", "/proc/self/attr/current").stdout
    assert _current(cur) == labels[0]
    cur = rt.ok("exec", "--process-label", labels[1], cid, "cat",
                "/proc/self/attr/current").stdout
    assert _current(cur) == labels[1]
    rt.kill_and_delete(cid)


def test_a_tmpfs_carries_the_mount_label(rt, labels):
    def edit(cfg):
        cfg["linux"]["mountLabel"] = labels[2]
        cfg["mounts"].append({"destination": "/labelled", "type": "tmpfs", "source": "tmpfs",
                              "options": ["mode=755"]})
    cid = running(rt, config_edit=edit)
    pid = rt.state(cid)["pid"]
    for path in ("/labelled", "/dev/shm", "/dev/mqueue"):
        got = os.getxattr(f"/proc/{pid}/root{path}", "security.selinux")
        assert got.rstrip(b"\0").decode() == labels[2], path
    rt.kill_and_delete(cid)


@pytest.mark.parametrize("field", ["process.selinuxLabel", "linux.mountLabel"])
def test_a_label_the_policy_does_not_know_is_one_clear_error(rt, field):
    from conformance.linux import create_fails
    bad = "system_u:system_r:pyrunc_no_such_t:s0"

    def edit(cfg):
        section, key = field.split(".")
        cfg[section][key] = bad
    r = create_fails(rt, edit)
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and bad in err and field in err, err


def test_exec_with_an_unknown_label_is_one_clear_error(rt, labels):
    cid = running(rt, config_edit=_label(labels[0]))
    bad = "system_u:system_r:pyrunc_no_such_t:s0"
    r = rt("exec", "--process-label", bad, cid, "true")
    assert r.returncode != 0
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and bad in err, err
    rt.kill_and_delete(cid)


def test_features_reports_selinux(rt):
    import json
    assert json.loads(rt.ok("features").stdout)["linux"]["selinux"] == {"enabled": True}
