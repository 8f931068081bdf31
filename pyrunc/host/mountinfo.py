"""/proc/self/mountinfo (proc(5)), parsed in one place: the mount table pyrunc plans against.

No imports: create reads it on its hot path (cgroups.mounted_hierarchies).
"""


class MountEntry:
    """One line: the fields pyrunc uses, unescaped."""

    __slots__ = ("dev", "root", "mountpoint", "fstype", "source", "super_options")

    def __init__(self, line: str) -> None:
        left, _, right = line.partition(" - ")
        lf, rf = left.split(" "), right.split(" ")
        self.dev = lf[2]  # "major:minor"
        self.root = unescape(lf[3])
        self.mountpoint = unescape(lf[4])
        self.fstype = rf[0]
        self.source = unescape(rf[1]) if len(rf) > 1 else ""
        self.super_options = rf[2] if len(rf) > 2 else ""


def unescape(s: str) -> str:
    """Undo mountinfo's octal escapes (``\\040`` for a space)."""
    if "\\" not in s:
        return s
    out = []
    i = 0
    while i < len(s):
        if s[i] == "\\" and i + 4 <= len(s) and s[i + 1:i + 4].isdigit():
            out.append(chr(int(s[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def read(path: str = "/proc/self/mountinfo") -> list[MountEntry]:
    """Every mount, in the kernel's order (a mount before the ones on top of it)."""
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", "surrogateescape")
    return [MountEntry(line) for line in text.splitlines() if line]
