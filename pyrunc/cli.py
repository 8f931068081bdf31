"""pyrunc's command line: runc's global flags and commands, flag for flag.

Each command is a small function; modules it needs are imported inside it, so `state` or `kill`
pay only for what they use.  Every error becomes one line (stderr and --log) and exit status 1.
"""

import gc
from pyrunc import fastos as os  # os without its import cost (see fastos)
import sys

from pyrunc import log
from pyrunc.args import Flag, HelpRequested, UsageError, one_id, parse
from pyrunc.errors import PyruncError

DEFAULT_ROOT = "/run/pyrunc"


def default_root() -> tuple[str, bool]:
    """(the default --root, whether it is in $XDG_RUNTIME_DIR): runc's shouldHonorXDGRuntimeDir.

    A non-root user keeps its state in $XDG_RUNTIME_DIR/pyrunc; so does the root of a user
    namespace (rootless Podman's conmon calls the runtime as uid 0 of podman's namespace) unless
    $USER says root; the real root uses /run/pyrunc, whatever $XDG_RUNTIME_DIR says."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if not xdg:
        return DEFAULT_ROOT, False
    if os.geteuid() == 0:
        from pyrunc.host import in_user_namespace
        if not in_user_namespace() or os.environ.get("USER", "") == "root":
            return DEFAULT_ROOT, False
    return xdg.rstrip("/") + "/pyrunc", True




GLOBAL_FLAGS = [
    Flag("debug", help="enable debug logging"),
    Flag("log", "str", "", "set the log file to write pyrunc logs to (default is '/dev/stderr')"),
    Flag("log-format", "str", "text", "set the log format ('text' (default), or 'json')"),
    Flag("root", "str", "", "root directory for storage of container state (default: "
         "/run/pyrunc, or $XDG_RUNTIME_DIR/pyrunc when rootless)"),
    Flag("criu", "str", "criu", "path to the criu binary used for checkpoint and restore"),
    Flag("systemd-cgroup", help="enable systemd cgroup support"),
    Flag("rootless", "str", "auto", "ignore cgroup permission errors ('true', 'false', or 'auto')"),
    Flag("version,v", help="print the version"),
    Flag("help,h", help="show help"),
]

class Ctx:
    """Global options every command sees."""

    __slots__ = ("root", "debug", "systemd_cgroup", "rootless", "command", "criu")

    def __init__(self, g: dict, command: str) -> None:
        root = str(g["root"])
        if not root:
            root, in_xdg = default_root()
            if in_xdg:
                make_xdg_root(root)
        self.root = os.path.abspath(root)
        self.debug = bool(g["debug"])
        self.systemd_cgroup = bool(g["systemd-cgroup"])
        self.rootless = g["rootless"]
        self.command = command
        self.criu = str(g["criu"]) or "criu"

    def store(self):
        from pyrunc.state import Store
        return Store(self.root)

    def rootless_cgroups(self) -> bool:
        """--rootless as runc's shouldUseRootlessCgroupManager decides it: "true" or "false"
        as given; "auto" (the default) means rootless for a non-root user and for the root of
        a user namespace (neither can be expected to own the cgroups it is given), not for the
        real root.  Rootless, cgroup permission errors are ignored when the config asks for no
        limits and names no cgroupsPath (Cgroup.create_rootless)."""
        v = str(self.rootless)
        if v in ("", "auto", "Auto", "AUTO"):
            from pyrunc.host import in_user_namespace
            return os.geteuid() != 0 or in_user_namespace()
        if v in ("true", "1", "t", "T", "TRUE", "True"):
            return True
        if v in ("false", "0", "f", "F", "FALSE", "False"):
            return False
        raise UsageError(f"invalid --rootless value {v!r}: want true, false or auto")

    def check_systemd(self) -> None:
        """--systemd-cgroup needs a systemd to manage the cgroups (runc's words when not)."""
        if self.systemd_cgroup and not os.path.isdir("/run/systemd/system"):
            raise PyruncError("systemd cgroup flag passed, but systemd support for managing "
                              "cgroups is not available")


def make_xdg_root(root: str) -> None:
    """runc's care for a root in $XDG_RUNTIME_DIR: 0700 and sticky, so that the XDG cleanup of
    files unused for six hours never prunes a long-lived container's state."""
    try:
        os.makedirs(root, 0o700, exist_ok=True)
        os.chmod(root, 0o1700)
    except OSError as e:
        raise PyruncError(f"the path in $XDG_RUNTIME_DIR must be writable by the user: "
                          f"{root}: {e.strerror}") from None


# -- commands -------------------------------------------------------------------------------
def cmd_create(ctx: Ctx, argv: list[str]) -> int:
    from pyrunc.commands.create import CREATE_FLAGS, CreateOptions, create
    o, pos = parse(argv, CREATE_FLAGS)
    cid = one_id(pos, "create")
    ctx.check_systemd()
    create(ctx.store(), cid, CreateOptions(
        bundle=o["bundle"] or ".", pid_file=o["pid-file"] or None,
        console_socket=o["console-socket"] or None, no_pivot=o["no-pivot"],
        no_new_keyring=o["no-new-keyring"], preserve_fds=o["preserve-fds"],
        rootless_cgroups=ctx.rootless_cgroups(), systemd_cgroup=ctx.systemd_cgroup))
    return 0


def cmd_start(ctx: Ctx, argv: list[str]) -> int:
    from pyrunc.container import start
    _, pos = parse(argv, [])
    start(ctx.store(), one_id(pos, "start"))
    return 0


def cmd_state(ctx: Ctx, argv: list[str]) -> int:
    from pyrunc import jsonio
    _, pos = parse(argv, [])
    st = ctx.store().load(one_id(pos, "state"), lock=False)
    sys.stdout.write(jsonio.dumps(st.oci_state(), indent=2) + "\n")
    return 0


def cmd_kill(ctx: Ctx, argv: list[str]) -> int:
    from pyrunc.container import kill
    from pyrunc.signals import parse_signal
    o, pos = parse(argv, [Flag("all,a", help="send the signal to all processes")])
    if not pos or len(pos) > 2:
        raise UsageError("kill: usage: kill [--all] <container-id> [signal]")
    sig = parse_signal(pos[1]) if len(pos) == 2 else 15
    kill(ctx.store(), pos[0], sig, all_procs=bool(o["all"]))
    return 0


def cmd_delete(ctx: Ctx, argv: list[str]) -> int:
    from pyrunc.container import delete
    from pyrunc.state import NotFound
    o, pos = parse(argv, [Flag("force,f", help="forcibly delete the container")])
    if not pos:
        raise UsageError("delete: \"delete\" requires a minimum of 1 argument(s)")
    rc = 0
    for cid in pos:
        try:
            delete(ctx.store(), cid, force=bool(o["force"]))
        except NotFound as e:
            if not o["force"]:
                log.error(str(e))
                rc = 1
        except PyruncError as e:
            log.error(str(e))
            rc = 1
    return rc


# name: (module, function, description); a command's module is imported only when it runs, so
# the engine's per-container commands (create, start, state, kill, delete) load no other's code.
COMMANDS = {
    "create": ("pyrunc.cli", "cmd_create", "create a container"),
    "start": ("pyrunc.cli", "cmd_start", "executes the user defined process in a created "
              "container"),
    "run": ("pyrunc.commands.run", "cmd_run", "create and run a container"),
    "state": ("pyrunc.cli", "cmd_state", "output the state of a container"),
    "kill": ("pyrunc.cli", "cmd_kill", "kill sends the specified signal (default: SIGTERM) to "
             "the container's init process"),
    "delete": ("pyrunc.cli", "cmd_delete", "delete any resources held by the container"),
    "list": ("pyrunc.commands.info", "cmd_list", "lists containers started by pyrunc with the "
             "given root"),
    "ps": ("pyrunc.commands.cgroups", "main",
           "ps displays the processes running inside a container"),
    "exec": ("pyrunc.commands.exec", "main", "execute new process inside the container"),
    "pause": ("pyrunc.commands.cgroups", "main",
              "pause suspends all processes inside the container"),
    "resume": ("pyrunc.commands.cgroups", "main", "resumes all processes that have been previously "
               "paused"),
    "events": ("pyrunc.commands.cgroups", "main", "display container events such as OOM "
               "notifications, cpu, memory, and IO usage statistics"),
    "update": ("pyrunc.commands.cgroups", "main", "update container resource constraints"),
    "spec": ("pyrunc.commands.info", "cmd_spec", "create a new specification file"),
    "features": ("pyrunc.commands.info", "cmd_features", "show the enabled features"),
    "checkpoint": ("pyrunc.commands.checkpoint", "cmd_checkpoint",
                   "checkpoint a running container"),
    "restore": ("pyrunc.commands.restore", "cmd_restore", "restore a container from a previous "
                "checkpoint"),
}


# The launcher (Makefile) turns the cyclic garbage collector off before anything is imported: a
# call lives milliseconds and ends with os._exit, so collecting gives nothing back, and the
# passes over the objects the imports create cost 0.1-0.6 ms per call (~1.4 ms over an engine's
# five calls).  Commands that may stay for minutes or days turn it back on.
LONG_RUNNING = ("run", "exec", "events")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    cmd_name = ""
    try:
        # Global flags come before the command.
        i = 0
        while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
            name = argv[i].lstrip("-").split("=", 1)[0]
            flag = next((f for f in GLOBAL_FLAGS if name in f.names), None)
            i += 1
            if flag is not None and flag.kind != "bool" and "=" not in argv[i - 1]:
                i += 1
        g, _ = parse(argv[:i], GLOBAL_FLAGS)
        log.configure(str(g["log"]), str(g["log-format"]), bool(g["debug"]))
        if g["log-format"] not in ("text", "json"):
            raise UsageError(f"invalid log-format: {g['log-format']}")
        if g["version"]:
            from pyrunc.commands.info import version
            sys.stdout.write(version())
            exit_now(0)
        rest = argv[i:]
        if not rest or g["help"] or rest[0] in ("help", "h"):
            from pyrunc.commands.info import usage
            sys.stdout.write(usage(COMMANDS, GLOBAL_FLAGS))
            exit_now(0)
        cmd_name = rest[0]
        if cmd_name in LONG_RUNNING:
            gc.enable()
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            raise UsageError(f"No help topic for '{cmd_name}'")
        module, function, _ = entry
        try:
            rc = getattr(__import__(module, fromlist=[function]), function)(Ctx(g, cmd_name),
                                                                            rest[1:])
        except HelpRequested:  # raised by parse() before the command does anything
            sys.stdout.write(f"NAME:\n   pyrunc {cmd_name} - {entry[2]}\n")
            rc = 0
    except PyruncError as e:
        msg = str(e)
        if cmd_name in ("create", "run", "exec") and not isinstance(e, UsageError):
            msg = f"pyrunc {cmd_name} failed: {msg}"
        log.error(msg)
        rc = 1
    except KeyboardInterrupt:
        rc = 130
    except OSError as e:
        log.error(f"{e.strerror or e}" + (f": {e.filename}" if e.filename else ""))
        rc = 1
    except Exception as e:  # a bug: still one line, the traceback only with --debug
        if log.debug_enabled:
            import traceback
            traceback.print_exc()
        log.error(f"internal error: {type(e).__name__}: {e}")
        rc = 1
    exit_now(rc)


def exit_now(rc: int) -> None:
    """Flush stdio and end the process without the interpreter's finalization.

    Tearing down every module and running the collector costs ~2 ms per call after create's
    imports (a fifth of a `state`), and nothing of pyrunc needs it: logs and state are written
    with os.write or closed by `with`, no atexit handler or thread is ever registered."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(rc)
