"""pyrunc's D-Bus client (pyrunc/cgroups/dbus_wire.py, dbus.py) against others that speak the
protocol: jeepney's parser and serialiser (a test dependency only: pyrunc no longer imports it)
decode what pyrunc encodes and the other way round, and a private dbus-daemon (the reference
bus) answers pyrunc's handshake, calls, errors and signals.  The systemd calls themselves run
against a real systemd in the guest lane (tests/test_systemd.py, tests/test_rootless.py).
"""
import os
import shutil
import subprocess
import time

import pytest

from pyrunc.cgroups import dbus, dbus_wire as wire

jeepney = pytest.importorskip("jeepney")
from jeepney import DBusAddress, new_method_call  # noqa: E402
from jeepney.low_level import Parser  # noqa: E402

# What the systemd driver sends and receives, and the corners of the format.
CASES = [
    ("ssa(sv)a(sa(sv))", ("pyrunc-x.scope", "replace",
                          [("Delegate", ("b", True)), ("MemoryMax", ("t", 1 << 40)),
                           ("PIDs", ("au", [1, 4242])), ("Slice", ("s", "system.slice")),
                           ("DeviceAllow", ("a(ss)", [("/dev/null", "rwm"), ("char-pts", "rw")])),
                           ("CPUWeight", ("t", 100)), ("AllowedCPUs", ("ay", [3])),
                           ("Description", ("s", "unicode é ✓"))],
                          [])),
    ("sba(sv)", ("u.scope", False, [])),
    ("ynqiuxt", (255, -2, 65535, -(1 << 31), (1 << 32) - 1, -(1 << 63), (1 << 64) - 1)),
    ("a{sv}as", ({"a": ("i", 1), "b": ("as", ["x", ""])}, [])),
    ("(so)g", (("x", "/org/x"), "a(sv)")),
    ("d", (2.5,)),
]


def plain(v):
    """A decoded value compared by content: dicts as sorted (key, value) lists, tuples as
    lists (jeepney and pyrunc both keep a variant as a (signature, value) pair)."""
    if isinstance(v, dict):
        v = sorted(v.items())
    if isinstance(v, bytes):
        return list(v)
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


@pytest.mark.parametrize("sig,body", CASES, ids=[c[0] for c in CASES])
def test_jeepney_decodes_what_pyrunc_encodes(sig, body):
    msg = wire.Message(wire.METHOD_CALL, {wire.PATH: "/org/freedesktop/systemd1",
                                          wire.INTERFACE: "org.freedesktop.systemd1.Manager",
                                          wire.MEMBER: "M", wire.DESTINATION: "org.x",
                                          wire.SIGNATURE: sig}, body)
    (got,) = Parser().feed(msg.encode(7))
    assert got.header.serial == 7
    assert plain(got.body) == plain(body)


@pytest.mark.parametrize("sig,body", CASES, ids=[c[0] for c in CASES])
def test_pyrunc_decodes_what_jeepney_encodes(sig, body):
    data = new_method_call(DBusAddress("/o", bus_name="org.x", interface="i.f"), "M", sig,
                           body).serialise(serial=9)
    assert wire.message_length(data[:16]) == len(data)
    m = wire.decode(data)
    assert m.serial == 9 and m.fields[wire.MEMBER] == "M" and m.fields[wire.SIGNATURE] == sig
    assert plain(m.body) == plain(body)


def test_a_value_that_does_not_fit_its_type_is_refused():
    for sig, body in (("y", (256,)), ("u", (-1,)), ("(ss)", (("a",),)), ("s", ())):
        with pytest.raises(wire.WireError):
            wire.Message(wire.METHOD_CALL, {wire.SIGNATURE: sig}, body).encode(1)
    with pytest.raises(wire.WireError):
        wire.split_signature("a(s")


def test_cut_and_garbled_messages_are_errors_not_crashes():
    data = wire.Message(wire.METHOD_CALL, {wire.PATH: "/", wire.MEMBER: "M",
                                           wire.SIGNATURE: "as"}, (["a", "b"],)).encode(1)
    for n in range(16, len(data)):
        with pytest.raises(wire.WireError):
            wire.decode(data[:n])
    with pytest.raises(wire.WireError):
        wire.message_length(b"B" + data[1:16])


def test_addresses():
    assert dbus.socket_path("unix:path=/run/dbus/system_bus_socket") == \
        "/run/dbus/system_bus_socket"
    assert dbus.socket_path("tcp:host=x,port=1;unix:path=/a%20b,guid=1") == "/a b"
    assert dbus.socket_path("unix:abstract=/tmp/dbus-x") == "\0/tmp/dbus-x"
    with pytest.raises(ValueError):
        dbus.socket_path("tcp:host=localhost,port=1")


@pytest.fixture
def bus(tmp_path):
    """A private dbus-daemon (session configuration) on a socket in tmp_path, stopped after."""
    if shutil.which("dbus-daemon") is None:
        pytest.skip("needs dbus-daemon (Debian's dbus)")
    sock = tmp_path / "bus"
    daemon = subprocess.Popen(["dbus-daemon", "--session", "--nofork",
                               f"--address=unix:path={sock}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert daemon.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        yield f"unix:path={sock}"
    finally:
        daemon.kill()
        daemon.wait()


def test_handshake_calls_errors_and_signals_on_a_real_bus(bus):
    a, b = dbus.connect(bus), dbus.connect(bus)
    try:
        assert a.unique_name.startswith(":") and a.unique_name != b.unique_name
        names = a.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                       "ListNames", "", (), 5)[0]
        assert {"org.freedesktop.DBus", a.unique_name, b.unique_name} <= set(names)
        owner = a.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                       "GetNameOwner", "s", (b.unique_name,), 5)
        assert owner == (b.unique_name,)
        with pytest.raises(dbus.DBusError) as e:
            a.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                   "GetNameOwner", "s", ("org.pyrunc.nobody",), 5)
        assert e.value.name == "org.freedesktop.DBus.Error.NameHasNoOwner"
        a.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
               "AddMatch", "s", ("type='signal',interface='org.pyrunc.Test'",), 5)
        for i in range(3):  # JobRemoved's shape, (uoss)
            b.send(wire.Message(wire.SIGNAL, {wire.PATH: "/org/pyrunc", wire.INTERFACE:
                                              "org.pyrunc.Test", wire.MEMBER: "Other" if i == 0
                                              else "JobRemoved", wire.SIGNATURE: "uoss"},
                                (i, f"/job/{i}", "x.scope", "done")))
        first = a.next_signal("JobRemoved", time.monotonic() + 5)
        second = a.next_signal("JobRemoved", time.monotonic() + 5)
        assert (first.body, second.body) == ((1, "/job/1", "x.scope", "done"),
                                            (2, "/job/2", "x.scope", "done"))
        with pytest.raises(TimeoutError):
            a.next_signal("JobRemoved", time.monotonic() + 0.2)
    finally:
        a.close()
        b.close()


def test_the_driver_imports_no_dbus_library():
    """What `--systemd-cgroup` loads: not jeepney, nor enum or typing (its ~21 ms)."""
    import sys
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, "-I", "-S", "-c",
                        "import sys; sys.path.insert(0, sys.argv[1]); "
                        "import pyrunc.cgroups.systemd, pyrunc.cgroups.dbus; "
                        "print(sorted(m for m in ('jeepney', 'enum', 'typing', 're') "
                        "if m in sys.modules))", repo], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["[]"], r.stdout
