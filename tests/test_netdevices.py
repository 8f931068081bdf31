"""linux.netDevices (runtime-spec 1.3 config-linux.md#network-devices): a host device moved
into the container's network namespace, renamed ("name", "%d" templates), with its permanent
global addresses and up; refused without a network namespace, for a device the host lacks,
and for a name the namespace has.  The device is one end of a veth pair made by the test
(the development host's kernel has no dummy driver), removed afterwards even on failure."""
from __future__ import annotations

import subprocess
import uuid

import pytest

from linux_helpers import (USERNS_HOST_ID, add_userns, chown_tree, create_fails, open_path_to,
                           restore_modes, skip_on_runc)

LACKS = "linux.netDevices (runtime-spec 1.3)"


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


@pytest.fixture
def veth(rt):
    """(device, peer): a veth pair with unique names and addresses on the device: two
    permanent global ones (IPv4, IPv6 without DAD) and one of link scope, which stays out."""
    skip_on_runc(rt.path, LACKS)
    tag = uuid.uuid4().hex[:8]
    dev, peer = f"pyrd{tag}", f"pyrp{tag}"
    ip("link", "add", dev, "type", "veth", "peer", "name", peer)
    try:
        ip("addr", "add", "10.199.1.2/24", "dev", dev)
        ip("addr", "add", "fd00:199::2/64", "dev", dev, "nodad")
        ip("addr", "add", "10.199.2.2/24", "dev", dev, "scope", "link")
        yield dev, peer
    finally:
        for name in (peer, dev):  # either end removes both; gone with the netns anyway
            ip("link", "del", name, check=False)


def _netdevs(devs: dict, ns: bool = True):
    def edit(cfg):
        cfg["ociVersion"] = "1.3.0"
        cfg["linux"]["netDevices"] = devs
        if not ns:
            cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                          if n["type"] != "network"]
    return edit


def _inside(rt, veth, devs: dict, userns: bool = False) -> str:
    """Create a container that reports its links and addresses; check the host lost the
    device once create is done; run it; return the report."""
    dev, _ = veth
    edit = _netdevs(devs)

    def full(cfg):
        if userns:
            add_userns(cfg)
        edit(cfg)
    b = rt.bundle(["sh", "-c", "ip addr > /share/out 2>&1"], full, share=True)
    if userns:
        chown_tree(b / "rootfs", USERNS_HOST_ID, USERNS_HOST_ID)
    cid = rt.create(b)
    assert ip("link", "show", dev, check=False).returncode != 0, "still on the host"
    rt.ok("start", cid)
    rt.wait_stopped(cid)
    rt.ok("delete", cid)
    return (rt.share / "out").read_text()


def _link(out: str, name: str) -> str:
    """The `ip addr` block of link ``name``."""
    blocks, cur = {}, None
    for line in out.splitlines():
        if line[:1].isdigit():
            cur = line.split(":")[1].strip().split("@")[0]
            blocks[cur] = ""
        if cur:
            blocks[cur] += line + "\n"
    assert name in blocks, out
    return blocks[name]


def test_device_is_moved_renamed_up_with_its_addresses(rt, veth):
    block = _link(_inside(rt, veth, {veth[0]: {"name": "ctr0"}}), "ctr0")
    assert ",UP" in block.splitlines()[0], block
    assert "inet 10.199.1.2/24" in block and "inet6 fd00:199::2/64" in block, block
    assert "10.199.2.2" not in block, block  # link scope: not preserved
    assert "tentative" not in block, block  # its nodad flag came along


def test_a_name_template_is_filled_in_by_the_kernel(rt, veth):
    block = _link(_inside(rt, veth, {veth[0]: {"name": "ctr%d"}}), "ctr0")
    assert "inet 10.199.1.2/24" in block, block


def test_without_a_name_the_host_name_is_kept(rt, veth):
    block = _link(_inside(rt, veth, {veth[0]: {}}), veth[0])
    assert "inet 10.199.1.2/24" in block, block


def test_into_a_user_namespace(rt, veth, tmp_path):
    changed = open_path_to(tmp_path)
    try:
        block = _link(_inside(rt, veth, {veth[0]: {"name": "eth0"}}, userns=True), "eth0")
    finally:
        restore_modes(changed)
    assert ",UP" in block.splitlines()[0] and "inet 10.199.1.2/24" in block, block


def _one_error(r, path: str, phrase: str) -> None:
    err = r.stderr.strip()
    assert r.returncode == 1 and len(err.splitlines()) == 1, err
    assert f"{path}:" in err and phrase in err, err


def test_a_name_the_namespace_has_is_refused_and_the_device_stays(rt, veth):
    """A new network namespace has lo: refused before anything is moved (the kernel moves
    a device first and renames it after, so its EEXIST would come with the device gone)."""
    dev = veth[0]
    r = create_fails(rt, _netdevs({dev: {"name": "lo"}}))
    _one_error(r, f"linux.netDevices.{dev}.name", "already has a device lo")
    assert "inet 10.199.1.2/24" in ip("addr", "show", dev).stdout


def test_two_devices_one_name_is_refused(rt, veth):
    dev, peer = veth
    r = create_fails(rt, _netdevs({dev: {"name": "eth0"}, peer: {"name": "eth0"}}))
    _one_error(r, f"linux.netDevices.{peer}.name", "given to two devices")
    assert ip("link", "show", dev, check=False).returncode == 0


def test_two_devices_are_moved(rt, veth):
    dev, peer = veth
    out = _inside(rt, veth, {dev: {"name": "eth%d"}, peer: {"name": "eth%d"}})
    assert "inet 10.199.1.2/24" in _link(out, "eth0") + _link(out, "eth1"), out


@pytest.mark.parametrize("devs,ns,path,phrase", [
    ({"pyrt-absent0": {}}, True, "linux.netDevices.pyrt-absent0", "link not found"),
    ({"lo": {}}, False, "linux.netDevices", "without a network namespace"),
    ({"a/b": {}}, True, "linux.netDevices.a/b", "invalid network device name"),
    ({"lo": {"name": "x" * 16}}, True, "linux.netDevices.lo.name", "invalid network device"),
    ({"lo": {"name": 5}}, True, "linux.netDevices.lo.name", "must be a string"),
    ({"lo": "eth0"}, True, "linux.netDevices.lo", "must be an object"),
], ids=["absent", "no-netns", "bad-name", "long-name", "name-type", "not-an-object"])
def test_bad_net_devices_are_one_clear_error(rt, devs, ns, path, phrase):
    skip_on_runc(rt.path, LACKS)
    _one_error(create_fails(rt, _netdevs(devs, ns)), path, phrase)
