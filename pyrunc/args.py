"""Command-line flag parsing with runc's (urfave/cli + Go flag) rules, without argparse.

argparse costs ~10 ms of imports on every call.  Flags may be spelled -f or --flag, take their
value as the next word or after '=', and may follow positional arguments unless the command stops
at its first positional one (exec: everything after the container id is the process' argv).
"""

from pyrunc.errors import PyruncError


class UsageError(PyruncError):
    """A wrong command line; runc answers these with exit status 1 as well."""


class HelpRequested(Exception):
    """-h/--help among a command's own flags (not after exec's container id, where it is argv)."""


class Flag:
    __slots__ = ("names", "kind", "default", "help")

    def __init__(self, names: str, kind: str = "bool", default: object = None, help: str = ""):
        self.names = names.split(",")  # first one is the canonical name
        self.kind = kind                # bool | str | int | list
        self.default = default
        self.help = help


def parse(argv: list[str], flags: list[Flag], stop_at_positional: bool = False
          ) -> tuple[dict[str, object], list[str]]:
    """Return ({canonical name: value}, positional args)."""
    by_name: dict[str, Flag] = {}
    opts: dict[str, object] = {}
    for f in flags:
        for n in f.names:
            by_name[n] = f
        opts[f.names[0]] = list(f.default or []) if f.kind == "list" else f.default
    pos: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        if a == "--":
            pos.extend(argv[i:])
            break
        if len(a) < 2 or a[0] != "-" or (pos and stop_at_positional):
            pos.append(a)
            if stop_at_positional:
                pos.extend(argv[i:])
                break
            continue
        name = a.lstrip("-")
        value = None
        if "=" in name:
            name, value = name.split("=", 1)
        f = by_name.get(name)
        if f is None and name in ("help", "h"):
            raise HelpRequested()
        if f is None:
            raise UsageError(f"flag provided but not defined: -{name}")
        key = f.names[0]
        if f.kind == "bool":
            if value is None:
                opts[key] = True
            elif value in ("true", "1", "t", "T", "TRUE", "True"):
                opts[key] = True
            elif value in ("false", "0", "f", "F", "FALSE", "False"):
                opts[key] = False
            else:
                raise UsageError(f"invalid boolean value {value!r} for -{name}")
            continue
        if value is None:
            if i >= len(argv):
                raise UsageError(f"flag needs an argument: -{name}")
            value = argv[i]
            i += 1
        if f.kind == "int":
            try:
                opts[key] = int(value, 10)
            except ValueError:
                raise UsageError(f"invalid value {value!r} for flag -{name}: parse error") from None
        elif f.kind == "list":
            opts[key].append(value)  # type: ignore[union-attr]
        else:
            opts[key] = value
    return opts, pos


def one_id(pos: list[str], cmd: str) -> str:
    """The one positional argument (a container id) of ``cmd``, or runc's usage error."""
    if len(pos) != 1:
        raise UsageError(f"{cmd}: \"{cmd}\" requires exactly 1 argument(s)")
    return pos[0]


def help_text(flags: list[Flag]) -> str:
    lines = []
    for f in flags:
        names = ", ".join(("-" if len(n) == 1 else "--") + n for n in f.names)
        if f.kind != "bool":
            names += " value"
        lines.append(f"   {names:<26} {f.help}")
    return "\n".join(lines)
