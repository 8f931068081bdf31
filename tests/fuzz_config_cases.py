"""Malformed config.json variants: wrong types and extreme values at every JSON path of a rich
config, and whole files that are no valid config at all.

Shared by the CLI fuzz test (tests/test_fuzz_config.py), the schema agreement test
(tests/test_fuzz_schema.py) and the atheris target (tests/fuzz_atheris.py), so the
three look at the same inputs.  Deterministic: the variants depend only on the seed.

A variant never makes the container share the host's mount or pid namespace (linux,
linux.namespaces and its entries are never removed or emptied), never names a cgroup outside
CGROUP_PARENT, and its strings never name a real host path, so a variant that pyrunc accepts
only ever creates a harmless container, which the test then deletes.
"""
from __future__ import annotations

import copy
import json
import random
from typing import Any, Iterator

from conformance.bundle import CGROUP_PARENT, default_config

SEED = 20261201

# Values put at a JSON path: every JSON type, the edges of every integer range the spec uses
# (uint32, int32, uint64, int64, runc's id range), floats, strings that no C string can hold.
VALUES: list[Any] = [
    None, True, False, 0, -1, 1, 7, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63,
    2**64 - 1, 2**64, -(2**63) - 1, -(2**31) - 1, 10**40, -(10**40), 1.5, -0.0, 1e308,
    2**31 // 1000, 2**31 // 1000 + 1,  # the longest hook timeout (2^31-1 ms, in s), one more
    "", "relative", "/nonexistent-fuzz", "a\0b", "\0", "\ud800", "x\udfffy", "line\nbreak",
    "\r", "\u2028", "x" * 5000, "%s%n", "rwm", "SCMP_ACT_KILL", [], [None], [1, "x"], [[]],
    [{}], {}, {"x": 1}, {"": None}, {"\0": "\ud800"},
]

# Where a variant may not remove or empty a value (see the module's docstring).
PROTECTED = {("linux",), ("linux", "namespaces")}
ABSENT_LIKE = (None, [], {}, "")


def rich_config(rootfs: str, share: str) -> dict[str, Any]:
    """runc's default config with one of nearly everything pyrunc implements: hooks, devices,
    resources, seccomp, an id-mapped mount, rlimits, scheduler, ioPriority, personality,
    sysctls, exec CPU affinity, annotations.  `rootfs` is absolute (variants share one)."""
    cfg = default_config(["sleep", "1000"])
    cfg["root"]["path"] = rootfs
    p = cfg["process"]
    p["rlimits"].append({"type": "RLIMIT_CORE", "hard": 0, "soft": 0})
    p["user"]["additionalGids"] = [1, 2]
    p["user"]["umask"] = 0o22
    p["oomScoreAdj"] = 100
    p["scheduler"] = {"policy": "SCHED_OTHER", "nice": 1}
    p["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 4}
    p["execCPUAffinity"] = {"initial": "0", "final": "0"}
    p["capabilities"]["inheritable"] = ["CAP_KILL"]
    cfg["mounts"].append({"destination": "/share", "type": "bind", "source": share,
                          "options": ["rbind", "ro"]})
    cfg["mounts"].append({"destination": "/idmapped", "type": "bind", "source": share,
                          "options": ["rbind"],
                          "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 1000}],
                          "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 1000}]})
    cfg["hooks"] = {
        "createRuntime": [{"path": "/bin/true", "args": ["true"], "env": ["A=1"],
                           "timeout": 5}],
        "poststop": [{"path": "/bin/true"}],
    }
    cfg["annotations"] = {"org.example.fuzz": "1"}
    lx = cfg["linux"]
    lx["cgroupsPath"] = f"{CGROUP_PARENT}/fuzz"
    lx["devices"] = [{"path": "/dev/fuzz0", "type": "c", "major": 1, "minor": 3,
                      "fileMode": 0o666, "uid": 0, "gid": 0}]
    lx["resources"] = {
        "devices": [{"allow": False, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}],
        "memory": {"limit": 256 << 20, "reservation": 128 << 20},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000},
        "pids": {"limit": 100},
    }
    lx["sysctl"] = {"net.ipv4.ip_forward": "0"}
    lx["personality"] = {"domain": "LINUX"}
    lx["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                      "args": [{"index": 0, "value": 255, "op": "SCMP_CMP_EQ"}]}],
    }
    return cfg


def paths(node: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every JSON path in `node` (as tuples of keys and indices), the root included."""
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from paths(v, prefix + (i,))


def path_text(path: tuple) -> str:
    out = ""
    for k in path:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else str(k))
    return out or "<root>"


_DELETE = object()


def _apply(cfg: dict[str, Any], path: tuple, value: Any) -> dict[str, Any]:
    cfg = copy.deepcopy(cfg)
    if not path:
        return value
    node = cfg
    for k in path[:-1]:
        node = node[k]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return cfg


def _allowed(path: tuple, value: Any) -> bool:
    if path in PROTECTED or path[:2] == ("linux", "namespaces") and len(path) == 3:
        return not (value is _DELETE or isinstance(value, (list, dict)) or value in ABSENT_LIKE)
    return True


def _cgroup_safe(path: tuple, value: Any) -> Any:
    """A string at linux.cgroupsPath stays under CGROUP_PARENT: a variant never names (or
    limits) a cgroup of the host's."""
    if path == ("linux", "cgroupsPath") and isinstance(value, str):
        # no "/": a nested path leaves its parents, as runc's does, outside the leftover check
        return f"{CGROUP_PARENT}/fuzz-{value.replace('/', '_')}"
    return value


def path_variants(base: dict[str, Any], n: int, seed: int = SEED
                  ) -> list[tuple[str, dict[str, Any]]]:
    """`n` variants of `base` (name, config): each replaces the value at one JSON path with
    one of VALUES, deletes it, adds an odd key to an object or an odd element to an array.
    The first ones are the cases the issue names; the rest is a seeded sample."""
    rng = random.Random(seed)
    out: list[tuple[str, dict[str, Any]]] = []
    named = [
        (("process", "user", "uid"), None), (("process", "rlimits", 0, "hard"), None),
        (("mounts", 0, "source"), "pr\0oc"), (("linux", "cgroupsPath"), "a\0b"),
        (("linux", "devices", 0, "type"), ["c"]), (("linux", "devices", 0, "type"), {"c": 1}),
        (("process", "args", 0), "\ud800"), (("hostname",), "a\nb"),
        (("hooks", "createRuntime", 0, "timeout"), 2**31 - 1),  # found with 3,000 variants
    ]
    for path, value in named:
        try:
            cfg = _apply(base, path, _cgroup_safe(path, value))
        except (KeyError, IndexError):  # a base that is no whole config (e.g. a process)
            continue
        out.append((f"{path_text(path)} = {value!r}", cfg))
    all_paths = list(paths(base))
    while len(out) < n:
        path = rng.choice(all_paths)
        node = base
        for k in path:
            node = node[k]
        kind = rng.random()
        if kind < 0.12 and path:
            value: Any = _DELETE
            name = f"del {path_text(path)}"
        elif kind < 0.2 and isinstance(node, (dict, list)):
            extra = rng.choice(VALUES)
            if isinstance(node, dict):
                key = rng.choice(["\0", "\ud800", "fuzz", "", "a.b"])
                value = dict(node)
                value[key] = extra
                name = f"{path_text(path)}[{key!r}] = {extra!r}"
            else:
                value = list(node) + [extra]
                name = f"{path_text(path)} += [{extra!r}]"
        else:
            value = rng.choice(VALUES)
            name = f"{path_text(path)} = {value!r}"
        if not _allowed(path, value):
            continue
        value = _cgroup_safe(path, value)
        out.append((name[:200], _apply(base, path, value)))
    return out


def dumps(cfg: Any) -> bytes:
    """The variant as config.json bytes (lone surrogates as \\u escapes, as in a real file)."""
    return json.dumps(cfg, ensure_ascii=True).encode()


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def file_variants(base: dict[str, Any]) -> list[tuple[str, bytes]]:
    """Whole config.json files that no parser should take (or must take with care)."""
    good = dumps(base)
    inner = good[1:]
    return [
        ("empty file", b""),
        ("whitespace only", b" \n\t "),
        ("not UTF-8", b'{"ociVersion": "1.0.2\xff"' + good[1:]),
        ("UTF-16", json.dumps(base).encode("utf-16")),
        ("a BOM", b"\xef\xbb\xbf" + good),
        ("duplicate keys", b'{"ociVersion": 5, ' + inner),
        ("duplicate keys, last bad", good[:-1] + b', "process": 5}'),
        ("NaN", good[:-1] + b', "x": NaN}'),
        ("Infinity", good.replace(b'"hard": 1024', b'"hard": Infinity')),
        ("-Infinity", good.replace(b'"hard": 1024', b'"hard": -Infinity')),
        ("huge int", good.replace(b'"hard": 1024', b'"hard": ' + b"9" * 5000)),
        ("huge negative int", good.replace(b'"hard": 1024', b'"hard": -' + b"9" * 5000)),
        ("huge float", good.replace(b'"hard": 1024', b'"hard": 1e999')),
        ("nested 100k deep", _nested(100_000)),
        ("nested 100k deep inside", good[:-1] + b', "x": ' + _nested(100_000) + b"}"),
        ("nested 990 deep inside process", good.replace(b'"process": {', b'"process": {"x": '
                                                        + _nested(990) + b", ", 1)),
        ("objects nested 100k deep", b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
        ("lone surrogate in a key", good[:-1] + b', "\\ud800": 1}'),
        ("lone surrogate in args", good.replace(b'"sleep"', b'"\\ud800"')),
        ("lone low surrogate in env", good.replace(b'"TERM=xterm"', b'"TERM=\\udc80"')),
        ("lone surrogate in annotations", good.replace(b'"org.example.fuzz": "1"',
                                                       b'"org.example.fuzz": "\\udbff"')),
        ("surrogate pair (valid)", good.replace(b'"TERM=xterm"', b'"TERM=\\ud83d\\ude00"')),
        ("escaped NUL in cgroupsPath", good.replace(b'/fuzz"', b'/fu\\u0000zz"')),
        ("truncated", good[: len(good) // 2]),
        ("trailing garbage", good + b"x"),
        ("two documents", good + good),
        ("a JSON array", b"[" + good + b"]"),
        ("a JSON string", b'"config"'),
        ("null", b"null"),
        ("control character in a string", good.replace(b'"TERM=xterm"', b'"TERM=\x01"')),
        ("NUL byte raw", good.replace(b'"TERM=xterm"', b'"TERM=\x00"')),
        ("comment", b"// comment\n" + good),
    ]


def seccomp_rules(n: int) -> dict[str, Any]:
    """A seccomp section with `n` rules (the issue's 100,000-rule case)."""
    return {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
                          "args": [{"index": 0, "value": i, "op": "SCMP_CMP_EQ"}]}
                         for i in range(n)]}
