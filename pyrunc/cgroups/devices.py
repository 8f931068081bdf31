"""Device access rules: the v1 devices.allow/deny lists and the v2 eBPF device program.

Rules follow runc: linux.resources.devices in order, then runc's default allow list, folded by an
emulator of the v1 devices controller (default allow/deny plus exceptions).  The folded set
drives both back ends, so v1 and v2 agree, including v1's refusal to punch a hole into a wildcard
exception.  On v1 only the difference from the cgroup's current list is written (no moment
where the running container loses its devices); on v2 the program is built here and loaded and
attached by native/host/devices_bpf.c.
"""

from pyrunc import fastos as os  # os without its import cost (see fastos)

from pyrunc.errors import ConfigError, PyruncError

WILDCARD = -1

# runc's default rules (libcontainer/specconv AllowedDevices): (type, major, minor, access, path)
DEFAULT_RULES = (
    ("c", WILDCARD, WILDCARD, "m", None),
    ("b", WILDCARD, WILDCARD, "m", None),
    ("c", 1, 3, "rwm", "/dev/null"),
    ("c", 1, 8, "rwm", "/dev/random"),
    ("c", 1, 7, "rwm", "/dev/full"),
    ("c", 5, 0, "rwm", "/dev/tty"),
    ("c", 1, 5, "rwm", "/dev/zero"),
    ("c", 1, 9, "rwm", "/dev/urandom"),
    ("c", 136, WILDCARD, "rwm", None),   # /dev/pts/*
    ("c", 5, 2, "rwm", None),            # /dev/ptmx
    ("c", 10, 200, "rwm", None),         # /dev/net/tun
)


class Rule:
    """One cgroup device rule; major/minor -1 is the wildcard, type "a" means every device."""

    __slots__ = ("allow", "type", "major", "minor", "access")

    def __init__(self, allow: bool, type: str, major: int, minor: int, access: str) -> None:
        self.allow = allow
        self.type = type
        self.major = major
        self.minor = minor
        self.access = access

    def cgroup_string(self) -> str:
        """The line devices.allow/deny take: ``c 1:3 rwm``, ``a *:* rwm``."""
        maj = "*" if self.major == WILDCARD else str(self.major)
        mnr = "*" if self.minor == WILDCARD else str(self.minor)
        return f"{self.type} {maj}:{mnr} {self.access}"

    def __repr__(self) -> str:
        return f"Rule({'allow' if self.allow else 'deny'} {self.cgroup_string()})"


def rules_from_config(res: dict, path: str, linux_devices: list | None = None) -> list[Rule]:
    """linux.resources.devices checked and converted, followed by runc's default rules."""
    rules = []
    devs = res.get("devices")
    if devs is None:
        devs = []
    if not isinstance(devs, list):
        raise ConfigError(f"{path}.devices", "must be an array")
    for i, d in enumerate(devs):
        p = f"{path}.devices[{i}]"
        if not isinstance(d, dict):
            raise ConfigError(p, "must be an object")
        allow = d.get("allow")
        if not isinstance(allow, bool):
            raise ConfigError(f"{p}.allow", "is required and must be a boolean")
        t = d.get("type")
        if t is None:
            t = "a"
        if t not in ("a", "b", "c"):  # a tuple: any type may be compared
            raise ConfigError(f"{p}.type", f"invalid cgroup device type {t!r} (want a, b or c)")
        nums = []
        for k in ("major", "minor"):
            v = d.get(k)
            if v is None:
                v = WILDCARD
            elif isinstance(v, bool) or not isinstance(v, int) or not -1 <= v < (1 << 32):
                raise ConfigError(f"{p}.{k}", f"invalid device number {v!r}")
            nums.append(v)
        access = d.get("access")
        if access is None or access == "":
            raise ConfigError(f"{p}.access", "device access cannot be empty")
        if not isinstance(access, str) or not set(access) <= set("rwm"):
            raise ConfigError(f"{p}.access", f"invalid device access {access!r} (want r, w, m)")
        rules.append(Rule(allow, t, nums[0], nums[1], _norm(access)))
    redefined = {d.get("path") for d in (linux_devices or []) if isinstance(d, dict)}
    for t, maj, mnr, acc, dpath in DEFAULT_RULES:
        if dpath is not None and dpath in redefined:
            continue
        rules.append(Rule(True, t, maj, mnr, acc))
    return rules


def _norm(access: str) -> str:
    return "".join(c for c in "rwm" if c in access)


# ---- the v1 devices controller, emulated --------------------------------------------------------

class Emulator:
    """A devices cgroup: default allow or deny, and exceptions {(type, major, minor): access}."""

    def __init__(self, default_allow: bool = False) -> None:
        self.default_allow = default_allow
        self.exceptions: dict[tuple[str, int, int], str] = {}

    def apply(self, r: Rule) -> None:
        if r.type == "a":
            self.default_allow = r.allow
            self.exceptions = {}
            return
        key = (r.type, r.major, r.minor)
        if r.allow != self.default_allow:
            self.exceptions[key] = _norm(self.exceptions.get(key, "") + r.access)
            return
        # Removing (part of) an exception: the kernel cannot carve it out of a wildcard one.
        for wk in ((r.type, WILDCARD, r.minor), (r.type, r.major, WILDCARD),
                   (r.type, WILDCARD, WILDCARD)):
            if wk != key and set(self.exceptions.get(wk, "")) & set(r.access):
                wild = Rule(True, *wk, self.exceptions[wk]).cgroup_string()
                raise ConfigError("", f"device rule {r.cgroup_string()!r} cannot punch a hole in "
                                  f"the wildcard rule {wild!r}")
        left = _norm("".join(c for c in self.exceptions.get(key, "") if c not in r.access))
        if left:
            self.exceptions[key] = left
        else:
            self.exceptions.pop(key, None)

    def sorted_exceptions(self) -> list[tuple[tuple[str, int, int], str]]:
        return sorted(self.exceptions.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0]))

    @classmethod
    def from_list(cls, text: str) -> "Emulator":
        """Parse devices.list: ``a *:* rwm`` alone means allow-all, else deny-all + allows."""
        e = cls(False)
        for line in text.splitlines():
            f = line.replace(":", " ").split()
            if len(f) != 4:
                continue
            t, maj, mnr, acc = f
            if t == "a":
                e = cls(True)
                continue
            e.apply(Rule(True, t, WILDCARD if maj == "*" else int(maj),
                         WILDCARD if mnr == "*" else int(mnr), _norm(acc)))
        return e

    def transition(self, target: "Emulator") -> list[Rule]:
        """The writes that turn this cgroup into target, never granting more than target."""
        out: list[Rule] = []
        old = self.exceptions
        if self.default_allow or self.default_allow != target.default_allow:
            out.append(Rule(target.default_allow, "a", WILDCARD, WILDCARD, "rwm"))
            old = {}
        for key, acc in sorted(old.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
            dropped = _norm("".join(c for c in acc if c not in target.exceptions.get(key, "")))
            if dropped:
                out.append(Rule(target.default_allow, *key, dropped))
        for key, acc in target.sorted_exceptions():
            gained = _norm("".join(c for c in acc if c not in old.get(key, "")))
            if gained:
                out.append(Rule(not target.default_allow, *key, gained))
        return out


def fold(rules: list[Rule], path: str = "") -> Emulator:
    e = Emulator(False)
    for r in rules:
        try:
            e.apply(r)
        except ConfigError as err:
            raise ConfigError(path, err.msg) from None
    return e


def plan_devices(plan, rules: list[Rule], path: str) -> None:
    """Add the device rules to a resources write plan (v1 lists or the v2 program)."""
    from pyrunc.cgroups import V2, _read, _write

    target = fold(rules, path)
    if plan.cg.mode == V2:
        insns = program(target)
        d = plan.cg.paths[""]
        plan.call(lambda: attach_program(d, insns, path), path)
        return
    d = plan.dir("devices", path)

    def run() -> None:
        current = Emulator.from_list(_read(f"{d}/devices.list"))
        for r in current.transition(target):
            try:
                _write(f"{d}/devices.{'allow' if r.allow else 'deny'}", r.cgroup_string())
            except OSError as e:
                raise ConfigError(path, f"cannot write {r.cgroup_string()!r} to devices."
                                  f"{'allow' if r.allow else 'deny'}: {e.strerror}") from None
    plan.call(run, path)


# ---- the v2 eBPF program ---------------------------------------------------------------------

# struct bpf_insn: u8 code, u8 dst:4|src:4, s16 off, s32 imm
_LDXW = 0x61      # BPF_LDX | BPF_MEM | BPF_W
_AND32_K = 0x54   # BPF_ALU | BPF_AND | BPF_K
_RSH32_K = 0x74   # BPF_ALU | BPF_RSH | BPF_K
_MOV32_X = 0xbc   # BPF_ALU | BPF_MOV | BPF_X
_MOV32_K = 0xb4   # BPF_ALU | BPF_MOV | BPF_K
_JNE_K = 0x55     # BPF_JMP | BPF_JNE | BPF_K
_JNE_X = 0x5d     # BPF_JMP | BPF_JNE | BPF_X
_EXIT = 0x95      # BPF_JMP | BPF_EXIT
DEV_BLOCK, DEV_CHAR = 1, 2                     # BPF_DEVCG_DEV_*
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4       # BPF_DEVCG_ACC_*
LICENSE = "Apache"


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    # struct.pack("<BBhi") without struct (0.1 ms to import on every create)
    return (bytes((code, (src << 4) | dst)) + off.to_bytes(2, "little", signed=True)
            + imm.to_bytes(4, "little", signed=True))


def program(target: Emulator) -> bytes:
    """A BPF_PROG_TYPE_CGROUP_DEVICE program for the folded rules, one block per exception.

    Context (struct bpf_cgroup_dev_ctx): u32 access_type (type in the low 16 bits, access in the
    high 16), u32 major, u32 minor.  Each block jumps to the next when its device does not match
    and returns the exception's verdict when it does; the end returns the default.
    """
    out = [
        _insn(_LDXW, 2, 1, 0),          # r2 = ctx->access_type
        _insn(_AND32_K, 2, imm=0xFFFF),  # r2 &= 0xffff: device type
        _insn(_LDXW, 3, 1, 0),          # r3 = ctx->access_type
        _insn(_RSH32_K, 3, imm=16),      # r3 >>= 16: requested access
        _insn(_LDXW, 4, 1, 4),          # r4 = ctx->major
        _insn(_LDXW, 5, 1, 8),          # r5 = ctx->minor
    ]
    for (t, maj, mnr), acc in target.sorted_exceptions():
        block: list[tuple] = []   # (code, dst, src, imm, jumps_to_next)
        block.append((_JNE_K, 2, 0, DEV_CHAR if t == "c" else DEV_BLOCK, True))
        mask = (ACC_READ if "r" in acc else 0) | (ACC_WRITE if "w" in acc else 0) \
            | (ACC_MKNOD if "m" in acc else 0)
        if mask != ACC_READ | ACC_WRITE | ACC_MKNOD:
            block.append((_MOV32_X, 1, 3, 0, False))      # r1 = r3
            block.append((_AND32_K, 1, 0, mask, False))   # r1 &= mask
            block.append((_JNE_X, 1, 3, 0, True))         # asked for more than allowed: next
        if maj != WILDCARD:
            block.append((_JNE_K, 4, 0, maj, True))
        if mnr != WILDCARD:
            block.append((_JNE_K, 5, 0, mnr, True))
        block.append((_MOV32_K, 0, 0, 0 if target.default_allow else 1, False))
        block.append((_EXIT, 0, 0, 0, False))
        n = len(block)
        for i, (code, dst, src, imm, jmp) in enumerate(block):
            if imm >= 1 << 31:
                imm -= 1 << 32  # a u32 device number as the s32 immediate the kernel compares
            out.append(_insn(code, dst, src, n - i - 1 if jmp else 0, imm))
    out.append(_insn(_MOV32_K, 0, imm=1 if target.default_allow else 0))
    out.append(_insn(_EXIT))
    return b"".join(out)


def attach_program(cgroup_dir: str, insns: bytes, path: str = "") -> None:
    """Load the program and make it the cgroup's only device program (old ones detached)."""
    from pyrunc._native import ffi, lib

    fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    prog = -1
    try:
        ids = ffi.new("unsigned int[64]")
        cnt = ffi.new("unsigned int *", 64)
        rc = lib.pyrunc_bpf_query_devices(fd, ids, cnt)
        old = [ids[i] for i in range(cnt[0])] if rc == 0 else []
        log = ffi.new("char[]", 65536)
        prog = lib.pyrunc_bpf_load_devices(insns, len(insns) // 8, LICENSE.encode(), log,
                                           len(log))
        if prog < 0:
            msg = ffi.string(log).decode(errors="replace").strip()
            raise PyruncError(f"cannot load the device eBPF program: {os.strerror(-prog)}"
                              + (f": {msg}" if msg else ""))
        rc = lib.pyrunc_bpf_attach_devices(prog, fd)
        if rc < 0:
            raise ConfigError(path, f"cannot attach the device eBPF program to {cgroup_dir}: "
                              f"{os.strerror(-rc)}")
        for pid in old:
            rc = lib.pyrunc_bpf_detach_devices_id(fd, pid)
            if rc < 0 and rc != -2:  # ENOENT: already gone
                raise PyruncError(f"cannot detach old device eBPF program {pid}: "
                                  f"{os.strerror(-rc)}")
    finally:
        if prog >= 0:
            os.close(prog)
        os.close(fd)


def attached_programs(cgroup_dir: str) -> list[int]:
    """Ids of the device programs attached directly to a cgroup2 directory."""
    from pyrunc._native import ffi, lib

    fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        ids = ffi.new("unsigned int[64]")
        cnt = ffi.new("unsigned int *", 64)
        rc = lib.pyrunc_bpf_query_devices(fd, ids, cnt)
        if rc < 0:
            raise PyruncError(f"cannot query device programs of {cgroup_dir}: {os.strerror(-rc)}")
        return [ids[i] for i in range(cnt[0])]
    finally:
        os.close(fd)
