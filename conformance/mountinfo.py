"""Parse /proc/<pid>/mountinfo text (as read from inside a container) for mount checks."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Mount:
    """One mountinfo line: where, what, and with which per-mount and superblock options."""
    mount_point: str
    options: set[str]        # per-mount options: ro/rw, nosuid, nodev, noexec, ...
    fstype: str
    source: str
    super_options: set[str]  # filesystem options: size=..., mode=...


def _unescape(s: str) -> str:
    return s.encode().decode("unicode_escape") if "\\" in s else s


def parse(text: str) -> list[Mount]:
    """All mounts in `text`, in mountinfo order (parents before the mounts on top of them)."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        sep = fields.index("-")
        mounts.append(Mount(_unescape(fields[4]), set(fields[5].split(",")), fields[sep + 1],
                            _unescape(fields[sep + 2]), set(fields[sep + 3].split(","))))
    return mounts


def at(mounts: list[Mount], mount_point: str) -> Mount | None:
    """The mount visible at `mount_point`: the last one mounted there."""
    found = [m for m in mounts if m.mount_point == mount_point]
    return found[-1] if found else None
