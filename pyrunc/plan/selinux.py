"""SELinux for create and exec, planned as runc applies it (runc's libcontainer with go-selinux).

- ``process.selinuxLabel`` (and ``exec --process-label``): the label is written to the process'
  own ``attr/exec`` (go-selinux's SetExecLabel: /proc/thread-self/attr/exec, /proc/self/attr/exec
  on kernels without thread-self) just before the seccomp filter and the credential switch, so
  the user's execve enters it; and to ``/proc/self/attr/keycreate`` before the session keyring
  is joined (SetKeyLabel), so the container's keyring carries the container's label.
- ``linux.mountLabel``: ``context="LABEL"`` appended to the data of the filesystems runc gives it
  to (label.FormatMountLabel: tmpfs, devpts and every other new filesystem except proc, sysfs and
  cgroup2; the tmpfs of masked directories and of a v1 /sys/fs/cgroup); binds ignore mount data,
  and mqueue gets the label as its root's security.selinux attribute after the mount.

A label is checked against the loaded policy before anything is created (the kernel's own
check: selinuxfs's ``context`` file refuses a context the policy does not define), so a typo is
one error naming the field, not a failed init after the state directory and cgroup exist.
Imported only when a config or an exec asks for a label (not on the hot path).
"""
from __future__ import annotations

from pyrunc import fastos as os
from pyrunc.errors import ConfigError

SELINUXFS = "/sys/fs/selinux"
EINVAL = 22


def enabled() -> bool:
    """SELinux is on here: its filesystem is mounted (what go-selinux's GetEnabled looks for)."""
    return os.path.exists(SELINUXFS + "/enforce")


def check_label(label: str, jpath: str) -> None:
    """Refuse ``label`` where SELinux is off, or where the loaded policy does not define it."""
    if not enabled():
        raise ConfigError(jpath, "SELinux is not enabled on this host")
    if "\0" in label or "\n" in label:
        raise ConfigError(jpath, f"SELinux label {label!r} is not valid")
    try:
        fd = os.open(SELINUXFS + "/context", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return  # no selinuxfs to ask (or not allowed to): the kernel will say at the write
    try:
        os.write(fd, label.encode())
    except OSError as e:
        if e.errno == EINVAL:
            raise ConfigError(jpath, f"SELinux label {label!r} is not defined by the loaded "
                                     "policy") from None
    finally:
        os.close(fd)


def exec_label_ops(p, label: str | None, jpath: str) -> None:
    """The label the user's execve enters (runc: after its 'ready' sync, before seccomp)."""
    if not label:
        return
    check_label(label, jpath)
    attr = ("thread-self/attr/exec" if os.path.exists("/proc/thread-self/attr/exec")
            else "self/attr/exec")
    p.add("PROC_WRITE", attr, label)


def keycreate_ops(p, label: str | None) -> None:
    """Before SESSION_KEYRING: the new keyring gets the container's label (runc skips this
    where the kernel has no keycreate attribute)."""
    if label and os.path.exists("/proc/self/attr/keycreate"):
        p.add("PROC_WRITE", "self/attr/keycreate", label)


def mount_data(data: str, label: str | None) -> str:
    """label.FormatMountLabel: the mount data with the context option added."""
    if not label:
        return data
    opt = f'context="{label}"'
    return f"{data},{opt}" if data else opt
