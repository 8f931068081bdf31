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

from rootless_helpers import UnprivilegedUser

SLEEP = ["sleep", "1000"]
CGROUP2 = Path("/sys/fs/cgroup")
PURE_V2 = (CGROUP2 / "cgroup.controllers").exists()


@pytest.fixture
def user(runtime):
    u = UnprivilegedUser(runtime)
    try:
        probe = u.run(runtime, "--version")
        if probe.returncode != 0:
            pytest.fail(f"the runtime {runtime} cannot be run by an unprivileged user (is the "
                        f"checkout in a 0700 directory?): {probe.stderr.strip()}", pytrace=False)
        yield u
    finally:
        left = u.remove()
    if left:
        pytest.fail("the test left these behind (now cleaned up):\n  " + "\n  ".join(left),
                    pytrace=False)


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
