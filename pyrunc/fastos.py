"""`os` for the commands an engine calls per container, without importing os.

Engines call create, start, state, kill and delete once each per container, and every call
pays the interpreter's start.  `import os` adds ~0.8 ms to each (building os.environ imports
_collections_abc, posixpath, stat and genericpath): as much as all of `pyrunc state`'s own
work.  The interpreter has already loaded `posix`, where every system call os re-exports lives;
this module adds the rest of what pyrunc takes from os: the path helpers it uses, makedirs and
a str environ.  Any other name is fetched from the real os on first use (module __getattr__),
so an uncommon path pays the import instead of failing.

The modules on those commands' path import it as ``os``; everything else imports os itself.
``environ`` is a snapshot taken on first use: pyrunc never changes its own environment
(children get theirs explicitly).
"""

import posix as _posix

_S_IFMT, _S_IFDIR, _S_IFREG, _S_IFLNK = 0o170000, 0o040000, 0o100000, 0o120000


def _mode(p: str, follow: bool = True) -> int:
    try:
        return (_posix.stat(p) if follow else _posix.lstat(p)).st_mode & _S_IFMT
    except (OSError, ValueError):
        return 0


class _Path:
    """The os.path functions pyrunc uses, for POSIX paths given as str."""

    @staticmethod
    def join(a: str, *parts: str) -> str:
        out = a
        for b in parts:
            if b.startswith("/"):
                out = b
            elif not out or out.endswith("/"):
                out += b
            else:
                out += "/" + b
        return out

    @staticmethod
    def basename(p: str) -> str:
        return p[p.rfind("/") + 1:]

    @staticmethod
    def dirname(p: str) -> str:
        head = p[:p.rfind("/") + 1]
        if head and head != "/" * len(head):
            head = head.rstrip("/")
        return head

    @staticmethod
    def normpath(p: str) -> str:
        if not p:
            return "."
        lead = 2 if p.startswith("//") and not p.startswith("///") else int(p.startswith("/"))
        parts: list[str] = []
        for c in p.split("/"):
            if c in ("", "."):
                continue
            if c != ".." or (not lead and not parts) or (parts and parts[-1] == ".."):
                parts.append(c)
            elif parts:
                parts.pop()
        return "/" * lead + "/".join(parts) or "."

    def abspath(self, p: str) -> str:
        return self.normpath(p if p.startswith("/") else self.join(_posix.getcwd(), p))

    @staticmethod
    def exists(p: str) -> bool:
        return _mode(p) != 0

    @staticmethod
    def isdir(p: str) -> bool:
        return _mode(p) == _S_IFDIR

    @staticmethod
    def isfile(p: str) -> bool:
        return _mode(p) == _S_IFREG

    @staticmethod
    def islink(p: str) -> bool:
        return _mode(p, follow=False) == _S_IFLNK

    def __getattr__(self, name: str):
        import posixpath
        return getattr(posixpath, name)


path = _Path()


def makedirs(name: str, mode: int = 0o777, exist_ok: bool = False) -> None:
    """os.makedirs: missing parents are made with mode 0o777 (less the umask), the leaf with
    ``mode``."""
    try:
        _posix.mkdir(name, mode)
    except FileNotFoundError:
        parent = path.dirname(name.rstrip("/"))
        if not parent or parent == name:
            raise
        makedirs(parent, exist_ok=True)
        try:  # once: where the parent exists and still no child can be made (/proc), ENOENT
            _posix.mkdir(name, mode)
        except FileExistsError:
            if not (exist_ok and path.isdir(name)):
                raise
    except FileExistsError:
        if not (exist_ok and path.isdir(name)):
            raise


def read_file(path: str) -> bytes:
    """A whole small file (/proc, cgroup and state files) with one read, without io's file
    objects: the engine's commands read four or five of them per call."""
    fd = _posix.open(path, _posix.O_RDONLY | _posix.O_CLOEXEC)
    try:
        data = _posix.read(fd, 65536)
        while True:  # a short read is not the end of a /proc file: only an empty one is
            more = _posix.read(fd, 65536)
            if not more:
                return data
            data += more
    finally:
        _posix.close(fd)


def __getattr__(name: str):
    """os's other names, looked up on first use and then kept here: the system calls from
    posix (copying all of them at import would cost a third of this module's import), environ
    as str, anything else from the real os."""
    if name == "environ":
        value: object = {k.decode("utf-8", "surrogateescape"): v.decode("utf-8", "surrogateescape")
                         for k, v in _posix.environ.items()}
    elif hasattr(_posix, name):
        value = getattr(_posix, name)
    else:
        import os
        value = getattr(os, name)
    globals()[name] = value
    return value
