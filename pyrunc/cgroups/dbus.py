"""systemd's manager over D-Bus (org.freedesktop.systemd1), through jeepney.

Only the systemd cgroup driver (systemd.py, `--systemd-cgroup`) imports this module: jeepney
costs ~20 ms of imports (enum, typing, socket), which the cgroupfs hot path must not pay.
jeepney is chosen over dbus-python (a C extension on libdbus, built from source in a venv),
dbus-fast (asyncio, ~2x the imports) and sdbus/pydbus (libsystemd or GObject bindings): it is
pure Python, has no dependencies and speaks the wire protocol itself, and its blocking
connection gives what a CLI call needs (a call, its reply, and the signals it waits for) with
timeouts.

Values go over the wire as jeepney takes them: a property is ``(name, (signature, value))``.
"""

import time

from jeepney import DBusAddress, DBusErrorResponse, MatchRule, MessageType, new_method_call
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

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


class Manager:
    """A connection to systemd's manager on the system bus."""

    def __init__(self) -> None:
        try:
            self.conn = open_dbus_connection(bus="SYSTEM")
        except (OSError, ValueError) as e:  # no bus socket, or the bus refused us
            raise PyruncError(f"cannot connect to the system D-Bus: {e}") from None
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

    def version(self) -> int:
        """systemd's version number (252 for "252.22-1~deb12u1"), asked once."""
        if self._version is None:
            addr = DBusAddress(MANAGER.object_path, bus_name=SYSTEMD,
                               interface="org.freedesktop.DBus.Properties")
            v = str(self.call("Get", "ss", (MANAGER.interface, "Version"), addr)[0][1])
            digits = ""
            for ch in v.lstrip('"v'):
                if not ch.isdigit():
                    break
                digits += ch
            self._version = int(digits) if digits else -1
        return self._version

