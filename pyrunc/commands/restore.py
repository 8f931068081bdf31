"""`restore`: a checkpointed container brought back by CRIU, as runc restores it (see
checkpoint.py for what is saved and how the two runtimes' images stay interchangeable).

The rootfs is bind-mounted on a directory of the state dir (CRIU wants a mount point whose
parent is not overmounted), the external mounts mapped back to their host sources, the
namespaces joined by path, criu itself moved into the container's cgroups (pyrunc's cgroup code
creates them and applies the limits) so the restored tree is there, and the init's pipes
handed over from our stdio (inherit_fd).  criu's notifications run the hooks where runc runs
them: prestart and createRuntime at setup-namespaces; post-restore gives the init's pid, which
the state records with its start time, so the restored container is a normal one for state,
kill, exec and delete.  A failed restore leaves no state, cgroup, mount or process.
"""

import os

from pyrunc import log
from pyrunc.args import one_id, parse
from pyrunc.criu.options import (DESCRIPTORS, EXT_NS, JOIN_NS, RESTORE_FLAGS, CriuVersion,
                                 common_opts, criu_failed, external_mounts, image_path,
                                 rootfs_rel)
from pyrunc.errors import PyruncError
from pyrunc.state import State, proc_start_time


def cmd_restore(ctx, argv: list[str]) -> int:
    o, pos = parse(argv, RESTORE_FLAGS)
    cid = one_id(pos, "restore")
    ctx.check_systemd()
    from pyrunc.criu import rpc as criu_rpc
    rpc = criu_rpc.rpc()
    try:
        st = _restore(ctx, cid, o, rpc)
    except criu_rpc.CriuError as e:  # a version question criu did not answer
        raise criu_failed(ctx, e, "restore", None) from None
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
    image = image_path(o, create=False)
    fds: list[int] = []
    try:
        opts, log_path = common_opts(rpc, o, image, "restore.log", fds, cfg.annotations)
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
        unit_props = None
        if ctx.systemd_cgroup:  # a transient scope, with criu in it, as runc's Apply(criu)
            from pyrunc.cgroups import systemd
            cgroup = systemd.resolve(cfg.linux.cgroups_path, cid, user=ctx.rootless_cgroups())
            unit_props = systemd.unit_properties(cgroup, cfg,
                                                 systemd.manager(cgroup.user_bus).version)
        else:
            cgroup = Cgroup.resolve(cfg.linux.cgroups_path, cid)
        opts.evasive_devices = True
        opts.rst_sibling = True
        ver = CriuVersion(ctx.criu)
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
        for key, val in external_mounts(cfg, cgroup, restore=True):
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
        if unit_props is None:
            cgroup.create()
        if o["console-socket"]:
            console = connect_console(o["console-socket"])
        from pyrunc.criu import rpc as criu_rpc
        sw = criu_rpc.Swrk(ctx.criu, pass_fds=tuple(pass_fds))
        # criu, and so the tree it restores, in the container's cgroups
        if unit_props is not None:
            systemd.start(cgroup, sw.pid, unit_props)
        else:
            cgroup.add(sw.pid)
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
            raise criu_failed(ctx, e, "restore", log_path) from None
        if not st.pid:
            _record_init(st, resp.restore.pid)
        rc = sw.finish()
        sw = None
        if rc != 0:
            raise criu_failed(ctx, f"criu exited with status {rc}", "restore",
                        log_path)
        if o["pid-file"]:
            write_pid_file(o["pid-file"], st.pid)
    except BaseException:
        if sw is not None:
            sw.kill()
        if mounted:
            _unmount(root)
            mounted = False
        if unit_props is not None and not cgroup.started and st.cgroup:
            st.cgroup.pop("unit", None)  # not ours to stop: it may be another container's
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
            dest = rootfs_rel(cfg.root_path, m.destination)
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
