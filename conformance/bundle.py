"""OCI bundles for tests: a busybox rootfs and runc's default config.

Every test that starts a container needs a rootfs and a config.json. Building a rootfs means
copying Debian's busybox-static and making ~270 applet symlinks, so it is built once per
process (the *template*) and each bundle gets a plain copy of it (about 2 MB, a few ms).
A real copy rather than hard links: a test that chowns or rewrites a file in its rootfs must
not change the template under every later test.

The config is what `runc spec` writes, except `process.terminal` is false (tests have no tty)
and `linux.cgroupsPath` is set to a name under CGROUP_PARENT that is unique per bundle, so the
leftover check can find the container's cgroups in every hierarchy.
"""
from __future__ import annotations

import atexit
import copy
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any, Callable

BUSYBOX = "/bin/busybox"
# Parent of every test container's cgroup, in every hierarchy (v1 controllers and unified).
CGROUP_PARENT = "/pyrunc-test"

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUP = "root:x:0:\nnobody:x:65534:\n"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
OCI_VERSION = "1.0.2-dev"  # what runc 1.1.5's `runc spec` writes

# A config made by runc 1.1.5 `runc spec` (terminal switched off). Copied deep on every use.
_RUNC_SPEC: dict[str, Any] = {
    "ociVersion": OCI_VERSION,
    "process": {
        "terminal": False,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": [DEFAULT_PATH, "TERM=xterm"],
        "cwd": "/",
        "capabilities": {
            "bounding": DEFAULT_CAPS,
            "effective": DEFAULT_CAPS,
            "permitted": DEFAULT_CAPS,
            "ambient": DEFAULT_CAPS,
        },
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "runc",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ],
    "linux": {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                       {"type": "uts"}, {"type": "mount"}],
        "maskedPaths": [
            "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
            "/proc/scsi",
        ],
        "readonlyPaths": [
            "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
        ],
    },
}


def make_rootfs(dir: str | os.PathLike[str]) -> Path:
    """Build a busybox rootfs at `dir` (created if missing) and return its path.

    /bin/busybox plus a symlink per applet it lists, /etc/passwd and /etc/group with root and
    nobody, and the empty mount points the default config mounts onto.
    """
    root = Path(dir)
    (root / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", root / "bin" / applet)
    for d in ("proc", "dev", "sys", "etc", "root", "mnt", "usr"):
        (root / d).mkdir(exist_ok=True)
    (root / "tmp").mkdir(exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    # Some scripts look for /usr/bin/env or /sbin/...: point them at /bin.
    for alias in ("sbin", "usr/bin", "usr/sbin"):
        if not (root / alias).exists():
            os.symlink("/bin", root / alias)
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    (root / "etc" / "hostname").write_text("busybox\n")
    return root


_template: Path | None = None


def template_rootfs() -> Path:
    """The per-process template rootfs, built on first use and removed at interpreter exit."""
    global _template
    if _template is None:
        base = Path(tempfile.mkdtemp(prefix="oci-conformance-rootfs-"))
        atexit.register(shutil.rmtree, base, True)
        _template = make_rootfs(base / "rootfs")
    return _template


def copy_rootfs(dst: str | os.PathLike[str]) -> Path:
    """Copy the template rootfs to `dst` (which must not exist), symlinks and modes kept.

    The template is all root-owned, so the copy is too. shutil is ~8x faster than `cp -a`.
    """
    dst = Path(dst)
    shutil.copytree(template_rootfs(), dst, symlinks=True)
    return dst


def default_config(args: list[str], **kw: Any) -> dict[str, Any]:
    """runc's `runc spec` config as a fresh dict, with process.args = `args`.

    Keyword shortcuts for the fields tests change most (anything else: edit the dict):
    cwd, env (full list, replaces the default), terminal, hostname, readonly (root.readonly),
    uid, gid, additional_gids, cgroups_path (linux.cgroupsPath), annotations.
    """
    cfg = copy.deepcopy(_RUNC_SPEC)
    proc = cfg["process"]
    proc["args"] = list(args)
    setters: dict[str, Callable[[Any], None]] = {
        "cwd": lambda v: proc.__setitem__("cwd", v),
        "env": lambda v: proc.__setitem__("env", list(v)),
        "terminal": lambda v: proc.__setitem__("terminal", bool(v)),
        "hostname": lambda v: cfg.__setitem__("hostname", v),
        "readonly": lambda v: cfg["root"].__setitem__("readonly", bool(v)),
        "uid": lambda v: proc["user"].__setitem__("uid", v),
        "gid": lambda v: proc["user"].__setitem__("gid", v),
        "additional_gids": lambda v: proc["user"].__setitem__("additionalGids", list(v)),
        "cgroups_path": lambda v: cfg["linux"].__setitem__("cgroupsPath", v),
        "annotations": lambda v: cfg.__setitem__("annotations", dict(v)),
    }
    for key, value in kw.items():
        if key not in setters:
            raise TypeError(f"default_config() got an unexpected keyword argument {key!r}")
        setters[key](value)
    return cfg


def add_bind_mount(cfg: dict[str, Any], source: str | os.PathLike[str], destination: str,
                   readonly: bool = False) -> None:
    """Append a bind mount of host `source` at container `destination` to `cfg`."""
    options = ["rbind", "rprivate"] + (["ro"] if readonly else ["rw"])
    cfg["mounts"].append({"destination": destination, "type": "bind",
                          "source": str(source), "options": options})


def make_bundle(tmpdir: str | os.PathLike[str], args: list[str] | None = None,
                config_edit: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
                *, name: str | None = None, cgroup_name: str | None = None,
                **kw: Any) -> Path:
    """Write a bundle (config.json + rootfs copy) under `tmpdir` and return its absolute path.

    The bundle directory is `tmpdir/name`, or the first free of bundle, bundle2, ... .
    linux.cgroupsPath is CGROUP_PARENT/<cgroup_name> (a random name if None) unless a keyword
    or `config_edit` sets it. `config_edit(cfg)` may change cfg in place or return a new dict.
    Remaining keywords go to default_config().
    """
    tmpdir = Path(tmpdir).absolute()
    if name is None:
        n = 1
        while (tmpdir / ("bundle" if n == 1 else f"bundle{n}")).exists():
            n += 1
        name = "bundle" if n == 1 else f"bundle{n}"
    bundle = tmpdir / name
    bundle.mkdir(parents=True)
    copy_rootfs(bundle / "rootfs")
    kw.setdefault("cgroups_path", f"{CGROUP_PARENT}/{cgroup_name or 'b' + uuid.uuid4().hex[:12]}")
    cfg = default_config(list(args) if args is not None else ["sh"], **kw)
    if config_edit is not None:
        edited = config_edit(cfg)
        if edited is not None:
            cfg = edited
    (bundle / "config.json").write_text(json.dumps(cfg, indent=2))
    return bundle


def read_config(bundle: str | os.PathLike[str]) -> dict[str, Any]:
    """The config.json of `bundle` as a dict."""
    return json.loads((Path(bundle) / "config.json").read_text())
