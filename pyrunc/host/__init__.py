"""What pyrunc does on the host around a container: probes of the host it plans against,
starting the init and speaking its sync protocol (spawn), hooks, consoles, sd_notify,
socket activation, network devices and the container's passwd lookups.

Nothing here runs inside a container: that is the C init's job (native/init/).
"""
