"""Container state on disk: ROOT/ID/state and ROOT/ID/init, the exec fifo, and the lock.

The directory is created with mkdir, so of concurrent creates of one id exactly one wins; every
operation holds an flock on the directory, so operations on one id are serialised; the state file
is replaced atomically (write to a temporary name, then rename; no fsync: the state only matters
while the machine is up, and /run is a tmpfs on most hosts, though not on this one).
The init's identity is its pid *and* its start time, so a recycled pid is never mistaken for it;
create writes them once the init exists, to ROOT/ID/init (see State.save_init).

The state file is pyrunc's own record, read by pyrunc alone (as runc's state.json is runc's):
a dict of str, int, list and dict (State.to_dict) in marshal's format, which the interpreter
reads without loading a module.  As JSON it would cost each start, kill and delete 0.35 ms more
(jsonio's import and its first loads, which builds the scanner; `make bench`, "speed tricks",
measures it): more than the 0.2 ms a file a person can read is worth.  `pyrunc state` prints
the runtime-spec's JSON; `python3 -c 'import marshal,sys; print(marshal.load(sys.stdin.buffer))'
< ROOT/ID/state` shows the file.
"""

from pyrunc import fastos as os  # os without its import cost (see fastos)
import marshal
import time

from pyrunc import OCI_VERSION
from pyrunc.errors import PyruncError

STATE_FILE = "state"
INIT_FILE = "init"  # "<pid> <start time>", written once when the init exists (State.save_init)
LEGACY_STATE_FILE = "state.json"
FIFO = "exec.fifo"


class NotFound(PyruncError):
    pass


def check_id(cid: str) -> None:
    """runc's rule: ^[\\w+-\\.]+$, and not . or .."""
    if not cid:
        raise PyruncError("container id cannot be empty")
    ok = cid not in (".", "..") and all(c.isalnum() and c.isascii() or c in "_+-." for c in cid)
    if not ok:
        raise PyruncError(f"invalid container id format: {cid}")


def rfc3339_nano(ns: int) -> str:
    """Go's time.RFC3339Nano in UTC: trailing zeros of the fraction are dropped."""
    sec, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    if frac:
        base += "." + f"{frac:09d}".rstrip("0")
    return base + "Z"


def proc_stat(pid: int | str) -> list[bytes]:
    """The fields of /proc/PID/stat from the third (state) on: the command name before them
    may hold spaces and parentheses.  OSError if there is no such process."""
    return stat_fields(os.read_file(f"/proc/{pid}/stat"))


def stat_fields(data: bytes) -> list[bytes]:
    """The fields of a /proc/PID/stat text from the third on (see proc_stat)."""
    return data[data.rindex(b")") + 2:].split()


def proc_start_time(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of a live process, or None."""
    try:
        rest = proc_stat(pid)
    except OSError:
        return None
    return rest[0].decode(), int(rest[19])


class State:
    """What pyrunc remembers of one container between CLI calls."""

    __slots__ = ("id", "dir", "pid", "start_time", "bundle", "rootfs", "created", "owner",
                 "annotations", "cgroup", "config", "lock_fd", "oci_version")

    def __init__(self, cid: str, directory: str) -> None:
        self.id = cid
        self.dir = directory
        self.pid = 0
        self.start_time = 0
        self.bundle = ""
        self.rootfs = ""
        self.created = ""
        self.owner = ""
        self.annotations: dict[str, str] = {}
        self.cgroup: dict | None = None
        self.config: dict = {}  # the parts of config.json later commands need
        self.lock_fd = -1
        self.oci_version = ""

    # -- paths --------------------------------------------------------------------------
    @property
    def fifo_path(self) -> str:
        return os.path.join(self.dir, FIFO)

    # -- status ---------------------------------------------------------------------------
    def init_alive(self) -> bool:
        if not self.pid:
            return False
        st = proc_start_time(self.pid)
        return st is not None and st[1] == self.start_time and st[0] not in ("Z", "X")

    def open_root(self) -> int:
        """An O_PATH fd of the container's root directory as its init sees it (its mount
        namespace and pivot_root included), through /proc/PID/root.  The /proc/PID directory
        is opened first and the process behind it checked to be the init (its start time):
        that fd stays bound to that process, so a pid reused meanwhile cannot lend its root.
        OSError when the init is gone."""
        return self.open_proc("root", os.O_PATH | os.O_DIRECTORY)

    def open_proc(self, name: str, flags: int) -> int:
        """An fd of /proc/PID/``name`` of the init, checked as open_root explains."""
        d = os.open(f"/proc/{self.pid}", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fd = os.open("stat", os.O_RDONLY | os.O_CLOEXEC, dir_fd=d)
            try:
                data = os.read(fd, 4096)
            finally:
                os.close(fd)
            if not self.pid or int(stat_fields(data)[19]) != self.start_time:
                raise ProcessLookupError(3, "the container's init is gone")
            return os.open(name, flags | os.O_CLOEXEC, dir_fd=d)
        finally:
            os.close(d)

    def own_pid_namespace(self) -> bool:
        """Whether the container has a new pid namespace of its own (see commands/create.py); a
        state written before this was recorded says only whether it had a pid namespace."""
        c = self.config or {}
        own = c.get("own_pidns")
        return bool(own) if own is not None else "pid" in (c.get("namespaces") or ())

    def status(self) -> str:
        if not self.init_alive():
            return "stopped"
        if self.cgroup and self._frozen():
            return "paused"  # runc: a created container that was paused is paused
        if os.path.exists(self.fifo_path) and self._init_waiting():
            return "created"
        return "running"

    def _init_waiting(self) -> bool:
        """The init still runs from its memfd (a fifo left by a killed `start` says nothing)."""
        try:
            return os.readlink(f"/proc/{self.pid}/exe").startswith("/memfd:pyrunc-init")
        except OSError:
            return True  # cannot tell: trust the fifo

    def _frozen(self) -> bool:
        """From the freezer file create recorded: the cgroups package costs 0.2 ms to import,
        and state/start/kill need nothing else of it."""
        try:
            f = (self.cgroup or {}).get("freezer")
            if f is None:  # a state written before the freezer file was recorded
                from pyrunc.cgroups import Cgroup
                return Cgroup.from_json(self.cgroup).frozen()  # type: ignore[arg-type]
            return os.read_file(f[0]).decode().strip() == f[1]
        except OSError:
            return False

    def oci_state(self) -> dict:
        """The runtime-spec state, with runc's extra fields (rootfs, created, owner)."""
        status = self.status()
        return {
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "pid": self.pid if status != "stopped" else 0,
            "status": status,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
            **({"annotations": self.annotations} if self.annotations else {}),
        }

    def spec_state(self) -> dict:
        """The state as the runtime-spec defines it, for hooks' stdin."""
        status = self.status()
        d = {"ociVersion": OCI_VERSION, "id": self.id, "status": status,
             "bundle": self.bundle}
        if status != "stopped":
            d["pid"] = self.pid
        if self.annotations:
            d["annotations"] = self.annotations
        return d

    # -- persistence -------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"id": self.id, "pid": self.pid, "start_time": self.start_time,
                "bundle": self.bundle, "rootfs": self.rootfs, "created": self.created,
                "owner": self.owner, "annotations": self.annotations, "cgroup": self.cgroup,
                "config": self.config, "ociVersion": self.oci_version}

    def save(self) -> None:
        tmp = os.path.join(self.dir, ".state.tmp")
        data = marshal.dumps(self.to_dict())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.rename(tmp, os.path.join(self.dir, STATE_FILE))

    def save_init(self) -> None:
        """Record the init's pid and start time, in a file of their own written once.

        Saving the whole state again would rename a new file over the old one, and ext4 then
        allocates and writes the new file's blocks at once (auto_da_alloc), which makes its
        removal in `delete` cost ~0.15 ms.  One write of a new file: a reader sees it empty
        (no init yet) or whole."""
        fd = os.open(os.path.join(self.dir, INIT_FILE),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, f"{self.pid} {self.start_time}".encode())
        finally:
            os.close(fd)

    def _load(self) -> bool:
        try:
            d = marshal.loads(os.read_file(os.path.join(self.dir, STATE_FILE)))
        except FileNotFoundError:
            d = self._load_json()
            if d is None:
                return False
        except (ValueError, EOFError, TypeError):  # not a state pyrunc wrote
            return False
        if not isinstance(d, dict):
            return False
        self.pid = d.get("pid", 0)
        self.start_time = d.get("start_time", 0)
        self.bundle = d.get("bundle", "")
        self.rootfs = d.get("rootfs", "")
        self.created = d.get("created", "")
        self.owner = d.get("owner", "")
        self.annotations = d.get("annotations") or {}
        self.cgroup = d.get("cgroup")
        self.config = d.get("config") or {}
        self.oci_version = d.get("ociVersion", "")
        try:
            init = os.read_file(os.path.join(self.dir, INIT_FILE)).split()
        except FileNotFoundError:
            return True
        if len(init) == 2 and init[0].isdigit() and init[1].isdigit():
            self.pid, self.start_time = int(init[0]), int(init[1])
        return True

    def _load_json(self) -> object:
        """The state.json of a container created before the state file was marshal (0.1.0 up
        to November 2026), so that `delete` still cleans up what such a container holds."""
        try:
            with open(os.path.join(self.dir, LEGACY_STATE_FILE), "rb") as f:
                from pyrunc import jsonio
                return jsonio.loads(f.read())
        except (OSError, ValueError):
            return None

    def release(self) -> None:
        if self.lock_fd >= 0:
            os.close(self.lock_fd)
            self.lock_fd = -1

    def remove(self) -> None:
        """Delete the state directory (the caller holds the lock)."""
        for name in os.listdir(self.dir):
            path = os.path.join(self.dir, name)
            try:
                os.unlink(path)
            except IsADirectoryError:  # unlink never follows a symlink: this is a directory
                import shutil
                shutil.rmtree(path, ignore_errors=True)
            except FileNotFoundError:
                pass
        try:
            os.rmdir(self.dir)
        except FileNotFoundError:
            pass


class Store:
    """The state root (--root), holding one directory per container."""

    def __init__(self, root: str) -> None:
        self.root = root

    def _lock(self, st: State) -> None:
        fd = os.open(st.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        import fcntl  # here: `state` and `list` read without the lock, and fcntl is a .so
        fcntl.flock(fd, fcntl.LOCK_EX)
        st.lock_fd = fd

    def new(self, cid: str) -> State:
        """Claim the id for a new container (locked); fail if it exists.  The root is made
        0700, as runc makes it: a container's state (its config, its init's pid) is no other
        user's business, and a rootless user's root is in their own $XDG_RUNTIME_DIR."""
        check_id(cid)
        try:
            os.makedirs(self.root, 0o700, exist_ok=True)
        except OSError as e:
            raise PyruncError(f"mkdir {self.root}: {e.strerror}") from None
        st = State(cid, os.path.join(self.root, cid))
        try:
            os.mkdir(st.dir, 0o711)
        except FileExistsError:
            raise PyruncError(f"container with id exists: {cid}") from None
        self._lock(st)
        return st

    def load(self, cid: str, lock: bool = True, partial_ok: bool = False) -> State:
        """The container's state (locked unless lock=False); NotFound if there is none."""
        check_id(cid)
        st = State(cid, os.path.join(self.root, cid))
        if lock:
            try:
                self._lock(st)
            except (FileNotFoundError, NotADirectoryError):
                raise NotFound("container does not exist") from None
        if not st._load():
            if partial_ok and os.path.isdir(st.dir):
                return st
            st.release()
            raise NotFound("container does not exist")
        return st

    def ids(self) -> list[str]:
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if os.path.isfile(os.path.join(self.root, n, STATE_FILE))
                      or os.path.isfile(os.path.join(self.root, n, LEGACY_STATE_FILE)))
