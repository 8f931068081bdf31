"""The commands an engine does not call per container: list, spec, features, help and version.

They live apart from cli.py so that create, start, state, kill and delete, which every container
costs an engine, do not load their code (see pyrunc.install_fast_imports for what a module costs).
"""

from pyrunc import fastos as os  # os without its import cost (see fastos)
import sys

from pyrunc.args import Flag, UsageError, help_text, parse
from pyrunc.errors import PyruncError


def cmd_list(ctx, argv: list[str]) -> int:
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


def cmd_spec(ctx, argv: list[str]) -> int:
    from pyrunc.config.default import write_spec
    o, _ = parse(argv, [Flag("bundle,b", "str", ""), Flag("rootless")])
    write_spec(o["bundle"] or ".", rootless=bool(o["rootless"]))
    return 0


def cmd_features(ctx, argv: list[str]) -> int:
    from pyrunc import jsonio
    from pyrunc.commands.features import features
    parse(argv, [])
    sys.stdout.write(jsonio.dumps(features(), indent="    ") + "\n")
    return 0


def usage(commands: dict, global_flags: list[Flag]) -> str:
    """runc's help text, from cli's command table and global flags."""
    cmds = "\n".join(f"   {n:<10}  {d}" for n, (_, _, d) in commands.items())
    return ("NAME:\n   pyrunc - Open Container Initiative runtime in Python\n\n"
            "USAGE:\n   pyrunc [global options] command [command options] [arguments...]\n\n"
            f"COMMANDS:\n{cmds}\n\nGLOBAL OPTIONS:\n{help_text(global_flags)}\n")


def version() -> str:
    """runc's three lines: dockerd reads the runtime's name and version, and a commit: line."""
    from pyrunc import OCI_VERSION, __version__
    try:
        with open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "COMMIT")) as f:
            commit = f.read().strip()
    except OSError:
        commit = "unknown"
    return f"pyrunc version {__version__}\ncommit: {commit}\nspec: {OCI_VERSION}\n"
