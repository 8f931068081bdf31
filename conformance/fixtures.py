"""pytest fixtures shared by conformance/ and tests/: run an OCI runtime, check for leftovers.

Load with `from conformance.fixtures import *` in a conftest.py (fixtures only, no hooks, so
two conftests can both import it). Fixtures:

- `runtime`: path of the runtime under test, from $OCI_RUNTIME (default `pyrunc`).
- `state_root`: a private `--root` directory for this test session.
- `rt`: a `Runtime` runner for one test: `rt("create", "--bundle", b, cid)` returns a
  CompletedProcess; `rt.bundle([...])` makes a bundle; `rt.new_id()` a unique container id.
  After the test it force-deletes every container the test created and then fails the test
  if anything is left (state dirs, mounts, cgroups, processes), having removed it all.
- `container_id`: one fresh container id (registered with `rt`).
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from . import leftovers
from .bundle import CGROUP_PARENT, add_bind_mount, make_bundle

RUNTIME_ENV = "OCI_RUNTIME"
DEFAULT_RUNTIME = "pyrunc"
# Upper bound for one runtime command; a hang fails the test instead of the whole run.
COMMAND_TIMEOUT = float(os.environ.get("OCI_RUNTIME_TIMEOUT", "10"))
# Upper bound when waiting for a container to reach a state (never a timing assertion).
WAIT_TIMEOUT = 20.0
SHARE_DEST = "/share"

__all__ = ["runtime", "state_root", "rt", "container_id"]


class CommandFailed(AssertionError):
    """A runtime command that a test expected to succeed failed."""


class CommandTimeout(AssertionError):
    """A runtime command did not finish within its timeout (it was killed)."""


class Gate:
    """A FIFO shared with a container: the container blocks reading it until `open()`."""

    def __init__(self, host: Path, inside: str) -> None:
        self.host = host
        self.inside = inside

    def open(self, timeout: float = WAIT_TIMEOUT) -> None:
        """Write a line to the FIFO once a reader has it open; never blocks past `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                fd = os.open(self.host, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:
                if e.errno != errno.ENXIO or time.monotonic() > deadline:
                    raise AssertionError(f"nobody is reading {self.inside} after {timeout}s")
                time.sleep(0.01)
                continue
            try:
                os.write(fd, b"go\n")
            finally:
                os.close(fd)
            return


class Runtime:
    """Runs commands of one OCI runtime for one test and remembers what they made."""

    def __init__(self, path: str, root: Path, tmp_path: Path) -> None:
        self.path = path
        self.root = root
        self.tmp_path = tmp_path
        # Marker in every container id and cgroup name this test makes: finds its leftovers.
        self.token = "t" + uuid.uuid4().hex[:8]
        self.ids: list[str] = []
        self.known_pids: dict[int, int] = {}  # pid -> start time, from `state` outputs
        self.popens: list[subprocess.Popen[bytes]] = []
        self._n_ids = 0
        self._n_bundles = 0
        self._n_outputs = 0
        self._n_gates = 0
        self._root_before = set(os.listdir(root))

    # --- ids and bundles -------------------------------------------------------------------
    def new_id(self) -> str:
        """A container id unique to this test run (and recorded for cleanup)."""
        self._n_ids += 1
        cid = f"{self.token}-{self._n_ids}"
        self._track(cid)
        return cid

    def _track(self, cid: str) -> None:
        if cid not in self.ids:
            self.ids.append(cid)

    @property
    def share(self) -> Path:
        """A host directory, writable by any uid, that `bundle(share=True)` mounts at /share."""
        d = self.tmp_path / "share"
        if not d.exists():
            d.mkdir()
            os.chmod(d, 0o777)
        return d

    def bundle(self, args: list[str] | None = None,
               config_edit: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
               *, share: bool = False, **kw: Any) -> Path:
        """make_bundle() in this test's temp dir, with a cgroup name marked with the token.

        share=True bind-mounts `self.share` read-write at /share in the container, for
        output files a test reads back.
        """
        self._n_bundles += 1
        edit = config_edit
        if share:
            def edit(cfg: dict[str, Any]) -> dict[str, Any] | None:
                add_bind_mount(cfg, self.share, SHARE_DEST)
                return config_edit(cfg) if config_edit is not None else None
        return make_bundle(self.tmp_path, args, edit,
                           cgroup_name=f"{self.token}-b{self._n_bundles}", **kw)

    # --- running the runtime ---------------------------------------------------------------
    def command(self, *args: Any, global_args: tuple[str, ...] = ()) -> list[str]:
        """The argv for `runtime --root ROOT [global_args] args...`."""
        return [self.path, "--root", str(self.root), *global_args, *map(str, args)]

    def __call__(self, *args: Any, timeout: float | None = None, cwd: str | Path | None = None,
                 env: dict[str, str] | None = None, input: bytes | None = None,
                 global_args: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
        """Run the runtime to completion; stdout and stderr are captured as text.

        Output goes through temporary files, not pipes: `create` hands its stdio to the
        container, which would hold a pipe open (and us waiting) for as long as it lives.
        """
        argv = self.command(*args, global_args=global_args)
        if args and args[0] in ("create", "run") and len(args) > 1:
            self._track(str(args[-1]))
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.run(
                    argv, stdout=out, stderr=err, cwd=cwd, env=env,
                    stdin=subprocess.DEVNULL if input is None else None, input=input,
                    timeout=timeout or COMMAND_TIMEOUT)
            except subprocess.TimeoutExpired:
                raise CommandTimeout(
                    f"{' '.join(argv)} did not finish in {timeout or COMMAND_TIMEOUT}s") from None
            out.seek(0)
            err.seek(0)
            result = subprocess.CompletedProcess(
                argv, proc.returncode, out.read().decode(errors="replace"),
                err.read().decode(errors="replace"))
        if args and args[0] == "state" and result.returncode == 0:
            self._record_pid(result.stdout)
        return result

    def popen(self, *args: Any, **kw: Any) -> subprocess.Popen[bytes]:
        """Start the runtime in the background (killed after the test if still running)."""
        if args and args[0] in ("create", "run") and len(args) > 1:
            self._track(str(args[-1]))
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(self.command(*args), **kw)
        self.popens.append(p)
        return p

    def ok(self, *args: Any, **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run a command that must succeed; raise with its output otherwise."""
        r = self(*args, **kw)
        if r.returncode != 0:
            raise CommandFailed(
                f"{' '.join(r.args)} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def _record_pid(self, stdout: str) -> None:
        try:
            pid = int(json.loads(stdout).get("pid") or 0)
        except (ValueError, AttributeError, TypeError):
            return
        st = leftovers.proc_stat(pid) if pid > 0 else None
        if st is not None:
            self.known_pids[pid] = st[2]

    # --- lifecycle helpers -----------------------------------------------------------------
    def state(self, cid: str) -> dict[str, Any]:
        """The parsed `state` of `cid` (which must succeed)."""
        return json.loads(self.ok("state", cid).stdout)

    def status(self, cid: str) -> str | None:
        """The status of `cid`, or None if `state` fails."""
        r = self("state", cid)
        return json.loads(r.stdout)["status"] if r.returncode == 0 else None

    def create(self, bundle: Path, cid: str | None = None) -> str:
        """`create --bundle bundle cid` (a new id if None), which must succeed; returns the id."""
        cid = cid or self.new_id()
        self.ok("create", "--bundle", bundle, cid)
        return cid

    def wait_status(self, cid: str, *wanted: str, timeout: float = WAIT_TIMEOUT) -> dict[str, Any]:
        """Poll `state` until the status is one of `wanted`; return that state."""
        deadline = time.monotonic() + timeout
        while True:
            st = self.state(cid)
            if st["status"] in wanted:
                return st
            if time.monotonic() > deadline:
                raise AssertionError(f"{cid} still {st['status']!r}, not {wanted} after {timeout}s")
            time.sleep(0.02)

    def wait_stopped(self, cid: str, timeout: float = WAIT_TIMEOUT) -> dict[str, Any]:
        """Wait for the container process to exit, then for `state` to say stopped."""
        st = self.state(cid)
        pid = st.get("pid") or 0
        start = self.known_pids.get(pid)
        deadline = time.monotonic() + timeout
        while pid > 0 and leftovers.is_alive(pid, start) and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.wait_status(cid, "stopped", timeout=max(1.0, deadline - time.monotonic()))

    def run_to_exit(self, bundle: Path, cid: str | None = None) -> str:
        """create, start, wait for stopped and delete; returns the id. For output via files."""
        cid = self.create(bundle, cid)
        self.ok("start", cid)
        self.wait_stopped(cid)
        self.ok("delete", cid)
        return cid

    def script_output(self, script: str,
                      config_edit: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
                      **kw: Any) -> str:
        """Run `sh -c script` in a fresh container (create/start/wait/delete) and return what
        it wrote to stdout and stderr, passed back through a file in the /share bind mount."""
        self._n_outputs += 1
        name = f"out{self._n_outputs}"
        b = self.bundle(["sh", "-c", f"exec >/share/{name} 2>&1\n{script}"], config_edit,
                        share=True, **kw)
        self.run_to_exit(b)
        out = self.share / name
        assert out.exists(), f"the container did not write /share/{name}"
        return out.read_text()

    def gate(self) -> "Gate":
        """A FIFO in /share a container can block on (`read x < GATE`) until `.open()`."""
        self._n_gates += 1
        host = self.share / f"gate{self._n_gates}"
        os.mkfifo(host, 0o666)
        os.chmod(host, 0o666)
        return Gate(host, f"{SHARE_DEST}/{host.name}")

    def kill_and_delete(self, cid: str) -> None:
        """SIGKILL the container, wait for stopped, delete (which must succeed)."""
        self.ok("kill", cid, "KILL")
        self.wait_stopped(cid)
        self.ok("delete", cid)

    # --- the leftover check ----------------------------------------------------------------
    def cleanup(self) -> list[str]:
        """Force-delete this test's containers, remove anything left, return what was left."""
        problems: list[str] = []
        for cid in self.ids:
            try:
                self("state", cid)  # records the pid, if any, for the process check
                r = self("delete", "--force", cid)
                if r.returncode == 0 and self("state", cid).returncode == 0:
                    problems.append(f"container {cid} still known after delete --force")
            except CommandTimeout as e:
                problems.append(str(e))
        for p in self.popens:
            if p.poll() is None:
                problems.append(f"background {' '.join(map(str, p.args))} still running")
                p.send_signal(signal.SIGKILL)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                problems.append(f"background pid {p.pid} did not die")
        markers = [self.token, str(self.tmp_path)]

        # Processes: a dying container gets a short grace period before it counts.
        procs = leftovers.find_processes(markers, self.known_pids)
        deadline = time.monotonic() + 2.0
        while procs and time.monotonic() < deadline:
            time.sleep(0.02)
            procs = leftovers.find_processes(markers, self.known_pids)
        cgroups = leftovers.find_cgroups([self.token], self.ids)
        for cg in cgroups:  # a frozen process does not die of SIGKILL: thaw first
            for f, v in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
                if (cg / f).exists():
                    try:
                        (cg / f).write_text(v)
                    except OSError:
                        pass
        if procs:
            problems += [f"process left: {d}" for d in procs.values()]
            for pid in leftovers.kill_processes(list(procs)):
                problems.append(f"process {pid} survived SIGKILL")
        for cg in cgroups:
            problems.append(f"cgroup left: {cg}")
            err = leftovers.remove_cgroup(cg)
            if err:
                problems.append(err)

        prefixes = [str(self.tmp_path), os.path.realpath(self.tmp_path), str(self.root)]
        mounts = leftovers.find_mounts(prefixes)
        if mounts:
            problems += [f"mount left: {m}" for m in mounts]
            problems += [f"could not unmount {m}" for m in leftovers.unmount(mounts)]

        for name in sorted(set(os.listdir(self.root)) - self._root_before):
            problems.append(f"state left in root: {self.root / name}")
            path = self.root / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        return problems


@pytest.fixture(scope="session")
def runtime() -> str:
    """Absolute path of the runtime under test: $OCI_RUNTIME, default `pyrunc`."""
    name = os.environ.get(RUNTIME_ENV, DEFAULT_RUNTIME)
    path = name if "/" in name else shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        pytest.fail(f"OCI runtime {name!r} not found (set {RUNTIME_ENV}=/path/to/runtime)",
                    pytrace=False)
    return os.path.abspath(path)


@pytest.fixture(scope="session")
def state_root() -> Iterator[Path]:
    """A private --root for the session (short path: runtimes put sockets in it)."""
    root = Path(tempfile.mkdtemp(prefix="oci-root-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)
    for h in leftovers.hierarchies():  # the shared parent of the tests' cgroups, if empty
        try:
            (h / CGROUP_PARENT.lstrip("/")).rmdir()
        except OSError:
            pass


@pytest.fixture
def rt(runtime: str, state_root: Path, tmp_path: Path) -> Iterator[Runtime]:
    """A Runtime for this test; after it, the leftover check (cleans up, then fails)."""
    r = Runtime(runtime, state_root, tmp_path)
    yield r
    problems = r.cleanup()
    if problems:
        pytest.fail("the test left these behind (now cleaned up):\n  " + "\n  ".join(problems),
                    pytrace=False)


@pytest.fixture
def container_id(rt: Runtime) -> str:
    """A fresh container id, unique to this test."""
    return rt.new_id()
