"""config-linux.md#default-devices, #devices and #dev-symbolic-links."""
from __future__ import annotations

import pytest

from conformance.linux import run_script

DEFAULTS = [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
            ("urandom", 1, 9), ("tty", 5, 0)]


def test_default_devices(rt):
    """config-linux.md#default-devices: null, zero, full, random, urandom, tty exist as the
    right character devices, usable by everyone."""
    out = run_script(rt, "; ".join(f"stat -c '%F %t:%T %a' /dev/{d}" for d, _, _ in DEFAULTS))
    for line, (_, ma, mi) in zip(out.splitlines(), DEFAULTS):
        assert line == f"character special file {ma:x}:{mi:x} 666"


def test_ptmx_and_devpts(rt):
    """config-linux.md#default-devices: /dev/ptmx is a bind or symlink to the container's
    /dev/pts/ptmx (a devpts instance of its own)."""
    out = run_script(rt, "readlink /dev/ptmx || stat -c '%t:%T' /dev/ptmx; "
                     "grep ' /dev/pts ' /proc/self/mountinfo | grep -c devpts")
    first, count = out.split()
    assert first in ("pts/ptmx", "/dev/pts/ptmx", "5:2")
    assert count == "1"


def test_dev_symbolic_links(rt):
    """config-linux.md#dev-symbolic-links: /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr."""
    out = run_script(rt, "for l in fd stdin stdout stderr; do readlink /dev/$l; done")
    assert out.split() == ["/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/1",
                           "/proc/self/fd/2"]


@pytest.mark.parametrize("dtype,major,minor,kind", [
    ("c", 1, 3, "character special file"), ("u", 1, 5, "character special file"),
    ("b", 7, 0, "block special file"), ("p", 0, 0, "fifo")])
def test_devices(rt, dtype, major, minor, kind):
    """config-linux.md#devices: type, major, minor, fileMode, uid and gid of each node."""
    def edit(cfg):
        d = {"path": "/dev/mydev", "type": dtype, "fileMode": 0o620, "uid": 1234, "gid": 5678}
        if dtype != "p":
            d.update(major=major, minor=minor)
        cfg["linux"]["devices"] = [d]
    out = run_script(rt, "stat -c '%F|%t:%T|%a|%u|%g' /dev/mydev", edit)
    assert out.strip() == f"{kind}|{major:x}:{minor:x}|620|1234|5678"
