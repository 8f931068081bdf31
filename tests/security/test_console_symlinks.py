"""/dev/console and /dev/pts/ptmx symlink tricks with a terminal (CVE-2025-52565,
GHSA-qw9x-cqr3-wc7r).

With `process.terminal`, the runtime allocates a pty through the container's /dev/ptmx and
bind-mounts its slave over /dev/console.  Where /dev is the image's (no /dev tmpfs in the
config), the image decides what those names are: a /dev/console symlink to a host file or a
/proc file (the bind then lands there, before the masked and read-only paths are applied), a
/dev/ptmx or /dev/pts/ptmx symlink to a host file (the runtime opens it as the pty
multiplexer).  Every such name must be resolved inside the rootfs, and a symlink there must
never make the runtime mount over, open or write its target.

The markers: a host file of the test's (bound at /marker) keeps its contents, although the
container writes to its /dev/console; inside the container the pty (devpts) is mounted at
/dev/console and /dev/pts only, nothing at the host file or core_pattern; and no mount appears
on the host under the test's directory.
"""
from __future__ import annotations

import os
import re

import pytest

from conformance.bundle import add_bind_mount
from conformance.linux import skip_on_runc

from escape_helpers import (core_pattern, host_mount_points, marker_dir, new_mounts,
                            script_bundle, snapshot)
from helpers_exec import ConsoleReceiver

SCRIPT = r"""
echo hello-console > /dev/console 2>&-
grep -E 'marker|core_pattern| - devpts ' /proc/self/mountinfo | sed 's/^/MOUNT /'
echo "console $(stat -c %F /dev/console 2>&-)"
echo ran
"""
CASES = {
    # name: (path in the image, symlink target or None for a plain dir, keep devpts mounted)
    "console to a host file": ("dev/console", "/marker/file", True),
    "console to a host path by ../..": ("dev/console", "MARKER-BY-RELATIVE", True),
    "console to core_pattern": ("dev/console", "/proc/sys/kernel/core_pattern", True),
    "ptmx to a host file": ("dev/ptmx", "/marker/file", True),
    "pts/ptmx to a host file, no devpts": ("dev/pts/ptmx", "/marker/file", False),
}


def _edit(marker, devpts):
    def edit(cfg):
        drop = {"/dev"} if devpts else {"/dev", "/dev/pts"}
        cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] not in drop]
        add_bind_mount(cfg, marker, "/marker")
        cfg["root"]["readonly"] = False
    return edit


RUNC_CONSOLE = ("the CVE-2025-52565 fix of 1.2.8 (it creates /dev/console with O_TRUNC through "
                "the image's symlink, emptying the host file it names, and bind-mounts the pty "
                "over the target, e.g. /proc/sys/kernel/core_pattern)")


@pytest.mark.parametrize("case", list(CASES))
def test_a_terminal_never_follows_an_image_symlink(rt, runtime, tmp_path, case):
    path, target, devpts = CASES[case]
    if case in ("console to a host file", "console to core_pattern"):
        skip_on_runc(runtime, RUNC_CONSOLE)
    marker = marker_dir(tmp_path / "marker")
    if target == "MARKER-BY-RELATIVE":
        target = "../" * 30 + str(marker / "file").lstrip("/")

    def prepare(b):
        link = b / "rootfs" / path
        link.parent.mkdir(parents=True, exist_ok=True)
        if path == "dev/pts/ptmx":
            os.symlink("pts/ptmx", b / "rootfs/dev/ptmx")
        os.symlink(target, link)
    b, out = script_bundle(rt, SCRIPT, "out", _edit(marker, devpts), prepare, terminal=True)
    before = snapshot(marker)
    core = core_pattern()
    mounts = host_mount_points()
    recv = ConsoleReceiver(tmp_path)
    try:
        cid = rt.new_id()
        r = rt("create", "--console-socket", recv.path, "--bundle", b, cid)
        text = None
        if r.returncode == 0:
            recv.receive()
            assert not new_mounts(mounts, tmp_path / "marker", tmp_path / "share"), "host mount"
            rt.ok("start", cid)
            rt.wait_stopped(cid)
            rt.ok("delete", cid)
            text = out.read_text()
        else:
            assert rt("state", cid).returncode != 0, "a refused container is still known"
    finally:
        recv.close()
    assert snapshot(marker) == before, f"{path} -> {target}: the host file changed"
    assert core_pattern() == core
    assert not new_mounts(mounts, tmp_path / "marker")
    if text is not None:
        assert "ran" in text, text
        assert not re.search(r"^MOUNT (\S+ ){4}/(marker/file|proc/sys/kernel/core_pattern) ", text,
                             re.M), \
            f"{path} -> {target}: a mount at the symlink's target:\n{text}"
        stray = [m for m in re.findall(r"^MOUNT (?:\S+ ){4}(\S+) .* - devpts ", text, re.M)
                 if m not in ("/dev/pts", "/dev/console")]
        assert not stray, f"{path} -> {target}: the pty mounted elsewhere: {stray}\n{text}"
