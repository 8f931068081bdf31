"""The plan format tested from both sides: Python's encoder and planner, and the C init reading
and executing plans it is handed directly (no container, no pyrunc CLI)."""
from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pyrunc import plan as planmod
from pyrunc.plan import OPS, Plan, decode

REPO = Path(__file__).resolve().parent.parent
INIT = REPO / "pyrunc" / "libexec" / "pyrunc-init"


# -- the Python side ---------------------------------------------------------------------------
def test_codes_and_names_are_unique():
    assert len({code for _, code, _, _ in OPS}) == len(OPS)
    assert len({name for name, _, _, _ in OPS}) == len(OPS)


def test_encode_decode_round_trip():
    p = Plan()
    p.add("WRITE", "/proc/self/x", b"bytes\x00inside")
    p.add("RLIMIT", 7, 1024, (1 << 64) - 1)
    p.add("USER", 1000, 1000, 1, "10", "20")
    got = decode(p.encode())
    assert [n for n, _ in got] == ["WRITE", "RLIMIT", "USER"]
    assert got[0][1] == [b"/proc/self/x", b"bytes\x00inside"]
    assert [struct.unpack("<Q", a)[0] for a in got[1][1]] == [7, 1024, (1 << 64) - 1]
    assert got[2][1][3:] == [b"10", b"20"]


def test_every_op_is_handled_by_the_init():
    """The generated header lists every op, and the init's dispatcher has a case for each."""
    header = planmod.c_header()
    sources = "".join(p.read_text() for p in (REPO / "native" / "init").glob("*.c"))
    for name, code, _, _ in OPS:
        assert f"OP_{name} = {code}," in header
        assert re.search(rf"case OP_{name}\b", sources), f"the init does not handle {name}"


def _default_plan_names(**proc) -> list[str]:
    from conformance.bundle import default_config
    from pyrunc.config import Config
    from pyrunc.plan import InitFds
    from pyrunc.plan.build import Planner
    cfg = default_config(["true"])
    cfg["process"].update(proc)
    c = Config(cfg, "/nonexistent-bundle")
    return Planner(c, InitFds(0, ["fifo"])).build().names()


def test_planner_orders_what_the_kernel_needs():
    names = _default_plan_names()
    idx = {n: names.index(n) for n in set(names)}
    assert names[0] == "CLONE"
    assert idx["CLONE"] < idx["MOUNT_RAW"] < idx["ROOT"] < idx["PIVOT_ROOT"]
    assert idx["PIVOT_ROOT"] < idx["MASK"] and idx["PIVOT_ROOT"] < idx["READONLY"]
    assert idx["PIVOT_ROOT"] < idx["REOPEN_DEVNULL"] < idx["MASK"]
    # sysctls and the hostname go in before readonlyPaths make /proc/sys read-only
    assert idx["SETHOSTNAME"] < idx["READONLY"]
    assert idx["CAP_BOUNDING"] < idx["USER"] < idx["CAPS"]  # the bounding set needs SETPCAP
    assert idx["NO_NEW_PRIVS"] < idx["READY"] < idx["WAIT_FIFO"] < idx["EXEC"] == len(names) - 1


def test_the_container_process_waits_for_the_cgroups_first_thing():
    """create sets the cgroups' limits while the first stage joins and clones: the plan makes
    the container process wait for that before any other operation."""
    from conformance.bundle import default_config
    from pyrunc.config import Config
    from pyrunc.plan import InitFds
    from pyrunc.plan.build import Planner
    c = Config(default_config(["true"]), "/nonexistent-bundle")
    plan = Planner(c, InitFds(0, ["fifo", "hook_state", "cgroups_ready"])).build()
    names = plan.names()
    i = names.index("CLONE")
    assert names[i + 1] == "WAIT_ACK" and plan.records[i + 1][1] == (7,)
    assert names.count("WAIT_ACK") == 1


def test_seccomp_is_late_with_no_new_privileges_and_early_without():
    """runc's order: with noNewPrivileges the filter is loaded right before READY (after the
    program is found, before `start` and the startContainer hooks, which run under it);
    without, before the uid switch, since loading it then needs CAP_SYS_ADMIN."""
    prof = {"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}
    from pyrunc.seccomp import compile_seccomp
    from conformance.bundle import default_config
    from pyrunc.config import Config
    from pyrunc.plan import InitFds
    from pyrunc.plan.build import Planner
    for nnp in (True, False):
        cfg = default_config(["true"])
        cfg["process"]["noNewPrivileges"] = nnp
        c = Config(cfg, "/nonexistent-bundle")
        names = Planner(c, InitFds(0, ["fifo"]),
                        seccomp=compile_seccomp(prof)).build().names()
        if nnp:
            i = names.index("SECCOMP")
            assert names[i - 2:i + 3] == ["RESOLVE_EXEC", "PDEATHSIG", "SECCOMP", "READY",
                                          "WAIT_FIFO"], names
        else:
            assert names.index("SECCOMP") < names.index("USER")


# -- the C side --------------------------------------------------------------------------------
def run_init(data: bytes, timeout: float = 20) -> tuple[int, str]:
    """Run pyrunc-init with ``data`` as its plan; (its exit status, what it said on SYNCFD,
    one "<kind><payload>" line per framed message)."""
    plan_r, plan_w = os.pipe()
    sync_r, sync_w = os.pipe()
    try:
        proc = subprocess.Popen([str(INIT), str(plan_r), str(sync_w)], pass_fds=(plan_r, sync_w),
                                stdin=subprocess.DEVNULL)
    finally:
        os.close(plan_r)
        os.close(sync_w)
    try:
        os.write(plan_w, data)
    except BrokenPipeError:
        pass
    os.close(plan_w)
    out = b""
    with os.fdopen(sync_r, "rb") as f:
        out = f.read()
    return proc.wait(timeout=timeout), said_lines(out)


def test_a_message_keeps_a_newline_of_its_path_whole():
    """Messages are framed by length (plan.py), so a path with a newline stays one message;
    pyrunc's error line then shows it without the newline (spawn._error_text)."""
    p = Plan()
    p.add("ROOT", "/nonexistent\nsecond line")
    plan_r, plan_w = os.pipe()
    sync_r, sync_w = os.pipe()
    proc = subprocess.Popen([str(INIT), str(plan_r), str(sync_w)], pass_fds=(plan_r, sync_w),
                            stdin=subprocess.DEVNULL)
    os.close(plan_r)
    os.close(sync_w)
    os.write(plan_w, p.encode())
    os.close(plan_w)
    with os.fdopen(sync_r, "rb") as f:
        (kind, payload), = planmod.messages(f.read())
    assert proc.wait(timeout=20) != 0
    assert kind == "e" and payload.endswith(b"/nonexistent\nsecond line"), payload


def said_lines(data: bytes) -> str:
    """The init's framed sync messages as lines "<kind><payload>\n" (plan.messages)."""
    return "".join(f"{k}{v.decode()}\n" for k, v in planmod.messages(data))


def _rec(op: int, *args: bytes) -> bytes:
    return struct.pack("<II", op, len(args)) + b"".join(struct.pack("<I", len(a)) + a
                                                       for a in args)


def _plan(*recs: bytes) -> bytes:
    return planmod.MAGIC + struct.pack("<I", len(recs)) + b"".join(recs)


@pytest.mark.parametrize("data,message", [
    (b"NOTAPLAN" + b"\0" * 8, "plan: bad magic"),
    (planmod.MAGIC + struct.pack("<I", 2) + _rec(planmod.OP["UMASK"], struct.pack("<Q", 0)),
     "plan truncated"),
    (_plan(_rec(999)), "unknown operation 999"),
    (_plan(_rec(planmod.OP["UMASK"])), "UMASK takes 1 arguments, got 0"),
    (_plan(_rec(planmod.OP["UMASK"], b"\1\2")), "UMASK argument 0 is not a u64"),
    (_plan(_rec(planmod.OP["UMASK"], struct.pack("<Q", 0))), "plan ended without EXEC"),
    (Plan().encode() + b"x", "plan: trailing bytes"),
])
def test_init_rejects_bad_plans(data, message):
    status, said = run_init(data)
    assert status == 1
    assert said.startswith("E") and message in said, said


def test_init_runs_a_minimal_plan():
    """CLONE with no namespaces, exec of true: P<pid>, then EOF (the execve succeeded)."""
    p = Plan()
    p.add("CLONE", 0)
    p.add("RESOLVE_EXEC", "true", "/usr/bin:/bin")
    p.add("EXEC", 0, 1, "true")
    status, said = run_init(p.encode())
    assert status == 0  # the first stage
    assert re.fullmatch(r"P\d+\n", said), said
    pid = int(said[1:])
    _, st = os.waitpid(pid, 0)  # the container process is our child (CLONE_PARENT)
    assert os.waitstatus_to_exitcode(st) == 0


def test_init_reports_a_missing_executable_like_runc():
    p = Plan()
    p.add("CLONE", 0)
    p.add("RESOLVE_EXEC", "no-such-program", "/usr/bin:/bin")
    p.add("EXEC", 0, 1, "no-such-program")
    status, said = run_init(p.encode())
    pid = int(said.splitlines()[0][1:])
    os.waitpid(pid, 0)
    assert 'exec: "no-such-program": executable file not found in $PATH' in said


def test_in_root_paths_cannot_leave_the_root(tmp_path):
    """MKDIRS/MKFILE through absolute and ../ symlinks stay inside ROOT (RESOLVE_IN_ROOT)."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "abs").symlink_to("/")
    (root / "rel").symlink_to("../../../..")
    outside = tmp_path / "escaped"
    p = Plan()
    p.add("CLONE", 0)
    p.add("ROOT", str(root))
    p.add("MKDIRS", f"/abs{outside}", 0o755)
    p.add("MKFILE", "/rel/made-file", 0o644)
    p.add("RESOLVE_EXEC", "true", "/usr/bin:/bin")
    p.add("EXEC", 0, 1, "true")
    status, said = run_init(p.encode())
    pid = int(said.splitlines()[0][1:])
    os.waitpid(pid, 0)
    assert not outside.exists()
    assert not Path("/made-file").exists()
    assert (root / str(outside).lstrip("/")).is_dir()
    assert (root / "made-file").is_file()


def test_cgroups_are_entered_first_without_moving_a_pid():
    """The first stage enters the cgroups itself before anything else (after
    execCPUAffinity.initial, which the runtime-spec sets before the join): a v1 `tasks` file
    gets "0", the cgroup2 directory is the CLONE's target."""
    from pyrunc.cgroups import Cgroup
    cg = Cgroup("hybrid", {"pids": "/sys/fs/cgroup/pids/x", "cpu,cpuacct": "/sys/fs/cgroup/cpu/x",
                           "cpu": "/sys/fs/cgroup/cpu/x", "": "/sys/fs/cgroup/unified/x"})
    join = cg.join_ops()
    assert join == [("CGROUP_JOIN", "/sys/fs/cgroup/pids/x/tasks"),
                    ("CGROUP_JOIN", "/sys/fs/cgroup/cpu/x/tasks"),
                    ("CGROUP_CLONE_INTO", "/sys/fs/cgroup/unified/x")]
    from conformance.bundle import default_config
    from pyrunc.config import Config
    from pyrunc.plan import InitFds
    from pyrunc.plan.build import Planner
    cfg = default_config(["true"])
    cfg["process"]["execCPUAffinity"] = {"initial": "0"}
    names = Planner(Config(cfg, "/nonexistent-bundle"), InitFds(0, ["fifo"]),
                    cgroup_join=join).build().names()
    assert names[:5] == ["CPU_AFFINITY", "CGROUP_JOIN", "CGROUP_JOIN", "CGROUP_CLONE_INTO",
                         "CLONE"]


def test_the_first_stage_takes_back_pyruncs_affinity_first():
    """create starts the first stage off its own CPU; the first op gives back the affinity the
    process would have inherited, unless execCPUAffinity.initial sets one."""
    from conformance.bundle import default_config
    from pyrunc.config import Config
    from pyrunc.config.fields import cpu_mask
    from pyrunc.plan import InitFds
    from pyrunc.plan.build import Planner
    own = cpu_mask({0, 1, 5})
    assert own[0] == 0b100011 and len(own) == 128
    for initial, want in ((None, own), ("2", cpu_mask({2}))):
        cfg = default_config(["true"])
        if initial:
            cfg["process"]["execCPUAffinity"] = {"initial": initial}
        plan = Planner(Config(cfg, "/nonexistent-bundle"), InitFds(0, ["fifo"]),
                       own_affinity=own).build()
        assert plan.records[0] == ("CPU_AFFINITY", (want,))


def _map_tool(tmp_path: Path, status: int = 0) -> Path:
    """A stand-in for newuidmap: records its arguments, writes the map they give, exits."""
    tool = tmp_path / "maptool"
    tool.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/args\npid=$1; shift\n"
                    f"echo \"$@\" > /proc/$pid/uid_map\nexit {status}\n")
    tool.chmod(0o755)
    return tool


def test_uid_map_exec_runs_the_tool_with_the_pid_and_maps(tmp_path):
    """C side of the rootless maps: UID_MAP_EXEC runs 'TOOL PID ARGS...' instead of writing
    uid_map, after MAPS_DUMPABLE has the container process dumpable for it."""
    tool = _map_tool(tmp_path)
    p = Plan()
    p.add("MAPS_DUMPABLE")
    p.add("UID_MAP_EXEC", str(tool), "0", "4000000", "1")
    p.add("GID_MAP", "0 4000000 1\n")
    p.add("CLONE", 0x10000000)  # CLONE_NEWUSER
    p.add("RESOLVE_EXEC", "cat", "/usr/bin:/bin")
    p.add("EXEC", 0, 2, "cat", "/proc/self/uid_map")
    status, said = run_init(p.encode())
    assert status == 0, said
    pid = int(said.splitlines()[0][1:])
    os.waitpid(pid, 0)
    assert (tmp_path / "args").read_text().split() == [str(pid), "0", "4000000", "1"]


def test_a_failing_map_tool_is_fatal(tmp_path):
    p = Plan()
    p.add("MAPS_DUMPABLE")
    p.add("UID_MAP_EXEC", str(_map_tool(tmp_path, status=3)), "0", "4000000", "1")
    p.add("CLONE", 0x10000000)
    p.add("RESOLVE_EXEC", "true", "/usr/bin:/bin")
    p.add("EXEC", 0, 1, "true")
    status, said = run_init(p.encode())
    assert status != 0
    assert re.search(r"maptool \d+ failed", said), said


def test_init_enters_the_cgroups_it_is_given(parent):
    """C side: CGROUP_JOIN and CGROUP_CLONE_INTO put the container process in the cgroup of
    every hierarchy; the first stage leaves no cgroup fd to it."""
    from cgroup_helpers import proc_cgroup
    cg = parent.child("init")
    cg.create()
    p = Plan()
    for op, path in cg.join_ops():
        p.add(op, path)
    p.add("CLONE", 0)
    p.add("RESOLVE_EXEC", "sleep", "/usr/bin:/bin")
    p.add("EXEC", 0, 2, "sleep", "100")
    status, said = run_init(p.encode())
    assert status == 0, said
    pid = int(said.splitlines()[0][1:])
    try:
        where = proc_cgroup(pid)
        inner = parent.prefix + "/init"
        for ctrls, path in where.items():
            if ctrls == "" and cg.mode == "v1":
                continue
            assert path.endswith(inner), (ctrls, path)
        assert sorted(os.listdir(f"/proc/{pid}/fd")) == ["0", "1", "2"]
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


def test_a_failed_system_call_is_sent_as_errno_and_worded_by_pyrunc():
    """`e<errno> <text>`: the init's libc never words an error (runc's texts are glibc's)."""
    from pyrunc.errors import PyruncError
    from pyrunc.host.spawn import start_init
    from pyrunc.plan import InitFds
    p = Plan()
    p.add("CLONE", 0)
    p.add("CHDIR", "/nonexistent-dir", 0)
    p.add("RESOLVE_EXEC", "true", "/usr/bin:/bin")
    p.add("EXEC", 0, 1, "true")
    status, said = run_init(p.encode())
    os.waitpid(int(said.splitlines()[0][1:]), 0)
    assert said.splitlines()[1] == "e2 chdir to cwd /nonexistent-dir"
    init = start_init(p.encode(), InitFds(0, []))
    try:
        with pytest.raises(PyruncError) as e:
            init.wait_for("R")
        assert str(e.value) == "chdir to cwd /nonexistent-dir: No such file or directory"
    finally:
        init.close()
        os.waitpid(init.pid, 0)


def test_the_init_is_not_dumpable_while_it_holds_the_sync_pipe():
    """CVE-2016-9962 (and issue 16's sync-pipe injection): a process of the container's uid
    with no more capabilities must not reach the joining process' fds.  The container process
    is stopped in WAIT_ACK as uid 0 (no uid change, which alone would make it non-dumpable)
    with every capability dropped, still holding the sync pipe: its /proc files belong to
    root, and a root process without capabilities cannot open them."""
    ack_r, ack_w = os.pipe()
    plan_r, plan_w = os.pipe()
    sync_r, sync_w = os.pipe()
    p = Plan()
    p.add("CLONE", 0)
    p.add("CAPS", 0, 0, 0, 0)
    p.add("WAIT_ACK", ack_r)
    p.add("RESOLVE_EXEC", "true", "/usr/bin:/bin")
    p.add("EXEC", 0, 1, "true")
    proc = subprocess.Popen([str(INIT), str(plan_r), str(sync_w)],
                            pass_fds=(plan_r, sync_w, ack_r), stdin=subprocess.DEVNULL)
    for fd in (plan_r, sync_w, ack_r):
        os.close(fd)
    os.write(plan_w, p.encode())
    os.close(plan_w)
    pid = 0
    try:
        assert proc.wait(timeout=20) == 0
        line = said_lines(os.read(sync_r, 64))  # the one message so far
        assert re.fullmatch(r"P\d+\n", line), line
        pid = int(line[1:])
        deadline = time.monotonic() + 20
        while "\nCapEff:\t0000000000000000" not in open(f"/proc/{pid}/status").read():
            assert time.monotonic() < deadline, "the process never dropped its capabilities"
            time.sleep(0.01)
        assert os.stat(f"/proc/{pid}/fd").st_uid == 0  # non-dumpable: its /proc is root's
        probe = subprocess.run(
            ["setpriv", "--inh-caps=-all", "--bounding-set=-all", sys.executable, "-c",
             f"open('/proc/{pid}/fd/{sync_w}', 'wb')"], capture_output=True, text=True,
            timeout=20)
        assert probe.returncode != 0 and "PermissionError" in probe.stderr, probe.stderr
    finally:
        os.write(ack_w, b"1")
        os.close(ack_w)
        os.close(sync_r)
        if pid:
            os.waitpid(pid, 0)


def test_sched_attr_is_the_whole_struct_and_the_init_checks_its_size():
    """struct sched_attr is 56 bytes with util_min/util_max; the kernel reads what its size
    field says, so the packed value must hold all of it, and the init refuses a record whose
    size field is not its length (it read 8 bytes past a 48-byte plan argument before)."""
    from pyrunc.config.process import Process
    from conformance.bundle import default_config
    proc = default_config(["true"])["process"]
    proc["scheduler"] = {"policy": "SCHED_BATCH", "nice": 3, "flags": ["SCHED_FLAG_RESET_ON_FORK"]}
    attr = Process(proc).scheduler
    assert len(attr) == 56 and struct.unpack_from("<I", attr)[0] == 56
    for bad in (attr[:48], struct.pack("<I", 60) + attr[4:], b"\1"):
        p = Plan()
        p.add("CLONE", 0)
        p.add("SCHED_ATTR", bad)
        p.add("RESOLVE_EXEC", "true", "/usr/bin:/bin")
        p.add("EXEC", 0, 1, "true")
        status, said = run_init(p.encode())
        os.waitpid(int(said.splitlines()[0][1:]), 0)
        assert "plan: SCHED_ATTR" in said, said


def test_a_path_too_long_is_an_error_never_a_shorter_path(tmp_path):
    """MKDIRS of a path over PATH_MAX: the init used to cut it and create the cut one."""
    root = tmp_path / "root"
    root.mkdir()
    p = Plan()
    p.add("CLONE", 0)
    p.add("ROOT", str(root))
    p.add("MKDIRS", "/" + "d/" * 2100, 0o755)
    p.add("RESOLVE_EXEC", "true", "/usr/bin:/bin")
    p.add("EXEC", 0, 1, "true")
    status, said = run_init(p.encode())
    os.waitpid(int(said.splitlines()[0][1:]), 0)
    assert "path too long" in said, said
    assert list(root.iterdir()) == []


def test_mount_data_never_reaches_an_error_message(tmp_path):
    """Mount data may hold credentials (cifs, nfs): a failed mount names everything else."""
    root = tmp_path / "root"
    (root / "mnt").mkdir(parents=True)
    p = Plan()
    p.add("CLONE", 0)
    p.add("ROOT", str(root))
    p.add("MOUNT", "//server/share", "/mnt", "no-such-fs", 0, "username=u,password=SECRET")
    p.add("RESOLVE_EXEC", "true", "/usr/bin:/bin")
    p.add("EXEC", 0, 1, "true")
    status, said = run_init(p.encode())
    os.waitpid(int(said.splitlines()[0][1:]), 0)
    assert "mount //server/share to /mnt (type no-such-fs" in said, said
    assert "SECRET" not in said


def _refuse_syscall_filter(nr: int) -> bytes:
    """A classic BPF seccomp program: syscall ``nr`` fails with EPERM, the rest is allowed."""
    ld, jeq, ret = 0x20, 0x15, 0x06
    ins = [(ld, 0, 0, 0), (jeq, 0, 1, nr), (ret, 0, 0, 0x00050000 | 1), (ret, 0, 0, 0x7fff0000)]
    return b"".join(struct.pack("<HBBI", *i) for i in ins)


def test_fds_are_closed_on_exec_even_when_seccomp_refuses_close_range():
    """A leaked, inheritable fd of pyrunc's caller never reaches the container: with
    close_range refused (Docker's profile does it under noNewPrivileges) the init marks the
    fds its procfs lists, and checks that it could."""
    leaked = os.open("/dev/null", os.O_RDONLY)  # inheritable: a caller's leak
    os.dup2(leaked, 1000)
    os.close(leaked)
    try:
        p = Plan()
        p.add("CLONE", 0)
        p.add("NO_NEW_PRIVS")
        p.add("SECCOMP", 0, _refuse_syscall_filter(436))  # close_range on x86_64
        p.add("RESOLVE_EXEC", "sh", "/usr/bin:/bin")
        p.add("EXEC", 0, 3, "sh", "-c", "ls /proc/self/fd > /dev/stderr")
        plan_r, plan_w = os.pipe()
        sync_r, sync_w = os.pipe()
        proc = subprocess.Popen([str(INIT), str(plan_r), str(sync_w)],
                                pass_fds=(plan_r, sync_w, 1000), stdin=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        os.close(plan_r)
        os.close(sync_w)
        os.write(plan_w, p.encode())
        os.close(plan_w)
        with os.fdopen(sync_r, "rb") as f:  # EOF: the execve closed the init's end
            said = said_lines(f.read())
        pid = int(said.splitlines()[0][1:])
        os.waitpid(pid, 0)
        listed = proc.stderr.read().decode().split()
        proc.wait(timeout=20)
        assert "1000" not in listed and "0" in listed, (said, listed)
    finally:
        os.close(1000)


def test_a_user_namespace_binds_cgroup2_where_it_cannot_mount_it():
    """runc's fallback, decided up front: in a user namespace without a cgroup namespace of its
    own, mounting cgroup2 is refused (EPERM), so on a pure v2 host the host's hierarchy is
    bound instead; with a cgroup namespace, or without a user namespace, cgroup2 is mounted."""
    from conformance.bundle import default_config
    from conformance.linux import add_userns
    from pyrunc.config import Config
    from pyrunc.plan import InitFds
    from pyrunc.plan.build import Planner

    def cgroup_ops(userns, cgroupns):
        cfg = default_config(["true"])
        if userns:
            add_userns(cfg)
        if cgroupns:
            cfg["linux"]["namespaces"].append({"type": "cgroup"})
        plan = Planner(Config(cfg, "/nonexistent-bundle"), InitFds(0, ["fifo"]),
                       cgroup2_root="/sys/fs/cgroup").build()
        return [(op, args[:3]) for op, args in plan.records
                if op == "MOUNT" and args[1] == "/sys/fs/cgroup"]
    bind = cgroup_ops(userns=True, cgroupns=False)
    assert bind[0] == ("MOUNT", ("/sys/fs/cgroup", "/sys/fs/cgroup", "")), bind
    for userns, cgroupns in ((True, True), (False, False), (False, True)):
        ops = cgroup_ops(userns, cgroupns)
        assert ops[0] == ("MOUNT", ("cgroup2", "/sys/fs/cgroup", "cgroup2")), ops


def test_no_pivot_detaches_the_hosts_procfs_and_sysfs_first():
    """--no-pivot only chroots (MOVE_ROOT): every full procfs and sysfs of the host outside
    the rootfs is detached first, or covered with a tmpfs in a user namespace, where it is
    locked (runc's msMoveRoot).  A full procfs left in the namespace lets the kernel allow a
    new, unmasked procfs mount (mnt_already_visible)."""
    from conformance.bundle import default_config
    from conformance.linux import add_userns
    from pyrunc.host import mountinfo
    from pyrunc.config import Config
    from pyrunc.plan import InitFds
    from pyrunc.plan.build import Planner
    host = [m.mountpoint for m in mountinfo.read()
            if m.fstype in ("proc", "sysfs") and m.root == "/"]
    assert "/proc" in host and "/sys" in host
    for userns in (False, True):
        cfg = default_config(["true"])
        if userns:
            add_userns(cfg)
        names = Planner(Config(cfg, "/nonexistent-bundle"), InitFds(0, ["fifo"]),
                        no_pivot=True).build()
        recs = names.records
        move = names.names().index("MOVE_ROOT")
        hidden = {args[0] for op, args in recs[:move] if op == "UMOUNT"} | \
            {args[1] for op, args in recs[:move] if op == "MOUNT_RAW" and args[2] == "tmpfs"}
        assert hidden == set(host), (userns, hidden, host)
        assert ("UMOUNT" in names.names()[:move]) != userns


def test_memory_policy_is_the_last_attribute_before_the_credentials():
    """MEMPOLICY carries mode|flags and a 1024-node little-endian mask, and comes after the
    set-up (whose allocations it must not bind) and before the credentials."""
    from conformance.bundle import default_config
    from pyrunc.config import Config
    from pyrunc.plan import InitFds
    from pyrunc.plan.build import Planner
    cfg = default_config(["true"])
    cfg["linux"]["memoryPolicy"] = {"mode": "MPOL_BIND", "nodes": "0,2-3",
                                    "flags": ["MPOL_F_STATIC_NODES"]}
    plan = Planner(Config(cfg, "/nonexistent-bundle"), InitFds(0, ["fifo"])).build()
    names = plan.names()
    assert names.index("PIVOT_ROOT") < names.index("MEMPOLICY") < names.index("CAP_BOUNDING")
    (mode, mask, text), = [a for n, a in plan.records if n == "MEMPOLICY"]
    assert mode == 2 | 1 << 15 and len(mask) == 128
    assert int.from_bytes(mask, "little") == 0b1101
    assert text == "linux.memoryPolicy: set_mempolicy MPOL_BIND nodes 0,2-3"


def _mempolicy_plan(mode: int, mask: bytes, script: str) -> bytes:
    p = Plan()
    p.add("CLONE", 0)
    p.add("MEMPOLICY", mode, mask, "the policy")
    p.add("RESOLVE_EXEC", "sh", "/usr/bin:/bin")
    p.add("EXEC", 0, 3, "sh", "-c", script)
    return p.encode()


def test_init_sets_the_memory_policy_it_is_given():
    """The init's side: the mask's bits are the nodes (node 0 here, which every host has)."""
    status, said = run_init(_mempolicy_plan(3, b"\1" + bytes(127),
                                            "grep -q ' interleave:0 ' /proc/self/numa_maps"))
    _, st = os.waitpid(int(said.splitlines()[0][1:]), 0)
    assert os.waitstatus_to_exitcode(st) == 0, said


def test_init_words_a_refused_memory_policy_with_its_text():
    node_1023 = bytes(127) + b"\x80"  # no host has it
    status, said = run_init(_mempolicy_plan(2, node_1023, "true"))
    os.waitpid(int(said.splitlines()[0][1:]), 0)
    assert "e22 the policy" in said, said


def test_net_devices_are_configured_once_the_container_process_may_go_on():
    """NETDEV ops come right after the cgroups-ready wait (create moves the devices before
    it writes that byte), address the device by its host index, and keep only permanent
    global addresses (lo's are host scope: none)."""
    from conformance.bundle import default_config
    from pyrunc.config import Config
    from pyrunc.plan import InitFds
    from pyrunc.plan.build import Planner
    cfg = default_config(["true"])
    cfg["linux"]["netDevices"] = {"lo": {"name": "hostlo"}}
    planner = Planner(Config(cfg, "/nonexistent-bundle"),
                      InitFds(0, ["fifo", "cgroups_ready"]))
    plan = planner.build()
    names = plan.names()
    i = names.index("WAIT_ACK")
    assert names[i + 1] == "NETDEV_UP" and "NETDEV_ADDR" not in names
    assert plan.records[i + 1][1] == (1, "linux.netDevices.lo: set hostlo up")
    (dev,) = planner.net_devices
    assert (dev.host_name, dev.name, dev.index, dev.addresses) == ("lo", "hostlo", 1, [])


def _netdev_plan(*ops: tuple, script: str) -> bytes:
    p = Plan()
    p.add("CLONE", 0x40000000)  # CLONE_NEWNET: a namespace whose lo has index 1
    for op in ops:
        p.add(*op)
    p.add("RESOLVE_EXEC", "sh", "/usr/bin:/bin")
    p.add("EXEC", 0, 3, "sh", "-c", script)
    return p.encode()


def test_init_adds_addresses_and_sets_the_link_up():
    import socket
    data = _netdev_plan(
        ("NETDEV_ADDR", 1, socket.AF_INET, 8, 0, socket.inet_aton("10.3.2.1"),
         socket.inet_aton("10.3.2.1"), socket.inet_aton("10.255.255.255"), "add v4"),
        ("NETDEV_ADDR", 1, socket.AF_INET6, 64, 0x02, b"",
         socket.inet_pton(socket.AF_INET6, "fd00:3::1"), b"", "add v6"),
        ("NETDEV_UP", 1, "up"),
        script="ip addr show lo | grep -q 'inet 10.3.2.1/8 brd 10.255.255.255' && "
               "ip addr show lo | grep -q 'inet6 fd00:3::1/64' && "
               "ip link show lo | grep -q ',UP'")
    status, said = run_init(data)
    _, st = os.waitpid(int(said.splitlines()[0][1:]), 0)
    assert os.waitstatus_to_exitcode(st) == 0, said


def test_init_words_a_netlink_refusal_with_its_text():
    status, said = run_init(_netdev_plan(("NETDEV_UP", 999, "set eth9 up"), script="true"))
    os.waitpid(int(said.splitlines()[0][1:]), 0)
    assert "e19 set eth9 up" in said, said  # ENODEV
