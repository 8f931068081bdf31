"""config.md#mounts on Linux: every option kind runc's `features` lists, bind/rbind flags,
propagation, recursive attributes, tmpcopyup, id-mapped mounts, rootfsPropagation and
--no-pivot; all checked from /proc/self/mountinfo inside real containers."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from linux_helpers import (USERNS_HOST_ID, host_tree, mountinfo,  # noqa: F401
                           open_path_to, restore_modes, run_script)


def tmpfs_at(dest, options):
    def edit(cfg):
        cfg["mounts"].append({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                              "options": options})
    return edit


FLAG_CASES = [
    (["ro"], {"ro"}, set()),
    (["nosuid"], {"nosuid"}, set()),
    (["nodev"], {"nodev"}, set()),
    (["noexec"], {"noexec"}, set()),
    (["noatime"], {"noatime"}, set()),
    (["nodiratime"], {"nodiratime"}, set()),
    (["relatime"], {"relatime"}, set()),
    (["strictatime"], set(), {"relatime", "noatime"}),
    (["nosymfollow"], {"nosymfollow"}, set()),
    (["ro", "rw"], {"rw"}, {"ro"}),
    (["nosuid", "suid", "nodev", "dev", "noexec", "exec"], set(), {"nosuid", "nodev", "noexec"}),
    (["noatime", "atime"], set(), {"noatime"}),
    (["nodiratime", "diratime"], set(), {"nodiratime"}),
    (["nosymfollow", "symfollow"], set(), {"nosymfollow"}),
    (["defaults"], {"rw"}, set()),
]


@pytest.mark.parametrize("options,present,absent", FLAG_CASES,
                         ids=["-".join(c[0]) for c in FLAG_CASES])
def test_flag_options(rt, options, present, absent):
    out = run_script(rt, "cat /proc/self/mountinfo", tmpfs_at("/m", options))
    m = mountinfo(out)["/m"]
    assert present <= m.options, m.options
    assert not (absent & m.options), m.options


@pytest.mark.parametrize("option,super_option", [
    ("sync", "sync"), ("dirsync", "dirsync"), ("lazytime", "lazytime"),
    ("mode=700", "mode=700"), ("size=1m", "size=1024k")])
def test_superblock_and_data_options(rt, option, super_option):
    out = run_script(rt, "cat /proc/self/mountinfo", tmpfs_at("/m", [option]))
    m = mountinfo(out)["/m"]
    assert super_option in m.super_options | m.options, (m.options, m.super_options)


@pytest.mark.parametrize("option", ["async", "loud", "silent", "iversion", "noiversion",
                                    "nolazytime", "norelatime", "nostrictatime", "acl",
                                    "noacl", "nomand"])
def test_other_flag_options_accepted(rt, option):
    """Options without a visible effect on a tmpfs are still accepted as flags, not passed to
    the filesystem as data (which tmpfs would refuse)."""
    out = run_script(rt, "grep -c ' /m ' /proc/self/mountinfo", tmpfs_at("/m", [option]))
    assert out.strip() == "1"


def bind(source, dest, options):
    def edit(cfg):
        cfg["mounts"].append({"destination": dest, "type": "bind", "source": str(source),
                              "options": options})
    return edit


def test_bind_ro_is_not_recursive_rro_is(rt, host_tree):
    """`ro` on an rbind remounts the top mount only; `rro` (mount_setattr AT_RECURSIVE)
    makes the submounts read-only too."""
    out = run_script(rt, "cat /proc/self/mountinfo",
                     lambda c: (bind(host_tree, "/a", ["rbind", "ro"])(c),
                                bind(host_tree, "/b", ["rbind", "rro"])(c)))
    mi = mountinfo(out)
    assert "ro" in mi["/a"].options and "rw" in mi["/a/sub"].options
    assert "ro" in mi["/b"].options and "ro" in mi["/b/sub"].options


@pytest.mark.parametrize("opt,present", [
    ("rnosuid", "nosuid"), ("rnodev", "nodev"), ("rnoexec", "noexec"),
    ("rnoatime", "noatime"), ("rnodiratime", "nodiratime"), ("rnosymfollow", "nosymfollow"),
    ("rrelatime", "relatime")])
def test_recursive_attributes(rt, host_tree, opt, present):
    out = run_script(rt, "cat /proc/self/mountinfo", bind(host_tree, "/b", ["rbind", opt]))
    mi = mountinfo(out)
    assert present in mi["/b"].options and present in mi["/b/sub"].options


def test_recursive_attribute_clear(rt, host_tree):
    """rro then rrw: the later option wins, recursively."""
    out = run_script(rt, "cat /proc/self/mountinfo",
                     bind(host_tree, "/b", ["rbind", "rro", "rrw"]))
    mi = mountinfo(out)
    assert "rw" in mi["/b"].options and "rw" in mi["/b/sub"].options


def test_tmpcopyup(rt):
    """tmpcopyup: the tmpfs starts with the contents of the directory it covers (files,
    directories, symlinks, modes, owners) and is writable."""
    def prepare(b):
        d = b / "rootfs" / "data"
        (d / "sub").mkdir(parents=True)
        (d / "a").write_text("alpha\n")
        os.chmod(d / "a", 0o604)
        os.chown(d / "a", 12, 34)
        (d / "sub" / "b").write_text("beta\n")
        os.symlink("sub/b", d / "link")
        os.mkfifo(d / "fifo")
    out = run_script(rt, "cat /data/a /data/link; stat -c '%a %u %g' /data/a; "
                     "test -p /data/fifo && echo fifo; echo new > /data/c && cat /data/c; "
                     "grep ' /data ' /proc/self/mountinfo",
                     tmpfs_at("/data", ["tmpcopyup", "mode=755"]), prepare=prepare)
    lines = out.splitlines()
    assert lines[:5] == ["alpha", "beta", "604 12 34", "fifo", "new"]
    assert " - tmpfs " in lines[5]


def test_tmpcopyup_read_only(rt):
    def prepare(b):
        (b / "rootfs" / "data").mkdir()
        (b / "rootfs" / "data" / "a").write_text("alpha\n")
    out = run_script(rt, "cat /data/a; touch /data/x 2>/dev/null || echo readonly",
                     tmpfs_at("/data", ["tmpcopyup", "ro"]), prepare=prepare)
    assert out.split() == ["alpha", "readonly"]


def test_idmapped_bind_mount(rt, tmp_path):
    """Mount uidMappings/gidMappings: files owned by 0 on disk appear as host uid 100000
    (which is what an unmapped container root sees as 100000)."""
    src = tmp_path / "idsrc"
    src.mkdir()
    (src / "f").write_text("x\n")
    os.chown(src / "f", 0, 0)
    os.chown(src / "f", 0, 0)

    def edit(cfg):
        cfg["mounts"].append({"destination": "/id", "type": "bind", "source": str(src),
                              "options": ["rbind"],
                              "uidMappings": [{"containerID": 0, "hostID": USERNS_HOST_ID,
                                               "size": 65536}],
                              "gidMappings": [{"containerID": 0, "hostID": USERNS_HOST_ID,
                                               "size": 65536}]})
    out = run_script(rt, "stat -c '%u %g' /id/f; grep ' /id ' /proc/self/mountinfo", edit)
    first, line = out.split("\n", 1)
    assert first == f"{USERNS_HOST_ID} {USERNS_HOST_ID}"
    assert "idmapped" in line


def test_idmapped_mount_in_user_namespace(rt, tmp_path):
    """The usual use: a root-owned host directory used by a user-namespaced container whose
    root is host 100000 — through the id-mapped mount it owns the files."""
    changed = open_path_to(tmp_path)
    try:
        src = tmp_path / "idsrc"
        src.mkdir()
        (src / "f").write_text("x\n")

        def edit(cfg):
            m = [{"containerID": 0, "hostID": USERNS_HOST_ID, "size": 65536}]
            cfg["mounts"].append({"destination": "/id", "type": "bind", "source": str(src),
                                  "options": ["rbind"], "uidMappings": m, "gidMappings": m})
        out = run_script(rt, "stat -c '%u %g' /id/f; echo more >> /id/f && echo appended",
                         edit, userns=True)
        assert out.split("\n")[:2] == ["0 0", "appended"]
        st = os.stat(src / "f")
        assert (st.st_uid, st.st_gid) == (0, 0)
    finally:
        restore_modes(changed)


@pytest.fixture
def shared_rootfs_bundle(rt):
    """A bundle whose rootfs is a shared mount on the host, so that a slave has a master."""
    holder = {}

    def make(edit):
        b = rt.bundle(["sh", "-c", "exec > /share/out 2>&1; cat /proc/self/mountinfo"], edit,
                      share=True)
        r = str(b / "rootfs")
        subprocess.run(["mount", "--bind", r, r], check=True)
        subprocess.run(["mount", "--make-shared", r], check=True)
        holder["r"] = r
        return b
    yield make
    if "r" in holder:
        subprocess.run(["umount", "-l", holder["r"]], check=False)


@pytest.mark.parametrize("prop,expect", [
    ("shared", {"shared"}), ("rshared", {"shared"}), ("slave", {"master"}),
    ("rslave", {"master"}), ("private", set()), ("rprivate", set()),
    ("unbindable", {"unbindable"}), ("runbindable", {"unbindable"})])
def test_rootfs_propagation(rt, shared_rootfs_bundle, prop, expect):
    """config-linux.md#rootfs-mount-propagation, with a shared host mount as the rootfs."""
    def edit(cfg):
        cfg["linux"]["rootfsPropagation"] = prop
    b = shared_rootfs_bundle(edit)
    rt.run_to_exit(b)
    got = mountinfo((rt.share / "out").read_text())["/"].propagation
    assert expect <= got
    if not expect:
        assert not got & {"shared", "master", "unbindable"}
    if "master" in expect:
        assert "shared" not in got


def test_root_readonly(rt):
    out = run_script(rt, "touch /x 2>/dev/null || echo readonly; cat /proc/self/mountinfo",
                     readonly=True)
    first, mi = out.split("\n", 1)
    assert first == "readonly" and "ro" in mountinfo(mi)["/"].options


@pytest.fixture
def tmpfs_bundle(rt, tmp_path):
    """A bundle whose rootfs is a tmpfs (pivot_root cannot leave a ramfs/tmpfs initramfs)."""
    b = rt.bundle(["sh", "-c", "exec > /share/out 2>&1; grep ' / / ' /proc/self/mountinfo; "
                   "ls /"], share=True)
    shutil.rmtree(b / "rootfs")
    (b / "rootfs").mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "rootfs", str(b / "rootfs")],
                   check=True)
    try:
        shutil.rmtree(b / "rootfs")
    except OSError:
        pass
    import conformance.bundle as cb
    for e in os.listdir(cb.template_rootfs()):
        s, d = cb.template_rootfs() / e, b / "rootfs" / e
        if s.is_dir() and not s.is_symlink():
            shutil.copytree(s, d, symlinks=True)
        else:
            shutil.copy2(s, d, follow_symlinks=False)
    yield b
    subprocess.run(["umount", "-l", str(b / "rootfs")], check=False)


def test_no_pivot_with_tmpfs_root(rt, tmpfs_bundle):
    cid = rt.new_id()
    rt.ok("create", "--no-pivot", "--bundle", tmpfs_bundle, cid)
    rt.ok("start", cid)
    rt.wait_stopped(cid)
    rt.ok("delete", cid)
    out = (rt.share / "out").read_text()
    assert " - tmpfs " in out.splitlines()[0]
    assert "bin" in out.split()


def test_no_mount_namespace_inherits_the_runtimes(rt):
    """config-linux.md#namespaces: without a mount namespace in the config the container
    inherits the runtime's; it is chrooted into its rootfs, and its mounts (made in the
    runtime's namespace, as with runc and crun) stay until removed."""
    def edit(cfg):
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                      if n["type"] != "mount"]
    b = rt.bundle(["sh", "-c", "exec > /share/out 2>&1; readlink /proc/self/ns/mnt; ls /"],
                  edit, share=True)
    try:
        rt.run_to_exit(b)
    finally:
        with open("/proc/self/mountinfo") as f:
            mps = [ln.split()[4] for ln in f if str(b) in ln.split()[4]]
        for mp in sorted(mps, key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], check=False)
    out = (rt.share / "out").read_text().split()
    assert out[0] == os.readlink("/proc/self/ns/mnt")
    assert "bin" in out and "etc" in out


@pytest.mark.parametrize("opt,inner", [("ridmap", "0 0"), ("idmap", "65534 65534")])
def test_idmap_options_use_the_container_mappings(rt, tmp_path, host_tree, opt, inner):
    """`idmap`/`ridmap` without mount mappings id-map a bind with the container's own user
    namespace mappings: `ridmap` the submounts too, `idmap` the top mount only."""
    changed = open_path_to(tmp_path)
    try:
        out = run_script(rt, "stat -c '%u %g' /b/file /b/sub/inner",
                         bind(host_tree, "/b", ["rbind", opt]), userns=True)
    finally:
        restore_modes(changed)
    assert out.splitlines() == ["0 0", inner]


def test_idmap_option_without_user_namespace_is_refused(rt, tmp_path):
    from linux_helpers import create_fails
    r = create_fails(rt, bind(tmp_path, "/b", ["rbind", "idmap"]))
    assert "mounts[7].options[1]: idmap without uidMappings" in r.stderr


def test_idmapped_mount_source_through_a_symlink(rt, tmp_path):
    """An id-mapped bind whose source path goes through a symlink on the host: the first stage
    clones the tree from the host's view, following it, as runc opens the source (issue 18)."""
    changed = open_path_to(tmp_path)
    try:
        src = tmp_path / "real-idsrc"
        src.mkdir()
        (src / "f").write_text("x\n")
        (tmp_path / "link").symlink_to(src.name)

        def edit(cfg):
            m = [{"containerID": 0, "hostID": USERNS_HOST_ID, "size": 65536}]
            cfg["mounts"].append({"destination": "/id", "type": "bind",
                                  "source": str(tmp_path / "link"), "options": ["rbind"],
                                  "uidMappings": m, "gidMappings": m})
        out = run_script(rt, "stat -c '%u %g' /id/f", edit, userns=True)
        assert out.split() == ["0", "0"], out
    finally:
        restore_modes(changed)


@pytest.mark.parametrize("link", ["/data/made-here", "../data/made-here"])
def test_a_dangling_symlink_destination_is_made_inside_the_rootfs(rt, tmp_path, link):
    """A bind destination that is a dangling symlink in the image: runc makes the file where
    the link points, resolved inside the rootfs, and mounts there (issue 18); pyrunc refused
    ("create /etc/not-existing in rootfs")."""
    src = tmp_path / "src-file"
    src.write_text("bound\n")
    out_edit = bind(src, "/etc/not-existing", ["bind"])
    b = rt.bundle(["sh", "-c", "cat /etc/not-existing > /share/out"], out_edit, share=True)
    (b / "rootfs/etc/not-existing").symlink_to(link)
    rt.run_to_exit(b)
    assert (rt.share / "out").read_text() == "bound\n"
    assert (b / "rootfs/data/made-here").is_file()  # made inside the rootfs, left as runc does
