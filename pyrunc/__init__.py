"""pyrunc: an OCI runtime-spec container runtime, a drop-in for runc.

Python decides (CLI, config, state, cgroups, hooks, the plan); the C init in native/init executes
the plan inside the container.  Modules on the create/start/state/kill/delete path import only
builtin modules: every CLI call pays for its imports.

install_fast_imports() is how the CLI loads the package's modules: straight from __pycache__,
around importlib.  Every CLI call is a new interpreter, and for each module importlib runs
~40 us of its own Python (module locks, finder, spec, attributes) before the module's first
line: a third of what start, state, kill or delete spend importing (their eight modules:
0.93 ms through importlib, 0.58 ms loaded here).  The launcher calls it before anything else;
from then on an import of a pyrunc module whose .pyc is current for its source (the magic
number, and the source's mtime and size in the header, as importlib checks them) is read,
unmarshalled and run here, with the module attributes importlib sets.  Everything else,
including a pyrunc module with a stale or missing .pyc (importlib then writes it for the next
call), goes to importlib unchanged.  It lives in this file because a module of its own would
cost every call a second trip through importlib (0.1 ms).  `-X importtime` reports what
importlib loads, so under it install_fast_imports() steps aside: the import checks of the
engine's commands (tests/test_fastos.py) see every module.
"""

__version__ = "0.1.0"
OCI_VERSION = "1.3.0"

import builtins
import marshal
import posix
import sys

# This file's globals are the package's namespace, where a submodule takes its name once loaded
# (pyrunc.commands.exec would shadow exec): the loader reaches builtins through the module.
_bootstrap = sys.modules["_frozen_importlib"]
_external = sys.modules["_frozen_importlib_external"]
_original_import = builtins.__import__


def install_fast_imports(package: str = "pyrunc", root: str | None = None) -> None:
    """Load ``package``'s modules (from directory ``root``, default: this one's) here."""
    if "importtime" in sys._xoptions:
        return
    if root is None:
        root = __file__.rpartition("/")[0]
    builtins.__import__ = _Importer(package, root).__call__


class _Importer:
    __slots__ = ("package", "prefix", "root", "tag")

    def __init__(self, package: str, root: str) -> None:
        self.package = package
        self.prefix = package + "."
        self.root = root
        self.tag = sys.implementation.cache_tag

    def __call__(self, name: str, globals=None, locals=None, fromlist=(), level: int = 0):
        if level or not (name == self.package or name.startswith(self.prefix)):
            return _original_import(name, globals, locals, fromlist, level)
        mod = sys.modules.get(name)
        if mod is None and name not in sys.modules:  # (a None entry blocks the import)
            mod = self._load(name)
        if mod is None:
            return _original_import(name, globals, locals, fromlist, level)
        if not fromlist:
            return sys.modules[self.package]
        if hasattr(mod, "__path__"):
            for item in fromlist:
                if item != "*" and not hasattr(mod, item) and self._load(f"{name}.{item}") is None:
                    return _original_import(name, globals, locals, fromlist, level)
        return mod

    def _load(self, name: str):
        """The module loaded here, or None when importlib must do it."""
        parent, _, child = name.rpartition(".")
        if parent and parent not in sys.modules and self._load(parent) is None:
            return None
        found = self._code(name)
        if found is None:
            return None
        code, src, pyc, package_dir = found
        loader = _external.SourceFileLoader(name, src)
        spec = _bootstrap.ModuleSpec(name, loader, origin=src, is_package=package_dir is not None)
        spec.has_location = True
        spec.cached = pyc
        spec.loader_state = "fastimport"  # what loaded it, for tests and the curious
        mod = type(sys)(name)
        mod.__file__ = src
        mod.__cached__ = pyc
        mod.__loader__ = loader
        mod.__spec__ = spec
        if package_dir is not None:
            spec.submodule_search_locations = [package_dir]
            mod.__path__ = [package_dir]
            mod.__package__ = name
        else:
            mod.__package__ = parent
        sys.modules[name] = mod
        try:
            builtins.exec(code, mod.__dict__)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        mod = sys.modules[name]  # a module may replace itself, as under importlib
        if parent:
            setattr(sys.modules[parent], child, mod)
        return mod

    def _code(self, name: str):
        """(code, source path, pyc path, package dir or None) if a current .pyc exists."""
        base = self.root + name[len(self.package):].replace(".", "/")
        package_dir = None
        src = base + ".py"
        try:
            st = posix.stat(src)
        except OSError:
            src = base + "/__init__.py"
            try:
                st = posix.stat(src)
            except OSError:
                return None
            package_dir = base
        d, _, stem = src[:-3].rpartition("/")
        pyc = f"{d}/__pycache__/{stem}.{self.tag}.pyc"
        try:
            fd = posix.open(pyc, posix.O_RDONLY | posix.O_CLOEXEC)
        except OSError:
            return None
        try:
            data = posix.read(fd, posix.fstat(fd).st_size + 1)
        finally:
            posix.close(fd)
        if (data[:4] != _external.MAGIC_NUMBER or data[4:8] != b"\0\0\0\0"
                or int.from_bytes(data[8:12], "little") != int(st.st_mtime) & 0xFFFFFFFF
                or int.from_bytes(data[12:16], "little") != st.st_size & 0xFFFFFFFF):
            return None
        try:
            code = marshal.loads(memoryview(data)[16:])
        except (ValueError, EOFError, TypeError):
            return None
        return code, src, pyc, package_dir
