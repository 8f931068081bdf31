"""User namespaces end to end (config-linux.md#user-namespace-mappings): the maps, a rootfs
usable by the mapped root, devices bound from the host, sysfs without a network namespace,
locked mount flags kept on remount, setgroups."""
from __future__ import annotations

import os
import subprocess

import pytest

from linux_helpers import USERNS_HOST_ID, run_script, searchable


@pytest.fixture(autouse=True)
def searchable_tmp(tmp_path):
    yield from searchable(tmp_path)


def test_maps_and_root_inside(rt):
    out = run_script(rt, "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; "
                     "touch /tmp/made && echo wrote", userns=True, readonly=False)
    lines = out.split("\n")
    assert lines[0].split() == ["0", str(USERNS_HOST_ID), "65536"]
    assert lines[1].split() == ["0", str(USERNS_HOST_ID), "65536"]
    assert lines[2:5] == ["0", "0", "wrote"]


def test_files_created_are_owned_by_mapped_root(rt, tmp_path):
    out = run_script(rt, "touch /share/byroot; stat -c '%u %g' /share/byroot", userns=True)
    assert out.split() == ["0", "0"]
    st = os.stat(rt.share / "byroot")
    assert (st.st_uid, st.st_gid) == (USERNS_HOST_ID, USERNS_HOST_ID)


def test_devices_are_bound_from_host(rt):
    """mknod is refused in a user namespace: the default devices are the host's nodes."""
    out = run_script(rt, "for d in null zero full random urandom tty; do "
                     "stat -c '%n %t:%T %F' /dev/$d; done; echo x > /dev/null && echo ok; "
                     "head -c 4 /dev/zero | wc -c", userns=True)
    lines = out.splitlines()
    assert lines[:6] == ["/dev/null 1:3 character special file",
                         "/dev/zero 1:5 character special file",
                         "/dev/full 1:7 character special file",
                         "/dev/random 1:8 character special file",
                         "/dev/urandom 1:9 character special file",
                         "/dev/tty 5:0 character special file"]
    assert lines[6:] == ["ok", "4"]


def test_fifo_device_is_made_in_user_namespace(rt):
    """A `p` device needs no CAP_MKNOD: it is created, not bound (no host node needed)."""
    def edit(cfg):
        cfg["linux"]["devices"] = [{"path": "/dev/myfifo", "type": "p", "fileMode": 0o600,
                                    "uid": 7, "gid": 8}]
    out = run_script(rt, "stat -c '%F %a %u %g' /dev/myfifo", edit, userns=True)
    assert out.strip() == "fifo 600 7 8"


def test_sysfs_without_network_namespace_is_bound(rt):
    """sysfs needs the network namespace's owner: without a netns of its own the container
    gets the host's /sys bound (read-only as configured)."""
    def edit(cfg):
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                      if n["type"] != "network"]
    out = run_script(rt, "ls /sys/kernel >/dev/null && echo listed; "
                     "grep ' /sys ' /proc/self/mountinfo", edit, userns=True)
    first, mi = out.split("\n", 1)
    assert first == "listed"
    assert " ro" in mi.split(" - ")[0]


def test_sysfs_with_network_namespace_is_mounted(rt):
    out = run_script(rt, "grep ' /sys ' /proc/self/mountinfo", userns=True)
    assert " - sysfs " in out


@pytest.fixture
def locked_tmpfs(tmp_path):
    """A host tmpfs mounted nosuid,nodev,noexec: in a user namespace those flags are locked."""
    d = tmp_path / "locked"
    d.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "nosuid,nodev,noexec,mode=777", "lk", str(d)],
                   check=True)
    (d / "f").write_text("hello\n")
    yield d
    subprocess.run(["umount", "-l", str(d)], check=False)


def test_bind_remount_keeps_locked_flags(rt, locked_tmpfs):
    """A read-only bind of a nosuid,nodev,noexec mount: the remount must keep the locked
    flags (runc does the same), else the kernel refuses it in a user namespace."""
    def edit(cfg):
        cfg["mounts"].append({"destination": "/locked", "type": "bind",
                              "source": str(locked_tmpfs), "options": ["bind", "ro"]})
    out = run_script(rt, "cat /locked/f; touch /locked/g 2>/dev/null || echo readonly; "
                     "grep ' /locked ' /proc/self/mountinfo", edit, userns=True)
    lines = out.splitlines()
    assert lines[:2] == ["hello", "readonly"]
    opts = lines[2].split()[5].split(",")
    assert {"ro", "nosuid", "nodev", "noexec"} <= set(opts)


def test_setgroups_and_additional_gids(rt):
    """Host supplementary groups are dropped; additionalGids are set inside the namespace."""
    def edit(cfg):
        cfg["process"]["user"]["additionalGids"] = [5, 7]
    out = run_script(rt, "grep Groups /proc/self/status; cat /proc/self/setgroups", edit,
                     userns=True)
    assert out.split() == ["Groups:", "5", "7", "allow"]


def test_unsearchable_rootfs_parent_is_a_clear_error(rt, tmp_path):
    """A rootfs the mapped root cannot walk to: refused naming root.path, nothing created."""
    from linux_helpers import add_userns, create_fails
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)

    def edit(cfg):
        add_userns(cfg)
        cfg["root"]["path"] = str(locked / "rootfs")

    def prepare(b):
        (b / "rootfs").rename(locked / "rootfs")
    r = create_fails(rt, edit, prepare=prepare)
    assert "root.path:" in r.stderr and "cannot be searched" in r.stderr


def _userns_holder(mapping: str) -> tuple[int, int]:
    """A child process in a new user namespace with `mapping` as uid and gid map; returns
    (pid, write end of the pipe that keeps it alive)."""
    r, w = os.pipe()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(w)
            os.close(ready_r)
            import ctypes
            if ctypes.CDLL(None, use_errno=True).unshare(0x10000000) != 0:  # CLONE_NEWUSER
                os._exit(1)
            os.write(ready_w, b"1")
            os.read(r, 1)
        finally:
            os._exit(0)
    os.close(r)
    os.close(ready_w)
    os.read(ready_r, 1)
    os.close(ready_r)
    for f in ("uid_map", "gid_map"):
        with open(f"/proc/{pid}/{f}", "w") as fh:
            fh.write(mapping)
    return pid, w


def test_joined_user_namespace_by_path(rt):
    """A user namespace joined by path: the container runs as that namespace's root."""
    pid, keep = _userns_holder("0 0 65536\n")
    try:
        ns = f"/proc/{pid}/ns/user"

        def edit(cfg):
            cfg["linux"]["namespaces"].append({"type": "user", "path": ns})
        out = run_script(rt, "cat /proc/self/uid_map; readlink /proc/self/ns/user", edit)
        lines = out.splitlines()
        assert lines[0].split() == ["0", "0", "65536"]
        assert lines[1] == os.readlink(ns)
    finally:
        os.close(keep)
        os.waitpid(pid, 0)


def test_a_rootfs_the_container_root_reaches_by_capability_is_accepted(rt, tmp_path):
    """The mapping 0 -> host 1, 1 -> host 0 and a rootfs below a 0700 directory of host root's:
    the mode bits forbid the container's root (host uid 1) to search it, but host root is
    mapped in its user namespace, so its CAP_DAC_READ_SEARCH there counts (the kernel's
    capable_wrt_inode_uidgid) and runc runs it.  The check must model that (issue 18)."""
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    swapped = [{"containerID": 0, "hostID": 1, "size": 1},
               {"containerID": 1, "hostID": 0, "size": 1}]

    def edit(cfg):
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = swapped
        cfg["linux"]["gidMappings"] = swapped
        cfg["root"]["path"] = str(locked / "rootfs")
        for m in cfg["mounts"]:  # gid 5 (tty) is not mapped
            m["options"] = [o for o in m.get("options", []) if o != "gid=5"]
    b = rt.bundle(["true"], edit)
    (b / "rootfs").rename(locked / "rootfs")
    cid = rt.new_id()
    rt.ok("create", "--bundle", b, cid)
    rt.ok("delete", "--force", cid)


def test_a_bind_source_the_container_root_cannot_reach_is_mounted(rt, tmp_path):
    """runc opens bind sources on the host side before it enters the user namespace (its
    _LIBCONTAINER_MOUNT_FDS): a source below a 0700 directory of host root's, which the
    container's root (host uid 100000) cannot walk to, is mounted all the same (issue 18),
    keeping the flags of the mount it is on."""
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    (locked / "vol").mkdir()
    (locked / "vol" / "f").write_text("reached\n")

    def edit(cfg):
        cfg["mounts"].append({"destination": "/vol", "type": "bind",
                              "source": str(locked / "vol"), "options": ["rbind", "ro"]})
    out = run_script(rt, "cat /vol/f; touch /vol/g 2>/dev/null || echo readonly", edit,
                     userns=True)
    assert out.split() == ["reached", "readonly"], out
