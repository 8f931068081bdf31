"""config-linux.md#user-namespace-mappings and #namespaces (user): a container in a new user
namespace runs as the mapped root, its files belong to the mapped ids on the host, and the
mounts it needs (devices, sysfs) work there."""
from __future__ import annotations

import os

import pytest

from conformance.linux import USERNS_HOST_ID, run_script, searchable, skip_on_runc


@pytest.fixture(autouse=True)
def searchable_tmp(tmp_path):
    yield from searchable(tmp_path)


def test_uid_gid_mappings(rt):
    """config-linux.md#user-namespace-mappings: uidMappings/gidMappings are the process's
    uid_map/gid_map; the process is root inside."""
    out = run_script(rt, "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g",
                     userns=True)
    lines = out.splitlines()
    assert lines[0].split() == ["0", str(USERNS_HOST_ID), "65536"]
    assert lines[1].split() == ["0", str(USERNS_HOST_ID), "65536"]
    assert lines[2:] == ["0", "0"]


def test_new_user_namespace(rt):
    """config-linux.md#namespaces user: the container has a user namespace of its own."""
    out = run_script(rt, "readlink /proc/self/ns/user", userns=True)
    assert out.strip() != os.readlink("/proc/self/ns/user")


def test_files_created_belong_to_mapped_ids(rt):
    """config-linux.md#user-namespace-mappings: container root is host uid 100000."""
    run_script(rt, "touch /share/byroot", userns=True)
    st = os.stat(rt.share / "byroot")
    assert (st.st_uid, st.st_gid) == (USERNS_HOST_ID, USERNS_HOST_ID)


def test_default_devices_in_user_namespace(rt):
    """config-linux.md#default-devices hold in a user namespace too (where mknod is not
    allowed, runtimes bind the host's nodes)."""
    out = run_script(rt, "for d in null zero full random urandom tty; do "
                     "stat -c '%t:%T' /dev/$d; done; echo x > /dev/null && echo ok", userns=True)
    assert out.split() == ["1:3", "1:5", "1:7", "1:8", "1:9", "5:0", "ok"]


def test_sysfs_without_network_namespace(rt, runtime):
    """config.md#mounts: /sys is available in a user namespace that shares the host's
    network namespace (runtimes bind the host's /sys then)."""
    skip_on_runc(runtime, "the /sys bind fallback (sysfs mount EPERM in a user namespace "
                 "without a network namespace)")
    def edit(cfg):
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                      if n["type"] != "network"]
    out = run_script(rt, "ls /sys/kernel > /dev/null && echo listed", edit, userns=True)
    assert out.strip() == "listed"
