"""The container's cgroups, cgroupfs driver: v1, v2 (unified) and hybrid hosts.

Hot path: create is the one hot command that imports this package (delete rmdirs without it,
see state.py), so this module holds what create needs, imports only os and errno, and nothing
else: freezing and signalling all (freezer.py: pause, resume, kill --all), removal (remove.py),
resource limits, stats, OOM events and the v2 device program live in sibling modules that are
imported only when a command needs them.

A ``Cgroup`` is the set of directories, one per mounted hierarchy, that make up one container's
cgroup.  ``paths`` maps a hierarchy key to its directory: the controller list of a v1 hierarchy as
/proc/self/cgroup spells it (``"cpu"``, ``"cpu,cpuacct"``, ``"name=systemd"``) and ``""`` for the
cgroup2 (unified) hierarchy, whether it is the only one (v2) or mounted beside v1 ones (hybrid).
"""

import errno
from pyrunc import fastos as os  # os without its import cost (see fastos)

from pyrunc.errors import PyruncError

V1 = "v1"
V2 = "v2"
HYBRID = "hybrid"


def clean_path(path: str) -> str:
    """runc's CleanPath: normalise; a relative path never climbs above its base with ``..``."""
    if not path:
        return ""
    absolute = path.startswith("/")
    parts: list[str] = []
    for p in path.split("/"):
        if p in ("", "."):
            continue
        if p == "..":
            if parts:
                parts.pop()
            continue
        parts.append(p)
    joined = "/".join(parts)
    return "/" + joined if absolute else joined


def _join(*parts: str) -> str:
    """Join path pieces where later absolute pieces do NOT reset the path (cgroup paths nest)."""
    out = parts[0].rstrip("/") or "/"
    for p in parts[1:]:
        p = p.strip("/")
        if p:
            out = out + "/" + p if out != "/" else "/" + p
    return out


def read_proc_cgroup(pid: int | str = "self") -> dict[str, str]:
    """Map each hierarchy key of /proc/PID/cgroup (``""`` for cgroup2) to the process's path in it."""
    own: dict[str, str] = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            _hid, ctrls, path = line.split(":", 2)
            own[ctrls] = path
    return own


def mounted_hierarchies() -> tuple[list[tuple[frozenset[str], str, str]], tuple[str, str] | None]:
    """Read /proc/self/mountinfo: the v1 cgroup mounts and the cgroup2 one.

    Returns ``([(super_options, mountpoint, mount_root), ...], (mountpoint, mount_root) or None)``.
    A v1 hierarchy is matched to its /proc/self/cgroup line by its controllers being among the
    super options (``rw,cpu,cpuacct``, ``rw,name=systemd``).  The first mount of a hierarchy
    wins: the kernel lists the original mounts before bind mounts of them.
    """
    from pyrunc.host import mountinfo
    v1: list[tuple[frozenset[str], str, str]] = []
    unified = None
    for m in mountinfo.read():
        if m.fstype == "cgroup2":
            if unified is None:
                unified = (m.mountpoint, m.root)
        elif m.fstype == "cgroup":
            v1.append((frozenset(m.super_options.split(",")), m.mountpoint, m.root))
    return v1, unified


def _find_v1_mount(v1: list[tuple[frozenset[str], str, str]], key: str) -> tuple[str, str] | None:
    want = set(key.split(","))
    for opts, mnt, root in v1:
        if want <= opts:
            return mnt, root
    return None


def _rel_to_mount(own: str, mount_root: str) -> str:
    """The process's cgroup path relative to where the hierarchy is mounted (non-/ in containers)."""
    if mount_root != "/" and (own == mount_root or own.startswith(mount_root + "/")):
        return own[len(mount_root):] or "/"
    return own


def resolve_paths(inner: str, v1: list[tuple[frozenset[str], str, str]],
                  unified: tuple[str, str] | None, own: dict[str, str]
                  ) -> tuple[str, dict[str, str]]:
    """(mode, {hierarchy key: directory}) for a cleaned cgroup path; see Cgroup.resolve.

    Pure: v1 and unified are what mounted_hierarchies() returns, own what read_proc_cgroup()
    returns, so every host layout can be tested from any host.
    """
    paths: dict[str, str] = {}
    for key, ownpath in own.items():
        if key == "":
            continue
        m = _find_v1_mount(v1, key)
        if m is None:
            continue  # the hierarchy exists but is not mounted here: nothing to join
        mnt, mroot = m
        if inner.startswith("/"):
            paths[key] = _join(mnt, inner)
        else:
            paths[key] = _join(mnt, _rel_to_mount(ownpath, mroot), inner)
    if unified is not None:
        mnt, mroot = unified
        if inner.startswith("/"):
            paths[""] = _join(mnt, inner)
        else:
            base = _rel_to_mount(own.get("", "/"), mroot)
            if not paths:  # pure v2: runc's fs2 uses the parent of our own cgroup
                base = base.rsplit("/", 1)[0] or "/"
            paths[""] = _join(mnt, base, inner)
    if not paths:
        raise PyruncError("no cgroup hierarchy is mounted")
    mode = V2 if list(paths) == [""] else (HYBRID if "" in paths else V1)
    return mode, paths


class Cgroup:
    """One container's cgroup in every mounted hierarchy (see the module docstring)."""

    def __init__(self, mode: str, paths: dict[str, str]) -> None:
        self.mode = mode
        self.paths = paths
        self.mountpoints: list[str] | None = None  # the hierarchies' mount points, once read
        self.unit: str | None = None  # the systemd unit that owns it (cgroups/systemd.py)
        self.slice: str | None = None
        self.user_bus = False  # the unit is the user's own systemd instance's (rootless)
        self.started = False  # this process started the unit

    # ---- construction -------------------------------------------------------------------------

    @classmethod
    def resolve(cls, cgroups_path: str | None, container_id: str) -> "Cgroup":
        """Find where the container's cgroup lives in each hierarchy, as runc's cgroupfs driver does.

        - absolute ``linux.cgroupsPath``: that path under every hierarchy's mount point;
        - relative: relative to this runtime's own cgroup in each hierarchy (on a pure v2 host,
          relative to the PARENT of our own cgroup, like runc, since our own cgroup holds processes
          and so can enable no controllers for children);
        - absent: the container id, taken as a relative path.
        Nothing is created here.
        """
        inner = clean_path(cgroups_path or "") or clean_path(container_id)
        if not inner:
            raise PyruncError("cgroup path is empty")
        hierarchies, own = mounted_hierarchies(), read_proc_cgroup()
        mode, paths = resolve_paths(inner, *hierarchies, own)
        cg = cls(mode, paths)
        cg.check_not_ours(hierarchies, own)
        cg.mountpoints = _mountpoints(hierarchies)  # create() needs them: no second read
        return cg

    def check_not_ours(self, hierarchies=None, own: dict[str, str] | None = None) -> None:
        """Refuse a cgroup that holds this runtime (a hierarchy root, our own cgroup or one of
        its ancestors): killing "everything left in it" would kill the host's processes.
        ``hierarchies`` and ``own`` spare a caller that has just read them a second read."""
        mounts = _mountpoints(hierarchies)
        if own is None:
            own = read_proc_cgroup()
        for key, p in self.paths.items():
            if p.rstrip("/") in [m.rstrip("/") for m in mounts]:
                raise PyruncError(f"cgroup path {p} is a hierarchy root; refusing to use it")
            ownp = own.get(key)
            if ownp is None:
                continue
            mnt = _mountpoint_of(p, mounts)
            mine = _join(mnt, ownp)
            if mine == p or mine.startswith(p.rstrip("/") + "/"):
                raise PyruncError(f"cgroup path {p} holds the runtime itself; refusing to use it")

    def to_json(self) -> dict:
        """What the state file keeps, so later commands find the same directories; "freezer" lets
        `state` tell paused from running without importing this package (see freezer_file)."""
        f = self.freezer_file()
        return {"mode": self.mode, "paths": dict(self.paths),
                **({"freezer": list(f)} if f else {}),
                **({"unit": self.unit, "slice": self.slice} if self.unit else {}),
                **({"user": True} if self.user_bus else {})}

    @classmethod
    def from_json(cls, d: dict) -> "Cgroup":
        cg = cls(d["mode"], dict(d["paths"]))
        cg.unit, cg.slice = d.get("unit"), d.get("slice")
        cg.user_bus = bool(d.get("user"))
        return cg

    def __repr__(self) -> str:
        return f"Cgroup({self.mode!r}, {self.paths!r})"

    # ---- lookup -------------------------------------------------------------------------------

    def path(self, controller: str) -> str | None:
        """Directory of the hierarchy holding ``controller`` (``""`` = unified), or None."""
        p = self.paths.get(controller)
        if p is not None:
            return p
        for key, p in self.paths.items():
            if key and controller in key.split(","):
                return p
        return None

    def v2_mountpoint(self) -> str | None:
        """The cgroup2 mount point on a pure v2 host, else None."""
        if self.mode != V2 or "" not in self.paths:
            return None
        return _mountpoint_of(self.paths[""], self.mountpoints or _mountpoints())

    def _dirs(self) -> list[str]:
        """Each distinct directory once (co-mounted controllers share one)."""
        seen: list[str] = []
        for p in self.paths.values():
            if p not in seen:
                seen.append(p)
        return seen

    # ---- lifecycle ----------------------------------------------------------------------------

    def create(self) -> None:
        """mkdir the cgroup in every hierarchy.

        v1 cpuset refuses tasks while cpuset.cpus/mems are empty, and new cpusets start empty, so
        each level we create copies them from its parent.  On v2 every level above the leaf gets
        the controllers it offers enabled for its children (runc's fs2 does the same).
        """
        try:
            self.create_one(self.mountpoints)
        except OSError as e:
            raise PyruncError(f"cannot create cgroup {e.filename or '?'}: {e.strerror}") from None

    def create_rootless(self, named: bool, resources: dict | None) -> None:
        """create() for a rootless container (rootless.create_rootless)."""
        from pyrunc.cgroups import rootless
        rootless.create_rootless(self, named, resources)

    def create_one(self, mounts: list[str] | None) -> None:
        """mkdir the cgroup in each hierarchy of ``paths``; OSError as the kernel says it."""
        mounts = mounts or _mountpoints()
        for key, p in self.paths.items():
            mnt = _mountpoint_of(p, mounts)
            if key == "" and self.mode == V2:
                _enable_v2_controllers(mnt, p)
            if key and "cpuset" in key.split(","):
                _mkdir_cpuset(mnt, p)
            else:
                os.makedirs(p, exist_ok=True)

    def join_ops(self, move_self: bool = False) -> list[tuple[str, str]]:
        """How the init's first stage enters the cgroup itself (plan ops CGROUP_JOIN and
        CGROUP_CLONE_INTO): it writes "0" to each v1 `tasks` file, and is cloned into the cgroup2
        directory.  Neither takes the kernel's global threadgroup lock, whose first write of a
        pid to cgroup.procs waits ~10 ms for an RCU grace period (runc pays it on every create).

        ``move_self``: the first stage moves itself into the cgroup2 directory too ("0" to its
        cgroup.procs), for an exec that then joins the container's cgroup namespace: on an
        nsdelegate cgroup2 (every systemd host) a process may only be cloned into a cgroup
        that is inside its cgroup namespace, and the first stage's own cgroup would not be."""
        ops = []
        for key, p in self.paths.items():
            if key == "":
                op = ("CGROUP_JOIN", p + "/cgroup.procs") if move_self else \
                    ("CGROUP_CLONE_INTO", p)
            else:
                op = ("CGROUP_JOIN", p + "/tasks")
            if op not in ops:
                ops.append(op)
        return ops

    def movable_here(self) -> "Cgroup":
        """The hierarchies a rootless exec may move itself into (rootless.movable_here)."""
        from pyrunc.cgroups import rootless
        return rootless.movable_here(self)

    def add(self, pid: int) -> None:
        """Move ``pid`` into the cgroup in every hierarchy (before any user code runs)."""
        data = str(pid)
        for p in self._dirs():
            try:
                _write(p + "/cgroup.procs", data)
            except OSError as e:
                raise PyruncError(f"cannot add pid {pid} to cgroup {p}: {e.strerror}") from None

    def pids(self) -> list[int]:
        """Every process in the container's cgroup or its sub-cgroups, from any hierarchy.

        The union over hierarchies: a process that left one hierarchy is still the container's.
        """
        found: set[int] = set()
        for p in self._dirs():
            _collect_pids(p, found)
        return sorted(found)

    def signal_all(self, sig: int, pid_ns: tuple[int, int] | None = None) -> None:
        """Send ``sig`` to every process, frozen meanwhile (freezer.signal_all)."""
        from pyrunc.cgroups import freezer
        freezer.signal_all(self, sig, pid_ns)

    def destroy(self, timeout: float = 10.0) -> None:
        """Kill whatever is left and remove the directories (remove.destroy)."""
        from pyrunc.cgroups import remove
        remove.destroy(self, timeout)

    def remove_leaving_foreign(self, timeout: float = 10.0) -> None:
        """Remove the directories, signalling nothing (remove.remove_leaving_foreign)."""
        from pyrunc.cgroups import remove
        remove.remove_leaving_foreign(self, timeout)

    # ---- freezer ------------------------------------------------------------------------------

    def _freezer(self) -> tuple[str, str] | None:
        """("v1", dir) for a v1 freezer hierarchy, ("v2", dir) for cgroup.freeze, else None."""
        p = self.path("freezer")
        if p is not None:
            return V1, p
        u = self.paths.get("")
        if u is not None:
            return V2, u
        return None

    def freeze(self) -> None:
        """Freeze every process (pause) and return once the kernel says they are frozen."""
        self._set_frozen(True)

    def thaw(self) -> None:
        """Let frozen processes run again (resume)."""
        self._set_frozen(False)

    def freezer_file(self) -> tuple[str, str] | None:
        """(file, content when frozen): v1 freezer.state, or cgroup2's cgroup.freeze."""
        f = self._freezer()
        if f is None:
            return None
        kind, p = f
        return (p + "/freezer.state", "FROZEN") if kind == V1 else (p + "/cgroup.freeze", "1")

    def frozen(self) -> bool:
        f = self.freezer_file()
        try:
            return f is not None and _read(f[0]).strip() == f[1]
        except FileNotFoundError:
            return False

    def _set_frozen(self, on: bool) -> None:
        from pyrunc.cgroups import freezer
        freezer.set_frozen(self, on)

    # ---- resources, stats, events (off the hot path: imported lazily) -------------------------

    def apply(self, resources: dict | None, path: str = "linux.resources",
              linux_devices: list | None = None, rootless: bool = False) -> None:
        """Set linux.resources (and the device rules) on a freshly created cgroup: writes.apply."""
        from pyrunc.cgroups import writes
        writes.apply(self, resources, path, linux_devices, rootless)

    def update(self, resources: dict, path: str = "resources") -> None:
        """Change live limits of a running container (runc update)."""
        from pyrunc.cgroups import resources as _r

        if self.unit:  # systemd's properties first, then the files, as runc's systemd driver
            from pyrunc.cgroups import systemd
            _r.update(self, resources, path, before_writes=lambda: systemd.set_properties(
                self, resources))
            return
        _r.update(self, resources, path)

    def stats(self) -> dict:
        """runc events --stats "data" object: cpu, memory, pids, blkio, hugetlb."""
        from pyrunc.cgroups import stats as _s

        return _s.stats(self)


# ---- small file helpers (shared with sibling modules) -------------------------------------------

def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, data: str) -> None:
    """One write(2) of data: cgroup files act on each write, so never buffer or split."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


def _exists(path: str) -> bool:
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _mountpoints(hierarchies=None) -> list[str]:
    """Every cgroup hierarchy's mount point (from ``hierarchies``, or read now)."""
    v1, unified = hierarchies or mounted_hierarchies()
    return [m for _o, m, _r in v1] + ([unified[0]] if unified else [])


def _mountpoint_of(p: str, mounts: list[str]) -> str:
    """The mount point of the hierarchy holding directory p (its longest mounted prefix)."""
    best = ""
    for mnt in mounts:
        if (p == mnt or p.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
            best = mnt
    return best or "/"


def _levels(mnt: str, p: str) -> list[str]:
    """Directories from just below the mount point down to p."""
    rel = p[len(mnt.rstrip("/")):].strip("/")
    out = []
    cur = mnt.rstrip("/")
    for part in rel.split("/") if rel else []:
        cur = cur + "/" + part
        out.append(cur)
    return out


def _mkdir_cpuset(mnt: str, p: str) -> None:
    """mkdir each level of a v1 cpuset path, filling empty cpus/mems from the parent."""
    parent = mnt.rstrip("/")
    for d in _levels(mnt, p):
        try:
            os.mkdir(d)
        except FileExistsError:
            pass
        for f in ("cpuset.cpus", "cpuset.mems"):
            try:
                if not _read(f"{d}/{f}").strip():
                    _write(f"{d}/{f}", _read(f"{parent}/{f}").strip() or "\n")
            except FileNotFoundError:
                pass  # cpuset mounted with noprefix or the like: leave it to the kernel
        parent = d


def _enable_v2_controllers(mnt: str, p: str) -> None:
    """mkdir each level of a v2 path and enable, above the leaf, every controller on offer."""
    levels = [mnt.rstrip("/") or "/"] + _levels(mnt, p)
    # Never change the cgroup we run in: it holds processes, so only the root could enable
    # anything there, and the root's settings belong to the host.
    own = _join(mnt, read_proc_cgroup().get("", "/"))
    for i, d in enumerate(levels):
        if i:
            try:
                os.mkdir(d)
            except FileExistsError:
                pass
        if d == p:
            break
        if d == own:
            continue
        try:
            avail = _read(d + "/cgroup.controllers").split()
            on = set(_read(d + "/cgroup.subtree_control").split())
        except FileNotFoundError:
            continue
        missing = [c for c in avail if c not in on]
        if not missing:
            continue
        try:
            _write(d + "/cgroup.subtree_control", " ".join("+" + c for c in missing))
        except OSError:
            for c in missing:  # one at a time: enable what can be, as runc does
                try:
                    _write(d + "/cgroup.subtree_control", "+" + c)
                except OSError:
                    pass


def _collect_pids(p: str, found: set[int]) -> None:
    try:
        data = _read(p + "/cgroup.procs")
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as e:
        if e.errno in (errno.ENODEV, errno.EOPNOTSUPP):
            return
        raise
    for s in data.split():
        found.add(int(s))
    try:
        it = os.scandir(p)
    except FileNotFoundError:
        return
    with it:
        for ent in it:
            if ent.is_dir(follow_symlinks=False):
                _collect_pids(ent.path, found)


def pid_namespace(pid: int | str) -> tuple[int, int] | None:
    """(st_dev, st_ino) of a process' pid namespace, None when it is gone."""
    try:
        st = os.stat(f"/proc/{pid}/ns/pid")
    except OSError:
        return None
    return st.st_dev, st.st_ino
