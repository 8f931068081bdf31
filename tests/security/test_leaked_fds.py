"""A host directory fd leaked into the container (CVE-2024-21626, GHSA-xr7r-f8xq-vfvv).

runc before 1.1.12 kept a host fd (its /sys/fs/cgroup) open in `runc init` while it chdir'd to
`process.cwd`: a cwd of /proc/self/fd/7, in the config or `exec --cwd`, left the container's
process in a host directory, from which `..` leads to the host's root.  Any fd the runtime's
caller let it inherit is the same hole.

The marker: a host directory of the test's, `host/`, holding `secret` (and `leaked/inner`).  From
wherever it starts, a container process climbs `..` to the top and reads `<host/ as a relative
path>/secret`: it must never get it, and the top it reaches must be its own root.  In the
inherited-fd tests the test opens host/leaked without O_CLOEXEC and runs the runtime with it:
the container must hold no fd to it (ls -l /proc/self/fd) and reach nothing through any
/proc/self/fd/N.  Debian's runc 1.1.5+ds1-1+deb12u1 carries the fix and passes.
"""
from __future__ import annotations

import os
import subprocess

import pytest

from conformance.fixtures import COMMAND_TIMEOUT
from conformance.linux import proc_edit

from helpers_exec import running

from escape_helpers import edit_config, marker_dir, run_or_refused, script_bundle

FDS = range(3, 13)
SECRET = "host secret\n"
# Climb from the cwd as far as `..` goes, then look for the host marker by relative path.
CLIMB = r"""
echo "ROOT $(stat -c %d:%i /)"
cd -P "$(printf '../%.0s' $(seq 40))" 2>/dev/null
echo "TOP $(stat -c %d:%i .)"
cat "./$SECRET_REL" 2>/dev/null && echo LEAKED-SECRET
exit 0
"""
# Every fd the process holds, and what each leads to.
THROUGH_FDS = r"""
ls -l /proc/self/fd/
for f in /proc/self/fd/*; do
  cat "$f/inner" "$f/../secret" 2>/dev/null && echo "LEAKED-THROUGH $f"
done
"""


def _host(tmp_path):
    host = marker_dir(tmp_path / "host", {"secret": SECRET})
    marker_dir(host / "leaked", {"inner": SECRET})
    return host


def _env(host):
    return proc_edit(env=["PATH=/bin", f"SECRET_REL={str(host / 'secret').lstrip('/')}"])


def _assert_inside(out, host):
    assert out is not None
    assert "LEAKED" not in out and SECRET not in out, out
    lines = dict(line.split(" ", 1) for line in out.splitlines()
                 if line.startswith(("ROOT ", "TOP ")))
    assert lines.get("TOP") == lines.get("ROOT"), f"cwd is not under the container's root:\n{out}"
    assert str(host) not in out, out


def test_a_cwd_through_proc_self_fd_stays_inside(rt, tmp_path):
    host = _host(tmp_path)
    b, out = script_bundle(rt, CLIMB, "out", _env(host))
    for fd in FDS:
        edit_config(b, proc_edit(cwd=f"/proc/self/fd/{fd}"))
        out.unlink(missing_ok=True)
        text, _err = run_or_refused(rt, b, out)
        if text is not None:
            _assert_inside(text, host)


def test_exec_cwd_through_proc_self_fd_stays_inside(rt, tmp_path):
    host = _host(tmp_path)
    cid = running(rt, config_edit=_env(host), share=True)
    for fd in FDS:
        r = rt("exec", "--cwd", f"/proc/self/fd/{fd}", cid, "sh", "-c", CLIMB, timeout=20)
        if r.returncode == 0:
            _assert_inside(r.stdout, host)
        else:
            assert "LEAKED" not in r.stdout + r.stderr and SECRET not in r.stdout
    rt.kill_and_delete(cid)


def _inherited(rt, tmp_path, *args, timeout=COMMAND_TIMEOUT):
    """Run the runtime with host/leaked open on an inheritable fd; its exit code."""
    fd = os.open(tmp_path / "host/leaked", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.set_inheritable(fd, True)
        with open(tmp_path / f"rt-out-{args[0]}", "wb") as log:
            p = rt.popen(*args, pass_fds=(fd,), stdout=log, stderr=subprocess.STDOUT)
            try:
                return p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                raise AssertionError(f"{args[0]} did not finish in {timeout}s") from None
    finally:
        os.close(fd)


def _assert_no_fd_to(out, host):
    assert "LEAKED" not in out and SECRET not in out, out
    assert str(host / "leaked") not in out, f"the container holds the caller's fd:\n{out}"


@pytest.mark.parametrize("command", ["run", "create"])
def test_an_inherited_fd_of_the_caller_does_not_reach_the_container(rt, tmp_path, command):
    host = _host(tmp_path)
    b, out = script_bundle(rt, THROUGH_FDS + CLIMB, "out", _env(host))
    cid = rt.new_id()
    assert _inherited(rt, tmp_path, command, "--bundle", b, cid) == 0, \
        (tmp_path / f"rt-out-{command}").read_text()
    if command == "create":  # (run has deleted it already)
        rt.ok("start", cid)
        rt.wait_stopped(cid)
        rt.ok("delete", cid)
    text = out.read_text()
    _assert_no_fd_to(text, host)
    _assert_inside(text, host)


def test_an_inherited_fd_of_the_caller_does_not_reach_exec(rt, tmp_path):
    host = _host(tmp_path)
    cid = running(rt, config_edit=_env(host), share=True)
    script = f"exec >/share/exec-out 2>&1\n{THROUGH_FDS}{CLIMB}"
    assert _inherited(rt, tmp_path, "exec", cid, "sh", "-c", script) == 0, \
        (tmp_path / "rt-out-exec").read_text()
    text = (rt.share / "exec-out").read_text()
    _assert_no_fd_to(text, host)
    _assert_inside(text, host)
    rt.kill_and_delete(cid)
