"""`checkpoint` and `restore`: a container's processes saved to images and brought back, by CRIU.

What CRIU is told is what runc tells it (libcontainer's criu code), so images move between the
two runtimes and Podman's and containerd's checkpoint flows work unchanged:

- checkpoint: the init's pid, the rootfs as root, the freezer cgroup to freeze the tree with,
  every bind mount, a device node and a masked file as an external mount (named by its
  destination, or "/dev/null" for masks), a namespace the config joins by path (net, pid) as
  external, and the init's stdio in the image's descriptors.json;
- restore: the rootfs bind-mounted on a directory of the state dir (CRIU wants a mount point
  whose parent is not overmounted), the external mounts mapped back to their host sources, the
  namespaces joined by path, criu itself moved into the container's cgroups (pyrunc's cgroup
  code creates them and applies the limits) so the restored tree is there, and the init's
  pipes handed over from our stdio (inherit_fd).  criu's notifications run the hooks where runc
  runs them: prestart and createRuntime at setup-namespaces; post-restore gives the init's pid,
  which the state records with its start time, so the restored container is a normal one for
  state, kill, exec and delete (it has no exec fifo: its status is running).

CRIU is reached through its RPC interface (criu_rpc.py); this module and that one are loaded by
these two commands only.  A failure names what failed and the CRIU log to read, and leaves
nothing: a failed checkpoint leaves the container as it was (CRIU thaws it), a failed restore
leaves no state, cgroup, mount or process.  Where criu cannot work at all (a kernel it does not
know), the error is criu's own `criu check` verdict.
"""

import os

from pyrunc import log
from pyrunc.args import Flag, UsageError, one_id, parse
from pyrunc.errors import PyruncError
from pyrunc.state import State, proc_start_time

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
def _image_path(o: dict, create: bool) -> str:
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
    """--empty-ns: only "network" is known (runc's mapping)."""
    mask = 0
    for ns in o["empty-ns"] or ():
        for name in ns.split(","):
            if name != "network":
                raise UsageError(f"namespace {name!r} is not supported")
            mask |= CLONE_NEWNET
    return mask


def _common_opts(rpc, o: dict, image: str, log_file: str, fds: list[int],
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


class _Version:
    """criu's version, asked once and only when an option needs one."""

    def __init__(self, criu: str) -> None:
        self.criu = criu
        self.n = 0

    def at_least(self, n: int) -> bool:
        if not self.n:
            from pyrunc import criu_rpc
            self.n = criu_rpc.version(self.criu)
        return self.n >= n


class CriuUnusable(PyruncError):
    """criu cannot work on this host at all (its `criu check` fails)."""


def _fail(ctx, err, what: str, log_path: str | None) -> PyruncError:
    """The one error line of a failed criu request: criu's `check` verdict where criu cannot
    work on this host at all, else what failed, the log's first errors and where the log is."""
    from pyrunc import criu_rpc
    reason = criu_rpc.check_reason(ctx.criu)
    if reason is not None:
        return CriuUnusable(f"{what}: criu cannot work on this host: {reason}")
    if log_path is None:
        return PyruncError(f"{what}: {err}")
    errs = criu_rpc.log_errors(log_path)
    return PyruncError(f"{what}: {err}" + (f": {errs}" if errs else "") +
                       f" (see {log_path})")


def _rootfs_rel(rootfs: str, dest: str) -> str:
    """A mount destination as CRIU names it: its path in the container (runc strips the rootfs
    and resolves the rest inside it; pyrunc's destinations are already clean and absolute)."""
    if dest.startswith(rootfs.rstrip("/") + "/"):
        dest = dest[len(rootfs.rstrip("/")):]
    return os.path.normpath("/" + dest.lstrip("/"))


def _external_mounts(cfg, cgroup, restore: bool) -> list[tuple[str, str]]:
    """(key, value) ext_mnt pairs: on dump, destination -> name in the image (the destination,
    "/dev/null" for a masked file); on restore, that name -> the host path to bind there."""
    from pyrunc.plan.build import Planner
    from pyrunc.plan.kernel import DEFAULT_DEVICES
    pairs: list[tuple[str, str]] = []
    has_cgroupns = cfg.linux.namespace("cgroup") is not None
    for m in cfg.mounts:
        if Planner._is_bind(m):
            dest = _rootfs_rel(cfg.root_path, m.destination)
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


# -- checkpoint ------------------------------------------------------------------------------
def cmd_checkpoint(ctx, argv: list[str]) -> int:
    o, pos = parse(argv, CHECKPOINT_FLAGS)
    cid = one_id(pos, "checkpoint")
    from pyrunc import criu_rpc
    rpc = criu_rpc.rpc()
    st = ctx.store().load(cid)
    try:
        status = st.status()
        if status in ("created", "stopped"):
            raise PyruncError(f"Container cannot be checkpointed in {status} state")
        _checkpoint(ctx, st, o, rpc)
    finally:
        st.release()
    return 0


def _checkpoint(ctx, st: State, o: dict, rpc) -> None:
    from pyrunc import config as config_mod
    from pyrunc import criu_rpc
    from pyrunc.cgroups import Cgroup
    cfg = config_mod.load(st.bundle)
    cgroup = Cgroup.from_json(st.cgroup) if st.cgroup else None
    pre_dump = bool(o["pre-dump"])
    image = os.path.abspath(o["image-path"] or "checkpoint")
    image_made = not os.path.exists(image)
    image = _image_path(o, create=True)
    try:
        try:
            _dump(ctx, st, o, rpc, cfg, cgroup, image)
        except criu_rpc.CriuError as e:  # a feature or version question criu did not answer
            raise _fail(ctx, e, "checkpoint", None) from None
    except CriuUnusable:
        if image_made:  # nothing in it worth keeping: criu could not even start
            import shutil
            shutil.rmtree(image, ignore_errors=True)
        raise
    if not o["leave-running"] and not pre_dump:
        _destroy_checkpointed(st)


def _dump(ctx, st: State, o: dict, rpc, cfg, cgroup, image: str) -> None:
    from pyrunc import criu_rpc
    pre_dump = bool(o["pre-dump"])
    parent = o["parent-path"]
    if parent:
        if parent.startswith("/"):
            raise UsageError("--parent-path must be relative")
        real = os.path.join(image, parent)
        if not os.path.isdir(real):
            raise PyruncError(f"invalid --parent-path: {real}: "
                              f"{'not a directory' if os.path.exists(real) else 'no such directory'}")
    if o["page-server"]:
        raise PyruncError("--page-server is not supported by pyrunc")
    fds: list[int] = []
    made: list[str] = []
    try:
        opts, log_path = _common_opts(rpc, o, image, "dump.log", fds, st.annotations)
        opts.root = cfg.root_path
        opts.pid = st.pid
        opts.leave_running = bool(o["leave-running"])
        opts.tcp_skip_in_flight = bool(o["tcp-skip-in-flight"])
        opts.link_remap = bool(o["link-remap"])
        ver = _Version(ctx.criu)
        for ns in cfg.linux.namespaces:
            if ns.type in EXT_NS and ns.path:
                name, key, need = EXT_NS[ns.type]
                if not ver.at_least(need):
                    raise PyruncError(f"criu lacks support for external {name} namespace "
                                      "during checkpointing process (old criu version?)")
                opts.external.append(f"{name}[{os.stat(ns.path).st_ino}]:{key}")
        if cgroup is not None:
            f = cgroup._freezer()
            if f is not None:
                opts.freeze_cgroup = f[1]
        if parent:
            opts.parent_img = parent
            opts.track_mem = True
        if pre_dump and criu_rpc.feature_check(ctx.criu, mem_track=True):
            raise PyruncError("criu is missing features: [MemTrack]")
        status_fd = -1
        if o["lazy-pages"]:
            if criu_rpc.feature_check(ctx.criu, lazy_pages=True):
                raise PyruncError("criu is missing features: [LazyPages]")
            status_fd = o["status-fd"]
            if status_fd != -1:
                import fcntl
                try:
                    fl = fcntl.fcntl(status_fd, fcntl.F_GETFL)
                except OSError as e:
                    raise PyruncError(f"invalid --status-fd argument {status_fd}: "
                                      f"{e.strerror}") from None
                if fl & os.O_ACCMODE == os.O_RDONLY:
                    raise PyruncError(f"invalid --status-fd argument {status_fd}: not writable")
        if not pre_dump:
            for key, val in _external_mounts(cfg, cgroup, restore=False):
                opts.ext_mnt.append(rpc.ext_mount_map(key=key, val=val))
            for path in cfg.linux.masked_paths:
                if _is_masked_file(st, path):
                    opts.ext_mnt.append(rpc.ext_mount_map(key=path, val="/dev/null"))
            desc = os.path.join(image, DESCRIPTORS)
            _write_descriptors(st, desc)
            made.append(desc)
        req = rpc.criu_req(type=rpc.PRE_DUMP if pre_dump else rpc.DUMP, opts=opts)

        def notify(script: str, _pid: int, _fds: list[int]) -> None:
            nonlocal status_fd
            if script == "status-ready" and status_fd != -1:
                try:
                    os.write(status_fd, b"\0")
                except OSError as e:
                    log.warning(f"can't write \\0 to status fd: {e.strerror}")
                os.close(status_fd)
                status_fd = -1

        what = "checkpoint (pre-dump)" if pre_dump else "checkpoint"
        sw = criu_rpc.Swrk(ctx.criu, pass_fds=(status_fd,) if status_fd >= 0 else ())
        try:
            sw.request(req, notify)
        except criu_rpc.CriuError as e:
            sw.kill()
            raise _fail(ctx, e, what, log_path) from None
        except BaseException:
            sw.kill()
            raise
        rc = sw.finish()
        # A pre-dump's criu waits for a next request; our EOF makes it exit unsuccessfully.
        if rc != 0 and not pre_dump:
            raise _fail(ctx, f"criu exited with status {rc}", what,
                        log_path)
        made.clear()
    finally:
        for fd in fds:
            os.close(fd)
        for path in made:  # a failed dump leaves none of our files in the image directory
            try:
                os.unlink(path)
            except OSError:
                pass


def _is_masked_file(st: State, path: str) -> bool:
    """Whether a masked path is a file in the container (a /dev/null bind; a masked directory
    is a tmpfs that CRIU dumps itself), looked up through the init's verified root."""
    try:
        root = st.open_root()
    except OSError:
        return False
    try:
        import stat as stat_mod
        return not stat_mod.S_ISDIR(os.stat(path.lstrip("/") or ".", dir_fd=root).st_mode)
    except OSError:
        return False
    finally:
        os.close(root)


def _write_descriptors(st: State, path: str) -> None:
    """The init's fds 0-2 as /proc links them ("pipe:[123]", "/dev/null"), runc's
    descriptors.json: restore hands the pipes among them over from its own stdio."""
    from pyrunc import jsonio
    links = []
    for fd in range(3):
        try:
            links.append(os.readlink(f"/proc/{st.pid}/fd/{fd}"))
        except OSError:
            links.append("/dev/null")
    if not st.init_alive():  # the pid was reused meanwhile: these links are not its
        raise PyruncError("container not running")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, jsonio.dumps(links).encode())
    finally:
        os.close(fd)


def _destroy_checkpointed(st: State) -> None:
    """The container after its final dump, as runc's Destroy: gone (cgroups, state), and its
    poststop hooks run."""
    from pyrunc.container import _state_hooks, destroy
    try:
        destroy(st, cgroup_json=st.cgroup)
        hooks_cfg = _state_hooks(st)
        if hooks_cfg:
            from pyrunc.host import hooks
            hooks.run_stage(hooks_cfg, "poststop", st, warn_only=True)
    except PyruncError as e:
        log.warning(str(e))


# -- restore ---------------------------------------------------------------------------------
def cmd_restore(ctx, argv: list[str]) -> int:
    o, pos = parse(argv, RESTORE_FLAGS)
    cid = one_id(pos, "restore")
    ctx.check_systemd()
    from pyrunc import criu_rpc
    rpc = criu_rpc.rpc()
    try:
        st = _restore(ctx, cid, o, rpc)
    except criu_rpc.CriuError as e:  # a version question criu did not answer
        raise _fail(ctx, e, "restore", None) from None
    if o["detach"]:
        return 0
    return _foreground(ctx, st)


def _restore(ctx, cid: str, o: dict, rpc) -> State:
    from pyrunc import config as config_mod
    from pyrunc import jsonio
    from pyrunc.cgroups import Cgroup
    from pyrunc.container import destroy
    from pyrunc.commands.create import check_bundle, connect_console, record, write_pid_file
    bundle = os.path.abspath(o["bundle"] or ".")
    cfg = config_mod.load(bundle)
    check_bundle(cfg, bundle, o["console-socket"] or None)
    for ns in cfg.linux.namespaces:
        if ns.path and ns.type == "cgroup":
            raise PyruncError("Do not know how to handle namespace cgroup")
    image = _image_path(o, create=False)
    fds: list[int] = []
    try:
        opts, log_path = _common_opts(rpc, o, image, "restore.log", fds, cfg.annotations)
        try:
            with open(os.path.join(image, DESCRIPTORS), "rb") as f:
                links = jsonio.loads(f.read())
        except FileNotFoundError:
            raise PyruncError(f"--image-path {image}: no {DESCRIPTORS}: not a checkpoint "
                              "image") from None
        except (OSError, ValueError) as e:
            raise PyruncError(f"{image}/{DESCRIPTORS}: {e}") from None
        if not isinstance(links, list) or not all(isinstance(x, str) for x in links):
            raise PyruncError(f"{image}/{DESCRIPTORS}: not a list of strings")
        cgroup = Cgroup.resolve(cfg.linux.cgroups_path, cid)
        opts.evasive_devices = True
        opts.rst_sibling = True
        ver = _Version(ctx.criu)
        if o["lsm-profile"]:
            if not ver.at_least(31600):
                raise PyruncError("--lsm-profile requires at least CRIU 3.16")
            opts.lsm_profile = o["lsm-profile"]
        if o["lsm-mount-context"]:
            if not ver.at_least(31600):
                raise PyruncError("--lsm-mount-context requires at least CRIU 3.16")
            opts.lsm_mount_context = o["lsm-mount-context"]
        pass_fds: list[int] = []
        for ns in cfg.linux.namespaces:
            if not ns.path:
                continue
            if ns.type in EXT_NS:
                name, key, need = EXT_NS[ns.type]
                if not ver.at_least(need):
                    raise PyruncError(f"criu lacks support for external {name} namespace "
                                      "during the restoration process (old criu version?)")
                try:
                    nfd = os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError as e:
                    raise PyruncError(f"Requested {name} namespace {ns.path} does not exist: "
                                      f"{e.strerror}") from None
                fds.append(nfd)
                pass_fds.append(nfd)
                opts.inherit_fd.append(rpc.inherit_fd(key=key, fd=nfd))
            elif ns.type in JOIN_NS:
                opts.join_ns.append(rpc.join_namespace(ns=JOIN_NS[ns.type], ns_file=ns.path))
        for key, val in _external_mounts(cfg, cgroup, restore=True):
            opts.ext_mnt.append(rpc.ext_mount_map(key=key, val=val))
        for i, link in enumerate(links[:3]):
            if "pipe:" in link:
                opts.inherit_fd.append(rpc.inherit_fd(key=link, fd=i))
        if o["no-pivot"]:
            log.debug("restore: --no-pivot has no effect: criu sets up the root itself")
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise

    st = ctx.store().new(cid)
    root = os.path.join(st.dir, "criu-root")
    mounted = False
    sw = None
    console = -1
    try:
        record(st, cfg, bundle, cgroup)
        st.save()  # from here on, `delete -f` knows which cgroups to clean
        os.mkdir(root, 0o755)
        _bind(cfg.root_path, root)
        mounted = True
        opts.root = root
        _make_mountpoints(cfg)
        cgroup.create()
        if o["console-socket"]:
            console = connect_console(o["console-socket"])
        from pyrunc import criu_rpc
        sw = criu_rpc.Swrk(ctx.criu, pass_fds=tuple(pass_fds))
        cgroup.add(sw.pid)  # criu, and so the tree it restores, in the container's cgroups
        cgroup.apply(cfg.linux.resources or None, linux_devices=cfg.linux.devices)
        from pyrunc.cgroups import read_proc_cgroup
        for ctrl, path in read_proc_cgroup(sw.pid).items():
            opts.cg_root.append(rpc.cgroup_root(ctrl=ctrl, path=path))

        def notify(script: str, pid: int, got: list[int]) -> None:
            if script == "setup-namespaces" and cfg.hooks:
                from pyrunc.host import hooks
                st.pid = pid
                hooks.run_stage(cfg.hooks, "prestart", st, status="created")
                hooks.run_stage(cfg.hooks, "createRuntime", st, status="created")
            elif script == "post-restore":
                _record_init(st, pid)
            elif script == "orphan-pts-master":
                if not got:
                    raise PyruncError("criu sent no console master")
                if console >= 0:
                    _send_console(console, got[0])

        try:
            resp = sw.request(rpc.criu_req(type=rpc.RESTORE, opts=opts), notify)
        except criu_rpc.CriuError as e:
            raise _fail(ctx, e, "restore", log_path) from None
        if not st.pid:
            _record_init(st, resp.restore.pid)
        rc = sw.finish()
        sw = None
        if rc != 0:
            raise _fail(ctx, f"criu exited with status {rc}", "restore",
                        log_path)
        if o["pid-file"]:
            write_pid_file(o["pid-file"], st.pid)
    except BaseException:
        if sw is not None:
            sw.kill()
        if mounted:
            _unmount(root)
            mounted = False
        destroy(st, cgroup_json=st.cgroup)
        st.release()
        raise
    finally:
        if mounted:
            _unmount(root)
        for fd in fds:
            os.close(fd)
        if console >= 0:
            os.close(console)
    try:
        os.rmdir(root)
    except OSError:
        pass
    st.release()
    return st


def _make_mountpoints(cfg) -> None:
    """Create the mount points the restored mounts need and the rootfs lacks (a container
    restored on a fresh copy of its image: Podman's --import), as runc does before a restore:
    every mount's destination but cgroup ones and those on a tmpfs (CRIU restores a tmpfs's
    contents itself); a file for a bind of a file, else a directory.  Walked inside the rootfs
    without following any symlink: a destination through a symlink is left to CRIU."""
    from pyrunc.plan.build import Planner
    tmpfs = [m.destination.rstrip("/") + "/" for m in cfg.mounts if m.type == "tmpfs"]
    root = os.open(cfg.root_path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for m in cfg.mounts:
            dest = _rootfs_rel(cfg.root_path, m.destination)
            if m.type == "cgroup" or dest == "/" or any(dest.startswith(t) for t in tmpfs):
                continue
            is_file = False
            if Planner._is_bind(m):
                src = m.source if m.source.startswith("/") else \
                    os.path.join(cfg.bundle, m.source)
                try:
                    is_file = not os.path.isdir(src)
                except OSError:
                    pass
            _make_in_root(root, dest, is_file)
    finally:
        os.close(root)


def _make_in_root(root: int, dest: str, is_file: bool) -> None:
    parts = [p for p in dest.split("/") if p and p != "."]
    if ".." in parts:
        return
    fd = os.dup(root)
    try:
        for i, name in enumerate(parts):
            last = i == len(parts) - 1
            try:
                nfd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            except FileNotFoundError:
                try:
                    if last and is_file:
                        os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                                         os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=fd))
                    else:
                        os.mkdir(name, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
                nfd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = nfd
            import stat as stat_mod
            mode = os.fstat(fd).st_mode
            if stat_mod.S_ISLNK(mode) or (not last and not stat_mod.S_ISDIR(mode)):
                return  # a symlink or a file on the way: not ours to resolve
    except OSError:
        return  # what cannot be made here, CRIU reports with its path
    finally:
        os.close(fd)


def _record_init(st: State, pid: int) -> None:
    """The restored init in the state: its pid and start time (once), as create records its
    own; the pid comes from criu, which runs as root on the host, not from the container."""
    if st.pid and os.path.exists(os.path.join(st.dir, "init")):
        return
    ps = proc_start_time(pid) if pid > 0 else None
    if ps is None:
        raise PyruncError(f"criu reported restored pid {pid}, which does not exist")
    st.pid, st.start_time = pid, ps[1]
    st.save_init()


def _send_console(sock_fd: int, master: int) -> None:
    """Hand the restored pty's master to the --console-socket (runc's console protocol)."""
    import socket
    s = socket.socket(fileno=os.dup(sock_fd))
    try:
        socket.send_fds(s, [b"/dev/ptmx"], [master])
    except OSError as e:
        raise PyruncError(f"sending the console to the console socket: {e.strerror}") from None
    finally:
        s.close()


def _libc():
    import ctypes
    return ctypes.CDLL(None, use_errno=True)


MS_BIND, MS_REC, MNT_DETACH = 0x1000, 0x4000, 2


def _bind(src: str, dst: str) -> None:
    """mount --rbind src dst, on the host (src is the bundle's rootfs, a host path)."""
    import ctypes
    libc = _libc()
    if libc.mount(src.encode(), dst.encode(), None, MS_BIND | MS_REC, None) != 0:
        err = ctypes.get_errno()
        raise PyruncError(f"bind-mounting the rootfs {src} for criu: {os.strerror(err)}")


def _unmount(path: str) -> None:
    libc = _libc()
    libc.umount2(path.encode(), MNT_DETACH)


def _foreground(ctx, st: State) -> int:
    """Without --detach: wait for the restored init like `run`, signals forwarded, then the
    container deleted."""
    from pyrunc.container import delete
    from pyrunc.signals import forwarder, handle_all, restore, wait_exit_code
    old = handle_all(forwarder(st.pid))
    try:
        rc = wait_exit_code(st.pid)
    finally:
        restore(old)
    delete(ctx.store(), st.id, force=True)
    return rc

