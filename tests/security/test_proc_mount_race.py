"""A volume raced over /proc (CVE-2019-19921, GHSA-fh74-hm69-rqjw; with the write of
CVE-2025-52881, GHSA-cgrx-mc8f-2prm).

runc checked that no mount lands on /proc before resolving the destination for the mount: a
container sharing a volume swapped a directory on another container's mount destination
with a symlink to /proc, so the mount went over the container's procfs.  With a volume laid
out like /proc/sys/net and a net.* sysctl in the config, the runtime's own sysctl write then
follows the volume's symlink (test_proc_redirect.py is the same without the race).

Here container A has the host directory `vol` at /vol and swaps vol/d with vol/link (a
symlink to /proc/sys) in a tight loop while B, configured with `vol` at /vol, a volume at
/vol/d/net whose ipv4/ip_forward is a symlink to /marker/file, and net.ipv4.ip_forward=1, is
created again and again.  The markers: the host file behind /marker/file keeps its contents,
and inside B nothing is mounted at /proc/sys/net.  Both runtimes refuse the creates that
resolve the destination into /proc and run the others.
"""
from __future__ import annotations

from conformance.bundle import add_bind_mount

from escape_helpers import UNTOUCHED, marker_dir, race_creates, script_bundle

CREATES = 10
SCRIPT = "grep ' /proc/sys/net ' /proc/self/mountinfo && echo PROC-MOUNT; echo ran"


def test_a_volume_raced_over_proc_is_never_mounted_there(rt, tmp_path):
    marker = marker_dir(tmp_path / "marker")
    vol = tmp_path / "vol"
    (vol / "d/net").mkdir(parents=True)
    (vol / "link").symlink_to("/proc/sys")
    fake = tmp_path / "fake-net"
    (fake / "ipv4").mkdir(parents=True)
    (fake / "ipv4/ip_forward").symlink_to("/marker/file")

    def victim(cfg):
        add_bind_mount(cfg, marker, "/marker")
        add_bind_mount(cfg, vol, "/vol")
        add_bind_mount(cfg, fake, "/vol/d/net")
        cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    b, out = script_bundle(rt, SCRIPT, "out", victim)

    def check(n, text):
        assert (marker / "file").read_text() == UNTOUCHED, \
            f"create {n}: the sysctl write went into the host file"
        assert text is None or "PROC-MOUNT" not in text, f"create {n}: a mount over /proc:\n{text}"
    race_creates(rt, tmp_path, ("/vol/d", "/vol/link"),
                 lambda cfg: add_bind_mount(cfg, vol, "/vol"), b, out, CREATES, check)
