"""A rootless container's cgroups: which hierarchies an unprivileged user may make and enter,
as runc's fs and fs2 managers decide when rootless (permission errors leave a hierarchy out).

Only rootless create and rootless exec import it; root's containers never do.
"""

import errno
from pyrunc import fastos as os  # os without its import cost (see fastos)

from pyrunc.cgroups import Cgroup, _join, _mountpoint_of, _mountpoints, read_proc_cgroup
from pyrunc.errors import PyruncError


def create_rootless(cg: Cgroup, named: bool, resources: dict | None) -> None:
    """create() for a rootless container (runc's --rootless, see Ctx.rootless_cgroups):
    a hierarchy whose cgroup this user may not make, or may not enter, is left out of
    ``paths`` (runc's fs and fs2 managers ignore EPERM, EACCES and EROFS there), unless the
    config named a cgroupsPath (then the permission error stands, as in runc) or asks for
    limits, which would then go nowhere: one clear error instead.  A cgroup the user owns
    (a delegated cgroup2 subtree) is kept and gets the limits."""
    denied = ""
    for key, p in list(cg.paths.items()):
        try:
            Cgroup(cg.mode, {key: p}).create_one(cg.mountpoints)
            procs = p + ("/cgroup.procs" if key == "" else "/tasks")
            if not os.access(procs, os.W_OK):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), procs)
        except OSError as e:
            if named or e.errno not in (errno.EPERM, errno.EACCES, errno.EROFS):
                raise PyruncError(f"cannot create cgroup {e.filename or p}: "
                                  f"{e.strerror}") from None
            denied = denied or f"{e.filename or p}: {e.strerror}"
            del cg.paths[key]
    if denied and any(k != "devices" for k in resources or {}):
        raise PyruncError("rootless needs no limits + no cgrouppath when no permission is "
                          f"granted for cgroups: cannot create cgroup {denied}")


def movable_here(cg: Cgroup) -> Cgroup:
    """The hierarchies whose cgroup this process may move itself into, for a rootless
    exec (runc ignores a rootless exec's failure to join the container's cgroup): on
    cgroup v2 the kernel wants write access to cgroup.procs of the common ancestor of
    the source and target cgroups (a user's process outside its delegated subtree may not
    enter it); on v1, to the target's tasks file."""
    own = read_proc_cgroup()
    mounts = cg.mountpoints or _mountpoints()
    keep: dict[str, str] = {}
    for key, p in cg.paths.items():
        mnt = _mountpoint_of(p, mounts)
        if key == "":
            src = _join(mnt, own.get("", "/"))
            common = mnt.rstrip("/") or "/"
            for part in p[len(common):].strip("/").split("/"):
                nxt = _join(common, part)
                if src != nxt and not src.startswith(nxt + "/"):
                    break
                common = nxt
            f = common + "/cgroup.procs"
        else:
            f = p + "/tasks"
        if os.access(f, os.W_OK):
            keep[key] = p
    cg = Cgroup(cg.mode, keep)
    cg.mountpoints = mounts
    return cg
