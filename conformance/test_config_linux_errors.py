"""Invalid config values: `create` MUST fail (config.md: "Any value which cannot be mapped to
a relevant kernel interface ... MUST cause an error") and create nothing (the rt fixture
checks for leftovers)."""
from __future__ import annotations

import pytest

from conformance.linux import create_fails, skip_on_runc


def _set(path, value):
    def edit(cfg):
        d = cfg
        for k in path[:-1]:
            d = d.setdefault(k, {})
        d[path[-1]] = value
    return edit


def _mount(m):
    return lambda cfg: cfg["mounts"].append(m)


CASES = [
    # (id, edit, runc 1.1.5 accepts it: reason)
    ("unknown namespace type", _set(["linux", "namespaces"], [{"type": "mount"},
                                                             {"type": "bogus"}]), None),
    ("duplicate namespace", _set(["linux", "namespaces"], [{"type": "mount"}, {"type": "pid"},
                                                          {"type": "pid"}]), None),
    ("relative mount destination in a 1.0 config",
     lambda cfg: (cfg.__setitem__("ociVersion", "1.0.2"),
                  _mount({"destination": "rel", "type": "tmpfs", "source": "tmpfs"})(cfg))
     and None, "relative mount destinations as errors in 1.0 configs (it warns)"),
    ("unknown device type", _set(["linux", "devices"], [{"path": "/dev/x", "type": "z",
                                                         "major": 1, "minor": 1}]), None),
    ("sysctl outside any namespace", _set(["linux", "sysctl"], {"vm.swappiness": "10"}),
     None),
    ("soft rlimit above hard", _set(["process", "rlimits"], [{"type": "RLIMIT_NOFILE",
                                                              "soft": 10, "hard": 5}]), None),
    ("unknown rlimit", _set(["process", "rlimits"], [{"type": "RLIMIT_BOGUS", "soft": 1,
                                                      "hard": 1}]), None),
    ("namespace path of another type", _set(["linux", "namespaces"],
                                            [{"type": "mount"}, {"type": "uts"},
                                             {"type": "network",
                                              "path": "/proc/self/ns/uts"}]), None),
    ("namespace path not a namespace", _set(["linux", "namespaces"],
                                            [{"type": "mount"}, {"type": "uts"},
                                             {"type": "network", "path": "/etc/hostname"}]),
     None),
    ("uid mappings without user namespace",
     _set(["linux", "uidMappings"], [{"containerID": 0, "hostID": 1000, "size": 1}]),
     "rejecting id mappings without a user namespace"),
    ("kernel.hostname sysctl, which the hostname field sets",
     _set(["linux", "sysctl"], {"kernel.hostname": "other"}), None),
    ("unknown personality domain", _set(["linux", "personality"], {"domain": "BSD"}),
     "linux.personality (runc 1.2)"),
]


@pytest.mark.parametrize("edit,runc_accepts", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_invalid_value_fails_create(rt, runtime, edit, runc_accepts):
    if runc_accepts:
        skip_on_runc(runtime, runc_accepts)
    r = create_fails(rt, edit)
    assert r.stderr.strip(), "no error message"
