"""Rootless Podman and rootless Docker with the runtime under test (issue 14), as a real
unprivileged user made for each test and removed after it (tests/rootless_helpers.py).

- Podman: `podman --runtime RUNTIME` as the user, its own storage in the user's home (vfs: no
  fuse or overlay mount needed), no network; conmon calls the runtime as uid 0 of podman's user
  namespace.  Where the user has a systemd instance (the guest lane) podman's systemd cgroup
  manager is used, so the runtime gets `--systemd-cgroup` and makes the container's scope in the
  user's manager (the user bus), which is where `--memory` must land.
- Docker: Debian's dockerd-rootless.sh (rootlesskit + slirp4netns), the runtime added with
  `--add-runtime` and made the default; the daemon runs as the user, is stopped by its pid.

The busybox image is made as the root engine tests make theirs (engine_harness's
make_busybox_rootfs), imported by the user (`podman import`, `docker import`).  The user's
processes (podman's pause process, the daemons) and everything under its home go with the user.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from engine_harness import make_busybox_rootfs, stop_pid
from rootless_helpers import (UnprivilegedUser, user, user_manager,  # noqa: F401 (fixtures)
                              user_manager_skip_reason)

IMAGE = "localhost/pyrunc-rootless/busybox:latest"
DOCKERD_ROOTLESS = "/usr/share/docker.io/contrib/dockerd-rootless.sh"
TIMEOUT = 300


def image_tar(u: UnprivilegedUser) -> Path:
    """A busybox-static rootfs as a tar in the user's home, readable by the user."""
    rootfs = u.home / "image-rootfs"
    make_busybox_rootfs(str(rootfs))
    tar = u.home / "busybox.tar"
    with tarfile.open(tar, "w") as t:
        t.add(rootfs, arcname=".")
    shutil.rmtree(rootfs)
    os.chown(tar, u.uid, u.gid)
    return tar


def container_cgroup(pid: int) -> str:
    with open(f"/proc/{pid}/cgroup") as f:
        return [ln.split(":", 2)[2].strip() for ln in f if ln.startswith("0::")][-1]


# ---- Podman ----------------------------------------------------------------------------------

class RootlessPodman:
    def __init__(self, u: UnprivilegedUser, runtime: str, systemd: bool) -> None:
        self.u = u
        self.systemd = systemd
        self.argv = ["podman", "--runtime", runtime, "--storage-driver", "vfs",
                     "--events-backend", "file",
                     "--cgroup-manager", "systemd" if systemd else "cgroupfs"]

    def env(self) -> dict[str, str]:
        env = {"HOME": str(self.u.home), "USER": self.u.name, "LOGNAME": self.u.name}
        if self.systemd:
            env["DBUS_SESSION_BUS_ADDRESS"] = f"unix:path={self.u.xdg}/bus"
        return env

    def __call__(self, *args, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = self.u.run(*self.argv, *args, env=self.env(), timeout=TIMEOUT)
        if check and r.returncode != 0:
            raise AssertionError(f"podman {' '.join(map(str, args))} exited {r.returncode}:\n"
                                 f"{r.stdout}{r.stderr}")
        return r

    def cleanup(self) -> list[str]:
        left = self("ps", "--all", "--quiet", check=False).stdout.split()
        self("rm", "--all", "--force", "--time", "0", check=False)
        self("rmi", "--all", "--force", check=False)
        # podman's pause process keeps its user namespace for the next podman call: end it
        pid_file = self.u.xdg / "libpod" / "tmp" / "pause.pid"
        try:
            pid = int(pid_file.read_text().strip())
            stop_pid(pid, 5)
        except (OSError, ValueError):
            pass
        return [f"podman container left: {c}" for c in left]


@pytest.fixture
def podman(request, user, runtime):
    if shutil.which("podman") is None or shutil.which("newuidmap") is None:
        pytest.skip("rootless podman needs podman and uidmap")
    systemd = user_manager_skip_reason() is None
    if systemd:
        request.getfixturevalue("user_manager")
    pm = RootlessPodman(user, runtime, systemd)
    left: list[str] = []
    try:
        pm("import", "--change", "CMD=sh", image_tar(user), IMAGE)
        yield pm
    finally:
        left = pm.cleanup()
    assert not left, left


def test_rootless_podman_run_exec_rm(podman):
    r = podman("run", "--rm", "--network", "none", IMAGE, "sh", "-c", "echo hello; id -u")
    assert r.stdout.split() == ["hello", "0"], r.stdout + r.stderr
    name = f"{podman.u.token}-c"
    limit = 64 << 20
    args = ["run", "-d", "--name", name, "--network", "none"]
    if podman.systemd:
        args += ["--memory", str(limit)]
    podman(*args, IMAGE, "sleep", "1000")
    pid = int(podman("inspect", "--format", "{{.State.Pid}}", name).stdout)
    uid_map = Path(f"/proc/{pid}/uid_map").read_text().split()
    assert uid_map[:3] == ["0", str(podman.u.uid), "1"], uid_map
    r = podman("exec", name, "sh", "-c", "echo in; cat /proc/1/cmdline")
    assert r.stdout.startswith("in\nsleep"), r.stdout
    if podman.systemd:
        # the container's scope, made by the runtime in the user's own systemd instance
        cg = container_cgroup(pid)
        assert f"/user@{podman.u.uid}.service/" in cg, cg
        assert Path(f"/sys/fs/cgroup{cg}/memory.max").read_text().strip() == str(limit)
    podman("stop", "--time", "0", name)
    podman("rm", name)
    assert podman("ps", "--all", "--quiet").stdout.split() == []
    state = podman.u.state_root
    assert not state.exists() or os.listdir(state) == []


# ---- Docker ----------------------------------------------------------------------------------

def _docker_skip_reason() -> str | None:
    for b in ("dockerd", "docker", "rootlesskit", "slirp4netns", "newuidmap"):
        if shutil.which(b) is None:
            return f"rootless docker needs {b}"
    if not os.path.exists(DOCKERD_ROOTLESS):
        return f"{DOCKERD_ROOTLESS} is missing (Debian's docker.io)"
    return None


class RootlessDocker:
    def __init__(self, u: UnprivilegedUser, runtime: str) -> None:
        self.u = u
        self.runtime = runtime
        self.sock = u.xdg / "docker.sock"
        self.log = u.home / "dockerd.log"
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict[str, str]:
        return {"HOME": str(self.u.home), "USER": self.u.name, "LOGNAME": self.u.name,
                "DOCKER_HOST": f"unix://{self.sock}", "DOCKER_CONFIG": str(self.u.home / ".docker")}

    def start(self) -> None:
        args = [DOCKERD_ROOTLESS, "--add-runtime", f"pyrunc-test={self.runtime}",
                "--default-runtime", "pyrunc-test", "--storage-driver", "vfs",
                "--host", f"unix://{self.sock}"]
        self.proc = self.u.popen(args, self.log, env=self.env())
        deadline = time.monotonic() + TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"dockerd-rootless.sh exited {self.proc.returncode}:\n"
                                     + self.log_tail())
            r = self.u.run("docker", "version", env=self.env(), timeout=30)
            if r.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError("rootless dockerd not ready:\n" + self.log_tail())
            time.sleep(0.5)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "".join(self.log.read_text(errors="replace").splitlines(True)[-n:])
        except OSError:
            return ""

    def __call__(self, *args, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = self.u.run("docker", *args, env=self.env(), timeout=TIMEOUT)
        if check and r.returncode != 0:
            raise AssertionError(f"docker {' '.join(map(str, args))} exited {r.returncode}:\n"
                                 f"{r.stdout}{r.stderr}\n--- dockerd:\n{self.log_tail()}")
        return r

    def stop(self) -> list[str]:
        left: list[str] = []
        if self.proc is None:
            return left
        if self.proc.poll() is None:
            left = self("ps", "--all", "--quiet", check=False).stdout.split()
            self("rm", "--force", *left, check=False) if left else None
            # rootlesskit passes SIGTERM on to dockerd, which stops containerd
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return [f"docker container left: {c}" for c in left]


@pytest.fixture
def rootless_docker(request, user, runtime):
    reason = _docker_skip_reason()
    if reason:
        pytest.skip(reason)
    if user_manager_skip_reason() is None:
        request.getfixturevalue("user_manager")
    d = RootlessDocker(user, runtime)
    left: list[str] = []
    try:
        d.start()
        d("import", "--change", "CMD [\"sh\"]", "--change", "ENV PATH=/bin",
          image_tar(user), IMAGE)
        yield d
    finally:
        left = d.stop()
    assert not left, left


def test_rootless_docker_run_exec_rm(rootless_docker):
    d = rootless_docker
    info = json.loads(d("info", "--format", "{{json .}}").stdout)
    assert "rootless" in (info.get("SecurityOptions") or [""])[-1] or any(
        "rootless" in o for o in info.get("SecurityOptions") or []), info.get("SecurityOptions")
    assert info["DefaultRuntime"] == "pyrunc-test"
    r = d("run", "--rm", "--network", "none", IMAGE, "sh", "-c", "echo hello; id -u")
    assert r.stdout.split() == ["hello", "0"], r.stdout + r.stderr
    name = f"{d.u.token}-c"
    d("run", "-d", "--name", name, "--network", "none", IMAGE, "sleep", "1000")
    pid = int(d("inspect", "--format", "{{.State.Pid}}", name).stdout)
    uid_map = Path(f"/proc/{pid}/uid_map").read_text().split()
    assert uid_map[:3] == ["0", str(d.u.uid), "1"], uid_map
    r = d("exec", name, "sh", "-c", "echo in; cat /proc/1/cmdline")
    assert r.stdout.startswith("in\nsleep"), r.stdout
    d("rm", "--force", name)
    assert d("ps", "--all", "--quiet").stdout.split() == []
