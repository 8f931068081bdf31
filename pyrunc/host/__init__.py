"""What pyrunc does on the host around a container: probes of the host it plans against,
starting the init and speaking its sync protocol (spawn), hooks, consoles, sd_notify,
socket activation, network devices and the container's passwd lookups.

Nothing here runs inside a container: that is the C init's job (native/init/).
"""

from pyrunc import fastos as os  # os without its import cost (see fastos)


def in_user_namespace() -> bool:
    """Whether this process runs in a user namespace other than the initial one (moby's
    RunningInUserNS): the initial one maps every id to itself, as one line.  Here, in the
    package module, so the CLI's default --root can ask without loading the probes."""
    try:
        return os.read_file("/proc/self/uid_map").split() != [b"0", b"0", b"4294967295"]
    except OSError:
        return False
