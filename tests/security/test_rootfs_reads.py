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
