"""Run Debian's containerd and dockerd by hand, with a chosen OCI runtime, and undo what they did.

Why this exists: engines are the reason a low-level runtime exists, so the project proves that a
real Docker engine and containerd drive its runtime. There is no systemd here, so the harness starts
both daemons itself, each with its data, state and sockets under one temporary directory, declares
the runtime under test (ENGINE_RUNTIME) in daemon.json `runtimes` and as `default-runtime`, and makes
a busybox image without a registry (`docker import` of a busybox-static rootfs).

Daemons change the host outside their data directories (iptables chains and rules, the docker0
bridge and veths, ip_forward and a few other sysctls, cgroups, mounts, /etc/docker/key.json,
/run/containerd/s, /run/docker). The harness snapshots all of that before starting and restores it
after stopping the daemons by PID (SIGTERM, then SIGKILL), and `verify()` lists anything left over.
The snapshot is written into the temporary directory so that a session killed outright (SIGKILL)
is cleaned up by the next one (`recover_stale()`, or `python engine_harness.py --recover`).
"""
from __future__ import annotations

import atexit
import glob
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

# The pyrunc the rest of the suite finds on PATH (`make test PREFIX=...` puts its own first).
ENGINE_RUNTIME = os.environ.get("ENGINE_RUNTIME") or shutil.which("pyrunc") or "/usr/local/bin/pyrunc"
RUNTIME_NAME = "pyrunc"          # name under which ENGINE_RUNTIME is declared (compose uses it)
REFERENCE_NAME = "debian-runc"   # a second runtime in the same daemon, for side-by-side benches
REFERENCE_RUNTIME = "/usr/sbin/runc"
IMAGE = "pyrunc-test/busybox:latest"
CTR_NAMESPACE = "engines"
DOCKER = "/usr/bin/docker"       # Debian's client, not whatever else is first on PATH
CTR = "/usr/bin/ctr"
COMPOSE = "/usr/bin/docker-compose"
CONTAINERD = "/usr/bin/containerd"
DOCKERD = "/usr/sbin/dockerd"
BUSYBOX = "/bin/busybox"
TMP_PREFIX = "pyrunc-engines-"
STATE_FILE = "harness-state.json"

# Cgroup parents our engines create at the top of each hierarchy: docker's cgroupfs driver uses
# /docker/<id>, ctr uses /<namespace>/<id>. Only these are ever removed.
CGROUP_PARENTS = ("docker", CTR_NAMESPACE)
CGROUP_ROOT = "/sys/fs/cgroup"
# Host paths the daemons write outside their data directories.
WATCHED_PATHS = ("/etc/docker", "/run/docker", "/run/containerd", "/var/run/docker.sock",
                 "/var/lib/docker", "/var/lib/containerd", "/opt/containerd")
# sysctl directories (files directly inside) whose values are compared and restored.
SYSCTL_DIRS = ("/proc/sys/net/ipv4", "/proc/sys/net/ipv4/conf/all", "/proc/sys/net/ipv4/conf/default",
               "/proc/sys/net/ipv6/conf/all", "/proc/sys/net/ipv6/conf/default", "/proc/sys/net/bridge",
               "/proc/sys/kernel/keys")
SYSCTL_FILES = ("/proc/sys/fs/may_detach_mounts",)
DOCKER_LINK_RE = re.compile(r"^(docker0|br-[0-9a-f]{12})$")
DAEMON_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class HarnessError(RuntimeError):
    """Something in the engine harness itself failed (start, cleanup, verification)."""


# ----------------------------------------------------------------------------------- host state

def _run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 60)
    return subprocess.run(argv, **kw)


def _have(binary: str) -> bool:
    return shutil.which(binary) is not None


def _iptables_save(cmd: str) -> str:
    if not _have(cmd):
        return ""
    r = _run([cmd])
    return r.stdout if r.returncode == 0 else ""


def _normalize_iptables(text: str) -> list[str]:
    """Rules and chains without comments or counters; tables that hold only built-in chains with
    ACCEPT policy and no rules are dropped, because they filter nothing (same as absent)."""
    tables: dict[str, list[str]] = {}
    cur = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            cur = line[1:]
            tables[cur] = []
        elif line == "COMMIT":
            cur = None
        elif cur is not None:
            tables[cur].append(re.sub(r"\s*\[\d+:\d+\]$", "", line))
    out = []
    for name, lines in sorted(tables.items()):
        trivial = all(re.fullmatch(r":[A-Z]+ ACCEPT", ln) for ln in lines)
        if not trivial:
            out += [f"*{name}"] + lines
    return out


def _nft_tables() -> list[str]:
    if not _have("nft"):
        return []
    r = _run(["nft", "list", "tables"])
    return sorted(ln.strip() for ln in r.stdout.splitlines() if ln.startswith("table "))


def _read_sysctls() -> dict[str, str]:
    values = {}
    paths = list(SYSCTL_FILES)
    for d in SYSCTL_DIRS:
        try:
            paths += [os.path.join(d, n) for n in sorted(os.listdir(d))]
        except OSError:
            pass
    for p in paths:
        if not os.path.isfile(p):
            continue
        try:
            with open(p) as f:
                values[p] = f.read()
        except OSError:
            pass
    return values


def _links() -> dict[str, str | None]:
    """name -> master (or None) for every link in our network namespace."""
    r = _run(["ip", "-j", "link", "show"])
    out = {}
    for link in json.loads(r.stdout or "[]"):
        out[link["ifname"]] = link.get("master")
    return out


def _cgroup_hierarchies() -> list[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mnt = fields[4]
            fstype = fields[fields.index("-") + 1]
            if fstype in ("cgroup", "cgroup2") and mnt.startswith(CGROUP_ROOT + "/"):
                out.append(mnt)
    return sorted(set(out))


def _cgroup_dirs() -> list[str]:
    """Every directory at or below the known engine parents in every hierarchy."""
    out = []
    for h in _cgroup_hierarchies():
        for parent in CGROUP_PARENTS:
            top = os.path.join(h, parent)
            for dirpath, _dirs, _files in os.walk(top):
                out.append(dirpath)
    return sorted(out)


def _tree(path: str) -> list[str]:
    if not os.path.lexists(path):
        return []
    out = [path]
    if os.path.isdir(path) and not os.path.islink(path):
        for dirpath, dirs, files in os.walk(path):
            out += [os.path.join(dirpath, n) for n in dirs + files]
    return out


def _watched_paths() -> list[str]:
    out = []
    for p in WATCHED_PATHS:
        out += _tree(p)
    return sorted(out)


def snapshot_host() -> dict:
    """What the daemons may change, in a JSON-able form (kept in the state file for recovery)."""
    return {
        "iptables": _iptables_save("iptables-save"),
        "ip6tables": _iptables_save("ip6tables-save"),
        "nft_tables": _nft_tables(),
        "sysctls": _read_sysctls(),
        "links": _links(),
        "cgroups": _cgroup_dirs(),
        "paths": _watched_paths(),
    }


def _mounts_under(root: str) -> list[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mnt = line.split()[4].replace("\\040", " ")
            if mnt == root or mnt.startswith(root + "/"):
                out.append(mnt)
    return out


def _pids_in_cgroup_tree(top: str) -> set[int]:
    pids: set[int] = set()
    for dirpath, _dirs, files in os.walk(top):
        if "cgroup.procs" in files:
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    pids |= {int(x) for x in f.read().split()}
            except OSError:
                pass
    return pids


def _protected_pids() -> set[int]:
    """This process and its ancestors: never signalled."""
    out, pid = set(), os.getpid()
    while pid > 0:
        out.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return out | {1}


def _pids_mentioning(root: str) -> set[int]:
    """Processes whose command line or cwd lies under root (shims, runtime calls, leftovers)."""
    out = set()
    pat = re.compile(re.escape(root) + r"(/|\x00|$)")
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
            cwd = os.readlink(f"/proc/{d}/cwd") if os.path.exists(f"/proc/{d}/cwd") else ""
        except OSError:
            continue
        if pat.search(cmd) or cwd == root or cwd.startswith(root + "/"):
            out.add(int(d))
    return out


def _kill(pids: set[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids - _protected_pids():
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _proc_start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def stop_pid(pid: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """SIGTERM, wait up to timeout, then SIGKILL; reap it if it is our child."""
    if pid in _protected_pids() or not _pid_alive(pid):
        if proc is not None:
            proc.poll()
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return
        if proc is None and not _pid_alive(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if proc is not None:
        proc.wait(timeout=10)


def restore_host(root: str, before: dict) -> list[str]:
    """Undo what the daemons did, after they are stopped. Returns the errors met (best effort:
    every step runs even when an earlier one failed)."""
    errors: list[str] = []

    def step(what, fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - cleanup must go on
            errors.append(f"{what}: {e!r}")

    new_cgroups = sorted(set(_cgroup_dirs()) - set(before["cgroups"]), key=len, reverse=True)

    def kill_leftovers():
        # Frozen tasks cannot die: thaw every freezer cgroup of ours first.
        for cg in new_cgroups:
            st = os.path.join(cg, "freezer.state")
            if os.path.exists(st):
                try:
                    with open(st, "w") as f:
                        f.write("THAWED")
                except OSError:
                    pass
        for _ in range(50):
            pids = _pids_mentioning(root)
            for cg in new_cgroups:
                pids |= _pids_in_cgroup_tree(cg)
            pids -= _protected_pids()
            if not pids:
                return
            _kill(pids)
            time.sleep(0.1)
        raise HarnessError(f"processes survive SIGKILL: {sorted(pids)}")

    def unmount():
        for mnt in sorted(_mounts_under(root), key=len, reverse=True):
            r = _run(["umount", mnt])
            if r.returncode != 0:
                _run(["umount", "-l", mnt])

    def remove_cgroups():
        left = []
        for cg in sorted(set(_cgroup_dirs()) - set(before["cgroups"]), key=len, reverse=True):
            for _ in range(20):
                try:
                    os.rmdir(cg)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
            else:
                left.append(cg)
        if left:
            raise HarnessError(f"cannot remove cgroups {left}")

    def remove_links():
        now = _links()
        ours = {n for n in now if n not in before["links"] and DOCKER_LINK_RE.match(n)}
        for name, master in now.items():
            if master in ours:
                _run(["ip", "link", "del", name])
        for name in ours:
            _run(["ip", "link", "del", name])

    def restore_iptables():
        for cmd, key in (("iptables", "iptables"), ("ip6tables", "ip6tables")):
            if _normalize_iptables(_iptables_save(f"{cmd}-save")) == _normalize_iptables(before[key]):
                continue
            if before[key].strip():
                r = _run([f"{cmd}-restore"], input=before[key])
                if r.returncode != 0:
                    raise HarnessError(f"{cmd}-restore: {r.stderr.strip()}")
            # Tables that did not exist before: delete them (nft), or empty them (legacy).
            before_tables = set(re.findall(r"^\*(\w+)", before[key], re.M))
            now_save = _iptables_save(f"{cmd}-save")
            now_tables = set(re.findall(r"^\*(\w+)", now_save, re.M))
            family = "ip" if cmd == "iptables" else "ip6"
            for t in sorted(now_tables - before_tables):
                if _have("nft") and f"table {family} {t}" not in before["nft_tables"]:
                    _run(["nft", "delete", "table", family, t])
                else:  # legacy tables cannot be deleted: empty them, built-in chains back to ACCEPT
                    _run([cmd, "-t", t, "-F"])
                    _run([cmd, "-t", t, "-X"])
                    block = now_save.split(f"*{t}\n", 1)[1].split("COMMIT", 1)[0]
                    for chain in re.findall(r"^:(\S+) (?!-)\S+", block, re.M):
                        _run([cmd, "-t", t, "-P", chain, "ACCEPT"])

    def restore_sysctls():
        now = _read_sysctls()
        for path, value in before["sysctls"].items():
            if now.get(path, value) != value:
                try:
                    with open(path, "w") as f:
                        f.write(value)
                except OSError as e:
                    errors.append(f"sysctl {path}: {e!r}")

    def remove_paths():
        keep = set(before["paths"])
        for p in sorted(set(_watched_paths()) - keep, key=len, reverse=True):
            try:
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p)
                else:
                    os.unlink(p)
            except FileNotFoundError:
                pass

    def remove_root():
        if os.path.isdir(root):
            shutil.rmtree(root)

    step("kill leftover processes", kill_leftovers)
    step("unmount", unmount)
    step("remove cgroups", remove_cgroups)
    step("remove links", remove_links)
    step("restore iptables", restore_iptables)
    step("restore sysctls", restore_sysctls)
    step("remove host paths", remove_paths)
    if not errors:  # keep the logs and the snapshot for a later --recover if anything failed
        step("remove temp dir", remove_root)
    return errors


def verify_host(root: str, before: dict) -> list[str]:
    """Everything the daemons left behind, as human-readable lines (empty: the host is clean)."""
    left = []
    pids = _pids_mentioning(root) - _protected_pids()
    if pids:
        left.append(f"processes still running under {root}: {sorted(pids)}")
    if os.path.exists(root):
        left.append(f"temp dir still present: {root}")
    mounts = _mounts_under(root)
    if mounts:
        left.append(f"mounts left: {mounts}")
    cgs = sorted(set(_cgroup_dirs()) - set(before["cgroups"]))
    if cgs:
        left.append(f"cgroups left: {cgs}")
    links = [n for n in _links() if n not in before["links"] and DOCKER_LINK_RE.match(n)]
    links += [n for n, m in _links().items() if n not in before["links"] and m and DOCKER_LINK_RE.match(m)]
    if links:
        left.append(f"links left: {links}")
    for cmd, key in (("iptables-save", "iptables"), ("ip6tables-save", "ip6tables")):
        a, b = _normalize_iptables(before[key]), _normalize_iptables(_iptables_save(cmd))
        if a != b:
            left.append(f"{cmd} differs: +{sorted(set(b) - set(a))} -{sorted(set(a) - set(b))}")
    new_nft = sorted(set(_nft_tables()) - set(before["nft_tables"]))
    if new_nft:
        left.append(f"nft tables left: {new_nft}")
    now = _read_sysctls()
    changed = {p: (v, now.get(p)) for p, v in before["sysctls"].items() if now.get(p, v) != v}
    if changed:
        left.append(f"sysctls changed (before, now): {changed}")
    paths = sorted(set(_watched_paths()) - set(before["paths"]))
    if paths:
        left.append(f"host paths left: {paths}")
    return left


# ------------------------------------------------------------------------------------ the engines

def make_busybox_rootfs(dest: str) -> None:
    """A minimal rootfs: busybox-static plus one symlink per applet, and passwd/group entries so
    that --user by name works."""
    for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root", "var", "home"):
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    shutil.copy2(BUSYBOX, os.path.join(dest, "bin", "busybox"))
    applets = _run([BUSYBOX, "--list"]).stdout.split()
    for a in applets:
        link = os.path.join(dest, "bin", a)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    with open(os.path.join(dest, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n"
                "tester:x:1000:1000:tester:/home:/bin/sh\n"
                "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    with open(os.path.join(dest, "etc", "group"), "w") as f:
        f.write("root:x:0:\ntester:x:1000:\nnogroup:x:65534:\n")


def default_cgroup_driver() -> str:
    """What engines run with: systemd on a systemd host (Docker's own default on cgroup v2, said
    here so it does not depend on that: the runtime gets --systemd-cgroup), cgroupfs elsewhere."""
    return "systemd" if os.path.isdir("/run/systemd/system") else "cgroupfs"


class Engines:
    """containerd + dockerd under one temp dir, with ENGINE_RUNTIME as Docker's default runtime."""

    def __init__(self, runtime: str = ENGINE_RUNTIME, extra_runtimes: dict[str, str] | None = None):
        self.runtime = runtime
        self.runtimes = {RUNTIME_NAME: runtime, REFERENCE_NAME: REFERENCE_RUNTIME}
        self.runtimes.update(extra_runtimes or {})
        self.root = ""
        self.before: dict | None = None
        self.procs: dict[str, subprocess.Popen] = {}
        self.stopped = False
        self.cgroup_driver = ""  # dockerd's native.cgroupdriver (see use_cgroup_driver)

    # paths
    def p(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    @property
    def containerd_sock(self) -> str:
        return self.p("containerd", "containerd.sock")

    @property
    def docker_sock(self) -> str:
        return self.p("docker.sock")

    @property
    def runtime_root(self) -> str:
        """The --root dockerd gives every runc-compatible runtime (observed with docker 20.10)."""
        return self.p("dexec", "runtime-runc", "moby")

    def client_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(DOCKER_HOST=f"unix://{self.docker_sock}", DOCKER_CONFIG=self.p("cli-config"),
                   DOCKER_BUILDKIT="0", COMPOSE_DOCKER_CLI_BUILD="0", CONTAINERD_ADDRESS=self.containerd_sock,
                   CONTAINERD_NAMESPACE=CTR_NAMESPACE)
        return env

    def daemon_env(self) -> dict[str, str]:
        """A small, fixed environment, so what the runtime sees does not depend on who ran pytest
        (PYRUNC_* variables pass through for debugging)."""
        env = {"PATH": DAEMON_PATH, "HOME": "/root", "LANG": "C.UTF-8"}
        env.update({k: v for k, v in os.environ.items() if k.startswith("PYRUNC_")})
        return env

    # lifecycle
    def start(self) -> "Engines":
        recover_stale()
        pre = _links()
        for name in pre:
            if DOCKER_LINK_RE.match(name):
                raise HarnessError(f"link {name} already exists: another Docker daemon runs here?")
        self.before = snapshot_host()
        self.root = tempfile.mkdtemp(prefix=TMP_PREFIX, dir="/tmp")
        self._save_state()
        atexit.register(self._at_exit)  # an interpreter exiting without stop() still cleans up
        try:
            self._start_containerd()
            self._start_dockerd()
            self._import_image()
        except BaseException:
            left = self.stop()
            if left:
                print("engine harness cleanup after a failed start left:\n  " + "\n  ".join(left), file=sys.stderr)
            raise
        return self

    def _save_state(self) -> None:
        state = {"owner_pid": os.getpid(), "owner_start": _proc_start_time(os.getpid()),
                 "root": self.root, "before": self.before,
                 "daemons": {n: p.pid for n, p in self.procs.items()}}
        tmp = self.p(STATE_FILE + ".tmp")
        with open(tmp, "w") as f:
            json.dump(state, f)
        os.replace(tmp, self.p(STATE_FILE))

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.p(f"{name}.log"), "ab")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=self.daemon_env(), cwd=self.root, start_new_session=True)
        log.close()
        self.procs[name] = proc
        self._save_state()
        return proc

    def _wait_ready(self, name: str, probe: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[name].poll() is not None:
                raise HarnessError(f"{name} exited with {self.procs[name].returncode}:\n{self.log_tail(name)}")
            # A daemon that listens but is still starting (dockerd loads its AppArmor profile,
            # sets up iptables: a minute under an emulated CPU) makes the probe wait, not fail.
            try:
                if _run(probe, env=self.client_env(), timeout=10).returncode == 0:
                    return
            except subprocess.TimeoutExpired:
                continue
            time.sleep(0.2)
        raise HarnessError(f"{name} not ready after {timeout}s:\n{self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 40) -> str:
        try:
            with open(self.p(f"{name}.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def _start_containerd(self) -> None:
        base = self.p("containerd")
        os.makedirs(base)
        cfg = self.p("containerd.toml")
        disabled = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.snapshotter.v1.aufs"]
        with open(cfg, "w") as f:
            f.write(f'version = 2\nroot = "{base}/root"\nstate = "{base}/state"\n'
                    f"disabled_plugins = {json.dumps(disabled)}\n"
                    f'[grpc]\n  address = "{self.containerd_sock}"\n'
                    f'[ttrpc]\n  address = ""\n[debug]\n  address = ""\n[metrics]\n  address = ""\n'
                    f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{base}/opt"\n')
        self._spawn("containerd", [CONTAINERD, "--config", cfg])
        self._wait_ready("containerd", [CTR, "--address", self.containerd_sock, "version"], 30)

    def _start_dockerd(self, driver: str = "") -> None:
        self.cgroup_driver = driver or default_cgroup_driver()
        daemon_json = {
            "runtimes": {name: {"path": path} for name, path in self.runtimes.items()},
            "default-runtime": RUNTIME_NAME,
            "features": {"buildkit": False},
            "exec-opts": [f"native.cgroupdriver={self.cgroup_driver}"],
            # `docker checkpoint` is an experimental command (test_engines_checkpoint.py)
            "experimental": True,
        }
        cfg = self.p("daemon.json")
        with open(cfg, "w") as f:
            json.dump(daemon_json, f, indent=2)
        self._spawn("dockerd", [
            DOCKERD, "--config-file", cfg, "--data-root", self.p("docker"),
            "--exec-root", self.p("dexec"), "--pidfile", self.p("docker.pid"),
            "-H", f"unix://{self.docker_sock}", "--containerd", self.containerd_sock,
        ])
        self._wait_ready("dockerd", [DOCKER, "version"], 300)

    def use_cgroup_driver(self, driver: str) -> None:
        """Run dockerd with native.cgroupdriver=DRIVER from now on: unless it already does, it
        is restarted with it (containerd, Docker's data and the image stay; the tests' containers
        are removed first). The Docker tests run with the host's default driver and a few with
        cgroupfs on a systemd host too, and a restart costs far less than a second lane."""
        if driver == self.cgroup_driver:
            return
        self.remove_all()
        dockerd = self.procs["dockerd"]
        stop_pid(dockerd.pid, 30, dockerd)
        self._start_dockerd(driver)

    def _import_image(self) -> None:
        rootfs = self.p("rootfs")
        make_busybox_rootfs(rootfs)
        tar_path = self.p("rootfs.tar")
        with tarfile.open(tar_path, "w") as t:
            t.add(rootfs, arcname=".")
        r = self.docker("import", "-c", 'CMD ["sh"]', "-c", "ENV PATH=/bin", tar_path, IMAGE)
        os.unlink(tar_path)
        shutil.rmtree(rootfs)
        # The same image in containerd's own store, for ctr.
        save = subprocess.run([DOCKER, "save", IMAGE], env=self.client_env(), capture_output=True, timeout=60)
        if save.returncode != 0:
            raise HarnessError(f"docker save: {save.stderr.decode()}")
        r = subprocess.run([CTR, "--address", self.containerd_sock, "-n", CTR_NAMESPACE, "images", "import", "-"], input=save.stdout, capture_output=True, timeout=60)
        if r.returncode != 0:
            raise HarnessError(f"ctr images import: {r.stderr.decode()}")

    # clients
    def docker(self, *args: str, check: bool = True, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        return self._client([DOCKER, *args], check, timeout, **kw)

    def ctr(self, *args: str, check: bool = True, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        return self._client([CTR, "--address", self.containerd_sock, "-n", CTR_NAMESPACE, *args],
                            check, timeout, **kw)

    def compose(self, project_dir: str, *args: str, check: bool = True, timeout: float = 180,
                **kw) -> subprocess.CompletedProcess:
        return self._client([COMPOSE, "--project-directory", project_dir,
                             "-f", os.path.join(project_dir, "docker-compose.yml"), *args],
                            check, timeout, cwd=project_dir, **kw)

    def _client(self, argv: list[str], check: bool, timeout: float, **kw) -> subprocess.CompletedProcess:
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("env", self.client_env())
        r = subprocess.run(argv, timeout=timeout, **kw)
        if check and r.returncode != 0:
            raise HarnessError(f"{' '.join(argv)} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def inspect(self, name: str) -> dict:
        return json.loads(self.docker("inspect", name).stdout)[0]

    def remove_all(self) -> None:
        """Remove every container, task, volume and network tests made (the daemons are ours)."""
        ids = self.docker("ps", "-aq", check=False).stdout.split()
        if ids:
            self.docker("rm", "-f", "-v", *ids, check=False)
        vols = self.docker("volume", "ls", "-q", check=False).stdout.split()
        if vols:
            self.docker("volume", "rm", "-f", *vols, check=False)
        self.docker("network", "prune", "-f", check=False)
        for line in self.ctr("task", "ls", "-q", check=False).stdout.split():
            self.ctr("task", "kill", "-s", "SIGKILL", line, check=False)
            for _ in range(50):
                if self.ctr("task", "delete", line, check=False).returncode == 0:
                    break
                time.sleep(0.1)
        for cid in self.ctr("containers", "ls", "-q", check=False).stdout.split():
            self.ctr("containers", "delete", cid, check=False)

    def stop(self) -> list[str]:
        """Stop both daemons by PID and undo every host change; returns leftovers (verify)."""
        if self.stopped or self.before is None:
            return []
        self.stopped = True
        errors = []
        dockerd, containerd = self.procs.get("dockerd"), self.procs.get("containerd")
        if dockerd is not None and dockerd.poll() is None and containerd is not None and containerd.poll() is None:
            try:
                self.remove_all()
            except Exception as e:  # noqa: BLE001
                errors.append(f"remove containers: {e!r}")
        if dockerd is not None:
            stop_pid(dockerd.pid, 30, dockerd)
        if containerd is not None:
            stop_pid(containerd.pid, 15, containerd)
        errors += restore_host(self.root, self.before)
        return errors + verify_host(self.root, self.before)

    def _at_exit(self) -> None:
        left = self.stop()
        if left:
            print("engine harness cleanup left:\n  " + "\n  ".join(left), file=sys.stderr)

    def __enter__(self) -> "Engines":
        return self.start()

    def __exit__(self, *exc) -> None:
        left = self.stop()
        if left:
            raise HarnessError("engine cleanup left the host changed:\n  " + "\n  ".join(left))


def recover_stale() -> list[str]:
    """Clean up after a harness whose owner died without its teardown (e.g. SIGKILL)."""
    problems = []
    for state_path in glob.glob(f"/tmp/{TMP_PREFIX}*/{STATE_FILE}"):
        try:
            with open(state_path) as f:
                state = json.load(f)
        except (OSError, ValueError):
            continue
        owner = state["owner_pid"]
        if _pid_alive(owner) and _proc_start_time(owner) == state["owner_start"]:
            continue  # a live session owns it
        root = state["root"]
        for name in ("dockerd", "containerd"):
            pid = state["daemons"].get(name)
            if pid and str(root) in " ".join(_cmdline(pid)):
                stop_pid(pid, 15)
        problems += restore_host(root, state["before"])
        problems += verify_host(root, state["before"])
    return problems


def run_in_pty(argv: list[str], env: dict, steps: list[tuple[bytes, bytes]], timeout: float = 60) -> tuple[int, bytes]:
    """Run argv with a pty as its stdin/stdout/stderr (as a terminal user would). For each
    (wait_for, send) step, wait until wait_for appeared in the output, then type send."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    pending = list(steps)
    try:
        while time.monotonic() < deadline:
            if pending and pending[0][0] in out:
                os.write(master, pending.pop(0)[1])
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the other side is closed
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            raise AssertionError(f"{argv} timed out; output so far: {out!r}")
        return proc.wait(timeout=30), out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode(errors="replace").split("\0")
    except OSError:
        return []


if __name__ == "__main__":
    if sys.argv[1:] == ["--recover"]:
        left = recover_stale()
        print("\n".join(left) or "nothing left")
        sys.exit(1 if left else 0)
    print(__doc__)
