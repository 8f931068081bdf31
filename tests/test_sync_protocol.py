"""The host side of the sync protocol (pyrunc/host/spawn.py) treats what the init sends as attacker
input: once the init has joined a container, a process there that could write into the pipe
must not make pyrunc signal, wait for or report a process pyrunc did not create (issue 16, the
sync-pipe injection).  Real pipes and real processes; the messages are written by the test."""
from __future__ import annotations

import os
import subprocess

import pytest

from pyrunc.errors import PyruncError
from pyrunc.plan import message
from pyrunc.host.spawn import Init


def frames(text: str) -> bytes:
    """Lines "<kind><payload>" as the init frames them (plan.py: kind, u32 length, payload)."""
    return b"".join(message(line[0], line[1:]) for line in text.splitlines())


def _init_reading(data: bytes) -> Init:
    r, w = os.pipe()
    os.write(w, data)
    os.close(w)
    return Init(0, r)


@pytest.mark.parametrize("text, error", [
    ("P-1", "bad pid '-1'"),
    ("P0", "bad pid '0'"),
    ("P 5", "bad pid ' 5'"),
    ("P0012", "bad pid '0012'"),
    ("P99999999999", "bad pid"),
    ("P1", "pid 1, which is not a process it created"),
    ("R", "unexpected message 'R'"),
    ("N3", "unexpected message 'N3'"),
    ("X", "unexpected message 'X'"),
])
def test_a_pid_pyrunc_did_not_create_is_refused(text, error):
    init = _init_reading(frames(text))
    try:
        with pytest.raises(PyruncError, match="pyrunc-init") as e:
            init.wait_for("R")
        assert error in str(e.value)
        assert init.pid == 0
    finally:
        init.close()


def test_a_process_that_is_not_our_child_is_never_taken_for_the_container():
    """A host process of someone else's (here: our parent) named as the container's pid."""
    init = _init_reading(frames(f"P{os.getppid()}\nR"))
    try:
        with pytest.raises(PyruncError, match="not a process it created"):
            init.wait_for("R")
        assert init.pid == 0
    finally:
        init.close()


def test_a_child_is_accepted_once_and_nothing_after_ready():
    child = subprocess.Popen(["sleep", "100"])
    try:
        init = _init_reading(frames(f"P{child.pid}\nP{child.pid}"))
        with pytest.raises(PyruncError, match="bad pid"):
            init.wait_for("R")
        assert init.pid == child.pid  # the first one, which is ours
        init.close()
        init = _init_reading(frames(f"P{child.pid}\nR\nP1"))
        init.wait_for("R")
        with pytest.raises(PyruncError, match="after it was done"):
            init.wait_for("EOF")
        init.close()
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("data, text", [
    (message("e", "2 chdir to cwd /x"), "chdir to cwd /x: No such file or directory"),
    (message("e", "99999 chdir"), "99999 chdir"),  # not an errno: shown as it came
    (message("e", "abc chdir"), "abc chdir"),
    (message("E", "mount \x1b[2J\x07there"), "mount  [2J there"),  # no terminal control
    (message("E", "mount /a\nb: no such file"), "mount /a b: no such file"),  # one line
])
def test_error_messages_are_one_line_of_printable_text(data, text):
    init = _init_reading(data)
    try:
        with pytest.raises(PyruncError) as e:
            init.wait_for("R")
        assert str(e.value) == text
    finally:
        init.close()


def test_a_message_longer_than_the_protocol_allows_is_refused():
    """Its length says so: pyrunc reads no more of it."""
    init = _init_reading(b"E" + (100000).to_bytes(4, "little") + b"x" * 100)
    try:
        with pytest.raises(PyruncError, match="longer than the protocol allows"):
            init.wait_for("R")
    finally:
        init.close()


def test_a_cut_message_is_an_error_not_a_shorter_one():
    for data in (message("P", "12345")[:-2], b"P\x05\x00"):
        init = _init_reading(data)
        try:
            with pytest.raises(PyruncError, match="ended in the middle"):
                init.wait_for("R")
            assert init.pid == 0
        finally:
            init.close()
