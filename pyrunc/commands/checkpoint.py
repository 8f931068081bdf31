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

This module is the checkpoint; restore.py the restore, criu_opts.py what both tell CRIU, and
criu_rpc.py the RPC (criu swrk) they reach it through: these four are loaded by the two
commands only.  A failure names what failed and the CRIU log to read, and leaves
nothing: a failed checkpoint leaves the container as it was (CRIU thaws it), a failed restore
leaves no state, cgroup, mount or process.  Where criu cannot work at all (a kernel it does not
know), the error is criu's own `criu check` verdict.
"""

import os

from pyrunc import log
from pyrunc.args import UsageError, one_id, parse
from pyrunc.criu.options import (CHECKPOINT_FLAGS, DESCRIPTORS, EXT_NS, CriuUnusable,
                                 CriuVersion, common_opts, criu_failed, external_mounts,
                                 image_path, page_server)
from pyrunc.errors import PyruncError
from pyrunc.state import State


def cmd_checkpoint(ctx, argv: list[str]) -> int:
    o, pos = parse(argv, CHECKPOINT_FLAGS)
    cid = one_id(pos, "checkpoint")
    from pyrunc.criu import rpc as criu_rpc
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
    from pyrunc.criu import rpc as criu_rpc
    from pyrunc.cgroups import Cgroup
    cfg = config_mod.load(st.bundle)
    cgroup = Cgroup.from_json(st.cgroup) if st.cgroup else None
    pre_dump = bool(o["pre-dump"])
    image = os.path.abspath(o["image-path"] or "checkpoint")
    image_made = not os.path.exists(image)
    image = image_path(o, create=True)
    try:
        try:
            _dump(ctx, st, o, rpc, cfg, cgroup, image)
        except criu_rpc.CriuError as e:  # a feature or version question criu did not answer
            raise criu_failed(ctx, e, "checkpoint", None) from None
    except CriuUnusable:
        if image_made:  # nothing in it worth keeping: criu could not even start
            import shutil
            shutil.rmtree(image, ignore_errors=True)
        raise
    if not o["leave-running"] and not pre_dump:
        _destroy_checkpointed(st)


def _dump(ctx, st: State, o: dict, rpc, cfg, cgroup, image: str) -> None:
    from pyrunc.criu import rpc as criu_rpc
    pre_dump = bool(o["pre-dump"])
    parent = o["parent-path"]
    if parent:
        if parent.startswith("/"):
            raise UsageError("--parent-path must be relative")
        real = os.path.join(image, parent)
        if not os.path.isdir(real):
            raise PyruncError(f"invalid --parent-path: {real}: "
                              f"{'not a directory' if os.path.exists(real) else 'no such directory'}")
    ps = page_server(o["page-server"]) if o["page-server"] else None
    fds: list[int] = []
    made: list[str] = []
    try:
        opts, log_path = common_opts(rpc, o, image, "dump.log", fds, st.annotations)
        opts.root = cfg.root_path
        opts.pid = st.pid
        opts.leave_running = bool(o["leave-running"])
        opts.tcp_skip_in_flight = bool(o["tcp-skip-in-flight"])
        opts.link_remap = bool(o["link-remap"])
        if ps is not None:  # the pages go to criu's page server there, the rest to the image
            opts.ps.address, opts.ps.port = ps
        ver = CriuVersion(ctx.criu)
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
            for key, val in external_mounts(cfg, cgroup, restore=False):
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
            raise criu_failed(ctx, e, what, log_path) from None
        except BaseException:
            sw.kill()
            raise
        rc = sw.finish()
        # A pre-dump's criu waits for a next request; our EOF makes it exit unsuccessfully.
        if rc != 0 and not pre_dump:
            raise criu_failed(ctx, f"criu exited with status {rc}", what,
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
