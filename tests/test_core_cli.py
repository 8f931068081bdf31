"""pyrunc's command-line contract with engines: output formats, error lines, exit codes and
no leftovers on bad input (runc's behaviour is the reference)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conformance.bundle import read_config
from conformance.linux import skip_on_runc

SLEEP = ["sleep", "1000"]


def write_config(bundle: Path, cfg: dict) -> None:
    (bundle / "config.json").write_text(json.dumps(cfg))


def edited(rt, mutate) -> Path:
    b = rt.bundle(SLEEP)
    cfg = read_config(b)
    mutate(cfg)
    write_config(b, cfg)
    return b


def assert_one_error(r: subprocess.CompletedProcess, *needles: str) -> None:
    assert r.returncode != 0, r
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one error line, got: {r.stderr!r}"
    assert "Traceback" not in r.stderr
    for n in needles:
        assert n in lines[0], f"{n!r} not in {lines[0]!r}"


def test_pid_file_is_bare_digits(rt, tmp_path):
    cid = rt.new_id()
    pidfile = tmp_path / "pid"
    rt.ok("create", "--bundle", rt.bundle(SLEEP), "--pid-file", pidfile, cid)
    text = pidfile.read_bytes()
    assert text.isdigit(), text
    assert int(text) == rt.state(cid)["pid"]


def test_json_log_error_lines(rt, tmp_path):
    log = tmp_path / "log.json"
    r = rt("state", "nope-" + rt.token, global_args=("--log", str(log), "--log-format", "json"))
    assert r.returncode == 1
    entries = [json.loads(ln) for ln in log.read_text().splitlines()]
    assert entries[-1]["level"] == "error"
    assert "does not exist" in entries[-1]["msg"]
    assert entries[-1]["time"].endswith("Z")


@pytest.mark.parametrize("cmd", [["state"], ["start"], ["kill"], ["delete"], ["pause"],
                                 ["resume"], ["ps"]])
def test_unknown_id(rt, cmd):
    r = rt(*cmd, "missing-" + rt.token)
    assert_one_error(r, "does not exist")


def test_kill_stopped_says_not_running(rt):
    cid = rt.create(rt.bundle(["true"]))
    rt.ok("start", cid)
    rt.wait_stopped(cid)
    r = rt("kill", cid, "KILL")
    assert_one_error(r, "container not running")


@pytest.mark.parametrize("bad_id", ["a/b", "..", "a b", "x:y"])
def test_invalid_id(rt, bad_id):
    r = rt("create", "--bundle", rt.bundle(SLEEP), bad_id)
    assert_one_error(r, "invalid container id")
    assert sorted(os.listdir(rt.root)) == sorted(rt._root_before)


def test_invalid_json_config(rt):
    b = rt.bundle(SLEEP)
    (b / "config.json").write_text('{"ociVersion": "1.0.2", "process": ')
    r = rt("create", "--bundle", b, rt.new_id())
    assert_one_error(r, "config.json")


def test_missing_config(rt, tmp_path):
    (tmp_path / "empty").mkdir()
    r = rt("create", "--bundle", tmp_path / "empty", rt.new_id())
    assert_one_error(r, "config.json", "no such file or directory")


def test_missing_rootfs(rt):
    b = rt.bundle(SLEEP)
    os.rename(b / "rootfs", b / "elsewhere")
    r = rt("create", "--bundle", b, rt.new_id())
    assert_one_error(r, "rootfs")


@pytest.mark.parametrize("mutate,path", [
    (lambda c: c["linux"]["namespaces"].append({"type": "bogus"}), "linux.namespaces[5].type"),
    (lambda c: c["linux"]["namespaces"].append({"type": "pid"}), "linux.namespaces[5].type"),
    (lambda c: c["process"]["rlimits"].__setitem__(0, {"type": "RLIMIT_NOFILE", "soft": 10,
                                                       "hard": 5}), "process.rlimits[0]"),
    (lambda c: c["process"]["rlimits"].__setitem__(0, {"type": "RLIMIT_BOGUS", "soft": 1,
                                                       "hard": 1}), "process.rlimits[0].type"),
    (lambda c: c["mounts"].append({"destination": "relative/dir", "type": "tmpfs",
                                   "source": "tmpfs"}), "mounts[7].destination"),
    (lambda c: c["process"].__setitem__("cwd", "relative"), "process.cwd"),
    (lambda c: c["process"].__setitem__("args", []), "process.args"),
    (lambda c: c.__setitem__("ociVersion", "2.0.0"), "ociVersion"),
    (lambda c: c["process"]["user"].__setitem__("uid", -1), "process.user.uid"),
    (lambda c: c["linux"].__setitem__("devices", [{"path": "/dev/x", "type": "z", "major": 1,
                                                   "minor": 1}]), "linux.devices[0].type"),
    (lambda c: c["linux"].__setitem__("sysctl", {"net.ipv4.ip_forward": "1"}) or
     c["linux"].__setitem__("namespaces", [n for n in c["linux"]["namespaces"]
                                           if n["type"] != "network"]),
     "linux.sysctl.net.ipv4.ip_forward"),
])
def test_config_errors_name_the_json_path(rt, mutate, path):
    cid = rt.new_id()
    r = rt("create", "--bundle", edited(rt, mutate), cid)
    assert_one_error(r, path)
    assert not (rt.root / cid).exists()


def _pyrunc_inits() -> set[int]:
    out = set()
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if f.read().startswith(b"pyrunc-init\0"):
                    out.add(int(name))
        except (OSError, ValueError):
            pass
    return out


def test_a_cgroup_value_the_kernel_refuses_leaves_nothing(rt):
    """create starts the init (waiting for its plan) before it configures the cgroups: a value
    only the kernel refuses (a CPU this host lacks) still ends in one line naming the field, and
    the waiting init is gone with the state dir and cgroups (the rt fixture checks those)."""
    cpus = str((os.cpu_count() or 1) + 7)
    before = _pyrunc_inits()
    cid = rt.new_id()
    r = rt("create", "--bundle", edited(rt, lambda c: c["linux"].setdefault(
        "resources", {}).__setitem__("cpu", {"cpus": cpus})), cid)
    assert_one_error(r, "linux.resources.cpu.cpus")
    assert not (rt.root / cid).exists()
    assert _pyrunc_inits() <= before


@pytest.mark.parametrize("version", ["1.0.0", "1.0.2-dev", "1.1.0", "1.2.0", "1.3.0"])
def test_accepts_oci_versions(rt, version):
    b = rt.bundle(["true"])
    cfg = read_config(b)
    cfg["ociVersion"] = version
    write_config(b, cfg)
    rt.run_to_exit(b)


def test_bad_signal_leaves_container_alone(rt):
    cid = rt.create(rt.bundle(SLEEP))
    r = rt("kill", cid, "SIGNOTHING")
    assert_one_error(r, "signal")
    assert rt.status(cid) == "created"


def test_duplicate_id(rt):
    b = rt.bundle(SLEEP)
    cid = rt.create(b)
    pid = rt.state(cid)["pid"]
    r = rt("create", "--bundle", b, cid)
    assert_one_error(r, "exists")
    st = rt.state(cid)
    assert st["status"] == "created" and st["pid"] == pid


def test_concurrent_creates_one_wins(rt):
    b = rt.bundle(SLEEP)
    cid = rt.new_id()
    results: list[subprocess.CompletedProcess] = []

    def go() -> None:
        results.append(rt("create", "--bundle", b, cid))

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.returncode for r in results) == [0, 1, 1, 1]
    assert rt.status(cid) == "created"


def test_delete_running_needs_force(rt):
    cid = rt.create(rt.bundle(SLEEP))
    rt.ok("start", cid)
    r = rt("delete", cid)
    assert_one_error(r, "not stopped")
    rt.ok("delete", "--force", cid)
    assert rt("state", cid).returncode != 0


def test_list_formats(rt):
    cid = rt.create(rt.bundle(SLEEP))
    table = rt.ok("list").stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert any(line.split()[0] == cid and line.split()[2] == "created" for line in table[1:])
    data = json.loads(rt.ok("list", "--format", "json").stdout)
    assert [d["id"] for d in data] == [cid] and data[0]["status"] == "created"
    assert rt.ok("list", "-q").stdout.split() == [cid]


def test_empty_list_json_is_null(rt):
    assert rt.ok("list", "--format", "json").stdout.strip() == "null"


def test_version_and_help(runtime):
    out = subprocess.run([runtime, "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "spec:" in out.stdout
    lines = out.stdout.splitlines()
    # dockerd parses "<name> version <v>" and "commit: <c>" like runc's output
    assert lines[0].split(" version ")[1] and lines[1].startswith("commit: ")
    out = subprocess.run([runtime, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "create" in out.stdout


@pytest.mark.parametrize("flags", [[], ["--rootless"]])
def test_spec_matches_runc(tmp_path, runtime, flags):
    """On this host: a cgroup namespace on a pure cgroup v2 host, as runc adds one there."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    subprocess.run([runtime, "spec", *flags, "--bundle", tmp_path / "a"], check=True)
    subprocess.run(["runc", "spec", *flags, "--bundle", tmp_path / "b"], check=True)
    ours = json.loads((tmp_path / "a" / "config.json").read_text())
    theirs = json.loads((tmp_path / "b" / "config.json").read_text())
    for d in (ours, theirs):
        d.pop("ociVersion")
        d.pop("hostname")
    assert ours == theirs
    r = subprocess.run([runtime, "spec", "--bundle", tmp_path / "a"], capture_output=True,
                       text=True)
    assert r.returncode == 1 and "exists" in r.stderr


def test_spec_validates_against_schema(tmp_path, runtime):
    from conformance.schema import validate_config
    subprocess.run([runtime, "spec", "--bundle", tmp_path], check=True)
    validate_config(json.loads((tmp_path / "config.json").read_text()))


def test_features(runtime):
    out = subprocess.run([runtime, "features"], capture_output=True, text=True, check=True)
    f = json.loads(out.stdout)
    assert f["ociVersionMin"] == "1.0.0"
    assert "rbind" in f["mountOptions"] and "rro" in f["mountOptions"]
    assert set(f["linux"]["namespaces"]) >= {"pid", "user", "time", "cgroup"}
    assert "CAP_SYS_ADMIN" in f["linux"]["capabilities"]


def test_features_reports_runtime_spec_1_3(runtime):
    """features-linux.md as of runtime-spec 1.3: memoryPolicy's modes and flags (sorted, as
    runc 1.3 lists them), netDevices, and intelRdt's schemata and monitoring (pyrunc applies
    no Intel RDT, so all false)."""
    skip_on_runc(runtime, "runtime-spec 1.3 (its features say 1.0.2-dev)")
    f = json.loads(subprocess.run([runtime, "features"], capture_output=True, text=True,
                                  check=True).stdout)
    assert f["ociVersionMax"] == "1.3.0"
    lx = f["linux"]
    assert lx["memoryPolicy"] == {
        "modes": ["MPOL_BIND", "MPOL_DEFAULT", "MPOL_INTERLEAVE", "MPOL_LOCAL",
                  "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_WEIGHTED_INTERLEAVE"],
        "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"]}
    assert lx["netDevices"] == {"enabled": True}
    assert lx["intelRdt"] == {"enabled": False, "schemata": False, "monitoring": False}


def test_run_exit_codes(rt):
    r = rt("run", "--bundle", rt.bundle(["sh", "-c", "exit 7"]), rt.new_id())
    assert r.returncode == 7
    cid = rt.new_id()
    p = subprocess.Popen(rt.command("run", "--bundle", rt.bundle(SLEEP), cid),
                         stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while rt.status(cid) != "running" and time.monotonic() < deadline:
            time.sleep(0.01)
        rt.ok("kill", cid, "KILL")
        assert p.wait(timeout=30) == 137
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_run_detach_then_lifecycle(rt):
    cid = rt.new_id()
    rt.ok("run", "-d", "--bundle", rt.bundle(SLEEP), cid)
    assert rt.status(cid) == "running"
    rt.ok("kill", cid, "9")
    rt.wait_stopped(cid)
    rt.ok("delete", cid)


def test_missing_executable_fails_at_create(rt):
    cid = rt.new_id()
    r = rt("create", "--bundle", rt.bundle(["no-such-program"]), cid)
    assert_one_error(r, "executable file not found in $PATH")
    assert not (rt.root / cid).exists()


def test_signal_state_is_reset_before_exec(rt):
    """Ignored and blocked signals of whoever ran pyrunc do not reach the container."""
    b = rt.bundle(["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"])

    def mess_up_signals() -> None:
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2, signal.SIGINT})
        # 32 and 33 are glibc's own: its sigaction() refuses them, the init must not rely on it
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        ign = (ctypes.c_ulong * 4)(1, 0x04000000, 0, 0)  # SIG_IGN, SA_RESTORER unset
        libc.syscall(13, 32, ign, None, 8)  # rt_sigaction(32, SIG_IGN)

    cid = rt.new_id()
    out = subprocess.run(rt.command("run", "--bundle", b, cid), check=True, timeout=30,
                         preexec_fn=mess_up_signals, stdin=subprocess.DEVNULL,
                         capture_output=True, text=True).stdout
    lines = dict(line.split(":\t") for line in out.splitlines())
    assert int(lines["SigBlk"], 16) == 0
    assert int(lines["SigIgn"], 16) == 0


def test_no_host_fd_reaches_the_container(rt, tmp_path):
    b = rt.bundle(["sh", "-c", "ls /proc/self/fd > /share/fds"], share=True)
    leak = os.open(tmp_path, os.O_RDONLY)  # inheritable would be the bug; make it so
    os.set_inheritable(leak, True)
    try:
        cid = rt.new_id()
        subprocess.run(rt.command("run", "--bundle", b, cid), check=True, timeout=30,
                       close_fds=False, stdin=subprocess.DEVNULL)
    finally:
        os.close(leak)
    fds = sorted(int(x) for x in (rt.share / "fds").read_text().split())
    assert fds == [0, 1, 2, 3], fds  # 3 is ls's own directory fd


def test_preserve_fds(rt, tmp_path):
    b = rt.bundle(["sh", "-c", "cat <&3 > /share/got; ls /proc/self/fd > /share/fds"],
                  share=True)
    data = tmp_path / "data"
    data.write_text("passed along\n")
    cmd = " ".join(f"'{a}'" for a in rt.command("run", "--preserve-fds", "1", "--bundle", b,
                                                 rt.new_id()))
    subprocess.run(["bash", "-c", f"exec 3<'{data}'; exec {cmd}"], check=True, timeout=30,
                   stdin=subprocess.DEVNULL)
    assert (rt.share / "got").read_text() == "passed along\n"
    assert sorted(int(x) for x in (rt.share / "fds").read_text().split()) == [0, 1, 2, 3, 4]


def test_preserve_fds_not_open_is_an_error(rt):
    cid = rt.new_id()
    r = subprocess.run(rt.command("create", "--preserve-fds", "2", "--bundle",
                                  rt.bundle(SLEEP), cid),
                       capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert_one_error(r, "preserve-fds")
    assert not (rt.root / cid).exists()


def test_init_runs_from_a_sealed_memfd(rt):
    """/proc/PID/exe of the waiting init leads to no host file (runc CVE-2019-5736)."""
    cid = rt.create(rt.bundle(SLEEP))
    pid = rt.state(cid)["pid"]
    exe = os.readlink(f"/proc/{pid}/exe")
    assert exe.startswith("/memfd:pyrunc-init"), exe
    with pytest.raises(OSError):
        with open(f"/proc/{pid}/exe", "r+b") as f:
            f.write(b"x")


def test_sigkill_of_create_is_cleaned_by_delete_force(rt):
    """A SIGKILL of pyrunc at any moment leaves what `delete -f` fully cleans."""
    b = rt.bundle(SLEEP)
    for delay in [i * 0.0008 for i in range(25)] + [0.02, 0.04]:
        cid = rt.new_id()
        p = subprocess.Popen(rt.command("create", "--bundle", b, cid),
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        threading.Event().wait(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        _assert_state_tells_the_truth(rt, b, cid)
        rt("delete", "--force", cid)
        assert not (rt.root / cid).exists()
        # the leftover check of the fixture proves no process, cgroup or mount remains


def _assert_state_tells_the_truth(rt, bundle, cid):
    """State never calls a container stopped while a process of it lives on (issue 16, item 7):
    a process that outlives the killed create must be the one its state names."""
    from conformance import leftovers
    inner = json.loads((bundle / "config.json").read_text())["linux"]["cgroupsPath"]
    deadline = time.monotonic() + 5  # a process that saw pyrunc die is still exiting
    while True:
        pids = set()
        for h in leftovers.hierarchies():
            procs = h / inner.lstrip("/") / "cgroup.procs"
            if procs.exists():
                pids |= {int(x) for x in procs.read_text().split()}
        r = rt("state", cid)
        state = json.loads(r.stdout) if r.returncode == 0 else None
        if not pids or (state and state["status"] != "stopped" and state["pid"] in pids):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"state says {state} while {sorted(pids)} live in its cgroup")
        time.sleep(0.02)


def test_a_container_with_the_old_json_state_is_still_found_and_cleaned(rt):
    """Containers created before the state file became marshal keep a state.json: state, list
    and delete -f still find them, so an upgrade with containers running leaks nothing."""
    import marshal
    cid = rt.new_id()
    rt.ok("create", "--bundle", rt.bundle(SLEEP), cid)
    d = rt.root / cid
    (d / "state.json").write_text(json.dumps(marshal.loads((d / "state").read_bytes())))
    (d / "state").unlink()
    assert rt.state(cid)["status"] == "created"
    assert cid in rt.ok("list", "-q").stdout.split()
    rt.ok("delete", "--force", cid)
    assert not d.exists()
    # the leftover check of the fixture proves no process or cgroup remains


def test_session_keyring(rt):
    """Each container gets a session keyring of its own unless --no-new-keyring (runc)."""
    cid = rt.create(rt.bundle(SLEEP))
    keys = open("/proc/keys").read()
    assert f"_ses.{cid}" in keys
    other = rt.new_id()
    rt.ok("create", "--no-new-keyring", "--bundle", rt.bundle(SLEEP), other)
    assert f"_ses.{other}" not in open("/proc/keys").read()


def test_checkpoint_of_an_unknown_id_is_one_error(rt, tmp_path):
    r = rt("checkpoint", "--image-path", tmp_path / "img", "some-id")
    assert_one_error(r, "does not exist")


def test_restore_without_a_bundle_is_one_error(rt, tmp_path):
    """No config.json where --bundle points (checkpoint/restore: tests/test_checkpoint.py)."""
    r = rt("restore", "--bundle", tmp_path, "--image-path", tmp_path / "img", rt.new_id())
    assert_one_error(r, "config.json")


def test_start_after_a_killed_start(rt):
    """A start SIGKILLed after it released the init leaves the exec fifo: the next start must
    say the container runs, not wait forever."""
    cid = rt.create(rt.bundle(SLEEP))
    fifo = rt.root / cid / "exec.fifo"
    rt.ok("start", cid)
    os.mkfifo(fifo, 0o622)  # what the killed start would have left
    assert rt.status(cid) == "running"  # the released init no longer runs pyrunc-init
    r = rt("start", cid)
    assert_one_error(r, "already running")
    assert rt.status(cid) == "running"


def test_start_killed_before_its_byte_does_not_release_the_init(rt):
    """The init waits on the exec fifo as the container's user, which alone (and root) may
    open it; a writer that leaves without its byte (a start killed midway) releases nothing,
    and the next start works."""
    b = edited(rt, lambda c: c["process"]["user"].update(uid=1234, gid=1235))
    cid = rt.create(b)
    fifo = rt.root / cid / "exec.fifo"
    st = fifo.stat()
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o600, 1234, 1235)
    deadline = time.monotonic() + 5
    while True:  # the init may not have reached its open yet
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            break
        except OSError:
            assert time.monotonic() < deadline, "the init never waited on the exec fifo"
            time.sleep(0.01)
    time.sleep(0.1)
    assert rt.status(cid) == "created"
    rt.ok("start", cid)
    assert rt.status(cid) == "running"


def test_systemd_cgroup_without_systemd_is_a_clear_error(rt):
    """--systemd-cgroup is accepted as a flag; on a host without systemd it fails clearly and
    leaves nothing (issue 4: the driver itself is later work)."""
    if os.path.isdir("/run/systemd/system"):
        pytest.skip("this host runs systemd")
    cid = rt.new_id()
    r = rt("create", "--bundle", rt.bundle(SLEEP), cid, global_args=("--systemd-cgroup",))
    assert_one_error(r, "systemd")
    assert not (rt.root / cid).exists()


def test_rootless_flag_is_accepted(rt):
    cid = rt.new_id()
    rt.ok("create", "--bundle", rt.bundle(SLEEP), cid, global_args=("--rootless", "false"))
    assert rt.status(cid) == "created"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_debug_logs_the_steps_of_create(rt, tmp_path, fmt):
    """--debug: the steps a person debugging a failed create needs, at level debug, in the
    --log file in its format (issue 18); none of them without --debug."""
    log = tmp_path / f"log.{fmt}"
    cid = rt.new_id()
    rt.ok("create", "--bundle", rt.bundle(SLEEP), cid,
          global_args=("--debug", "--log", str(log), "--log-format", fmt))
    lines = log.read_text().splitlines()
    if fmt == "json":
        msgs = [json.loads(line)["msg"] for line in lines if json.loads(line)["level"] == "debug"]
    else:
        msgs = [line.split('msg="', 1)[1] for line in lines if "level=debug" in line]
    for step in ("config loaded", "cgroups resolved", "plan sent", "cloned and recorded",
                 "waits for start"):
        assert any(step in m for m in msgs), (step, lines)
    quiet = tmp_path / "quiet.log"
    other = rt.new_id()
    rt.ok("create", "--bundle", rt.bundle(SLEEP), other, global_args=("--log", str(quiet)))
    assert "level=debug" not in (quiet.read_text() if quiet.exists() else "")


def test_a_cgroup_that_already_holds_processes_is_warned_about(rt):
    from conformance import leftovers
    from conformance.bundle import CGROUP_PARENT
    path = f"{CGROUP_PARENT}/{rt.token}-busy"
    sleeper = subprocess.Popen(["sleep", "100"])
    dirs = leftovers.make_cgroup(path)
    try:
        for d in dirs:
            (d / "cgroup.procs").write_text(str(sleeper.pid))
        cid = rt.new_id()
        r = rt("create", "--bundle", rt.bundle(SLEEP, cgroups_path=path), cid)
        assert r.returncode == 0, r.stderr
        assert "cgroup is not empty: 1 process(es) found" in r.stderr, r.stderr
        rt.ok("delete", "--force", cid)
        assert sleeper.poll() is None  # not the container's to kill
    finally:
        sleeper.kill()
        sleeper.wait()
        for d in dirs:
            assert leftovers.remove_cgroup(d) is None
