"""Rootless (issue 14): a real unprivileged user, made for each test and removed after it,
runs containers as runc lets one: `spec --rootless`, its state in $XDG_RUNTIME_DIR, its own
uid/gid mapped alone or with its /etc/subuid and /etc/subgid ranges through newuidmap and
newgidmap, sysfs bound from the host, cgroups it may not create left out unless the config
asks for limits, and a cgroup v2 subtree it owns (delegated) used for limits.

Each test fails if the user left a process, or state in its root; the fixture removes the
user, its home and its subordinate id ranges whatever happens.  The default --root of the real
root and of the root of a user namespace is checked here as well (runc's
shouldHonorXDGRuntimeDir).
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from rootless_helpers import UnprivilegedUser, user, user_manager  # noqa: F401 (fixtures)

SLEEP = ["sleep", "1000"]
CGROUP2 = Path("/sys/fs/cgroup")
PURE_V2 = (CGROUP2 / "cgroup.controllers").exists()


def one_error_line(r: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode != 0 and len(lines) == 1, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    return lines[0]


def run_fails(user: UnprivilegedUser, edit=None, global_args: tuple[str, ...] = ()) -> str:
    """`run` of a bundle changed by ``edit`` fails with one error line (returned) and leaves
    no state."""
    b = user.bundle(["true"], edit)
    cid = user.new_id()
    line = one_error_line(user.rt(*global_args, "run", "--bundle", b, cid))
    assert not (user.state_root / cid).exists()
    return line


# ---- the default --root ------------------------------------------------------------------------

def test_user_state_is_in_xdg_runtime_dir(user):
    """runc: $XDG_RUNTIME_DIR/runc for a non-root user, made 0700 and sticky."""
    b = user.bundle(SLEEP)
    cid = user.new_id()
    user.ok("create", "--bundle", b, cid)
    try:
        st = os.stat(user.state_root)
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (user.uid, 0o1700)
        assert (user.state_root / cid).is_dir()
        assert json.loads(user.ok("state", cid).stdout)["status"] == "created"
        listed = user.ok("list", "--format", "json").stdout
        assert [c["id"] for c in json.loads(listed)] == [cid]
    finally:
        user.rt("delete", "--force", cid)
    assert not (user.state_root / cid).exists()


def test_root_of_a_user_namespace_uses_xdg_unless_user_is_root(runtime, tmp_path):
    """conmon under rootless Podman runs the runtime as uid 0 of podman's user namespace,
    USER still the user's name: $XDG_RUNTIME_DIR/<runtime>.  USER=root keeps /run/<runtime>."""
    name = os.path.basename(runtime)
    for user_env, expect in (("someone", True), ("root", False)):
        xdg = tmp_path / user_env
        xdg.mkdir()
        subprocess.run(["unshare", "--user", "--map-root-user", "env", f"USER={user_env}",
                        f"XDG_RUNTIME_DIR={xdg}", runtime, "list"], check=True,
                       capture_output=True)
        assert (xdg / name).is_dir() == expect, user_env
        if expect:
            assert stat.S_IMODE(os.stat(xdg / name).st_mode) == 0o1700


def test_real_root_ignores_xdg_runtime_dir(runtime, tmp_path):
    subprocess.run([runtime, "list"], check=True, capture_output=True,
                   env={**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)})
    assert os.listdir(tmp_path) == []


def test_rootless_flag_takes_true_false_auto(runtime, tmp_path):
    r = subprocess.run([runtime, "--root", str(tmp_path), "--rootless", "maybe", "create",
                        "--bundle", str(tmp_path), "x"], capture_output=True, text=True)
    assert "--rootless" in one_error_line(r) and "maybe" in r.stderr
    assert os.listdir(tmp_path) == []


# ---- unprivileged containers ----------------------------------------------------------------------

def test_own_ids_mapped_alone_with_setgroups_denied(user):
    b = user.bundle(["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups;"
                     " id -u; id -g; ls /sys/kernel >/dev/null && echo sys"])
    r = user.ok("run", "--bundle", b, user.new_id())
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["0", str(user.uid), "1"]
    assert lines[1].split() == ["0", str(user.gid), "1"]
    assert lines[2:] == ["deny", "0", "0", "sys"]


def test_subordinate_ranges_go_through_newuidmap(user):
    """Ranges of /etc/subuid and /etc/subgid: newuidmap/newgidmap map them (setgroups stays
    allowed); a process as container uid 1000 makes files the host sees as subuid+999."""
    lo_u, _ = user.subuid
    lo_g, _ = user.subgid

    def edit(cfg):
        lx = cfg["linux"]
        lx["uidMappings"] = [{"containerID": 0, "hostID": user.uid, "size": 1},
                             {"containerID": 1, "hostID": lo_u, "size": 65536}]
        lx["gidMappings"] = [{"containerID": 0, "hostID": user.gid, "size": 1},
                             {"containerID": 1, "hostID": lo_g, "size": 65536}]
        cfg["process"]["user"] = {"uid": 1000, "gid": 1000}
        cfg["process"]["cwd"] = "/tmp"
        cfg["root"]["readonly"] = False
    b = user.bundle(["sh", "-c", "cat /proc/self/uid_map /proc/self/setgroups; id -u; id -g; "
                     "touch /tmp/made"], edit)
    r = user.ok("run", "--bundle", b, user.new_id())
    lines = r.stdout.splitlines()
    assert [ln.split() for ln in lines[:2]] == [["0", str(user.uid), "1"],
                                                ["1", str(lo_u), "65536"]]
    assert lines[2:5] == ["allow", "1000", "1000"]
    st = os.stat(b / "rootfs" / "tmp" / "made")
    assert (st.st_uid, st.st_gid) == (lo_u + 999, lo_g + 999)


def test_additional_gids_are_refused(user):
    """runc: "cannot set any additional groups in a rootless container" (an unprivileged
    user's container may not setgroups), for the config and for exec --additional-gids."""
    def edit(cfg):
        cfg["process"]["user"]["additionalGids"] = [5]
    line = run_fails(user, edit)
    assert "process.user.additionalGids" in line and "additional groups" in line, line
    b = user.bundle(SLEEP)
    cid = user.new_id()
    user.ok("run", "--detach", "--bundle", b, cid)
    try:
        line = one_error_line(user.rt("exec", "--additional-gids", "5", cid, "true"))
        assert "additional groups" in line, line
    finally:
        user.rt("delete", "--force", cid)


def test_ranges_not_the_users_are_refused_by_newuidmap(user):
    def edit(cfg):
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 1}]
    b = user.bundle(["true"], edit)
    cid = user.new_id()
    r = user.rt("run", "--bundle", b, cid)
    assert r.returncode != 0 and "newuidmap" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    assert not (user.state_root / cid).exists()


def test_sysfs_mount_is_bound_from_the_host(user):
    """A sysfs mount needs the network namespace's owner: without a netns of its own the
    container gets the host's /sys bound (runc does the same for rootless)."""
    def edit(cfg):
        for m in cfg["mounts"]:
            if m["destination"] == "/sys":
                m.update(type="sysfs", source="sysfs", options=["nosuid", "noexec", "nodev",
                                                                 "ro"])
    b = user.bundle(["sh", "-c", "test -d /sys/kernel && echo ok"], edit)
    assert user.ok("run", "--bundle", b, user.new_id()).stdout.strip() == "ok"


def test_a_mount_that_needs_privilege_is_one_clear_error(user):
    def edit(cfg):
        cfg["mounts"].append({"destination": "/mnt", "type": "ext4", "source": "/dev/null",
                              "options": []})
    line = run_fails(user, edit)
    assert "/mnt" in line, line


def test_create_start_exec_ps_kill_delete(user):
    b = user.bundle(SLEEP)
    cid = user.new_id()
    user.ok("create", "--bundle", b, cid)
    try:
        user.ok("start", cid)
        st = json.loads(user.ok("state", cid).stdout)
        assert st["status"] == "running"
        r = user.ok("exec", cid, "sh", "-c", "echo hello; id -u; cat /proc/self/setgroups")
        assert r.stdout.split() == ["hello", "0", "deny"]
        pids = json.loads(user.ok("ps", "--format", "json", cid).stdout)
        assert st["pid"] in pids
        table = user.ok("ps", cid).stdout
        assert "sleep" in table
        user.ok("kill", cid, "KILL")
        deadline = time.monotonic() + 10
        while json.loads(user.ok("state", cid).stdout)["status"] != "stopped":
            assert time.monotonic() < deadline, "the container did not stop"
            time.sleep(0.05)
        user.ok("delete", cid)
    finally:
        user.rt("delete", "--force", cid)
    assert not (user.state_root / cid).exists()


@pytest.mark.parametrize("own_pidns", [True, False])
def test_kill_all_and_delete_force_without_a_cgroup(user, own_pidns):
    """No cgroup to list the processes by: --all signals the init (as runc does rootless,
    with a warning when the pid namespace is shared), and delete --force ends a running
    container."""
    def edit(cfg):
        if not own_pidns:  # and so the host's /proc: a new one needs a pid namespace's owner
            cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"]
                                          if n["type"] != "pid"]
            for m in cfg["mounts"]:
                if m["destination"] == "/proc":
                    m.update(type="bind", source="/proc", options=["rbind"])
    b = user.bundle(["sleep", "1000"], edit)
    cid = user.new_id()
    user.ok("run", "--detach", "--bundle", b, cid)
    line = one_error_line(user.rt("pause", cid))
    assert "no cgroup" in line and "delegated" in line, line
    r = user.ok("kill", "--all", cid, "KILL")
    assert ("only the init" in r.stderr) != own_pidns, r.stderr
    user.ok("delete", "--force", cid)
    assert not (user.state_root / cid).exists()


# ---- cgroups ---------------------------------------------------------------------------------

def _memory_limit(cfg):
    cfg["linux"]["resources"] = {"memory": {"limit": 64 << 20}}


def test_limits_without_a_delegated_cgroup_are_one_clear_error(user):
    """The cgroup's parent (this process' own on a v1 or hybrid host, its parent on v2) is
    root's, on the development host (not delegated) as in the guest (a system unit's)."""
    line = run_fails(user, _memory_limit)
    assert "rootless needs no limits" in line and "permission denied" in line.lower(), line


def test_a_named_cgroups_path_without_permission_is_an_error(user):
    """runc ignores permission errors only for a cgroup it chose itself."""
    def edit(cfg):
        cfg["linux"]["cgroupsPath"] = f"/{user.token}"
    line = run_fails(user, edit)
    assert "cgroup" in line and "denied" in line.lower(), line


def test_rootless_false_makes_cgroup_errors_fatal(user):
    assert "cgroup" in run_fails(user, global_args=("--rootless", "false"))


@pytest.fixture
def delegated(user):
    """A cgroup v2 subtree the user owns, as systemd delegates one (cgroup.procs,
    cgroup.subtree_control, cgroup.threads chowned), with a leaf the user's commands start in:
    the container's cgroup is made beside it (runc's fs2: the parent of our own cgroup)."""
    if not PURE_V2:
        pytest.skip("cgroup v2 delegation needs a pure cgroup v2 host (the guest lane)")
    top = CGROUP2 / f"pyrunc-rootless-{uuid.uuid4().hex[:8]}"
    top.mkdir()
    try:
        enabled = set((CGROUP2 / "cgroup.subtree_control").read_text().split())
        for c in ("memory", "pids"):
            assert c in enabled, f"the root cgroup does not enable {c} for its children"
        for f in ("", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"):
            os.chown(top / f if f else top, user.uid, user.gid)
        (top / "shell").mkdir()
        for f in ("", "cgroup.procs"):
            os.chown(top / "shell" / f if f else top / "shell", user.uid, user.gid)
        # Root moves the shell into the leaf, then becomes the user (setpriv).
        wrapper = ["sh", "-c", f'echo $$ > {top}/shell/cgroup.procs && exec "$@"', "sh"]
        yield top, wrapper
    finally:
        for d in sorted(top.rglob("*"), key=lambda p: -len(p.parts)) + [top]:
            if not d.is_dir():
                continue
            try:
                (d / "cgroup.kill").write_text("1")
            except OSError:
                pass
            deadline = time.monotonic() + 5
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)


def test_delegated_cgroup_v2_subtree_gets_limits_and_pause(user, delegated):
    top, wrapper = delegated
    b = user.bundle(["sh", "-c", "cat /sys/fs/cgroup/memory.max; exec sleep 1000"],
                    _memory_limit)
    cid = user.new_id()
    log = user.home / "out"
    r = user.run("sh", "-c", f'exec {user.runtime} run --detach --bundle {b} {cid} > {log} 2>&1',
                 wrapper=wrapper)
    assert r.returncode == 0, log.read_text() if log.exists() else r.stderr
    try:
        cg = top / cid
        assert (cg / "memory.max").read_text().strip() == str(64 << 20)
        pid = json.loads(user.ok("state", cid).stdout)["pid"]
        assert str(pid) in (cg / "cgroup.procs").read_text().split()
        user.ok("pause", cid)
        assert json.loads(user.ok("state", cid).stdout)["status"] == "paused"
        user.ok("resume", cid)
        assert json.loads(user.ok("state", cid).stdout)["status"] == "running"
        assert pid in json.loads(user.ok("ps", "--format", "json", cid).stdout)
        user.ok("delete", "--force", cid)
        assert not cg.exists()
    finally:
        user.rt("delete", "--force", cid)
    assert not (user.state_root / cid).exists()


# ---- the user's own systemd instance (--systemd-cgroup, rootless) ------------------------------

SD = ("--systemd-cgroup",)


def user_cgroup_of(pid: int) -> str:
    with open(f"/proc/{pid}/cgroup") as f:
        return [ln.split(":", 2)[2].strip() for ln in f if ln.startswith("0::")][0]


def user_unit_props(user: UnprivilegedUser, unit: str, *names: str) -> dict[str, str]:
    """`systemctl --user show` as the user: what the user's manager says of the unit."""
    r = user.run("systemctl", "--user", "show", unit, *[f"--property={n}" for n in names])
    assert r.returncode == 0, r.stderr
    return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)


def wait_user_unit_gone(user: UnprivilegedUser, unit: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        state = user_unit_props(user, unit, "LoadState").get("LoadState", "")
        if state == "not-found" or time.monotonic() > deadline:
            return state
        time.sleep(0.1)


def in_user_scope(user: UnprivilegedUser) -> list[str]:
    """A command prefix (as the user) that runs the rest in a scope of the user's own manager,
    where a user's login shell or service runs, so a process the runtime starts may move
    into the container's scope (cgroup v2 lets a user move a process only between cgroups it
    owns; the test's own cgroup is root's)."""
    return ["systemd-run", "--user", "--scope", "--quiet", "--collect", "--"]


def test_user_systemd_scope_with_limits_exec_update_pause_delete(user_manager):
    """runc's rootless systemd driver: a transient scope of the user's own manager (the bus
    at $XDG_RUNTIME_DIR/bus), in user.slice, delegated, with the limits set as the user."""
    user = user_manager
    res = {"memory": {"limit": 64 << 20}, "pids": {"limit": 50}}

    def edit(cfg):
        cfg["linux"]["resources"] = res
    b = user.bundle(SLEEP, edit)
    cid = user.new_id()
    unit = f"pyrunc-{cid}.scope"
    scope = in_user_scope(user)
    user.must(*scope, user.runtime, *SD, "run", "--detach", "--bundle", b, cid)
    try:
        pid = json.loads(user.ok("state", cid).stdout)["pid"]
        manager_cg = f"/user.slice/user-{user.uid}.slice/user@{user.uid}.service"
        assert user_cgroup_of(pid) == f"{manager_cg}/user.slice/{unit}"
        d = CGROUP2 / manager_cg.lstrip("/") / "user.slice" / unit
        assert os.stat(d).st_uid == user.uid
        assert (d / "memory.max").read_text().strip() == str(64 << 20)
        assert (d / "pids.max").read_text().strip() == "50"
        p = user_unit_props(user, unit, "ActiveState", "Delegate", "Slice", "MemoryMax",
                            "TasksMax")
        assert p == {"ActiveState": "active", "Delegate": "yes", "Slice": "user.slice",
                     "MemoryMax": str(64 << 20), "TasksMax": "50"}, p
        r = user.must(*scope, user.runtime, "exec", cid, "sh", "-c",
                    "echo hi; cat /proc/self/cgroup")
        # the root of its cgroup namespace: the container's scope
        assert r.stdout.split() == ["hi", "0::/"], r.stdout
        # from a cgroup the user does not own (the test's) the process cannot move into the
        # scope: it runs where it was started (outside the namespace's root), as with runc
        r = user.ok("exec", cid, "sh", "-c", "echo hi; cat /proc/self/cgroup")
        out = r.stdout.split()
        assert out[0] == "hi" and out[1].startswith("0::/.."), r.stdout
        user.ok(*SD, "update", "--memory", str(96 << 20), "--pids-limit", "60", cid)
        p = user_unit_props(user, unit, "MemoryMax", "TasksMax")
        assert p == {"MemoryMax": str(96 << 20), "TasksMax": "60"}, p
        assert (d / "memory.max").read_text().strip() == str(96 << 20)
        user.ok("pause", cid)
        assert json.loads(user.ok("state", cid).stdout)["status"] == "paused"
        user.ok("resume", cid)
        assert pid in json.loads(user.ok("ps", "--format", "json", cid).stdout)
        user.ok(*SD, "delete", "--force", cid)
        assert wait_user_unit_gone(user, unit) == "not-found"
        assert not d.exists()
    finally:
        user.rt(*SD, "delete", "--force", cid)
    assert not (user.state_root / cid).exists()


def test_user_systemd_named_slice_and_session_bus_address(user_manager):
    """cgroupsPath slice:prefix:name in the user's manager (a slice it makes on demand), and
    the bus named by $DBUS_SESSION_BUS_ADDRESS, which wins over $XDG_RUNTIME_DIR/bus."""
    user = user_manager
    cid = user.new_id()
    token = user.token.replace("-", "")
    slice_ = f"pyrunc{token}.slice"

    def edit(cfg):
        cfg["linux"]["cgroupsPath"] = f"{slice_}:test:{cid}"
    b = user.bundle(SLEEP, edit)
    env = {"DBUS_SESSION_BUS_ADDRESS": f"unix:path={user.xdg}/bus"}
    user.ok(*SD, "create", "--bundle", b, cid, env=env)
    try:
        pid = json.loads(user.ok("state", cid).stdout)["pid"]
        assert user_cgroup_of(pid).endswith(f"/user@{user.uid}.service/{slice_}/test-{cid}.scope")
        user.ok(*SD, "delete", "--force", cid)
        assert wait_user_unit_gone(user, f"test-{cid}.scope") == "not-found"
    finally:
        user.rt(*SD, "delete", "--force", cid)
        user.run("systemctl", "--user", "stop", slice_)
    bad = user.rt(*SD, "create", "--bundle", b, user.new_id(),
                  env={"DBUS_SESSION_BUS_ADDRESS": f"unix:path={user.home}/nobus"})
    line = one_error_line(bad)
    assert "user D-Bus" in line, line


@pytest.mark.skipif(not os.path.isdir("/run/systemd/system"),
                    reason="needs systemd as PID 1 (the stock-host guest lane)")
def test_user_systemd_without_a_user_bus_is_one_clear_error(user):
    """No user instance (no $XDG_RUNTIME_DIR/bus): one error line naming what is missing,
    nothing left."""
    line = run_fails(user, global_args=SD)
    assert "$XDG_RUNTIME_DIR/bus" in line, line


def test_features_says_systemd_user(runtime):
    feats = json.loads(subprocess.run([runtime, "features"], capture_output=True, text=True,
                                      check=True).stdout)
    cg = feats["linux"]["cgroup"]
    assert cg["systemdUser"] == cg["systemd"]


def test_user_bus_authenticates_the_root_of_a_user_namespace(user):
    """The handshake pyrunc's D-Bus code makes (SASL EXTERNAL, no identity) gets a user's
    own bus to accept uid 0 of that user's namespace, as conmon under rootless Podman and
    dockerd under rootlesskit call the runtime; jeepney's own (it sends geteuid(), 0) is
    refused.  A private bus of the user's stands in for its systemd instance's."""
    import shutil
    import sys
    if shutil.which("dbus-daemon") is None:
        pytest.skip("needs dbus-daemon")
    from rootless_helpers import REPO
    sock = user.xdg / "bus"
    daemon = user.popen(["dbus-daemon", "--session", "--nofork",
                         f"--address=unix:path={sock}"], user.home / "bus.log")
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert daemon.poll() is None and time.monotonic() < deadline, \
                (user.home / "bus.log").read_text()
            time.sleep(0.05)
        probe = (
            "import os, sys; sys.path.insert(0, sys.argv[1])\n"
            "from pyrunc.cgroups import dbus\n"
            "from jeepney.io.blocking import open_dbus_connection\n"
            "c = dbus.connect(dbus.user_bus_address())\n"
            "print(os.geteuid(), c.unique_name.startswith(':'))\n"
            "try:\n"
            "    open_dbus_connection(dbus.user_bus_address()); print('jeepney-ok')\n"
            "except Exception:\n"
            "    print('jeepney-refused')\n")
        r = user.run("unshare", "--user", "--map-root-user", sys.executable, "-c", probe, REPO)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["0", "True", "jeepney-refused"], r.stdout + r.stderr
    finally:
        daemon.kill()
        daemon.wait()
