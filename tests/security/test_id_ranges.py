"""Values the kernel would read as something else than the config says (issue 16, hole 5).

uid and gid 4294967295 are -1 to setresuid/setresgid, "leave unchanged": the process stayed
root.  runc refuses every id above 2147483647 ("uids and gids must be in range 0-2147483647").
A NUL byte cut a string short in the init's C copy, so the kernel saw another path, argument
or variable than the config's; an env entry without "=" is no variable at all; a device
number above 32 bits was cut to another device.
"""
from __future__ import annotations

import os

import pytest

from conformance.linux import create_fails, skip_on_runc

ID_NEG1 = 4294967295  # (uid_t)-1
ID_TOO_BIG = 2147483648


def _user(**ids):
    def edit(cfg):
        cfg["process"]["user"].update(ids)
    return edit


@pytest.mark.parametrize("ids", [
    {"uid": ID_NEG1}, {"gid": ID_NEG1}, {"uid": ID_NEG1, "gid": ID_NEG1}, {"uid": ID_TOO_BIG},
    {"uid": 0, "gid": 0, "additionalGids": [ID_NEG1]},
], ids=["uid -1", "gid -1", "both -1", "uid 2^31", "additional gid -1"])
def test_an_id_the_kernel_reads_as_minus_one_is_refused(rt, ids):
    r = create_fails(rt, _user(**ids), args=["sh", "-c", "id > /share/id"], share=True)
    assert "range" in r.stderr, r.stderr
    assert not (rt.share / "id").exists()


def test_exec_as_uid_minus_one_does_not_run_as_root(rt):
    """`exec -u 4294967295` in a container configured for uid 1000."""
    b = rt.bundle(["sleep", "100"], _user(uid=1000, gid=1000), share=True)
    cid = rt.create(b)
    rt.ok("start", cid)
    r = rt("exec", "-u", str(ID_NEG1), cid, "sh", "-c", "id -u > /share/exec-uid")
    assert r.returncode != 0, r.stdout
    assert not (rt.share / "exec-uid").exists()
    rt.kill_and_delete(cid)


def _nul_in(where):
    def edit(cfg):
        if where == "args":
            cfg["process"]["args"] = ["sh", "-c", "true\0; id > /share/nul", "x"]
        elif where == "env":
            cfg["process"]["env"].append("X=1\0LD_PRELOAD=/x")
        elif where == "cwd":
            cfg["process"]["cwd"] = "/tmp\0/../etc"
        elif where == "mount destination":
            cfg["mounts"].append({"destination": "/mnt\0/x", "type": "tmpfs",
                                  "source": "tmpfs"})
        elif where == "masked path":
            cfg["linux"]["maskedPaths"].append("/etc/passwd\0x")
    return edit


@pytest.mark.parametrize("where", ["args", "env", "cwd", "mount destination", "masked path"])
def test_a_nul_byte_is_refused_not_cut(rt, runtime, where):
    """Refused by create, or (runc, for what reaches its execve) by start: never run cut."""
    if where in ("mount destination", "masked path"):
        skip_on_runc(runtime, f"a NUL byte in a {where} refused (it cuts the path)")
    b = rt.bundle(["sh", "-c", "id > /share/nul"], _nul_in(where), share=True)
    cid = rt.new_id()
    r = rt("create", "--bundle", b, cid)
    if r.returncode == 0:  # runc: its execve in the container refuses the argument
        assert os.path.basename(runtime) == "runc", "pyrunc refuses it at create"
        if rt("start", cid).returncode == 0:
            rt.wait_stopped(cid)
    else:
        assert r.stderr.strip()
    assert not (rt.share / "nul").exists()


def test_an_env_entry_without_equals_is_refused(rt, runtime):
    skip_on_runc(runtime, "env entries without '=' refused (it passes them on)")
    def edit(cfg):
        cfg["process"]["env"].append("NOEQUALS")
    r = create_fails(rt, edit)
    assert "process.env[" in r.stderr, r.stderr


@pytest.mark.parametrize("field, value", [("major", 1 << 32), ("minor", 1 << 32),
                                          ("major", 1 << 64), ("uid", ID_NEG1)])
def test_a_device_number_that_would_be_cut_is_refused(rt, runtime, field, value):
    skip_on_runc(runtime, "device numbers above 32 bits refused")
    def edit(cfg):
        dev = {"path": "/dev/cut", "type": "c", "major": 1, "minor": 3}
        dev[field] = value
        cfg["linux"]["devices"] = [dev]
    r = create_fails(rt, edit)
    assert "linux.devices[0]" in r.stderr, r.stderr
