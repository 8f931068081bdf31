"""OOM events of one container, as a pollable source for `events`.

They come from memory.oom_control through cgroup.event_control and an eventfd on v1, and from
memory.events (the oom_kill count; kernfs wakes poll() with POLLPRI on change) on v2.
"""

import os
import select

from pyrunc.cgroups import V2, Cgroup, _write


class OomEvents:
    """A pollable source of OOM events for one container.

    ``fileno()`` becomes readable (v1: POLLIN on an eventfd) or signals POLLPRI (v2: memory.events
    changed) when something happened; ``read()`` then returns how many OOM kills were seen since
    the last call (0 for a spurious wake-up).  ``gone()`` tells that the cgroup was removed.
    """

    def __init__(self, cg: Cgroup) -> None:
        self.v2 = cg.mode == V2
        self.dir = cg.paths[""] if self.v2 else cg.path("memory")
        if self.dir is None:
            raise FileNotFoundError("no memory cgroup")
        if self.v2:
            self.fd = os.open(f"{self.dir}/memory.events", os.O_RDONLY | os.O_CLOEXEC)
            self.seen = self._count()
            self.events = select.POLLPRI | select.POLLERR
        else:
            self.fd = os.eventfd(0, os.EFD_CLOEXEC)
            ctl = os.open(f"{self.dir}/memory.oom_control", os.O_RDONLY | os.O_CLOEXEC)
            try:
                _write(f"{self.dir}/cgroup.event_control", f"{self.fd} {ctl}")
            finally:
                os.close(ctl)
            self.events = select.POLLIN

    def fileno(self) -> int:
        return self.fd

    def _count(self) -> int:
        os.lseek(self.fd, 0, os.SEEK_SET)
        data = os.read(self.fd, 4096).decode()
        for line in data.splitlines():
            k, _, v = line.partition(" ")
            if k == "oom_kill":
                return int(v)
        return 0

    def read(self) -> int:
        if self.v2:
            try:
                n = self._count()
            except OSError:
                return 0
            new, self.seen = max(0, n - self.seen), n
            return new
        try:
            n = int.from_bytes(os.read(self.fd, 8), "little")
        except BlockingIOError:
            return 0
        # The kernel also signals the eventfd when the cgroup is removed: not an OOM.
        return 0 if self.gone() else n

    def gone(self) -> bool:
        return not os.path.isdir(self.dir)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
