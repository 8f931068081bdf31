"""config.md#hostname and config-linux.md items checked from inside the container:
namespaces, maskedPaths, readonlyPaths."""
from __future__ import annotations

import os
import socket

from conformance import mountinfo
from conformance.bundle import default_config

NS_TYPES = {"pid": "pid", "network": "net", "ipc": "ipc", "uts": "uts", "mount": "mnt",
            "cgroup": "cgroup", "user": "user"}


def test_hostname(rt):
    """config.md#hostname: the container's hostname is set; the host's is unchanged."""
    host_before = socket.gethostname()
    out = rt.script_output("hostname; cat /proc/sys/kernel/hostname",
                           hostname="conformance-host")
    assert out == "conformance-host\nconformance-host\n"
    assert socket.gethostname() == host_before


def test_namespaces_created_and_inherited(rt):
    """config-linux.md#namespaces: each listed type is a new namespace; a type not listed
    (cgroup, user) is the runtime's own (inherited)."""
    script = "; ".join(f"echo {t} $(readlink /proc/self/ns/{t})" for t in NS_TYPES.values())
    out = rt.script_output(script)
    inside = dict(line.split(" ", 1) for line in out.splitlines())
    for spec_type, t in NS_TYPES.items():
        if not os.path.exists(f"/proc/self/ns/{t}"):
            continue
        host = os.readlink(f"/proc/self/ns/{t}")
        if spec_type in ("cgroup", "user"):
            assert inside[t] == host, f"{t} namespace not inherited"
        else:
            assert inside[t] != host, f"{t} namespace not new"


def test_pid_namespace_program_is_pid_1(rt):
    """config-linux.md#namespaces pid: the program is PID 1 of its pid namespace and sees
    only its own processes."""
    out = rt.script_output("echo $$; ls -d /proc/[0-9]* | wc -l")
    pid, count = out.split()
    assert pid == "1"
    assert int(count) <= 3  # sh, ls (and wc on some shells); never the host's processes


def test_network_namespace_has_only_loopback(rt):
    """config-linux.md#namespaces network: a new network namespace has only `lo`."""
    out = rt.script_output("cat /proc/net/dev")
    ifaces = [line.split(":")[0].strip() for line in out.splitlines()[2:]]
    assert ifaces == ["lo"]


def test_masked_paths(rt):
    """config-linux.md#masked-paths: runc spec's masked files read as empty and masked
    directories are empty (those of them that exist on this host)."""
    masked = default_config(["sh"])["linux"]["maskedPaths"]
    files = [p for p in masked if os.path.isfile(p)]
    dirs = [p for p in masked if os.path.isdir(p) and os.listdir(p)]
    assert files, "no maskable file on this host"
    script = "; ".join([f"echo {p} $(wc -c < {p})" for p in files]
                       + [f"echo {p} $(ls -A {p} | wc -l)" for p in dirs])
    out = rt.script_output(script)
    assert dict(line.split() for line in out.splitlines()) == {p: "0" for p in files + dirs}


def test_readonly_paths(rt):
    """config-linux.md#readonly-paths: /proc/sys is read-only: writing the (uts-namespaced)
    domainname fails and the mount is `ro`."""
    out = rt.script_output("if echo x > /proc/sys/kernel/domainname; then echo writable; "
                           "else echo readonly; fi 2>/dev/null; cat /proc/self/mountinfo")
    first, _, rest = out.partition("\n")
    assert first == "readonly"
    m = mountinfo.at(mountinfo.parse(rest), "/proc/sys")
    assert m is not None and "ro" in m.options


def test_custom_masked_and_readonly_paths(rt):
    """config-linux.md#masked-paths / #readonly-paths: paths the config adds are honoured
    (a masked file in the rootfs, a read-only directory)."""
    def edit(cfg):
        cfg["linux"]["maskedPaths"].append("/etc/secret")
        cfg["linux"]["readonlyPaths"].append("/tmp")

    b = rt.bundle(["sh", "-c", "exec > /share/out 2>&1; wc -c < /etc/secret; "
                   "if touch /tmp/x 2>/dev/null; then echo writable; else echo readonly; fi"],
                  edit, share=True, readonly=False)
    (b / "rootfs" / "etc" / "secret").write_text("top secret\n")
    rt.run_to_exit(b)
    assert (rt.share / "out").read_text().split() == ["0", "readonly"]
