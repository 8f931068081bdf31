"""A runtime write redirected through /proc (issue 16, hole 2; CVE-2025-52881 shape).

The runtime writes the config's sysctls into the container's /proc/sys.  An innocent config (a
bind volume at /data and a net.* sysctl) and an image whose /data is a symlink to /proc/sys/net
put the volume over /proc/sys/net; in the volume, ipv4/ip_forward is a symlink to a file the
test owns (the stand-in for a host file such as /proc/sys/kernel/core_pattern, which no
namespace scopes).  Before the fix pyrunc's own sysctl write landed there.  The same with a
config that binds the volume over /proc/sys/net itself.  runc refuses both mounts.
"""
from __future__ import annotations

import os

from conformance.bundle import add_bind_mount
from conformance.linux import create_fails

UNTOUCHED = "untouched\n"


def _volume(tmp_path):
    """The volume (ipv4/ip_forward -> /marker/file) and the marker directory."""
    vol = tmp_path / "volume"
    (vol / "ipv4").mkdir(parents=True)
    (vol / "ipv4" / "ip_forward").symlink_to("/marker/file")
    marker = tmp_path / "marker"
    marker.mkdir()
    (marker / "file").write_text(UNTOUCHED)
    return vol, marker


def _config(vol, marker, dest):
    def edit(cfg):
        add_bind_mount(cfg, marker, "/marker")
        add_bind_mount(cfg, vol, dest)
        cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
        assert any(n["type"] == "network" for n in cfg["linux"]["namespaces"])
    return edit


def test_a_volume_led_over_proc_by_a_symlink_is_refused(rt, tmp_path):
    vol, marker = _volume(tmp_path)
    r = create_fails(rt, _config(vol, marker, "/data"),
                     prepare=lambda b: os.symlink("/proc/sys/net", b / "rootfs/data"))
    assert r.stderr.strip()
    assert (marker / "file").read_text() == UNTOUCHED


def test_a_volume_over_proc_sys_is_refused(rt, tmp_path):
    vol, marker = _volume(tmp_path)
    r = create_fails(rt, _config(vol, marker, "/proc/sys/net"))
    assert r.stderr.strip()
    assert (marker / "file").read_text() == UNTOUCHED


def test_sysctls_are_written_through_a_procfs_only(rt, runtime, tmp_path):
    """No proc mount: /proc is the image's own directory, shaped to redirect the write."""
    from conformance.linux import skip_on_runc
    skip_on_runc(runtime, "sysctls written only through a procfs (it writes the sysctl "
                          "through the image's /proc/sys symlink into the test's file)")
    _vol, marker = _volume(tmp_path)

    def edit(cfg):
        cfg["mounts"] = [m for m in cfg["mounts"] if m["destination"] != "/proc"]
        add_bind_mount(cfg, marker, "/marker")
        cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
        cfg["linux"]["maskedPaths"] = []
        cfg["linux"]["readonlyPaths"] = []

    def prepare(b):
        d = b / "rootfs/proc/sys/net/ipv4"
        d.mkdir(parents=True)
        (d / "ip_forward").symlink_to("/marker/file")
    r = create_fails(rt, edit, prepare=prepare)
    assert (marker / "file").read_text() == UNTOUCHED
    assert "procfs" in r.stderr, r.stderr
