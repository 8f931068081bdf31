"""The systemd cgroup driver (`--systemd-cgroup`), as runc's: the container's cgroup is a
transient scope unit that systemd creates, limits and removes.

cgroupsPath is ``slice:prefix:name`` and names the unit ``prefix-name.scope`` in ``slice``
(``system.slice`` when empty); without a cgroupsPath it is ``system.slice:pyrunc:<id>`` (runc's
``:runc:<id>``).  A slice systemd does not know is made by systemd itself when the scope names
it, nested by its dashes (``a-b.slice`` inside ``a.slice``), which is where ExpandSlice looks.

The scope is started with the init's first stage as its one process (systemd refuses an empty
scope), ``Delegate=yes`` and the limits systemd can express as unit properties (runc's table,
docs/systemd.md in runc); then, as with runc's driver, every limit is also written to the
scope's cgroup files by the cgroupfs code (Cgroup.apply), which covers what systemd cannot
express.  The unit's name is kept in the state's cgroup record (Cgroup.unit), so `delete` stops
it and `update` sets its properties whatever flags those commands get.

Rootless (``--rootless``, or its "auto" for a non-root user or the root of a user namespace),
as runc: the user's own systemd instance on the user's bus (dbus.user_bus_address) owns the
scope, the default slice is ``user.slice``, and the cgroup is below that manager's own
(``/user.slice/user-UID.slice/user@UID.service/user.slice/pyrunc-ID.scope``): a subtree
delegated to the user, so the limits are written as that user.  Only on cgroup v2 (runc's
"rootless systemd cgroup manager requires cgroup v2"): v1 hierarchies are not delegated.

Imported only with `--systemd-cgroup` (and by delete/update of such a container), with the
D-Bus client (dbus.py, dbus_wire.py: 0.6 ms of imports).
"""

from pyrunc.cgroups import V2, Cgroup
from pyrunc.errors import ConfigError, PyruncError

DEFAULT_SLICE = "system.slice"
USER_SLICE = "user.slice"  # rootless: runc's default slice in the user's manager
DEFAULT_PREFIX = "pyrunc"  # runc's is "runc"
U64_MAX = (1 << 64) - 1    # systemd's "infinity" for limits
DEFAULT_CPU_PERIOD = 100000
PROP_PREFIX = "org.systemd.property."


# ---- names and paths -------------------------------------------------------------------------

def unit_and_slice(cgroups_path: str | None, cid: str, user: bool = False) -> tuple[str, str]:
    """(unit name, slice) from linux.cgroupsPath, with runc's defaults (``user``: the user's
    own manager's)."""
    default = USER_SLICE if user else DEFAULT_SLICE
    if not cgroups_path:
        return f"{DEFAULT_PREFIX}-{cid}.scope", default
    parts = cgroups_path.split(":")
    if len(parts) != 3:
        raise ConfigError("linux.cgroupsPath", 'expected cgroupsPath to be of format '
                          f'"slice:prefix:name" for systemd cgroups, got {cgroups_path!r} instead')
    slice_, prefix, name = parts
    if name.endswith(".slice"):
        # runc accepts a slice here only to make sure it exists (a slice holds no process).
        raise ConfigError("linux.cgroupsPath", f"{name}: a container cannot be put in a slice "
                          "unit itself; name a scope (slice:prefix:name)")
    return f"{prefix}-{name}.scope", slice_ or default


def expand_slice(slice_: str) -> str:
    """runc's ExpandSlice: ``a-b-c.slice`` is ``/a.slice/a-b.slice/a-b-c.slice``, ``-.slice``
    the root."""
    suffix = ".slice"
    bad = ConfigError("linux.cgroupsPath", f"invalid slice name: {slice_}")
    if not slice_.endswith(suffix) or len(slice_) <= len(suffix) or "/" in slice_:
        raise bad
    name = slice_[:-len(suffix)]
    if name == "-":
        return "/"
    path, prefix = "", ""
    for comp in name.split("-"):
        if not comp:
            raise bad
        path += "/" + prefix + comp + suffix
        prefix += comp + "-"
    return path


def resolve(cgroups_path: str | None, cid: str, user: bool = False) -> Cgroup:
    """The scope's cgroup (not created yet), with its unit's name recorded.  ``user``: the
    unit is the user's own manager's (see the module docstring), whose cgroup is asked of it."""
    unit, slice_ = unit_and_slice(cgroups_path, cid, user)
    base = ""
    if user:
        base = manager(True).control_group().rstrip("/")
        if not base:
            raise PyruncError("the user's systemd instance did not say which cgroup it has")
    cg = Cgroup.resolve(base + expand_slice(slice_).rstrip("/") + "/" + unit, cid)
    if user and cg.mode != V2:
        raise PyruncError("rootless --systemd-cgroup needs cgroup v2 (a unified hierarchy): "
                          "systemd delegates no cgroup v1 hierarchy to a user")
    cg.unit = unit
    cg.slice = slice_
    cg.user_bus = user
    return cg


# ---- properties ----------------------------------------------------------------------------

def _int(d: dict, key: str) -> int:
    """An integer member, or 0 when absent or not an integer (Cgroup.apply reports bad
    values with their JSON path, after this has mapped what it can)."""
    v = d.get(key) if isinstance(d, dict) else None
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _u64(v: int) -> int:
    return U64_MAX if v < 0 else v


def range_to_bits(text: str) -> bytes:
    """runc's RangeToBits: ``0-2,4`` as the little-endian bit mask AllowedCPUs takes."""
    mask = 0
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi) if hi else int(lo)
        except ValueError:
            raise ConfigError("", f"invalid cpu/mem list {text!r}") from None
        if a < 0 or b < a:
            raise ConfigError("", f"invalid range {part!r} in {text!r}")
        for i in range(a, b + 1):
            mask |= 1 << i
    if not mask:
        raise ConfigError("", f"empty cpu/mem list {text!r}")
    return mask.to_bytes((mask.bit_length() + 7) // 8, "little")


def _cpu_quota(props: list, quota: int, period: int) -> None:
    """runc's addCPUQuota: CPUQuotaPerSecUSec rounded up to 10 ms (1 % of a CPU), which is
    what systemd stores; the cgroupfs write that follows sets the exact quota."""
    if period:
        props.append(("CPUQuotaPeriodUSec", ("t", period)))
    if quota or period:
        per_sec = U64_MAX
        if quota > 0:
            per_sec = quota * 1000000 // (period or DEFAULT_CPU_PERIOD)
            if per_sec % 10000:
                per_sec = (per_sec // 10000 + 1) * 10000
        props.append(("CPUQuotaPerSecUSec", ("t", per_sec)))


def resource_properties(res: dict, mode: str, version=None) -> list:
    """linux.resources as systemd unit properties, as runc maps them (v2, or v1 on a v1 or
    hybrid host).  ``version`` is a callable giving systemd's version, asked only for the
    properties that need a recent one."""
    from pyrunc.cgroups.resources import blkio_weight_to_io_weight, shares_to_weight, swap_to_v2
    props: list = []
    if not isinstance(res, dict):
        return props
    v2 = mode == V2
    mem = res.get("memory") if isinstance(res.get("memory"), dict) else {}
    limit, resv, swap = _int(mem, "limit"), _int(mem, "reservation"), _int(mem, "swap")
    if limit:
        props.append(("MemoryMax" if v2 else "MemoryLimit", ("t", _u64(limit))))
    if resv and v2:
        props.append(("MemoryLow", ("t", _u64(resv))))
    if v2 and (swap or limit):
        sw = swap_to_v2(swap, limit, "linux.resources.memory.swap")
        if sw:
            props.append(("MemorySwapMax", ("t", _u64(sw))))
    cpu = res.get("cpu") if isinstance(res.get("cpu"), dict) else {}
    shares = _int(cpu, "shares")
    idle = v2 and _int(cpu, "idle") == 1 and version is not None and version() >= 252
    if idle:
        props.append(("CPUWeight", ("t", 0)))  # systemd's way of saying cpu.idle 1
    elif shares:
        props.append(("CPUWeight", ("t", shares_to_weight(shares))) if v2 else
                     ("CPUShares", ("t", shares)))
    if v2:
        _cpu_quota(props, _int(cpu, "quota"), _int(cpu, "period"))
    for key, name in (("cpus", "AllowedCPUs"), ("mems", "AllowedMemoryNodes")):
        s = cpu.get(key)
        if isinstance(s, str) and s.strip():
            props.append((name, ("ay", range_to_bits(s))))
    pids = res.get("pids") if isinstance(res.get("pids"), dict) else {}
    plimit = _int(pids, "limit")
    if plimit > 0 or plimit == -1:
        props.append(("TasksMax", ("t", _u64(plimit))))
    bio = res.get("blockIO") if isinstance(res.get("blockIO"), dict) else {}
    w = _int(bio, "weight")
    if w:
        props.append(("IOWeight", ("t", blkio_weight_to_io_weight(w))) if v2 else
                     ("BlockIOWeight", ("t", w)))
    unified = res.get("unified")
    if v2 and isinstance(unified, dict):
        props += _unified_properties(unified, version)
    return props


_UNIFIED_U64 = {"memory.high": "MemoryHigh", "memory.low": "MemoryLow", "memory.min": "MemoryMin",
                "memory.max": "MemoryMax", "memory.swap.max": "MemorySwapMax",
                "pids.max": "TasksMax"}


def _unified_properties(unified: dict, version) -> list:
    """runc's unifiedResToSystemdProps: the unified keys systemd has a property for; the rest
    (and these too) are written to the files by Cgroup.apply, which also validates them."""
    props: list = []
    for k, raw in unified.items():
        if not isinstance(raw, str):
            continue
        v = raw.strip()
        try:
            if k in _UNIFIED_U64:
                n = U64_MAX if v == "max" else int(v)
                if k == "pids.max" and n == 0:
                    n = 1  # systemd takes no TasksMax 0
                props.append((_UNIFIED_U64[k], ("t", n)))
            elif k == "cpu.weight" and unified.get("cpu.idle", "").strip() != "1":
                props.append(("CPUWeight", ("t", int(v))))
            elif k == "cpu.idle" and v == "1" and version is not None and version() >= 252:
                props.append(("CPUWeight", ("t", 0)))
            elif k == "cpu.max":
                f = v.split()
                if 1 <= len(f) <= 2:
                    quota = 0 if f[0] == "max" else int(f[0])
                    _cpu_quota(props, quota, int(f[1]) if len(f) == 2 else DEFAULT_CPU_PERIOD)
            elif k in ("cpuset.cpus", "cpuset.mems"):
                props.append(("AllowedCPUs" if k == "cpuset.cpus" else "AllowedMemoryNodes",
                              ("ay", range_to_bits(v))))
        except (ValueError, ConfigError):
            continue  # not a value systemd can take: Cgroup.apply names what is wrong
    return props


def device_properties(res: dict, linux_devices: list | None) -> list:
    """runc's DevicePolicy/DeviceAllow for the folded device rules: an allow list in "strict"
    mode; an allow-all as "auto"; a deny list (which systemd cannot express) as a deny-all that
    the device program Cgroup.apply attaches next replaces, as runc does."""
    from pyrunc.cgroups import devices
    target = devices.fold(devices.rules_from_config(res, "linux.resources", linux_devices),
                          "linux.resources.devices")
    if target.default_allow:
        if not target.exceptions:
            return [("DeviceAllow", ("a(ss)", [])), ("DevicePolicy", ("s", "auto"))]
        return [("DeviceAllow", ("a(ss)", [])), ("DevicePolicy", ("s", "strict"))]
    allow = []
    for (t, major, minor), acc in target.sorted_exceptions():
        group = "char-" if t == "c" else "block-"
        if major == devices.WILDCARD:
            if minor != devices.WILDCARD:
                continue  # "*:n": systemd has no such rule; the device program has it
            node = group + "*"
        elif minor == devices.WILDCARD:
            node = group + str(major)
        else:
            node = f"/dev/{'char' if t == 'c' else 'block'}/{major}:{minor}"
        allow.append((node, acc))
    return [("DeviceAllow", ("a(ss)", [])), ("DevicePolicy", ("s", "strict")),
            ("DeviceAllow", ("a(ss)", allow))]


def annotation_properties(annotations: dict) -> list:
    """``org.systemd.property.NAME`` annotations, values in GVariant text format, as runc:
    NAME is letters only, and a NAME ending in lowercase+"Sec" is sent as ...USec."""
    props = []
    for key, text in (annotations or {}).items():
        if not key.startswith(PROP_PREFIX):
            continue
        name = key[len(PROP_PREFIX):]
        where = f"annotations[{key!r}]"
        if len(name) < 3 or not name.isascii() or not name.isalpha():
            raise ConfigError(where, f"annotation {key} name incorrect: must be at least 3 "
                              "letters, and letters only")
        try:
            sig, value = parse_gvariant(str(text))
        except ValueError as e:
            raise ConfigError(where, f"annotation {key}={text} value parse error: {e}") from None
        if name.endswith("Sec") and len(name) > 3 and "a" <= name[-4] <= "z":
            if sig not in "ynqiuxtd" or len(sig) != 1:
                raise ConfigError(where, f"annotation {key}={text} value parse error: "
                                  "not a number")
            name, sig, value = name[:-3] + "USec", "t", int(value * 1000000)
        props.append((name, (sig, value)))
    return props


# ---- GVariant text format (the subset runc's annotations use) -----------------------------------

_GV_TYPES = {"boolean": "b", "byte": "y", "int16": "n", "uint16": "q", "int32": "i",
             "uint32": "u", "int64": "x", "uint64": "t", "double": "d", "string": "s",
             "objectpath": "o", "signature": "g", "handle": "h"}


def parse_gvariant(text: str) -> tuple[str, object]:
    """(D-Bus signature, value) of a GVariant text: numbers with an optional type keyword
    (``uint64 5``) or ``@t`` annotation, ``true``/``false``, quoted strings, and arrays."""
    p = _GVParser(text)
    sig, value = p.value(None)
    p.skip()
    if p.i != len(p.s):
        raise ValueError(f"unexpected {p.s[p.i:]!r}")
    return sig, value


class _GVParser:
    __slots__ = ("s", "i")

    def __init__(self, s: str) -> None:
        self.s, self.i = s, 0

    def skip(self) -> None:
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1

    def word(self) -> str:
        self.skip()
        j = self.i
        while j < len(self.s) and (self.s[j].isalnum() or self.s[j] in "_.+-"):
            j += 1
        return self.s[self.i:j]

    def value(self, want: str | None) -> tuple[str, object]:
        self.skip()
        if self.s.startswith("@", self.i):
            j = self.i + 1
            while j < len(self.s) and not self.s[j].isspace():
                j += 1
            want, self.i = self.s[self.i + 1:j], j
            self.skip()
        w = self.word()
        if w in _GV_TYPES and self.s[self.i + len(w):self.i + len(w) + 1].isspace():
            want = _GV_TYPES[w]
            self.i += len(w)
            self.skip()
            w = self.word()
        if self.i >= len(self.s):
            raise ValueError("missing value")
        c = self.s[self.i]
        if c == "[":
            return self.array(want)
        if c in "'\"":
            return self.string(want)
        self.i += len(w)
        if w in ("true", "false"):
            if want not in (None, "b"):
                raise ValueError(f"{w} is not of type {want}")
            return "b", w == "true"
        if not w:
            raise ValueError(f"unexpected {self.s[self.i:]!r}")
        return self.number(w, want)

    def number(self, w: str, want: str | None) -> tuple[str, object]:
        if want == "d" or (want is None and any(ch in w for ch in ".eE") and
                           not w.lower().startswith(("0x", "-0x"))):
            return "d", float(w)
        n = int(w, 0)
        sig = want or "i"
        if sig not in "ynqiuxth":
            raise ValueError(f"{w} is not of type {sig}")
        bits = {"y": 8, "n": 16, "q": 16, "i": 32, "u": 32, "x": 64, "t": 64, "h": 32}[sig]
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if sig in "nixh" else \
            (0, (1 << bits) - 1)
        if not lo <= n <= hi:
            raise ValueError(f"{w} is out of range for type {sig}")
        return sig, n

    def string(self, want: str | None) -> tuple[str, object]:
        q = self.s[self.i]
        self.i += 1
        out = []
        while self.i < len(self.s) and self.s[self.i] != q:
            ch = self.s[self.i]
            if ch == "\\" and self.i + 1 < len(self.s):
                self.i += 1
                ch = {"n": "\n", "t": "\t"}.get(self.s[self.i], self.s[self.i])
            out.append(ch)
            self.i += 1
        if self.i >= len(self.s):
            raise ValueError("unterminated string")
        self.i += 1
        sig = want or "s"
        if sig not in "sog":
            raise ValueError(f"a string is not of type {sig}")
        return sig, "".join(out)

    def array(self, want: str | None) -> tuple[str, object]:
        if want is not None and not want.startswith("a"):
            raise ValueError(f"an array is not of type {want}")
        elem = want[1:] if want else None
        self.i += 1
        items = []
        while True:
            self.skip()
            if self.s.startswith("]", self.i):
                self.i += 1
                break
            if items:
                if not self.s.startswith(",", self.i):
                    raise ValueError("expected ',' or ']'")
                self.i += 1
            sig, v = self.value(elem)
            elem = elem or sig
            items.append(v)
        if elem is None:
            raise ValueError("an empty array needs a type (@as [])")
        return "a" + elem, items


# ---- lifecycle -------------------------------------------------------------------------------

def unit_properties(cg: Cgroup, cfg, version=None) -> list:
    """Every property of the container's scope but PIDs, checked before anything exists."""
    res = cfg.linux.resources or {}
    props = [("Description", ("s", f"pyrunc container {cg.unit}")),
             ("Slice", ("s", cg.slice)),
             ("Delegate", ("b", True)),
             ("MemoryAccounting", ("b", True)), ("CPUAccounting", ("b", True)),
             ("IOAccounting" if cg.mode == V2 else "BlockIOAccounting", ("b", True)),
             ("TasksAccounting", ("b", True)),
             ("DefaultDependencies", ("b", False))]
    if not cg.user_bus:
        # A user's manager may not attach device programs (nor may the user: Cgroup.apply
        # leaves them out rootless), and the user's namespace lets it make no device nodes.
        props += device_properties(res if isinstance(res, dict) else {}, cfg.linux.devices)
    props += resource_properties(res, cg.mode, version)
    unified = res.get("unified") if isinstance(res, dict) else None
    if cg.mode == V2 and isinstance(unified, dict) and "memory.oom.group" in unified and \
            version is not None and version() >= 253:  # settable only when the unit starts
        oom = str(unified["memory.oom.group"]).strip()
        if oom in ("0", "1"):
            props.append(("OOMPolicy", ("s", "kill" if oom == "1" else "continue")))
    props += annotation_properties(cfg.annotations)
    return props


def start(cg: Cgroup, pid: int, props: list) -> None:
    """Start the scope with ``pid`` in it and wait for systemd to have made it; on any
    failure nothing of the unit is left."""
    from pyrunc.cgroups import dbus
    mgr = manager(cg.user_bus)
    props = props + [("PIDs", ("au", [pid]))]
    unit = cg.unit
    for attempt in (1, 2):
        try:
            result = mgr.start_transient_unit(unit, props)
            break
        except dbus.DBusError as e:
            if e.name == dbus.UNIT_EXISTS and attempt == 1:
                # a failed unit of that name left over: let systemd forget it, once (runc)
                _quietly(mgr.reset_failed_unit, unit)
                continue
            if e.name == dbus.UNIT_EXISTS:
                raise PyruncError(f"unable to start unit {unit}: the unit already exists "
                                  "(another container uses this cgroupsPath)") from None
            raise PyruncError(f"unable to start unit {unit}: {e}") from None
    cg.started = True  # from here on a failed create stops it
    if result != "done":
        raise PyruncError(f"error creating systemd unit {unit}: got {result}")
    if cg.mode != V2:
        cg.create()  # the v1 hierarchies systemd does not manage
    missing = [p for p in cg._dirs() if not _isdir(p)]
    if missing:
        raise PyruncError(f"systemd unit {unit} started, but its cgroup {missing[0]} is not "
                          "there")


def stop(unit: str, user: bool = False) -> None:
    """Stop the unit and let systemd forget it (a unit already gone is fine); ``user``: a unit
    of the user's own manager."""
    from pyrunc.cgroups import dbus
    mgr = manager(user)
    try:
        result = mgr.stop_unit(unit)
    except dbus.DBusError as e:
        if e.name != dbus.NO_SUCH_UNIT:
            raise PyruncError(f"unable to stop unit {unit}: {e}") from None
        return
    if result == "timeout":
        raise PyruncError(f"timed out while waiting for systemd to remove {unit}")
    if result != "done":
        from pyrunc import log
        log.warning(f"error removing unit {unit}: got {result}; continuing")
    _quietly(mgr.reset_failed_unit, unit)


def set_properties(cg: Cgroup, res: dict) -> None:
    """`update`: the new limits as unit properties (runtime only, as runc); the files follow."""
    mgr = manager(cg.user_bus)
    props = resource_properties(res, cg.mode, mgr.version)
    if props:
        try:
            mgr.set_unit_properties(cg.unit, props)
        except PyruncError as e:
            raise PyruncError(f"unable to set unit properties: {e}") from None


_managers: dict = {}


def manager(user: bool = False):
    """One connection per bus and process: the system's manager, or (``user``) the user's."""
    mgr = _managers.get(user)
    if mgr is None:
        from pyrunc.cgroups.dbus import Manager
        mgr = _managers[user] = Manager(user)
    return mgr


def _quietly(fn, *args) -> None:
    try:
        fn(*args)
    except PyruncError:
        pass


def _isdir(p: str) -> bool:
    from pyrunc import fastos as os
    return os.path.isdir(p)
