"""linux.seccomp end to end: real containers (busybox) under the runtime under test.

The runtime is $OCI_RUNTIME (the conformance fixtures' default: pyrunc).  Skipped while pyrunc is
not installed and no other runtime is named; `OCI_RUNTIME=/usr/sbin/runc` runs the same checks
against runc, which is how these expectations were confirmed.
"""
from __future__ import annotations

import errno
import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import seccomp_helpers as h  # noqa: E402

EDQUOT = "Disk quota exceeded"  # strerror(122): an errno nothing here fails with by itself


def with_seccomp(profile: dict, **process):
    def edit(cfg):
        cfg["linux"]["seccomp"] = profile
        cfg["process"].update(process)
    return edit


def allow_but(*rules: dict, **extra) -> dict:
    return {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": list(rules), **extra}


@pytest.mark.parametrize("nnp", [True, False])
def test_errno_rule(rt, nnp):
    prof = allow_but({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                      "errnoRet": errno.EDQUOT})
    out = rt.script_output("mkdir /tmp/d; echo rc=$?; [ -d /tmp/d ] || echo absent",
                           with_seccomp(prof, noNewPrivileges=nnp))
    assert EDQUOT in out and "rc=1" in out and "absent" in out, out


def test_argument_filter_blocks_one_value_only(rt):
    prof = allow_but({"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EDQUOT,
                      "args": [{"index": 1, "value": signal.SIGUSR1, "op": "SCMP_CMP_EQ"}]})
    out = rt.script_output("trap 'echo got-usr2' USR2; kill -USR1 $$; echo usr1=$?; "
                           "kill -USR2 $$; echo usr2=$?", with_seccomp(prof))
    assert EDQUOT in out and "usr1=1" in out, out
    assert "got-usr2" in out and "usr2=0" in out, out


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS"])
def test_kill_action_ends_the_container_with_sigsys(rt, action):
    prof = allow_but({"names": ["mkdir", "mkdirat"], "action": action})
    b = rt.bundle(["mkdir", "/tmp/d"], with_seccomp(prof))
    r = rt("run", "--bundle", b, rt.new_id(), timeout=30)
    assert r.returncode == 128 + signal.SIGSYS, (r.returncode, r.stderr)


def with_chroot_cap(profile: dict, nnp: bool):
    def edit(cfg):
        with_seccomp(profile, noNewPrivileges=nnp)(cfg)
        for kind in ("bounding", "effective", "permitted"):
            cfg["process"]["capabilities"][kind].append("CAP_SYS_CHROOT")
    return edit


@pytest.mark.parametrize("nnp", [True, False])
def test_podman_default_profile(rt, nnp):
    """Podman's profile, made for the container's capabilities or not: chroot is allowed only
    with CAP_SYS_CHROOT among them (the process has the capability either way)."""
    script = ("grep '^Seccomp:' /proc/self/status; ls / >/dev/null && echo ls-ok; "
              "chroot / true && echo chroot-ok")
    # Without no_new_privs the filter is loaded before the switch to the container's
    # capabilities: the init's own last syscalls must pass the profile too.
    out = rt.script_output(script, with_chroot_cap(h.podman_profile(), nnp))
    assert "Seccomp:\t2" in out and "ls-ok" in out and "chroot-ok" in out, out
    no_chroot = [c for c in h.PODMAN_CAPS if c != "CAP_SYS_CHROOT"]
    out = rt.script_output(script, with_chroot_cap(h.podman_profile(no_chroot), nnp))
    assert "ls-ok" in out and "Operation not permitted" in out and "chroot-ok" not in out, out


def test_flags_are_accepted(rt):
    if os.path.basename(rt.path) == "runc":
        pytest.skip("runc 1.1 refuses every seccomp flag")
    prof = allow_but({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                      "errnoRet": errno.EDQUOT},
                     flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"])
    out = rt.script_output("mkdir /tmp/d; echo rc=$?", with_seccomp(prof))
    assert EDQUOT in out, out


def test_invalid_profile_fails_create(rt):
    prof = allow_but({"names": ["mkdir"], "action": "SCMP_ACT_FROBNICATE"})
    b = rt.bundle(["true"], with_seccomp(prof))
    r = rt("create", "--bundle", b, rt.new_id())
    assert r.returncode != 0


@pytest.mark.parametrize("nnp", [True, False])
def test_notify_reaches_the_agent(rt, tmp_path, nnp, request):
    sock = str(tmp_path / "agent.sock")

    def answer(notif):
        return 0, -errno.EDQUOT, 0

    prof = allow_but({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"},
                     listenerPath=sock, listenerMetadata="pyrunc-test")
    agent = h.NotifyAgent(sock, answer)
    try:
        out = rt.script_output("mkdir /tmp/d; echo rc=$?",
                               with_seccomp(prof, noNewPrivileges=nnp))
    finally:
        agent.close()
    assert EDQUOT in out and "rc=1" in out, out
    st = agent.state
    assert st is not None and st["fds"] == ["seccompFd"] and st["metadata"] == "pyrunc-test"
    assert st["state"]["status"] == "creating" and st["pid"] == st["state"]["pid"]
    assert st["state"]["id"].startswith(rt.token)
    assert len(agent.notifs) >= 1


@pytest.mark.parametrize("nnp", [True, False])
def test_notify_listener_of_an_exec_reaches_the_agent(rt, tmp_path, nnp):
    """runc exec hands the exec'd process' listener to the agent too (config-linux.md#seccomp)."""
    sock = str(tmp_path / "agent.sock")
    prof = allow_but({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"},
                     listenerPath=sock, listenerMetadata="exec-test")
    agent = h.NotifyAgent(sock, lambda notif: (0, -errno.EDQUOT, 0))
    cid = rt.new_id()
    try:
        rt.create(rt.bundle(["sleep", "1000"], with_seccomp(prof, noNewPrivileges=nnp)), cid)
        rt.ok("start", cid)
        r = rt("exec", cid, "sh", "-c", "mkdir /tmp/e; echo rc=$?")
        assert "rc=1" in r.stdout and EDQUOT in r.stdout + r.stderr, r
        assert len(agent.states) == 2, agent.states
        assert agent.states[1]["metadata"] == "exec-test"
        assert agent.states[1]["state"]["id"] == cid
        assert len(agent.notifs) >= 1
    finally:
        rt("delete", "--force", cid)  # the agent's listeners end with the container's processes
        agent.close()


def test_unknown_syscall_names_are_skipped_and_logged_with_debug(rt, tmp_path):
    """runc skips syscall names its libseccomp does not know, saying so at debug level."""
    prof = allow_but({"names": ["mkdir", "no_such_syscall_xyz"], "action": "SCMP_ACT_ERRNO"})
    log = tmp_path / "log.json"
    cid = rt.new_id()
    rt.ok("create", "--bundle", rt.bundle(["true"], with_seccomp(prof)), cid,
          global_args=("--debug", "--log", str(log), "--log-format", "json"))
    if os.path.basename(rt.path) == "pyrunc":
        assert "no_such_syscall_xyz" in log.read_text()
