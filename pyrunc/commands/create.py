"""runtime.md#create: build the plan, claim the id, start the init and leave it waiting.

Ordering is chosen so that a SIGKILL of pyrunc at any moment leaves something `delete -f` cleans:
the state directory and its cgroup record are written before any process exists, the init's pid
right after it exists, and the init carries PDEATHSIG until it has reported ready.
"""

from pyrunc import fastos as os  # os without its import cost (see fastos)
import time

from pyrunc import log
from pyrunc.args import Flag
from pyrunc.container import destroy
from pyrunc.errors import PyruncError
from pyrunc.state import State, Store, proc_start_time, proc_stat, rfc3339_nano

TYPE_CHECKING = False  # typing costs 8 ms to import
if TYPE_CHECKING:
    from pyrunc.config import Config

CREATE_FLAGS = [
    Flag("bundle,b", "str", "", "path to the root of the bundle directory"),
    Flag("console-socket", "str", "", "path to an AF_UNIX socket which will receive the "
         "master end of the console's pseudoterminal"),
    Flag("pid-file", "str", "", "specify the file to write the process id to"),
    Flag("no-pivot", help="do not use pivot root to jail process inside rootfs"),
    Flag("no-new-keyring", help="do not create a new session keyring for the container"),
    Flag("preserve-fds", "int", 0, "pass N additional file descriptors to the container"),
]


class CreateOptions:
    __slots__ = ("bundle", "pid_file", "console_socket", "no_pivot", "no_new_keyring",
                 "preserve_fds", "rootless_cgroups", "systemd_cgroup")

    def __init__(self, bundle: str, pid_file: str | None = None,
                 console_socket: str | None = None, no_pivot: bool = False,
                 no_new_keyring: bool = False, preserve_fds: int = 0,
                 rootless_cgroups: bool = False, systemd_cgroup: bool = False) -> None:
        self.bundle = bundle
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.preserve_fds = preserve_fds
        self.rootless_cgroups = rootless_cgroups  # see Ctx.rootless_cgroups
        self.systemd_cgroup = systemd_cgroup


def write_pid_file(path: str, pid: int) -> None:
    """Only the digits, no newline (containerd parses it strictly); replaced atomically."""
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path))
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)


def connect_console(path: str) -> int:
    import _socket
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise PyruncError(f"connect to console socket {path}: {e.strerror}") from None
    return s.detach()


def create(store: Store, cid: str, opts: CreateOptions, cfg: "Config | None" = None) -> State:
    """Create the container and leave its init waiting for `start`."""
    from pyrunc import config as config_mod
    from pyrunc.config.fields import cpu_mask
    from pyrunc.cgroups import Cgroup
    from pyrunc.plan import InitFds
    from pyrunc.plan.build import Planner
    from pyrunc.host.spawn import check_preserved_fds

    check_preserved_fds(opts.preserve_fds)
    bundle = os.path.abspath(opts.bundle)
    if cfg is None:
        cfg = config_mod.load(bundle)
    if log.debug_enabled:
        log.debug(f"config loaded: {bundle}/config.json, ociVersion {cfg.oci_version}, "
                  f"rootfs {cfg.root_path}")
    proc = check_bundle(cfg, bundle, opts.console_socket)
    seccomp = None
    if cfg.linux.seccomp is not None:
        from pyrunc.seccomp import compile_seccomp
        seccomp = compile_seccomp(cfg.linux.seccomp)
        if seccomp is not None and seccomp.skipped:
            log.debug("linux.seccomp: syscalls unknown to libseccomp were skipped: "
                      + ", ".join(seccomp.skipped))
    unit_props = None
    if opts.systemd_cgroup:  # a transient scope unit (cgroups/systemd.py)
        from pyrunc.cgroups import systemd
        # rootless: the user's own systemd instance (runc's rootless systemd driver)
        cgroup = systemd.resolve(cfg.linux.cgroups_path, cid, user=opts.rootless_cgroups)
        unit_props = systemd.unit_properties(cgroup, cfg,
                                             systemd.manager(cgroup.user_bus).version)
    else:
        cgroup = Cgroup.resolve(cfg.linux.cgroups_path, cid)
    if log.debug_enabled:
        log.debug(f"cgroups resolved ({cgroup.mode}): " +
                  " ".join(sorted(set(cgroup.paths.values()))))

    # The plan is built before anything exists, so every config error leaves nothing behind:
    # the fds the init will get are numbered now (InitFds) and placed once opened.
    preserve = opts.preserve_fds
    from pyrunc.host.passwd import open_dir, with_home
    proc.env = with_home(proc.env, lambda: open_dir(cfg.root_path), proc.user.uid)
    if os.environ.get("LISTEN_FDS"):
        from pyrunc.host import activation
        preserve = activation.apply(proc, preserve)
    init_hooks = False
    if cfg.hooks:  # the hooks module only when there are hooks (as for start and delete)
        from pyrunc.host import hooks
        init_hooks = hooks.needs_init_sync(cfg.hooks)
    fds = InitFds.create(preserve, console=bool(opts.console_socket), hook_state=init_hooks)

    own_cpus = os.sched_getaffinity(0)
    own_affinity = cpu_mask(own_cpus) if len(own_cpus) > 1 else None

    net_devices: list = []  # linux.netDevices as the planner found them (see netdev)

    def build_plan() -> bytes:
        planner = Planner(cfg, fds, no_pivot=opts.no_pivot, seccomp=seccomp,
                          cgroup_mounts=_cgroup_binds(cgroup), container_id=cid,
                          no_new_keyring=opts.no_new_keyring, cgroup_join=cgroup.join_ops(),
                          own_affinity=own_affinity, cgroup2_root=cgroup.v2_mountpoint())
        if init_hooks:
            hooks.plan_init_hooks(planner, cfg.hooks, fds.number("hook_state"))
        data = planner.build().encode()
        net_devices[:] = planner.net_devices
        return data

    notify_socket = bool(os.environ.get("NOTIFY_SOCKET"))
    # Rootless, the cgroups are made before the plan: the plan joins only those that could be.
    rootless = opts.rootless_cgroups
    plan = b"" if notify_socket or rootless else build_plan()

    st = store.new(cid)
    console_fd = -1
    state_r = state_w = -1  # the pipe for the hooks' state records (see hooks.py)
    ready_r = ready_w = -1  # the cgroups-ready pipe (InitFds "cgroups_ready")
    init = None
    try:
        record(st, cfg, bundle, cgroup)
        st.save()  # from here on, `delete -f` knows which cgroups to clean
        if rootless and unit_props is None:  # a user's scope is made by the user's systemd
            cgroup.create_rootless(bool(cfg.linux.cgroups_path), cfg.linux.resources)
            st.cgroup = cgroup.to_json() if cgroup.paths else None
            st.save()
        if notify_socket:
            from pyrunc.host import notify
            notify.setup_spec(cfg, st.dir)  # its socket directory is the bind source
        if not plan:
            plan = build_plan()
        # The init opens it for reading after switching to the container's user, so it belongs
        # to that user (as the host sees it) and no one else may open it (runc's is writable by
        # everyone: any local user could start the container).
        os.mkfifo(st.fifo_path, 0o600)
        os.chmod(st.fifo_path, 0o600)
        uid, gid = _host_ids(cfg, proc.user.uid, proc.user.gid)
        if uid or gid:
            try:
                os.chown(st.fifo_path, uid, gid)
            except PermissionError:
                # Rootless, the user may not give it to a subordinate uid: readable by all
                # then (as runc's, 0622, is writable), behind a root dir only the user enters.
                os.chmod(st.fifo_path, 0o644)
        fifo = os.open(st.fifo_path, os.O_PATH | os.O_CLOEXEC)
        fds.place("fifo", fifo)
        if opts.console_socket:
            console_fd = connect_console(opts.console_socket)
            fds.place("console", console_fd)
        if init_hooks:
            state_r, state_w = os.pipe()
            fds.place("hook_state", state_r)
        ready_r, ready_w = os.pipe()
        fds.place("cgroups_ready", ready_r)

        from pyrunc.host.spawn import spawn_init
        init = spawn_init(fds)  # its exec overlaps the cgroup set-up below
        if own_affinity is not None:
            _off_our_cpu(init.stage1, own_cpus)
        os.close(fifo)
        os.close(ready_r)
        ready_r = -1
        if state_r >= 0:
            os.close(state_r)
            state_r = -1
        if console_fd >= 0:
            os.close(console_fd)
            console_fd = -1
        if unit_props is not None:
            systemd.start(cgroup, init.stage1, unit_props)  # the first stage is its process
        elif not rootless:
            cgroup.create()
        if cgroup.frozen():  # its first stage would freeze on joining: never return (runc)
            raise PyruncError("container's cgroup unexpectedly frozen")
        if unit_props is None:
            _warn_if_not_empty(cgroup)
        # The init enters the cgroups first thing (Cgroup.join_ops) and clones the container
        # process, which waits for the cgroups-ready byte before it does anything: limits and
        # device rules are set meanwhile, in parallel with the clone's new namespaces.
        init.send_plan(plan)
        if log.debug_enabled:
            log.debug(f"plan sent to pyrunc-init (pid {init.stage1}): {len(plan)} bytes")
        cgroup.apply(cfg.linux.resources or None, linux_devices=cfg.linux.devices,
                     rootless=rootless)
        # The container process is recorded before it is let go: until the cgroups-ready
        # byte it waits, and dies of the pipe's EOF if pyrunc is killed, so a container whose
        # process outlives a SIGKILL of create always has its init file (state never calls a
        # live container stopped).
        init.wait_for("P")
        st.pid = init.pid
        ps = proc_start_time(init.pid)
        st.start_time = ps[1] if ps else 0
        st.save_init()
        if log.debug_enabled:
            log.debug(f"init stage: container process {st.pid} cloned and recorded")
        if net_devices:  # before the container process goes on to configure them
            _move_net_devices(st, net_devices)
        os.write(ready_w, b"1")
        os.close(ready_w)
        ready_w = -1
        if state_w >= 0:
            # The init waits before pivot_root: host hooks first, then its state records.
            init.wait_for("H")
            # "created", as state.md defines it (the create operation's environment is
            # made, the user's program not yet run) and runtime-tools' hooks_stdin and crun
            # have it; runc 1.1 says "creating"
            hooks.run_stage(cfg.hooks, "prestart", st, status="created")
            hooks.run_stage(cfg.hooks, "createRuntime", st, status="created")
            hooks.send_states(state_w, st, cfg.hooks)
            state_w = -1
        init.wait_for("R")
        if log.debug_enabled:
            log.debug(f"init stage: set-up done, process {st.pid} waits for start")
        init.close()
        if init.notify_fd >= 0:
            _send_seccomp_listener(st, init.notify_fd, seccomp)
        if opts.pid_file:
            write_pid_file(opts.pid_file, st.pid)
    except BaseException:
        if console_fd >= 0:
            os.close(console_fd)
        for fd in (state_r, state_w, ready_r, ready_w):
            if fd >= 0:
                os.close(fd)
        if init is not None:
            init.close()
        if unit_props is not None and not cgroup.started and st.cgroup:
            st.cgroup.pop("unit", None)  # not ours to stop: it may be another container's
        destroy(st, cgroup_json=st.cgroup)
        raise
    finally:
        st.release()
    return st


def _move_net_devices(st: State, devices: list) -> None:
    from pyrunc.host import netdev
    try:
        fd = st.open_proc("ns/net", os.O_RDONLY)
    except OSError:
        raise PyruncError("container init exited before its network devices were moved") \
            from None
    try:
        netdev.move(devices, fd)
    finally:
        os.close(fd)


def check_bundle(cfg: "Config", bundle: str, console_socket: str | None):
    """What a bundle needs before a container is made of it (create, and restore): a rootfs,
    a process, and a console socket exactly when the process has a terminal; the process."""
    if not os.path.isdir(cfg.root_path):
        raise PyruncError(f"rootfs ({cfg.root_path}) does not exist")
    _check_rootfs_not_a_symlink(cfg, bundle)
    proc = cfg.process
    if proc is None:
        raise PyruncError("process: is required to create a container")
    if proc.terminal and not console_socket:
        raise PyruncError("cannot allocate tty if runc will detach without setting console socket")
    if console_socket and not proc.terminal:
        raise PyruncError("cannot use console socket if runc will not detach or allocate tty")
    return proc


def record(st: State, cfg: "Config", bundle: str, cgroup) -> None:
    """Fill in what the state keeps of a new container (create, and restore from a checkpoint):
    the parts of its config later commands need, and its cgroup."""
    st.bundle = bundle
    st.rootfs = cfg.root_path
    st.created = rfc3339_nano(time.time_ns())
    st.owner = ""
    st.oci_version = cfg.oci_version
    st.annotations = cfg.annotations
    st.cgroup = cgroup.to_json()
    st.config = {"process": cfg.process.raw if cfg.process else None,
                 "hooks": {k: [h.to_json() for h in v] for k, v in cfg.hooks.items()},
                 "namespaces": [n.type for n in cfg.linux.namespaces],
                 "own_pidns": _own_pid_namespace(cfg),
                 "seccomp": cfg.linux.seccomp}
    if cfg.linux.memory_policy is not None:  # exec'd processes get it too
        st.config["memoryPolicy"] = cfg.linux.raw["memoryPolicy"]


def _off_our_cpu(pid: int, cpus: set[int]) -> None:
    """Keep the init's first stage off the CPU this process runs on until its first op.

    Woken by the plan, it would be placed on the writer's CPU and preempt this process while
    it sets the cgroups' limits, which it is meant to do in parallel (~0.3-0.5 ms of a create
    on a 2-CPU host).  The first op (enter_cgroup_ops) gives back the affinity it would have
    inherited, so the container never sees this."""
    try:
        here = int(proc_stat("self")[36])  # field 39, "processor": where this process ran last
        others = cpus - {here}
        if others:
            os.sched_setaffinity(pid, others)
    except (OSError, ValueError, IndexError):
        pass  # only a matter of speed


def _warn_if_not_empty(cgroup) -> None:
    """runc's warning for a cgroup that already holds processes (one read: the first
    hierarchy's cgroup.procs); a config naming such a cgroup shares it with them."""
    first = next(iter(cgroup.paths.values()), None)
    try:
        n = len(os.read_file(first + "/cgroup.procs").split()) if first else 0
    except OSError:
        return
    if n:
        log.warning(f"container's cgroup is not empty: {n} process(es) found")


def _check_rootfs_not_a_symlink(cfg: "Config", bundle: str) -> None:
    """runc's rule: root.path, taken from the bundle's real directory when relative, must name
    the rootfs itself, with no symlink on the way ("invalid rootfs: not an absolute path, or a
    symlink"): what is bind-mounted as the container's root is then the directory the config
    names, not one a symlink in the bundle leads to."""
    rp = cfg.raw["root"]["path"]
    path = "" if rp.startswith("/") else bundle.rstrip("/")
    for part in os.path.normpath(rp).split("/"):  # lstat per component: realpath loads os
        if not part:
            continue
        path = f"{path}/{part}"
        try:
            link = os.lstat(path).st_mode & 0o170000 == 0o120000
        except OSError:
            return  # gone meanwhile: the mount will say so
        if link:
            raise PyruncError(f"root.path: invalid rootfs {rp}: not an absolute path, or a "
                              "symlink")


def _own_pid_namespace(cfg: "Config") -> bool:
    """A new pid namespace of the container's own (not one joined by path): its processes all
    die with its init, so nothing else in its cgroup is ever the container's to kill."""
    ns = cfg.linux.namespace("pid")
    return ns is not None and not ns.path


def _host_ids(cfg: "Config", uid: int, gid: int) -> tuple[int, int]:
    """The host uid and gid that the container's ``uid`` and ``gid`` map to (themselves without
    a user namespace)."""
    from pyrunc.config.linux import host_id
    h_uid, h_gid = host_id(cfg.linux.uid_mappings, uid), host_id(cfg.linux.gid_mappings, gid)
    return uid if h_uid is None else h_uid, gid if h_gid is None else h_gid


def _cgroup_binds(cgroup):
    """For a `cgroup` mount on a v1/hybrid host: (host dir, name, symlinks) per v1 hierarchy."""
    if cgroup.mode == "v2":
        return None

    def binds(_mount):
        out = []
        for key, path in cgroup.paths.items():
            if not key:
                continue
            name = key[5:] if key.startswith("name=") else key
            links = [c for c in key.split(",") if "," in key and c != key]
            out.append((path, name, links))
        return out
    return binds


def _send_seccomp_listener(st: State, remote_fd: int, prog) -> None:
    """Hand the init's seccomp listener fd to the agent at listenerPath (config-linux.md#seccomp)
    while the init still holds it (it waits for `start`)."""
    from pyrunc.seccomp.notify import fetch_listener_fd, send_listener_fd
    if prog is None or not prog.listener_path:
        raise PyruncError("linux.seccomp.listenerPath: SCMP_ACT_NOTIFY needs a listener path")
    fd = fetch_listener_fd(st.pid, remote_fd)
    try:
        state = st.spec_state()
        state["status"] = "creating"
        send_listener_fd(prog.listener_path, fd, state, prog.listener_metadata)
    finally:
        os.close(fd)
