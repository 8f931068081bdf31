"""What CRIU is told, for checkpoint and restore alike: runc's flags for both commands, the
options both requests share, the external mounts (named by destination on dump, mapped back to
host paths on restore), and the one error line of a failed request.

Loaded by `checkpoint` and `restore` only (checkpoint.py, restore.py).
"""

import os

from pyrunc.args import Flag, UsageError
from pyrunc.errors import PyruncError

DESCRIPTORS = "descriptors.json"  # runc's name: the init's fds 0-2 at checkpoint time
CLONE_NEWNET = 0x40000000
CG_MODES = ("", "soft", "full", "strict", "ignore")
EXT_NS = {"network": ("net", "extRootNetNS", 31100), "pid": ("pid", "extRootPidNS", 31500)}
JOIN_NS = {"ipc": "ipc", "uts": "uts", "mount": "mnt", "user": "user", "time": "time"}

# The flags both commands take, as runc words them.
TCP_ESTABLISHED = Flag("tcp-established", help="allow open tcp connections")
EXT_UNIX_SK = Flag("ext-unix-sk", help="allow external unix sockets")
SHELL_JOB = Flag("shell-job", help="allow shell jobs")
FILE_LOCKS = Flag("file-locks", help="handle file locks, for safety")
LAZY_PAGES = Flag("lazy-pages", help="use userfaultfd to lazily restore memory pages")
CG_MODE = Flag("manage-cgroups-mode", "str", "", "cgroups mode: soft|full|strict|ignore "
               "(default: soft)")
EMPTY_NS = Flag("empty-ns", "list", None, "create a namespace, but don't restore its properties")
AUTO_DEDUP = Flag("auto-dedup", help="enable auto deduplication of memory images")
WORK_PATH = Flag("work-path", "str", "", "path for saving work files and logs")

CHECKPOINT_FLAGS = [
    Flag("image-path", "str", "", "path for saving criu image files"), WORK_PATH,
    Flag("parent-path", "str", "", "path for previous criu image files in pre-dump"),
    Flag("leave-running", help="leave the process running after checkpointing"),
    TCP_ESTABLISHED,
    Flag("tcp-skip-in-flight", help="skip in-flight tcp connections"),
    Flag("link-remap", help="allow one to link unlinked files back when possible"),
    EXT_UNIX_SK, SHELL_JOB, LAZY_PAGES,
    Flag("status-fd", "int", -1, "criu writes \\0 to this FD once lazy-pages is ready"),
    Flag("page-server", "str", "", "ADDRESS:PORT of the page server"),
    FILE_LOCKS,
    Flag("pre-dump", help="dump container's memory information only, leave the container "
         "running after this"),
    CG_MODE, EMPTY_NS, AUTO_DEDUP,
]

RESTORE_FLAGS = [
    Flag("console-socket", "str", "", "path to an AF_UNIX socket which will receive a file "
         "descriptor referencing the master end of the console's pseudoterminal"),
    Flag("image-path", "str", "", "path to criu image files for restoring"), WORK_PATH,
    TCP_ESTABLISHED, EXT_UNIX_SK, SHELL_JOB, FILE_LOCKS, CG_MODE,
    Flag("bundle,b", "str", "", "path to the root of the bundle directory"),
    Flag("detach,d", help="detach from the container's process"),
    Flag("pid-file", "str", "", "specify the file to write the process id to"),
    Flag("no-subreaper", help="disable the use of the subreaper used to reap reparented "
         "processes"),
    Flag("no-pivot", help="do not use pivot root to jail process inside rootfs"),
    EMPTY_NS, AUTO_DEDUP, LAZY_PAGES,
    Flag("lsm-profile", "str", "", "Specify an LSM profile to be used during restore in the "
         "form of TYPE:NAME."),
    Flag("lsm-mount-context", "str", "", "Specify an LSM mount context to be used during "
         "restore."),
]


# -- options shared by both commands ---------------------------------------------------------
def image_path(o: dict, create: bool) -> str:
    """--image-path, default ./checkpoint (runc's); made (0700) for a checkpoint."""
    path = os.path.abspath(o["image-path"] or "checkpoint")
    if create:
        try:
            os.makedirs(path, 0o700, exist_ok=True)
        except OSError as e:
            raise PyruncError(f"--image-path {path}: {e.strerror}") from None
    return path


def _open_dir(path: str, flag: str, create: bool = False) -> int:
    if create:
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as e:
            raise PyruncError(f"{flag} {path}: {e.strerror}") from None
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:
        raise PyruncError(f"{flag} {path}: {e.strerror}") from None


def _cg_mode(rpc, mode: str) -> int:
    if mode not in CG_MODES:
        raise UsageError("invalid manage-cgroups-mode value")
    return rpc.criu_cg_mode.Value((mode or "default").upper())


def _empty_ns(o: dict) -> int:
    """criu's empty_ns: the network namespace always, as runc ("runc doesn't manage network
    devices and their configuration": a veth whose peer is on the host cannot be restored,
    the engine's prestart hook sets the new one up); --empty-ns adds only "network" (runc's
    mapping)."""
    mask = CLONE_NEWNET
    for ns in o["empty-ns"] or ():
        for name in ns.split(","):
            if name != "network":
                raise UsageError(f"namespace {name!r} is not supported")
            mask |= CLONE_NEWNET
    return mask


def common_opts(rpc, o: dict, image: str, log_file: str, fds: list[int],
                 annotations: dict):
    """The criu options both commands set alike, and the directory of criu's log (the work
    path's, else the image path's).  The directories' fds are appended to ``fds``, which the
    caller closes once criu is done."""
    img_fd = _open_dir(image, "--image-path")
    fds.append(img_fd)
    opts = rpc.criu_opts(
        images_dir_fd=img_fd, log_level=4, log_file=log_file,
        manage_cgroups=True, manage_cgroups_mode=_cg_mode(rpc, o["manage-cgroups-mode"]),
        notify_scripts=True, shell_job=bool(o["shell-job"]),
        tcp_established=bool(o["tcp-established"]), ext_unix_sk=bool(o["ext-unix-sk"]),
        file_locks=bool(o["file-locks"]), empty_ns=_empty_ns(o), orphan_pts_master=True,
        auto_dedup=bool(o["auto-dedup"]), lazy_pages=bool(o["lazy-pages"]))
    log_dir = image
    if o["work-path"]:
        log_dir = os.path.abspath(o["work-path"])
        wfd = _open_dir(log_dir, "--work-path", create=True)
        fds.append(wfd)
        opts.work_dir_fd = wfd
    _config_file(opts, annotations)
    return opts, os.path.join(log_dir, log_file)


def _config_file(opts, annotations: dict) -> None:
    """runc's org.criu.config annotation: a criu config file, or "" for none; default
    /etc/criu/runc.conf (criu ignores a missing one)."""
    if "org.criu.config" in annotations:
        if annotations["org.criu.config"]:
            opts.config_file = annotations["org.criu.config"]
    else:
        opts.config_file = "/etc/criu/runc.conf"


def page_server(value: str) -> tuple[str, int] | None:
    """--page-server ADDRESS:PORT as runc reads it (Go's net.SplitHostPort, "[v6]:port" too):
    (address, port), or None for port 0, which runc takes as no page server."""
    usage = "Use --page-server ADDRESS:PORT to specify page server"
    if value.startswith("["):
        end = value.find("]")
        if end < 0 or not value[end + 1:].startswith(":"):
            raise PyruncError(usage)
        host, port = value[1:end], value[end + 2:]
    else:
        host, sep, port = value.rpartition(":")
        if not sep or ":" in host:
            raise PyruncError(usage)
    if not host or not port or any(c in host + port for c in "[]"):
        raise PyruncError(usage)
    try:
        n = int(port)
    except ValueError:
        raise PyruncError("Invalid port number") from None
    if not -(1 << 31) <= n < (1 << 31):  # Go's Atoi, then int32
        raise PyruncError("Invalid port number")
    return (host, n) if n else None


class CriuVersion:
    """criu's version, asked once and only when an option needs one."""

    def __init__(self, criu: str) -> None:
        self.criu = criu
        self.n = 0

    def at_least(self, n: int) -> bool:
        if not self.n:
            from pyrunc.criu import rpc as criu_rpc
            self.n = criu_rpc.version(self.criu)
        return self.n >= n


class CriuUnusable(PyruncError):
    """criu cannot work on this host at all (its `criu check` fails)."""


def criu_failed(ctx, err, what: str, log_path: str | None) -> PyruncError:
    """The one error line of a failed criu request: criu's `check` verdict where criu cannot
    work on this host at all, else what failed, the log's first errors and where the log is."""
    from pyrunc.criu import rpc as criu_rpc
    reason = criu_rpc.check_reason(ctx.criu)
    if reason is not None:
        return CriuUnusable(f"{what}: criu cannot work on this host: {reason}")
    if log_path is None:
        return PyruncError(f"{what}: {err}")
    errs = criu_rpc.log_errors(log_path)
    return PyruncError(f"{what}: {err}" + (f": {errs}" if errs else "") +
                       f" (see {log_path})")


def rootfs_rel(rootfs: str, dest: str) -> str:
    """A mount destination as CRIU names it: its path in the container (runc strips the rootfs
    and resolves the rest inside it; pyrunc's destinations are already clean and absolute)."""
    if dest.startswith(rootfs.rstrip("/") + "/"):
        dest = dest[len(rootfs.rstrip("/")):]
    return os.path.normpath("/" + dest.lstrip("/"))


def external_mounts(cfg, cgroup, restore: bool) -> list[tuple[str, str]]:
    """(key, value) ext_mnt pairs: on dump, destination -> name in the image (the destination,
    "/dev/null" for a masked file); on restore, that name -> the host path to bind there."""
    from pyrunc.plan.build import Planner
    from pyrunc.plan.kernel import DEFAULT_DEVICES
    pairs: list[tuple[str, str]] = []
    has_cgroupns = cfg.linux.namespace("cgroup") is not None
    for m in cfg.mounts:
        if Planner._is_bind(m):
            dest = rootfs_rel(cfg.root_path, m.destination)
            src = m.source if m.source.startswith("/") else os.path.join(cfg.bundle, m.source)
            pairs.append((dest, src if restore else dest))
        elif m.type == "cgroup" and cgroup.mode != "v2" and not has_cgroupns:
            for key, path in cgroup.paths.items():
                if not key:
                    continue
                name = key[5:] if key.startswith("name=") else key
                dest = os.path.join(m.destination, name)
                pairs.append((dest, path if restore else dest))
    if cfg.linux.masked_paths:
        if restore:
            pairs.append(("/dev/null", "/dev/null"))
    devices = [d.get("path") for d in cfg.linux.devices] + [p for p, _, _ in DEFAULT_DEVICES]
    for p in dict.fromkeys(d for d in devices if d):
        pairs.append((p, p))
    return pairs
