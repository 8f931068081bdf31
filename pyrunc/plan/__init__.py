"""The plan: the one contract between pyrunc (Python, decides) and pyrunc-init (C, executes).

Python turns config.json into a flat list of operations; the init reads them from a pipe and
executes them in order, taking no decisions of its own.  This docstring and ``OPS`` below are the
only definition of the format; native/build_init.py writes the C side's ``plan_ops.h`` from
them (c_header), so the two halves cannot drift apart.  The rest of the package makes plans:
plan.build turns a Config into create's plan, plan.steps holds the steps exec's plan shares
with it, plan.kernel the kernel's numbers they carry.

Wire format (all integers little-endian)::

    plan    := "PYRUNCP1" u32:count record*count
    record  := u32:op u32:argc arg*argc
    arg     := u32:len byte*len          # integers are 8-byte little-endian u64 args

The init is started as ``pyrunc-init PLANFD SYNCFD`` from a sealed memfd.  It reports on SYNCFD
with the messages of ``MESSAGES`` below, each framed with its length, so a payload may hold any
byte (a path or a hook's output with a newline stays one message)::

    message := byte:kind u32:len byte*len      # len <= MESSAGE_MAX; one write() each

``P`` (the host pid of the container process, decimal, sent by the first stage right after
CLONE), ``R`` (set-up done, sent by READY) and ``E`` (a failure as text; the init exits
non-zero).  ``e`` (``<errno> <text>``) is a failure of a system call: pyrunc words it as
"<text>: <strerror>", so messages do not depend on the libc the init is linked with.  An EOF
with no ``E`` after the last expected message means the final execve
succeeded (SYNCFD is close-on-exec in the container process).
``H`` (sent by HOOK_STATE) means the mounts are done and the init now waits for the state
record that pyrunc writes once its prestart and createRuntime hooks have run.
``N`` (``<fd>``, sent by SECCOMP when the filter has a notify listener) gives the listener's fd number
in the init; pyrunc copies it with pidfd_getfd and hands it to the agent, then (exec only)
releases the init blocked in WAIT_ACK.  create's plan has a WAIT_ACK right after CLONE too: the
container process waits there until pyrunc has set the cgroups' limits and device rules, which
it does while the first stage joins the cgroups and clones.

Stages: every operation before CLONE runs in the first stage, in the caller's namespaces; CLONE
creates the container process (a sibling of the first stage, so pyrunc is its parent) which runs
everything after it.  UID_MAP/GID_MAP/SETGROUPS placed before CLONE are written by the first stage
for the new process before it continues.  The container's cgroups are entered by the first stage
itself (CGROUP_JOIN, CGROUP_CLONE_INTO), first thing, so the container process is born inside
them and no process is ever moved by pid.  Paths marked *in-root* are resolved inside the directory
set by ROOT with openat2(RESOLVE_IN_ROOT), so no symlink in the image can send them to the host;
and a mount target that the plan names outside /proc must not resolve onto a procfs (a symlink
in the image leading a volume over /proc/sys: CVE-2025-52881), which the init refuses.  The
targets the plan names inside /proc are the ones pyrunc checked (host.probes.check_proc_mount).

The init makes itself non-dumpable before it reads its plan (PR_SET_DUMPABLE 0), so once it has
joined a container nothing there can ptrace it or open its fds; pyrunc still treats every
message on SYNCFD as untrusted (host.spawn.Init.wait_for).
"""

from pyrunc.errors import PyruncError

# (name, code, args, description). Arg kinds: s = string/bytes, u = u64, S = rest as strings.
OPS: list[tuple[str, int, str, str]] = [
    ("SETNS", 1, "us", "join the namespace of type flag u (CLONE_NEW*) at path s"),
    ("UNSHARE", 2, "u", "unshare(u): e.g. CLONE_NEWTIME, which only the children enter"),
    ("WRITE", 3, "ss", "write s2 to the existing file s1 (no create, no truncate)"),
    ("UID_MAP", 4, "s", "uid_map text for the container process (written by the first stage)"),
    ("GID_MAP", 5, "s", "gid_map text for the container process (written by the first stage)"),
    ("SETGROUPS", 6, "s", "'deny' or 'allow' into /proc/PID/setgroups before gid_map"),
    ("UID_MAP_EXEC", 72, "S", "first stage, rootless: instead of writing uid_map, run S[0] "
                              "(newuidmap) as 'S[0] PID S[1:]...' with an empty environment "
                              "for the container process PID; its failure is fatal"),
    ("GID_MAP_EXEC", 73, "S", "the same as UID_MAP_EXEC for gid_map (newgidmap)"),
    ("MAPS_DUMPABLE", 74, "", "first stage, rootless: the container process makes itself "
                              "dumpable until its id maps are written, and says so before "
                              "they are (an unprivileged first stage may not open the /proc "
                              "files of a non-dumpable process)"),
    ("CLONE", 7, "u", "create the container process with clone flags u (CLONE_NEW* bits)"),
    ("CGROUP_JOIN", 8, "s", "first stage: write '0' to the cgroup v1 `tasks` file s, moving this "
                            "single-threaded process alone, which (unlike writing a pid to "
                            "cgroup.procs) skips the kernel's global threadgroup lock and the "
                            "RCU grace period it waits for (~10 ms)"),
    ("CGROUP_CLONE_INTO", 9, "s", "first stage: open the cgroup2 directory s; CLONE then creates "
                                  "the container process inside it (clone3 CLONE_INTO_CGROUP, "
                                  "again without the global lock)"),
    ("MOUNT_RAW", 10, "sssus", "mount(src, target, fstype, flags, data) with host-visible paths"),
    ("ROOT", 11, "s", "the directory in-root paths resolve in (the rootfs, later '/')"),
    ("MKDIRS", 12, "su", "create directory s in-root and its parents, mode u"),
    ("MKFILE", 13, "su", "create empty file s in-root (parents too), mode u, if it is absent"),
    ("MOUNT", 14, "sssus", "mount(src, in-root target, fstype, flags, data); "
                           "a src starting with '/' is a host path; a bind remount refused "
                           "with EPERM is retried keeping the mount's locked flags "
                           "(nosuid, nodev, noexec, atime: a user namespace cannot clear them)"),
    ("MOUNT_SETATTR", 15, "suuu", "mount_setattr(in-root s, flags u1, attr_set u2, attr_clr u3)"),
    ("MKNOD", 16, "suuuu", "mknod in-root s with mode u1 (type|perm), dev u2; chown to u3:u4"),
    ("SYMLINK", 17, "ss", "symlink in-root s2 pointing to s1 (kept if it exists)"),
    ("PIVOT_ROOT", 18, "", "pivot_root into ROOT, detach the old root, chdir /"),
    ("MOVE_ROOT", 19, "", "for --no-pivot: move ROOT onto / and chroot into it"),
    ("MASK", 20, "ss", "cover in-root s1: a directory with a read-only tmpfs (mount data s2: "
                       "linux.mountLabel's context option, or empty), "
                       "anything else with the verified /dev/null; absent paths are skipped"),
    ("READONLY", 21, "s", "bind in-root s onto itself read-only; absent paths are skipped"),
    ("REMOUNT_RO", 22, "s", "remount in-root s (a mount point) read-only, keeping its flags"),
    ("SETHOSTNAME", 23, "s", "sethostname"),
    ("SETDOMAINNAME", 24, "s", "setdomainname"),
    ("RLIMIT", 25, "uuu", "setrlimit(resource u1, soft u2, hard u3)"),
    ("CHDIR", 26, "su", "chdir to s (inside the container's view); u=1: an early try, while "
                        "still privileged, whose EACCES or EPERM is left to the next CHDIR "
                        "with u=2; u=2: only when that early try was refused"),
    ("UMASK", 27, "u", "umask"),
    ("CAP_BOUNDING", 28, "u", "drop every capability not in bit mask u from the bounding set"),
    ("USER", 29, "uuuS", "when u3 is 1 setgroups(S as decimal gids); setresgid(u2), "
                         "setresuid(u1), keeping capabilities across the switch"),
    ("CAPS", 30, "uuuu", "capset effective u1, permitted u2, inheritable u3; raise ambient u4"),
    ("NO_NEW_PRIVS", 31, "", "prctl(PR_SET_NO_NEW_PRIVS)"),
    ("SECCOMP", 32, "us", "load BPF program s (struct sock_filter[]) with seccomp flags u"),
    ("RESOLVE_EXEC", 33, "ss", "find executable s1 using PATH s2 and remember it for EXEC"),
    ("READY", 34, "", "report R to pyrunc and close SYNCFD: set-up succeeded"),
    ("WAIT_FIFO", 35, "u", "open /proc/self/fd/u for reading (blocks until `start` opens it "
                           "to write), read its byte; on EOF wait again"),
    ("EXEC", 36, "uuS", "reset signals, close fds >= 3+u1, execve(resolved, S[:u2], S[u2:])"),
    ("SETSID", 37, "", "start a new session"),
    ("CONSOLE", 38, "uu", "open a pty from /dev/ptmx, send its master over socket fd u1 "
                          "(SCM_RIGHTS), make the slave stdio and the controlling terminal, "
                          "bind it onto /dev/console when u2 is 1"),
    ("CONSOLE_SIZE", 39, "uu", "set the terminal on stdin to u1 rows and u2 columns "
                               "(TIOCSWINSZ)"),
    ("PDEATHSIG", 40, "u", "prctl(PR_SET_PDEATHSIG, u)"),
    ("PERSONALITY", 41, "u", "personality(u)"),
    ("PROPAGATE", 43, "su", "mount(NULL, in-root s, NULL, u): a propagation change"),
    ("SESSION_KEYRING", 44, "s", "join a new session keyring named s (keyctl)"),
    ("WAIT_ACK", 45, "u", "read one byte from fd u (blocks until pyrunc writes it), close u"),
    ("PROC_WRITE", 46, "ss", "write s2 to the existing file s1 of the container's procfs: s1 "
                             "is relative to /proc, which must be the root of a procfs mount, "
                             "and is resolved beneath it crossing no mount and no magic link"),
    ("UMOUNT", 47, "su", "umount2(s, flags u), a host-visible path"),
    ("CHOWN_STDIO", 48, "u", "give fds 0-2 to uid u, keeping their group (runc's "
                             "fixStdioPermissions): skipped for /dev/null and fds already "
                             "u's; EINVAL, EPERM and EROFS leave the fd as it is"),
    ("OPEN_TREE", 49, "usu", "first stage: clone the host tree s (with its submounts when u2 "
                             "is 1) as detached mount u1, for a bind source the container's "
                             "user namespace may not reach"),
    ("CHECK_DIR", 50, "s", "refuse unless in-root s is a directory that its own name, not a "
                           "symlink, leads to (runc: procfs and sysfs go on ordinary "
                           "directories)"),
    ("MOUNT_TMPCOPYUP", 60, "sssus", "like MOUNT (a new filesystem on an in-root directory), "
                                     "then copy the directory's former contents into it"),
    ("IDMAP_TREE", 61, "ususs", "first stage: clone the host tree s1 (with its submounts when "
                                "u2 & 1) as detached mount u1, id-mapped (submounts too when "
                                "u2 & 2) through a new user namespace with uid_map s2 and "
                                "gid_map s3"),
    ("MOUNT_TREE", 62, "us", "attach detached mount u (from IDMAP_TREE or OPEN_TREE) at "
                             "in-root s"),
    ("IOPRIO", 63, "u", "ioprio_set(IOPRIO_WHO_PROCESS, 0, u)"),
    ("SCHED_ATTR", 64, "s", "sched_setattr(0, s (a packed struct sched_attr), 0)"),
    ("CPU_AFFINITY", 65, "s", "sched_setaffinity(0, s (a cpu_set_t bit mask))"),
    ("CHROOT", 66, "", "without a mount namespace of its own: chroot into ROOT, chdir /"),
    ("MEMPOLICY", 67, "uss", "set_mempolicy(mode|flags u, nodemask s1 (little-endian bits, "
                             "1024 nodes)); a failure is reported as 's2: ...'"),
    ("NETDEV_ADDR", 68, "uuuussss", "netlink RTM_NEWADDR in the container's network namespace: "
                                    "on the device of index u1, family u2, prefix length u3, "
                                    "IFA_FLAGS u4 (when not 0), IFA_LOCAL s1, IFA_ADDRESS s2, "
                                    "IFA_BROADCAST s3 (each left out when empty); a failure "
                                    "is reported as 's4: ...'"),
    ("NETDEV_UP", 69, "us", "netlink RTM_NEWLINK: set the device of index u up; a failure is "
                            "reported as 's: ...'"),
    ("HOOK_STATE", 70, "uu", "when u2 is 1 report H (pyrunc then runs its host hooks); read the "
                             "next state record (u32 length, text) from fd u1 for HOOK"),
    ("HOOK", 71, "uusS", "fork and execve hook S[0] with argv S[1:1+u2] and env S[1+u2:], the "
                         "current state record on its stdin; kill it after u1 seconds (0: no "
                         "timeout); its failure is fatal, reported as 's: ...'"),
    ("REOPEN_DEVNULL", 75, "", "after the root switch: each of fds 0-2 that is a null device "
                               "is replaced by the container's verified /dev/null opened with "
                               "the same access mode (runc's reOpenDevNull), so no fd of the "
                               "host's /dev/null stays (CRIU cannot dump a file outside the "
                               "container's mounts); no /dev/null in the container: nothing"),
    ("SETXATTR", 76, "sss", "setxattr(in-root s1, name s2, value s3) on the file s1 leads to "
                            "(linux.mountLabel on an mqueue mount: security.selinux)"),
]

# Sync messages, init -> pyrunc (name, kind byte, payload): the C side's SYNC_* constants.
MESSAGES: list[tuple[str, str, str]] = [
    ("PID", "P", "the container process' host pid, decimal (first stage, after CLONE)"),
    ("READY", "R", "empty: the set-up succeeded (READY)"),
    ("HOOKS", "H", "empty: mounts done, waiting for the state record (HOOK_STATE)"),
    ("LISTENER", "N", "the seccomp notify listener's fd number in the init, decimal (SECCOMP)"),
    ("ERROR", "E", "a failure, as text; the init exits non-zero"),
    ("ERRNO", "e", "a failed system call: its errno in decimal, a space, text; the init exits"),
]
MESSAGE_MAX = 4000  # payload bytes: with its 5-byte header, one message is one atomic pipe write

OP = {name: code for name, code, _, _ in OPS}


class PlanError(PyruncError):
    """A value that cannot be sent to the init as it is (config validation should have said
    so first, naming its JSON path; this is the last line of defence)."""


class InitFds:
    """The fds the init is started with, numbered in this one place (plans name them by number).

    0-2 are stdio; 3 to 3+preserve-1 the caller's preserved fds (--preserve-fds, and what
    socket activation passes on); then the plan pipe and the sync pipe, the init's two
    arguments; then the control fds, in the order of CREATE or EXEC below, each present only
    when reserved.  Numbers come first: the plan is built before anything is opened, so a
    config error leaves nothing behind; the host fds are placed later, and spawn_init dup2s
    them onto their numbers.
    """

    CREATE = ("fifo", "console", "hook_state", "cgroups_ready")  # create's control fds
    EXEC = ("console", "notify_ack")  # exec's

    __slots__ = ("preserve", "names", "host")

    def __init__(self, preserve: int, names: list[str]) -> None:
        self.preserve = preserve
        self.names = names  # the control fds, in their order
        self.host: dict[str, int] = {}

    @classmethod
    def create(cls, preserve: int, console: bool, hook_state: bool) -> "InitFds":
        want = {"fifo", "cgroups_ready"} | ({"console"} if console else set()) | \
            ({"hook_state"} if hook_state else set())
        return cls(preserve, [n for n in cls.CREATE if n in want])

    @classmethod
    def exec(cls, preserve: int, console: bool, notify_ack: bool) -> "InitFds":
        want = ({"console"} if console else set()) | ({"notify_ack"} if notify_ack else set())
        return cls(preserve, [n for n in cls.EXEC if n in want])

    @property
    def plan_fd(self) -> int:
        return 3 + self.preserve  # the sync pipe follows it

    def number(self, name: str) -> int | None:
        """The fd ``name`` will be in the init, None when it was not reserved."""
        return self.plan_fd + 2 + self.names.index(name) if name in self.names else None

    def place(self, name: str, fd: int) -> None:
        """The host fd that becomes control fd ``name`` in the init."""
        self.host[name] = fd

    def placed(self) -> list[int]:
        """The host fds of the control fds, in their order: every reserved one is placed."""
        missing = [n for n in self.names if n not in self.host]
        if missing:
            raise PlanError(f"init fds reserved but never placed: {', '.join(missing)}")
        return [self.host[n] for n in self.names]


MAGIC = b"PYRUNCP1"


def _pack_u32(n: int) -> bytes:  # int.to_bytes, not struct: _struct costs 0.1 ms to import
    return n.to_bytes(4, "little")


def _pack_u64(n: int) -> bytes:
    return n.to_bytes(8, "little")


def _u32(data: bytes, pos: int) -> int:
    return int.from_bytes(data[pos:pos + 4], "little")


class Plan:
    """An ordered list of operations; ``encode()`` gives the bytes sent to the init."""

    __slots__ = ("records",)

    def __init__(self) -> None:
        self.records: list[tuple[str, tuple]] = []

    def add(self, op: str, *args: object) -> None:
        self.records.append((op, args))

    def names(self) -> list[str]:
        return [op for op, _ in self.records]

    def encode(self) -> bytes:
        out = [MAGIC, _pack_u32(len(self.records))]
        for op, args in self.records:
            out.append(_pack_u32(OP[op]))
            out.append(_pack_u32(len(args)))
            for a in args:
                if isinstance(a, int):
                    b = _pack_u64(a & 0xFFFFFFFFFFFFFFFF)
                elif isinstance(a, str):
                    if "\0" in a:  # the init's copy would end there: never send a cut string
                        raise PlanError(f"{op}: {a[:a.index(chr(0))]!r}... contains a NUL byte")
                    try:
                        b = a.encode("utf-8", "surrogateescape")
                    except UnicodeEncodeError:
                        raise PlanError(f"{op}: {a!r} is not valid text") from None
                else:
                    b = bytes(a)  # type: ignore[arg-type]
                out.append(_pack_u32(len(b)))
                out.append(b)
        return b"".join(out)


def decode(data: bytes) -> list[tuple[str, list[bytes]]]:
    """Parse plan bytes back into (op name, raw args): the tests' view of what the init reads."""
    if data[:8] != MAGIC:
        raise ValueError("bad plan magic")
    names = {code: name for name, code, _, _ in OPS}
    count = _u32(data, 8)
    pos = 12
    out = []
    for _ in range(count):
        op, argc = _u32(data, pos), _u32(data, pos + 4)
        pos += 8
        args = []
        for _ in range(argc):
            n = _u32(data, pos)
            pos += 4
            args.append(data[pos:pos + n])
            pos += n
        out.append((names[op], args))
    if pos != len(data):
        raise ValueError("trailing bytes after plan")
    return out


def message(kind: str, text: str | bytes) -> bytes:
    """One framed sync message, as the init writes it (for the tests' side of the pipe)."""
    payload = text.encode() if isinstance(text, str) else text
    return kind.encode() + _pack_u32(len(payload)) + payload


def messages(data: bytes) -> list[tuple[str, bytes]]:
    """Split what the init wrote on SYNCFD into (kind, payload): the tests' view of it."""
    out, pos = [], 0
    while pos < len(data):
        n = _u32(data, pos + 1)
        out.append((chr(data[pos]), data[pos + 5:pos + 5 + n]))
        pos += 5 + n
    if pos != len(data):
        raise ValueError("a cut sync message")
    return out


def c_header() -> str:
    """plan_ops.h for the init: the op codes and argument shapes from OPS, the sync message
    kinds from MESSAGES, and the one limit both sides count (MAX_TREES)."""
    from pyrunc.plan.kernel import MAX_TREES
    lines = ["/* Generated by native/build_init.py from pyrunc.plan (c_header). */",
             "#pragma once", f'#define PLAN_MAGIC "{MAGIC.decode()}"',
             f"#define SYNC_MESSAGE_MAX {MESSAGE_MAX}", f"#define MAX_TREES {MAX_TREES}"]
    for name, kind, doc in MESSAGES:
        lines.append(f"#define SYNC_{name} '{kind}' /* {doc} */")
    lines.append("enum plan_op {")
    for name, code, args, doc in OPS:
        lines.append(f"    OP_{name} = {code}, /* ({args}) {doc} */")
    lines.append("};")
    lines.append("static const struct { int op; const char *name; const char *args; } "
                 "plan_op_table[] = {")
    for name, code, args, _ in OPS:
        lines.append(f'    {{ {code}, "{name}", "{args}" }},')
    lines.append("};")
    return "\n".join(lines) + "\n"

