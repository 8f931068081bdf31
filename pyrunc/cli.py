"""pyrunc's command line: runc's global flags and commands, flag for flag.

Each command is a small function; modules it needs are imported inside it, so `state` or `kill`
pay only for what they use.  Every error becomes one line (stderr and --log) and exit status 1.
"""

import gc
from pyrunc import fastos as os  # os without its import cost (see fastos)
import sys

from pyrunc import log
from pyrunc.args import Flag, UsageError, help_text, parse
from pyrunc.errors import PyruncError

DEFAULT_ROOT = "/run/pyrunc"

GLOBAL_FLAGS = [
    Flag("debug", help="enable debug logging"),
    Flag("log", "str", "", "set the log file to write pyrunc logs to (default is '/dev/stderr')"),
    Flag("log-format", "str", "text", "set the log format ('text' (default), or 'json')"),
    Flag("root", "str", DEFAULT_ROOT, "root directory for storage of container state"),
    Flag("criu", "str", "criu", "path to the criu binary used for checkpoint and restore"),
    Flag("systemd-cgroup", help="enable systemd cgroup support"),
    Flag("rootless", "str", "auto", "ignore cgroup permission errors ('true', 'false', or 'auto')"),
    Flag("version,v", help="print the version"),
    Flag("help,h", help="show help"),
]

CREATE_FLAGS = [
    Flag("bundle,b", "str", "", "path to the root of the bundle directory"),
    Flag("console-socket", "str", "", "path to an AF_UNIX socket which will receive the "
         "master end of the console's pseudoterminal"),
    Flag("pid-file", "str", "", "specify the file to write the process id to"),
    Flag("no-pivot", help="do not use pivot root to jail process inside rootfs"),
    Flag("no-new-keyring", help="do not create a new session keyring for the container"),
    Flag("preserve-fds", "int", 0, "pass N additional file descriptors to the container"),
]
RUN_FLAGS = CREATE_FLAGS + [
    Flag("detach,d", help="detach from the container's process"),
    Flag("keep", help="do not delete the container after it exits"),
    # Accepted for runc's command line; pyrunc needs no subreaper: the container's init is its
    # own child (the init's first stage clones it with CLONE_PARENT), so it is reaped directly.
    Flag("no-subreaper", help="disable the use of the subreaper used to reap reparented "
         "processes"),
]


class Ctx:
    """Global options every command sees."""

    __slots__ = ("root", "debug", "systemd_cgroup", "rootless", "command")

    def __init__(self, g: dict, command: str) -> None:
        self.root = os.path.abspath(str(g["root"]))
        self.debug = bool(g["debug"])
        self.systemd_cgroup = bool(g["systemd-cgroup"])
        self.rootless = g["rootless"]
        self.command = command

    def store(self):
        from pyrunc.state import Store
        return Store(self.root)


def _one_id(pos: list[str], cmd: str, usage: str = "<container-id>") -> str:
    if len(pos) != 1:
        raise UsageError(f"{cmd}: \"{cmd}\" requires exactly 1 argument(s)"
                         if not pos else f"{cmd}: too many arguments, usage: {usage}")
    return pos[0]


def _check_systemd(ctx: Ctx) -> None:
    if ctx.systemd_cgroup and not os.path.isdir("/run/systemd/system"):
        raise PyruncError("systemd cgroup flag passed, but systemd support for managing "
                          "cgroups is not available")


# -- commands -------------------------------------------------------------------------------
def cmd_create(ctx: Ctx, argv: list[str]) -> int:
    from pyrunc.create import CreateOptions, create
    o, pos = parse(argv, CREATE_FLAGS)
    cid = _one_id(pos, "create")
    _check_systemd(ctx)
    create(ctx.store(), cid, CreateOptions(
        bundle=o["bundle"] or ".", pid_file=o["pid-file"] or None,
        console_socket=o["console-socket"] or None, no_pivot=o["no-pivot"],
        no_new_keyring=o["no-new-keyring"], preserve_fds=o["preserve-fds"]))
    return 0


def cmd_start(ctx: Ctx, argv: list[str]) -> int:
    from pyrunc.container import start
    _, pos = parse(argv, [])
    start(ctx.store(), _one_id(pos, "start"))
    return 0


def cmd_run(ctx: Ctx, argv: list[str]) -> int:
    from pyrunc.run import run
    o, pos = parse(argv, RUN_FLAGS)
    cid = _one_id(pos, "run")
    _check_systemd(ctx)
    return run(ctx.store(), cid, o)


def cmd_state(ctx: Ctx, argv: list[str]) -> int:
    from pyrunc import jsonio
    _, pos = parse(argv, [])
    st = ctx.store().load(_one_id(pos, "state"), lock=False)
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


def cmd_list(ctx: Ctx, argv: list[str]) -> int:
    from pyrunc import jsonio
    o, _ = parse(argv, [Flag("format,f", "str", "table"), Flag("quiet,q")])
    store = ctx.store()
    states = []
    for cid in store.ids():
        try:
            states.append(store.load(cid, lock=False).oci_state())
        except PyruncError:
            continue
    if o["quiet"]:
        for s in states:
            print(s["id"])
        return 0
    if o["format"] == "json":
        out = [{"ociVersion": s["ociVersion"], "id": s["id"], "pid": s["pid"],
                "status": s["status"], "bundle": s["bundle"], "rootfs": s["rootfs"],
                "created": s["created"], "owner": s["owner"] or "root",
                **({"annotations": s["annotations"]} if s.get("annotations") else {})}
               for s in states]
        sys.stdout.write(jsonio.dumps(out if out else None) + "\n")
        return 0
    if o["format"] != "table":
        raise UsageError(f"invalid format option: {o['format']}")
    rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
    for s in states:
        rows.append([s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"],
                     s["owner"] or "root"])
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    for r in rows:  # Go's tabwriter with minwidth 12, padding 1
        sys.stdout.write("".join(c.ljust(max(widths[i] + 1, 12)) if i < 5 else c
                                 for i, c in enumerate(r)) + "\n")
    return 0


def cmd_spec(ctx: Ctx, argv: list[str]) -> int:
    from pyrunc.spec_default import write_spec
    o, _ = parse(argv, [Flag("bundle,b", "str", ""), Flag("rootless")])
    write_spec(o["bundle"] or ".", rootless=bool(o["rootless"]))
    return 0


def cmd_features(ctx: Ctx, argv: list[str]) -> int:
    from pyrunc import jsonio
    from pyrunc.features import features
    parse(argv, [])
    sys.stdout.write(jsonio.dumps(features(), indent="    ") + "\n")
    return 0


def _cgroup_command(name: str):
    def cmd(ctx: Ctx, argv: list[str]) -> int:
        from pyrunc import cmd_cgroups
        return cmd_cgroups.main(ctx, name, argv)
    return cmd


def cmd_exec(ctx: Ctx, argv: list[str]) -> int:
    from pyrunc.exec import main as exec_main
    return exec_main(ctx, argv)


def _not_supported(name: str):
    def cmd(ctx: Ctx, argv: list[str]) -> int:
        raise PyruncError(f"{name} is not supported by pyrunc yet (CRIU checkpoint/restore)")
    return cmd


COMMANDS = {
    "create": (cmd_create, "create a container"),
    "start": (cmd_start, "executes the user defined process in a created container"),
    "run": (cmd_run, "create and run a container"),
    "state": (cmd_state, "output the state of a container"),
    "kill": (cmd_kill, "kill sends the specified signal (default: SIGTERM) to the container's "
             "init process"),
    "delete": (cmd_delete, "delete any resources held by the container"),
    "list": (cmd_list, "lists containers started by pyrunc with the given root"),
    "ps": (_cgroup_command("ps"), "ps displays the processes running inside a container"),
    "exec": (cmd_exec, "execute new process inside the container"),
    "pause": (_cgroup_command("pause"), "pause suspends all processes inside the container"),
    "resume": (_cgroup_command("resume"), "resumes all processes that have been previously "
               "paused"),
    "events": (_cgroup_command("events"), "display container events such as OOM notifications, "
               "cpu, memory, and IO usage statistics"),
    "update": (_cgroup_command("update"), "update container resource constraints"),
    "spec": (cmd_spec, "create a new specification file"),
    "features": (cmd_features, "show the enabled features"),
    "checkpoint": (_not_supported("checkpoint"), "checkpoint a running container (not "
                   "supported yet)"),
    "restore": (_not_supported("restore"), "restore a container from a previous checkpoint "
                "(not supported yet)"),
}


def usage() -> str:
    cmds = "\n".join(f"   {n:<10}  {d}" for n, (_, d) in COMMANDS.items())
    return ("NAME:\n   pyrunc - Open Container Initiative runtime in Python\n\n"
            "USAGE:\n   pyrunc [global options] command [command options] [arguments...]\n\n"
            f"COMMANDS:\n{cmds}\n\nGLOBAL OPTIONS:\n{help_text(GLOBAL_FLAGS)}\n")


def version() -> str:
    """runc's three lines: dockerd reads the runtime's name and version, and a commit: line."""
    from pyrunc import OCI_VERSION, __version__
    try:
        with open(os.path.join(os.path.dirname(__file__), "COMMIT")) as f:
            commit = f.read().strip()
    except OSError:
        commit = "unknown"
    return f"pyrunc version {__version__}\ncommit: {commit}\nspec: {OCI_VERSION}\n"


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
            sys.stdout.write(version())
            sys.exit(0)
        rest = argv[i:]
        if not rest or g["help"] or rest[0] in ("help", "h"):
            sys.stdout.write(usage())
            sys.exit(0)
        cmd_name = rest[0]
        if cmd_name in LONG_RUNNING:
            gc.enable()
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            raise UsageError(f"No help topic for '{cmd_name}'")
        if "--help" in rest[1:] or "-h" in rest[1:2]:
            sys.stdout.write(f"NAME:\n   pyrunc {cmd_name} - {entry[1]}\n")
            sys.exit(0)
        rc = entry[0](Ctx(g, cmd_name), rest[1:])
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
