"""A runtime read of a rootfs file redirected to the host (issue 16, hole 3).

`exec` looks HOME up in the container's /etc/passwd.  pyrunc read it from the host through the
rootfs path, checking for symlinks first and opening after: while the container swapped its
/etc for a symlink to a host directory, some execs took HOME from the host's passwd file.  The
container here swaps them atomically in a tight loop (renameat2 RENAME_EXCHANGE, a static
helper compiled by the test).  The marker: a passwd file the test owns, outside the rootfs,
whose root home is /HOST-LEAK.
"""
from __future__ import annotations

import subprocess

EXECS = 150
SWAPPER_C = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(void) {
    if (symlink(getenv("HOSTDIR"), "/etc.evil") < 0) { perror("symlink"); return 1; }
    for (;;)
        renameat2(AT_FDCWD, "/etc", AT_FDCWD, "/etc.evil", RENAME_EXCHANGE);
}
"""


def test_exec_never_reads_the_hosts_passwd(rt, tmp_path):
    hostdir = tmp_path / "hostetc"
    hostdir.mkdir()
    (hostdir / "passwd").write_text("root:x:0:0:root:/HOST-LEAK:/bin/sh\n")

    def edit(cfg):
        cfg["process"]["env"] = ["PATH=/bin:/usr/bin", f"HOSTDIR={hostdir}"]
        cfg["root"]["readonly"] = False
    b = rt.bundle(["/bin/swapper"], edit)
    src = tmp_path / "swapper.c"
    src.write_text(SWAPPER_C)
    subprocess.run(["gcc", "-static", "-Os", "-o", str(b / "rootfs/bin/swapper"), str(src)],
                   check=True)
    cid = rt.create(b)
    rt.ok("start", cid)
    homes = set()
    for i in range(EXECS):
        r = rt("exec", cid, "/bin/sh", "-c", "echo $HOME", timeout=30)
        homes.add(r.stdout.strip())
        assert "/HOST-LEAK" not in r.stdout, f"HOME came from the host's file at exec {i + 1}"
    rt.kill_and_delete(cid)
    assert homes <= {"/root", "/", ""}, homes


def test_a_rootfs_that_is_a_symlink_is_refused(rt, tmp_path):
    """runc: "invalid rootfs: not an absolute path, or a symlink" (issue 16): what becomes the
    container's root is the directory the config names, never where a link in the bundle
    leads (a bundle whose rootfs a less trusted party can re-point)."""
    import os
    from conformance.linux import create_fails

    def prepare(b):
        os.rename(b / "rootfs", b / "real-rootfs")
        os.symlink("real-rootfs", b / "rootfs")
    r = create_fails(rt, prepare=prepare)
    assert "symlink" in r.stderr, r.stderr


def test_a_bundle_reached_through_a_symlink_is_fine(rt, tmp_path):
    """The rule is about root.path: runc takes a relative one from the bundle's real path."""
    import os
    b = rt.bundle(["true"])
    link = tmp_path / "bundle-link"
    os.symlink(b, link)
    cid = rt.new_id()
    rt.ok("create", "--bundle", link, cid)
    rt.ok("delete", "--force", cid)
