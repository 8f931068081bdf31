"""`run`: create, start, and in the foreground wait for the container like a normal command.

Every catchable signal pyrunc receives is forwarded to the container's init; pyrunc exits with
the init's status (128+N when a signal killed it) and deletes the container unless --keep.
The init is pyrunc's own child (the first stage clones it with CLONE_PARENT), so waitpid works.
"""

from pyrunc import fastos as os  # os without its import cost (see fastos)

from pyrunc.args import Flag, one_id, parse
from pyrunc.commands.create import CREATE_FLAGS, CreateOptions, create
from pyrunc.container import delete, start
from pyrunc.signals import Forwarding, wait_exit_code
from pyrunc.state import Store


RUN_FLAGS = CREATE_FLAGS + [
    Flag("detach,d", help="detach from the container's process"),
    Flag("keep", help="do not delete the container after it exits"),
    # Accepted for runc's command line; pyrunc needs no subreaper: the container's init is its
    # own child (the init's first stage clones it with CLONE_PARENT), so it is reaped directly.
    Flag("no-subreaper", help="disable the use of the subreaper used to reap reparented "
         "processes"),
]


def cmd_run(ctx, argv: list[str]) -> int:
    o, pos = parse(argv, RUN_FLAGS)
    cid = one_id(pos, "run")
    ctx.check_systemd()
    o["systemd-cgroup"] = ctx.systemd_cgroup
    return run(ctx.store(), cid, o, rootless_cgroups=ctx.rootless_cgroups())


def run(store: Store, cid: str, o: dict, rootless_cgroups: bool = False) -> int:
    opts = CreateOptions(bundle=o["bundle"] or ".", pid_file=o["pid-file"] or None,
                         console_socket=o["console-socket"] or None, no_pivot=o["no-pivot"],
                         no_new_keyring=o["no-new-keyring"], preserve_fds=o["preserve-fds"],
                         rootless_cgroups=rootless_cgroups,
                         systemd_cgroup=bool(o.get("systemd-cgroup")))
    detach = bool(o["detach"])
    from pyrunc import config as config_mod
    cfg = config_mod.load(os.path.abspath(opts.bundle))
    if cfg.process is not None and cfg.process.terminal and not detach and \
            not opts.console_socket:
        return run_with_terminal(store, cid, opts, cfg, keep=bool(o["keep"]))
    if detach:
        create(store, cid, opts, cfg)
        try:
            start(store, cid)
        except BaseException:
            delete(store, cid, force=True)
            raise
        return 0
    # Signals that arrive while the container is being created are kept and delivered once
    # it exists, as runc's signal handler (installed before create) does.
    forwarding = Forwarding()
    try:
        st = create(store, cid, opts, cfg)
    except BaseException:
        forwarding.stop()
        raise
    return foreground(store, cid, st.pid, keep=bool(o["keep"]), forwarding=forwarding)


def foreground(store: Store, cid: str, pid: int, keep: bool, before_wait=None,
               forwarding: Forwarding | None = None) -> int:
    forwarding = forwarding or Forwarding()
    try:
        try:
            start(store, cid)
        except BaseException:
            delete(store, cid, force=True)
            raise
        forwarding.attach(pid)
        if before_wait is not None:
            before_wait()
        rc = wait_exit_code(pid)
    finally:
        forwarding.stop()
    if not keep:
        delete(store, cid, force=True)
    return rc


def run_with_terminal(store: Store, cid: str, opts: CreateOptions, cfg, keep: bool) -> int:
    """`run` with process.terminal and no --console-socket: create with our own console
    socket, start, proxy the pty to our stdio, exit with the container's status."""
    import shutil
    import socket
    import tempfile
    from pyrunc.host.tty import proxy, recv_master
    tmp = tempfile.mkdtemp(prefix="pyrunc-console-")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    master = -1
    try:
        path = os.path.join(tmp, "console.sock")
        listener.bind(path)
        listener.listen(1)
        opts.console_socket = path
        st = create(store, cid, opts, cfg)
        try:
            listener.settimeout(10.0)
            conn, _ = listener.accept()
            with conn:
                master = recv_master(conn)
            proc = cfg.process
            start(store, cid)
            return proxy(master, st.pid, proc.console_size if proc else None)
        finally:
            if not keep:
                delete(store, cid, force=True)
    finally:
        if master >= 0:
            os.close(master)
        listener.close()
        shutil.rmtree(tmp, ignore_errors=True)
