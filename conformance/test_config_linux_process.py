"""config.md#linux-process and config-linux.md host attributes: umask, capabilities,
oomScoreAdj, rlimits, personality, ioPriority, scheduler, execCPUAffinity, domainname,
sysctl, time namespace offsets, namespaces joined by path."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from conformance.linux import proc_edit, run_script, skip_on_runc


def test_umask(rt):
    """config.md#posix-platform-user umask."""
    def edit(cfg):
        cfg["process"]["user"]["umask"] = 0o027
    out = run_script(rt, "umask; touch /tmp/f; mkdir /tmp/d; stat -c %a /tmp/f /tmp/d", edit,
                     readonly=False)
    assert out.split() == ["0027", "640", "750"]


def test_capability_sets_non_root(rt):
    """config.md#linux-process capabilities: the five sets of a non-root process."""
    caps = {"bounding": ["CAP_KILL", "CAP_NET_RAW"], "permitted": ["CAP_KILL", "CAP_NET_RAW"],
            "effective": ["CAP_KILL", "CAP_NET_RAW"], "inheritable": ["CAP_KILL"],
            "ambient": ["CAP_KILL"]}

    def edit(cfg):
        cfg["process"]["capabilities"] = caps
        cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
    out = run_script(rt, "grep ^Cap /proc/self/status", edit)
    got = {k: int(v, 16) for k, v in (line.split(":\t") for line in out.splitlines())}
    assert got == {"CapInh": 1 << 5, "CapPrm": 1 << 5, "CapEff": 1 << 5,
                   "CapBnd": (1 << 5) | (1 << 13), "CapAmb": 1 << 5}


@pytest.mark.parametrize("adj", [0, 500])
def test_oom_score_adj(rt, adj):
    """config.md#linux-process oomScoreAdj."""
    out = run_script(rt, "cat /proc/self/oom_score_adj", proc_edit(oomScoreAdj=adj))
    assert out.strip() == str(adj)


def test_rlimits(rt):
    """config.md#posix-process rlimits: soft and hard of each listed resource."""
    rl = [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456},
          {"type": "RLIMIT_NPROC", "soft": 500, "hard": 600}]
    out = run_script(rt, "grep -E 'open files|processes' /proc/self/limits",
                     proc_edit(rlimits=rl))
    rows = {" ".join(line.split()[:-3]): line.split()[-3:-1] for line in out.splitlines()}
    assert rows == {"Max open files": ["123", "456"], "Max processes": ["500", "600"]}


def test_personality(rt, runtime):
    """config-linux.md#personality: LINUX32 makes uname report a 32-bit machine."""
    skip_on_runc(runtime, "linux.personality (runc 1.2)")
    out = run_script(rt, "uname -m", lambda c: c["linux"].__setitem__("personality",
                                                                        {"domain": "LINUX32"}))
    assert out.strip() == "i686"


def test_io_priority(rt, runtime):
    """config.md#linux-process ioPriority (runtime-spec 1.2)."""
    skip_on_runc(runtime, "process.ioPriority (runc 1.2)")
    out = run_script(rt, "ionice -p $$",
                     proc_edit(ioPriority={"class": "IOPRIO_CLASS_BE", "priority": 3}))
    assert out.strip() == "best-effort: prio 3"


def test_scheduler(rt, runtime):
    """config.md#linux-process scheduler (runtime-spec 1.2)."""
    skip_on_runc(runtime, "process.scheduler (runc 1.2)")
    out = run_script(rt, "cat /proc/self/stat",
                     proc_edit(scheduler={"policy": "SCHED_BATCH", "nice": 5}))
    rest = out.rsplit(")", 1)[1].split()
    assert (int(rest[16]), int(rest[38])) == (5, 3)


def test_exec_cpu_affinity(rt, runtime):
    """config.md#linux-process execCPUAffinity.final (runtime-spec 1.2)."""
    skip_on_runc(runtime, "process.execCPUAffinity (runc 1.2)")
    out = run_script(rt, "grep Cpus_allowed_list /proc/self/status",
                     proc_edit(execCPUAffinity={"initial": "0", "final": "0"}))
    assert out.split() == ["Cpus_allowed_list:", "0"]


def test_domainname(rt, runtime):
    """config.md#domainname (runtime-spec 1.1) with a uts namespace."""
    skip_on_runc(runtime, "domainname (runc 1.2)")
    def edit(cfg):
        cfg["domainname"] = "example.org"
    out = run_script(rt, "cat /proc/sys/kernel/domainname", edit)
    assert out.strip() == "example.org"


def test_sysctl(rt):
    """config-linux.md#sysctl: namespaced sysctls are set in the container."""
    def edit(cfg):
        cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmax": "12345678"}
    out = run_script(rt, "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax", edit)
    assert out.split() == ["1", "12345678"]


def test_time_namespace_offsets(rt, runtime):
    """config-linux.md#offset-for-time-namespace (runtime-spec 1.2)."""
    skip_on_runc(runtime, "time namespaces (runc 1.2)")

    def edit(cfg):
        cfg["linux"]["namespaces"].append({"type": "time"})
        cfg["linux"]["timeOffsets"] = {"boottime": {"secs": 86400, "nanosecs": 0}}
    with open("/proc/uptime") as f:
        host_up = float(f.read().split()[0])
    out = run_script(rt, "cut -d' ' -f1 /proc/uptime", edit)
    assert float(out) >= host_up + 86400


def test_namespace_path(rt):
    """config-linux.md#namespaces path: the process joins the namespace at `path`."""
    holder = subprocess.Popen(["unshare", "--uts", "--", "sleep", "1000"],
                              stdin=subprocess.DEVNULL)
    try:
        ns = f"/proc/{holder.pid}/ns/uts"
        deadline = time.monotonic() + 10
        while os.readlink(ns) == os.readlink("/proc/self/ns/uts") and \
                time.monotonic() < deadline:
            time.sleep(0.01)

        def edit(cfg):
            cfg["linux"]["namespaces"] = [n if n["type"] != "uts" else {"type": "uts",
                                                                       "path": ns}
                                          for n in cfg["linux"]["namespaces"]]
        out = run_script(rt, "readlink /proc/self/ns/uts", edit)
        assert out.strip() == os.readlink(ns)
    finally:
        holder.kill()
        holder.wait()
