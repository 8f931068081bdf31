"""Symlinks and replaced nodes in the image can never redirect what the runtime does to the
host: mount destinations, mkdirs and file creation resolve inside the rootfs (runc
CVE-2021-30465, CVE-2024-45310), and maskedPaths refuse a /dev/null that is not the null
device (CVE-2025-31133, CVE-2025-52565)."""
from __future__ import annotations

import os
import stat

import pytest

from linux_helpers import create_fails, run_script


@pytest.fixture
def victim(tmp_path):
    """A host directory that must stay untouched (empty) whatever the container does."""
    v = tmp_path / "victim"
    v.mkdir()
    (v / "keep").write_text("host data\n")
    yield v
    assert sorted(os.listdir(v)) == ["keep"], "the container reached the host directory"
    assert (v / "keep").read_text() == "host data\n"


def relative_to_host(link_dir_depth: int, target: str) -> str:
    return "../" * (link_dir_depth + 12) + target.lstrip("/")


@pytest.mark.parametrize("kind", ["absolute", "relative"])
def test_mount_destination_through_symlink_stays_inside(rt, victim, kind):
    """A tmpfs mounted at /mnt/evil/sub, where /mnt/evil -> the host's victim dir."""
    def prepare(b):
        target = str(victim) if kind == "absolute" else relative_to_host(1, str(victim))
        os.symlink(target, b / "rootfs" / "mnt" / "evil")

    def edit(cfg):
        cfg["mounts"].append({"destination": "/mnt/evil/sub", "type": "tmpfs",
                              "source": "tmpfs"})
    out = run_script(rt, "grep -c tmpfs /proc/self/mountinfo >/dev/null; "
                     f"test -d {victim}/sub && echo inside", edit, prepare=prepare)
    assert out.strip() == "inside"  # created at rootfs/<victim path>/sub, in the rootfs


@pytest.mark.parametrize("kind", ["absolute", "relative"])
def test_bind_file_destination_through_symlink_stays_inside(rt, victim, tmp_path, kind):
    """A file bind whose destination's parent is a symlink out of the rootfs: the file is
    created (and mounted on) inside the rootfs."""
    src = tmp_path / "srcfile"
    src.write_text("payload\n")

    def prepare(b):
        target = str(victim) if kind == "absolute" else relative_to_host(1, str(victim))
        os.symlink(target, b / "rootfs" / "etc" / "evil")

    def edit(cfg):
        cfg["mounts"].append({"destination": "/etc/evil/newfile", "type": "bind",
                              "source": str(src), "options": ["bind", "ro"]})
    out = run_script(rt, "cat /etc/evil/newfile", edit, prepare=prepare)
    assert out == "payload\n"


def test_cwd_through_symlink_stays_inside(rt, victim):
    def prepare(b):
        os.symlink(str(victim), b / "rootfs" / "evilcwd")
    out = run_script(rt, "pwd -P", prepare=prepare, cwd="/evilcwd/made")
    assert out.strip() == f"{victim}/made"  # that path inside the rootfs; the host's is intact


def test_dotdot_destination_stays_inside(rt, victim):
    """A destination with .. components cannot climb out of the rootfs either."""
    def edit(cfg):
        cfg["mounts"].append({"destination": "/../../../../../../.." + str(victim) + "/x",
                              "type": "tmpfs", "source": "tmpfs"})
    run_script(rt, "true", edit)


def test_device_path_through_symlink_stays_inside(rt, victim):
    """linux.devices: a node whose parent is a symlink to the host is created in the rootfs."""
    def prepare(b):
        os.symlink(str(victim), b / "rootfs" / "devlink")

    def edit(cfg):
        cfg["linux"]["devices"] = [{"path": "/devlink/mynull", "type": "c", "major": 1,
                                    "minor": 3, "fileMode": 0o666}]
    out = run_script(rt, "stat -c '%t:%T' /devlink/mynull", edit, prepare=prepare)
    assert out.strip() == "1:3"


def without_dev_tmpfs(cfg):
    """Use the image's own /dev (no tmpfs over it), so its nodes are what the runtime sees."""
    cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/dev"]


def test_masked_path_refuses_symlinked_dev_null(rt, tmp_path):
    """CVE-2025-31133: /dev/null in the image is a symlink to a host file: masking with it
    would bind that file over /proc/... (or make it writable).  Refused, nothing left."""
    secret = tmp_path / "secret"
    secret.write_text("host secret\n")

    def prepare(b):
        os.symlink(str(secret), b / "rootfs" / "dev" / "null")
    r = create_fails(rt, without_dev_tmpfs, prepare=prepare)
    assert "/dev/null" in r.stderr
    assert secret.read_text() == "host secret\n"


def test_masked_path_refuses_replaced_dev_null(rt):
    """CVE-2025-52565 class: /dev/null in the image is another device (here 1:5, zero)."""
    def prepare(b):
        os.mknod(b / "rootfs" / "dev" / "null", stat.S_IFCHR | 0o666, os.makedev(1, 5))
    r = create_fails(rt, without_dev_tmpfs, prepare=prepare)
    assert "/dev/null is not the null device" in r.stderr


def test_masked_path_with_real_dev_null_in_image(rt):
    """The image's own, genuine /dev/null is fine."""
    def prepare(b):
        os.mknod(b / "rootfs" / "dev" / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    f = next(p for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list") if os.path.exists(p))
    out = run_script(rt, f"wc -c < {f}", without_dev_tmpfs, prepare=prepare)
    assert out.strip() == "0"


def test_masked_path_symlink_is_resolved_inside(rt, tmp_path):
    """A masked path that is a symlink in the image is resolved in the rootfs: the mask never
    lands on a host file."""
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("host\n")

    def prepare(b):
        os.symlink(str(hostfile), b / "rootfs" / "etc" / "masklink")

    def edit(cfg):
        cfg["linux"]["maskedPaths"].append("/etc/masklink")
    run_script(rt, "true", edit, prepare=prepare, readonly=False)
    assert hostfile.read_text() == "host\n"


@pytest.mark.parametrize("where", ["proc", "sys"])
def test_procfs_and_sysfs_go_on_ordinary_directories_only(rt, where):
    """runc: "must be mounted on ordinary directory": an image's /proc or /sys that is a
    symlink (here to a directory inside the rootfs) is refused, not followed (issue 16)."""
    def prepare(b):
        d = b / "rootfs" / where
        d.rmdir() if d.is_dir() and not d.is_symlink() else d.unlink()
        (b / "rootfs/elsewhere").mkdir()
        d.symlink_to("/elsewhere")
    r = create_fails(rt, prepare=prepare)
    assert f"/{where} must be mounted on an ordinary directory" in r.stderr, r.stderr
