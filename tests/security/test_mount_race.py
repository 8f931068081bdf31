"""A symlink-exchange race on mount destinations (CVE-2021-30465, GHSA-c3xm-pvg7-gh7r).

runc before 1.0.0-rc95 checked a mount destination inside the rootfs (securejoin) and then
mounted on the path: a container sharing a volume with the one being created swapped a
directory on the destination's path for a symlink between the two, and the mount followed it
from the host's root, outside the rootfs.

Here container A has the host directory `vol` at /vol and swaps vol/d (the parent of B's mount
destinations) with vol/link, a symlink to the host's absolute path of B's own /landing, in a
tight loop (renameat2 RENAME_EXCHANGE, a static helper compiled by the test), while B, with
`vol` at /vol and tmpfs and bind mounts at /vol/d/m0..m7, is created again and again.  A
destination followed from the host's root puts B's mount on /landing/mN, where the test made
empty directories.  The markers: inside B no /landing/mN is a mount point, on the host
`landing` keeps its exact contents, and the host's mount table gets no mount under the test's
directory (besides the bundles' own while they live).
"""
from __future__ import annotations

from conformance.bundle import add_bind_mount

from escape_helpers import (host_mount_points, marker_dir, new_mounts, race_creates,
                            script_bundle, snapshot)

MOUNTS = 8
CREATES = 10
SCRIPT = f"""
for i in $(seq 0 {MOUNTS - 1}); do
  mountpoint -q /landing/m$i && echo LANDED m$i
done
echo ran
"""


def test_a_swapped_mount_destination_never_leaves_the_rootfs(rt, tmp_path):
    vol = tmp_path / "vol"
    for i in range(MOUNTS):
        (vol / "d" / f"m{i}").mkdir(parents=True)
    payload = marker_dir(tmp_path / "payload", {"payload": "payload\n"})

    def victim(cfg):
        add_bind_mount(cfg, vol, "/vol")
        for i in range(MOUNTS):
            if i % 2:
                add_bind_mount(cfg, payload, f"/vol/d/m{i}")
            else:
                cfg["mounts"].append({"destination": f"/vol/d/m{i}", "type": "tmpfs",
                                      "source": "tmpfs"})

    def landing(b):
        for i in range(MOUNTS):
            (b / "rootfs/landing" / f"m{i}").mkdir(parents=True)
    b, out = script_bundle(rt, SCRIPT, "out", victim, landing)
    (vol / "link").symlink_to(b / "rootfs/landing")
    before = snapshot(b / "rootfs/landing")
    mounts = host_mount_points()

    def no_host_mount(n):
        assert not new_mounts(mounts, b / "rootfs/landing", vol, payload), \
            f"create {n}: a mount on the host"

    def check(n, text):
        if text is not None:
            assert "LANDED" not in text, f"create {n}: a mount left the rootfs:\n{text}"
            assert "ran" in text, text
        assert snapshot(b / "rootfs/landing") == before, f"create {n}: landing changed"
    race_creates(rt, tmp_path, ("/vol/d", "/vol/link"),
                 lambda cfg: add_bind_mount(cfg, vol, "/vol"), b, out, CREATES, check,
                 while_created=no_host_mount)
    assert not new_mounts(mounts, tmp_path)
