"""process.apparmorProfile, as runc applies it (issue 12): "exec PROFILE" written to the
process' own attr file through the container's procfs, effective at the user's execve.

On a host without AppArmor (the development host) only "unconfined" is accepted, and does
nothing; the rest needs AppArmor (the stock-host guest lane) and loads a profile of its own
with apparmor_parser, removed afterwards.
"""
from __future__ import annotations

import shutil
import subprocess

import pytest

from pyrunc.host.probes import apparmor_enabled
from tests.helpers_exec import running

needs_apparmor = pytest.mark.skipif(not apparmor_enabled(), reason="AppArmor is not enabled")
PROFILE = """
profile {name} flags=(attach_disconnected,mediate_deleted) {{
  file,
  capability,
  network,
  mount,
  umount,
  pivot_root,
  signal,
  ptrace,
  unix,
  dbus,
  deny /etc/hostname r,
}}
"""


def _profile(cfg_profile):
    def edit(cfg):
        cfg["process"]["apparmorProfile"] = cfg_profile
    return edit


def test_unconfined_is_accepted_everywhere(rt):
    out = rt.script_output("cat /proc/self/attr/current", _profile("unconfined"))
    if apparmor_enabled():
        assert out.strip() == "unconfined"


@pytest.fixture
def loaded_profile(rt):
    if not shutil.which("apparmor_parser"):
        pytest.fail("AppArmor is enabled but apparmor_parser is missing")
    name = f"pyrunc-test-{rt.token}"
    subprocess.run(["apparmor_parser", "-r"], input=PROFILE.format(name=name), text=True,
                   check=True)
    try:
        yield name
    finally:
        subprocess.run(["apparmor_parser", "-R"], input=PROFILE.format(name=name), text=True,
                       check=True)


@needs_apparmor
def test_a_loaded_profile_confines_the_container(rt, loaded_profile):
    out = rt.script_output("cat /proc/self/attr/current; cat /etc/hostname || echo denied",
                           _profile(loaded_profile))
    lines = out.splitlines()
    assert lines[0] == f"{loaded_profile} (enforce)", out
    assert lines[-1] == "denied", out


@needs_apparmor
def test_exec_uses_the_containers_profile_unless_told_otherwise(rt, loaded_profile):
    cid = running(rt, config_edit=_profile(loaded_profile))
    cur = rt.ok("exec", cid, "cat", "/proc/self/attr/current").stdout.strip()
    assert cur == f"{loaded_profile} (enforce)"
    cur = rt.ok("exec", "--apparmor", "unconfined", cid, "cat",
                "/proc/self/attr/current").stdout.strip()
    assert cur == "unconfined"
    rt.kill_and_delete(cid)


@needs_apparmor
def test_a_profile_that_is_not_loaded_is_one_clear_error(rt):
    from conformance.linux import create_fails
    r = create_fails(rt, _profile("pyrunc-test-never-loaded"))
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and "pyrunc-test-never-loaded" in err, err
    assert "process.apparmorProfile" in err, err
