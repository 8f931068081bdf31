"""HOME for the container's process, as runc sets it: when the process env has no HOME, the home
directory of its uid in the container's /etc/passwd, or "/" when there is none.

The file is read from the host, so it is resolved inside the container's root with file
descriptors only (open_in_root): every component is opened relative to the directory fd before
it with O_NOFOLLOW, a symlink is followed by pyrunc itself from the root (absolute) or from the
directory it is in (relative), and ".." never leaves the root.  That is openat2's
RESOLVE_IN_ROOT done in Python (os has no openat2, and the cffi module costs 0.85 ms of a
create to load): a component swapped for a symlink while pyrunc walks fails the open instead of
leading out, so an image cannot make pyrunc read a host file (issue 16, hole 3).  exec resolves
in the container's root as its init sees it (State.open_root); create in the rootfs.
"""

from pyrunc import fastos as os  # os without its import cost (see fastos)

MAX_LINKS = 40
MAX_SIZE = 1 << 20
ELOOP, ENOTDIR = 40, 20


def open_in_root(root_fd: int, path: str) -> int:
    """A read-only fd of the regular file ``path`` resolved inside directory ``root_fd``;
    OSError when there is none (or the walk met a symlink loop or a swapped component)."""
    stack = [os.dup(root_fd)]  # the directories walked so far, the root first
    parts = [p for p in path.split("/") if p and p != "."]
    links = 0
    try:
        while parts:
            name = parts.pop(0)
            if name == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            try:
                target = os.readlink(name, dir_fd=stack[-1])
            except OSError as e:
                if e.errno != 22:  # EINVAL: not a symlink
                    raise
            else:
                links += 1
                if links > MAX_LINKS:
                    raise OSError(ELOOP, "too many levels of symbolic links", path)
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                parts[:0] = [p for p in target.split("/") if p and p != "."]
                continue
            if parts:  # a directory on the way
                fd = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                             dir_fd=stack[-1])
                stack.append(fd)
                continue
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=stack[-1])
            if os.fstat(fd).st_mode & 0o170000 != 0o100000:
                os.close(fd)
                raise OSError(ENOTDIR, "not a regular file", path)
            return fd
        raise OSError(ENOTDIR, "not a regular file", path)
    finally:
        for d in stack:
            os.close(d)


def home_of(root_fd: int, uid: int) -> str:
    try:
        fd = open_in_root(root_fd, "/etc/passwd")
    except OSError:
        return "/"
    try:
        data = os.read(fd, MAX_SIZE)
    except OSError:
        data = b""
    finally:
        os.close(fd)
    for line in data.decode("utf-8", "replace").splitlines():
        f = line.split(":")
        if len(f) >= 6 and f[2].strip() == str(uid):
            return f[5] or "/"
    return "/"


def with_home(env: list[str], open_root, uid: int) -> list[str]:
    """``env`` with HOME added when it has none; ``open_root()`` gives the directory fd to
    resolve /etc/passwd in (called only then, and closed here)."""
    if any(e.startswith("HOME=") for e in env):
        return env
    try:
        root_fd = open_root()
    except OSError:
        return env + ["HOME=/"]
    try:
        return env + [f"HOME={home_of(root_fd, uid)}"]
    finally:
        os.close(root_fd)


def open_dir(path: str) -> int:
    """An O_PATH fd of the directory ``path`` (a host path: the rootfs as the config names it)."""
    return os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
