"""config.md#root and config.md#mounts checked from inside the container."""
from __future__ import annotations

from conformance import mountinfo

PROBE = "if touch {0} 2>/dev/null; then echo writable; else echo readonly; fi"


def test_root_readonly(rt):
    """config.md#root readonly true: the root filesystem is read-only inside."""
    out = rt.script_output(PROBE.format("/probe") + "; cat /proc/self/mountinfo",
                           readonly=True)
    first, _, rest = out.partition("\n")
    assert first == "readonly"
    root = mountinfo.at(mountinfo.parse(rest), "/")
    assert root is not None and "ro" in root.options


def test_root_writable(rt):
    """config.md#root readonly false: the root is writable and writes land in root.path."""
    out = rt.script_output(PROBE.format("/probe"), readonly=False)
    assert out == "writable\n"
    bundle = sorted(rt.tmp_path.glob("bundle*"))[-1]
    assert (bundle / "rootfs" / "probe").exists()


def test_root_path_is_the_bundle_rootfs(rt):
    """config.md#root path: the container sees the files of the bundle's rootfs."""
    def edit(cfg):
        cfg["root"]["path"] = "myroot"

    b = rt.bundle(["sh", "-c", "cat /etc/marker > /share/out"], edit, share=True)
    (b / "rootfs").rename(b / "myroot")
    (b / "myroot" / "etc" / "marker").write_text("from bundle\n")
    rt.run_to_exit(b)
    assert (rt.share / "out").read_text() == "from bundle\n"


def test_default_mounts_present(rt):
    """config.md#mounts: runc spec's mounts (proc, /dev tmpfs, devpts, shm, mqueue, sysfs,
    cgroup) are all mounted with their types."""
    mounts = mountinfo.parse(rt.script_output("cat /proc/self/mountinfo"))
    want = {"/proc": "proc", "/dev": "tmpfs", "/dev/pts": "devpts", "/dev/shm": "tmpfs",
            "/dev/mqueue": "mqueue", "/sys": "sysfs"}
    for dest, fstype in want.items():
        m = mountinfo.at(mounts, dest)
        assert m is not None, f"{dest} not mounted"
        assert m.fstype == fstype, dest
    assert "ro" in mountinfo.at(mounts, "/sys").options
    # v1 hosts get a tmpfs at /sys/fs/cgroup with one cgroup mount per hierarchy; a v2
    # host one cgroup2 mount. Either way the cgroup filesystems are read-only ("ro").
    cg = [m for m in mounts if m.fstype in ("cgroup", "cgroup2")
          and (m.mount_point + "/").startswith("/sys/fs/cgroup/")]
    assert cg, "no cgroup filesystem under /sys/fs/cgroup"
    assert all("ro" in m.options for m in cg), [m.mount_point for m in cg if "ro" not in m.options]


def test_tmpfs_mount_with_options(rt):
    """config.md#mounts options: a tmpfs gets its mode and size options and per-mount
    flags (nosuid, nodev, noexec)."""
    def edit(cfg):
        cfg["mounts"].append({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
                              "options": ["nosuid", "nodev", "noexec", "mode=700",
                                          "size=1m"]})

    out = rt.script_output("stat -c %a /mnt/t; cat /proc/self/mountinfo", edit)
    mode, _, rest = out.partition("\n")
    assert mode == "700"
    m = mountinfo.at(mountinfo.parse(rest), "/mnt/t")
    assert m is not None and m.fstype == "tmpfs"
    assert {"nosuid", "nodev", "noexec"} <= m.options
    assert "size=1024k" in m.super_options and "mode=700" in m.super_options


def test_bind_mount_readonly_and_readwrite(rt, tmp_path):
    """config.md#mounts: a bind mount shows the host directory; `ro` makes it read-only,
    `rw` writable with writes visible on the host."""
    src_ro = tmp_path / "ro-src"
    src_ro.mkdir()
    (src_ro / "hello").write_text("from host\n")
    src_rw = tmp_path / "rw-src"
    src_rw.mkdir()

    def edit(cfg):
        cfg["mounts"] += [
            {"destination": "/mnt/ro", "type": "bind", "source": str(src_ro),
             "options": ["rbind", "ro"]},
            {"destination": "/mnt/rw", "type": "bind", "source": str(src_rw),
             "options": ["rbind", "rw"]}]

    out = rt.script_output("cat /mnt/ro/hello; " + PROBE.format("/mnt/ro/new") + "; "
                           + PROBE.format("/mnt/rw/new"), edit)
    assert out == "from host\nreadonly\nwritable\n"
    assert not (src_ro / "new").exists()
    assert (src_rw / "new").exists()


def test_mounts_in_listed_order(rt, tmp_path):
    """config.md#mounts: the runtime mounts entries in the listed order: a tmpfs listed
    after a bind mount of /mnt/a lands on top of /mnt/a/b, and hides the host's b."""
    src = tmp_path / "order-src"
    (src / "b").mkdir(parents=True)
    (src / "b" / "host-file").write_text("x")

    def edit(cfg):
        cfg["mounts"] += [
            {"destination": "/mnt/a", "type": "bind", "source": str(src),
             "options": ["rbind", "rw"]},
            {"destination": "/mnt/a/b", "type": "tmpfs", "source": "tmpfs",
             "options": ["size=1m"]}]

    out = rt.script_output("ls -A /mnt/a/b; echo --; cat /proc/self/mountinfo", edit)
    listing, _, rest = out.partition("--\n")
    assert listing == ""
    mounts = mountinfo.parse(rest)
    points = [m.mount_point for m in mounts]
    assert points.index("/mnt/a") < points.index("/mnt/a/b")
    assert mountinfo.at(mounts, "/mnt/a/b").fstype == "tmpfs"


def test_mount_does_not_leak_to_host(rt, tmp_path):
    """config.md#mounts / runtime.md#lifecycle step 12: mounts are made in the container's
    mount namespace: none of them shows up in the host's mount table, even while it runs."""
    gate = rt.gate()
    b = rt.bundle(["sh", "-c", f"read x < {gate.inside}"], share=True)
    cid = rt.create(b)
    rt.ok("start", cid)
    host = mountinfo.parse(open("/proc/self/mountinfo").read())
    assert [m.mount_point for m in host if str(tmp_path) in m.mount_point] == []
    gate.open()
    rt.wait_stopped(cid)
    rt.ok("delete", cid)
