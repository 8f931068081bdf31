"""Process and host attributes (config.md#process, config-linux.md): umask, capabilities,
noNewPrivileges, rlimits, oomScoreAdj, personality, ioPriority, scheduler, execCPUAffinity,
hostname/domainname, sysctl, time namespaces."""
from __future__ import annotations

import os

import pytest

from linux_helpers import proc_edit, run_script


def test_five_capability_sets(rt):
    caps = {"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETPCAP"],
            "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
            "effective": ["CAP_CHOWN", "CAP_KILL"],
            "inheritable": ["CAP_KILL", "CAP_NET_RAW"],
            "ambient": ["CAP_KILL"]}
    out = run_script(rt, "grep ^Cap /proc/self/status", proc_edit(capabilities=caps))
    got = {k: int(v, 16) for k, v in (line.split(":\t") for line in out.splitlines())}
    bit = {"CAP_CHOWN": 0, "CAP_KILL": 5, "CAP_NET_RAW": 13, "CAP_SETPCAP": 8}

    def mask(names):
        return sum(1 << bit[n] for n in names)
    # Root keeps its permitted set across execve only if effective/permitted come from the
    # config: for uid 0, exec recomputes P' = (inheritable & file) | bounding... so check
    # the sets the kernel reports for a root process: permitted and effective are the
    # bounding set's intersection with what was permitted before exec.
    assert got["CapBnd"] == mask(caps["bounding"])
    assert got["CapInh"] == mask(caps["inheritable"])
    assert got["CapAmb"] == mask(caps["ambient"])
    assert got["CapPrm"] & ~mask(caps["bounding"]) == 0


@pytest.mark.parametrize("nnp", [True, False])
def test_no_new_privileges(rt, nnp):
    out = run_script(rt, "grep NoNewPrivs /proc/self/status", proc_edit(noNewPrivileges=nnp))
    assert out.split() == ["NoNewPrivs:", "1" if nnp else "0"]


def test_rlimits(rt):
    rl = [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456},
          {"type": "RLIMIT_CORE", "soft": 0, "hard": 1 << 20},
          {"type": "RLIMIT_NPROC", "soft": 500, "hard": 600}]
    out = run_script(rt, "grep -E 'open files|core file|processes' /proc/self/limits",
                     proc_edit(rlimits=rl))
    rows = {" ".join(line.split()[:-3]): line.split()[-3:-1] for line in out.splitlines()}
    assert rows["Max open files"] == ["123", "456"]
    assert rows["Max core file size"] == ["0", str(1 << 20)]
    assert rows["Max processes"] == ["500", "600"]


def _has_cap(n: int) -> bool:
    with open("/proc/self/status") as f:
        eff = next(line for line in f if line.startswith("CapEff:")).split()[1]
    return bool(int(eff, 16) >> n & 1)


@pytest.mark.parametrize("adj", [-500, 0, 700])
def test_oom_score_adj(rt, adj):
    if adj < 0 and not _has_cap(24):
        pytest.skip("lowering oom_score_adj needs CAP_SYS_RESOURCE, which this host lacks")
    out = run_script(rt, "cat /proc/self/oom_score_adj", proc_edit(oomScoreAdj=adj))
    assert out.strip() == str(adj)


@pytest.mark.parametrize("domain,machine", [("LINUX32", "i686"), ("LINUX", "x86_64")])
def test_personality(rt, domain, machine):
    def edit(cfg):
        cfg["linux"]["personality"] = {"domain": domain}
    out = run_script(rt, "uname -m", edit)
    assert out.strip() == machine


@pytest.mark.parametrize("cls,prio,expect", [("IOPRIO_CLASS_BE", 3, "best-effort: prio 3"),
                                             ("IOPRIO_CLASS_IDLE", 0, "idle"),
                                             ("IOPRIO_CLASS_RT", 5, "realtime: prio 5")])
def test_io_priority(rt, cls, prio, expect):
    out = run_script(rt, "ionice -p $$", proc_edit(ioPriority={"class": cls, "priority": prio}))
    assert out.strip() == expect


RT_GROUP_SCHED = os.path.exists("/sys/fs/cgroup/cpu/cpu.rt_runtime_us")


def _stat_fields(out):
    """(nice, rt_priority, policy) from /proc/self/stat text."""
    rest = out.rsplit(")", 1)[1].split()
    return int(rest[16]), int(rest[37]), int(rest[38])


@pytest.mark.parametrize("sched,expect", [
    ({"policy": "SCHED_BATCH", "nice": 5}, (5, 0, 3)),
    ({"policy": "SCHED_IDLE"}, (0, 0, 5)),
    ({"policy": "SCHED_FIFO", "priority": 10}, (0, 10, 1)),
    ({"policy": "SCHED_RR", "priority": 20}, (0, 20, 2)),
    ({"policy": "SCHED_OTHER", "nice": -3}, (-3, 0, 0)),
])
def test_scheduler(rt, sched, expect):
    if sched["policy"] in ("SCHED_FIFO", "SCHED_RR") and RT_GROUP_SCHED:
        pytest.skip("RT group scheduling: the container's cgroup has no realtime runtime")
    out = run_script(rt, "cat /proc/self/stat", proc_edit(scheduler=sched))
    assert _stat_fields(out) == expect


def test_scheduler_deadline(rt):
    """A deadline task cannot fork unless reset-on-fork (the flag is applied: the shell can
    fork at all); the shell itself (pid 1) runs SCHED_DEADLINE."""
    sched = {"policy": "SCHED_DEADLINE", "runtime": 1000000, "deadline": 10000000,
             "period": 10000000, "flags": ["SCHED_FLAG_RESET_ON_FORK"]}
    out = run_script(rt, "cat /proc/1/stat; sh -c 'cat /proc/self/stat'",
                     proc_edit(scheduler=sched))
    first, second = out.splitlines()
    assert _stat_fields(first)[2] == 6
    assert second.startswith(tuple("0123456789"))


def test_exec_cpu_affinity(rt):
    out = run_script(rt, "grep Cpus_allowed_list /proc/self/status",
                     proc_edit(execCPUAffinity={"initial": "0", "final": "1"}))
    assert out.split() == ["Cpus_allowed_list:", "1"]


def test_exec_cpu_affinity_initial_only(rt):
    """With only `initial`, the process ends with every CPU its cgroup allows."""
    out = run_script(rt, "grep Cpus_allowed_list /proc/self/status",
                     proc_edit(execCPUAffinity={"initial": "0"}))
    assert out.split()[1] == f"0-{os.cpu_count() - 1}" if os.cpu_count() > 1 else "0"


def test_without_exec_cpu_affinity_the_process_keeps_the_runtimes(rt):
    """runtime-spec: without execCPUAffinity the runtime leaves the affinity alone (pyrunc's
    create places its first stage on another CPU for a moment, then gives it back)."""
    out = run_script(rt, "grep Cpus_allowed_list /proc/self/status")
    cpus = sorted(os.sched_getaffinity(0))
    want = str(cpus[0]) if len(cpus) == 1 else f"{cpus[0]}-{cpus[-1]}"
    assert out.split() == ["Cpus_allowed_list:", want]


def test_hostname_and_domainname(rt):
    def edit(cfg):
        cfg["hostname"] = "box"
        cfg["domainname"] = "example.org"
    out = run_script(rt, "hostname; cat /proc/sys/kernel/domainname", edit)
    assert out.split() == ["box", "example.org"]


def test_sysctls(rt):
    def edit(cfg):
        cfg["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmax": "12345678",
                                  "fs.mqueue.msg_max": "17", "kernel.domainname": "sys.ctl"}
    out = run_script(rt, "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax "
                     "/proc/sys/fs/mqueue/msg_max /proc/sys/kernel/domainname", edit)
    assert out.split() == ["1", "12345678", "17", "sys.ctl"]


def test_sysctl_slash_form(rt):
    def edit(cfg):
        cfg["linux"]["sysctl"] = {"net/ipv4/conf/lo/forwarding": "1"}
    out = run_script(rt, "cat /proc/sys/net/ipv4/conf/lo/forwarding", edit)
    assert out.strip() == "1"


def test_time_namespace_offsets(rt):
    """config-linux.md#offset-for-time-namespace: boottime and monotonic offsets."""
    def edit(cfg):
        cfg["linux"]["namespaces"].append({"type": "time"})
        cfg["linux"]["timeOffsets"] = {"boottime": {"secs": 86400 * 365, "nanosecs": 0},
                                       "monotonic": {"secs": 3600, "nanosecs": 5}}
    with open("/proc/uptime") as f:
        host_up = float(f.read().split()[0])
    out = run_script(rt, "cat /proc/self/timens_offsets; cut -d' ' -f1 /proc/uptime; "
                     "readlink /proc/self/ns/time", edit)
    lines = out.splitlines()
    offs = {line.split()[0]: line.split()[1:] for line in lines[:2]}
    assert offs == {"monotonic": ["3600", "5"], "boottime": [str(86400 * 365), "0"]}
    assert float(lines[2]) >= host_up + 86400 * 365
    assert lines[3] != os.readlink("/proc/self/ns/time")


def test_cwd_only_root_may_enter_is_entered_before_the_user_switch(rt):
    """runc enters process.cwd while still privileged, and again after the switch only if
    that was refused (issue 18): a 0700 directory of root's works for uid 1000."""
    import os

    def edit(c):
        c["process"]["user"] = {"uid": 1000, "gid": 1000}
        c["process"]["cwd"] = "/rootonly"
    b = rt.bundle(["sh", "-c", "pwd > /share/pwd"], edit, share=True)
    (b / "rootfs/rootonly").mkdir(mode=0o700)
    os.chmod(rt.share, 0o777)
    rt.run_to_exit(b)
    assert (rt.share / "pwd").read_text() == "/rootonly\n"
