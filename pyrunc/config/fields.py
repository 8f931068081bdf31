"""The typed readers config.json's fields are read with, and CPU/node lists as kernel bit
masks: each raises ConfigError naming the field's JSON path.

No imports beyond errors: every module of pyrunc.config reads its fields through these.
"""

from pyrunc.errors import ConfigError

U64_MAX = (1 << 64) - 1
# runc's range for every uid and gid: -1 (4294967295) means "leave unchanged" to setresuid and
# setresgid, so a value the kernel reads as -1 would leave the process running as root.
ID_MAX = (1 << 31) - 1


def check_type(v: object, t: type | tuple, path: str, what: str) -> None:
    if not isinstance(v, t) or (t is int and isinstance(v, bool)):
        raise ConfigError(path, f"must be {what}")


def obj(d: dict, key: str, path: str) -> dict:
    v = d.get(key)
    if v is None:
        return {}
    check_type(v, dict, f"{path}.{key}" if path else key, "an object")
    return v


def check_text(v: str, path: str) -> None:
    """A string that reaches a system call as a C string: a NUL byte would cut it short
    silently (the init's copy ends there), so the value the kernel sees would not be the
    config's."""
    if "\0" in v:
        raise ConfigError(path, "must not contain a NUL byte")
    if not v.isascii():  # a lone surrogate ("\ud800") is no text any system call can take
        try:
            v.encode()
        except UnicodeEncodeError as e:
            raise ConfigError(path, f"holds a lone surrogate "
                                    f"({ascii(v[e.start])[1:-1]}): not Unicode text") from None


def string(d: dict, key: str, path: str, default: str | None = None) -> str | None:
    v = d.get(key, default)
    if v is not None:
        p = f"{path}.{key}" if path else key
        check_type(v, str, p, "a string")
        check_text(v, p)
    return v


def array(d: dict, key: str, path: str, what: str = "an array") -> list:
    """d[key] as a list; absent or null is empty (as Go reads it), any other type an error
    (``x or []`` would take 0, false or "" for an empty list)."""
    v = d.get(key)
    if v is None:
        return []
    check_type(v, list, f"{path}.{key}" if path else key, what)
    return v


def strings(d: dict, key: str, path: str) -> list[str]:
    p = f"{path}.{key}" if path else key
    v = array(d, key, path, "an array of strings")
    for i, s in enumerate(v):
        check_type(s, str, f"{p}[{i}]", "a string")
        check_text(s, f"{p}[{i}]")
    return v


def uint(d: dict, key: str, path: str, default: int | None = None, top: int = 0xFFFFFFFF
          ) -> int | None:
    v = d.get(key, default)
    if v is None:
        return None
    p = f"{path}.{key}" if path else key
    check_type(v, int, p, "an integer")
    if v < 0 or v > top:
        raise ConfigError(p, f"{v} is out of range")
    return v


def required_uint(d: dict, key: str, path: str, top: int = 0xFFFFFFFF) -> int:
    """An unsigned integer the schema requires (runc's decoder would read a missing one as 0)."""
    v = uint(d, key, path, None, top)
    if v is None:
        raise ConfigError(f"{path}.{key}", "is required and must be an integer")
    return v


def boolean(d: dict, key: str, path: str) -> bool:
    v = d.get(key, False)
    check_type(v, bool, f"{path}.{key}" if path else key, "true or false")
    return v


def id_value(d: dict, key: str, path: str) -> int:
    """A uid or gid: runc's range, 0-2147483647 (see ID_MAX)."""
    v = d.get(key, 0)
    p = f"{path}.{key}"
    check_type(v, int, p, "an integer")
    if not 0 <= v <= ID_MAX:
        raise ConfigError(p, f"{v} is out of range: uids and gids must be in range 0-{ID_MAX}")
    return v


def cpu_list(v: str | None, path: str, what: str = "CPU") -> bytes:
    """A cpuset-style list ("0-3,7") as a little-endian cpu_set_t bit mask (1024 CPUs; also
    a nodemask of 1024 NUMA nodes, the kernel's most, with ``what`` "node")."""
    cpus: set[int] = set()
    for part in (v or "").split(","):
        part = part.strip()
        lo, _, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi) if hi else int(lo)
        except ValueError:
            raise ConfigError(path, f"{v!r} is not a {what} list like 0-3,7") from None
        if a < 0 or b < a or b >= 1024:
            raise ConfigError(path, f"{part!r} is not a valid {what} range")
        cpus.update(range(a, b + 1))
    return cpu_mask(cpus)


def cpu_mask(cpus: set[int]) -> bytes:
    """CPU numbers as a little-endian cpu_set_t bit mask (1024 CPUs), as CPU_AFFINITY takes it."""
    mask = 0
    for c in cpus:
        mask |= 1 << c
    return mask.to_bytes(128, "little")
