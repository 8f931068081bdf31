"""A rootfs whose /proc, /sys, /dev or a mount destination is a symlink to a host path (the
shape of CVE-2021-30465, GHSA-c3xm-pvg7-gh7r, without its race; and of runc's "must be
mounted on ordinary directory" rule for proc and sysfs).

An image is untrusted: its /proc, /sys, /dev or a volume's destination may be a symlink, absolute
or climbing with ../.., to a host directory.  A runtime that follows it from the host's root
mounts over the host path or creates its /dev nodes and submount directories there.  A mount
destination must be resolved inside the rootfs (or refused).

The markers: a host directory of the test's keeps its exact contents and gets no mount in the
host's table; a third target, the host's absolute path of the rootfs's own /landing, shows a
destination followed from the host's root: inside the container /landing must not be a mount
point.  Where the container runs, /proc/timer_list and /sys/firmware must still be masked
(wherever the runtime put /proc and /sys).  Each case either is refused (runc refuses proc and
sysfs on a symlink) or runs (pyrunc resolves the symlink inside the rootfs and mounts there).
"""
from __future__ import annotations

import os
import shutil

import pytest

from conformance.bundle import add_bind_mount
from conformance.linux import skip_on_runc

from escape_helpers import (edit_config, marker_dir, new_mounts, host_mount_points,
                            run_or_refused, script_bundle, snapshot)

DESTINATIONS = ["/proc", "/sys", "/dev", "/data"]
# /landing must be no mount point, and the masked paths must stay masked wherever /proc and
# /sys were mounted.
SCRIPT = """
mountpoint -q /landing && echo LANDED
[ -n "$(head -c 16 /proc/timer_list 2>&-)" ] && echo UNMASKED /proc/timer_list
[ -n "$(ls /sys/firmware 2>&-)" ] && echo UNMASKED /sys/firmware
echo ran
"""


def _targets(hostdir, rootfs):
    return {
        "absolute": str(hostdir),
        "relative": "../" * 30 + str(hostdir).lstrip("/"),
        "landing": str(rootfs / "landing"),
    }


@pytest.mark.parametrize("dest", DESTINATIONS)
def test_a_symlinked_mount_destination_stays_in_the_rootfs(rt, runtime, tmp_path, dest):
    if dest == "/dev":
        skip_on_runc(runtime, "/dev resolved in the rootfs for its symlinks (it creates fd, "
                              "ptmx and stdin/stdout/stderr in the host directory an image's "
                              "/dev symlink names, absolute or ../..)")
    hostdir = marker_dir(tmp_path / "hostdir")
    volume = marker_dir(tmp_path / "volume", {"vol": "volume\n"})
    b, out = script_bundle(rt, SCRIPT, "out", prepare=lambda b: (b / "rootfs/landing").mkdir())
    if dest == "/data":
        edit_config(b, lambda cfg: cfg["mounts"].extend([
            {"destination": "/data", "type": "tmpfs", "source": "tmpfs"}]))
    link = b / "rootfs" / dest.lstrip("/")
    problems = []
    for name, target in _targets(hostdir, b / "rootfs").items():
        for variant in ("tmpfs", "bind") if dest == "/data" else ("config",):
            if variant == "bind":
                edit_config(b, lambda cfg: (cfg["mounts"].pop(),
                                            add_bind_mount(cfg, volume, "/data")))
            case = f"{dest} -> {name} {target} ({variant})"
            before = snapshot(hostdir)
            mounts = host_mount_points()
            if link.is_dir() and not link.is_symlink():
                shutil.rmtree(link)
            else:
                link.unlink(missing_ok=True)
            os.symlink(target, link)
            out.unlink(missing_ok=True)

            def check():
                if new_mounts(mounts, hostdir, volume):
                    problems.append(f"{case}: a mount on the host: {new_mounts(mounts, hostdir)}")
            text, err = run_or_refused(rt, b, out, while_created=check)
            if snapshot(hostdir) != before:
                problems.append(f"{case}: the host dir changed: {sorted(os.listdir(hostdir))}")
                shutil.rmtree(hostdir)
                marker_dir(hostdir)
            if text is not None and ("LANDED" in text or "UNMASKED" in text
                                     or "ran" not in text):
                problems.append(f"{case}: {text}")
    assert not problems, "\n".join(problems)
