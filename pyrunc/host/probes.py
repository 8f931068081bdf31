"""What the planner asks of the host before it plans: whether pyrunc is rootless, which
LSM is on, whether a namespace path is what it claims, which capabilities the runtime itself
can grant, whether a sysctl or a /proc mount is allowed, which mount a host path is on.

Each check turns an answer the kernel would give late, as a bare errno, into a ConfigError
naming the config field, before anything is created.
"""

from pyrunc import fastos as os  # os without its import cost (see fastos)

from pyrunc.config import Mount, caps
from pyrunc.config.linux import host_id
from pyrunc.config.process import Process
from pyrunc.errors import ConfigError
from pyrunc.host import mountinfo
from pyrunc.plan.kernel import (MS_NOATIME, MS_NODEV, MS_NODIRATIME, MS_NOEXEC, MS_NOSUID,
                                MS_RELATIME, NS_FLAGS)

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


def lockable_flags(path: str) -> int:
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
            num = caps.number(n)
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
