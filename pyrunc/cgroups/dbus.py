"""systemd's manager over D-Bus (org.freedesktop.systemd1): a connection, its calls, and the
wait for a job's JobRemoved signal; the wire format is dbus_wire.py.

Only the systemd cgroup driver (systemd.py, `--systemd-cgroup`) imports this module.  It
used jeepney until its imports (~21 ms on the development host, ~290 ms in the guest lane)
were measured against runc's whole driver (+43 ms in the guest); the driver needs a handful of
calls, one signal and the handshake below, written here with the socket module alone.

Values are dbus_wire's: a property is ``(name, (signature, value))``.

Two buses: the system bus (root's containers) and the user's own bus, where the user's systemd
instance (``systemd --user``) listens, for a rootless ``--systemd-cgroup`` (runc's
newUserSystemdDbus).  The user bus is found as runc finds it: $DBUS_SESSION_BUS_ADDRESS, else
$XDG_RUNTIME_DIR/bus.  Both are authenticated with SASL EXTERNAL and *no* identity (what sd-bus
sends): the bus then takes the uid the kernel gives it for the socket's peer, which is the
user's real uid also when pyrunc runs as uid 0 of a user namespace (conmon under rootless
Podman, dockerd under rootlesskit), where sending geteuid() (0) is refused.
"""

import _socket as socket  # not socket.py: it imports enum (~6 ms)
import time

from pyrunc.cgroups import dbus_wire as wire
from pyrunc.errors import PyruncError

SYSTEMD = "org.freedesktop.systemd1"
MANAGER_PATH = "/org/freedesktop/systemd1"
MANAGER_IFACE = "org.freedesktop.systemd1.Manager"
PROPERTIES = "org.freedesktop.DBus.Properties"
JOB_TIMEOUT = 30.0  # as runc: how long a start or stop job may take
CALL_TIMEOUT = 25.0  # D-Bus's default method call timeout

NO_SUCH_UNIT = "org.freedesktop.systemd1.NoSuchUnit"
UNIT_EXISTS = "org.freedesktop.systemd1.UnitExists"
NOT_LOADED = "org.freedesktop.systemd1.LoadFailed"


class DBusError(PyruncError):
    """An error reply from systemd: ``name`` is the D-Bus error name."""

    def __init__(self, name: str, msg: str) -> None:
        super().__init__(msg)
        self.name = name


AUTH_TIMEOUT = 5.0


def user_bus_address() -> str:
    """runc's DetectUserDbusSessionBusAddress, without its `systemctl --user` fallback."""
    from pyrunc import fastos as os
    addr = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "")
    if addr:
        return addr
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg and os.path.exists(xdg + "/bus"):
        return "unix:path=" + xdg + "/bus"
    raise PyruncError("rootless --systemd-cgroup needs the user's D-Bus: neither "
                      "$DBUS_SESSION_BUS_ADDRESS nor $XDG_RUNTIME_DIR/bus is there (is the "
                      "user's systemd instance running? `loginctl enable-linger` starts one)")


def _sasl_line(sock, deadline: float) -> bytes:
    buf = b""
    while not buf.endswith(b"\r\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the bus did not answer the authentication")
        sock.settimeout(left)
        chunk = sock.recv(1)  # one byte at a time: nothing of the first message is eaten
        if not chunk:
            raise OSError("the bus closed the connection during authentication")
        buf += chunk
        if len(buf) > 4096:
            raise OSError("the bus sent an overlong authentication line")
    return buf[:-2]


def socket_path(address: str) -> str:
    """The socket of a D-Bus address ("unix:path=/run/dbus/system_bus_socket"; the first
    unix:path= or unix:abstract= of a ';'-list, as clients take it)."""
    for part in address.split(";"):
        kind, _, params = part.partition(":")
        if kind != "unix":
            continue
        kv = dict(p.partition("=")[::2] for p in params.split(","))
        if kv.get("path"):
            return _unescape(kv["path"])
        if kv.get("abstract"):
            return "\0" + _unescape(kv["abstract"])
    raise ValueError(f"no unix socket in D-Bus address {address!r}")


def _unescape(v: str) -> str:
    """The address format's %XX escapes."""
    if "%" not in v:
        return v
    out, i = bytearray(), 0
    while i < len(v):
        if v[i] == "%" and i + 2 < len(v) + 1:
            out.append(int(v[i + 1:i + 3], 16))
            i += 3
        else:
            out += v[i].encode()
            i += 1
    return out.decode()


class Connection:
    """One authenticated, Hello'd bus connection: calls and their replies, and the signals
    that arrive meanwhile, kept in order for whoever waits for them."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.buf = b""
        self.serial = 0
        self.signals: list[wire.Message] = []
        try:
            self._authenticate(socket_path(address))
            self.unique_name = self.call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                         "org.freedesktop.DBus", "Hello", "", (),
                                         CALL_TIMEOUT)[0]
        except BaseException:
            self.sock.close()
            raise

    def _authenticate(self, path: str) -> None:
        deadline = time.monotonic() + AUTH_TIMEOUT
        self.sock.settimeout(AUTH_TIMEOUT)
        self.sock.connect(path)
        self.sock.sendall(b"\0AUTH EXTERNAL\r\n")
        line = _sasl_line(self.sock, deadline)
        if line == b"DATA" or line.startswith(b"DATA "):
            self.sock.sendall(b"DATA\r\n")
            line = _sasl_line(self.sock, deadline)
        if not line.startswith(b"OK"):
            raise OSError(f"the bus refused EXTERNAL authentication ({line[:80]!r})")
        self.sock.sendall(b"BEGIN\r\n")

    def close(self) -> None:
        self.sock.close()

    def send(self, msg: wire.Message) -> int:
        self.serial += 1
        self.sock.settimeout(CALL_TIMEOUT)
        self.sock.sendall(msg.encode(self.serial))
        return self.serial

    def receive(self, deadline: float) -> wire.Message:
        """The next message; TimeoutError at ``deadline``."""
        while True:
            if len(self.buf) >= 16:
                n = wire.message_length(self.buf[:16])
                if len(self.buf) >= n:
                    data, self.buf = self.buf[:n], self.buf[n:]
                    return wire.decode(data)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no D-Bus message in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError("no D-Bus message in time") from None
            if not chunk:
                raise OSError("the bus closed the connection")
            self.buf += chunk

    def call(self, dest: str, path: str, iface: str, member: str, sig: str, body: tuple,
             timeout: float) -> tuple:
        """A method call's reply body; DBusError for an error reply."""
        serial = self.send(wire.Message(wire.METHOD_CALL, {
            wire.PATH: path, wire.INTERFACE: iface, wire.MEMBER: member,
            wire.DESTINATION: dest, wire.SIGNATURE: sig}, body))
        deadline = time.monotonic() + timeout
        while True:
            m = self.receive(deadline)
            if m.type == wire.SIGNAL:
                self.signals.append(m)
            elif m.fields.get(wire.REPLY_SERIAL) == serial:
                if m.type == wire.ERROR:
                    name = str(m.fields.get(wire.ERROR_NAME, ""))
                    text = m.body[0] if m.body and isinstance(m.body[0], str) else name
                    raise DBusError(name, text)
                return m.body

    def next_signal(self, member: str, deadline: float) -> wire.Message:
        """The next signal named ``member`` (others are dropped); TimeoutError at deadline."""
        while True:
            while self.signals:
                m = self.signals.pop(0)
                if m.fields.get(wire.MEMBER) == member:
                    return m
            m = self.receive(deadline)
            if m.type == wire.SIGNAL:
                self.signals.append(m)


def connect(address: str) -> Connection:
    """A connected, authenticated, Hello'd connection to the bus at ``address`` (see the module
    docstring for why the handshake is ours)."""
    return Connection(address)


class Manager:
    """A connection to systemd's manager: the system's, or (``user``) the user's own."""

    def __init__(self, user: bool = False) -> None:
        which = "user" if user else "system"
        try:
            if user:
                address = user_bus_address()
            else:
                from pyrunc import fastos as os
                address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "") or \
                    "unix:path=/var/run/dbus/system_bus_socket"
            self.conn = connect(address)
        except (OSError, ValueError, TimeoutError) as e:  # no socket, or the bus refused us
            raise PyruncError(f"cannot connect to the {which} D-Bus: {e}") from None
        self.user = user
        self._watching = False
        self._version: int | None = None

    def close(self) -> None:
        self.conn.close()

    def call(self, method: str, signature: str = "", body: tuple = (),
             path: str = MANAGER_PATH, iface: str = MANAGER_IFACE) -> tuple:
        """One method call of systemd's; its reply body, or DBusError."""
        try:
            return self.conn.call(SYSTEMD, path, iface, method, signature, body, CALL_TIMEOUT)
        except TimeoutError:
            raise PyruncError(f"systemd did not answer {method} in {CALL_TIMEOUT:g}s") from None
        except (OSError, ValueError) as e:  # ValueError: dbus_wire.WireError
            raise PyruncError(f"D-Bus call {method}: {e}") from None

    # ---- jobs -----------------------------------------------------------------------------------

    def _watch_jobs(self) -> None:
        """Ask the bus for systemd's JobRemoved signals (before the job exists, so none is
        missed)."""
        if not self._watching:
            rule = (f"type='signal',sender='{SYSTEMD}',interface='{MANAGER_IFACE}',"
                    f"member='JobRemoved',path='{MANAGER_PATH}'")
            try:
                self.conn.call("org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "AddMatch", "s", (rule,), CALL_TIMEOUT)
            except (OSError, ValueError, TimeoutError) as e:
                raise PyruncError(f"D-Bus AddMatch: {e}") from None
            self._watching = True

    def run_job(self, method: str, signature: str, body: tuple,
                timeout: float = JOB_TIMEOUT) -> str:
        """Call a method that queues a job (StartTransientUnit, StopUnit) and wait for the job's
        JobRemoved signal: its result ("done", "failed", "timeout", ...).  Every half second
        without it, the job object is looked at: gone without a signal is "done"."""
        self._watch_jobs()
        job = self.call(method, signature, body)[0]
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            try:
                sig = self.conn.next_signal("JobRemoved", time.monotonic() + min(left, 0.5))
            except TimeoutError:
                if not self._job_exists(job):
                    return "done"
                continue
            except (OSError, ValueError) as e:
                raise PyruncError(f"D-Bus: waiting for systemd job {job}: {e}") from None
            if len(sig.body) == 4 and sig.body[1] == job:
                return str(sig.body[3])

    def _job_exists(self, job: str) -> bool:
        try:
            self.call("Get", "ss", ("org.freedesktop.systemd1.Job", "State"), job, PROPERTIES)
            return True
        except DBusError:
            return False

    # ---- the manager's methods ------------------------------------------------------------------

    def start_transient_unit(self, name: str, props: list, timeout: float = JOB_TIMEOUT) -> str:
        return self.run_job("StartTransientUnit", "ssa(sv)a(sa(sv))",
                            (name, "replace", props, []), timeout)

    def stop_unit(self, name: str, timeout: float = JOB_TIMEOUT) -> str:
        return self.run_job("StopUnit", "ss", (name, "replace"), timeout)

    def reset_failed_unit(self, name: str) -> None:
        self.call("ResetFailedUnit", "s", (name,))

    def set_unit_properties(self, name: str, props: list) -> None:
        self.call("SetUnitProperties", "sba(sv)", (name, True, props))

    def unit_property(self, name: str, iface: str, prop: str):
        """A property of a loaded unit (DBusError NoSuchUnit when it is not loaded)."""
        path = self.call("GetUnit", "s", (name,))[0]
        return self.call("Get", "ss", (iface, prop), path, PROPERTIES)[0][1]

    def manager_property(self, prop: str):
        return self.call("Get", "ss", (MANAGER_IFACE, prop), MANAGER_PATH, PROPERTIES)[0][1]

    def control_group(self) -> str:
        """The manager's own cgroup: "" for the system's, /user.slice/user-UID.slice/
        user@UID.service for a user's (its units' cgroups are below it)."""
        return str(self.manager_property("ControlGroup") or "")

    def version(self) -> int:
        """systemd's version number (252 for "252.22-1~deb12u1"), asked once."""
        if self._version is None:
            v = str(self.manager_property("Version"))
            digits = ""
            for ch in v.lstrip('"v'):
                if not ch.isdigit():
                    break
                digits += ch
            self._version = int(digits) if digits else -1
        return self._version

