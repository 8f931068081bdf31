"""A real unprivileged user for the rootless tests: made with useradd, removed with userdel.

`UnprivilegedUser` owns a home with a bundle directory and an $XDG_RUNTIME_DIR, runs commands
as itself (setpriv: no PAM, no login session, the caller's cgroup) and, when the test is over,
`remove()` kills every process running as its uid or one of its subordinate uids, then removes
the user, its home (state included), its /etc/subuid and /etc/subgid lines, and reports what
it had to clean up, so that the fixture can fail a test that left something behind.

The runtime must be readable and executable by the user: the launcher runs the checkout's
venv.  Where the checkout sits in a directory others may not enter (a clone in /root, 0700),
the user's commands run in a mount namespace of their own where that directory is a tmpfs
holding only the checkout, bound from the host (`reach_wrapper`): nothing else of it is
exposed, and the host's mounts and modes are left as they were.  (The guest lane copies the
checkout to /srv/pyrunc, so there it is not needed.)

`user` is the pytest fixture every rootless test takes (test_rootless.py, the rootless engine
tests); `user_manager` gives that user a systemd instance of its own (the guest lane: lingering,
`user@UID.service`, the user bus at /run/user/UID/bus), stopped and checked afterwards.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from conformance.bundle import copy_rootfs

SUBID_COUNT = 65536
REPO = Path(__file__).resolve().parent.parent


def reach_wrapper(target: Path = REPO) -> list[str]:
    """A command prefix (run as root) that lets any user reach ``target`` (see the module
    docstring); [] when every directory above it is already searchable by others."""
    parts = target.parts
    for i in range(1, len(parts)):
        d = Path(*parts[:i])
        if not os.stat(d).st_mode & 0o001:
            child = parts[i]
            script = (
                'set -e; t=$(mktemp -d); mount --bind "$1" "$t"; '
                'mount -t tmpfs -o mode=0755 pyrunc-reach "$1"; mkdir "$1/$2"; '
                'mount --rbind "$t/$2" "$1/$2"; umount -l "$t"; rmdir "$t"; shift 2; '
                'exec "$@"')
            return ["unshare", "--mount", "--propagation", "slave", "sh", "-c", script, "sh",
                    str(d), child]
    return []


def _subids(path: str, name: str) -> tuple[int, int] | None:
    try:
        for line in Path(path).read_text().splitlines():
            parts = line.split(":")
            if len(parts) == 3 and parts[0] == name:
                return int(parts[1]), int(parts[2])
    except FileNotFoundError:
        pass
    return None


def _drop_subids(path: str, name: str) -> bool:
    """Remove ``name``'s lines from /etc/subuid or /etc/subgid; whether there were any."""
    p = Path(path)
    try:
        lines = p.read_text().splitlines(keepends=True)
    except FileNotFoundError:
        return False
    keep = [ln for ln in lines if ln.split(":", 1)[0] != name]
    if len(keep) != len(lines):
        p.write_text("".join(keep))
        return True
    return False


def _proc_uids(pid: int) -> tuple[int, int] | None:
    """(real, effective) uid of a live process; None for one gone or a zombie (dead: its
    reaper gets to it when it does)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("State:") and line.split()[1] in ("Z", "X"):
                return None
            if line.startswith("Uid:"):
                f = line.split()
                return int(f[1]), int(f[2])
    except (OSError, ValueError, IndexError):
        return None
    return None


class UnprivilegedUser:
    """One throwaway user (see the module docstring)."""

    def __init__(self, runtime: str) -> None:
        self.runtime = runtime
        self.name = "pyrl" + uuid.uuid4().hex[:8]
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", "--user-group",
                        self.name], check=True, capture_output=True)
        ent = subprocess.run(["getent", "passwd", self.name], check=True, capture_output=True,
                             text=True).stdout.strip().split(":")
        self.uid, self.gid, self.home = int(ent[2]), int(ent[3]), Path(ent[5])
        # Debian's useradd gives a new user subordinate ids; add a range where it did not.
        if _subids("/etc/subuid", self.name) is None or _subids("/etc/subgid",
                                                                 self.name) is None:
            start = 300000 + (self.uid % 1000) * SUBID_COUNT
            subprocess.run(["usermod", "--add-subuids", f"{start}-{start + SUBID_COUNT - 1}",
                            "--add-subgids", f"{start}-{start + SUBID_COUNT - 1}", self.name],
                           check=True, capture_output=True)
        self.subuid = _subids("/etc/subuid", self.name)
        self.subgid = _subids("/etc/subgid", self.name)
        self.xdg = self.home / "run"
        self.xdg.mkdir(mode=0o700)
        os.chown(self.xdg, self.uid, self.gid)
        self._n = 0
        self.token = self.name

    # ---- running things as the user -----------------------------------------------------
    def env(self, **extra: str) -> list[str]:
        bindir = os.path.dirname(self.runtime)
        env = {"XDG_RUNTIME_DIR": str(self.xdg), "PATH": f"{bindir}:/usr/sbin:/usr/bin:/sbin:/bin",
               **extra}
        return [f"{k}={v}" for k, v in env.items()]

    def argv(self, args: list[str], **env: str) -> list[str]:
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups",
                "--reset-env", "--", "env", *self.env(**env), *args]

    def run(self, *args: Any, timeout: float = 30, env: dict[str, str] | None = None,
            wrapper: list[str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``args`` as the user, stdin closed, output captured (through files: a container
        started by the command may hold its stdio open)."""
        import tempfile
        argv = reach_wrapper() + (wrapper or []) + self.argv([str(a) for a in args],
                                                              **(env or {}))
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                               cwd=self.home, timeout=timeout)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(argv, p.returncode,
                                               out.read().decode(errors="replace"),
                                               err.read().decode(errors="replace"))

    def must(self, *args: Any, **kw: Any) -> subprocess.CompletedProcess[str]:
        """run(), which must succeed."""
        r = self.run(*args, **kw)
        assert r.returncode == 0, f"{' '.join(r.args)}: exit {r.returncode}\n{r.stdout}{r.stderr}"
        return r

    def popen(self, args: list[str], log: Path, env: dict[str, str] | None = None,
              wrapper: list[str] | None = None) -> subprocess.Popen:
        """Start a long-running command (a daemon) as the user, output into ``log``; the
        caller stops it by its pid."""
        argv = reach_wrapper() + (wrapper or []) + self.argv([str(a) for a in args],
                                                              **(env or {}))
        with open(log, "ab") as f:
            return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=f,
                                    stderr=subprocess.STDOUT, cwd=self.home,
                                    start_new_session=True)

    def rt(self, *args: Any, **kw: Any) -> subprocess.CompletedProcess[str]:
        """The runtime, as the user, with its default --root."""
        return self.run(self.runtime, *args, **kw)

    def ok(self, *args: Any, **kw: Any) -> subprocess.CompletedProcess[str]:
        r = self.rt(*args, **kw)
        assert r.returncode == 0, f"{' '.join(r.args)}: exit {r.returncode}\n{r.stdout}{r.stderr}"
        return r

    # ---- bundles --------------------------------------------------------------------------
    def bundle(self, args: list[str], edit=None) -> Path:
        """`runtime spec --rootless` in a new bundle in the user's home, its rootfs a busybox
        copy owned by the user, process.args ``args``, no terminal; ``edit(cfg)`` changes it."""
        self._n += 1
        b = self.home / f"bundle{self._n}"
        b.mkdir()
        copy_rootfs(b / "rootfs")
        subprocess.run(["chown", "-R", f"{self.uid}:{self.gid}", str(b)], check=True)
        r = self.run(self.runtime, "spec", "--rootless", "--bundle", b)
        assert r.returncode == 0, r.stderr
        cfg = json.loads((b / "config.json").read_text())
        cfg["process"]["args"] = args
        cfg["process"]["terminal"] = False
        if edit is not None:
            cfg = edit(cfg) or cfg
        (b / "config.json").write_text(json.dumps(cfg))
        return b

    def new_id(self) -> str:
        self._n += 1
        return f"{self.token}-{self._n}"

    @property
    def state_root(self) -> Path:
        return self.xdg / os.path.basename(self.runtime)

    # ---- the end ------------------------------------------------------------------------------
    def _owned(self, pid: int) -> bool:
        ids = _proc_uids(pid)
        if ids is None:
            return False
        lo, n = self.subuid or (-1, 0)
        return any(u == self.uid or lo <= u < lo + n for u in ids)

    def processes(self) -> list[int]:
        return [int(p) for p in os.listdir("/proc") if p.isdigit() and self._owned(int(p))]

    def state_left(self) -> list[str]:
        try:
            names = sorted(os.listdir(self.state_root))
        except FileNotFoundError:
            names = []
        return [f"state left: {self.state_root / n}" for n in names]

    def remove(self) -> list[str]:
        """Kill the user's processes, remove the user and everything of it; what was left."""
        left: list[str] = []
        deadline = time.monotonic() + 2.0
        pids = self.processes()
        while pids and time.monotonic() < deadline:  # a container that is just dying
            time.sleep(0.05)
            pids = self.processes()
        for pid in pids:
            try:
                comm = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                comm = "?"
            left.append(f"process {pid} ({comm.strip()!r}) of the user")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5.0
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.05)
        left += self.state_left()
        subprocess.run(["userdel", "--remove", self.name], capture_output=True)
        shutil.rmtree(self.home, ignore_errors=True)
        for f in ("/etc/subuid", "/etc/subgid"):
            _drop_subids(f, self.name)
        for g in ("/etc/group", "/etc/gshadow"):
            try:
                if any(ln.split(":", 1)[0] == self.name for ln in
                       Path(g).read_text().splitlines()):
                    subprocess.run(["groupdel", self.name], capture_output=True)
            except FileNotFoundError:
                pass
        return left


# ---- fixtures ---------------------------------------------------------------------------------

@pytest.fixture
def user(runtime):
    """A fresh unprivileged user; the test fails if it left a process or state behind."""
    u = UnprivilegedUser(runtime)
    try:
        probe = u.run(runtime, "--version")
        if probe.returncode != 0:
            pytest.fail(f"the runtime {runtime} cannot be run by an unprivileged user (is the "
                        f"checkout in a 0700 directory?): {probe.stderr.strip()}", pytrace=False)
        yield u
    finally:
        left = u.remove()
    if left:
        pytest.fail("the test left these behind (now cleaned up):\n  " + "\n  ".join(left),
                    pytrace=False)


def has_systemd() -> bool:
    return os.path.isdir("/run/systemd/system")


def user_manager_skip_reason() -> str | None:
    """Why the user cannot have a systemd instance here (None: it can)."""
    if not has_systemd():
        return "needs systemd as PID 1 for a user's systemd instance (the stock-host guest lane)"
    if not Path("/sys/fs/cgroup/cgroup.controllers").exists():
        return "systemd delegates cgroups to a user only on cgroup v2"
    if not Path("/usr/lib/systemd/user/dbus.socket").exists():
        return "no user bus: dbus-user-session is not installed"
    return None


def _systemctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=120)


def user_scopes(u: UnprivilegedUser) -> list[str]:
    """The scopes left in the user's manager's user.slice (the default slice of the runtime's
    rootless units)."""
    d = Path(f"/sys/fs/cgroup/user.slice/user-{u.uid}.slice/user@{u.uid}.service/user.slice")
    try:
        return sorted(p.name for p in d.iterdir() if p.is_dir() and p.name.endswith(".scope"))
    except FileNotFoundError:
        return []


@pytest.fixture
def user_manager(user):
    """The user's own systemd instance and bus, as a user gets them from logind (lingering):
    $XDG_RUNTIME_DIR is /run/user/UID from here on.  Stopped afterwards, with the user's slice;
    a scope or state the test left there fails it."""
    reason = user_manager_skip_reason()
    if reason:
        pytest.skip(reason)
    u = user
    unit = f"user@{u.uid}.service"
    left: list[str] = []
    try:
        subprocess.run(["loginctl", "enable-linger", u.name], check=True, capture_output=True)
        r = _systemctl("start", unit)  # Type=notify: back once the manager runs
        assert r.returncode == 0, r.stderr
        bus = Path(f"/run/user/{u.uid}/bus")
        deadline = time.monotonic() + 60
        while not bus.exists():
            assert time.monotonic() < deadline, f"{bus} did not appear"
            time.sleep(0.1)
        u.xdg = Path(f"/run/user/{u.uid}")
        yield u
    finally:
        left += [f"unit left in the user's manager: {s}" for s in user_scopes(u)]
        left += u.state_left()
        subprocess.run(["loginctl", "disable-linger", u.name], capture_output=True)
        _systemctl("stop", unit, f"user-runtime-dir@{u.uid}.service")
        subprocess.run(["loginctl", "terminate-user", str(u.uid)], capture_output=True)
        _systemctl("stop", f"user-{u.uid}.slice")
        u.xdg = u.home / "run"
    if left:
        pytest.fail("the test left these behind (now cleaned up):\n  " + "\n  ".join(left),
                    pytrace=False)
