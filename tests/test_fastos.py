"""pyrunc.fastos stands in for os on the engine's per-container commands: it must answer as os
does, and those commands must really run without importing os (that is its reason to exist)."""
from __future__ import annotations

import os
import posixpath
import subprocess
import time

import pytest

from pyrunc import fastos

PATHS = ["", "/", "//", "///", "a", "/a", "a/", "/a/b/", "a//b", "/a/./b/../c", "../a", "../../x",
         "./", "/..", "/../a", "a/../..", "//a/b", "///a", "/a/b/c/../../..", ".", "..", "a/.",
         "/tmp//x/", "x/y/../../../z"]


@pytest.mark.parametrize("p", PATHS)
def test_path_helpers_answer_as_posixpath(p):
    assert fastos.path.normpath(p) == posixpath.normpath(p)
    assert fastos.path.dirname(p) == posixpath.dirname(p)
    assert fastos.path.basename(p) == posixpath.basename(p)
    if p:
        assert fastos.path.abspath(p) == posixpath.abspath(p)
    for q in ("b", "/b", "", "b/"):
        assert fastos.path.join(p, q) == posixpath.join(p, q)
        assert fastos.path.join(p, q, "c") == posixpath.join(p, q, "c")


def test_file_kinds_and_makedirs(tmp_path):
    (tmp_path / "f").write_text("")
    (tmp_path / "l").symlink_to("f")
    (tmp_path / "dangling").symlink_to("nowhere")
    for name in ("f", "l", "dangling", "missing", ""):
        p = str(tmp_path / name)
        for fn in ("exists", "isdir", "isfile", "islink"):
            assert getattr(fastos.path, fn)(p) == getattr(os.path, fn)(p), (fn, name)
    deep = str(tmp_path / "x" / "y" / "z")
    fastos.makedirs(deep, 0o700)
    assert os.path.isdir(deep) and (os.stat(deep).st_mode & 0o777) == 0o700
    fastos.makedirs(deep, exist_ok=True)
    with pytest.raises(FileExistsError):
        fastos.makedirs(deep)
    with pytest.raises(FileExistsError):
        fastos.makedirs(str(tmp_path / "f"), exist_ok=True)  # exists, but not a directory


def test_read_file_reads_whole_files(tmp_path):
    """read_file returns what open().read() does: /proc files that come in several reads, and
    files larger than one read."""
    big = tmp_path / "big"
    big.write_bytes(os.urandom(200_000))
    for p in ("/proc/self/mountinfo", "/proc/self/stat", str(big), "/etc/passwd"):
        # /proc files change between two reads (CPU times, others' mounts): a few tries
        for _ in range(5):
            with open(p, "rb") as f:
                if fastos.read_file(p) == f.read():
                    break
        else:
            raise AssertionError(f"{p}: read_file never read what open().read() did")


def test_everything_else_comes_from_os():
    assert fastos.open is os.open and fastos.O_PATH == os.O_PATH and fastos._exit is os._exit
    assert fastos.SEEK_END == os.SEEK_END  # not in posix: fetched from os on first use
    now = dict(os.environ)
    now.pop("PYTEST_CURRENT_TEST", None)  # set by pytest after fastos was imported
    assert {k: v for k, v in fastos.environ.items() if k != "PYTEST_CURRENT_TEST"} == now


HOT = {"os", "posixpath", "_collections_abc", "__future__", "json", "re", "enum", "typing",
       "dataclasses", "subprocess", "socket", "argparse", "pathlib", "logging", "struct"}


# What start, state, kill and delete (of a stopped container) do without: JSON parsing (the
# state file is marshal), the cgroups package (delete's rmdir fast path) and create's modules.
NOT_AFTER_CREATE = {"_json", "pyrunc.cgroups", "pyrunc.commands.create", "pyrunc.config",
                    "pyrunc.plan.build"}


# What create does without for runc's default config (device rules, no limits, no hooks).
NOT_IN_CREATE = {"pyrunc.cgroups.resources", "pyrunc.host.hooks", "pyrunc.seccomp"}


def test_engine_commands_import_nothing_heavy(rt, tmp_path):
    """create, start, state, kill and delete through the installed CLI, each under
    -X importtime: none loads os or any of the modules the brief keeps off this path."""
    launcher = rt.path
    with open(launcher) as f:
        interpreter = f.readline()[2:].split()[0]
    bundle = rt.bundle(["sleep", "100"])
    cid = rt.new_id()

    def imported(*args: str) -> set[str]:
        r = subprocess.run([interpreter, "-I", "-S", "-X", "importtime", launcher,
                            "--root", str(rt.root), *args],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=open(tmp_path / "err", "w+"), timeout=60)
        text = (tmp_path / "err").read_text()
        assert r.returncode == 0, text
        return {line.rsplit("|", 1)[1].strip() for line in text.splitlines()
                if line.startswith("import time:") and "|" in line}

    for args in (["create", "--bundle", str(bundle), cid], ["start", cid], ["state", cid],
                 ["kill", cid, "KILL"]):
        heavy = imported(*args) & (HOT | NOT_IN_CREATE if args[0] == "create"
                                   else HOT | NOT_AFTER_CREATE | {"fcntl"} if args[0] == "state"
                                   else HOT | NOT_AFTER_CREATE)
        assert not heavy, (args[0], sorted(heavy))
    deadline = time.monotonic() + 10  # delete after the init has exited, as the shim does
    while rt.state(cid)["status"] != "stopped" and time.monotonic() < deadline:
        time.sleep(0.01)
    heavy = imported("delete", cid) & (HOT | NOT_AFTER_CREATE)
    assert not heavy, ("delete", sorted(heavy))
