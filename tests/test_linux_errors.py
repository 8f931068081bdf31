"""Invalid values are refused by `create` with a one-line error naming the JSON path, exit
status 1, before anything is created; the rt fixture checks nothing was left behind."""
from __future__ import annotations


import pytest

from linux_helpers import create_fails


def _ns(types):
    def edit(cfg):
        cfg["linux"]["namespaces"] = [{"type": t} for t in types]
    return edit


def _set(path, value):
    """An edit setting cfg[path...] = value (path: a list of keys)."""
    def edit(cfg):
        d = cfg
        for k in path[:-1]:
            d = d.setdefault(k, {}) if not isinstance(k, int) else d[k]
        d[path[-1]] = value
    return edit


def chain(*edits):
    def edit(cfg):
        for e in edits:
            e(cfg)
    return edit


def _drop_hostname(cfg):
    cfg.pop("hostname", None)


def _add_mount(m):
    def edit(cfg):
        cfg["mounts"].append(m)
    return edit


CASES = [
    ("unknown namespace type", _set(["linux", "namespaces"], [{"type": "mount"},
                                                             {"type": "bogus"}]),
     "linux.namespaces[1].type", "unknown namespace type"),
    ("duplicate namespace", _ns(["mount", "pid", "pid"]), "linux.namespaces[2].type",
     "duplicate namespace type"),
    ("relative mount destination (spec 1.0)",
     chain(_set(["ociVersion"], "1.0.2"),
           _add_mount({"destination": "rel", "type": "tmpfs", "source": "tmpfs"})),
     "mounts[7].destination", "not an absolute path"),
    ("tmpcopyup on a bind", _add_mount({"destination": "/x", "type": "bind", "source": "/tmp",
                                        "options": ["bind", "tmpcopyup"]}),
     "mounts[7].options[1]", "tmpcopyup"),
    ("idmap not a bind", _add_mount({"destination": "/x", "type": "tmpfs", "source": "tmpfs",
                                     "uidMappings": [{"containerID": 0, "hostID": 1,
                                                      "size": 1}],
                                     "gidMappings": [{"containerID": 0, "hostID": 1,
                                                      "size": 1}]}),
     "mounts[7].uidMappings", "bind"),
    ("idmap half", _add_mount({"destination": "/x", "type": "bind", "source": "/tmp",
                               "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}),
     "mounts[7].uidMappings", "gidMappings"),
    ("missing bind source", _add_mount({"destination": "/x", "type": "bind",
                                        "source": "/nonexistent/src", "options": ["bind"]}),
     "mounts[7].source", "no such file"),
    ("unknown device type", _set(["linux", "devices"], [{"path": "/dev/x", "type": "z",
                                                         "major": 1, "minor": 1}]),
     "linux.devices[0].type", "unknown device type"),
    ("relative device path", _set(["linux", "devices"], [{"path": "dev/x", "type": "c",
                                                          "major": 1, "minor": 1}]),
     "linux.devices[0].path", "absolute"),
    ("device without major", _set(["linux", "devices"], [{"path": "/dev/x", "type": "c"}]),
     "linux.devices[0]", "major and minor"),
    ("sysctl not namespaced", _set(["linux", "sysctl"], {"vm.swappiness": "10"}),
     "linux.sysctl.vm.swappiness", "not in a separate kernel namespace"),
    ("net sysctl without netns", chain(_ns(["mount", "pid", "uts"]),
                                           _set(["linux", "sysctl"], {"net.ipv4.ip_forward": "1"})),
     "linux.sysctl.net.ipv4.ip_forward", "network namespace"),
    ("ipc sysctl without ipcns", chain(_ns(["mount", "pid", "network", "uts"]),
                                           _set(["linux", "sysctl"], {"kernel.shmmax": "1"})),
     "linux.sysctl.kernel.shmmax", "ipc namespace"),
    ("mqueue sysctl without ipcns",
     chain(_ns(["mount", "pid", "network", "uts"]),
           _set(["linux", "sysctl"], {"fs.mqueue.msg_max": "1"})),
     "linux.sysctl.fs.mqueue.msg_max", "ipc namespace"),
    ("uts sysctl without utsns", chain(_ns(["mount", "pid"]), _drop_hostname,
                                           _set(["linux", "sysctl"], {"kernel.domainname": "x"})),
     "linux.sysctl.kernel.domainname", "uts namespace"),
    ("kernel.domainname beside the domainname field",
     lambda c: (c.__setitem__("domainname", "a"),
                _set(["linux", "sysctl"], {"kernel.domainname": "b"})(c)) and None,
     "linux.sysctl.kernel.domainname", "conflicts with the OCI domainname field"),
    ("kernel.hostname", _set(["linux", "sysctl"], {"kernel.hostname": "x"}),
     "linux.sysctl.kernel.hostname", "conflicts with the OCI hostname field"),
    ("hostname without utsns", _ns(["mount", "pid"]), "hostname", "uts namespace"),
    ("soft rlimit above hard", _set(["process", "rlimits"], [{"type": "RLIMIT_NOFILE",
                                                              "soft": 10, "hard": 5}]),
     "process.rlimits[0]", "above hard"),
    ("unknown rlimit", _set(["process", "rlimits"], [{"type": "RLIMIT_BOGUS", "soft": 1,
                                                      "hard": 1}]),
     "process.rlimits[0].type", "unknown rlimit"),
    ("oomScoreAdj out of range", _set(["process", "oomScoreAdj"], 5000),
     "process.oomScoreAdj", "outside"),
    ("unknown personality", _set(["linux", "personality"], {"domain": "BSD"}),
     "linux.personality.domain", "unknown personality domain"),
    ("personality flag", _set(["linux", "personality"], {"domain": "LINUX", "flags": ["X"]}),
     "linux.personality.flags[0]", "unknown personality flag"),
    ("ioPriority class", _set(["process", "ioPriority"], {"class": "IOPRIO_CLASS_X"}),
     "process.ioPriority.class", "unknown I/O priority class"),
    ("ioPriority level", _set(["process", "ioPriority"], {"class": "IOPRIO_CLASS_BE",
                                                          "priority": 9}),
     "process.ioPriority.priority", "outside 0..7"),
    ("scheduler policy", _set(["process", "scheduler"], {"policy": "SCHED_X"}),
     "process.scheduler.policy", "unknown scheduling policy"),
    ("scheduler flag", _set(["process", "scheduler"], {"policy": "SCHED_OTHER",
                                                       "flags": ["SCHED_FLAG_X"]}),
     "process.scheduler.flags[0]", "unknown scheduler flag"),
    ("scheduler fifo priority", _set(["process", "scheduler"], {"policy": "SCHED_FIFO"}),
     "process.scheduler.priority", "1..99"),
    ("deadline parameters", _set(["process", "scheduler"], {"policy": "SCHED_DEADLINE",
                                                             "runtime": 20, "deadline": 10}),
     "process.scheduler", "runtime <= deadline <= period"),
    ("cpu affinity", _set(["process", "execCPUAffinity"], {"initial": "0-x"}),
     "process.execCPUAffinity.initial", "CPU list"),
    ("time offsets without timens", _set(["linux", "timeOffsets"],
                                         {"monotonic": {"secs": 1}}),
     "linux.timeOffsets", "time namespace"),
    ("time offsets unknown clock",
     chain(lambda c: c["linux"]["namespaces"].append({"type": "time"}),
           _set(["linux", "timeOffsets"], {"realtime": {"secs": 1}})),
     "linux.timeOffsets.realtime", "monotonic and boottime"),
    ("uid mappings without userns", _set(["linux", "uidMappings"],
                                         [{"containerID": 0, "hostID": 1000, "size": 1}]),
     "linux.uidMappings", "new user namespace"),
    ("overlapping uid mappings",
     chain(lambda c: c["linux"]["namespaces"].append({"type": "user"}),
           _set(["linux", "uidMappings"], [{"containerID": 0, "hostID": 100000, "size": 10},
                                           {"containerID": 5, "hostID": 200000, "size": 10}]),
           _set(["linux", "gidMappings"], [{"containerID": 0, "hostID": 100000, "size": 10}])),
     "linux.uidMappings[1].containerID", "overlaps linux.uidMappings[0]"),
    ("hostname too long", _set(["hostname"], "h" * 65), "hostname", "64 bytes"),
    ("negative additional gid", _set(["process", "user", "additionalGids"], [-1]),
     "process.user.additionalGids[0]", "must be in range 0-2147483647"),
    ("userns without mappings", lambda c: c["linux"]["namespaces"].append({"type": "user"}),
     "linux.uidMappings", "uidMappings and gidMappings"),
    ("namespace path missing", _set(["linux", "namespaces"],
                                    [{"type": "mount"}, {"type": "net",
                                                         "path": "/nonexistent/ns"}]),
     "linux.namespaces[1].type", "unknown namespace type"),
    ("namespace path missing 2", _set(["linux", "namespaces"],
                                      [{"type": "mount"}, {"type": "uts"}, {"type": "network",
                                                           "path": "/nonexistent/ns"}]),
     "linux.namespaces[2].path", "no such file"),
    ("namespace path not a namespace", _set(["linux", "namespaces"],
                                            [{"type": "mount"}, {"type": "uts"}, {"type": "network",
                                                                 "path": "/etc/hostname"}]),
     "linux.namespaces[2].path", "is not a namespace"),
    ("namespace path of another type", _set(["linux", "namespaces"],
                                            [{"type": "mount"}, {"type": "uts"},
                                             {"type": "network",
                                              "path": "/proc/self/ns/uts"}]),
     "linux.namespaces[2].path", "is a uts namespace, not a network namespace"),
    ("apparmor", _set(["process", "apparmorProfile"], "pyrunc-test-not-loaded"),
     "process.apparmorProfile", "AppArmor"),
    ("selinux", _set(["process", "selinuxLabel"], "system_u:system_r:container_t:s0"),
     "process.selinuxLabel", "SELinux"),
    ("mount label", _set(["linux", "mountLabel"], "system_u:object_r:container_file_t:s0"),
     "linux.mountLabel", "SELinux"),
    ("intel rdt", _set(["linux", "intelRdt"], {"closID": "x"}), "linux.intelRdt", "RDT"),
    # runtime-spec 1.3: an empty intelRdt means the default CLOS (#1289), still Intel RDT
    ("intel rdt empty", _set(["linux", "intelRdt"], {}), "linux.intelRdt", "Intel RDT"),
    ("intel rdt schemata", _set(["linux", "intelRdt"], {"schemata": ["L3:0=ff", "MB:0=50"]}),
     "linux.intelRdt", "Intel RDT"),
    ("intel rdt monitoring", _set(["linux", "intelRdt"], {"enableMonitoring": True}),
     "linux.intelRdt", "Intel RDT"),
    ("intel rdt schemata type", _set(["linux", "intelRdt"], {"schemata": "L3:0=ff"}),
     "linux.intelRdt.schemata", "array of strings"),
    ("intel rdt monitoring type", _set(["linux", "intelRdt"], {"enableMonitoring": "yes"}),
     "linux.intelRdt.enableMonitoring", "true or false"),
    ("intel rdt closid", _set(["linux", "intelRdt"], {"closID": "../x"}),
     "linux.intelRdt.closID", "invalid intelRdt.closID"),
    ("intel rdt not an object", _set(["linux", "intelRdt"], ["x"]), "linux.intelRdt",
     "must be an object"),
    ("intel rdt default clos", _set(["linux", "intelRdt"], {"closID": "/"}), "linux.intelRdt",
     "Intel RDT"),
    ("intel rdt schemata newline", _set(["linux", "intelRdt"], {"schemata": ["L3:0=ff\nMB:0=5"]}),
     "linux.intelRdt.schemata[0]", "newline"),
    ("rootfs propagation", _set(["linux", "rootfsPropagation"], "sideways"),
     "linux.rootfsPropagation", "unknown propagation"),
    ("cwd relative", _set(["process", "cwd"], "tmp"), "process.cwd", "absolute"),
    ("capability not a string", _set(["process", "capabilities", "bounding"], [5]),
     "process.capabilities.bounding[0]", "capability name"),
]


@pytest.mark.parametrize("edit,path,phrase", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_value_is_refused(rt, edit, path, phrase):
    r = create_fails(rt, edit)
    assert r.returncode == 1
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert f"{path}:" in err or f"{path} " in err, err
    assert phrase in err, err


def test_unknown_capability_is_a_warning(rt):
    """runtime-spec 1.1 config.md#linux-process: a capability that cannot be mapped to a kernel
    interface MUST be logged as a warning, and SHOULD NOT fail the container; runc says
    "ignoring unknown or unavailable capabilities" and runs (issue 18).  exec --cap too."""
    def edit(cfg):
        cfg["process"]["capabilities"]["bounding"].append("CAP_FROM_THE_FUTURE")
    cid = rt.new_id()
    r = rt("create", "--bundle", rt.bundle(["sleep", "100"], edit), cid)
    assert r.returncode == 0, r.stderr
    assert "ignoring unknown or unavailable capabilities: [CAP_FROM_THE_FUTURE]" in r.stderr
    rt.ok("start", cid)
    r = rt("exec", "--cap", "CAP_NOT_A_THING", cid, "true")
    assert r.returncode == 0 and "CAP_NOT_A_THING" in r.stderr, r.stderr
    rt.kill_and_delete(cid)


def test_relative_mount_destination_since_1_1(rt):
    """runtime-spec 1.1 config.md#mounts: a relative destination MAY be given (deprecated) and
    is read from "/"; accepted with runc's warning."""
    def edit(cfg):
        cfg["ociVersion"] = "1.1.0"
        cfg["mounts"].append({"destination": "relmnt", "type": "tmpfs", "source": "tmpfs"})
    b = rt.bundle(["sh", "-c", "grep -c ' /relmnt ' /proc/self/mountinfo"], edit)
    cid = rt.new_id()
    r = rt("run", "--bundle", b, cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1"
    assert "not absolute" in r.stderr
    rt("delete", "--force", cid)


def _cap_bounding() -> int:
    with open("/proc/self/status") as f:
        return int(next(ln for ln in f if ln.startswith("CapBnd:")).split()[1], 16)


def test_capability_the_runtime_lacks_is_an_error(rt):
    """A capability outside the runtime's own bounding set cannot be granted: a clear error
    naming it, not capset's EPERM."""
    from pyrunc.config.caps import NAMES
    missing = [n for i, n in enumerate(NAMES) if not _cap_bounding() >> i & 1
               and i <= int(open("/proc/sys/kernel/cap_last_cap").read())]
    if not missing:
        pytest.skip("this runtime holds every capability")

    def edit(cfg):
        caps = cfg["process"]["capabilities"]
        caps["permitted"] = caps["permitted"] + [missing[0]]
    r = create_fails(rt, edit)
    assert f"process.capabilities.permitted[3]: {missing[0]}" in r.stderr
