"""checkpoint and restore through CRIU (runc's checkpoint/restore commands), on real containers.

A busybox counter writes 0, 1, 2, ... one line at a time; after a checkpoint and a restore the
count must continue where it stopped: no reset (the process' memory came back), no gap (it did
not run meanwhile), no repeat.  The tests that need a working criu skip where `criu check`
fails (the development host's kernel is newer than Debian's criu 3.17 knows) and run in the
stock-host guest lane.  Runtime-agnostic except the host test: they pass with
OCI_RUNTIME=/usr/sbin/runc.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

CRIU_TIMEOUT = 180.0  # one checkpoint or restore under QEMU TCG takes seconds
COUNTER = "i=0; while :; do echo $i; i=$((i+1)); usleep 50000; done"


@functools.lru_cache(maxsize=1)
def criu_check() -> str | None:
    """Why criu cannot work here (its `criu check` errors), or None when it can."""
    criu = shutil.which("criu") or "/usr/sbin/criu"
    if not os.path.exists(criu):
        return "criu is not installed"
    p = subprocess.run([criu, "check"], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=120)
    if p.returncode == 0:
        return None
    errs = [ln for ln in p.stderr.splitlines() if "Error" in ln]
    return "criu check fails: " + "; ".join(errs[:2] or [p.stderr.strip()[-200:]])


def needs_criu() -> None:
    reason = criu_check()
    if reason is not None:
        pytest.skip(reason)


def counter(rt, out: str = "/share/count", tmpfs: bool = False) -> tuple[Path, str]:
    """A bundle whose process counts into ``out``, and a new id; stdio are files inside the
    container (CRIU dumps them; a host file outside its mounts it could not)."""
    def edit(cfg):
        if tmpfs:
            cfg["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                                  "options": ["nosuid", "nodev", "mode=1777"]})
        cfg["process"]["terminal"] = False
    script = f"exec </dev/null >{out} 2>&1; {COUNTER}"
    return rt.bundle(["sh", "-c", script], edit, share=True), rt.new_id()


def read_or_empty(path: Path) -> str:
    """A file the container is about to create: empty until it exists."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def numbers(text: str) -> list[int]:
    lines = text.splitlines()
    if lines and not text.endswith("\n"):
        lines = lines[:-1]  # a line being written
    return [int(x) for x in lines]


def wait_count(read, at_least: int, timeout: float = 60.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        got = numbers(read())
        if len(got) >= at_least:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"the counter reached {len(got)} lines, not {at_least}, "
                                 f"in {timeout}s")
        time.sleep(0.05)


def assert_continuous(got: list[int]) -> None:
    assert got == list(range(len(got))), f"the count does not go on by one: {got}"


def run_counter(rt, **kw) -> tuple[Path, str, Path]:
    bundle, cid = counter(rt, **kw)
    rt.ok("run", "-d", "--bundle", bundle, cid)
    return bundle, cid, rt.share / "count"


def checkpoint(rt, cid: str, image: Path, *extra) -> None:
    rt.ok("checkpoint", "--image-path", image, "--work-path", image.parent / (image.name + "-w"),
          *extra, cid, timeout=CRIU_TIMEOUT)


def restore(rt, bundle: Path, cid: str, image: Path, *extra) -> None:
    rt.ok("restore", "--detach", "--image-path", image, "--work-path",
          image.parent / (image.name + "-rw"), "--bundle", bundle, *extra, cid,
          timeout=CRIU_TIMEOUT)


def test_checkpoint_restore_counter_continues(rt, tmp_path):
    """The restored counter goes on from the number it stopped at; the restored container is
    a normal one for state, exec, kill and delete."""
    needs_criu()
    bundle, cid, count = run_counter(rt)
    wait_count(lambda: read_or_empty(count), 5)
    image = tmp_path / "img"
    checkpoint(rt, cid, image)
    assert rt("state", cid).returncode != 0, "a checkpointed container is gone (runc)"
    stopped_at = numbers(read_or_empty(count))
    time.sleep(0.5)
    assert numbers(read_or_empty(count)) == stopped_at, "the counter ran on after checkpoint"
    assert (image / "inventory.img").exists()

    restore(rt, bundle, cid, image)
    st = rt.state(cid)
    assert st["status"] == "running" and st["pid"] > 0
    got = wait_count(lambda: read_or_empty(count), len(stopped_at) + 5)
    assert_continuous(got)

    r = rt.ok("exec", cid, "sh", "-c", "echo exec-in-$(hostname)")
    assert r.stdout.startswith("exec-in-")
    assert rt("delete", cid).returncode != 0, "delete of a running restored container"
    rt.ok("kill", cid, "KILL")
    rt.wait_stopped(cid)
    rt.ok("delete", cid)
    assert rt("state", cid).returncode != 0


def test_checkpoint_leave_running(rt, tmp_path):
    """--leave-running: the container runs on; its image restores the state at the dump
    (the count kept in the container's tmpfs, which CRIU saves with it)."""
    needs_criu()
    bundle, cid = counter(rt, out="/tmp/count", tmpfs=True)
    rt.ok("run", "-d", "--bundle", bundle, cid)

    def read() -> str:
        return rt.ok("exec", cid, "sh", "-c", "cat /tmp/count 2>/dev/null; true").stdout
    wait_count(read, 5)
    image = tmp_path / "img"
    checkpoint(rt, cid, image, "--leave-running")
    assert rt.state(cid)["status"] == "running"
    at_dump = len(numbers(read()))
    later = wait_count(read, at_dump + 5)
    assert_continuous(later)
    rt.kill_and_delete(cid)

    restore(rt, bundle, cid, image)
    got = wait_count(read, 5)
    assert_continuous(got)
    rt.kill_and_delete(cid)


def test_pre_dump_then_dump_with_parent(rt, tmp_path):
    """--pre-dump leaves the container running; the final dump names it with --parent-path
    and restores like any other."""
    needs_criu()
    bundle, cid, count = run_counter(rt)
    wait_count(lambda: read_or_empty(count), 3)
    pre = tmp_path / "pre"
    checkpoint(rt, cid, pre, "--pre-dump")
    assert rt.state(cid)["status"] == "running"
    n = len(numbers(read_or_empty(count)))
    wait_count(lambda: read_or_empty(count), n + 3)
    final = tmp_path / "final"
    final.mkdir()
    checkpoint(rt, cid, final, "--parent-path", "../pre")
    assert rt("state", cid).returncode != 0
    stopped_at = numbers(read_or_empty(count))

    restore(rt, bundle, cid, final)
    got = wait_count(lambda: read_or_empty(count), len(stopped_at) + 3)
    assert_continuous(got)
    rt.kill_and_delete(cid)


def test_restore_of_a_broken_image_leaves_nothing(rt, tmp_path):
    """A checkpoint whose image lost its process tree fails to restore, with an error, and
    no state, cgroup, mount or process is left (the rt fixture checks)."""
    needs_criu()
    bundle, cid, count = run_counter(rt)
    wait_count(lambda: read_or_empty(count), 3)
    image = tmp_path / "img"
    checkpoint(rt, cid, image)
    (image / "pstree.img").unlink()
    r = rt("restore", "--detach", "--image-path", image, "--bundle", bundle, cid,
           timeout=CRIU_TIMEOUT)
    assert r.returncode != 0
    assert r.stderr.strip()
    assert rt("state", cid).returncode != 0


def test_restore_of_a_missing_image_path_fails(rt, tmp_path):
    """No image: one error, nothing left (criu is not needed to say so)."""
    bundle, cid = counter(rt)
    r = rt("restore", "--detach", "--image-path", tmp_path / "none", "--bundle", bundle, cid)
    assert r.returncode != 0
    assert rt("state", cid).returncode != 0


def test_checkpoint_of_created_container_is_refused(rt):
    bundle, cid = counter(rt)
    rt.ok("create", "--bundle", bundle, cid)
    r = rt("checkpoint", "--image-path", rt.tmp_path / "img", cid)
    assert r.returncode != 0
    assert "created" in r.stderr.lower()
    assert rt.state(cid)["status"] == "created"


def test_checkpoint_where_criu_cannot_work_says_why(rt, tmp_path):
    """Where `criu check` fails (the development host), checkpoint fails with one error line
    that carries criu's own verdict, and leaves the container running."""
    if criu_check() is None:
        pytest.skip("criu works on this host")
    if os.path.basename(rt.path) != "pyrunc":
        pytest.skip("pyrunc's error wording")
    bundle, cid, count = run_counter(rt)
    wait_count(lambda: read_or_empty(count), 2)
    r = rt("checkpoint", "--image-path", tmp_path / "img", cid, timeout=CRIU_TIMEOUT)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "criu cannot work on this host" in lines[0] and "criu check" in lines[0]
    assert "`criu check` says: " in lines[0]
    assert not (tmp_path / "img").exists(), "the image directory it made is left"
    assert rt.state(cid)["status"] == "running"
    rt.kill_and_delete(cid)


def test_terminal_container_restores_with_a_new_console(rt, tmp_path):
    """A shell on a pty: restore hands the new pty's master to --console-socket (criu's
    orphan-pts-master), and the shell, with what it remembered, answers on it."""
    needs_criu()
    from tests.helpers_exec import ConsoleReceiver, read_until
    bundle = rt.bundle(["sh"], terminal=True)
    cid = rt.new_id()
    recv = ConsoleReceiver(tmp_path)
    try:
        rt.ok("create", "--console-socket", recv.path, "--bundle", bundle, cid)
        master = recv.receive()
        rt.ok("start", cid)
        os.write(master, b"X=remembered; echo a$((1+1))\n")
        read_until(master, b"a2")
        image = tmp_path / "img"
        checkpoint(rt, cid, image)
        restore(rt, bundle, cid, image, "--console-socket", recv.path)
        master = recv.receive()
        os.write(master, b"echo $X-$((3+3))\n")
        read_until(master, b"remembered-6")
        rt.kill_and_delete(cid)
    finally:
        recv.close()


def test_host_dev_null_stdio_is_reopened_inside(rt):
    """stdin given as the host's /dev/null is the container's own /dev/null in the container
    (runc's reOpenDevNull): CRIU can dump only files on the container's mounts."""
    out = rt.script_output("m=$(sed -n 's/^mnt_id:[[:space:]]*//p' /proc/self/fdinfo/0); "
                           "awk -v m=$m '$1 == m {print \"mount \" $5}' /proc/self/mountinfo")
    assert out.strip() == "mount /dev", out


def test_restore_runs_prestart_hooks_with_the_restored_pid(rt, tmp_path):
    """prestart and createRuntime hooks run again at restore (criu's setup-namespaces), with
    the restored init's pid in their state, as runc runs them."""
    needs_criu()
    import json
    log = rt.share / "hooks.log"

    def hooks(cfg):
        cfg["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                              "options": ["nosuid", "nodev"]})
        cfg["hooks"] = {stage: [{"path": "/bin/sh", "args": [
            "sh", "-c", f"(cat; echo) >> {log}; echo {stage} >> {log}"]}]
            for stage in ("prestart", "createRuntime")}
    bundle = rt.bundle(["sh", "-c", f"exec </dev/null >/tmp/out 2>&1; {COUNTER}"], hooks,
                       share=True)
    cid = rt.new_id()
    rt.ok("run", "-d", "--bundle", bundle, cid)
    image = tmp_path / "img"
    checkpoint(rt, cid, image)
    log.write_text("")
    restore(rt, bundle, cid, image)
    pid = rt.state(cid)["pid"]
    lines = log.read_text().split("\n")
    states = [json.loads(x) for x in lines if x.startswith("{")]
    stages = [x for x in lines if x in ("prestart", "createRuntime")]
    assert stages == ["prestart", "createRuntime"], lines
    assert [s["pid"] for s in states] == [pid, pid] and all(s["id"] == cid for s in states)
    rt.kill_and_delete(cid)


def test_restore_in_the_foreground_waits_then_deletes(rt, tmp_path):
    """Without --detach, restore waits for the restored init like `run` does: its exit status
    (128+9 for SIGKILL), then the container is gone."""
    needs_criu()
    bundle, cid, count = run_counter(rt)
    wait_count(lambda: read_or_empty(count), 3)
    image = tmp_path / "img"
    checkpoint(rt, cid, image)
    p = rt.popen("restore", "--image-path", image, "--bundle", bundle, cid,
                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + CRIU_TIMEOUT
    while rt.status(cid) != "running":
        assert p.poll() is None, p.stderr.read() if p.stderr else ""
        assert time.monotonic() < deadline, "the restored container never ran"
        time.sleep(0.1)
    rt.ok("kill", cid, "KILL")
    assert p.wait(timeout=60) == 137
    assert rt("state", cid).returncode != 0


def test_page_server_address_checked_like_runc(rt):
    """--page-server wants ADDRESS:PORT: anything else is refused before criu is asked, with
    runc's words, and the container runs on."""
    bundle, cid, count = run_counter(rt)
    for bad, words in (("nohost", "ADDRESS:PORT"), (":5", "ADDRESS:PORT"),
                       ("a:b:c", "ADDRESS:PORT"), ("127.0.0.1:port", "Invalid port number")):
        r = rt("checkpoint", "--image-path", rt.tmp_path / "img", "--page-server", bad, cid)
        assert r.returncode != 0, bad
        assert words in r.stderr, (bad, r.stderr)
        assert rt.state(cid)["status"] == "running"
    rt.kill_and_delete(cid)


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_checkpoint_to_a_page_server_then_restore(rt, tmp_path):
    """--page-server: the memory pages go to a criu page server (the migration target), the
    rest to --image-path; the two together restore the counter where it stopped."""
    needs_criu()
    criu = shutil.which("criu") or "/usr/sbin/criu"
    bundle, cid, count = run_counter(rt)
    wait_count(lambda: read_or_empty(count), 3)
    pages = tmp_path / "pages"
    pages.mkdir()
    port = _free_port()
    pidfile = tmp_path / "ps.pid"
    # --daemon returns once it listens; it serves the one dump and exits
    subprocess.run([criu, "page-server", "--images-dir", pages, "--address", "127.0.0.1",
                    "--port", str(port), "--daemon", "--pidfile", pidfile, "-o",
                    tmp_path / "ps.log"], check=True, timeout=60)
    ps_pid = int(pidfile.read_text())
    try:
        image = tmp_path / "img"
        checkpoint(rt, cid, image, "--page-server", f"127.0.0.1:{port}")
        stopped_at = numbers(read_or_empty(count))
        deadline = time.monotonic() + 60
        while os.path.exists(f"/proc/{ps_pid}") and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        try:
            os.kill(ps_pid, 9)  # our own page server, if it is still there
        except ProcessLookupError:
            pass
    assert not list(image.glob("pages-*.img")), "pages were written to the image, not sent"
    assert list(pages.glob("pages-*.img")), "the page server received no pages"
    for f in pages.iterdir():  # the target's images, merged as a migration tool does
        shutil.copy(f, image / f.name)
    restore(rt, bundle, cid, image)
    got = wait_count(lambda: read_or_empty(count), len(stopped_at) + 3)
    assert_continuous(got)
    rt.kill_and_delete(cid)


def test_checkpoint_restore_in_a_systemd_scope(rt, tmp_path):
    """--systemd-cgroup: the restored container is in its transient scope again (criu was
    put in it, as runc does), and delete stops the unit."""
    needs_criu()
    if not os.path.isdir("/run/systemd/system"):
        pytest.skip("needs systemd as PID 1 (the guest lane)")
    sd = ("--systemd-cgroup",)
    unit = f"ckpt-{rt.token}"

    def edit(cfg):
        cfg["linux"]["cgroupsPath"] = f"system.slice:pyrunc-test:{unit}"
        cfg["process"]["terminal"] = False
    script = f"exec </dev/null >/share/count 2>&1; {COUNTER}"
    bundle = rt.bundle(["sh", "-c", script], edit, share=True)
    cid = rt.new_id()
    count = rt.share / "count"
    rt.ok("run", "-d", "--bundle", bundle, cid, global_args=sd)
    scope = f"pyrunc-test-{unit}.scope"
    assert scope in Path(f"/proc/{rt.state(cid)['pid']}/cgroup").read_text()
    wait_count(lambda: read_or_empty(count), 3)
    image = tmp_path / "img"
    rt.ok("checkpoint", "--image-path", image, cid, global_args=sd, timeout=CRIU_TIMEOUT)
    stopped_at = numbers(read_or_empty(count))
    rt.ok("restore", "--detach", "--image-path", image, "--bundle", bundle, cid,
          global_args=sd, timeout=CRIU_TIMEOUT)
    pid = rt.state(cid)["pid"]
    assert f"/system.slice/{scope}" in Path(f"/proc/{pid}/cgroup").read_text()
    got = wait_count(lambda: read_or_empty(count), len(stopped_at) + 3)
    assert_continuous(got)
    rt.ok("kill", cid, "KILL", global_args=sd)
    rt.wait_stopped(cid)
    rt.ok("delete", cid, global_args=sd)
    assert not Path(f"/sys/fs/cgroup/system.slice/{scope}").exists()
