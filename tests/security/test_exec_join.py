"""A container drives the runtime's `exec` from inside (issue 16, hole 1; CVE-2016-9962 class).

A root process in the container watches for the process `exec` joins in and writes into every
pipe it can open in /proc/PID/fd, claiming that the container's process is a host process the
test owns.  Before the fix pyrunc took such a line as the pid to report, wait for and SIGKILL.
The joining process must be non-dumpable (so no fd of it can be opened) and the runtime must
believe no pid it did not create.  The marker: the test's own `sleep` must survive, and no
--pid-file may name it.
"""
from __future__ import annotations

import subprocess

EXECS = 20
WATCHER = r"""
while :; do
  for f in /proc/[0-9]*/fd/*; do
    [ -p "$f" ] && echo "P$VICTIM" 2>/dev/null > "$f"
  done
done
"""
# The exec'd process looks its program up in PATH after taking the container's credentials and
# before it is done with the sync pipe: a long PATH keeps that window open for the watcher.
LONG_PATH = ":".join(f"/nonexistent/{i}" for i in range(3000)) + ":/bin:/usr/bin"


def test_exec_cannot_be_driven_from_inside(rt, tmp_path):
    victim = subprocess.Popen(["sleep", "600"])
    try:
        def edit(cfg):
            cfg["process"]["env"].append(f"VICTIM={victim.pid}")
        cid = rt.create(rt.bundle(["sh", "-c", WATCHER], edit))
        rt.ok("start", cid)
        for i in range(EXECS):
            pid_file = tmp_path / f"pid{i}"
            rt("exec", "--env", f"PATH={LONG_PATH}", "--pid-file", pid_file, cid, "true",
               timeout=30)
            if pid_file.exists():
                assert pid_file.read_text().strip() != str(victim.pid)
            assert victim.poll() is None, f"the host's process was killed after {i + 1} execs"
        rt.kill_and_delete(cid)
    finally:
        victim.kill()
        victim.wait()
