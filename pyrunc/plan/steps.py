"""Plan steps both plans need, create's (plan.build.Planner) and exec's (commands.exec): the
cgroup joins and inherited attributes first, then the console, AppArmor, scheduling and
memory policy, and last the credential switch and the exec, in the order the kernel allows.
"""

from pyrunc import fastos as os  # os without its import cost (see fastos)

from pyrunc.config import caps
from pyrunc.config.process import Process
from pyrunc.errors import ConfigError
from pyrunc.host.probes import APPARMOR_PROFILES, apparmor_enabled, rootless_euid, unsupported_lsm
from pyrunc.plan import Plan
from pyrunc.plan.kernel import CHDIR_EARLY, CHDIR_IF_REFUSED, DEFAULT_PATH

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
    starts the first stage without (see commands/create.py) and which it would otherwise inherit."""
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


def add_credentials(p: Plan, proc: Process, seccomp: object | None, preserve: int,
                    fifo: int | None = None, ready: bool = True,
                    after_start: object | None = None, notify_ack: int | None = None,
                    set_groups: bool = True) -> None:
    """Capabilities, user, seccomp and exec, in the order the kernel allows.

    Both `create` (plan.build.Planner) and `exec` (commands.exec) end their plans with this.
    With ``ready`` the init reports R, then (``fifo``) waits for `start`; ``after_start(plan)``
    adds what runs between `start` and the user's exec (the startContainer hooks).  ``notify_ack`` (exec, which
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
