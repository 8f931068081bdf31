"""pyrunc.seccomp on the real kernel: compile profiles, load them in a forked child, check what
the kernel does with each syscall.  No mocks: libseccomp compiles, seccomp(2) enforces."""
from __future__ import annotations

import copy
import errno
import mmap
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from pyrunc import seccomp
from pyrunc.seccomp import compile as seccomp_compile
from pyrunc._native import lib
from pyrunc.errors import ConfigError, PyruncError
from pyrunc.seccomp import compile_seccomp
from pyrunc.seccomp.notify import fetch_listener_fd, send_listener_fd

sys.path.insert(0, os.path.dirname(__file__))
import seccomp_helpers as h  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARK = 133  # EHWPOISON: an errno no syscall used here returns by itself


def allow_but(*rules: dict, **extra) -> dict:
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": list(rules), **extra}


def compiled(cfg: dict, **kw) -> seccomp.SeccompProgram:
    prog = compile_seccomp(cfg, cache_dir=None, **kw)
    assert prog is not None
    return prog


# --- tables and binding ----------------------------------------------------------------------

def test_tables_match_libseccomp_header():
    for name, (value, _) in seccomp_compile.ACTIONS.items():
        if name not in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
            assert getattr(lib, name) == value, name
    for name, value in seccomp_compile.OPERATORS.items():
        assert getattr(lib, name) == value, name
    for name, value in seccomp_compile.ARCHES.items():
        if hasattr(lib, name):
            assert getattr(lib, name) == value, name
    for name, value in seccomp_compile.FLAGS.items():
        assert getattr(lib, name) == value, name
    assert lib.SECCOMP_FILTER_FLAG_NEW_LISTENER == seccomp.SECCOMP_FILTER_FLAG_NEW_LISTENER
    assert lib.SECCOMP_FILTER_FLAG_TSYNC_ESRCH == seccomp_compile.FLAG_TSYNC_ESRCH
    assert lib.SCMP_FLTATR_CTL_OPTIMIZE == seccomp_compile.SCMP_FLTATR_CTL_OPTIMIZE


def test_features_document():
    f = seccomp_compile.features()
    assert f["enabled"] and "SCMP_ACT_NOTIFY" in f["actions"] and len(f["operators"]) == 7
    assert {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"} \
        <= set(f["archs"])
    assert "SCMP_ARCH_LOONGARCH64" not in f["archs"]  # newer than libseccomp 2.5.4
    assert f["knownFlags"] == list(seccomp_compile.FLAGS)
    assert set(f["supportedFlags"]) <= set(f["knownFlags"])
    assert "SECCOMP_FILTER_FLAG_LOG" in f["supportedFlags"]  # Linux 4.14


def test_program_shape_and_skipped_names():
    prog = compiled(allow_but({"names": ["getppid", "no_such_syscall_x"],
                               "action": "SCMP_ACT_ERRNO"}))
    assert len(prog.bpf) % 8 == 0 and 0 < prog.instructions <= 4096
    assert prog.skipped == ("no_such_syscall_x",)
    assert prog.flags == seccomp_compile.FLAG_SPEC_ALLOW  # runc's default when flags is absent
    assert compiled(allow_but(flags=[])).flags == 0
    assert prog.listener_path is None and not prog.notify


def test_disabled_section_gives_no_program():
    assert compile_seccomp({}, cache_dir=None) is None
    assert compile_seccomp({"defaultAction": "", "syscalls": []}, cache_dir=None) is None


# --- actions ---------------------------------------------------------------------------------

def test_errno_actions_with_several_values():
    prog = compiled(allow_but(
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES},
        {"names": ["getpgid", "getsid"], "action": "SCMP_ACT_ERRNO", "errnoRet": MARK},
        {"names": ["sched_getscheduler"], "action": "SCMP_ACT_ERRNO"},  # EPERM by default
        {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0},
    ))

    def body(_fd):
        return {n: h.sys_call(n, 0, 0) for n in
                ("getppid", "getpgid", "getsid", "sched_getscheduler", "getpriority", "getuid")}

    res = h.run_filtered(prog, body)
    assert res.exit_code == 0, res
    got = res.value
    assert got["getppid"] == [-1, errno.EACCES]
    assert got["getpgid"] == [-1, MARK] and got["getsid"] == [-1, MARK]
    assert got["sched_getscheduler"] == [-1, errno.EPERM]
    assert got["getpriority"] == [0, 0]  # ERRNO(0): "succeeds" without running
    assert got["getuid"] == [os.getuid(), 0]


def test_default_errno_ret():
    # Everything Python needs is allowed; the rest fails with the profile's default errno.
    prof = h.podman_profile()
    prof["defaultErrnoRet"] = MARK
    res = h.run_filtered(compiled(prof), lambda _fd: h.sys_call("add_key", 0, 0, 0, 0, 0))
    assert res.value == [-1, MARK], res


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD",
                                    "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP"])
def test_kill_actions_die_by_sigsys(action):
    prog = compiled(allow_but({"names": ["getppid"], "action": action}))
    res = h.run_filtered(prog, lambda _fd: h.sys_call("getppid"))
    assert res.signal == signal.SIGSYS, res


def test_trap_delivers_sigsys_to_a_handler():
    prog = compiled(allow_but({"names": ["getppid"], "action": "SCMP_ACT_TRAP"}))

    def body(_fd):
        caught = []
        signal.signal(signal.SIGSYS, lambda sig, frame: caught.append(sig))
        ret = h.sys_call("getppid")
        return {"ret": ret, "caught": caught}

    res = h.run_filtered(prog, body)
    assert res.exit_code == 0, res
    assert res.value["caught"] == [signal.SIGSYS]
    # The syscall never ran: getppid would have returned our pid (the kernel rolls the
    # registers back for the handler, so the "return value" is the syscall number).
    assert res.value["ret"][0] != os.getpid()


def _thread_calls_getppid():
    """Call getppid from a second thread; report whether the process outlived that thread."""
    tid = []
    t = threading.Thread(target=lambda: (tid.append(threading.get_native_id()),
                                         h.sys_call("getppid")), daemon=True)
    t.start()
    while not tid:
        time.sleep(0.001)
    deadline = time.monotonic() + 20
    while os.path.exists(f"/proc/self/task/{tid[0]}") and time.monotonic() < deadline:
        time.sleep(0.005)
    return {"thread_gone": not os.path.exists(f"/proc/self/task/{tid[0]}")}


def test_kill_thread_kills_only_the_thread():
    prog = compiled(allow_but({"names": ["getppid"], "action": "SCMP_ACT_KILL_THREAD"}))
    res = h.run_filtered(prog, lambda _fd: _thread_calls_getppid())
    assert res.exit_code == 0 and res.value == {"thread_gone": True}, res


def test_kill_process_kills_every_thread():
    prog = compiled(allow_but({"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}))
    res = h.run_filtered(prog, lambda _fd: _thread_calls_getppid())
    assert res.signal == signal.SIGSYS, res


def test_trace_log_and_allow():
    prof = allow_but(
        {"names": ["getppid"], "action": "SCMP_ACT_TRACE"},              # no tracer: ENOSYS
        {"names": ["getpgid"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
        {"names": ["getsid"], "action": "SCMP_ACT_LOG"},                 # runs, logged
    )
    res = h.run_filtered(compiled(prof), lambda _fd: [h.sys_call("getppid"),
                                                      h.sys_call("getpgid", 0),
                                                      h.sys_call("getsid", 0)])
    assert res.value[0] == [-1, errno.ENOSYS] and res.value[1] == [-1, errno.ENOSYS]
    assert res.value[2] == [os.getsid(0), 0]
    # An explicit ALLOW under a denying default.
    deny = h.podman_profile()
    for rule in deny["syscalls"]:
        rule["names"] = [n for n in rule["names"] if n != "getppid"]
    res = h.run_filtered(compiled(deny), lambda _fd: h.sys_call("getppid"))
    assert res.value == [-1, errno.ENOSYS]
    deny["syscalls"].append({"names": ["getppid"], "action": "SCMP_ACT_ALLOW"})
    res = h.run_filtered(compiled(deny), lambda _fd: h.sys_call("getppid"))
    assert res.value == [os.getpid(), 0]


# --- architectures ---------------------------------------------------------------------------

def test_architectures_cover_the_compat_abis():
    """i386 (int 0x80) and x32 (syscall number | 1<<30) syscalls of an x86-64 process are
    filtered by the rules when their architectures are listed, and killed (libseccomp's
    bad-architecture action) when they are not."""
    if os.uname().machine != "x86_64":
        pytest.skip("x86-64 only")
    arches = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    plain = h.run_filtered(compiled(allow_but(architectures=arches)),
                           lambda _fd: h.i386_syscall(h.I386_GETPPID))
    if plain.value != os.getpid():
        pytest.skip(f"no IA32 emulation in this kernel: {plain}")
    rule = {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": MARK}
    x32_getppid = h.X32_SYSCALL_BIT | h.nr("getppid")
    every = compiled(allow_but(rule, architectures=arches))
    res = h.run_filtered(every, lambda _fd: [h.sys_call("getppid"),
                                             h.i386_syscall(h.I386_GETPPID),
                                             h.raw_syscall(x32_getppid)])
    assert res.value == [[-1, MARK], -MARK, [-1, MARK]], res
    native = compiled(allow_but(rule))
    assert h.run_filtered(native, lambda _fd: h.sys_call("getppid")).value == [-1, MARK]
    for call in (lambda _fd: h.i386_syscall(h.I386_GETPPID),
                 lambda _fd: h.raw_syscall(x32_getppid)):
        assert h.run_filtered(native, call).signal == signal.SIGSYS


# --- argument filters ------------------------------------------------------------------------

VALUES = [0, 1, 2, 3, 7, 8, 0x30, 0x3F, 0xF3, 1 << 33, (1 << 64) - 1]
OPS = {
    "SCMP_CMP_NE": lambda v: v != 3,
    "SCMP_CMP_LT": lambda v: v < 3,
    "SCMP_CMP_LE": lambda v: v <= 3,
    "SCMP_CMP_EQ": lambda v: v == 3,
    "SCMP_CMP_GE": lambda v: v >= 3,
    "SCMP_CMP_GT": lambda v: v > 3,
    "SCMP_CMP_MASKED_EQ": lambda v: v & 0xF0 == 0x30,
}


@pytest.mark.parametrize("op", list(OPS))
def test_argument_operator_blocks_one_value_and_allows_another(op):
    arg = {"index": 0, "value": 0xF0 if op == "SCMP_CMP_MASKED_EQ" else 3, "op": op}
    if op == "SCMP_CMP_MASKED_EQ":
        arg["valueTwo"] = 0x30
    prog = compiled(allow_but({"names": ["getpriority"], "action": "SCMP_ACT_ERRNO",
                               "errnoRet": MARK, "args": [arg]}))
    res = h.run_filtered(prog, lambda _fd: [h.sys_call("getpriority", v, 0)[1] for v in VALUES])
    blocked = [v for v, e in zip(VALUES, res.value) if e == MARK]
    assert blocked == [v for v in VALUES if OPS[op](v)], res
    assert 0 < len(blocked) < len(VALUES)


def test_several_args_in_one_rule_must_all_match():
    prog = compiled(allow_but({"names": ["getpriority"], "action": "SCMP_ACT_ERRNO",
                               "errnoRet": MARK, "args": [
                                   {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                                   {"index": 1, "value": 5, "op": "SCMP_CMP_GE"}]}))
    cases = [(1, 5), (1, 9), (1, 4), (0, 5), (2, 9)]
    res = h.run_filtered(prog, lambda _fd: [h.sys_call("getpriority", a, b)[1] for a, b in cases])
    assert [e == MARK for e in res.value] == [True, True, False, False, False], res


def test_same_argument_twice_makes_separate_rules():
    # runc and crun: comparisons of one argument cannot be ANDed by libseccomp, each is a rule.
    prog = compiled(allow_but({"names": ["getpriority"], "action": "SCMP_ACT_ERRNO",
                               "errnoRet": MARK, "args": [
                                   {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                                   {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
                                   {"index": 1, "value": 7, "op": "SCMP_CMP_EQ"}]}))
    cases = [(1, 0), (2, 0), (0, 7), (0, 0), (3, 3)]
    res = h.run_filtered(prog, lambda _fd: [h.sys_call("getpriority", a, b)[1] for a, b in cases])
    assert [e == MARK for e in res.value] == [True, True, True, False, False], res


def test_rules_with_the_default_action_are_skipped():
    prof = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": MARK, "syscalls":
            h.podman_profile()["syscalls"] + [{"names": ["add_key"], "action": "SCMP_ACT_ERRNO",
                                                "errnoRet": MARK}]}
    res = h.run_filtered(compiled(prof), lambda _fd: h.sys_call("add_key", 0, 0, 0, 0, 0))
    assert res.value == [-1, MARK]


def test_syscalls_newer_than_the_profile_get_enosys():
    """runc's -ENOSYS stub: with a denying default other than ENOSYS (Docker's is EPERM),
    syscalls numbered above every syscall the profile names fail with ENOSYS, so glibc falls
    back (e.g. from fchmodat2); older unlisted syscalls still get the default action."""
    prof = h.podman_profile()
    prof["defaultErrnoRet"] = errno.EPERM
    top = max(h.nr(n) for s in prof["syscalls"] for n in s["names"]
              if lib.pyrunc_seccomp_resolve_name(n.encode()) >= 0)
    newer = [top + 1, top + 3]
    prog = compiled(prof)

    def body(_fd):
        return {"newer": [h.raw_syscall(n)[1] for n in newer],
                "add_key": h.sys_call("add_key", 0, 0, 0, 0, 0)[1],
                "getppid": h.sys_call("getppid")}

    res = h.run_filtered(prog, body)
    assert res.value == {"newer": [errno.ENOSYS] * 2, "add_key": errno.EPERM,
                         "getppid": [os.getpid(), 0]}, res
    if os.uname().machine == "x86_64":  # the compat ABIs keep their rules after the merge
        allowed = h.run_filtered(prog, lambda _fd: h.i386_syscall(h.I386_GETPPID))
        if allowed.signal == signal.SIGSEGV:  # only where the kernel has no IA32 emulation
            plain = h.run_filtered(compiled({"defaultAction": "SCMP_ACT_ALLOW"}),
                                   lambda _fd: h.i386_syscall(h.I386_GETPPID))
            assert plain.signal == signal.SIGSEGV, (allowed, plain)
        else:
            assert allowed.value == os.getpid(), allowed
    # As runc: no architectures listed, no stub.
    del prof["architectures"]
    res = h.run_filtered(compiled(prof), lambda _fd: h.raw_syscall(newer[0])[1])
    assert res.value == errno.EPERM


# --- Podman's default profile (an allow-list) ------------------------------------------------

def test_podman_default_profile_allows_a_workload_and_denies_the_rest():
    prof = h.podman_profile()
    prog = compiled(prof)
    assert prof["defaultAction"] == "SCMP_ACT_ERRNO" and prof["defaultErrnoRet"] == errno.ENOSYS
    assert prog.instructions <= 4096

    def body(_fd):
        out = {}
        out["listdir"] = len(os.listdir("/")) > 0
        with open("/proc/self/status") as f:
            out["read"] = "Seccomp:\t2" in f.read()
        pid = os.fork()  # clone, execve and wait4 are allowed
        if pid == 0:
            os.execv("/bin/true", ["true"])
        out["child"] = os.waitpid(pid, 0)[1]
        out["unix_socket"] = h.sys_call("socket", 1, 1, 0)[0] >= 0
        out["audit_socket"] = h.sys_call("socket", 16, 3, 9)        # errnoRet EINVAL
        out["persona_query"] = h.sys_call("personality", 0xFFFFFFFF)  # allowed value
        out["persona_set"] = h.sys_call("personality", 0x0400000)    # not allowed: default
        out["kcmp"] = h.sys_call("kcmp", 0, 0, 100, 0, 0)            # no CAP_SYS_PTRACE: EPERM
        out["bpf"] = h.sys_call("bpf", 0xFFFF, 0, 0)                 # no CAP_SYS_ADMIN: EPERM
        out["add_key"] = h.sys_call("add_key", 0, 0, 0, 0, 0)        # unlisted: ENOSYS
        out["futex_waitv"] = h.sys_call("futex_waitv", 0, 0, 0, 0, 0)
        return out

    res = h.run_filtered(prog, body)
    assert res.exit_code == 0, res
    v = res.value
    assert v["listdir"] and v["read"] and v["child"] == 0 and v["unix_socket"]
    assert v["audit_socket"] == [-1, errno.EINVAL]
    assert v["persona_query"][1] == 0
    assert v["persona_set"] == [-1, errno.ENOSYS]
    assert v["kcmp"] == [-1, errno.EPERM] and v["bpf"] == [-1, errno.EPERM]
    assert v["add_key"] == [-1, errno.ENOSYS] and v["futex_waitv"] == [-1, errno.ENOSYS]


def test_podman_profile_with_more_caps_allows_more():
    prog = compiled(h.podman_profile(h.PODMAN_CAPS + ["CAP_SYS_PTRACE"]))
    res = h.run_filtered(prog, lambda _fd: h.sys_call("kcmp", 0, 0, 100, 0, 0))
    assert res.value[1] != errno.EPERM and res.value[1] != errno.ENOSYS, res


def test_podman_profile_compile_time_report(tmp_path, capsys):
    """Reports (does not check) compile time and program size for Podman's profile."""
    prof = h.podman_profile()
    cache = str(tmp_path / "cache")
    t0 = time.perf_counter()
    cold = compile_seccomp(prof, cache_dir=cache)
    t1 = time.perf_counter()
    hot = compile_seccomp(prof, cache_dir=cache)
    t2 = time.perf_counter()
    assert not cold.cached and hot.cached and hot.bpf == cold.bpf
    with capsys.disabled():
        print(f"\n[seccomp] Podman default profile: {len(prof['syscalls'])} entries, "
              f"{sum(len(s['names']) for s in prof['syscalls'])} names, "
              f"{cold.instructions} BPF instructions ({len(cold.bpf)} bytes), "
              f"{len(cold.skipped)} names unknown to libseccomp; "
              f"compile cold {1000 * (t1 - t0):.2f} ms (in-process, cffi loaded), "
              f"cached {1000 * (t2 - t1):.3f} ms")


# --- notify ----------------------------------------------------------------------------------

NO_PID = 0x3FFFFFFF  # above PID_MAX_LIMIT: getpgid() of it is always ESRCH


def _notify_profile(sock: str, *extra_flags: str) -> dict:
    prof = allow_but(
        {"names": ["getppid", "getsid"], "action": "SCMP_ACT_NOTIFY"},
        {"names": ["getpgid"], "action": "SCMP_ACT_NOTIFY", "args": [
            {"index": 0, "value": NO_PID, "op": "SCMP_CMP_EQ"}]},
        listenerPath=sock, listenerMetadata="MKNOD=/dev/null;x=y")
    if extra_flags:
        prof["flags"] = list(extra_flags)
    return prof


def _agent_answers(notif):
    if notif["nr"] == h.nr("getppid"):
        return 4242, 0, 0
    if notif["nr"] == h.nr("getsid"):
        return 0, -errno.EACCES, 0
    return 0, 0, h.SECCOMP_USER_NOTIF_FLAG_CONTINUE  # getpgid(NO_PID): run it for real


def _run_with_agent(tmp_path, flags: tuple[str, ...] = ()):
    sock = str(tmp_path / "agent.sock")
    prog = compiled(_notify_profile(sock, *flags))
    assert prog.notify and prog.listener_path == sock
    agent = h.NotifyAgent(sock, _agent_answers)
    state = {"ociVersion": "1.2.0", "id": "c1", "status": "creating", "pid": 0,
             "bundle": "/b", "annotations": {"k": "v"}}

    def body(listener_fd):
        # Here the child stands in for the runtime: it got the fd from seccomp(2).
        st = dict(state, pid=os.getpid())
        send_listener_fd(prog.listener_path, listener_fd, st, prog.listener_metadata)
        os.close(listener_fd)
        return {"pid": os.getpid(), "getppid": h.sys_call("getppid"),
                "getsid": h.sys_call("getsid", 0), "getpgid_nopid": h.sys_call("getpgid", NO_PID),
                "getpgid0": h.sys_call("getpgid", 0)}

    try:
        res = h.run_filtered(prog, body)
    finally:
        agent.close()
    return prog, agent, res


def test_notify_with_an_agent_that_answers(tmp_path):
    prog, agent, res = _run_with_agent(tmp_path)
    assert res.exit_code == 0, res
    v = res.value
    assert v["getppid"] == [4242, 0]
    assert v["getsid"] == [-1, errno.EACCES]
    assert v["getpgid_nopid"] == [-1, errno.ESRCH]       # continued: the kernel ran it
    assert v["getpgid0"] == [os.getpgid(0), 0]     # not notified (argument filter)
    assert [n["nr"] for n in agent.notifs] == [h.nr("getppid"), h.nr("getsid"), h.nr("getpgid")]
    assert all(n["pid"] == v["pid"] for n in agent.notifs)
    st = agent.state
    assert st["ociVersion"] and st["fds"] == ["seccompFd"] and st["pid"] == v["pid"]
    assert st["metadata"] == "MKNOD=/dev/null;x=y"
    assert st["state"]["id"] == "c1" and st["state"]["pid"] == v["pid"]
    assert st["state"]["annotations"] == {"k": "v"} and len(agent.fds) == 1
    assert prog.flags & seccomp_compile.FLAG_NEW_LISTENER


def test_notify_fd_taken_by_the_runtime(tmp_path):
    """The production flow: the init loads the filter and reports the fd's number; the runtime
    takes the fd with pidfd_getfd, sends it to listenerPath, and only then lets the init go."""
    sock = str(tmp_path / "agent.sock")
    prog = compiled(_notify_profile(sock))
    agent = h.NotifyAgent(sock, _agent_answers)
    go_r, go_w = os.pipe()
    shm = mmap.mmap(-1, 4096)  # the child reports the fd's number here

    def body(listener_fd):
        shm[:8] = (listener_fd + 1).to_bytes(8, "little")
        os.read(go_r, 1)  # keep the fd open until the runtime has it
        os.close(listener_fd)
        return {"getppid": h.sys_call("getppid"), "getsid": h.sys_call("getsid", 0)}

    child = h.FilteredChild(prog, body)
    try:
        while not int.from_bytes(shm[:8], "little"):
            time.sleep(0.001)
            assert os.waitpid(child.pid, os.WNOHANG) == (0, 0), "the child died early"
        remote = int.from_bytes(shm[:8], "little") - 1
        fd = fetch_listener_fd(child.pid, remote)
        try:
            state = {"ociVersion": "1.0.2", "id": "c2", "status": "creating",
                     "pid": child.pid, "bundle": "/b"}
            send_listener_fd(prog.listener_path, fd, state, prog.listener_metadata)
        finally:
            os.close(fd)
        os.write(go_w, b"x")
        res = child.wait()
    finally:
        child.kill()
        os.close(go_r)
        os.close(go_w)
        agent.close()
    assert res.exit_code == 0, res
    assert res.value == {"getppid": [4242, 0], "getsid": [-1, errno.EACCES]}
    assert agent.state["pid"] == child.pid and agent.state["state"]["id"] == "c2"


def test_fetch_listener_fd_errors():
    with pytest.raises(PyruncError, match="cannot take the listener fd"):
        fetch_listener_fd(os.getpid(), 1000000)


def test_notify_with_wait_killable_recv_and_tsync(tmp_path):
    prog, _agent, res = _run_with_agent(tmp_path, ("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
                                                   "SECCOMP_FILTER_FLAG_TSYNC",
                                                   "SECCOMP_FILTER_FLAG_LOG"))
    c = seccomp_compile
    assert prog.flags == (c.FLAG_NEW_LISTENER | c.FLAG_WAIT_KILLABLE_RECV | c.FLAG_TSYNC
                          | c.FLAG_TSYNC_ESRCH | c.FLAG_LOG)
    assert res.exit_code == 0 and res.value["getppid"] == [4242, 0], res


def test_flags_without_notify_load():
    prog = compiled(allow_but({"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}, flags=[
        "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]))
    c = seccomp_compile
    # WAIT_KILLABLE_RECV only means something with a listener; the kernel refuses it alone.
    assert prog.flags == c.FLAG_TSYNC | c.FLAG_LOG | c.FLAG_SPEC_ALLOW
    res = h.run_filtered(prog, lambda _fd: h.sys_call("getppid"))
    assert res.value == [-1, errno.EPERM], res


def test_send_listener_fd_to_a_missing_agent_fails(tmp_path):
    with pytest.raises(PyruncError, match="cannot send the listener fd"):
        send_listener_fd(str(tmp_path / "nobody"), 0, {"pid": 1}, None)


# --- malformed profiles ----------------------------------------------------------------------

def _base() -> dict:
    return {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"},
                         {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5},
                         {"names": ["getsid"], "action": "SCMP_ACT_LOG"},
                         {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]}


def _set(p: str, value):
    def change(cfg):
        parts = p.replace("]", "").replace("[", ".").split(".")
        obj = cfg
        for k in parts[:-1]:
            obj = obj[int(k)] if k.isdigit() else obj[k]
        last = parts[-1]
        if value is KeyError:
            del obj[last]
        elif last.isdigit():
            obj[int(last)] = value
        else:
            obj[last] = value
    return change


MALFORMED = [
    ("syscalls[3].args[0].op", "SCMP_CMP_SIMILAR", "unknown seccomp operator"),
    ("syscalls[3].args[0].op", KeyError, "unknown seccomp operator"),
    ("syscalls[3].args[0].index", 6, "from 0 to 5"),
    ("syscalls[3].args[0].value", -1, "from 0 to"),
    ("syscalls[3].args[0].value", 1 << 64, "from 0 to"),
    ("syscalls[3].args[0].value", "1", "from 0 to"),
    ("syscalls[3].args[0].valueTwo", 1.5, "from 0 to"),
    ("syscalls[3].args[0]", "x", "must be an object"),
    ("syscalls[3].args", {"index": 0}, "must be an array"),
    ("syscalls[1].action", "SCMP_ACT_BLOCK", "unknown seccomp action"),
    ("syscalls[1].action", KeyError, "is required"),
    ("syscalls[1].errnoRet", 70000, "from 0 to 65535"),
    ("syscalls[1].errnoRet", True, "from 0 to 65535"),
    ("syscalls[2].errnoRet", 1, "SCMP_ACT_LOG does not take an errno value"),
    ("syscalls[0].names", [], "non-empty array"),
    ("syscalls[0].names", KeyError, "non-empty array"),
    ("syscalls[0].names[0]", "", "non-empty string"),
    ("syscalls[0].names[0]", 3, "non-empty string"),
    ("syscalls[0]", [], "must be an object"),
    ("syscalls", {}, "must be an array"),
    ("defaultAction", "SCMP_ACT_NOPE", "unknown seccomp action"),
    ("defaultAction", "SCMP_ACT_NOTIFY", "cannot be the default action"),
    ("defaultErrnoRet", 1, "SCMP_ACT_ALLOW does not take an errno value"),
    ("architectures[0]", "SCMP_ARCH_Z80", "unknown seccomp architecture"),
    ("architectures[0]", "SCMP_ARCH_LOONGARCH64", "not supported by libseccomp"),
    ("architectures[0]", "SCMP_ARCH_S390X", "byte order differs"),
    ("architectures", "SCMP_ARCH_X86", "must be an array"),
    ("flags", ["SECCOMP_FILTER_FLAG_MAGIC"], "unknown seccomp flag"),
    ("listenerMetadata", "m", "must not be set without listenerPath"),
    ("listenerPath", 5, "must be a string"),
]


@pytest.mark.parametrize("where,value,msg", MALFORMED,
                         ids=[f"{w}={v!r}" for w, v, _ in MALFORMED])
def test_malformed_profile_names_the_json_path(where, value, msg):
    cfg = _base()
    _set(where, value)(cfg)
    with pytest.raises(ConfigError) as e:
        compile_seccomp(cfg, cache_dir=None)
    want = "linux.seccomp." + (where + "[0]" if where == "flags" else where)
    assert e.value.path == want and msg in e.value.msg, (e.value.path, e.value.msg)
    assert str(e.value).startswith(want + ": ")


def test_notify_specific_errors():
    cfg = _base()
    cfg["syscalls"][2]["action"] = "SCMP_ACT_NOTIFY"
    with pytest.raises(ConfigError) as e:
        compile_seccomp(cfg, cache_dir=None)
    assert e.value.path == "linux.seccomp.listenerPath" and "is required" in e.value.msg
    cfg["listenerPath"] = "/run/agent.sock"
    cfg["syscalls"][2]["names"] = ["getsid", "write"]
    with pytest.raises(ConfigError) as e:
        compile_seccomp(cfg, cache_dir=None)
    assert e.value.path == "linux.seccomp.syscalls[2].names[1]"
    with pytest.raises(ConfigError) as e:
        compile_seccomp({"syscalls": [{"names": ["x"], "action": "SCMP_ACT_ALLOW"}]},
                        "x.seccomp", cache_dir=None)
    assert e.value.path == "x.seccomp.defaultAction"
    with pytest.raises(ConfigError) as e:
        compile_seccomp([], cache_dir=None)
    assert e.value.path == "linux.seccomp"


def test_cached_notify_program_still_needs_a_listener(tmp_path):
    cfg = _notify_profile("/run/a.sock")
    assert compile_seccomp(cfg, cache_dir=str(tmp_path)).notify
    del cfg["listenerPath"], cfg["listenerMetadata"]
    with pytest.raises(ConfigError) as e:
        compile_seccomp(cfg, cache_dir=str(tmp_path))
    assert e.value.path == "linux.seccomp.listenerPath"


# --- the cache -------------------------------------------------------------------------------

def _entries(d) -> list[str]:
    return sorted(n for n in os.listdir(d) if not n.startswith("."))


def test_cache_hit_same_program(tmp_path):
    d = str(tmp_path / "c")
    prof = h.podman_profile()
    a = compile_seccomp(prof, cache_dir=d)
    b = compile_seccomp(copy.deepcopy(prof), cache_dir=d)
    assert (a.cached, b.cached) == (False, True)
    assert (a.flags, a.bpf, a.skipped) == (b.flags, b.bpf, b.skipped)
    (name,) = _entries(d)
    st = os.stat(f"{d}/{name}")
    assert st.st_mode & 0o777 == 0o600 and os.stat(d).st_mode & 0o777 == 0o700
    # Key order does not matter; the listener fields do not change the program.
    shuffled = dict(reversed(list(prof.items())), listenerPath="/x", listenerMetadata="m")
    c = compile_seccomp(shuffled, cache_dir=d)
    assert c.cached and c.listener_path == "/x" and c.listener_metadata == "m"
    prof["syscalls"][0]["errnoRet"] = 2
    assert not compile_seccomp(prof, cache_dir=d).cached
    assert len(_entries(d)) == 2


def test_cache_rejects_corrupt_or_foreign_entries(tmp_path):
    d = str(tmp_path)
    prof = allow_but({"names": ["getppid"], "action": "SCMP_ACT_ERRNO"})
    good = compile_seccomp(prof, cache_dir=d)
    (name,) = _entries(d)
    path = f"{d}/{name}"
    data = open(path, "rb").read()
    for bad in (data[:-1], data[:20], b"", data[:30] + bytes([data[30] ^ 1]) + data[31:]):
        with open(path, "wb") as f:
            f.write(bad)
        p = compile_seccomp(prof, cache_dir=d)
        assert not p.cached and p.bpf == good.bpf
        assert open(path, "rb").read() == data  # replaced by a good entry
    os.chmod(path, 0o666)  # writable by others: not trusted
    assert not compile_seccomp(prof, cache_dir=d).cached
    assert compile_seccomp(prof, cache_dir=d).cached


def test_cache_eviction(tmp_path, monkeypatch):
    monkeypatch.setattr(seccomp, "CACHE_MAX_ENTRIES", 4)
    d = str(tmp_path)
    for i in range(5):
        compile_seccomp(allow_but({"names": ["getppid"], "action": "SCMP_ACT_ERRNO",
                                   "errnoRet": i + 1}), cache_dir=d)
    assert len(_entries(d)) == 3  # 5 > 4: the older half went


def test_unwritable_cache_still_compiles(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    p = compile_seccomp(allow_but(), cache_dir=str(blocker / "sub"))
    assert p is not None and not p.cached


HOT_PATH = """
import sys
sys.path.insert(0, {repo!r})
before = set(sys.modules)
from pyrunc.seccomp import compile_seccomp
cfg = {cfg}
p = compile_seccomp(cfg, cache_dir={cache!r})
new = sorted(set(sys.modules) - before)
print(repr((p.cached, p.instructions, new)))
"""


def test_cache_hit_path_imports_nothing_heavy(tmp_path):
    cache = str(tmp_path / "cache")
    prof = h.podman_profile()
    compile_seccomp(prof, cache_dir=cache)
    code = HOT_PATH.format(repo=REPO, cfg=repr(prof), cache=cache)
    out = subprocess.run([sys.executable, "-I", "-S", "-X", "importtime", "-c", code],
                         capture_output=True, text=True, check=True)
    cached, _n, new = eval(out.stdout)
    assert cached
    heavy = {"cffi", "_cffi_backend", "pyrunc._native", "pyrunc.seccomp.compile", "json",
             "re", "enum", "typing", "hashlib", "socket", "dataclasses"}
    assert not heavy & set(new), new
    # What any pyrunc command already has plus the cache's builtins.
    assert set(new) <= {"pyrunc", "pyrunc.seccomp", "pyrunc.errors", "pyrunc.fastos",
                        "_blake2", "_json", "time"}, new
    assert "cffi" not in out.stderr
