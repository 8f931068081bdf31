"""The runtimes under comparison, their bundles, and the cleanup of everything the bench made.

Each runtime gets a private --root in the bench's temp dir, and every container id and cgroup name
carries the session's token, so the final check can tell our leftovers from anyone else's (other
test runs may share the machine and the /pyrunc-test cgroup parent).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import uuid
from typing import Any, Callable

from bench_proc import HiddenCgroup2, Result, reap_zombies, spawn_timed, wait_exit
from conformance import leftovers
from conformance.bundle import CGROUP_PARENT, make_bundle

CRUN_OCI_VERSION = "1.0.2"  # crun 1.8.1 accepts only ociVersion 1.0.x/1.1.x


class BenchError(RuntimeError):
    """A runtime call the bench needed failed; the benchmark it was in is abandoned."""


class BenchSkip(RuntimeError):
    """This host cannot run a benchmark (no systemd, say): it is skipped with the reason, which
    is no failure."""


class Runtime:
    """One OCI runtime binary with its own --root, optionally run inside a mount namespace."""

    def __init__(self, session: "Session", name: str, binary: str,
                 ns: HiddenCgroup2 | None = None, oci_version: str | None = None,
                 global_args: tuple[str, ...] = ()) -> None:
        self.session = session
        self.name = name
        self.binary = binary
        self.ns = ns
        self.oci_version = oci_version
        self.global_args = global_args  # before the command, in every call: --systemd-cgroup
        self.root = os.path.join(session.tmp, f"root-{name}")
        os.mkdir(self.root, 0o700)
        self._bundles: dict[str, str] = {}

    def call(self, *args: str, timeout: float = 30.0) -> Result:
        argv = [self.binary, "--root", self.root, *self.global_args, *args]
        if args and args[0] in ("create", "run"):
            self.session.track(self, args[-1])
        if self.ns is None:
            return spawn_timed(argv, self.session.tmp, timeout)
        with self.ns.entered():
            return spawn_timed(argv, self.session.tmp, timeout)

    def ok(self, *args: str, timeout: float = 30.0) -> Result:
        r = self.call(*args, timeout=timeout)
        if r.rc != 0:
            raise BenchError(f"{self.name}: {r.why()}")
        return r

    def pid(self, state: Result) -> int:
        try:
            return int(json.loads(state.out)["pid"])
        except (ValueError, KeyError, TypeError):
            raise BenchError(
                f"{self.name}: no pid in `state` output {state.out.strip()!r}") from None

    def bundle(self, purpose: str, args: list[str],
               edit: Callable[[dict[str, Any]], None] | None = None) -> str:
        """A busybox bundle for this runtime (its own cgroup, named with the session token),
        made once per `purpose`."""
        if purpose in self._bundles:
            return self._bundles[purpose]
        def config_edit(cfg: dict[str, Any]) -> None:
            if self.oci_version:
                cfg["ociVersion"] = self.oci_version
            if edit is not None:
                edit(cfg)
        path = str(make_bundle(self.session.tmp, args, config_edit, name=f"{self.name}-{purpose}",
                               cgroup_name=f"{self.session.token}-{self.name}-{purpose}"))
        self._bundles[purpose] = path
        return path

    def cgroup_procs(self, purpose: str) -> list[int]:
        """PIDs in this runtime's cgroup for bundle `purpose` (pids hierarchy, else unified)."""
        rel = f"{CGROUP_PARENT}/{self.session.token}-{self.name}-{purpose}".lstrip("/")
        for h in ("pids", "memory", "unified", ""):
            path = os.path.join("/sys/fs/cgroup", h, rel, "cgroup.procs")
            try:
                with open(path) as f:
                    return [int(p) for p in f.read().split()]
            except OSError:
                continue
        return []

    def teardown(self, cid: str, pid: int | None = None) -> None:
        """Kill, wait for and delete container `cid` (as an engine does after its exit)."""
        self.call("kill", cid, "KILL", timeout=10)
        if pid:
            wait_exit(pid)
        r = self.call("delete", cid, timeout=15)
        if r.rc != 0:
            r = self.call("delete", "--force", cid, timeout=15)
        reap_zombies()
        if r.rc == 0:
            self.session.untrack(self, cid)


class Session:
    """The temp dir, token and runtimes of one bench run; `close()` removes all they made."""

    def __init__(self) -> None:
        self.token = "bench" + uuid.uuid4().hex[:8]
        self.tmp = tempfile.mkdtemp(prefix="pyrunc-bench-")
        self.runtimes: list[Runtime] = []
        self.ns: HiddenCgroup2 | None = None
        self._live: dict[tuple[str, str], Runtime] = {}

    def add(self, name: str, binary: str, ns: HiddenCgroup2 | None = None,
            oci_version: str | None = None, global_args: tuple[str, ...] = ()) -> Runtime:
        rt = Runtime(self, name, binary, ns, oci_version, global_args)
        self.runtimes.append(rt)
        return rt

    def track(self, rt: Runtime, cid: str) -> None:
        self._live[(rt.name, cid)] = rt

    def untrack(self, rt: Runtime, cid: str) -> None:
        self._live.pop((rt.name, cid), None)

    def new_id(self, rt: Runtime, what: str) -> str:
        return f"{self.token}-{rt.name}-{what}"

    # --- cleanup -------------------------------------------------------------------------------
    def close(self) -> list[str]:
        """Delete every container, check that nothing is left, remove what is; return the
        problems found (empty when the bench left nothing behind). Ctrl-C is ignored meanwhile."""
        old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._close()
        finally:
            for s, h in old.items():
                signal.signal(s, h)

    def _close(self) -> list[str]:
        problems: list[str] = []
        for (_name, cid), rt in list(self._live.items()):
            try:
                rt.call("kill", cid, "KILL", timeout=10)
                r = rt.call("delete", "--force", cid, timeout=20)
            except Exception as e:  # keep cleaning whatever happens
                problems.append(f"{rt.name} delete --force {cid}: {e}")
                continue
            if r.rc == 0:
                self.untrack(rt, cid)
        reap_zombies()
        for rt in self.runtimes:
            try:
                r = rt.call("list", "-q", timeout=10)
                if r.out.strip():
                    problems.append(f"{rt.name} still lists containers: {r.out.split()}")
            except Exception as e:
                problems.append(f"{rt.name} list: {e}")
            left = os.listdir(rt.root) if os.path.isdir(rt.root) else []
            if left:
                problems.append(f"{rt.name}: state left in its --root {rt.root}: {left}")
        procs = leftovers.find_processes([self.token], {})
        if procs:
            problems.append("processes left: " + "; ".join(procs.values()))
            leftovers.kill_processes(list(procs))
        reap_zombies()
        cgroups = leftovers.find_cgroups([self.token])
        if cgroups:
            problems.append("cgroups left: " + ", ".join(map(str, cgroups)))
            for cg in cgroups:
                err = leftovers.remove_cgroup(cg)
                if err:
                    problems.append(err)
        mounts = leftovers.find_mounts([self.tmp])
        if mounts:
            problems.append("mounts left: " + ", ".join(mounts))
            leftovers.unmount([self.tmp])
        if self.ns is not None and self.ns.fd >= 0:
            with self.ns.entered():
                mounts = leftovers.find_mounts([self.tmp])
                if mounts:
                    problems.append("mounts left in crun's namespace: " + ", ".join(mounts))
                    leftovers.unmount([self.tmp])
            self.ns.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if os.path.exists(self.tmp):
            problems.append(f"could not remove {self.tmp}")
        return problems


def warn(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
