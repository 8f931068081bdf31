"""linux.netDevices (runtime-spec 1.3, config-linux.md#network-devices): host network devices
moved into the container's network namespace, renamed, with their permanent global addresses,
and up.

Python never joins the container's namespaces, and the C init is the only code that runs in
them, so the work is split where the namespaces are:

* at plan time, here, in the host's network namespace: each device is looked up by name
  (RTM_GETLINK: a missing one is a config error before anything exists) and its addresses
  read (RTM_GETADDR), keeping those the spec says to preserve: IFA_F_PERMANENT and
  RT_SCOPE_UNIVERSE (the kernel flushes every address on a namespace move).  The planner puts
  them in the container process' plan as NETDEV_ADDR and NETDEV_UP ops, right after it waits
  for the cgroups-ready byte;
* in create, before that byte is written: pyrunc moves each device, still from the host's
  namespace, with one RTM_NEWLINK carrying IFLA_NET_NS_FD (an fd of the container process'
  /proc/PID/ns/net, opened through the /proc/PID directory verified to be that process),
  IFLA_IFNAME (the new name or a "%d" template, which the kernel fills in) and
  IFLA_NEW_IFINDEX (the device's host index, so the init can find it whatever name the
  kernel chose; a new namespace holds only lo, index 1, so it is always free there);
* in the container, the init (native/init/net.c) adds the addresses back and sets the link up
  over a netlink socket of its own namespace.

A move the kernel refuses (a name the namespace already has, EEXIST) fails create, and the
device stays on the host.  Once moved, a device is the network namespace's: it is never moved
back (the spec forbids it), and when the namespace dies the kernel returns a physical device
to the host and destroys a virtual one.

Imported only when a config has netDevices: _socket and struct are not on the hot path.
"""

from __future__ import annotations

import _socket
import struct

from pyrunc.errors import ConfigError, PyruncError

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_GETADDR = 16, 18, 20, 22
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 0x1, 0x4, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
IFLA_IFNAME, IFLA_NET_NS_FD, IFLA_NEW_IFINDEX = 3, 28, 49
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST, IFA_FLAGS = 1, 2, 4, 8
IFA_F_PERMANENT = 0x80
# The flags an RTM_NEWADDR may set, kept from the host's address: NODAD, HOMEADDRESS,
# MANAGETEMPADDR, NOPREFIXROUTE, MCAUTOJOIN
IFA_SETTABLE = 0x02 | 0x10 | 0x100 | 0x200 | 0x400
RT_SCOPE_UNIVERSE = 0
AF_UNSPEC = 0

_NLMSG = struct.Struct("=IHHII")  # len, type, flags, seq, pid
_IFINFO = struct.Struct("=BxHiII")  # family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBi")  # family, prefixlen, flags, scope, index


class Address:
    """One address to add back: ifaddrmsg's family and prefix length, its settable flags,
    IFA_LOCAL, IFA_ADDRESS and IFA_BROADCAST as the host had them (b"" when absent)."""
    __slots__ = ("family", "prefixlen", "flags", "local", "address", "broadcast")

    def __init__(self, family: int, prefixlen: int, flags: int, local: bytes, address: bytes,
                 broadcast: bytes) -> None:
        self.family, self.prefixlen, self.flags = family, prefixlen, flags
        self.local, self.address, self.broadcast = local, address, broadcast

    def text(self) -> str:
        raw = self.local or self.address
        return f"{_socket.inet_ntop(self.family, raw)}/{self.prefixlen}"


class Device:
    """A host device to move: its host name and index, its name in the container, and the
    addresses to keep."""
    __slots__ = ("host_name", "name", "index", "addresses")

    def __init__(self, host_name: str, name: str, index: int, addresses: list[Address]):
        self.host_name, self.name, self.index, self.addresses = host_name, name, index, addresses


def _attr(kind: int, data: bytes) -> bytes:
    n = 4 + len(data)
    return struct.pack("=HH", n, kind) + data + b"\0" * (-n % 4)


def _attrs(data: bytes, pos: int) -> dict[int, bytes]:
    out = {}
    while pos + 4 <= len(data):
        n, kind = struct.unpack_from("=HH", data, pos)
        if n < 4:
            break
        out[kind & 0x3FFF] = data[pos + 4:pos + n]
        pos += (n + 3) & ~3
    return out


class _Netlink:
    """A NETLINK_ROUTE socket of this (the host's) network namespace."""

    def __init__(self) -> None:
        self.sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC,
                                   NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def request(self, kind: int, flags: int, body: bytes) -> list[tuple[int, bytes]]:
        """Send one request; its replies as (type, payload) until the ack, DONE, or the one
        answer of a non-dump request.  An error reply raises OSError(errno)."""
        self.seq += 1
        self.sock.send(_NLMSG.pack(_NLMSG.size + len(body), kind, NLM_F_REQUEST | flags,
                                   self.seq, 0) + body)
        out = []
        while True:
            data = self.sock.recv(1 << 16)
            pos = 0
            while pos + _NLMSG.size <= len(data):
                n, t, _, seq, _ = _NLMSG.unpack_from(data, pos)
                if n < _NLMSG.size:
                    raise PyruncError("netlink: a malformed reply")
                payload = data[pos + _NLMSG.size:pos + n]
                pos += (n + 3) & ~3
                if seq != self.seq:
                    continue
                if t == NLMSG_ERROR:
                    err = -struct.unpack_from("=i", payload)[0]
                    if err:
                        raise OSError(err, _strerror(err))
                    return out
                if t == NLMSG_DONE:
                    return out
                out.append((t, payload))
                if not flags & (NLM_F_DUMP | NLM_F_ACK):
                    return out


def _strerror(err: int) -> str:
    import posix
    return posix.strerror(err)


def _link_index(nl: _Netlink, name: str) -> int | None:
    body = _IFINFO.pack(AF_UNSPEC, 0, 0, 0, 0) + _attr(IFLA_IFNAME, name.encode() + b"\0")
    try:
        replies = nl.request(RTM_GETLINK, 0, body)
    except OSError as e:
        if e.errno == 19:  # ENODEV
            return None
        raise
    for t, payload in replies:
        if t == RTM_NEWLINK:
            return _IFINFO.unpack_from(payload)[2]
    return None


def _addresses(nl: _Netlink, index: int) -> list[Address]:
    """The device's permanent addresses of global scope, every family."""
    out = []
    for t, payload in nl.request(RTM_GETADDR, NLM_F_DUMP, _IFADDR.pack(AF_UNSPEC, 0, 0, 0, 0)):
        if t != RTM_NEWADDR or len(payload) < _IFADDR.size:
            continue
        family, prefixlen, flags, scope, ifindex = _IFADDR.unpack_from(payload)
        if ifindex != index or scope != RT_SCOPE_UNIVERSE:
            continue
        a = _attrs(payload, _IFADDR.size)
        if IFA_FLAGS in a:  # the 32-bit flags, when the kernel sends them
            flags = struct.unpack("=I", a[IFA_FLAGS][:4])[0]
        if not flags & IFA_F_PERMANENT:
            continue
        out.append(Address(family, prefixlen, flags & IFA_SETTABLE, a.get(IFA_LOCAL, b""), a.get(IFA_ADDRESS, b""),
                           a.get(IFA_BROADCAST, b"")))
    return out


def probe(devices: dict[str, str], path: str = "linux.netDevices") -> list[Device]:
    """Look up every device of linux.netDevices (host name -> container name) on the host."""
    nl = _Netlink()
    try:
        out = []
        for host_name, name in devices.items():
            index = _link_index(nl, host_name)
            if index is None:
                raise ConfigError(f"{path}.{host_name}",
                                  f"link not found for interface {host_name} on the host")
            out.append(Device(host_name, name, index, _addresses(nl, index)))
        return out
    except OSError as e:
        raise PyruncError(f"{path}: netlink: {e.strerror}") from None
    finally:
        nl.close()


def move(devices: list[Device], netns_fd: int) -> None:
    """Move each device into the network namespace of ``netns_fd`` under its container name
    and its host index, from this (the host's) namespace."""
    nl = _Netlink()
    try:
        for d in devices:
            body = (_IFINFO.pack(AF_UNSPEC, 0, d.index, 0, 0)
                    + _attr(IFLA_IFNAME, d.name.encode() + b"\0")
                    + _attr(IFLA_NET_NS_FD, struct.pack("=I", netns_fd))
                    + _attr(IFLA_NEW_IFINDEX, struct.pack("=i", d.index)))
            try:
                nl.request(RTM_NEWLINK, NLM_F_ACK, body)
            except OSError as e:
                why = e.strerror
                if e.errno == 17:  # EEXIST
                    why = f"the container's network namespace already has a device {d.name}"
                elif e.errno == 16:  # EBUSY: IFLA_NEW_IFINDEX taken (a joined namespace)
                    why = (f"the container's network namespace already has a device with "
                           f"index {d.index}")
                elif e.errno == 19:  # ENODEV: gone since the plan was made
                    why = f"no network device {d.host_name} on the host"
                raise PyruncError(f"linux.netDevices.{d.host_name}: move network device "
                                  f"{d.host_name} to the container as {d.name}: {why}") from None
    finally:
        nl.close()


def plan_ops(p, devices: list[Device]) -> None:
    """The container process' ops: the addresses back, then the link up (by index)."""
    for d in devices:
        jp = f"linux.netDevices.{d.host_name}"
        for a in d.addresses:
            p.add("NETDEV_ADDR", d.index, a.family, a.prefixlen, a.flags, a.local, a.address,
                  a.broadcast, f"{jp}: add address {a.text()} to {d.name}")
        p.add("NETDEV_UP", d.index, f"{jp}: set {d.name} up")
