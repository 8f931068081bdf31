"""`exec`: a process joins a running container's namespaces and cgroups, with runc's flags."""
from __future__ import annotations

import json
import os
import subprocess


from cgroup_helpers import cgroup_dir, is_v2_dir, proc_cgroup
from tests.helpers_exec import ConsoleReceiver, read_until, running, wait_file

NS = ("pid", "mnt", "net", "ipc", "uts")


def ns_links(pid: int | str) -> dict[str, str]:
    return {n: os.readlink(f"/proc/{pid}/ns/{n}") for n in NS}


def test_exec_joins_namespaces_and_cgroup(rt):
    cid = running(rt)
    pid = rt.state(cid)["pid"]
    script = "echo $$; " + "; ".join(f"readlink /proc/self/ns/{n}" for n in NS) + \
        "; cat /proc/self/cgroup; ps -o pid,comm"
    out = rt.ok("exec", cid, "sh", "-c", script).stdout.splitlines()
    inner_pid = int(out[0])
    assert inner_pid != pid and inner_pid < 100  # a pid of the container's pid namespace
    assert dict(zip(NS, out[1:6])) == ns_links(pid)
    with open(f"/proc/{pid}/cgroup") as f:
        init_cgroups = f.read().splitlines()
    assert out[6:6 + len(init_cgroups)] == init_cgroups
    assert any(line.split()[:2] == ["1", "sleep"] for line in out[6 + len(init_cgroups):])


def test_exec_exit_codes(rt):
    cid = running(rt)
    assert rt("exec", cid, "sh", "-c", "exit 42").returncode == 42
    assert rt("exec", cid, "true").returncode == 0
    assert rt("exec", cid, "sh", "-c", "kill -9 $$").returncode == 137
    r = rt("exec", cid, "no-such-program")  # runc: 255 for its own failures
    assert r.returncode == 255 and "no-such-program" in r.stderr
    assert rt.status(cid) == "running"


def test_exec_defaults_from_container_and_overrides(rt):
    cid = running(rt, env=["PATH=/bin", "FROMCONFIG=1", "X=old"], cwd="/tmp")
    out = rt.ok("exec", cid, "sh", "-c", "pwd; echo $FROMCONFIG $X; id -u; id -g").stdout.split()
    assert out == ["/tmp", "1", "old", "0", "0"]
    out = rt.ok("exec", "--cwd", "/proc", "-e", "X=new", "-e", "Y=2", "-u", "1000:1001",
                "-g", "7", cid, "sh", "-c", "pwd; echo $X $Y; id -u; id -g; id -G").stdout
    assert out.split() == ["/proc", "new", "2", "1000", "1001", "1001", "7"]


def test_exec_capabilities_and_no_new_privs(rt):
    cid = running(rt, config_edit=lambda c: c["process"].__setitem__("noNewPrivileges", False))
    grep = "grep -E '^(CapBnd|CapEff|NoNewPrivs)' /proc/self/status"
    base = dict(line.split(":\t") for line in rt.ok("exec", cid, "sh", "-c", grep).stdout.split("\n") if line)
    assert base["NoNewPrivs"] == "0"
    more = dict(line.split(":\t") for line in rt.ok(
        "exec", "--cap", "CAP_SYS_ADMIN", "--no-new-privs", cid, "sh", "-c", grep
    ).stdout.split("\n") if line)
    assert more["NoNewPrivs"] == "1"
    sys_admin = 1 << 21
    assert int(more["CapEff"], 16) == int(base["CapEff"], 16) | sys_admin
    assert int(more["CapBnd"], 16) & sys_admin and not int(base["CapBnd"], 16) & sys_admin


def test_exec_process_json(rt, tmp_path):
    cid = running(rt, share=True)
    proc = {"args": ["sh", "-c", "echo $WHO $(pwd) $(id -u) > /share/pj; exit 9"],
            "env": ["PATH=/bin", "WHO=processjson"], "cwd": "/etc",
            "user": {"uid": 65534, "gid": 65534}, "terminal": False}
    pj = tmp_path / "process.json"
    pj.write_text(json.dumps(proc))
    r = rt("exec", "--process", pj, cid)
    assert r.returncode == 9, r.stderr
    assert (rt.share / "pj").read_text().split() == ["processjson", "/etc", "65534"]


def test_exec_detached_pid_file(rt, tmp_path):
    cid = running(rt)
    pid_file = tmp_path / "exec.pid"
    rt.ok("exec", "-d", "--pid-file", pid_file, cid, "sleep", "1000")
    text = pid_file.read_text()
    assert text.isdigit()  # bare digits, no newline
    pid = int(text)
    init = rt.state(cid)["pid"]
    assert os.readlink(f"/proc/{pid}/ns/pid") == os.readlink(f"/proc/{init}/ns/pid")
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"sleep", b"1000"]


def test_exec_no_host_fd_leaks(rt):
    cid = running(rt)
    r_fd, w_fd = os.pipe()  # inheritable fds of pyrunc's caller must not reach the process
    os.set_inheritable(r_fd, True)
    os.set_inheritable(w_fd, True)
    try:
        p = rt.popen("exec", cid, "sh", "-c", "ls /proc/$$/fd; true", stdout=subprocess.PIPE,
                     pass_fds=(r_fd, w_fd))
        out, _ = p.communicate(timeout=20)
    finally:
        os.close(r_fd)
        os.close(w_fd)
    assert p.returncode == 0
    assert sorted(out.split()) == [b"0", b"1", b"2"]


def test_exec_preserve_fds(rt):
    cid = running(rt)
    r_fd, w_fd = os.pipe()
    try:
        # fd 3 of pyrunc is the pipe (preserved); w_fd itself is inherited too but not preserved.
        argv = ["bash", "-c", f'exec "$@" 3>&{w_fd}', "bash",
                *rt.command("exec", "--preserve-fds", "1", cid, "sh", "-c",
                            "echo through-fd3 >&3; ls /proc/$$/fd; true")]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                             pass_fds=(w_fd,))
        rt.popens.append(p)
        os.close(w_fd)
        w_fd = -1
        out, _ = p.communicate(timeout=20)
        assert p.returncode == 0
        assert sorted(out.split()) == [b"0", b"1", b"2", b"3"]
        assert os.read(r_fd, 100) == b"through-fd3\n"
    finally:
        os.close(r_fd)
        if w_fd >= 0:
            os.close(w_fd)


def test_exec_seccomp_of_the_container_applies(rt):
    def edit(c):
        c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": [],
                                 "syscalls": [{"names": ["mkdir", "mkdirat"],
                                               "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    cid = running(rt, config_edit=edit)
    r = rt("exec", cid, "mkdir", "/dev/shm/x")
    assert r.returncode != 0 and "not permitted" in r.stderr.lower()
    assert rt("exec", cid, "touch", "/dev/shm/y").returncode == 0


def test_exec_stopped_and_paused(rt):
    b = rt.bundle(["true"])
    cid = rt.create(b)
    rt.ok("start", cid)
    rt.wait_stopped(cid)
    r = rt("exec", cid, "true")
    assert r.returncode == 255 and "cannot exec in a stopped container" in r.stderr

    cid2 = running(rt)
    rt.ok("pause", cid2)
    try:
        r = rt("exec", cid2, "true")
        assert r.returncode == 255 and "paused" in r.stderr
        p = rt.popen("exec", "--ignore-paused", "-d", cid2, "true")
        rt.ok("resume", cid2)
        assert p.wait(timeout=20) == 0
    finally:
        rt("resume", cid2)


def test_exec_usage_errors(rt):
    cid = running(rt)
    assert "process args cannot be empty" in rt("exec", cid).stderr
    r = rt("exec", cid, "sh", "-c", "echo $0 $1", "--cwd", "/x")  # flags after the id: argv
    assert r.returncode == 0 and r.stdout.split() == ["--cwd", "/x"]
    r = rt("exec", "--apparmor", "pyrunc-test-not-loaded", cid, "true")
    assert r.returncode == 255 and "apparmor" in r.stderr.lower()
    r = rt("exec", "-t", "-d", cid, "true")
    assert r.returncode == 255 and "console socket" in r.stderr
    assert rt("exec", "nonexistent-ctr", "true").returncode == 255


def test_help_after_the_container_id_is_the_process_argv(rt):
    """runc's exec does not reorder its arguments: a --help after the id belongs to the process;
    before it, and among any other command's flags, it asks for the command's help."""
    cid = running(rt)
    r = rt("exec", cid, "sh", "-c", "echo $0 $1", "--help", "-h")
    assert r.returncode == 0 and r.stdout.split() == ["--help", "-h"]
    for args in (["exec", "--help", cid, "true"], ["exec", "-h"], ["state", cid, "--help"]):
        r = rt(*args)
        assert r.returncode == 0 and r.stdout.startswith("NAME:"), args


def test_exec_console_socket(rt, tmp_path):
    cid = running(rt)
    recv = ConsoleReceiver(tmp_path)
    try:
        pid_file = tmp_path / "tty.pid"
        rt.ok("exec", "-d", "-t", "--console-socket", recv.path, "--pid-file", pid_file,
              cid, "sh")
        master = recv.receive()
        os.write(master, b"tty; echo marker-$((6*7))\n")
        out = read_until(master, b"marker-42")
        assert b"/dev/pts/" in out
        pid = int(wait_file(pid_file))  # the exec'd shell, still running
        init = rt.state(cid)["pid"]
        assert os.readlink(f"/proc/{pid}/ns/mnt") == os.readlink(f"/proc/{init}/ns/mnt")
        assert os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
        os.write(master, b"exit\n")
    finally:
        recv.close()


def test_exec_into_user_namespace_container(rt):
    def edit(c):
        c["linux"]["namespaces"].append({"type": "user"})
        c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    b = rt.bundle(["sleep", "1000"], edit)
    for dirpath, dirnames, filenames in os.walk(b / "rootfs"):
        for n in [dirpath, *(os.path.join(dirpath, f) for f in dirnames + filenames)]:
            os.lchown(n, 100000, 100000)
    changed = []  # the mapped root must be able to walk down to the rootfs
    for d in [b, *b.parents]:
        mode = d.stat().st_mode & 0o7777
        if not mode & 0o001:
            os.chmod(d, mode | 0o001)
            changed.append((d, mode))
    try:
        cid = rt.create(b)
        rt.ok("start", cid)
        out = rt.ok("exec", cid, "sh", "-c", "id -u; cat /proc/self/uid_map").stdout.split()
        assert out[0] == "0" and out[1:] == ["0", "100000", "65536"]
    finally:
        for d, mode in changed:
            os.chmod(d, mode)


def test_exec_cgroup_sub_cgroup(rt):
    cid = running(rt)
    pid = rt.state(cid)["pid"]
    own = proc_cgroup(pid)
    pids_dir = cgroup_dir(pid, "pids")
    os.mkdir(pids_dir + "/sub")  # removed with the container's cgroup (delete removes sub-cgroups)
    if not is_v2_dir(pids_dir):
        # v1: the sub-cgroup of one controller, the others stay where the container is
        pids_path = next(p for c, p in own.items() if "pids" in c.split(","))
        out = rt.ok("exec", "--cgroup", "pids:sub", cid, "cat", "/proc/self/cgroup").stdout
        got = {c: p for _, c, p in (ln.split(":", 2) for ln in out.splitlines())}
        assert got["pids"] == pids_path + "/sub"
        assert got["memory"] == pids_path
        r = rt("exec", "--cgroup", "pids:nosuch", cid, "true")
    else:
        # cgroup2: one path holds every controller, so the sub-cgroup is named without one;
        # inside a cgroup namespace the process sees it from the container's cgroup
        own_ns = os.readlink(f"/proc/{pid}/ns/cgroup") != os.readlink("/proc/self/ns/cgroup")
        out = rt.ok("exec", "--cgroup", "sub", cid, "cat", "/proc/self/cgroup").stdout
        got = {c: p for _, c, p in (ln.split(":", 2) for ln in out.splitlines())}
        assert got[""] == ("" if own_ns else own[""].rstrip("/")) + "/sub"
        r = rt("exec", "--cgroup", "nosuch", cid, "true")
    assert r.returncode == 255 and "nosuch" in r.stderr
    # never above the container's cgroup; cgroup2 names its one path "unified", not by controller
    ctrl = "unified" if is_v2_dir(pids_dir) else "pids"
    for bad in ("..", f"{ctrl}:..", "sub/../..", f"{ctrl}:sub/../../x"):
        r = rt("exec", "--cgroup", bad, cid, "true")
        assert r.returncode == 255 and "bad sub cgroup path" in r.stderr, (bad, r.stderr)


def test_home_from_the_container_passwd(rt):
    """runc sets HOME from the container's /etc/passwd when the env has none ("/" if no entry)."""
    def edit(c):
        c["process"]["env"] = ["PATH=/bin"]
    cid = running(rt, config_edit=edit, share=True)
    assert rt.ok("exec", cid, "sh", "-c", "echo $HOME").stdout == "/root\n"
    assert rt.ok("exec", "-u", "65534", cid, "sh", "-c", "echo $HOME").stdout == "/nonexistent\n"
    assert rt.ok("exec", "-u", "4242", cid, "sh", "-c", "echo $HOME").stdout == "/\n"
    assert rt.ok("exec", "-e", "HOME=/x", cid, "sh", "-c", "echo $HOME").stdout == "/x\n"
    out = rt.script_output("echo $HOME", edit)
    assert out == "/root\n"


def test_home_lookup_stays_in_the_rootfs(rt, tmp_path):
    host = tmp_path / "hostpasswd"
    host.write_text("root:x:0:0:root:/HOST-LEAK:/bin/sh\n")
    b = rt.bundle(["sh", "-c", "echo $HOME > /share/home"],
                  lambda c: c["process"].__setitem__("env", ["PATH=/bin"]), share=True)
    (b / "rootfs/etc/passwd").unlink()
    (b / "rootfs/etc/passwd").symlink_to("/../../../../../.." + str(host))
    rt.run_to_exit(b)
    assert (rt.share / "home").read_text() == "/\n"


def test_attached_exec_forwards_signals(rt):
    import signal
    cid = running(rt, share=True)
    p = rt.popen("exec", cid, "sh", "-c",
                 "trap 'exit 41' USR1; echo ready > /share/r1; while :; do sleep 0.05; done")
    wait_file(rt.share / "r1")
    p.send_signal(signal.SIGUSR1)
    assert p.wait(timeout=20) == 41
    p = rt.popen("exec", cid, "sh", "-c", "echo ready > /share/r2; while :; do sleep 0.05; done")
    wait_file(rt.share / "r2")
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=20) == 128 + signal.SIGTERM


def test_exec_rlimits_and_created_container(rt):
    b = rt.bundle(["sleep", "1000"])
    cid = rt.create(b)  # exec works before start too, as with runc
    assert rt.ok("exec", cid, "sh", "-c", "ulimit -n").stdout == "1024\n"
    assert rt.status(cid) == "created"


def test_exec_into_a_cgroup_namespace_lands_in_the_containers_cgroup(rt, tmp_path):
    """Docker's default on cgroup v2: a private cgroup namespace.  On an nsdelegate cgroup2
    (every systemd host) the exec'd process must be in the container's cgroup before it
    joins the namespace (it failed there with "clone into the container's cgroup: no such
    file or directory"); everywhere it must end up in the container's cgroup, seeing it as /."""
    def edit(cfg):
        cfg["linux"]["namespaces"].append({"type": "cgroup"})
    cid = running(rt, config_edit=edit)
    init_cg = open(f"/proc/{rt.state(cid)['pid']}/cgroup").read()
    pid_file = tmp_path / "exec.pid"
    p = rt.popen("exec", "--pid-file", pid_file, cid, "sh", "-c",
                 "exec sleep 100")
    wait_file(pid_file)
    pid = int(pid_file.read_text())
    assert open(f"/proc/{pid}/cgroup").read() == init_cg
    inside = rt.ok("exec", cid, "cat", "/proc/self/cgroup").stdout.splitlines()
    assert inside and all(line.endswith(":/") for line in inside), inside
    p.kill()
    p.wait()
    rt.kill_and_delete(cid)
