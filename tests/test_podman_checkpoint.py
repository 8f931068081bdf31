"""Podman's `container checkpoint` / `container restore` (and --export / --import) on the
runtime under test ($OCI_RUNTIME, pyrunc by default; passes with runc too).

Podman drives the runtime's checkpoint, and conmon its restore, with the container's stdio
as conmon's pipes, so this covers what the bundle tests do not: pipes handed over at restore
(inherit_fd) and podman's own image and work paths.  A private podman (its own storage with
the vfs driver, so no overlay mounts, cgroupfs, file events, no network): nothing is shared
with the host's podman, and everything is removed afterwards.  Needs podman and a criu whose
`criu check` passes (the stock-host guest lane); skips elsewhere.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import pytest

from conformance.bundle import template_rootfs
from tests.test_checkpoint import assert_continuous, needs_criu, numbers

TIMEOUT = 300.0
COUNT = "i=0; while :; do echo $i; i=$((i+1)); usleep 50000; done"


class Podman:
    def __init__(self, runtime: str, base: Path) -> None:
        self.base = base
        self.argv = ["podman", "--root", str(base / "storage"), "--runroot", str(base / "run"),
                     "--storage-driver", "vfs", "--runtime", runtime,
                     "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                     "--tmpdir", str(base / "tmp")]

    def __call__(self, *args, check: bool = True) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([*self.argv, *map(str, args)], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=TIMEOUT)
        if check and p.returncode != 0:
            raise AssertionError(f"podman {' '.join(map(str, args))} exited {p.returncode}:\n"
                                 f"{p.stderr}")
        return p

    def count(self, name: str) -> list[int]:
        return numbers(self("logs", name).stdout)

    def wait_count(self, name: str, at_least: int, timeout: float = 120.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.count(name)
            if len(got) >= at_least:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} logged {len(got)} lines, not {at_least}")
            time.sleep(0.2)


@pytest.fixture
def podman(runtime):
    needs_criu()
    if shutil.which("podman") is None or shutil.which("conmon") is None and \
            not os.path.exists("/usr/libexec/podman/conmon"):
        pytest.skip("podman and conmon are not installed")
    base = Path(tempfile.mkdtemp(prefix="pm-"))  # short: conmon's socket paths are limited
    pm = Podman(runtime, base)
    try:
        tar = base / "rootfs.tar"
        with tarfile.open(tar, "w") as t:
            t.add(template_rootfs(), arcname=".")
        pm("import", tar, "localhost/cr-busybox")
        yield pm
    finally:
        pm("rm", "--all", "--force", "--time", "0", check=False)
        pm("rmi", "--all", "--force", check=False)
        left = pm("ps", "--all", "--quiet", check=False).stdout.split()
        subprocess.run(["umount", "-R", "-l", str(base / "storage")], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
        assert not left, f"podman containers left: {left}"


def test_podman_checkpoint_and_restore(podman):
    podman("run", "-d", "--name", "crc", "--network", "none", "localhost/cr-busybox",
           "sh", "-c", COUNT)
    podman.wait_count("crc", 5)
    podman("container", "checkpoint", "crc")
    assert podman("inspect", "-f", "{{.State.Status}}", "crc").stdout.strip() == "exited"
    stopped_at = podman.count("crc")
    podman("container", "restore", "crc")
    assert podman("inspect", "-f", "{{.State.Status}}", "crc").stdout.strip() == "running"
    got = podman.wait_count("crc", len(stopped_at) + 5)
    assert_continuous(got)
    assert podman("exec", "crc", "echo", "in").stdout.strip() == "in"


def test_podman_checkpoint_export_and_restore_import(podman):
    podman("run", "-d", "--name", "crx", "--network", "none", "localhost/cr-busybox",
           "sh", "-c", COUNT)
    podman.wait_count("crx", 5)
    archive = podman.base / "crx.tar.gz"
    podman("container", "checkpoint", "--export", archive, "crx")
    last = podman.count("crx")[-1]
    podman("rm", "crx")
    podman("container", "restore", "--import", archive)
    assert podman("inspect", "-f", "{{.State.Status}}", "crx").stdout.strip() == "running"
    deadline = time.monotonic() + 120
    while True:
        got = podman.count("crx")
        if got and got[-1] > last + 3:
            break
        assert time.monotonic() < deadline, f"the imported counter did not go on: {got}"
        time.sleep(0.2)
    after = [n for n in got if n > last]
    assert after == list(range(last + 1, last + 1 + len(after)))
