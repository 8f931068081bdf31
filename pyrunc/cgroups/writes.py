"""The cgroup file writes of one apply or update, in order, each with the JSON path to blame,
and apply itself (limits, then the device rules every container has).

Its own module so that create loads resources.py (the limits: memory, cpu, pids, blockIO...)
only when the config sets some: device rules, which every container has, need just this and
devices.py.
"""

import errno

from pyrunc.cgroups import V2, Cgroup, _read, _write
from pyrunc.errors import ConfigError, PyruncError


class WritePlan:
    """Ordered cgroup file writes; each knows the JSON path to blame if the kernel refuses it."""

    def __init__(self, cg: Cgroup) -> None:
        self.cg = cg
        self.ops: list[tuple] = []

    def dir(self, controller: str, path: str) -> str:
        """The directory for a controller, or a ConfigError naming the value that needs it."""
        if self.cg.mode == V2:
            d = self.cg.paths[""]
            if controller not in ("", "devices") and not v2_has(d, controller):
                raise ConfigError(path, f"cannot apply: the {controller} controller is not "
                                  f"available in cgroup {d}")
            return d
        d = self.cg.path(controller)
        if d is None:
            raise ConfigError(path, f"cannot apply: the {controller} cgroup controller is not "
                              "mounted on this host")
        return d

    def write(self, d: str, name: str, value: str, path: str, on_error=None) -> None:
        self.ops.append(("w", d, name, value, path, on_error))

    def call(self, fn, path: str) -> None:
        self.ops.append(("c", fn, path))

    def run(self) -> None:
        for op in self.ops:
            if op[0] == "c":
                try:
                    op[1]()
                except OSError as e:  # a read the step needed (current limit, usage) failed
                    raise ConfigError(op[2], f"cannot apply: {e.strerror or e}") from None
                continue
            _, d, name, value, path, on_error = op
            try:
                _write(f"{d}/{name}", value)
            except OSError as e:
                if on_error is not None:
                    msg = on_error(e)
                    if msg is None:
                        continue
                    raise ConfigError(path, msg) from None
                if e.errno == errno.ENOENT:
                    raise ConfigError(path, f"cannot apply: {name} is not supported on this "
                                      "host") from None
                raise ConfigError(path, f"cannot set {name} to {value!r}: "
                                  f"{e.strerror}") from None


def v2_has(d: str, controller: str) -> bool:
    try:
        return controller in _read(d + "/cgroup.controllers").split()
    except FileNotFoundError:
        return False


def apply(cg: Cgroup, resources: dict | None, path: str = "linux.resources",
          linux_devices: list | None = None, rootless: bool = False) -> None:
    """Set linux.resources on a freshly created cgroup; ConfigError names the bad JSON path.

    Always call it, even without resources: device access is runc's deny-by-default list
    plus linux.resources.devices.  Pass linux.devices so that a device the config redefines
    (e.g. /dev/null) drops runc's default rule for it, as runc does.
    """
    from pyrunc.cgroups import devices

    res = {} if resources is None else resources
    if not isinstance(res, dict):
        raise ConfigError(path, "must be an object")
    plan = WritePlan(cg)
    if any(k != "devices" for k in res):  # limits: their module only when there are some
        from pyrunc.cgroups import resources as _r
        _r.build(plan, res, path, updating=False)
    rules = devices.rules_from_config(res, path, linux_devices)
    if rootless:
        # runc ignores the device controller's errors when rootless: an unprivileged user
        # may not attach the v2 program nor write a v1 devices list (and its own user
        # namespace keeps it from making device nodes anyway).
        plan.run()
        plan = WritePlan(cg)
        try:
            if cg.paths:
                devices.plan_devices(plan, rules, path + ".devices")
            plan.run()
        except (PyruncError, OSError):
            pass
        return
    devices.plan_devices(plan, rules, path + ".devices")
    plan.run()
