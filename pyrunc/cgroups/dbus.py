"""systemd's manager over D-Bus (org.freedesktop.systemd1), through jeepney.

Only the systemd cgroup driver (systemd.py, `--systemd-cgroup`) imports this module: jeepney
costs ~20 ms of imports (enum, typing, socket), which the cgroupfs hot path must not pay.
jeepney is chosen over dbus-python (a C extension on libdbus, built from source in a venv),
dbus-fast (asyncio, ~2x the imports) and sdbus/pydbus (libsystemd or GObject bindings): it is
pure Python, has no dependencies and speaks the wire protocol itself, and its blocking
connection gives what a CLI call needs (a call, its reply, and the signals it waits for) with
timeouts.

Values go over the wire as jeepney takes them: a property is ``(name, (signature, value))``.

Two buses: the system bus (root's containers) and the user's own bus, where the user's systemd
instance (``systemd --user``) listens, for a rootless ``--systemd-cgroup`` (runc's
newUserSystemdDbus).  The user bus is found as runc finds it: $DBUS_SESSION_BUS_ADDRESS, else
$XDG_RUNTIME_DIR/bus.  Both are authenticated with SASL EXTERNAL and *no* identity (what sd-bus
sends): the bus then takes the uid the kernel gives it for the socket's peer, which is the
user's real uid also when pyrunc runs as uid 0 of a user namespace (conmon under rootless
Podman, dockerd under rootlesskit).  jeepney's own handshake sends ``geteuid()``, which is 0
there and which the bus refuses; runc asks `busctl` for the bus's OwnerUID instead, which needs
a subprocess and the same trip to the bus.
"""

import time

from jeepney import DBusAddress, DBusErrorResponse, MatchRule, MessageType, new_method_call
from jeepney.bus import get_bus
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection

from pyrunc.errors import PyruncError

SYSTEMD = "org.freedesktop.systemd1"
MANAGER = DBusAddress("/org/freedesktop/systemd1", bus_name=SYSTEMD,
                      interface="org.freedesktop.systemd1.Manager")
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


def connect(address: str) -> DBusConnection:
    """A connected, authenticated, Hello'd connection to the bus at ``address`` (see the module
    docstring for why the handshake is ours)."""
    import socket
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    deadline = time.monotonic() + AUTH_TIMEOUT
    try:
        sock.settimeout(AUTH_TIMEOUT)
        sock.connect(get_bus(address))
        sock.sendall(b"\0AUTH EXTERNAL\r\n")
        line = _sasl_line(sock, deadline)
        if line == b"DATA" or line.startswith(b"DATA "):
            sock.sendall(b"DATA\r\n")
            line = _sasl_line(sock, deadline)
        if not line.startswith(b"OK"):
            raise OSError(f"the bus refused EXTERNAL authentication ({line[:80]!r})")
        sock.sendall(b"BEGIN\r\n")
        sock.settimeout(None)
        return DBusConnection(sock)
    except BaseException:
        sock.close()
        raise


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
        self._jobs_rule: MatchRule | None = None
        self._version: int | None = None

    def close(self) -> None:
        self.conn.close()

    def call(self, method: str, signature: str | None = None, body: tuple = (),
             addr: DBusAddress = MANAGER):
        """One method call; its reply body, or DBusError."""
        msg = new_method_call(addr, method, signature, body)
        try:
            reply = self.conn.send_and_get_reply(msg, timeout=CALL_TIMEOUT)
        except TimeoutError:
            raise PyruncError(f"systemd did not answer {method} in {CALL_TIMEOUT:g}s") from None
        except OSError as e:
            raise PyruncError(f"D-Bus call {method}: {e}") from None
        if reply.header.message_type == MessageType.error:
            err = DBusErrorResponse(reply)
            text = err.data[0] if err.data and isinstance(err.data[0], str) else str(err.name)
            raise DBusError(str(err.name), text)
        return reply.body

    # ---- jobs -----------------------------------------------------------------------------------

    def _watch_jobs(self) -> MatchRule:
        """Ask the bus for systemd's JobRemoved signals (before the job exists, so none is
        missed).  The bus matches the sender's well-known name; the rule returned, for
        jeepney's own filter, has none, since a message carries the sender's unique name."""
        if self._jobs_rule is None:
            fields = dict(type="signal", interface=MANAGER.interface, member="JobRemoved",
                          path=MANAGER.object_path)
            bus_rule = MatchRule(sender=SYSTEMD, **fields)
            self.conn.send_and_get_reply(message_bus.AddMatch(bus_rule), timeout=CALL_TIMEOUT)
            self._jobs_rule = MatchRule(**fields)
        return self._jobs_rule

    def run_job(self, method: str, signature: str, body: tuple,
                timeout: float = JOB_TIMEOUT) -> str:
        """Call a method that queues a job (StartTransientUnit, StopUnit) and wait for the job's
        JobRemoved signal: its result ("done", "failed", "timeout", ...).  Every half second
        without it, the job object is looked at: gone without a signal is "done"."""
        rule = self._watch_jobs()
        with self.conn.filter(rule, bufsize=64) as signals:
            job = self.call(method, signature, body)[0]
            deadline = time.monotonic() + timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return "timeout"
                try:
                    sig = self.conn.recv_until_filtered(signals, timeout=min(left, 0.5))
                except TimeoutError:
                    if not self._job_exists(job):
                        return "done"
                    continue
                except OSError as e:
                    raise PyruncError(f"D-Bus: waiting for systemd job {job}: {e}") from None
                _id, path, _unit, result = sig.body
                if path == job:
                    return result

    def _job_exists(self, job: str) -> bool:
        addr = DBusAddress(job, bus_name=SYSTEMD, interface="org.freedesktop.DBus.Properties")
        try:
            self.call("Get", "ss", ("org.freedesktop.systemd1.Job", "State"), addr)
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
        addr = DBusAddress(path, bus_name=SYSTEMD,
                           interface="org.freedesktop.DBus.Properties")
        return self.call("Get", "ss", (iface, prop), addr)[0][1]

    def manager_property(self, prop: str):
        addr = DBusAddress(MANAGER.object_path, bus_name=SYSTEMD,
                           interface="org.freedesktop.DBus.Properties")
        return self.call("Get", "ss", (MANAGER.interface, prop), addr)[0][1]

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

