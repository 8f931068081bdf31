"""The container's seccomp program: ``linux.seccomp`` compiled once, then served from a cache.

``compile_seccomp`` turns the OCI section into what the init hands to seccomp(2): the BPF bytes
and the SECCOMP_FILTER_FLAG_* bits.  Compiling Podman's or Docker's profile through libseccomp
costs tens of milliseconds, and every container of an engine gets the same profile, so programs
are cached by profile content in /var/cache/pyrunc/seccomp.  This module is on the create path:
a cache hit imports nothing but builtins (no cffi, no json); the compiler itself lives in
``pyrunc.seccomp.compile`` and is imported only on a miss.

Cache entries are keyed by a hash of the profile (without listenerPath/listenerMetadata, which do
not change the program) together with everything that can change its compilation: the kernel
(uname), the compiler module, the native extension and libseccomp's file.  A cached entry is
trusted only if it is a regular file owned by us, not writable by others, and its checksum holds;
anything else is recompiled and replaced (writes go to a temporary file renamed into place).
"""

from pyrunc import fastos as os  # os without its import cost (see fastos)

import _blake2
import _imp
import _json
import sys

from pyrunc.errors import ConfigError

CACHE_DIR = "/var/cache/pyrunc/seccomp"
# The cache holds at most this many programs; storing one more drops the older half.
CACHE_MAX_ENTRIES = 256

SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3

# Bump when the file format or the meaning of a cached program changes.
_KEY_VERSION = b"pyrunc-seccomp-1\0"
_MAGIC = b"PYSCMP01"
_DIGEST = 16
_HERE = os.path.dirname(os.path.abspath(__file__))  # pyrunc/seccomp
_PACKAGE = os.path.dirname(_HERE)  # pyrunc, where the native extension is


class SeccompProgram:
    """A compiled filter, ready for seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog).

    ``bpf`` is the ``struct sock_filter`` array (8 bytes an instruction, native endian).
    ``flags`` includes SECCOMP_FILTER_FLAG_NEW_LISTENER when a rule uses SCMP_ACT_NOTIFY; the
    listener fd the kernel then returns goes to ``listener_path`` (see pyrunc.seccomp.notify).
    ``skipped`` names the syscalls this libseccomp does not know (ignored, as runc does).
    """

    __slots__ = ("flags", "bpf", "listener_path", "listener_metadata", "skipped", "cached")

    def __init__(self, flags: int, bpf: bytes, listener_path: str | None = None,
                 listener_metadata: str | None = None, skipped: tuple[str, ...] = (),
                 cached: bool = False) -> None:
        self.flags = flags
        self.bpf = bpf
        self.listener_path = listener_path
        self.listener_metadata = listener_metadata
        self.skipped = skipped
        self.cached = cached

    @property
    def instructions(self) -> int:
        return len(self.bpf) // 8

    @property
    def notify(self) -> bool:
        return bool(self.flags & SECCOMP_FILTER_FLAG_NEW_LISTENER)

    def __repr__(self) -> str:
        return (f"SeccompProgram(flags={self.flags:#x}, instructions={self.instructions}, "
                f"listener_path={self.listener_path!r}, cached={self.cached})")


def compile_seccomp(cfg: dict, path: str = "linux.seccomp", *,
                    cache_dir: str | None = CACHE_DIR) -> SeccompProgram | None:
    """Compile the OCI seccomp section ``cfg`` (found at JSON path ``path``).

    Returns None when the section asks for no filter (no defaultAction and no syscalls, which
    runc also treats as "seccomp disabled").  Raises ConfigError naming the exact JSON path of
    an invalid value.  ``cache_dir=None`` compiles without the cache.
    """
    if not isinstance(cfg, dict):
        raise ConfigError(path, "must be an object")
    listener_path = cfg.get("listenerPath")
    if listener_path is not None and not isinstance(listener_path, str):
        raise ConfigError(f"{path}.listenerPath", "must be a string")
    metadata = cfg.get("listenerMetadata")
    if metadata is not None and not isinstance(metadata, str):
        raise ConfigError(f"{path}.listenerMetadata", "must be a string")
    listener_path = listener_path or None
    metadata = metadata or None
    if metadata is not None and listener_path is None:
        raise ConfigError(f"{path}.listenerMetadata", "must not be set without listenerPath")
    if not cfg.get("defaultAction") and not cfg.get("syscalls"):
        return None

    got = None
    key = _cache_key(cfg) if cache_dir else None
    if key is not None:
        got = _cache_read(cache_dir, key)
    cached = got is not None
    if got is None:
        from pyrunc.seccomp import compile as seccomp_compile
        got = seccomp_compile.compile_profile(cfg, path)
        if key is not None:
            _cache_write(cache_dir, key, *got)
    flags, bpf, skipped = got
    if flags & SECCOMP_FILTER_FLAG_NEW_LISTENER and listener_path is None:
        raise ConfigError(f"{path}.listenerPath", "is required when SCMP_ACT_NOTIFY is used")
    return SeccompProgram(flags, bpf, listener_path, metadata, skipped, cached)


# --- the cache -------------------------------------------------------------------------------

def _no_default(obj: object) -> object:
    raise TypeError(f"cannot hash {type(obj).__name__} in a seccomp profile")


# The C encoder of the json package, used directly: sorted keys, no spaces, ASCII.
_canonical = _json.make_encoder(None, _no_default, _json.encode_basestring_ascii, None,
                                ":", ",", True, False, False)
_toolchain: bytes | None = None


def _stat_id(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return "-"
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def _toolchain_id() -> bytes:
    """What compiled the program: kernel, compiler module, native extension, libseccomp."""
    global _toolchain
    if _toolchain is None:
        u = os.uname()
        parts = [u.release, u.version, u.machine, _stat_id(f"{_HERE}/__init__.py"),
                 _stat_id(f"{_HERE}/compile.py")]
        for suffix in _imp.extension_suffixes():
            if os.path.exists(f"{_PACKAGE}/_native{suffix}"):
                parts.append(_stat_id(f"{_PACKAGE}/_native{suffix}"))
                break
        arch = getattr(sys.implementation, "_multiarch", "")
        for d in (f"/usr/lib/{arch}", f"/lib/{arch}", "/usr/lib64", "/lib64", "/usr/lib"):
            if os.path.exists(f"{d}/libseccomp.so.2"):
                parts.append(_stat_id(f"{d}/libseccomp.so.2"))
                break
        _toolchain = "\0".join(parts).encode()
    return _toolchain


def _cache_key(cfg: dict) -> str | None:
    profile = {k: v for k, v in cfg.items() if k != "listenerPath" and k != "listenerMetadata"}
    try:
        text = "".join(_canonical(profile, 0))
    except (TypeError, ValueError, RecursionError):
        return None
    h = _blake2.blake2b(_KEY_VERSION, digest_size=32)
    h.update(_toolchain_id())
    h.update(b"\0")
    h.update(text.encode())
    return h.hexdigest()


def _encode(flags: int, bpf: bytes, skipped: tuple[str, ...]) -> bytes:
    payload = b"".join((_MAGIC, flags.to_bytes(4, "little"), len(bpf).to_bytes(4, "little"),
                        bpf, "\n".join(skipped).encode()))
    return payload + _blake2.blake2b(payload, digest_size=_DIGEST).digest()


def _decode(data: bytes) -> tuple[int, bytes, tuple[str, ...]] | None:
    if len(data) < 16 + _DIGEST or data[:8] != _MAGIC:
        return None
    payload = data[:-_DIGEST]
    if _blake2.blake2b(payload, digest_size=_DIGEST).digest() != data[-_DIGEST:]:
        return None
    flags = int.from_bytes(payload[8:12], "little")
    n = int.from_bytes(payload[12:16], "little")
    if n == 0 or n % 8 or 16 + n > len(payload):
        return None
    rest = payload[16 + n:]
    skipped = tuple(rest.decode().split("\n")) if rest else ()
    return flags, payload[16:16 + n], skipped


def _cache_read(cache_dir: str, key: str) -> tuple[int, bytes, tuple[str, ...]] | None:
    try:
        fd = os.open(f"{cache_dir}/{key}", os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if (st.st_mode & 0o170000) != 0o100000 or st.st_uid != os.geteuid() \
                or st.st_mode & 0o022:
            return None
        chunks = []
        left = st.st_size
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        got = _decode(b"".join(chunks))
        if got is not None:
            _touch(fd, st.st_mtime)
        return got
    except OSError:
        return None
    finally:
        os.close(fd)


def _touch(fd: int, mtime: float) -> None:
    """Mark a hit (at most hourly), so eviction drops the programs least recently used."""
    import time
    if time.time() - mtime > 3600:
        try:
            os.utime(fd)
        except OSError:
            pass


def _cache_write(cache_dir: str, key: str, flags: int, bpf: bytes,
                 skipped: tuple[str, ...]) -> None:
    """Store a program; the cache is best effort, so failures are ignored."""
    tmp = f"{cache_dir}/.{key}.{os.getpid()}.tmp"
    try:
        os.makedirs(cache_dir, 0o700, exist_ok=True)
        try:
            os.unlink(tmp)  # left by a crashed process that had our pid
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW,
                     0o600)
        try:
            data = _encode(flags, bpf, skipped)
            while data:
                data = data[os.write(fd, data):]
        finally:
            os.close(fd)
        os.rename(tmp, f"{cache_dir}/{key}")
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return
    _evict(cache_dir)


def _evict(cache_dir: str) -> None:
    """Keep the cache bounded: past CACHE_MAX_ENTRIES, drop the older half (by mtime)."""
    try:
        with os.scandir(cache_dir) as it:
            entries = []
            for e in it:
                try:
                    entries.append((e.stat(follow_symlinks=False).st_mtime_ns, e.name))
                except OSError:
                    pass
    except OSError:
        return
    if len(entries) <= CACHE_MAX_ENTRIES:
        return
    entries.sort()
    for _, name in entries[:len(entries) // 2]:
        try:
            os.unlink(f"{cache_dir}/{name}")
        except OSError:
            pass
