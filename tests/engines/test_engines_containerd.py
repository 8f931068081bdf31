"""containerd's own client, ctr, with ENGINE_RUNTIME as the runc binary of the runc v2 shim.

(ctr 1.6 has no `task update`: the runtime's `update --resources -` is covered by `docker update`.)"""
from __future__ import annotations

import json
import time

import pytest

import engine_harness as eh
from cgroup_helpers import check_cgroup_setting
from engine_harness import run_in_pty

pytestmark = pytest.mark.engines
IMG = "docker.io/" + eh.IMAGE
RUNC = ("--runc-binary", eh.ENGINE_RUNTIME)


def task_status(e: eh.Engines, cid: str) -> str:
    for line in e.ctr("task", "ls").stdout.splitlines()[1:]:
        fields = line.split()
        if fields[0] == cid:
            return fields[2]
    return "ABSENT"


def wait_status(e: eh.Engines, cid: str, want: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if task_status(e, cid) == want:
            return
        time.sleep(0.1)
    raise AssertionError(f"task {cid} is {task_status(e, cid)}, not {want}")


def test_ctr_run_rm(docker, name):
    r = docker.ctr("run", "--rm", *RUNC, IMG, name, "sh", "-c", "echo hello-ctr; echo err >&2")
    assert r.stdout == "hello-ctr\n"
    assert r.stderr == "err\n"
    assert name not in docker.ctr("containers", "ls", "-q").stdout.split()


def test_ctr_exit_code(docker, name):
    r = docker.ctr("run", "--rm", *RUNC, IMG, name, "sh", "-c", "exit 3", check=False)
    assert r.returncode == 3


def test_ctr_run_tty(docker, name):
    rc, out = run_in_pty([eh.CTR, "--address", docker.containerd_sock, "-n", eh.CTR_NAMESPACE, "run", "--rm",
                          "-t", *RUNC, IMG, name, "sh"], docker.client_env(),
                         [(b"# ", b"tty; echo ctr-tty-$((6*7)); exit 4\n")])
    assert b"/dev/pts/0" in out and b"ctr-tty-42" in out, out
    assert rc == 4, out


def test_ctr_task_lifecycle(docker, name):
    docker.ctr("run", "-d", *RUNC, IMG, name, "sh", "-c", "trap 'exit 9' TERM; sleep 301 & wait")
    wait_status(docker, name, "RUNNING")
    init_pid = next(int(ln.split()[1]) for ln in docker.ctr("task", "ls").stdout.splitlines()[1:]
                    if ln.split()[0] == name)

    # ps: the shim asks the runtime for `ps --format json`.
    ps = docker.ctr("task", "ps", name).stdout.split()
    assert str(init_pid) in ps

    # exec, with exit codes and stdin
    r = docker.ctr("task", "exec", "--exec-id", "e1", name, "sh", "-c", "echo in-exec; exit 6", check=False)
    assert r.returncode == 6 and r.stdout == "in-exec\n"
    r = docker.ctr("task", "exec", "--exec-id", "e2", name, "cat", input="stdin-exec\n")
    assert r.stdout == "stdin-exec\n"
    rc, out = run_in_pty([eh.CTR, "--address", docker.containerd_sock, "-n", eh.CTR_NAMESPACE, "task", "exec",
                          "-t", "--exec-id", "e3", name, "sh"], docker.client_env(),
                         [(b"# ", b"tty; exit 2\n")])
    assert rc == 2 and b"/dev/pts/" in out, out

    # pause / resume through the freezer
    docker.ctr("task", "pause", name)
    wait_status(docker, name, "PAUSED")
    check_cgroup_setting(init_pid, "freezer.state", "FROZEN")
    docker.ctr("task", "resume", name)
    wait_status(docker, name, "RUNNING")
    assert docker.ctr("task", "exec", "--exec-id", "e4", name, "true").returncode == 0

    # kill with a signal the init handles, then delete
    docker.ctr("task", "kill", "-s", "SIGTERM", name)
    wait_status(docker, name, "STOPPED")
    r = docker.ctr("task", "delete", name)
    assert "exit code 9" in r.stderr  # ctr warns about the init's exit status
    docker.ctr("containers", "delete", name)


def test_ctr_kill_all_and_force_delete(docker, name):
    docker.ctr("run", "-d", *RUNC, IMG, name, "sh", "-c", "sleep 300 & sleep 301 & wait")
    wait_status(docker, name, "RUNNING")
    docker.ctr("task", "kill", "-a", "-s", "SIGKILL", name)
    wait_status(docker, name, "STOPPED")
    docker.ctr("task", "delete", name)
    docker.ctr("run", "-d", *RUNC, IMG, name + "-b", "sleep", "300")
    wait_status(docker, name + "-b", "RUNNING")
    docker.ctr("task", "delete", "--force", name + "-b")
    assert task_status(docker, name + "-b") == "ABSENT"


def test_ctr_metrics(docker, name):
    docker.ctr("run", "-d", *RUNC, IMG, name, "sleep", "300")
    wait_status(docker, name, "RUNNING")
    r = docker.ctr("task", "metrics", "--format", "json", name)
    m = json.loads(r.stdout)
    assert m["pids"]["current"] >= 1
