"""config.json's `linux`: namespaces, id mappings, devices, resources as given, sysctls, masks,
memory policy, network devices, Intel RDT, personality and time offsets.
"""

from pyrunc.config.fields import (array, boolean, check_text, check_type, cpu_list, id_value,
                                  obj, required_uint, string, strings, uint)
from pyrunc.errors import ConfigError

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")


class Namespace:
    __slots__ = ("type", "path")

    def __init__(self, d: dict, path: str) -> None:
        check_type(d, dict, path, "an object")
        t = string(d, "type", path)
        if t not in NAMESPACE_TYPES:
            raise ConfigError(f"{path}.type", f"unknown namespace type {t!r}")
        self.type: str = t
        self.path = string(d, "path", path) or None


class IdMapping:
    __slots__ = ("container_id", "host_id", "size")

    def __init__(self, d: dict, path: str) -> None:
        check_type(d, dict, path, "an object")
        self.container_id = required_uint(d, "containerID", path)
        self.host_id = required_uint(d, "hostID", path)
        self.size = required_uint(d, "size", path)
        if not self.size:
            raise ConfigError(f"{path}.size", "must be at least 1")


def host_id(maps: list[IdMapping], cid: int) -> int | None:
    """The host id that container id ``cid`` maps to through ``maps``, or None if unmapped."""
    for m in maps:
        if m.container_id <= cid < m.container_id + m.size:
            return m.host_id + cid - m.container_id
    return None


class Linux:
    __slots__ = ("namespaces", "uid_mappings", "gid_mappings", "devices", "device_nodes",
                 "cgroups_path",
                 "resources", "rootfs_propagation", "masked_paths", "readonly_paths",
                 "sysctl", "seccomp", "mount_label", "personality", "time_offsets",
                 "intel_rdt", "memory_policy", "net_devices", "raw")

    def __init__(self, d: dict, path: str = "linux") -> None:
        check_type(d, dict, path, "an object")
        self.raw = d
        ns = array(d, "namespaces", path)
        self.namespaces = [Namespace(n, f"{path}.namespaces[{i}]") for i, n in enumerate(ns)]
        seen: set[str] = set()
        for i, n in enumerate(self.namespaces):
            if n.type in seen:
                raise ConfigError(f"{path}.namespaces[{i}].type",
                                  f"duplicate namespace type {n.type!r}")
            seen.add(n.type)
        self.uid_mappings = id_mappings(d, "uidMappings", path)
        self.gid_mappings = id_mappings(d, "gidMappings", path)
        devs = array(d, "devices", path)
        self.devices = devs  # as given: the cgroup device rules read them too
        self.device_nodes = device_nodes(devs, f"{path}.devices")
        self.cgroups_path = string(d, "cgroupsPath", path)
        self.resources = obj(d, "resources", path)
        self.rootfs_propagation = string(d, "rootfsPropagation", path)
        self.masked_paths = strings(d, "maskedPaths", path)
        self.readonly_paths = strings(d, "readonlyPaths", path)
        for key, lst in (("maskedPaths", self.masked_paths),
                         ("readonlyPaths", self.readonly_paths)):
            for i, p in enumerate(lst):
                if not p.startswith("/"):
                    raise ConfigError(f"{path}.{key}[{i}]", f"{p!r} is not an absolute path")
        sysctl = obj(d, "sysctl", path)
        for k, v in sysctl.items():
            check_type(v, str, f"{path}.sysctl.{k}", "a string")
            check_text(v, f"{path}.sysctl.{k}")
        self.sysctl: dict[str, str] = sysctl
        self.seccomp = d.get("seccomp")
        if self.seccomp is not None:
            check_type(self.seccomp, dict, f"{path}.seccomp", "an object")
        self.mount_label = string(d, "mountLabel", path)
        self.personality = _personality(d.get("personality"), f"{path}.personality")
        self.time_offsets = _time_offsets(d.get("timeOffsets"), f"{path}.timeOffsets")
        self.intel_rdt = _intel_rdt(d.get("intelRdt"), f"{path}.intelRdt")
        self.memory_policy = memory_policy(d.get("memoryPolicy"), f"{path}.memoryPolicy")
        self.net_devices = _net_devices(d.get("netDevices"), f"{path}.netDevices")
        netns = self.namespace("network") if self.net_devices else None
        if self.net_devices and netns is None:
            raise ConfigError(f"{path}.netDevices", "unable to move network devices without a "
                                                    "network namespace")
        for host, name in self.net_devices.items():
            if name == "lo" and not netns.path:  # the kernel would move it, then refuse
                raise ConfigError(f"{path}.netDevices.{host}.name", "the container's new "
                                  "network namespace already has a device lo")
        if self.rootfs_propagation is not None and self.rootfs_propagation not in (
                "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable",
                "runbindable"):
            raise ConfigError(f"{path}.rootfsPropagation",
                              f"unknown propagation {self.rootfs_propagation!r}")

    def namespace(self, t: str) -> Namespace | None:
        for n in self.namespaces:
            if n.type == t:
                return n
        return None


def id_mappings(d: dict, key: str, path: str) -> list[IdMapping]:
    """uidMappings/gidMappings, checked the way the kernel will: at most 340 ranges, no two
    overlapping on either side, none wrapping past 2^32."""
    v = d.get(key)
    if v is None:
        return []
    check_type(v, list, f"{path}.{key}", "an array of id mappings")
    maps = [IdMapping(m, f"{path}.{key}[{i}]") for i, m in enumerate(v)]
    if len(maps) > 340:
        raise ConfigError(f"{path}.{key}", "has more than 340 ranges (the kernel's limit)")
    for i, m in enumerate(maps):
        for side in ("container_id", "host_id"):
            if getattr(m, side) + m.size > 1 << 32:
                raise ConfigError(f"{path}.{key}[{i}]", "range goes past 2^32")
        for j in range(i):
            o = maps[j]
            for side, name in (("container_id", "containerID"), ("host_id", "hostID")):
                a, b = getattr(m, side), getattr(o, side)
                if a < b + o.size and b < a + m.size:
                    raise ConfigError(f"{path}.{key}[{i}].{name}",
                                      f"overlaps {path}.{key}[{j}]")
    return maps


MPOL_MODES = {"MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3,
              "MPOL_LOCAL": 4, "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6}
MPOL_FLAGS = {"MPOL_F_NUMA_BALANCING": 1 << 13, "MPOL_F_RELATIVE_NODES": 1 << 14,
              "MPOL_F_STATIC_NODES": 1 << 15}


class MemoryPolicy:
    """linux.memoryPolicy (runtime-spec 1.3): set_mempolicy(mode | flags, nodemask)."""
    __slots__ = ("mode", "flags", "nodes", "text")

    def __init__(self, mode: int, flags: int, nodes: bytes, text: str) -> None:
        self.mode, self.flags, self.nodes, self.text = mode, flags, nodes, text


def memory_policy(v: object, path: str) -> MemoryPolicy | None:
    """Checked as runc 1.3 checks it: known mode and flag names, a node list, and the node
    count the mode takes (none for DEFAULT and LOCAL, at least one for BIND, INTERLEAVE,
    PREFERRED_MANY and WEIGHTED_INTERLEAVE, any for PREFERRED).  Whether the nodes exist is
    the kernel's to say (a cpuset, and the RELATIVE and STATIC flags, change which may)."""
    if v is None:
        return None
    check_type(v, dict, path, "an object")
    assert isinstance(v, dict)
    mode = string(v, "mode", path)
    if mode is None:
        raise ConfigError(f"{path}.mode", "is required")
    if mode not in MPOL_MODES:
        raise ConfigError(f"{path}.mode", f"invalid memory policy mode {mode!r}")
    flags = 0
    for i, f in enumerate(strings(v, "flags", path)):
        if f not in MPOL_FLAGS:
            raise ConfigError(f"{path}.flags[{i}]", f"invalid memory policy flag {f!r}")
        flags |= MPOL_FLAGS[f]
    both = MPOL_FLAGS["MPOL_F_RELATIVE_NODES"] | MPOL_FLAGS["MPOL_F_STATIC_NODES"]
    if flags & both == both:
        raise ConfigError(f"{path}.flags", "MPOL_F_RELATIVE_NODES and MPOL_F_STATIC_NODES "
                                           "exclude each other")
    nodes = (string(v, "nodes", path) or "").strip()
    mask = cpu_list(nodes, f"{path}.nodes", "node") if nodes else bytes(128)
    count = bin(int.from_bytes(mask, "little")).count("1")
    if mode in ("MPOL_DEFAULT", "MPOL_LOCAL") and count:
        raise ConfigError(f"{path}.nodes", f"{mode} takes no nodes, but {count} are given")
    if mode not in ("MPOL_DEFAULT", "MPOL_LOCAL", "MPOL_PREFERRED") and not count:
        raise ConfigError(f"{path}.nodes", f"{mode} needs at least one node")
    return MemoryPolicy(MPOL_MODES[mode], flags, mask,
                        f"{path}: set_mempolicy {mode}" + (f" nodes {nodes}" if nodes else ""))


def _net_devices(v: object, path: str) -> dict[str, str]:
    """linux.netDevices (runtime-spec 1.3): host device name -> its name in the container
    (the same when "name" is absent).  Names are checked as runc checks them (the kernel's
    dev_valid_name): 1 to 15 bytes, not "." or "..", no "/", ":" or blank; a new name may be
    a "%d" template, which the kernel fills in."""
    if v is None:
        return {}
    check_type(v, dict, path, "an object")
    assert isinstance(v, dict)
    out: dict[str, str] = {}
    for host, dev in v.items():
        _check_ifname(host, f"{path}.{host}")
        check_type(dev, dict, f"{path}.{host}", "an object")
        name = string(dev, "name", f"{path}.{host}") or host
        _check_ifname(name, f"{path}.{host}.name")
        out[host] = name
    seen: set[str] = set()
    for host, name in out.items():
        if "%" not in name and name in seen:
            raise ConfigError(f"{path}.{host}.name", f"{name!r} is given to two devices")
        seen.add(name)
    return out


def _check_ifname(name: str, path: str) -> None:
    check_text(name, path)
    if not 0 < len(name.encode()) < 16 or name in (".", "..") or \
            any(c in name for c in "/: \t\n\r\v\f"):
        raise ConfigError(path, f"invalid network device name {name!r}")


def _intel_rdt(v: object, path: str) -> dict | None:
    """linux.intelRdt (closID, l3CacheSchema, memBwSchema, schemata (1.3), enableMonitoring
    (1.3)) checked for its types; whether the host can apply it is the planner's check."""
    if v is None:
        return None
    check_type(v, dict, path, "an object")
    assert isinstance(v, dict)
    clos = string(v, "closID", path)
    # "/" alone is the default CLOS (1.3, #1289), as runc allows it
    if clos is not None and (clos in (".", "..") or (len(clos) > 1 and "/" in clos)):
        raise ConfigError(f"{path}.closID", f"invalid intelRdt.closID {clos!r}")
    lines = [(f"{path}.{k}", string(v, k, path)) for k in ("l3CacheSchema", "memBwSchema")]
    lines += [(f"{path}.schemata[{i}]", s) for i, s in enumerate(strings(v, "schemata", path))]
    for jp, line in lines:
        if line is not None and "\n" in line:
            raise ConfigError(jp, "must not contain a newline")
    boolean(v, "enableMonitoring", path)
    return v


PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}


def _personality(v: object, path: str) -> int | None:
    """linux.personality as the personality(2) value.  The spec defines no flags yet."""
    if v is None:
        return None
    check_type(v, dict, path, "an object")
    assert isinstance(v, dict)
    dom = string(v, "domain", path)
    if dom not in PERSONALITY_DOMAINS:
        raise ConfigError(f"{path}.domain", f"unknown personality domain {dom!r}")
    for i, f in enumerate(strings(v, "flags", path)):
        raise ConfigError(f"{path}.flags[{i}]", f"unknown personality flag {f!r}")
    return PERSONALITY_DOMAINS[dom]


def _time_offsets(v: object, path: str) -> str | None:
    """linux.timeOffsets as the text written to /proc/PID/timens_offsets."""
    if v is None:
        return None
    check_type(v, dict, path, "an object")
    assert isinstance(v, dict)
    lines = []
    for clock, off in v.items():
        if clock not in ("monotonic", "boottime"):
            raise ConfigError(f"{path}.{clock}", "only monotonic and boottime can be offset")
        check_type(off, dict, f"{path}.{clock}", "an object")
        secs = off.get("secs", 0)
        check_type(secs, int, f"{path}.{clock}.secs", "an integer")
        ns = uint(off, "nanosecs", f"{path}.{clock}", 0, 999999999)
        lines.append(f"{clock} {secs} {ns}\n")
    return "".join(lines)


def device_nodes(devs: list, path: str) -> dict[str, tuple[int, int, int, int, int]]:
    """linux.devices as nodes to make, path -> (mode, major, minor, uid, gid), checked even
    when /dev is a bind mount and none is made: a major or minor wider than makedev's 32 bits
    would name another device, and a uid the kernel reads as -1 would leave root's."""
    from pyrunc.plan.kernel import S_IFBLK, S_IFCHR, S_IFIFO, U32_MAX
    kinds = {"c": S_IFCHR, "u": S_IFCHR, "b": S_IFBLK, "p": S_IFIFO}
    nodes: dict[str, tuple[int, int, int, int, int]] = {}
    for i, d in enumerate(devs):
        jp = f"{path}[{i}]"
        check_type(d, dict, jp, "an object")
        p = string(d, "path", jp)
        if not p or not p.startswith("/") or "\0" in p:
            raise ConfigError(f"{jp}.path", "must be an absolute path")
        t = string(d, "type", jp)
        if t not in kinds:
            raise ConfigError(f"{jp}.type", f"unknown device type {t!r}")
        if t != "p" and (d.get("major") is None or d.get("minor") is None):
            raise ConfigError(jp, "major and minor are required for this device type")
        major = uint(d, "major", jp, 0, U32_MAX) or 0  # (a fifo's may be null)
        minor = uint(d, "minor", jp, 0, U32_MAX) or 0
        mode = uint(d, "fileMode", jp, 0o666, 0o7777)
        if mode is None:  # null: unset, as runc reads a nil FileMode
            mode = 0o666
        uid, gid = id_value(d, "uid", jp), id_value(d, "gid", jp)
        nodes[p] = (kinds[t] | mode, major, minor, uid, gid)
    return nodes
