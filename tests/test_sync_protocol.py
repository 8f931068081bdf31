"""The host side of the sync protocol (pyrunc/spawn.py) treats what the init sends as attacker
input: once the init has joined a container, a process there that could write into the pipe
must not make pyrunc signal, wait for or report a process pyrunc did not create (issue 16, the
sync-pipe injection).  Real pipes and real processes; the messages are written by the test."""
from __future__ import annotations

import os
import subprocess

import pytest

from pyrunc.errors import PyruncError
from pyrunc.spawn import Init


def _init_reading(data: bytes) -> Init:
    r, w = os.pipe()
    os.write(w, data)
    os.close(w)
    return Init(0, r)


@pytest.mark.parametrize("message, error", [
    (b"P-1\n", "bad pid '-1'"),
    (b"P0\n", "bad pid '0'"),
    (b"P 5\n", "bad pid ' 5'"),
    (b"P0012\n", "bad pid '0012'"),
    (b"P99999999999\n", "bad pid"),
    (b"P1\n", "pid 1, which is not a process it created"),
    (b"R\n", "unexpected message 'R'"),
    (b"N3\n", "unexpected message 'N3'"),
    (b"X\n", "unexpected message 'X'"),
])
def test_a_pid_pyrunc_did_not_create_is_refused(message, error):
    init = _init_reading(message)
    try:
        with pytest.raises(PyruncError, match="pyrunc-init") as e:
            init.wait_for("R")
        assert error in str(e.value)
        assert init.pid == 0
    finally:
        init.close()


def test_a_process_that_is_not_our_child_is_never_taken_for_the_container():
    """A host process of someone else's (here: our parent) named as the container's pid."""
    init = _init_reading(f"P{os.getppid()}\nR\n".encode())
    try:
        with pytest.raises(PyruncError, match="not a process it created"):
            init.wait_for("R")
        assert init.pid == 0
    finally:
        init.close()


def test_a_child_is_accepted_once_and_nothing_after_ready():
    child = subprocess.Popen(["sleep", "100"])
    try:
        init = _init_reading(f"P{child.pid}\nP{child.pid}\n".encode())
        with pytest.raises(PyruncError, match="bad pid"):
            init.wait_for("R")
        assert init.pid == child.pid  # the first one, which is ours
        init.close()
        init = _init_reading(f"P{child.pid}\nR\nP1\n".encode())
        init.wait_for("R")
        with pytest.raises(PyruncError, match="after it was done"):
            init.wait_for("EOF")
        init.close()
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("message, text", [
    (b"e2 chdir to cwd /x\n", "chdir to cwd /x: No such file or directory"),
    (b"e99999 chdir\n", "99999 chdir"),  # not an errno: shown as it came
    (b"eabc chdir\n", "abc chdir"),
    (b"Emount \x1b[2J\x07there\n", "mount  [2J there"),  # no terminal control reaches the log
])
def test_error_messages_are_one_line_of_printable_text(message, text):
    init = _init_reading(message)
    try:
        with pytest.raises(PyruncError) as e:
            init.wait_for("R")
        assert str(e.value) == text
    finally:
        init.close()


def test_an_endless_line_is_refused():
    r, w = os.pipe()
    init = Init(0, r)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.write(w, b"E" + b"x" * 100000)
        finally:
            os._exit(0)
    os.close(w)
    try:
        with pytest.raises(PyruncError, match="longer than the protocol allows"):
            init.wait_for("R")
    finally:
        init.close()
        os.waitpid(pid, 0)
