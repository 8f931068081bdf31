"""Docker's experimental checkpoint and restore on the runtime under test: `docker checkpoint
create` (containerd's task checkpoint: the runtime's `checkpoint`) and `docker start
--checkpoint` (a task created from it: the runtime's `restore`).

A busybox counter prints 0, 1, 2, ... on its stdout, which is containerd's pipes, as any
container's is: after the checkpoint the container is stopped and its log stands still; after
the restore the log goes on from the next number (the restored process writes to the new
task's pipes).  Needs a criu that works on this kernel (the guest lane); elsewhere the test
skips with criu's own `check` verdict, as tests/test_checkpoint.py's do.
"""
from __future__ import annotations

import time

import pytest

import engine_harness as eh
from tests.test_checkpoint import COUNTER, assert_continuous, criu_check, numbers

# Skipped before the engines start where criu cannot work (their start costs half a minute)
pytestmark = [pytest.mark.engines,
              pytest.mark.skipif(criu_check() is not None, reason=str(criu_check()))]
IMG = eh.IMAGE
CRIU_TIMEOUT = 300  # docker checkpoint / start --checkpoint under QEMU TCG


def _logged(d: eh.Engines, name: str) -> list[int]:
    return numbers(d.docker("logs", name).stdout)


def _wait_logged(d: eh.Engines, name: str, at_least: int, timeout: float = 120) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        got = _logged(d, name)
        if len(got) >= at_least:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} logged {len(got)} numbers, not {at_least}")
        time.sleep(0.2)


def test_docker_checkpoint_create_and_start(docker, name):
    docker.docker("run", "-d", "--name", name, IMG, "sh", "-c", COUNTER)
    _wait_logged(docker, name, 5)
    docker.docker("checkpoint", "create", name, "cp1", timeout=CRIU_TIMEOUT)
    st = docker.inspect(name)["State"]
    assert not st["Running"], "a checkpointed container is stopped (no --leave-running)"
    stopped_at = _logged(docker, name)
    time.sleep(1)
    assert _logged(docker, name) == stopped_at, "the counter ran on after the checkpoint"
    assert docker.docker("checkpoint", "ls", name).stdout.splitlines()[1:] == ["cp1"]

    docker.docker("start", "--checkpoint", "cp1", name, timeout=CRIU_TIMEOUT)
    assert docker.inspect(name)["State"]["Running"]
    got = _wait_logged(docker, name, len(stopped_at) + 5)
    assert_continuous(got)
    # a normal container again: exec, stop and remove through the runtime
    assert docker.docker("exec", name, "echo", "in").stdout == "in\n"
    docker.docker("rm", "-f", name, timeout=60)


def test_docker_checkpoint_leave_running(docker, name):
    docker.docker("run", "-d", "--name", name, IMG, "sh", "-c", COUNTER)
    _wait_logged(docker, name, 3)
    docker.docker("checkpoint", "create", "--leave-running", name, "cp1",
                  timeout=CRIU_TIMEOUT)
    assert docker.inspect(name)["State"]["Running"]
    n = len(_logged(docker, name))
    assert_continuous(_wait_logged(docker, name, n + 3))
    docker.docker("rm", "-f", name, timeout=60)
