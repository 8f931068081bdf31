"""Compile an OCI ``linux.seccomp`` section into a BPF program with libseccomp.

Only pyrunc.seccomp imports this, on a cache miss: it loads the cffi extension.  Python validates
the whole section and resolves every name (action, operator, architecture, flag) to the number
libseccomp and the kernel use; the binding in native/host/seccomp.c only passes them on.  The
semantics follow runc (libcontainer/seccomp) where the spec leaves room:

- a rule whose action equals the default action is skipped (libseccomp would refuse it);
- syscall names this libseccomp does not know are skipped, not errors;
- the comparisons of one rule are ANDed in one libseccomp rule, unless two of them test the same
  argument: then each comparison becomes a rule of its own (so they are ORed), as runc and crun
  do, because libseccomp cannot compare one argument twice in a rule;
- ``flags`` absent means SECCOMP_FILTER_FLAG_SPEC_ALLOW when the kernel has it (an explicit
  empty list means none); an unsupported flag is an error;
- SCMP_ACT_NOTIFY adds SECCOMP_FILTER_FLAG_NEW_LISTENER; it cannot be the default action nor
  apply to ``write``, which the init needs after loading the filter to report the listener fd;
- more than 32 rules turn on libseccomp's binary-tree optimisation;
- when the default action denies, native syscalls numbered above the profile's last one get
  ENOSYS (runc's "-ENOSYS stub", here as libseccomp rules), so programs fall back from
  syscalls newer than the profile instead of failing with EPERM.
"""
from __future__ import annotations

import os

from pyrunc import _native
from pyrunc.errors import ConfigError

lib = _native.lib
ffi = _native.ffi

# name -> (SCMP_ACT_* value without data, whether it carries errnoRet in its data bits)
ACTIONS: dict[str, tuple[int, bool]] = {
    "SCMP_ACT_KILL": (0x00000000, False),
    "SCMP_ACT_KILL_THREAD": (0x00000000, False),
    "SCMP_ACT_KILL_PROCESS": (0x80000000, False),
    "SCMP_ACT_TRAP": (0x00030000, False),
    "SCMP_ACT_ERRNO": (0x00050000, True),
    "SCMP_ACT_TRACE": (0x7FF00000, True),
    "SCMP_ACT_LOG": (0x7FFC0000, False),
    "SCMP_ACT_ALLOW": (0x7FFF0000, False),
    "SCMP_ACT_NOTIFY": (0x7FC00000, False),
}
ACT_NOTIFY = ACTIONS["SCMP_ACT_NOTIFY"][0]

OPERATORS: dict[str, int] = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}

_LE, _64 = 0x40000000, 0x80000000  # __AUDIT_ARCH_LE, __AUDIT_ARCH_64BIT
_N32 = 0x20000000                   # __AUDIT_ARCH_CONVENTION_MIPS64_N32
# SCMP_ARCH_* tokens (AUDIT_ARCH_* values; x32 is libseccomp's own token).  The last four are
# newer than libseccomp 2.5.4, which rejects them with a clear error.
ARCHES: dict[str, int] = {
    "SCMP_ARCH_X86": 3 | _LE,
    "SCMP_ARCH_X86_64": 62 | _64 | _LE,
    "SCMP_ARCH_X32": 62 | _LE,
    "SCMP_ARCH_ARM": 40 | _LE,
    "SCMP_ARCH_AARCH64": 183 | _64 | _LE,
    "SCMP_ARCH_MIPS": 8,
    "SCMP_ARCH_MIPS64": 8 | _64,
    "SCMP_ARCH_MIPS64N32": 8 | _64 | _N32,
    "SCMP_ARCH_MIPSEL": 8 | _LE,
    "SCMP_ARCH_MIPSEL64": 8 | _64 | _LE,
    "SCMP_ARCH_MIPSEL64N32": 8 | _64 | _LE | _N32,
    "SCMP_ARCH_PPC": 20,
    "SCMP_ARCH_PPC64": 21 | _64,
    "SCMP_ARCH_PPC64LE": 21 | _64 | _LE,
    "SCMP_ARCH_S390": 22,
    "SCMP_ARCH_S390X": 22 | _64,
    "SCMP_ARCH_PARISC": 15,
    "SCMP_ARCH_PARISC64": 15 | _64,
    "SCMP_ARCH_RISCV64": 243 | _64 | _LE,
    "SCMP_ARCH_LOONGARCH64": 258 | _64 | _LE,
    "SCMP_ARCH_M68K": 4,
    "SCMP_ARCH_SH": 42 | _LE,
    "SCMP_ARCH_SHEB": 42,
}

FLAG_TSYNC = 1 << 0
FLAG_LOG = 1 << 1
FLAG_SPEC_ALLOW = 1 << 2
FLAG_NEW_LISTENER = 1 << 3
FLAG_TSYNC_ESRCH = 1 << 4
FLAG_WAIT_KILLABLE_RECV = 1 << 5
FLAGS: dict[str, int] = {
    "SECCOMP_FILTER_FLAG_TSYNC": FLAG_TSYNC,
    "SECCOMP_FILTER_FLAG_LOG": FLAG_LOG,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": FLAG_SPEC_ALLOW,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": FLAG_WAIT_KILLABLE_RECV,
}

# Syscalls the init still makes after loading the filter and before the listener fd reaches
# the host: a NOTIFY rule on them would hang the container's start (runc forbids "write").
NOTIFY_FORBIDDEN = frozenset({"write"})

EPERM = 1
ENOSYS_ACTION = ACTIONS["SCMP_ACT_ERRNO"][0] | 38  # SCMP_ACT_ERRNO(ENOSYS)
ALLOW_LIKE = {ACTIONS["SCMP_ACT_ALLOW"][0], ACTIONS["SCMP_ACT_LOG"][0]}  # and TRACE(any data)
# Highest syscall number the ENOSYS rules cover, by native architecture (AUDIT_ARCH_*): on
# x86-64, 512 and up belong to the x32 ABI.  Elsewhere: 128 past the profile's last syscall.
ENOSYS_LIMIT = {62 | 0x80000000 | 0x40000000: 511}
SCMP_FLTATR_CTL_OPTIMIZE = 8
OPTIMIZE_ABOVE = 32  # rules; runc's threshold for the binary tree
BPF_MAXINSNS = 4096
_U64 = (1 << 64) - 1
_U16 = (1 << 16) - 1


class Rule:
    """One libseccomp rule: action for syscall ``name`` when all comparisons hold."""

    __slots__ = ("where", "name", "action", "cmps")

    def __init__(self, where: str, name: str, action: int,
                 cmps: list[tuple[int, int, int, int]]) -> None:
        self.where = where
        self.name = name
        self.action = action
        self.cmps = cmps  # (index, operator, datum_a, datum_b)


def compile_profile(cfg: dict, path: str) -> tuple[int, bytes, tuple[str, ...]]:
    """Validate ``cfg`` and compile it: (seccomp(2) flags, BPF bytes, skipped syscall names)."""
    default = _action(cfg, "defaultAction", "defaultErrnoRet", path)
    if default == ACT_NOTIFY:
        raise ConfigError(f"{path}.defaultAction", "SCMP_ACT_NOTIFY cannot be the default action")
    arches = _architectures(cfg.get("architectures"), f"{path}.architectures")
    rules = _rules(cfg.get("syscalls"), f"{path}.syscalls", default)
    notify = any(r.action == ACT_NOTIFY for r in rules)
    flags = _flags(cfg.get("flags"), f"{path}.flags", notify)

    resolved: list[tuple[Rule, int]] = []
    skipped: list[str] = []
    for rule in rules:
        nr = lib.pyrunc_seccomp_resolve_name(rule.name.encode())
        if nr == -1:  # __NR_SCMP_ERROR: unknown to this libseccomp
            if rule.name not in skipped:
                skipped.append(rule.name)
            continue
        resolved.append((rule, nr))
    bpf = _build(default, arches, _distinct(resolved, path), path)
    return flags, bpf, tuple(skipped)


# --- validation ------------------------------------------------------------------------------

def _uint(value: object, where: str, maximum: int) -> int:
    if type(value) is not int or not 0 <= value <= maximum:
        raise ConfigError(where, f"must be an integer from 0 to {maximum}")
    return value


def _list(value: object, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(where, "must be an array")
    return value


def _action(obj: dict, key: str, errno_key: str, path: str) -> int:
    """The SCMP_ACT_* value of obj[key], with obj[errno_key] in its data bits when it has one."""
    name = obj.get(key)
    if name is None or name == "":
        raise ConfigError(f"{path}.{key}", "is required")
    if not isinstance(name, str):
        raise ConfigError(f"{path}.{key}", "must be a string")
    try:
        value, takes_errno = ACTIONS[name]
    except KeyError:
        raise ConfigError(f"{path}.{key}", f"unknown seccomp action {name!r}") from None
    errno_ret = obj.get(errno_key)
    if errno_ret is None:
        return value | EPERM if takes_errno else value
    if not takes_errno:
        raise ConfigError(f"{path}.{errno_key}", f"{name} does not take an errno value")
    return value | _uint(errno_ret, f"{path}.{errno_key}", _U16)


def _architectures(value: object, where: str) -> list[tuple[str, int]]:
    out = []
    for i, name in enumerate(_list(value, where)):
        if not isinstance(name, str):
            raise ConfigError(f"{where}[{i}]", "must be a string")
        if name not in ARCHES:
            raise ConfigError(f"{where}[{i}]", f"unknown seccomp architecture {name!r}")
        out.append((f"{where}[{i}]", ARCHES[name]))
    return out


def _distinct(rules: list[tuple[Rule, int]], path: str) -> list[tuple[Rule, int]]:
    """``rules`` without repeats, refused before libseccomp sees them when they cannot fit.

    libseccomp merges each new rule into the rules of its syscall one by one, so n rules
    on one syscall cost O(n^2) (100,000 took minutes).  Every rule that differs from the
    others and is not covered by a rule without comparisons for the same syscall and action
    adds at least one instruction to the filter (its syscall or comparison jump); more than
    twice the kernel's limit of those can never fit, however libseccomp merges overlapping
    comparisons, and is an error at once.  _build checks the exact count of what is left."""
    bare = {(nr, r.action) for r, nr in rules if not r.cmps}
    seen: set = set()
    out = []
    jumps = 0
    for r, nr in rules:
        key = (nr, r.action, tuple(r.cmps))
        if key in seen:
            continue
        seen.add(key)
        out.append((r, nr))
        if not r.cmps or (nr, r.action) not in bare:
            jumps += 1
    if jumps > 2 * BPF_MAXINSNS:
        raise ConfigError(path, f"{jumps} different rules can never fit in a filter: the "
                                f"kernel takes at most {BPF_MAXINSNS} BPF instructions")
    return out


def _rules(value: object, where: str, default: int) -> list[Rule]:
    rules: list[Rule] = []
    for i, call in enumerate(_list(value, where)):
        here = f"{where}[{i}]"
        if not isinstance(call, dict):
            raise ConfigError(here, "must be an object")
        names = call.get("names")
        if not isinstance(names, list) or not names:
            raise ConfigError(f"{here}.names", "must be a non-empty array of syscall names")
        for j, name in enumerate(names):
            if not isinstance(name, str) or not name:
                raise ConfigError(f"{here}.names[{j}]", "must be a non-empty string")
        action = _action(call, "action", "errnoRet", here)
        cmps = []
        for j, arg in enumerate(_list(call.get("args"), f"{here}.args")):
            at = f"{here}.args[{j}]"
            if not isinstance(arg, dict):
                raise ConfigError(at, "must be an object")
            index = _uint(arg.get("index"), f"{at}.index", 5)
            datum_a = _uint(arg.get("value"), f"{at}.value", _U64)
            datum_b = arg.get("valueTwo")
            datum_b = 0 if datum_b is None else _uint(datum_b, f"{at}.valueTwo", _U64)
            op = arg.get("op")
            if not isinstance(op, str) or op not in OPERATORS:
                raise ConfigError(f"{at}.op", f"unknown seccomp operator {op!r}")
            cmps.append((index, OPERATORS[op], datum_a, datum_b))
        if action == ACT_NOTIFY:
            for j, name in enumerate(names):
                if name in NOTIFY_FORBIDDEN:
                    raise ConfigError(f"{here}.names[{j}]",
                                      f"SCMP_ACT_NOTIFY cannot be used for {name}")
        if action == default:
            continue
        indexes = [c[0] for c in cmps]
        # One argument compared twice: libseccomp cannot AND them, so each is its own rule.
        groups = [[c] for c in cmps] if len(set(indexes)) < len(indexes) else [cmps]
        for name in names:
            for group in groups:
                rules.append(Rule(here, name, action, group))
    return rules


def _probe(flags: int) -> bool:
    """Whether the kernel accepts these flags (it fails on our NULL program with EFAULT)."""
    return lib.pyrunc_seccomp_probe_flags(flags) == 14  # EFAULT


def _flags(value: object, where: str, notify: bool) -> int:
    flags = 0
    if value is None:
        if _probe(FLAG_SPEC_ALLOW):
            flags = FLAG_SPEC_ALLOW
    else:
        for i, name in enumerate(_list(value, where)):
            if not isinstance(name, str) or name not in FLAGS:
                raise ConfigError(f"{where}[{i}]", f"unknown seccomp flag {name!r}")
            bit = FLAGS[name]
            if bit == FLAG_WAIT_KILLABLE_RECV:
                # Only meaningful (and only accepted by the kernel) with a listener.
                if not _probe(FLAG_NEW_LISTENER | bit):
                    raise ConfigError(f"{where}[{i}]", f"{name} is not supported by this kernel")
                if not notify:
                    continue
            elif not _probe(bit):
                raise ConfigError(f"{where}[{i}]", f"{name} is not supported by this kernel")
            flags |= bit
    if notify:
        flags |= FLAG_NEW_LISTENER
        if flags & FLAG_TSYNC:
            # The kernel refuses TSYNC with NEW_LISTENER unless TSYNC_ESRCH says how to tell
            # them apart; the init is single-threaded, so TSYNC alone can go if needed.
            if _probe(flags | FLAG_TSYNC_ESRCH):
                flags |= FLAG_TSYNC_ESRCH
            else:
                flags &= ~FLAG_TSYNC
    if flags and not _probe(flags):
        raise ConfigError(where, f"the kernel refuses seccomp flags {flags:#x}")
    return flags


def features() -> dict:
    """The ``linux.seccomp`` object of the features document (features-linux.md) for this
    libseccomp and kernel: every name compile_profile accepts, and the flags the kernel has."""
    ctx = lib.pyrunc_seccomp_init(ACTIONS["SCMP_ACT_ALLOW"][0])
    try:
        archs = sorted(name for name, token in ARCHES.items()
                       if lib.pyrunc_seccomp_arch_add(ctx, token) in (0, -17))
    finally:
        lib.pyrunc_seccomp_release(ctx)
    supported = [name for name, bit in FLAGS.items()
                 if _probe(bit | FLAG_NEW_LISTENER if bit == FLAG_WAIT_KILLABLE_RECV else bit)]
    return {"enabled": True, "actions": sorted(ACTIONS), "operators": sorted(OPERATORS),
            "archs": archs, "knownFlags": list(FLAGS), "supportedFlags": supported}


# --- libseccomp ------------------------------------------------------------------------------

def libseccomp_version() -> str:
    v = ffi.new("unsigned int[3]")
    if lib.pyrunc_seccomp_version(v, v + 1, v + 2) != 0:
        return "?"
    return f"{v[0]}.{v[1]}.{v[2]}"


def _new_ctx(default: int, path: str, optimize: bool):
    ctx = lib.pyrunc_seccomp_init(default)
    if ctx == ffi.NULL:
        raise ConfigError(f"{path}.defaultAction", "libseccomp refuses this default action")
    if optimize:
        lib.pyrunc_seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)
    return ctx


def _add_arches(ctx, arches: list[tuple[str, int]]) -> None:
    for where, token in arches:
        rc = lib.pyrunc_seccomp_arch_add(ctx, token)
        if rc == -33:  # -EDOM
            raise ConfigError(where, "cannot share a filter with the native architecture "
                                     "(their byte order differs)")
        if rc < 0 and rc != -17:  # -EEXIST: the native architecture is always there
            raise ConfigError(where, f"architecture not supported by libseccomp "
                                     f"{libseccomp_version()}: {os.strerror(-rc)}")


def _add_rules(ctx, rules: list[tuple[Rule, int]]) -> None:
    index = ffi.new("unsigned int[6]")
    ops = ffi.new("int[6]")
    datum_a = ffi.new("uint64_t[6]")
    datum_b = ffi.new("uint64_t[6]")
    for rule, nr in rules:
        for k, (i, op, a, b) in enumerate(rule.cmps):
            index[k], ops[k], datum_a[k], datum_b[k] = i, op, a, b
        rc = lib.pyrunc_seccomp_rule_add(ctx, rule.action, nr, len(rule.cmps),
                                         index, ops, datum_a, datum_b)
        if rc < 0:
            raise ConfigError(rule.where, f"libseccomp refuses the rule for {rule.name}: "
                                          f"{os.strerror(-rc)}")


def _export(ctx, path: str) -> bytes:
    fd = os.memfd_create("pyrunc-seccomp", os.MFD_CLOEXEC)
    try:
        rc = lib.pyrunc_seccomp_export_bpf(ctx, fd)
        if rc < 0:
            raise ConfigError(path, f"libseccomp cannot export the filter: {os.strerror(-rc)}")
        size = os.fstat(fd).st_size
        chunks: list[bytes] = []
        done = 0
        while done < size:
            chunk = os.pread(fd, size - done, done)
            if not chunk:
                break
            chunks.append(chunk)
            done += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _enosys_rules(default: int, arches: list[tuple[str, int]], rules: list[tuple[Rule, int]],
                  path: str) -> list[tuple[Rule, int]]:
    """runc's -ENOSYS stub, as libseccomp rules: native syscalls numbered above every syscall
    the profile names fail with ENOSYS instead of the default action, so a program falls back
    from a syscall newer than the profile (glibc does, on ENOSYS only).  Like runc: only when
    the default action denies and ``architectures`` is given.  Unlike runc's hand-made BPF it
    covers the native ABI only (libseccomp cannot name future syscalls of the others)."""
    if not arches or default in ALLOW_LIKE or default == ENOSYS_ACTION \
            or default & 0xFFFF0000 == ACTIONS["SCMP_ACT_TRACE"][0]:
        return []
    top = max((nr for _rule, nr in rules if nr >= 0), default=0)
    if top == 0:
        return []
    limit = ENOSYS_LIMIT.get(lib.pyrunc_seccomp_arch_native(), top + 128)
    stub = Rule(path, "a syscall newer than the profile", ENOSYS_ACTION, [])
    return [(stub, nr) for nr in range(top + 1, limit + 1)]


def _build(default: int, arches: list[tuple[str, int]], rules: list[tuple[Rule, int]],
           path: str) -> bytes:
    optimize = len(rules) > OPTIMIZE_ABOVE
    enosys = _enosys_rules(default, arches, rules, path)
    native = lib.pyrunc_seccomp_arch_native()
    others = [(w, t) for w, t in arches if t != native]
    ctx = _new_ctx(default, path, optimize)
    try:
        if enosys and others:
            # Raw syscall numbers exist on the native ABI only: those rules go to a native-only
            # filter, the profile's rules to both, and libseccomp merges the two.
            if lib.pyrunc_seccomp_arch_remove(ctx, native) < 0:
                raise ConfigError(path, "libseccomp cannot build a multi-architecture filter")
            _add_arches(ctx, others)
            _add_rules(ctx, rules)
            nat = _new_ctx(default, path, optimize)
            try:
                _add_rules(nat, rules)
                _add_rules(nat, enosys)
            except BaseException:
                lib.pyrunc_seccomp_release(nat)
                raise
            rc = lib.pyrunc_seccomp_merge(ctx, nat)  # releases nat when it succeeds
            if rc < 0:
                lib.pyrunc_seccomp_release(nat)
                raise ConfigError(path, f"libseccomp cannot merge the filters: "
                                        f"{os.strerror(-rc)}")
        else:
            _add_arches(ctx, arches)
            _add_rules(ctx, rules)
            _add_rules(ctx, enosys)
        bpf = _export(ctx, path)
    finally:
        lib.pyrunc_seccomp_release(ctx)
    if len(bpf) // 8 > BPF_MAXINSNS:
        raise ConfigError(path, f"the filter has {len(bpf) // 8} BPF instructions; "
                                f"the kernel takes at most {BPF_MAXINSNS}")
    return bpf
