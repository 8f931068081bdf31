"""Self-tests of the shared fixtures: bundles are valid, the leftover check finds leftovers."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from conformance import leftovers
from conformance.bundle import CGROUP_PARENT, default_config, make_bundle, make_rootfs
from conformance.fixtures import Runtime
from conformance.schema import validate_config


def test_rootfs_has_busybox_applets_and_users(tmp_path):
    """The rootfs every bundle copies: busybox, its applets, root and nobody."""
    root = make_rootfs(tmp_path / "rootfs")
    assert os.access(root / "bin" / "busybox", os.X_OK)
    for applet in ("sh", "id", "hostname", "cat", "sleep", "env", "readlink", "grep"):
        assert os.readlink(root / "bin" / applet) == "busybox"
    assert "nobody:x:65534:65534" in (root / "etc" / "passwd").read_text()
    assert (root / "etc" / "group").read_text().startswith("root:x:0:")
    for d in ("proc", "dev", "sys", "tmp"):
        assert (root / d).is_dir() and not os.listdir(root / d)


def test_default_config_is_valid_and_like_runc_spec(tmp_path):
    """default_config() is runc's `runc spec` output (but terminal false) and is valid.
    runc adds a cgroup namespace on a pure cgroup v2 host; the bundle keeps to the namespaces
    every host has (a test that wants one adds it), so that entry is left out of the match."""
    cfg = default_config(["echo", "hi"], hostname="h", uid=1, gid=2, readonly=False)
    validate_config(cfg)
    assert cfg["process"]["args"] == ["echo", "hi"]
    assert cfg["process"]["terminal"] is False
    assert cfg["process"]["user"] == {"uid": 1, "gid": 2}
    assert [n["type"] for n in cfg["linux"]["namespaces"]] == [
        "pid", "network", "ipc", "uts", "mount"]
    if shutil.which("runc"):
        subprocess.run(["runc", "spec"], cwd=tmp_path, check=True)
        spec = json.loads((tmp_path / "config.json").read_text())
        spec["process"]["terminal"] = False
        spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"]
                                       if n["type"] != "cgroup"]
        ours = default_config(["sh"])
        assert ours == spec


def test_make_bundle_layout(tmp_path):
    """make_bundle() writes config.json and rootfs, sets a cgroupsPath, applies the edit."""
    def edit(cfg):
        cfg["hostname"] = "edited"

    b = make_bundle(tmp_path, ["true"], edit, cgroup_name="x1")
    b2 = make_bundle(tmp_path, ["true"], lambda cfg: {**cfg, "hostname": "new"})
    assert b.is_absolute() and b2 != b
    cfg = json.loads((b / "config.json").read_text())
    assert cfg["hostname"] == "edited"
    assert cfg["linux"]["cgroupsPath"] == f"{CGROUP_PARENT}/x1"
    assert json.loads((b2 / "config.json").read_text())["hostname"] == "new"
    assert (b / "rootfs" / "bin" / "busybox").is_file()
    validate_config(cfg)


def test_leftover_check_finds_and_removes_everything(runtime, state_root, tmp_path):
    """The check behind `rt` reports, then removes, a container the runtime lost track of
    (its process and cgroups), a stray state dir and a mount under the test's temp dir."""
    work = tmp_path / "work"
    work.mkdir()
    r = Runtime(runtime, state_root, work)
    cid = r.create(r.bundle(["sleep", "1000"]))
    pid = r.state(cid)["pid"]
    if not (state_root / cid).is_dir():
        r.cleanup()
        pytest.skip("the runtime keeps no <root>/<id> directory to remove")
    shutil.rmtree(state_root / cid)  # the runtime now knows nothing of the container
    (state_root / f"{r.token}-stray").mkdir()
    mnt = work / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(mnt)], check=True)
    try:
        problems = r.cleanup()
        text = "\n".join(problems)
        assert f"pid {pid} " in text
        assert "cgroup left:" in text and r.token in text
        assert f"mount left: {mnt}" in text
        assert f"state left in root: {state_root / (r.token + '-stray')}" in text
        assert not leftovers.is_alive(pid)
        assert r.cleanup() == []
    finally:  # in case the check itself is broken, do not leak from this test
        leftovers.unmount(leftovers.find_mounts([str(work)]))
        leftovers.kill_processes([pid])
        for cg in leftovers.find_cgroups([r.token]):
            leftovers.remove_cgroup(cg)
        shutil.rmtree(state_root / f"{r.token}-stray", ignore_errors=True)


def test_leftover_check_is_quiet_after_clean_run(rt):
    """A test that deletes what it made passes the check (no false positives)."""
    cid = rt.create(rt.bundle(["true"]))
    rt.ok("start", cid)
    rt.wait_stopped(cid)
    rt.ok("delete", cid)
    assert rt.cleanup() == []
