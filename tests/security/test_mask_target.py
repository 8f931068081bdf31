"""The /dev/null that masks paths replaced by a symlink (CVE-2025-31133, GHSA-9493-h29p-rfm2).

A runtime masks each `linux.maskedPaths` file by bind-mounting the container's /dev/null over
it.  Where /dev is not the runtime's own tmpfs (an image's /dev, or a /dev shared with another
container), /dev/null can be a symlink, placed by the image or swapped in by a racing
container process: the runtime then binds whatever it names over the masked path, e.g.
/proc/sys/kernel/core_pattern (writable: a host root escape) or a host file, and leaves the
masked path readable.

The markers: a masked file of the image's (`/etc/masked`, holding a secret) and the usual
/proc/kcore, /proc/keys, /proc/timer_list must read empty inside; a host file of the test's,
the symlink's target, keeps its contents although the container writes to every masked path;
and /proc/kcore never shows core_pattern (never written: the host's setting).
"""
from __future__ import annotations

import os
import stat

import pytest

from conformance.bundle import add_bind_mount
from conformance.linux import skip_on_runc

from escape_helpers import (UNTOUCHED, core_pattern, marker_dir, race_creates, run_or_refused,
                            script_bundle, snapshot)

MASKED = ["/etc/masked", "/proc/kcore", "/proc/keys", "/proc/timer_list"]
SECRET = "image secret\n"
RACES = 10
# Read every masked path; write to them only when the symlink's target is the test's file.
# Never through /dev/null itself: in the race it is the symlink half of the time.
SCRIPT = r"""
for p in $MASKED; do
  [ -e "$p" ] || continue
  c=$(head -c 64 "$p" 2>&-)
  [ -n "$c" ] && echo "NOT-MASKED $p: $c"
  [ "$WRITE" = 1 ] && echo pwned 2>&- > "$p"
done
echo ran
"""
TARGETS = {"host file": "/marker/file", "core_pattern": "/proc/sys/kernel/core_pattern"}


def _masking(target, marker):
    """Config: the image's /dev (no /dev tmpfs), /marker bound from the host, /etc/masked."""
    def edit(cfg):
        cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/dev"]
        cfg["linux"]["maskedPaths"].append("/etc/masked")
        add_bind_mount(cfg, marker, "/marker")
        cfg["process"]["env"] += [f"MASKED={' '.join(MASKED)}",
                                  f"WRITE={int(target == TARGETS['host file'])}"]
        cfg["root"]["readonly"] = False
    return edit


def _assert_masked(text, case):
    if text is not None:
        assert "NOT-MASKED" not in text, f"{case}: {text}"
        assert "ran" in text, text


@pytest.mark.parametrize("target", list(TARGETS))
def test_an_image_dev_null_symlink_does_not_redirect_masking(rt, runtime, tmp_path, target):
    skip_on_runc(runtime, "a check that /dev/null is a device before masking with it (it binds "
                          "the symlink's target over the masked paths, fixed in 1.2.8)")
    marker = marker_dir(tmp_path / "marker")
    core = core_pattern()
    link = TARGETS[target]

    def prepare(b):
        (b / "rootfs/etc/masked").write_text(SECRET)
        os.symlink(link, b / "rootfs/dev/null")
    before = snapshot(marker)
    b, out = script_bundle(rt, SCRIPT, "out", _masking(link, marker), prepare)
    text, _err = run_or_refused(rt, b, out)
    _assert_masked(text, f"/dev/null -> {link}")
    assert snapshot(marker) == before, f"the host file changed: {(marker / 'file').read_text()}"
    assert core_pattern() == core


def test_a_dev_null_swapped_by_another_container_does_not_redirect_masking(rt, runtime,
                                                                           tmp_path):
    """Two containers share a host directory as their /dev; the first swaps its null (a
    real device node) with a symlink to the host file (renameat2 RENAME_EXCHANGE) while the
    second is created again and again."""
    skip_on_runc(runtime, "a check that /dev/null is a device before masking with it (it binds "
                          "the symlink's target over the masked paths, fixed in 1.2.8)")
    marker = marker_dir(tmp_path / "marker")
    devdir = tmp_path / "devdir"
    devdir.mkdir()
    os.mknod(devdir / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.symlink(TARGETS["host file"], devdir / "null.evil")

    def shared_dev(cfg):
        add_bind_mount(cfg, devdir, "/dev")
        cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/dev"
                         or m["source"] == str(devdir)]
    before = snapshot(marker)

    def victim_edit(cfg):
        _masking(TARGETS["host file"], marker)(cfg)
        shared_dev(cfg)
    b, out = script_bundle(rt, SCRIPT, "out", victim_edit,
                           lambda b: (b / "rootfs/etc/masked").write_text(SECRET))

    def check(n, text):
        _assert_masked(text, f"create {n}")
        assert snapshot(marker) == before, f"the host file changed at create {n}"
    race_creates(rt, tmp_path, ("/dev/null", "/dev/null.evil"), shared_dev, b, out, RACES,
                 check)
    assert (marker / "file").read_text() == UNTOUCHED
