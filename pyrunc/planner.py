"""Turn a validated Config into the plan the init executes (see pyrunc/plan.py).

Every decision is taken here: mount flags and data, which devices to create or bind, the order of
the credential switch, where seccomp is loaded.  The order follows what the kernel needs: id maps
before anything privileged, mounts before pivot_root, masks after it, the bounding set before the
uid switch (it needs CAP_SETPCAP), capabilities after it, seccomp last when no_new_privs is set.
"""

from pyrunc import fastos as os  # os without its import cost (see fastos)

from pyrunc import caps, mountinfo
from pyrunc.config import ID_MAX, Config, Mount, Process, host_id
from pyrunc.errors import ConfigError
from pyrunc.plan import Plan

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080
NS_FLAGS = {"pid": CLONE_NEWPID, "network": CLONE_NEWNET, "mount": CLONE_NEWNS,
            "ipc": CLONE_NEWIPC, "uts": CLONE_NEWUTS, "user": CLONE_NEWUSER,
            "cgroup": CLONE_NEWCGROUP, "time": CLONE_NEWTIME}

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_SYNCHRONOUS, MS_REMOUNT, MS_MANDLOCK, MS_DIRSYNC = 16, 32, 64, 128
MS_NOSYMFOLLOW, MS_NOATIME, MS_NODIRATIME, MS_BIND = 256, 1024, 2048, 4096
MS_REC, MS_SILENT, MS_POSIXACL = 16384, 32768, 1 << 16
MS_UNBINDABLE, MS_PRIVATE, MS_SLAVE, MS_SHARED = 1 << 17, 1 << 18, 1 << 19, 1 << 20
MS_RELATIME, MS_I_VERSION, MS_STRICTATIME, MS_LAZYTIME = 1 << 21, 1 << 23, 1 << 24, 1 << 25

# option -> (clear?, flag): runc's mount option table.
MOUNT_FLAGS = {
    "acl": (False, MS_POSIXACL), "async": (True, MS_SYNCHRONOUS), "atime": (True, MS_NOATIME),
    "bind": (False, MS_BIND), "defaults": (False, 0), "dev": (True, MS_NODEV),
    "diratime": (True, MS_NODIRATIME), "dirsync": (False, MS_DIRSYNC),
    "exec": (True, MS_NOEXEC), "iversion": (False, MS_I_VERSION),
    "lazytime": (False, MS_LAZYTIME), "loud": (True, MS_SILENT), "mand": (False, MS_MANDLOCK),
    "noacl": (True, MS_POSIXACL), "noatime": (False, MS_NOATIME), "nodev": (False, MS_NODEV),
    "nodiratime": (False, MS_NODIRATIME), "noexec": (False, MS_NOEXEC),
    "noiversion": (True, MS_I_VERSION), "nolazytime": (True, MS_LAZYTIME),
    "nomand": (True, MS_MANDLOCK), "norelatime": (True, MS_RELATIME),
    "nostrictatime": (True, MS_STRICTATIME), "nosuid": (False, MS_NOSUID),
    "nosymfollow": (False, MS_NOSYMFOLLOW), "rbind": (False, MS_BIND | MS_REC),
    "relatime": (False, MS_RELATIME), "remount": (False, MS_REMOUNT), "ro": (False, MS_RDONLY),
    "rw": (True, MS_RDONLY), "silent": (False, MS_SILENT), "strictatime": (False, MS_STRICTATIME),
    "suid": (True, MS_NOSUID), "symfollow": (True, MS_NOSYMFOLLOW),
    "sync": (False, MS_SYNCHRONOUS),
}
PROPAGATION = {
    "private": MS_PRIVATE, "rprivate": MS_PRIVATE | MS_REC, "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC, "slave": MS_SLAVE, "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE, "runbindable": MS_UNBINDABLE | MS_REC,
}
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC = 1, 2, 4, 8
MOUNT_ATTR__ATIME, MOUNT_ATTR_NOATIME, MOUNT_ATTR_STRICTATIME = 0x70, 0x10, 0x20
MOUNT_ATTR_NODIRATIME, MOUNT_ATTR_NOSYMFOLLOW = 0x80, 0x200000
AT_RECURSIVE = 0x8000
# option -> (attr_set, attr_clr) for mount_setattr(AT_RECURSIVE).
RECURSIVE_ATTRS = {
    "rro": (MOUNT_ATTR_RDONLY, 0), "rrw": (0, MOUNT_ATTR_RDONLY),
    "rnosuid": (MOUNT_ATTR_NOSUID, 0), "rsuid": (0, MOUNT_ATTR_NOSUID),
    "rnodev": (MOUNT_ATTR_NODEV, 0), "rdev": (0, MOUNT_ATTR_NODEV),
    "rnoexec": (MOUNT_ATTR_NOEXEC, 0), "rexec": (0, MOUNT_ATTR_NOEXEC),
    "rnodiratime": (MOUNT_ATTR_NODIRATIME, 0), "rdiratime": (0, MOUNT_ATTR_NODIRATIME),
    "rrelatime": (0, MOUNT_ATTR__ATIME), "rnorelatime": (0, MOUNT_ATTR__ATIME),
    "rnoatime": (MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME), "ratime": (0, MOUNT_ATTR__ATIME),
    "rstrictatime": (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME),
    "rnostrictatime": (0, MOUNT_ATTR__ATIME),
    "rnosymfollow": (MOUNT_ATTR_NOSYMFOLLOW, 0), "rsymfollow": (0, MOUNT_ATTR_NOSYMFOLLOW),
}
EXTRA_MOUNT_OPTIONS = ("tmpcopyup", "idmap", "ridmap")

S_IFCHR, S_IFBLK, S_IFIFO = 0o020000, 0o060000, 0o010000
DEFAULT_DEVICES = [  # path, major, minor: runc's default device nodes, mode 0666 root:root
    ("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7), ("/dev/tty", 5, 0),
    ("/dev/urandom", 1, 9), ("/dev/random", 1, 8),
]
DEV_LINKS = [("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
             ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr")]
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SIGKILL = 9
U32_MAX = 0xFFFFFFFF
MAX_TREES = 4096  # detached mounts the init holds at once (its trees[] in fs.c)
CHDIR_ALWAYS, CHDIR_EARLY, CHDIR_IF_REFUSED = 0, 1, 2  # the CHDIR op's modes
MNT_DETACH = 2


def makedev(major: int, minor: int) -> int:
    return ((major & 0xFFFFF000) << 32) | ((major & 0xFFF) << 8) | \
        ((minor & 0xFFFFFF00) << 12) | (minor & 0xFF)


class Fds:
    """The fd numbers the init will have (pyrunc arranges them before exec).

    ``cgroups_ready``: a pipe on which create writes one byte once the cgroups' limits and
    device rules are set; the container process waits for it right after the clone."""

    __slots__ = ("preserve", "fifo", "console", "cgroups_ready")

    def __init__(self, preserve: int, fifo: int | None, console: int | None,
                 cgroups_ready: int | None = None) -> None:
        self.preserve = preserve
        self.fifo = fifo
        self.console = console
        self.cgroups_ready = cgroups_ready


def parse_mount_options(m: Mount) -> tuple[int, list[int], int, int, str]:
    """(flags, propagation flags, recursive attr_set, attr_clr, data) of a mount."""
    flags = 0
    prop: list[int] = []
    aset = aclr = 0
    data: list[str] = []
    for i, o in enumerate(m.options):
        if o in MOUNT_FLAGS:
            clear, f = MOUNT_FLAGS[o]
            flags = flags & ~f if clear else flags | f
        elif o in PROPAGATION:
            prop.append(PROPAGATION[o])
        elif o in RECURSIVE_ATTRS:
            s, c = RECURSIVE_ATTRS[o]
            aset = (aset & ~c) | s
            aclr |= c
        elif o in EXTRA_MOUNT_OPTIONS:
            pass  # handled by the planner (tmpcopyup, idmap, ridmap)
        else:
            data.append(o)
    return flags, prop, aset, aclr, ",".join(data)


def id_map_text(maps: list) -> str:
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)


def rootless_euid() -> bool:
    """runc's RootlessEUID: pyrunc runs as a user other than root (of its user namespace),
    so the kernel lets it map only its own ids, and join no supplementary groups."""
    return os.geteuid() != 0


def may_set_groups() -> bool:
    """Whether the container's processes may call setgroups (runc's allowSupGroups): not when
    rootless, nor when our own user namespace denies it (the container's inherits that)."""
    if rootless_euid():
        return False
    try:
        return os.read_file("/proc/self/setgroups").strip() != b"deny"
    except OSError:
        return True


def rootless_id_maps(p: Plan, maps: list, own: int, kind: str, jpath: str) -> bool:
    """Rootless, how the first stage maps ids: the kernel lets an unprivileged user map only
    its own id, once (written directly); anything else (the ranges of /etc/subuid and
    /etc/subgid) goes through the setuid helper newuidmap/newgidmap, as runc does.  Returns
    whether the helper is used."""
    if len(maps) == 1 and maps[0].host_id == own and maps[0].size == 1:
        return False
    tool = "new" + kind + "map"
    path = next((f"{d}/{tool}" for d in ("/usr/bin", "/bin", "/usr/sbin", "/sbin")
                 if os.access(f"{d}/{tool}", os.X_OK)), None)
    if path is None:
        raise ConfigError(jpath, f"a rootless container may map only its own {kind} unless "
                          f"{tool} (Debian's uidmap package) is installed")
    args = [path]
    for m in maps:
        args += [str(m.container_id), str(m.host_id), str(m.size)]
    p.add(kind.upper() + "_MAP_EXEC", *args)
    return True


NS_GET_NSTYPE = 0xB703  # _IO(0xb7, 0x3)


def check_namespace_path(path: str, ns_type: str, jpath: str) -> None:
    """The file at `path` must be a namespace of type `ns_type` (asked to nsfs itself)."""
    import fcntl
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise ConfigError(jpath, f"{path}: {e.strerror}") from None
    try:
        kind = fcntl.ioctl(fd, NS_GET_NSTYPE)
    except OSError:
        raise ConfigError(jpath, f"{path} is not a namespace") from None
    finally:
        os.close(fd)
    if kind != NS_FLAGS[ns_type]:
        names = {v: k for k, v in NS_FLAGS.items()}
        raise ConfigError(jpath, f"{path} is a {names.get(kind, hex(kind))} namespace, "
                                 f"not a {ns_type} namespace")


def check_config(cfg: Config, no_pivot: bool = False) -> None:
    """Raise the ConfigError a create of `cfg` would meet, without creating anything: plan
    building has no side effects, so build one with placeholder fds and throw it away.  For
    callers that want every config error before the state directory or cgroup exist."""
    Planner(cfg, Fds(0, fifo=5, console=None), no_pivot=no_pivot).build()


def unsupported_lsm(what: str) -> str:
    """Why an AppArmor/SELinux/Intel RDT field cannot be applied here: never ignore it."""
    name, probe = {"apparmor": ("AppArmor", "/sys/module/apparmor/parameters/enabled"),
                   "selinux": ("SELinux", "/sys/fs/selinux/enforce"),
                   "rdt": ("Intel RDT", "/sys/fs/resctrl/info")}[what]
    present = apparmor_enabled() if what == "apparmor" else os.path.exists(probe)
    if not present:
        if what == "rdt":  # runc's words; resctrl is not mounted (or the CPU has no RDT)
            return ("intelRdt is specified in config, but Intel RDT is not enabled "
                    "(no resctrl filesystem at /sys/fs/resctrl)")
        return f"{name} is not enabled on this host"
    return f"{name} is enabled on this host but pyrunc cannot apply it yet"


APPARMOR_ENABLED = "/sys/module/apparmor/parameters/enabled"
APPARMOR_PROFILES = "/sys/kernel/security/apparmor/profiles"


def apparmor_enabled() -> bool:
    try:
        with open(APPARMOR_ENABLED, "rb") as f:
            return f.read(1) == b"Y"
    except OSError:
        return False


def apparmor_ops(p: Plan, profile: str | None, jpath: str) -> None:
    """process.apparmorProfile (create and exec), as runc applies it: "exec PROFILE" into the
    process' own attr file, which takes effect at its execve, written through the container's
    procfs (PROC_WRITE) before seccomp and the credential switch.  A profile that is not loaded
    is an error naming it; "unconfined" where AppArmor is off asks for nothing."""
    if not profile:
        return
    if not apparmor_enabled():
        if profile == "unconfined":
            return
        raise ConfigError(jpath, unsupported_lsm("apparmor"))
    if profile != "unconfined":
        try:
            with open(APPARMOR_PROFILES, "rb") as f:
                loaded = {ln.rsplit(b" (", 1)[0].decode("utf-8", "replace")
                          for ln in f.read().splitlines()}
        except OSError:
            loaded = None  # no securityfs to ask: the kernel will say
        if loaded is not None and profile not in loaded:
            raise ConfigError(jpath, f"AppArmor profile {profile!r} is not loaded")
    # /proc/thread-self/attr/apparmor/ since Linux 5.8; the shared attr file before it
    attr = ("thread-self/attr/apparmor/exec" if os.path.exists("/proc/self/attr/apparmor")
            else "self/attr/exec")
    p.add("PROC_WRITE", attr, f"exec {profile}")


def _lockable_flags(path: str) -> int:
    """The flags of the mount ``path`` is on that a user namespace may not clear (nosuid,
    nodev, noexec and the atime ones), as MS_* flags."""
    f = os.statvfs(path).f_flag
    out = 0
    for st, ms in ((2, MS_NOSUID), (4, MS_NODEV), (8, MS_NOEXEC), (1024, MS_NOATIME),
                   (2048, MS_NODIRATIME), (4096, MS_RELATIME)):
        if f & st:
            out |= ms
    return out


def check_caps_grantable(proc: Process | None) -> None:
    """Every capability asked for must be in the runtime's own bounding set: nobody can grant
    more than it has (capset would fail with a bare EPERM)."""
    if proc is None:
        return
    try:
        with open("/proc/self/status", "rb") as f:
            bnd = int(next(ln for ln in f if ln.startswith(b"CapBnd:")).split()[1], 16)
    except (OSError, StopIteration, ValueError):
        return
    top = caps.last_cap()
    for key, names in proc.capabilities.items():
        if key == "bounding":  # keeping what is not there is no error: nothing to drop
            continue
        for i, n in enumerate(names or []):
            num = caps.NUMBER.get(n.upper() if n.upper().startswith("CAP_") else "CAP_" + n.upper())
            if num is not None and num <= top and not bnd >> num & 1:
                raise ConfigError(f"process.capabilities.{key}[{i}]",
                                  f"{n} cannot be granted: the runtime itself does not have it")


def check_searchable(rootfs: str, uid_maps: list, gid_maps: list) -> None:
    """The container's root (a mapped, unprivileged host uid) bind-mounts the rootfs from
    inside its user namespace, so it must be able to walk to it: say so before anything is
    created rather than fail later with a bare EACCES (runc has the same requirement).

    As the kernel decides: the mode bits for its uid and gid, or its capabilities in the user
    namespace (CAP_DAC_READ_SEARCH), which count for a directory whose owner and group are
    both mapped there (capable_wrt_inode_uidgid)."""
    uid, gid = host_id(uid_maps, 0), host_id(gid_maps, 0)

    def mapped(maps: list, host: int) -> bool:
        return any(m.host_id <= host < m.host_id + m.size for m in maps)
    path = os.path.realpath(rootfs)
    d = path
    while True:
        try:
            st = os.stat(d)
        except OSError:
            return
        mode = st.st_mode
        ok = (mode & 0o001 or (st.st_uid == uid and mode & 0o100) or
              (st.st_gid == gid and mode & 0o010) or
              (mapped(uid_maps, st.st_uid) and mapped(gid_maps, st.st_gid)))
        if not ok:
            raise ConfigError("root.path", f"{d} cannot be searched by the container's root "
                                           f"(host uid {uid}) from its user namespace")
        if d == "/":
            return
        d = os.path.dirname(d)


IPC_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
               "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")


def check_sysctl(key: str, lx: object, domainname: str | None = None) -> None:
    """runc's rule: a sysctl is allowed only when the namespace that scopes it is the
    container's own (ipc, network or uts); anything else would change the host."""
    jp = f"linux.sysctl.{key}"
    name = key.replace("/", ".")
    if not name or ".." in name or name.startswith(".") or "\0" in name:
        raise ConfigError(jp, f"{key!r} is not a sysctl name")
    if name in IPC_SYSCTLS or name.startswith("fs.mqueue."):
        ns, what = lx.namespace("ipc"), "an ipc namespace"  # type: ignore[attr-defined]
    elif name.startswith("net."):
        ns, what = lx.namespace("network"), "a network namespace"  # type: ignore[attr-defined]
        if ns is not None and ns.path and _same_ns(ns.path, "/proc/self/ns/net"):
            raise ConfigError(jp, "is not allowed in the host's network namespace")
    elif name == "kernel.hostname":
        # runc: namespaced, but the config's hostname field is the one way to set it
        raise ConfigError(jp, "is not allowed as it conflicts with the OCI hostname field")
    elif name == "kernel.domainname":
        if domainname is not None:
            raise ConfigError(jp, "is not allowed as it conflicts with the OCI domainname "
                                  "field")
        ns, what = lx.namespace("uts"), "a uts namespace"  # type: ignore[attr-defined]
    else:
        raise ConfigError(jp, "is not in a separate kernel namespace")
    if ns is None:
        raise ConfigError(jp, f"needs {what} of the container's own")


# What may be mounted below /proc: the files lxcfs emulates (runc's checkProcMount list).
PROC_MOUNT_OK = ("/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat",
                 "/proc/swaps", "/proc/uptime", "/proc/loadavg", "/proc/slabinfo",
                 "/proc/sys/kernel/ns_last_pid", "/proc/sys/crypto/fips_enabled")


def check_proc_mount(m: Mount, source: str | None) -> None:
    """runc's checkProcMount: nothing may be mounted over a part of the container's /proc
    (the runtime itself writes sysctls and masks paths there, and a volume over /proc/sys/net
    would redirect those writes: CVE-2025-52881), except a new procfs, or a bind of a procfs
    root, onto /proc itself and the lxcfs files.  ``source`` is a bind mount's host path.
    The init refuses a target outside /proc that a symlink in the image leads into it."""
    dest = m.destination
    if dest != "/proc" and not dest.startswith("/proc/"):
        return
    jp = f"{m.path}.destination"
    if dest == "/proc":
        if source is None:
            if m.type == "proc":
                return
        elif _is_procfs_root(source):
            return
        raise ConfigError(jp, f"{m.source or m.type!r} cannot be mounted on /proc: only a "
                              "procfs can")
    if dest not in PROC_MOUNT_OK:
        raise ConfigError(jp, f"{dest} is inside /proc: nothing may be mounted there")


def _is_procfs_root(path: str) -> bool:
    """Whether host path ``path`` is the root directory of a procfs mount (inode 1)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    if st.st_ino != 1:
        return False
    dev = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    return any(m.dev == dev and m.fstype == "proc" for m in mountinfo.read())


def _same_ns(a: str, b: str) -> bool:
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def mount_point_of(path: str) -> str:
    """The mount point (in this, the host's, mount namespace) that `path` is on."""
    path = os.path.realpath(path)
    best = "/"
    for m in mountinfo.read():
        mp = m.mountpoint
        if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) > len(best):
            best = mp
    return best


def sched_ops(p: Plan, proc: Process) -> None:
    """process.ioPriority, process.scheduler and execCPUAffinity.final (also for `exec`)."""
    if proc.io_priority is not None:
        p.add("IOPRIO", proc.io_priority)
    if proc.scheduler is not None:
        p.add("SCHED_ATTR", proc.scheduler)
    aff = proc.exec_cpu_affinity
    if "final" in aff:
        p.add("CPU_AFFINITY", aff["final"])
    elif "initial" in aff:  # back to every CPU the container's cpuset allows
        p.add("CPU_AFFINITY", b"\xff" * 128)


def mempolicy_ops(p: Plan, mp) -> None:
    """linux.memoryPolicy (also for `exec`, as runc's setns init): set by the container
    process itself, last before its credentials, so the policy is the process' and, inherited
    over fork and execve, its children's, and none of the set-up's allocations is bound."""
    if mp is not None:
        p.add("MEMPOLICY", mp.mode | mp.flags, mp.nodes, mp.text)


def enter_cgroup_ops(p: Plan, proc: Process, cgroup_join: list[tuple[str, str]],
                     own_affinity: bytes | None = None) -> None:
    """The first ops of a plan (create and exec): the CPU affinity, then the joins
    (Cgroup.join_ops).  The affinity is execCPUAffinity.initial, which the runtime-spec sets
    before the process joins its cgroup, or else ``own_affinity``: pyrunc's own, which create
    starts the first stage without (see create.py) and which it would otherwise inherit."""
    initial = proc.exec_cpu_affinity.get("initial") or own_affinity
    if initial:
        p.add("CPU_AFFINITY", initial)
    for op, path in cgroup_join:
        p.add(op, path)


def console_ops(p: Plan, proc: Process, sock_fd: int, bind_console: bool) -> None:
    """The pty (create and exec with a console socket), sized to process.consoleSize when it
    gives one, as runc's init does before it hands the master over."""
    p.add("CONSOLE", sock_fd, 1 if bind_console else 0)
    size = proc.console_size
    if size is None:
        return
    jp = "process.consoleSize"
    if not isinstance(size, dict):
        raise ConfigError(jp, "must be an object")
    dims = []
    for key in ("height", "width"):
        v = size.get(key, 0)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 0xFFFF:
            raise ConfigError(f"{jp}.{key}", "must be an integer from 0 to 65535")
        dims.append(v)
    if dims[0] and dims[1]:
        p.add("CONSOLE_SIZE", dims[0], dims[1])


def inherited_attrs(p: Plan, proc: Process) -> None:
    """What the first stage sets on itself for the container process to inherit (create and
    exec): process.oomScoreAdj, written to the host's /proc/self before any namespace is
    joined, as runc does, never through a /proc the container can shape."""
    if proc.oom_score_adj is not None:
        p.add("WRITE", "/proc/self/oom_score_adj", str(proc.oom_score_adj))


def env_path(env: list[str]) -> str:
    for e in env:
        if e.startswith("PATH="):
            return e[5:]
    return DEFAULT_PATH


class Planner:
    """Builds the create plan for one container."""

    def __init__(self, cfg: Config, fds: Fds, no_pivot: bool = False,
                 seccomp: object | None = None, cgroup_mounts: object | None = None,
                 container_id: str = "", no_new_keyring: bool = False,
                 cgroup_join: list[tuple[str, str]] | None = None,
                 own_affinity: bytes | None = None, cgroup2_root: str | None = None) -> None:
        self.cfg = cfg
        self.cgroup_join = cgroup_join or []  # Cgroup.join_ops(): how the init enters them
        self.own_affinity = own_affinity  # see enter_cgroup_ops
        self.container_id = container_id
        self.no_new_keyring = no_new_keyring or not container_id
        self.fds = fds
        self.no_pivot = no_pivot
        self.seccomp = seccomp  # a compiled program (pyrunc.seccomp.SeccompProgram) or None
        self.cgroup_mounts = cgroup_mounts  # callable(Mount) -> list of (host dir, name) binds
        self.cgroup2_root = cgroup2_root  # a pure v2 host's cgroup2 mount point
        self.before_pivot = None  # callable(Plan): ops after the mounts, before pivot_root
        self.after_start = None  # callable(Plan): ops after `start`, before the user's exec
        self.plan = Plan()
        ns = cfg.linux.namespaces
        self.userns = any(n.type == "user" for n in ns)
        self.new_userns = any(n.type == "user" and not n.path for n in ns)
        self.netns = any(n.type == "network" for n in ns)
        self.trees: dict[str, int] = {}  # mount's JSON path -> IDMAP_TREE slot
        self.rootless = rootless_euid()  # see rootless_id_maps, _idmap_trees
        self.set_groups = may_set_groups()
        self.dev_remount_ro: tuple | None = None  # a read-only /dev, remounted after filling
        self.net_devices: list = []  # netdev.Device: linux.netDevices, for create to move
        self.rbinds: list[tuple[str, str]] = []  # (host source, destination) of rbinds so far

    def build(self) -> Plan:
        cfg = self.cfg
        if cfg.process is None:
            raise ConfigError("process", "is required to create a container")
        self._validate_namespaces()
        enter_cgroup_ops(self.plan, cfg.process, self.cgroup_join, self.own_affinity)
        inherited_attrs(self.plan, cfg.process)
        self._namespaces()
        p = self.plan
        p.add("PDEATHSIG", SIGKILL)
        p.add("SETSID")
        if not self.no_new_keyring:
            # runc gives every container a session keyring of its own, so containers do not
            # share the host's keys (--no-new-keyring keeps the caller's).
            p.add("SESSION_KEYRING", "_ses." + self.container_id)
        self._rootfs()
        self._process_attrs(cfg.process)
        self._credentials(cfg.process, final=True)
        return p

    # -- namespaces -------------------------------------------------------------------------
    def _validate_namespaces(self) -> None:
        lx = self.cfg.linux
        if self.cfg.hostname and lx.namespace("uts") is None:
            raise ConfigError("hostname", "setting the hostname needs a private uts namespace")
        if self.cfg.domainname and lx.namespace("uts") is None:
            raise ConfigError("domainname", "setting the domainname needs a private uts namespace")
        if (lx.uid_mappings or lx.gid_mappings) and not self.new_userns:
            raise ConfigError("linux.uidMappings", "id mappings need a new user namespace")
        if self.new_userns and not (lx.uid_mappings and lx.gid_mappings):
            raise ConfigError("linux.uidMappings",
                              "a new user namespace needs uidMappings and gidMappings")
        for i, n in enumerate(lx.namespaces):
            if n.path is not None:
                check_namespace_path(n.path, n.type, f"linux.namespaces[{i}].path")
        for key in lx.sysctl:
            check_sysctl(key, lx, self.cfg.domainname)
        check_caps_grantable(self.cfg.process)
        if self.new_userns:
            check_searchable(self.cfg.root_path, lx.uid_mappings, lx.gid_mappings)

    def _namespaces(self) -> None:
        p = self.plan
        lx = self.cfg.linux
        flags = 0
        self._idmap_trees()  # first: from the host's user and mount namespaces
        joins = sorted((n for n in lx.namespaces if n.path),
                       key=lambda n: 0 if n.type == "user" else 1)
        for n in joins:
            p.add("SETNS", NS_FLAGS[n.type], n.path)
        for n in lx.namespaces:
            if not n.path:
                flags |= NS_FLAGS[n.type]
        if flags & CLONE_NEWTIME:
            flags &= ~CLONE_NEWTIME
            p.add("UNSHARE", CLONE_NEWTIME)
            if lx.time_offsets:
                p.add("WRITE", "/proc/self/timens_offsets", lx.time_offsets)
        elif lx.time_offsets:
            raise ConfigError("linux.timeOffsets", "needs a new time namespace")
        if self.new_userns:
            p.add("UID_MAP", id_map_text(lx.uid_mappings))
            p.add("GID_MAP", id_map_text(lx.gid_mappings))
            if self.rootless:
                p.add("MAPS_DUMPABLE")
                rootless_id_maps(p, lx.uid_mappings, os.geteuid(), "uid", "linux.uidMappings")
                if not rootless_id_maps(p, lx.gid_mappings, os.getegid(), "gid",
                                        "linux.gidMappings"):
                    # Linux 3.19+: an unprivileged gid_map needs setgroups denied first
                    p.add("SETGROUPS", "deny")
        p.add("CLONE", flags)
        if self.fds.cgroups_ready is not None:
            p.add("WAIT_ACK", self.fds.cgroups_ready)
        if self.userns:
            # The new process keeps the host's kuid 0, which the new namespace does not map:
            # files it creates would fail with EOVERFLOW.  Become the namespace's root (and,
            # in a namespace of our own, drop the host's supplementary groups) before anything
            # touches a filesystem.
            if self.new_userns and (host_id(lx.uid_mappings, 0) is None or
                                    host_id(lx.gid_mappings, 0) is None):
                raise ConfigError("linux.uidMappings",
                                  "the user namespace must map container uid and gid 0")
            p.add("USER", 0, 0, 1 if self.new_userns and self.set_groups else 0)
        if lx.net_devices:  # moved by create meanwhile (see netdev)
            from pyrunc import netdev
            self.net_devices = netdev.probe(lx.net_devices)
            netdev.plan_ops(p, self.net_devices)

    def _idmap_trees(self) -> None:
        """Id-mapped mounts are cloned in the first stage, from the host's view of their
        source, and attached in the container by MOUNT_TREE (see _mount).  So is every other
        bind mount of a container with a new user namespace: its root, a mapped host uid,
        may not be able to reach the source by path (runc opens them on the host side for
        the same reason, its _LIBCONTAINER_MOUNT_FDS)."""
        lx = self.cfg.linux
        for m in self.cfg.mounts:
            opt = "ridmap" if "ridmap" in m.options else "idmap" if "idmap" in m.options else ""
            if not (m.uid_mappings or opt):
                # Rootless, the first stage may not clone a tree (open_tree needs
                # CAP_SYS_ADMIN over the host's mounts): the container binds by path.
                if self.new_userns and self._is_bind(m) and len(self.trees) < MAX_TREES \
                        and not self.rootless:
                    slot = self.trees[m.path] = len(self.trees)
                    self.plan.add("OPEN_TREE", slot, self._bind_source(m),
                                  1 if parse_mount_options(m)[0] & MS_REC else 0)
                continue
            where = f"{m.path}.uidMappings" if m.uid_mappings else \
                f"{m.path}.options[{m.options.index(opt)}]"
            if not self._is_bind(m):
                raise ConfigError(where, "id-mapped mounts must be bind mounts")
            uids, gids = m.uid_mappings, m.gid_mappings
            if not uids:  # idmap/ridmap alone: the container's own user namespace mappings
                if not self.new_userns:
                    raise ConfigError(where, f"{opt} without uidMappings needs the container's "
                                             "own user namespace")
                uids, gids = lx.uid_mappings, lx.gid_mappings
            rec_clone = parse_mount_options(m)[0] & MS_REC
            # ridmap: the submounts too; idmap: the top mount only; mappings alone: like the bind
            rec_map = opt == "ridmap" or (not opt and rec_clone)
            if len(self.trees) >= MAX_TREES:
                raise ConfigError(where, f"more than {MAX_TREES} id-mapped mounts")
            slot = self.trees[m.path] = len(self.trees)
            self.plan.add("IDMAP_TREE", slot, self._bind_source(m),
                          (1 if rec_clone else 0) | (2 if rec_map else 0), id_map_text(uids),
                          id_map_text(gids))

    # -- root filesystem --------------------------------------------------------------------
    def _rootfs(self) -> None:
        cfg, p = self.cfg, self.plan
        lx = cfg.linux
        rootfs = cfg.root_path
        prop = MS_SLAVE | MS_REC
        if lx.rootfs_propagation:
            prop = PROPAGATION[lx.rootfs_propagation]
        if lx.namespace("mount") is None:
            # The runtime's mount namespace is inherited (config-linux.md#namespaces): the
            # mounts happen in it and stay after the container (as with runc and crun); the
            # host's propagation is left alone and the container is chrooted, not pivoted.
            prop = 0
        else:
            self._root_propagation(prop)
        p.add("MOUNT_RAW", rootfs, rootfs, "", MS_BIND | MS_REC, "")
        p.add("ROOT", rootfs)
        self._rootfs_mounts(prop)

    def _root_propagation(self, prop: int) -> None:
        p, rootfs = self.plan, self.cfg.root_path
        # The container's copy of the host's mounts gets the configured propagation (rslave by
        # default: host mounts still reach it, nothing goes back).
        # (Unbindable mounts cannot be bound: the rootfs gets that only after pivot_root.)
        first = MS_SLAVE | MS_REC if prop & MS_UNBINDABLE else prop
        p.add("MOUNT_RAW", "", "/", "", first, "")
        if first not in (MS_SLAVE | MS_REC, MS_PRIVATE | MS_REC):
            # Some mounts may still be shared: pivot_root refuses a shared parent of the new
            # root (and a shared "/"), and the rootfs bind below would propagate to the host.
            # Make them slaves (runc's rootfsParentMountPrivate makes the parent private, which
            # would stop a `slave` rootfs from following the host): the rootfs bind then is a
            # slave too, and PROPAGATE after pivot_root gives it the configured propagation.
            parent = mount_point_of(rootfs)
            p.add("MOUNT_RAW", "", parent, "", MS_SLAVE, "")
            if parent != "/":
                p.add("MOUNT_RAW", "", "/", "", MS_SLAVE, "")

    def _rootfs_mounts(self, prop: int) -> None:
        cfg, p = self.cfg, self.plan
        lx = cfg.linux
        dev_is_bind = False
        for m in cfg.mounts:
            self._mount(m)
            if m.destination.rstrip("/") == "/dev" and self._is_bind(m):
                dev_is_bind = True
        if not dev_is_bind:
            self._devices()
        else:
            self._device_table()  # validated all the same
        if self.dev_remount_ro is not None:
            src, fstype, flags, data = self.dev_remount_ro
            p.add("MOUNT", src, "/dev", fstype, flags, data)
        proc = self.cfg.process
        assert proc is not None
        p.add("MKDIRS", proc.cwd, 0o755)
        if proc.terminal and self.fds.console is not None:
            pass  # the console is set up after pivot_root, from the container's own devpts
        if self.before_pivot is not None:
            self.before_pivot(p)  # host hooks' sync point and createContainer hooks
        if not prop:
            p.add("CHROOT")
        elif self.no_pivot:
            self._hide_host_procfs_and_sysfs()
            p.add("MOVE_ROOT")
        else:
            p.add("PIVOT_ROOT")
        p.add("REOPEN_DEVNULL")
        self._names_and_sysctls()
        for path in lx.masked_paths:
            p.add("MASK", path)
        for path in lx.readonly_paths:
            p.add("READONLY", path)
        if cfg.root_readonly:
            p.add("REMOUNT_RO", "/")
        if prop and prop != MS_SLAVE | MS_REC:
            # Last: masks and read-only paths are binds, which an unbindable tree refuses.
            p.add("PROPAGATE", "/", prop)

    def _hide_host_procfs_and_sysfs(self) -> None:
        """--no-pivot (runc's msMoveRoot): the container is only chrooted, so the host's own
        /proc and /sys stay mounted in its mount namespace, and a full procfs there lets the
        kernel allow a new, unmasked procfs mount (mnt_already_visible).  Detach every full
        procfs and sysfs outside the rootfs first (their unmount kept from the host by
        MS_SLAVE); in a user namespace they are locked, so cover them with a tmpfs instead."""
        p, rootfs = self.plan, self.cfg.root_path.rstrip("/")
        hide = [m.mountpoint for m in mountinfo.read()
                if m.fstype in ("proc", "sysfs") and m.root == "/" and
                m.mountpoint != rootfs and not m.mountpoint.startswith(rootfs + "/")]
        for mp in reversed(hide):  # the deepest first
            p.add("MOUNT_RAW", "", mp, "", MS_SLAVE | MS_REC, "")
            if self.userns:
                p.add("MOUNT_RAW", "tmpfs", mp, "tmpfs", 0, "")
            else:
                p.add("UMOUNT", mp, MNT_DETACH)

    def _names_and_sysctls(self) -> None:
        """Hostname and sysctls, after pivot_root (the container's /proc) and before
        readonlyPaths makes /proc/sys read-only (Docker sets net.* sysctls and masks /proc/sys)."""
        cfg, p = self.cfg, self.plan
        lx = cfg.linux
        if cfg.hostname is not None and lx.namespace("uts") is not None:
            p.add("SETHOSTNAME", cfg.hostname)
        if cfg.domainname is not None and lx.namespace("uts") is not None:
            p.add("SETDOMAINNAME", cfg.domainname)
        for key, value in lx.sysctl.items():
            # "a.b.c" or "a/b/c" (the slash form keeps dots in names like eth0.100); written
            # through the container's procfs only, never through whatever /proc/sys leads to
            p.add("PROC_WRITE", "sys/" + (key if "/" in key else key.replace(".", "/")), value)

    @staticmethod
    def _is_bind(m: Mount) -> bool:
        return m.type == "bind" or "bind" in m.options or "rbind" in m.options

    def _mount(self, m: Mount) -> None:
        p = self.plan
        flags, prop, aset, aclr, data = parse_mount_options(m)
        dest = m.destination
        copyup = "tmpcopyup" in m.options
        if copyup and m.type != "tmpfs":
            raise ConfigError(f"{m.path}.options[{m.options.index('tmpcopyup')}]",
                              "tmpcopyup applies to tmpfs mounts only")
        if m.type == "sysfs" and self.userns and not self.netns:
            # sysfs can only be mounted by the owner of the network namespace: in a user
            # namespace without its own, bind the host's /sys instead (as runc does).
            flags |= MS_BIND | MS_REC
            m = Mount({"destination": dest, "type": "bind", "source": "/sys",
                       "options": ["rbind"] + list(m.options)}, m.path)
        if self._is_bind(m):
            flags |= MS_BIND
            src = self._bind_source(m)
            check_proc_mount(m, src)
            try:
                st = os.stat(src)
            except OSError as e:
                raise ConfigError(f"{m.path}.source", f"{src}: {e.strerror}") from None
            if (st.st_mode & 0o170000) == 0o040000:
                p.add("MKDIRS", dest, 0o755)
            else:
                p.add("MKFILE", dest, 0o644)
            if m.path in self.trees:
                p.add("MOUNT_TREE", self.trees[m.path], dest)
            else:
                p.add("MOUNT", src, dest, "", MS_BIND | (flags & MS_REC), "")
            if flags & MS_REC:
                self.rbinds.append((src, dest))
            extra = flags & ~(MS_BIND | MS_REC | MS_REMOUNT)
            if extra and self.new_userns and m.path in self.trees:
                # A tree cloned by the first stage is not locked the way a bind made in the
                # user namespace is: keep the flags the kernel would lock there.
                extra |= _lockable_flags(src)
            if extra:
                p.add("MOUNT", "", dest, "", MS_REMOUNT | MS_BIND | extra, "")
        elif m.type == "cgroup":
            check_proc_mount(m, None)
            self._cgroup_mount(m, flags)
        elif copyup:
            check_proc_mount(m, None)
            # Fill the tmpfs while it is writable; a read-only one is remounted after.
            p.add("MKDIRS", dest, 0o755)
            p.add("MOUNT_TMPCOPYUP", m.source or m.type, dest, m.type, flags & ~MS_RDONLY, data)
            if flags & MS_RDONLY:
                p.add("MOUNT", "", dest, "", MS_REMOUNT | flags, data)
        else:
            check_proc_mount(m, None)
            p.add("MKDIRS", dest, 0o755)
            if m.type in ("proc", "sysfs"):
                # runc: "must be mounted on ordinary directory": an image's /proc or /sys
                # symlink would put the runtime's own procfs and sysfs where it chose
                p.add("CHECK_DIR", dest)
            if dest == "/dev" and flags & MS_RDONLY:
                # runc fills a read-only /dev first (devices, links, the /dev/pts mount
                # point) and remounts it read-only last (_rootfs_mounts)
                self.dev_remount_ro = (m.source or m.type, m.type, flags | MS_REMOUNT, data)
                flags &= ~MS_RDONLY
            p.add("MOUNT", m.source or m.type, dest, m.type, flags, data)
        for f in prop:
            p.add("PROPAGATE", dest, f)
        if aset or aclr:
            p.add("MOUNT_SETATTR", dest, AT_RECURSIVE, aset, aclr)

    def _bind_source(self, m: Mount) -> str:
        """The host path of a bind mount's source (relative ones are in the bundle)."""
        src = m.source
        if not src:
            raise ConfigError(f"{m.path}.source", "a bind mount needs a source")
        if not src.startswith("/"):
            src = os.path.join(self.cfg.bundle, src)
        return src

    def _cgroup_mount(self, m: Mount, flags: int) -> None:
        """A `cgroup` mount: cgroup2 when the host is unified, otherwise (v1, hybrid) a tmpfs
        holding a bind of the container's own directory of every v1 hierarchy, like runc."""
        p = self.plan
        dest = m.destination
        binds = self.cgroup_mounts(m) if self.cgroup_mounts else None
        p.add("MKDIRS", dest, 0o755)
        if binds is None:
            if self.userns and self._host_cgroup2_bound_at(dest):
                self._cgroup2_under_rbind(dest, flags)
                return
            if self.userns and self.cfg.linux.namespace("cgroup") is None and self.cgroup2_root:
                # A user namespace may not mount cgroup2 in the host's cgroup namespace
                # (EPERM): bind the host's hierarchy instead, as runc does.
                p.add("MOUNT", self.cgroup2_root, dest, "", MS_BIND | MS_REC, "")
                p.add("MOUNT", "", dest, "", MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV |
                      MS_NOEXEC | (flags & MS_RDONLY), "")
                return
            p.add("MOUNT", "cgroup2", dest, "cgroup2", flags & ~MS_BIND, "")
            return
        p.add("MOUNT", "tmpfs", dest, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755")
        for host_dir, name, links in binds:
            sub = f"{dest.rstrip('/')}/{name}"
            p.add("MKDIRS", sub, 0o755)
            p.add("MOUNT", host_dir, sub, "", MS_BIND | MS_REC, "")
            p.add("MOUNT", "", sub, "", MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC |
                  (flags & MS_RDONLY), "")
            for link in links:
                p.add("SYMLINK", name, f"{dest.rstrip('/')}/{link}")
        if flags & MS_RDONLY:
            p.add("MOUNT", "", dest, "", MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC |
                  MS_RDONLY, "mode=755")

    def _host_cgroup2_bound_at(self, dest: str) -> bool:
        """Whether an earlier recursive bind (a rootless config's /sys) already put the host's
        cgroup2 mount at ``dest``: a new cgroup2 mount, or a bind of its root, onto the root of
        a mount of the same superblock is refused (EBUSY)."""
        if not self.rbinds:
            return False
        mp = self.cgroup2_root or next((e.mountpoint for e in mountinfo.read()
                                        if e.fstype == "cgroup2"), None)
        if mp is None:
            return False
        for src, bdest in self.rbinds:
            src = src.rstrip("/")
            if mp == src or mp.startswith(src + "/"):
                if bdest.rstrip("/") + mp[len(src):] == dest.rstrip("/"):
                    return True
        return False

    def _cgroup2_under_rbind(self, dest: str, flags: int) -> None:
        """runc's fallback when cgroup2 cannot be mounted there: with a cgroup namespace, the
        container's own cgroup2 directory is bound (emulating the namespace's view), or, with
        none (rootless, no delegated cgroup), a read-only tmpfs covers the host's hierarchy;
        without a cgroup namespace the host's hierarchy the bind brought stays."""
        if self.cfg.linux.namespace("cgroup") is None:
            return
        p = self.plan
        own = next((a for op, a in self.cgroup_join if op == "CGROUP_CLONE_INTO"), None)
        if own is None:
            p.add("MOUNT", "tmpfs", dest, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "mode=755")
            return
        p.add("MOUNT", own, dest, "", MS_BIND, "")
        p.add("MOUNT", "", dest, "", MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC |
              (flags & MS_RDONLY), "")

    def _devices(self) -> None:
        p = self.plan
        bind = self.userns
        if not bind:
            # runc's useBindMount: also when pyrunc itself runs in a user namespace (conmon
            # under rootless Podman, dockerd under rootlesskit) and the config adds none
            from pyrunc.cli import in_user_namespace
            bind = in_user_namespace()
        for path, (mode, major, minor, uid, gid) in self._device_table().items():
            if bind and mode & 0o170000 != S_IFIFO:
                # mknod of a device is not allowed in a user namespace (a fifo is): bind the
                # host's node instead.
                p.add("MKFILE", path, 0o644)
                p.add("MOUNT", path, path, "", MS_BIND, "")
            else:
                p.add("MKNOD", path, mode, makedev(major, minor), uid, gid)
        p.add("SYMLINK", "pts/ptmx", "/dev/ptmx")
        for target, link in DEV_LINKS:
            p.add("SYMLINK", target, link)
        if os.path.exists("/proc/kcore"):
            p.add("SYMLINK", "/proc/kcore", "/dev/core")

    def _device_table(self) -> dict[str, tuple[int, int, int, int, int]]:
        """path -> (mode, major, minor, uid, gid): the defaults, then linux.devices (checked
        even when /dev is a bind mount and none is created)."""
        lx = self.cfg.linux
        devices: dict[str, tuple[int, int, int, int, int]] = {}
        for path, major, minor in DEFAULT_DEVICES:
            devices[path] = (S_IFCHR | 0o666, major, minor, 0, 0)
        for i, d in enumerate(lx.devices):
            jp = f"linux.devices[{i}]"
            if not isinstance(d, dict):
                raise ConfigError(jp, "must be an object")
            path = d.get("path")
            if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
                raise ConfigError(f"{jp}.path", "must be an absolute path")
            t = d.get("type")
            kinds = {"c": S_IFCHR, "u": S_IFCHR, "b": S_IFBLK, "p": S_IFIFO}
            if t not in kinds:
                raise ConfigError(f"{jp}.type", f"unknown device type {t!r}")
            major, minor = d.get("major", 0), d.get("minor", 0)
            if t != "p" and ("major" not in d or "minor" not in d):
                raise ConfigError(jp, "major and minor are required for this device type")
            for key, val in (("major", major), ("minor", minor)):
                # makedev packs 32 bits of each: a larger number would be cut to another device
                if not isinstance(val, int) or isinstance(val, bool) or not 0 <= val <= U32_MAX:
                    raise ConfigError(f"{jp}.{key}", f"must be an integer from 0 to {U32_MAX}")
            mode = d.get("fileMode", 0o666)
            if not isinstance(mode, int) or isinstance(mode, bool) or not 0 <= mode <= 0o7777:
                raise ConfigError(f"{jp}.fileMode", "must be a file mode")
            uid, gid = d.get("uid", 0), d.get("gid", 0)
            for key, val in (("uid", uid), ("gid", gid)):
                if not isinstance(val, int) or isinstance(val, bool) or not 0 <= val <= ID_MAX:
                    raise ConfigError(f"{jp}.{key}", "must be an integer: uids and gids must "
                                                     f"be in range 0-{ID_MAX}")
            devices[path] = (kinds[t] | mode, major, minor, uid, gid)
        return devices

    # -- process ----------------------------------------------------------------------------
    def _process_attrs(self, proc: Process) -> None:
        cfg, p = self.cfg, self.plan
        lx = cfg.linux
        if proc.terminal and self.fds.console is not None:
            console_ops(p, proc, self.fds.console, True)
        for r in proc.rlimits:
            p.add("RLIMIT", r.resource, r.soft, r.hard)
        apparmor_ops(p, proc.apparmor_profile, "process.apparmorProfile")
        for value, jp, what in ((proc.selinux_label, "process.selinuxLabel", "selinux"),
                                (lx.mount_label, "linux.mountLabel", "selinux"),
                                (lx.intel_rdt, "linux.intelRdt", "rdt")):
            if value or (what == "rdt" and value is not None):  # runc refuses even {}
                raise ConfigError(jp, unsupported_lsm(what))
        if lx.personality is not None:
            p.add("PERSONALITY", lx.personality)
        sched_ops(p, proc)
        mempolicy_ops(p, lx.memory_policy)

    def _credentials(self, proc: Process, final: bool) -> None:
        """Capabilities, user, seccomp and exec (shared with exec: see add_credentials)."""
        add_credentials(self.plan, proc, self.seccomp, self.fds.preserve,
                        fifo=self.fds.fifo, ready=final, after_start=self.after_start,
                        set_groups=self.set_groups)


def add_credentials(p: Plan, proc: Process, seccomp: object | None, preserve: int,
                    fifo: int | None = None, ready: bool = True,
                    after_start: object | None = None, notify_ack: int | None = None,
                    set_groups: bool = True) -> None:
    """Capabilities, user, seccomp and exec, in the order the kernel allows.

    Both `create` (Planner) and `exec` (pyrunc.exec) end their plans with this.  With ``ready``
    the init reports R, then (``fifo``) waits for `start`; ``after_start(plan)`` adds what runs
    between `start` and the user's exec (the startContainer hooks).  ``notify_ack`` (exec, which
    has no fifo to wait on): the fd the init waits on after loading a filter with a listener,
    until pyrunc has handed the listener to the agent.  ``set_groups``: may_set_groups(); when
    not, process.user.additionalGids are left out silently (runc's allowSupGroups), except
    rootless, where asking for them is an error (as in runc).
    """
    c = proc.capabilities
    pc = "process.capabilities"
    bounding = caps.mask(c["bounding"], f"{pc}.bounding")
    eff = caps.mask(c["effective"], f"{pc}.effective")
    perm = caps.mask(c["permitted"], f"{pc}.permitted")
    inh = caps.mask(c["inheritable"], f"{pc}.inheritable")
    amb = caps.mask(c["ambient"], f"{pc}.ambient")
    # Ambient capabilities must be permitted and inheritable; runc drops the rest silently.
    amb &= perm & inh
    sc = seccomp
    wait_ack = notify_ack is not None and sc is not None and getattr(sc, "notify", False)
    if sc is not None and not proc.no_new_privileges:
        p.add("SECCOMP", sc.flags, sc.bpf)  # needs CAP_SYS_ADMIN: before the uid switch
        if wait_ack:
            p.add("WAIT_ACK", notify_ack)
    # runc enters the cwd while still privileged (a directory only root may enter), and again
    # after the switch only if that was refused
    p.add("CHDIR", proc.cwd, CHDIR_EARLY)
    p.add("CAP_BOUNDING", bounding)
    u = proc.user
    p.add("CHOWN_STDIO", u.uid)  # a terminal or pipe made outside is the user's own
    if u.additional_gids and rootless_euid():
        # runc refuses them too, rather than leave them out silently
        raise ConfigError("process.user.additionalGids",
                          "cannot set any additional groups in a rootless container")
    if set_groups:
        p.add("USER", u.uid, u.gid, 1, *[str(g) for g in u.additional_gids])
    else:
        p.add("USER", u.uid, u.gid, 0)
    p.add("CAPS", eff, perm, inh, amb)
    p.add("CHDIR", proc.cwd, CHDIR_IF_REFUSED)
    if u.umask is not None:
        p.add("UMASK", u.umask)
    else:
        p.add("UMASK", 0o022)
    if proc.no_new_privileges:
        p.add("NO_NEW_PRIVS")
    p.add("RESOLVE_EXEC", proc.args[0], env_path(proc.env))
    p.add("PDEATHSIG", 0)
    # With noNewPrivileges the filter is loaded as late as runc loads it: after the program is
    # found, before READY (so create can still hand a notify listener to the agent while it
    # reads the sync pipe), and so before the startContainer hooks, which runc runs as the
    # container's process, under its filter.
    if sc is not None and proc.no_new_privileges:
        p.add("SECCOMP", sc.flags, sc.bpf)
        if wait_ack:
            p.add("WAIT_ACK", notify_ack)
    if ready:
        p.add("READY")
        if fifo is not None:
            p.add("WAIT_FIFO", fifo)
        if after_start is not None:
            after_start(p)  # type: ignore[operator]
    p.add("EXEC", preserve, len(proc.args), *proc.args, *proc.env)
