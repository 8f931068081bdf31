"""HOME for the container's process, as runc sets it: when the process env has no HOME, the home
directory of its uid in the container's /etc/passwd, or "/" when there is none.

The file is read from the host through the rootfs, with every symlink resolved inside the rootfs
(an absolute link restarts at the rootfs), so an image cannot make pyrunc read a host file.
"""

from pyrunc import fastos as os  # os without its import cost (see fastos)

MAX_LINKS = 40


def _open_in_root(rootfs: str, path: str) -> bytes | None:
    parts = [p for p in path.split("/") if p]
    cur: list[str] = []
    links = 0
    while parts:
        name = parts.pop(0)
        if name == ".":
            continue
        if name == "..":
            if cur:
                cur.pop()
            continue
        full = os.path.join(rootfs, *cur, name)
        try:
            target = os.readlink(full)
        except OSError:
            cur.append(name)  # not a symlink (or absent: open fails below)
            continue
        links += 1
        if links > MAX_LINKS:
            return None
        if target.startswith("/"):
            cur = []
        parts = [p for p in target.split("/") if p] + parts
    try:
        fd = os.open(os.path.join(rootfs, *cur), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC |
                     os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not (os.fstat(fd).st_mode & 0o170000) == 0o100000:
            return None
        return os.read(fd, 1 << 20)
    finally:
        os.close(fd)


def home_of(rootfs: str, uid: int) -> str:
    data = _open_in_root(rootfs, "/etc/passwd")
    for line in (data or b"").decode("utf-8", "replace").splitlines():
        f = line.split(":")
        if len(f) >= 6 and f[2].strip() == str(uid):
            return f[5] or "/"
    return "/"


def with_home(env: list[str], rootfs: str, uid: int) -> list[str]:
    """``env`` with HOME added when it has none."""
    if any(e.startswith("HOME=") for e in env):
        return env
    return env + [f"HOME={home_of(rootfs, uid)}"]
