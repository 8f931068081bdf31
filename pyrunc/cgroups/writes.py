"""The cgroup file writes of one apply or update, in order, each with the JSON path to blame.

Its own module so that create loads resources.py (the limits: memory, cpu, pids, blockIO...)
only when the config sets some: device rules, which every container has, need just this and
devices.py.
"""

import errno

from pyrunc.cgroups import V2, Cgroup, _read, _write
from pyrunc.errors import ConfigError


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
