"""The systemd driver's pure parts, on any host: cgroupsPath parsing, ExpandSlice, runc's
property mapping, AllowedCPUs bit masks, the GVariant text of org.systemd.property.*
annotations.  The driver itself (D-Bus, units) is tested in tests/test_systemd.py, in the
guest lane."""
from __future__ import annotations

import pytest

from pyrunc.cgroups import systemd
from pyrunc.errors import ConfigError

U64_MAX = (1 << 64) - 1


@pytest.mark.parametrize("path,want", [
    (None, ("pyrunc-c1.scope", "system.slice")),
    ("", ("pyrunc-c1.scope", "system.slice")),
    ("system.slice:docker:abc", ("docker-abc.scope", "system.slice")),
    (":libpod:abc", ("libpod-abc.scope", "system.slice")),
    ("user-1000.slice:podman:x", ("podman-x.scope", "user-1000.slice")),
])
def test_unit_and_slice(path, want):
    assert systemd.unit_and_slice(path, "c1") == want


@pytest.mark.parametrize("path", ["system.slice", "/a/b", "a:b", "a:b:c:d", "s.slice:p:n.slice"])
def test_bad_cgroups_path(path):
    with pytest.raises(ConfigError) as e:
        systemd.unit_and_slice(path, "c1")
    assert e.value.path == "linux.cgroupsPath"


@pytest.mark.parametrize("s,want", [
    ("system.slice", "/system.slice"),
    ("a-b-c.slice", "/a.slice/a-b.slice/a-b-c.slice"),
    ("-.slice", "/"),
])
def test_expand_slice(s, want):
    assert systemd.expand_slice(s) == want


@pytest.mark.parametrize("s", [".slice", "a", "a/b.slice", "a--b.slice", "-a.slice", "a-.slice"])
def test_expand_slice_refuses(s):
    with pytest.raises(ConfigError, match="invalid slice name"):
        systemd.expand_slice(s)


def test_range_to_bits_is_little_endian():
    assert systemd.range_to_bits("0") == b"\x01"
    assert systemd.range_to_bits("0-2,9") == b"\x07\x02"
    assert systemd.range_to_bits(" 8 ,") == b"\x00\x01"
    for bad in ("", "3-1", "x"):
        with pytest.raises(ConfigError):
            systemd.range_to_bits(bad)


def test_resource_properties_v2_as_runc():
    res = {"memory": {"limit": 100, "reservation": 50, "swap": 300},
           "cpu": {"shares": 1024, "quota": 12345, "period": 100000, "cpus": "1", "mems": "0"},
           "pids": {"limit": -1}, "blockIO": {"weight": 10},
           "unified": {"memory.high": "max", "pids.max": "0", "cpu.weight": "77",
                       "bogus.file": "1"}}
    p = dict(systemd.resource_properties(res, "v2"))
    assert p["MemoryMax"] == ("t", 100) and p["MemoryLow"] == ("t", 50)
    assert p["MemorySwapMax"] == ("t", 200)       # memory+swap minus memory
    assert p["CPUQuotaPeriodUSec"] == ("t", 100000)
    assert p["CPUQuotaPerSecUSec"] == ("t", 130000)  # 123450 rounded up to 10 ms
    assert p["AllowedCPUs"] == ("ay", b"\x02") and p["AllowedMemoryNodes"] == ("ay", b"\x01")
    assert p["IOWeight"] == ("t", 1)
    assert p["MemoryHigh"] == ("t", U64_MAX)
    assert p["TasksMax"] == ("t", 1)              # unified pids.max 0: systemd takes no 0
    assert p["CPUWeight"] == ("t", 77)            # the unified value comes last and wins
    names = [n for n, _ in systemd.resource_properties(res, "v2")]
    assert names.count("CPUWeight") == 2 and "bogus" not in " ".join(names)


def test_resource_properties_v1_and_unlimited():
    p = dict(systemd.resource_properties({"memory": {"limit": -1}, "cpu": {"shares": 512},
                                          "blockIO": {"weight": 500}}, "hybrid"))
    assert p == {"MemoryLimit": ("t", U64_MAX), "CPUShares": ("t", 512),
                 "BlockIOWeight": ("t", 500)}


def test_cpu_quota_without_limit_is_infinity():
    p = dict(systemd.resource_properties({"cpu": {"period": 50000}}, "v2"))
    assert p == {"CPUQuotaPeriodUSec": ("t", 50000), "CPUQuotaPerSecUSec": ("t", U64_MAX)}


def test_device_properties():
    allow_all = systemd.device_properties({"devices": [{"allow": True, "access": "rwm"}]}, None)
    assert dict(allow_all)["DevicePolicy"] == ("s", "auto")
    props = systemd.device_properties({}, None)
    assert dict(props)["DevicePolicy"] == ("s", "strict")
    allow = props[-1][1][1]
    assert ("/dev/char/1:3", "rwm") in allow and ("char-136", "rwm") in allow
    assert ("char-*", "m") in allow and ("block-*", "m") in allow


@pytest.mark.parametrize("text,want", [
    ("uint64 123", ("t", 123)),
    ("int32 -5", ("i", -5)),
    ("5", ("i", 5)),
    ("1.5", ("d", 1.5)),
    ("true", ("b", True)),
    ("'inactive-or-failed'", ("s", "inactive-or-failed")),
    ('"a\\"b"', ("s", 'a"b')),
    ("['a', 'b']", ("as", ["a", "b"])),
    ("@as []", ("as", [])),
    ("@t 7", ("t", 7)),
    ("[uint32 1, 2]", ("au", [1, 2])),
])
def test_parse_gvariant(text, want):
    assert systemd.parse_gvariant(text) == want


@pytest.mark.parametrize("text", ["", "[]", "uint64 -1", "byte 256", "'open", "1 2", "[1, 'a']"])
def test_parse_gvariant_refuses(text):
    with pytest.raises(ValueError):
        systemd.parse_gvariant(text)


def test_annotation_properties():
    p = systemd.annotation_properties({
        "org.systemd.property.TimeoutStopSec": "uint64 123",
        "org.systemd.property.RuntimeMaxSec": "1.5",
        "org.systemd.property.CollectMode": "'inactive-or-failed'",
        "other": "x"})
    assert p == [("TimeoutStopUSec", ("t", 123000000)), ("RuntimeMaxUSec", ("t", 1500000)),
                 ("CollectMode", ("s", "inactive-or-failed"))]
    for key, value in (("org.systemd.property.Bad1", "1"), ("org.systemd.property.Ab", "1"),
                       ("org.systemd.property.TimeoutStopSec", "'x'"),
                       ("org.systemd.property.Foo", "[")):
        with pytest.raises(ConfigError):
            systemd.annotation_properties({key: value})
