"""`exec`: run another process in a running container, runc's flags and messages.

Python never enters the container: it writes an exec plan in which the init's first stage joins
every namespace of the container (from /proc/PID/ns, the user namespace first and the mount
namespace last, so every path is opened through the host's /proc), then CLONEs with no new
namespace so the process is born in the container's pid namespace, then switches credentials
exactly as `create` does (plan.steps.add_credentials).  The first stage enters the container's
cgroups itself before anything else (Cgroup.join_ops), so the process never runs outside them.

The defaults are the container's own process (state.config["process"], kept by create), as in
runc: a --process file replaces it whole; otherwise the command line overrides fields of it.
"""
from __future__ import annotations

import os


from pyrunc.args import Flag, UsageError, parse
from pyrunc.errors import PyruncError

SIGKILL = 9

EXEC_FLAGS = [
    Flag("console-socket", "str", "", "path to an AF_UNIX socket which will receive the master "
         "end of the console's pseudoterminal"),
    Flag("cwd", "str", "", "current working directory in the container"),
    Flag("env,e", "list", None, "set environment variables"),
    Flag("tty,t", help="allocate a pseudo-TTY"),
    Flag("user,u", "str", "", "UID (format: <uid>[:<gid>])"),
    Flag("additional-gids,g", "list", None, "additional gids"),
    Flag("process,p", "str", "", "path to the process.json"),
    Flag("detach,d", help="detach from the container's process"),
    Flag("pid-file", "str", "", "specify the file to write the process id to"),
    Flag("process-label", "str", "", "set the asm process label for the process commonly used "
         "with selinux"),
    Flag("apparmor", "str", "", "set the apparmor profile for the process"),
    Flag("no-new-privs", help="set the no new privileges value for the process"),
    Flag("cap,c", "list", None, "add a capability to the bounding set for the process"),
    Flag("preserve-fds", "int", 0, "pass N additional file descriptors to the container "
         "(stdio + $LISTEN_FDS + N in total)"),
    Flag("cgroup", "list", None, "run the process in an (existing) sub-cgroup(s). Format is "
         "[<controller>:]<cgroup>."),
    Flag("ignore-paused", help="allow exec in a paused container"),
    Flag("no-subreaper", help="disable the use of the subreaper used to reap reparented "
         "processes"),
]

# state.config["namespaces"] type -> /proc/PID/ns name
NS_FILES = {"user": "user", "cgroup": "cgroup", "ipc": "ipc", "uts": "uts", "network": "net",
            "pid": "pid", "time": "time", "mount": "mnt"}
NS_ORDER = ["user", "cgroup", "ipc", "uts", "network", "pid", "time", "mount"]


def main(ctx, argv: list[str]) -> int:
    o, pos = parse(argv, EXEC_FLAGS, stop_at_positional=True)
    if not pos:
        raise UsageError("exec: \"exec\" requires a minimum of 1 argument(s)")
    cid, args = pos[0], pos[1:]
    try:
        return exec_process(ctx.store(), cid, o, args)
    except UsageError:
        raise
    except PyruncError as e:  # runc: "exec failed: ..." and 255, never a process' status
        from pyrunc import log
        log.error(f"exec failed: {e}")
        return 255
    except OSError as e:
        from pyrunc import log
        log.error(f"exec failed: {e.strerror or e}" + (f": {e.filename}" if e.filename else ""))
        return 255


def build_process(base: dict, o: dict, args: list[str]) -> dict:
    """The process dict to run: the --process file, or the container's process + the flags."""
    from pyrunc import jsonio
    if o.get("process"):
        p = jsonio.load_file(o["process"], o["process"])
        if not isinstance(p, dict):
            raise PyruncError(f"{o['process']}: must be a JSON object")
        return p
    if not args:
        raise PyruncError("process args cannot be empty")
    p = jsonio.loads(jsonio.dumps(base))  # a deep copy
    p["args"] = list(args)
    p["terminal"] = bool(o.get("tty"))
    p.pop("consoleSize", None)
    if o.get("cwd"):
        p["cwd"] = o["cwd"]
    if o.get("env"):
        p["env"] = merge_env(p.get("env") or [], o["env"])
    if o.get("no-new-privs"):
        p["noNewPrivileges"] = True
    if o.get("apparmor"):
        p["apparmorProfile"] = o["apparmor"]
    if o.get("process-label"):
        p["selinuxLabel"] = o["process-label"]
    capset = p.setdefault("capabilities", {})
    for c in o.get("cap") or []:
        for key in ("bounding", "effective", "permitted"):
            capset[key] = (capset.get(key) or []) + [c]
        # runc: ambient only when the spec already gives inheritable capabilities.
        if capset.get("inheritable") is not None:
            capset["ambient"] = (capset.get("ambient") or []) + [c]
    user = p.setdefault("user", {})
    if o.get("user"):
        uid, _, gid = o["user"].partition(":")
        try:
            user["uid"] = int(uid)
            if gid:
                user["gid"] = int(gid)
        except ValueError:
            raise PyruncError(f"parsing {o['user']} as <uid>[:<gid>]: not a number") from None
    for g in o.get("additional-gids") or []:
        try:
            user.setdefault("additionalGids", []).append(int(g))
        except ValueError:
            raise UsageError(f"invalid value {g!r} for flag -additional-gids") from None
    return p


def merge_env(env: list[str], extra: list[str]) -> list[str]:
    """runc appends -e values; a later value of a name replaces the earlier one in place."""
    out = list(env)
    index = {e.split("=", 1)[0]: i for i, e in enumerate(out)}
    for e in extra:
        name = e.split("=", 1)[0]
        if name in index:
            out[index[name]] = e
        else:
            index[name] = len(out)
            out.append(e)
    return out


def _stat_ns(path: str):
    """os.stat of a namespace link of the container's init, for an unprivileged user waiting
    out the init's non-dumpable stretch: the init is not dumpable until it has exec'd the
    container's program (from its first instruction: issue 16), and until then only a user with
    CAP_SYS_PTRACE may look at its namespaces, so an `exec` right after `run -d` or `start` of
    a rootless container would be refused. Waits up to 2 s for that execve."""
    if os.geteuid() == 0:
        return os.stat(path)
    import time
    deadline = time.monotonic() + 2
    while True:
        try:
            return os.stat(path)
        except PermissionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def namespaces_to_join(pid: int) -> list[tuple[int, str]]:
    """(CLONE_NEW* flag, /proc path) of every namespace of ``pid`` that differs from ours."""
    from pyrunc.plan.kernel import NS_FLAGS
    out = []
    for t in NS_ORDER:
        name = NS_FILES[t]
        path = f"/proc/{pid}/ns/{name}"
        try:
            theirs = _stat_ns(path)
        except FileNotFoundError:
            continue  # a kernel without this namespace type
        mine = os.stat(f"/proc/self/ns/{name}")
        if (theirs.st_dev, theirs.st_ino) != (mine.st_dev, mine.st_ino):
            out.append((NS_FLAGS[t], path))
    return out


def exec_plan(namespaces: list[tuple[int, str]], proc, seccomp, preserve: int,
              console: int | None, notify_ack: int | None = None,
              cgroup_join: list | None = None, mempolicy=None, init_pid: int = 0):
    """The init's plan for one exec'd process (see the module docstring); ``namespaces`` is
    namespaces_to_join of the container's init, ``init_pid`` that init (whose user namespace
    may deny setgroups: a rootless container's own does); ``mempolicy`` the container's
    linux.memoryPolicy (config.MemoryPolicy), which runc gives exec'd processes too."""
    from pyrunc.plan import Plan
    from pyrunc.host.probes import may_set_groups
    from pyrunc.plan.steps import (add_credentials, apparmor_ops, console_ops, enter_cgroup_ops,
                                   inherited_attrs, mempolicy_ops, sched_ops)
    p = Plan()
    enter_cgroup_ops(p, proc, cgroup_join or [])
    inherited_attrs(p, proc)
    for flag, path in namespaces:
        p.add("SETNS", flag, path)
    p.add("CLONE", 0)
    p.add("PDEATHSIG", SIGKILL)
    p.add("SETSID")
    if console is not None:
        p.add("ROOT", "/")
        console_ops(p, proc, console, False)
    for r in proc.rlimits:
        p.add("RLIMIT", r.resource, r.soft, r.hard)
    sched_ops(p, proc)
    mempolicy_ops(p, mempolicy)
    apparmor_ops(p, proc.apparmor_profile, "apparmor profile")
    if proc.selinux_label:
        raise PyruncError("process label: SELinux is not enabled on this host")
    set_groups = may_set_groups()
    if set_groups and init_pid:
        try:
            with open(f"/proc/{init_pid}/setgroups", "rb") as f:
                set_groups = f.read().strip() != b"deny"
        except OSError:
            pass
    add_credentials(p, proc, seccomp, preserve, fifo=None, ready=True, notify_ack=notify_ack,
                    set_groups=set_groups)
    return p


def sub_cgroup(cg, specs: list[str]):
    """The container's cgroup narrowed by --cgroup [<controller>:]<path> values (runc's rule:
    a value without a controller applies to every hierarchy not named by another value)."""
    from pyrunc.cgroups import Cgroup, clean_path
    default = None
    per: dict[str, str] = {}
    for spec in specs:
        ctrl, sep, path = spec.rpartition(":")
        if not sep:
            if default is not None:
                raise PyruncError("--cgroup: only one path without a controller is allowed")
            default = path
        else:
            for c in ctrl.split(","):
                per[c] = path
    paths = {}
    for key, base in cg.paths.items():
        names = key.split(",") if key else [""]
        sub = next((per[n] for n in names if n in per), None)
        if sub is None and key == "" and "unified" in per:
            sub = per["unified"]
        if sub is None:
            sub = default
        if sub is None:
            paths[key] = base
            continue
        if ".." in sub.split("/"):  # runc: the sub-cgroup must stay below the container's
            raise PyruncError(f"--cgroup: bad sub cgroup path: {sub}")
        rel = clean_path("/" + sub).lstrip("/")
        full = base.rstrip("/") + "/" + rel if rel else base
        if not os.path.isdir(full):
            raise PyruncError(f"cgroup {sub} does not exist under {base}")
        paths[key] = full
    for name in per:
        if name != "unified" and not any(name in (k.split(",") if k else [""])
                                         for k in cg.paths):
            raise PyruncError(f"--cgroup: controller {name} is not available for this container")
    return Cgroup(cg.mode, paths)


def exec_process(store, cid: str, o: dict, args: list[str]) -> int:
    from pyrunc.config.process import Process
    from pyrunc.commands.create import connect_console, write_pid_file
    from pyrunc.signals import Forwarding

    # No lock is held while the process starts: in a paused container (--ignore-paused) it
    # stays frozen until `resume`, which must be able to run meanwhile.
    st = store.load(cid, lock=False)
    try:
        status = st.status()
        if status == "stopped":
            raise PyruncError("cannot exec in a stopped container")
        if status == "paused" and not o.get("ignore-paused"):
            raise PyruncError("cannot exec in a paused container (use --ignore-paused to "
                              "override)")
        raw = build_process(st.config.get("process") or {}, o, args)
        proc = Process(raw)
        detach = bool(o.get("detach"))
        console_path = o.get("console-socket") or ""
        if proc.terminal and detach and not console_path:
            raise PyruncError("cannot allocate tty if runc will detach without setting console "
                              "socket")
        if console_path and not proc.terminal:
            raise PyruncError("cannot use console socket if runc will not detach or allocate tty")
        if proc.terminal and not console_path:
            return exec_with_terminal(st, proc, o)
        console_fd = connect_console(console_path) if console_path else -1
        forwarding = None if detach else Forwarding()  # before the process exists (signals)
        try:
            pid = spawn_exec(st, proc, o, console_fd)
        except BaseException:
            if forwarding is not None:
                forwarding.stop()
            raise
        finally:
            if console_fd >= 0:
                os.close(console_fd)
    finally:
        st.release()
    if forwarding is None:
        if o.get("pid-file"):
            write_pid_file(o["pid-file"], pid)
        return 0
    try:
        if o.get("pid-file"):
            write_pid_file(o["pid-file"], pid)
        return forwarding.wait(pid)
    finally:
        forwarding.stop()


def spawn_exec(st, proc, o: dict, console_fd: int) -> int:
    """Start the process (it has exec'd, or failed with an error, when this returns): its pid."""
    from pyrunc.cgroups import Cgroup
    from pyrunc.host.spawn import start_init
    from pyrunc.plan import InitFds
    preserve = int(o.get("preserve-fds") or 0)
    if preserve < 0:
        raise UsageError("--preserve-fds must not be negative")
    if os.environ.get("LISTEN_FDS"):
        from pyrunc.host import activation
        preserve = activation.apply(proc, preserve)
    seccomp = None
    sc = st.config.get("seccomp")
    if sc is not None:
        from pyrunc.seccomp import compile_seccomp
        seccomp = compile_seccomp(sc)
    # A notify listener must reach the agent before the exec closes it: the init waits on a
    # pipe until pyrunc has passed it on (create waits on the exec fifo instead).
    wait_ack = seccomp is not None and seccomp.notify
    fds = InitFds.exec(preserve, console=console_fd >= 0, notify_ack=wait_ack)
    console, notify_ack = fds.number("console"), fds.number("notify_ack")
    if console_fd >= 0:
        fds.place("console", console_fd)
    ack_r = ack_w = -1
    if wait_ack:
        ack_r, ack_w = os.pipe()
        fds.place("notify_ack", ack_r)
    from pyrunc.host.passwd import with_home
    proc.env = with_home(proc.env, st.open_root, proc.user.uid)
    namespaces = namespaces_to_join(st.pid)
    join = []
    if st.cgroup:
        cg = Cgroup.from_json(st.cgroup)
        if o.get("cgroup"):
            cg = sub_cgroup(cg, o["cgroup"])
        from pyrunc.plan.kernel import CLONE_NEWCGROUP
        from pyrunc.host import in_user_namespace
        if os.geteuid() != 0 or in_user_namespace():
            # rootless: a cgroup this process may not enter is left, as runc does (its
            # process then runs in the caller's cgroup)
            cg = cg.movable_here()
        join = cg.join_ops(move_self=any(f == CLONE_NEWCGROUP for f, _ in namespaces))
    mp = st.config.get("memoryPolicy")
    if mp is not None:
        from pyrunc.config.linux import memory_policy
        mp = memory_policy(mp, "linux.memoryPolicy")
    plan = exec_plan(namespaces, proc, seccomp, preserve, console, notify_ack, join,
                     mp, init_pid=st.pid).encode()
    try:
        init = start_init(plan, fds)
    finally:
        if ack_r >= 0:
            os.close(ack_r)
    try:
        init.wait_for("P")
        if ack_w >= 0:
            init.wait_for("N")
            _send_listener(st, init, seccomp)
            os.write(ack_w, b"1")
        init.wait_for("R")
        init.wait_for("EOF")
    except BaseException:
        if init.pid:
            _kill_and_reap(init.pid)
        raise
    finally:
        init.close()
        if ack_w >= 0:
            os.close(ack_w)
    return init.pid


def _send_listener(st, init, prog) -> None:
    """Hand the exec'd process' seccomp listener to the agent at listenerPath, with the
    container's state (the same message create sends)."""
    from pyrunc.seccomp.notify import fetch_listener_fd, send_listener_fd
    fd = fetch_listener_fd(init.pid, init.notify_fd)
    try:
        send_listener_fd(prog.listener_path, fd, st.spec_state(), prog.listener_metadata)
    finally:
        os.close(fd)


def _kill_and_reap(pid: int) -> None:
    try:
        os.kill(pid, SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def exec_with_terminal(st, proc, o: dict) -> int:
    """Attached `exec -t` without --console-socket: the init sends the master over a
    socketpair; the state lock is released before proxying."""
    import socket
    from pyrunc.commands.create import write_pid_file
    from pyrunc.host.tty import proxy, recv_master
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        try:
            pid = spawn_exec(st, proc, o, theirs.fileno())
        finally:
            theirs.close()
        master = recv_master(ours)
    finally:
        ours.close()
    st.release()
    if o.get("pid-file"):
        write_pid_file(o["pid-file"], pid)
    try:
        return proxy(master, pid, proc.console_size)
    finally:
        os.close(master)
