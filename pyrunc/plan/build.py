"""Turn a validated Config into the plan the init executes (see pyrunc/plan/__init__.py).

Every decision is taken here: mount flags and data, which devices to create or bind, the order of
the credential switch, where seccomp is loaded.  The order follows what the kernel needs: id maps
before anything privileged, mounts before pivot_root, masks after it, the bounding set before the
uid switch (it needs CAP_SETPCAP), capabilities after it, seccomp last when no_new_privs is set.
"""

from pyrunc import fastos as os  # os without its import cost (see fastos)

from pyrunc.config import Config, Mount
from pyrunc.config.linux import host_id
from pyrunc.config.process import Process
from pyrunc.errors import ConfigError
from pyrunc.host import mountinfo
from pyrunc.host.probes import (check_caps_grantable, check_namespace_path, check_proc_mount,
                                check_searchable, check_sysctl, lockable_flags, may_set_groups,
                                mount_point_of, rootless_euid, unsupported_lsm)
from pyrunc.plan import InitFds, Plan
from pyrunc.plan.kernel import (AT_RECURSIVE, CLONE_NEWTIME, DEFAULT_DEVICES, DEV_LINKS,
                                MAX_TREES, MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID,
                                MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, MS_SLAVE,
                                MS_UNBINDABLE, NS_FLAGS, PROPAGATION, S_IFCHR, S_IFIFO, SIGKILL,
                                id_map_text, makedev, parse_mount_options)
from pyrunc.plan.steps import (add_credentials, apparmor_ops, console_ops, enter_cgroup_ops,
                               inherited_attrs, mempolicy_ops, rootless_id_maps, sched_ops)


def check_config(cfg: Config, no_pivot: bool = False) -> None:
    """Raise the ConfigError a create of `cfg` would meet, without creating anything: plan
    building has no side effects, so build one with placeholder fds and throw it away.  For
    callers that want every config error before the state directory or cgroup exist."""
    Planner(cfg, InitFds(0, ["fifo"]), no_pivot=no_pivot).build()


class Planner:
    """Builds the create plan for one container."""

    def __init__(self, cfg: Config, fds: InitFds, no_pivot: bool = False,
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
        self.mount_label: str | None = None  # linux.mountLabel, checked (see plan.selinux)

    def build(self) -> Plan:
        cfg = self.cfg
        if cfg.process is None:
            raise ConfigError("process", "is required to create a container")
        self._validate_namespaces()
        label = cfg.process.selinux_label
        if cfg.linux.mount_label or label:  # refused before anything else is planned
            from pyrunc.plan import selinux
            if label:
                selinux.check_label(label, "process.selinuxLabel")
            if cfg.linux.mount_label:
                selinux.check_label(cfg.linux.mount_label, "linux.mountLabel")
                self.mount_label = cfg.linux.mount_label
        enter_cgroup_ops(self.plan, cfg.process, self.cgroup_join, self.own_affinity)
        inherited_attrs(self.plan, cfg.process)
        self._namespaces()
        p = self.plan
        p.add("PDEATHSIG", SIGKILL)
        p.add("SETSID")
        if not self.no_new_keyring:
            # runc gives every container a session keyring of its own, so containers do not
            # share the host's keys (--no-new-keyring keeps the caller's).
            if label:
                selinux.keycreate_ops(p, label)
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
        ready = self.fds.number("cgroups_ready")
        if ready is not None:
            p.add("WAIT_ACK", ready)
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
            from pyrunc.host import netdev
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
        if self.dev_remount_ro is not None:
            src, fstype, flags, data = self.dev_remount_ro
            p.add("MOUNT", src, "/dev", fstype, flags, data)
        proc = self.cfg.process
        assert proc is not None
        p.add("MKDIRS", proc.cwd, 0o755)
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
            p.add("MASK", path, self._labelled(""))
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
                extra |= lockable_flags(src)
            if extra:
                p.add("MOUNT", "", dest, "", MS_REMOUNT | MS_BIND | extra, "")
        elif m.type == "cgroup":
            check_proc_mount(m, None)
            self._cgroup_mount(m, flags)
        elif copyup:
            check_proc_mount(m, None)
            # Fill the tmpfs while it is writable; a read-only one is remounted after.
            p.add("MKDIRS", dest, 0o755)
            p.add("MOUNT_TMPCOPYUP", m.source or m.type, dest, m.type, flags & ~MS_RDONLY,
                  self._labelled(data))
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
            if m.type in ("proc", "sysfs", "mqueue"):
                p.add("MOUNT", m.source or m.type, dest, m.type, flags, data)
            else:
                p.add("MOUNT", m.source or m.type, dest, m.type, flags, self._labelled(data))
            if m.type == "mqueue" and self.mount_label:
                # runc labels the mqueue root after mounting it (older kernels refused context=)
                p.add("SETXATTR", dest, "security.selinux", self.mount_label)
        for f in prop:
            p.add("PROPAGATE", dest, f)
        if aset or aclr:
            p.add("MOUNT_SETATTR", dest, AT_RECURSIVE, aset, aclr)

    def _labelled(self, data: str) -> str:
        """A new filesystem's mount data with linux.mountLabel's context option."""
        if not self.mount_label:
            return data
        from pyrunc.plan.selinux import mount_data
        return mount_data(data, self.mount_label)

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
        p.add("MOUNT", "tmpfs", dest, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              self._labelled("mode=755"))
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
                  self._labelled("mode=755"))
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
            from pyrunc.host import in_user_namespace
            bind = in_user_namespace()
        nodes = {path: (S_IFCHR | 0o666, major, minor, 0, 0)
                 for path, major, minor in DEFAULT_DEVICES}
        nodes.update(self.cfg.linux.device_nodes)
        for path, (mode, major, minor, uid, gid) in nodes.items():
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

    # -- process ----------------------------------------------------------------------------
    def _process_attrs(self, proc: Process) -> None:
        cfg, p = self.cfg, self.plan
        lx = cfg.linux
        console = self.fds.number("console")
        if proc.terminal and console is not None:
            console_ops(p, proc, console, True)
        for r in proc.rlimits:
            p.add("RLIMIT", r.resource, r.soft, r.hard)
        apparmor_ops(p, proc.apparmor_profile, "process.apparmorProfile")
        if lx.intel_rdt is not None:  # runc refuses even {}
            raise ConfigError("linux.intelRdt", unsupported_lsm("rdt"))
        if lx.personality is not None:
            p.add("PERSONALITY", lx.personality)
        sched_ops(p, proc)
        mempolicy_ops(p, lx.memory_policy)
        if proc.selinux_label:  # last before seccomp and the credential switch, as in runc
            from pyrunc.plan.selinux import exec_label_ops
            exec_label_ops(p, proc.selinux_label, "process.selinuxLabel")

    def _credentials(self, proc: Process, final: bool) -> None:
        """Capabilities, user, seccomp and exec (shared with exec: see add_credentials)."""
        add_credentials(self.plan, proc, self.seccomp, self.fds.preserve,
                        fifo=self.fds.number("fifo"), ready=final, after_start=self.after_start,
                        set_groups=self.set_groups)
