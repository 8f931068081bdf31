"""config.md#mounts (Linux options) and config-linux.md#rootfs-mount-propagation, checked
from /proc/self/mountinfo inside the container."""
from __future__ import annotations

import os
import subprocess

import pytest

from conformance.linux import (USERNS_HOST_ID, host_tree, mountinfo,  # noqa: F401
                               run_script, skip_on_runc)


def tmpfs_at(dest, options):
    def edit(cfg):
        cfg["mounts"].append({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                              "options": options})
    return edit


def bind(source, dest, options):
    def edit(cfg):
        cfg["mounts"].append({"destination": dest, "type": "bind", "source": str(source),
                              "options": options})
    return edit


@pytest.mark.parametrize("options,present", [
    (["ro"], "ro"), (["nosuid"], "nosuid"), (["nodev"], "nodev"), (["noexec"], "noexec"),
    (["noatime"], "noatime"), (["nodiratime"], "nodiratime"), (["relatime"], "relatime")])
def test_mount_flag_options(rt, options, present):
    """config.md#mounts options: mount(8) flags are applied to the mount."""
    out = run_script(rt, "cat /proc/self/mountinfo", tmpfs_at("/m", options))
    assert present in mountinfo(out)["/m"].options


def test_mount_data_options(rt):
    """config.md#mounts options: filesystem options reach the filesystem."""
    out = run_script(rt, "cat /proc/self/mountinfo", tmpfs_at("/m", ["mode=700", "size=1m"]))
    assert {"mode=700", "size=1024k"} <= mountinfo(out)["/m"].super_options


def test_bind_and_rbind(rt, host_tree):
    """config.md#mounts: `bind` does not take submounts along, `rbind` does."""
    def edit(cfg):
        bind(host_tree, "/b", ["bind"])(cfg)
        bind(host_tree, "/r", ["rbind"])(cfg)
    out = run_script(rt, "cat /b/file; ls /b/sub | wc -l; cat /r/sub/inner", edit)
    assert out.split() == ["top", "0", "inner"]


def test_bind_read_only(rt, host_tree):
    """config.md#mounts: a bind with `ro` (and nosuid/nodev/noexec) is remounted so."""
    out = run_script(rt, "cat /proc/self/mountinfo; touch /b/x 2>/dev/null || echo readonly",
                     bind(host_tree, "/b", ["bind", "ro", "nosuid", "nodev", "noexec"]))
    assert out.rstrip().endswith("readonly")
    assert {"ro", "nosuid", "nodev", "noexec"} <= mountinfo(out)["/b"].options


def test_recursive_read_only(rt, host_tree):
    """config.md#mounts options: `rro` makes every submount read-only (mount_setattr)."""
    out = run_script(rt, "cat /proc/self/mountinfo", bind(host_tree, "/b", ["rbind", "rro"]))
    mi = mountinfo(out)
    assert "ro" in mi["/b"].options and "ro" in mi["/b/sub"].options


@pytest.mark.parametrize("opt,expect", [
    ("private", set()), ("rprivate", set()), ("shared", {"shared"}), ("rshared", {"shared"}),
    ("slave", {"master"}), ("rslave", {"master"}), ("unbindable", {"unbindable"}),
    ("runbindable", {"unbindable"})])
def test_bind_propagation_options(rt, tmp_path, opt, expect):
    """config.md#mounts options: propagation options set the mount's propagation."""
    src = tmp_path / "propsrc"
    src.mkdir()
    subprocess.run(["mount", "--bind", str(src), str(src)], check=True)
    subprocess.run(["mount", "--make-shared", str(src)], check=True)
    try:
        out = run_script(rt, "cat /proc/self/mountinfo", bind(src, "/p", ["rbind", opt]))
    finally:
        subprocess.run(["umount", "-l", str(src)], check=False)
    got = mountinfo(out)["/p"].propagation
    assert expect <= got
    if not expect:
        assert not got & {"shared", "unbindable"}
    if opt.endswith("slave"):  # follows the shared source, is no peer of its own
        assert "shared" not in got
    if opt.endswith("unbindable"):
        assert got == expect


def test_tmpcopyup(rt):
    """config.md#mounts: `tmpcopyup` (runc extension listed in `features`) fills the tmpfs
    with the directory it covers."""
    def prepare(b):
        (b / "rootfs" / "data" / "sub").mkdir(parents=True)
        (b / "rootfs" / "data" / "sub" / "a").write_text("alpha\n")
    out = run_script(rt, "cat /data/sub/a; grep ' /data ' /proc/self/mountinfo",
                     tmpfs_at("/data", ["tmpcopyup"]), prepare=prepare)
    first, line = out.split("\n", 1)
    assert first == "alpha" and " - tmpfs " in line


def test_idmapped_mount(rt, runtime, tmp_path):
    """config.md#mounts uidMappings/gidMappings: an id-mapped bind mount."""
    skip_on_runc(runtime, "id-mapped mounts (runc 1.2)")
    src = tmp_path / "idsrc"
    src.mkdir()
    (src / "f").write_text("x\n")
    m = [{"containerID": 0, "hostID": USERNS_HOST_ID, "size": 65536}]

    def edit(cfg):
        cfg["mounts"].append({"destination": "/id", "type": "bind", "source": str(src),
                              "options": ["rbind"], "uidMappings": m, "gidMappings": m})
    out = run_script(rt, "stat -c '%u %g' /id/f", edit)
    assert out.strip() == f"{USERNS_HOST_ID} {USERNS_HOST_ID}"


@pytest.fixture
def shared_rootfs(rt):
    made = []

    def make(edit):
        b = rt.bundle(["sh", "-c", "exec > /share/out 2>&1; cat /proc/self/mountinfo"], edit,
                      share=True)
        r = str(b / "rootfs")
        subprocess.run(["mount", "--bind", r, r], check=True)
        subprocess.run(["mount", "--make-shared", r], check=True)
        made.append(r)
        return b
    yield make
    for r in made:
        subprocess.run(["umount", "-l", r], check=False)


@pytest.mark.parametrize("prop,expect", [("private", set()), ("slave", {"master"}),
                                         ("shared", {"shared"}),
                                         ("unbindable", {"unbindable"})])
def test_rootfs_propagation(rt, runtime, shared_rootfs, prop, expect):
    """config-linux.md#rootfs-mount-propagation: the rootfs mount gets the propagation."""
    if prop in ("shared", "slave", "unbindable"):
        skip_on_runc(runtime, f"rootfsPropagation {prop} (its rootfs bind fails or ends "
                     "private)")
    b = shared_rootfs(lambda cfg: cfg["linux"].__setitem__("rootfsPropagation", prop))
    rt.run_to_exit(b)
    got = mountinfo((rt.share / "out").read_text())["/"].propagation
    assert expect <= got
    if not expect:
        assert not got & {"shared", "master", "unbindable"}


def test_mounts_resolved_inside_rootfs(rt, tmp_path):
    """config.md#mounts destination: a symlink in the image cannot send a mount (and the
    directories it needs) out of the rootfs."""
    victim = tmp_path / "victim"
    victim.mkdir()

    def prepare(b):
        os.symlink(str(victim), b / "rootfs" / "mnt" / "evil")
    run_script(rt, "true", tmpfs_at("/mnt/evil/sub", []), prepare=prepare)
    assert os.listdir(victim) == []
