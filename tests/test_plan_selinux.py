"""SELinux in the plan (issue 12): what the planner asks the init to do for process.selinuxLabel,
exec --process-label and linux.mountLabel, checked on the plan itself (tests/test_selinux.py
runs real containers where SELinux is enabled).

The development host has no SELinux, so the tests that need the planner to accept a label point
pyrunc.plan.selinux at a directory standing in for selinuxfs (``enforce`` there says SELinux is on,
and a ``context`` that takes any write says every label is defined): only the planning is under
test here, the kernel's own answers are the guest's.
"""
from __future__ import annotations

import pytest

from pyrunc.plan import selinux
from pyrunc.errors import ConfigError, PyruncError

LABEL = "system_u:system_r:container_t:s0:c1,c2"
MLABEL = "system_u:object_r:container_file_t:s0:c1,c2"
CONTEXT = f'context="{MLABEL}"'


@pytest.fixture
def fake_selinuxfs(tmp_path, monkeypatch):
    (tmp_path / "enforce").write_text("0")
    (tmp_path / "context").write_text("")
    monkeypatch.setattr(selinux, "SELINUXFS", str(tmp_path))
    return tmp_path


def _plan(edit=None, **kw):
    from conformance.bundle import default_config
    from pyrunc.config import Config
    from pyrunc.plan import InitFds
    from pyrunc.plan.build import Planner
    cfg = default_config(["true"])
    if edit:
        edit(cfg)
    return Planner(Config(cfg, "/nonexistent-bundle"), InitFds(0, ["fifo"]),
                   container_id="c1", **kw).build()


def _labels(cfg):
    cfg["process"]["selinuxLabel"] = LABEL
    cfg["linux"]["mountLabel"] = MLABEL


def _mounts(plan):
    """target -> (fstype, data) of every MOUNT of a new filesystem."""
    return {a[1]: (a[2], a[4]) for op, a in plan.records if op == "MOUNT" and a[2]}


@pytest.mark.skipif(selinux.enabled(), reason="this host has SELinux")
@pytest.mark.parametrize("key,jpath", [("selinuxLabel", "process.selinuxLabel"),
                                       ("mountLabel", "linux.mountLabel")])
def test_refused_where_selinux_is_off(key, jpath):
    def edit(cfg):
        (cfg["process"] if key == "selinuxLabel" else cfg["linux"])[key] = LABEL
    with pytest.raises(ConfigError) as e:
        _plan(edit)
    assert str(e.value) == f"{jpath}: SELinux is not enabled on this host"


def test_no_label_no_selinux_op():
    recs = _plan().records
    assert not [a for op, a in recs if op == "PROC_WRITE" and "attr" in a[0]]
    assert not [op for op, _ in recs if op == "SETXATTR"]
    assert all(a[1] == "" for op, a in recs if op == "MASK")
    assert not any("context=" in str(a) for _, a in recs)


def test_exec_label_is_written_last_before_seccomp_and_the_credentials(fake_selinuxfs):
    p = _plan(_labels)
    names = p.names()
    writes = [(i, a) for i, (op, a) in enumerate(p.records) if op == "PROC_WRITE"]
    (i, args), = [(i, a) for i, a in writes if a[0].endswith("attr/exec")]
    assert args == ("thread-self/attr/exec", LABEL)  # go-selinux's SetExecLabel
    # runc: after every other attribute, before seccomp and the uid switch (its 'ready' sync)
    assert names[i + 1] in ("SECCOMP", "CHDIR"), names[i - 2:i + 3]
    assert names.index("PIVOT_ROOT") < i < names.index("USER", names.index("PIVOT_ROOT"))
    assert i < names.index("CAP_BOUNDING") < names.index("EXEC")


def test_session_keyring_is_created_with_the_label(fake_selinuxfs):
    p = _plan(_labels)
    names = p.names()
    k = names.index("SESSION_KEYRING")
    assert p.records[k - 1] == ("PROC_WRITE", ("self/attr/keycreate", LABEL))
    p = _plan(_labels, no_new_keyring=True)
    assert "SESSION_KEYRING" not in p.names()
    assert not [a for op, a in p.records if op == "PROC_WRITE" and "keycreate" in a[0]]


def test_mount_label_goes_to_the_mounts_runc_gives_it(fake_selinuxfs):
    p = _plan(_labels)
    m = _mounts(p)
    # tmpfs and devpts: context= added to their own data (label.FormatMountLabel)
    assert m["/dev"] == ("tmpfs", f"mode=755,size=65536k,{CONTEXT}")
    assert m["/dev/shm"] == ("tmpfs", f"mode=1777,size=65536k,{CONTEXT}")
    assert m["/dev/pts"][1].endswith(f",{CONTEXT}") and "newinstance" in m["/dev/pts"][1]
    # not proc, sysfs, cgroup2 (runc mounts them without), and mqueue is labelled after it
    for target in ("/proc", "/sys", "/sys/fs/cgroup", "/dev/mqueue"):
        assert "context=" not in m[target][1], (target, m[target])
    i = p.records.index(("MOUNT", ("mqueue", "/dev/mqueue", "mqueue", 14, "")))
    assert p.records[i + 1] == ("SETXATTR", ("/dev/mqueue", "security.selinux", MLABEL))
    # masked directories' read-only tmpfs (runc's maskDir)
    masks = [a for op, a in p.records if op == "MASK"]
    assert masks and all(a[1] == CONTEXT for a in masks)


def test_mount_label_without_data_and_on_copyup_and_binds(fake_selinuxfs, tmp_path):
    def edit(cfg):
        _labels(cfg)
        cfg["mounts"] += [{"destination": "/t", "type": "tmpfs", "source": "tmpfs"},
                          {"destination": "/c", "type": "tmpfs", "source": "tmpfs",
                           "options": ["tmpcopyup", "size=1m"]},
                          {"destination": "/b", "type": "bind", "source": str(tmp_path),
                           "options": ["rbind", "ro"]}]
    p = _plan(edit)
    assert _mounts(p)["/t"] == ("tmpfs", CONTEXT)
    (copyup,) = [a for op, a in p.records if op == "MOUNT_TMPCOPYUP"]
    assert copyup[4] == f"size=1m,{CONTEXT}"
    binds = [a for op, a in p.records if op == "MOUNT" and a[1] == "/b"]
    assert binds and not any("context=" in a[4] for a in binds)  # a bind takes no mount data


def test_mount_label_on_the_v1_cgroup_tmpfs(fake_selinuxfs):
    p = _plan(_labels, cgroup_mounts=lambda m: [("/sys/fs/cgroup/pids/x", "pids", [])])
    assert _mounts(p)["/sys/fs/cgroup"] == ("tmpfs", f"mode=755,{CONTEXT}")


def test_exec_plan_writes_the_label(fake_selinuxfs):
    from pyrunc.config.process import Process
    from pyrunc.commands.exec import exec_plan
    from conformance.bundle import default_config
    raw = default_config(["true"])["process"]
    raw["selinuxLabel"] = LABEL
    p = exec_plan([], Process(raw), None, 0, None)
    i = p.records.index(("PROC_WRITE", ("thread-self/attr/exec", LABEL)))
    assert p.names()[i + 1] in ("SECCOMP", "CHDIR")


@pytest.mark.skipif(selinux.enabled(), reason="this host has SELinux")
def test_exec_label_refused_where_selinux_is_off():
    from pyrunc.config.process import Process
    from pyrunc.commands.exec import exec_plan
    from conformance.bundle import default_config
    raw = default_config(["true"])["process"]
    raw["selinuxLabel"] = LABEL
    with pytest.raises(PyruncError, match="^process label: SELinux is not enabled on this host$"):
        exec_plan([], Process(raw), None, 0, None)


def test_exec_process_file_gets_the_containers_label_and_profile(tmp_path):
    """runc (newInitConfig): a --process without its own label or profile gets the
    container's; the flags still override the container's process."""
    from pyrunc import jsonio
    from pyrunc.commands.exec import build_process
    base = {"args": ["sh"], "cwd": "/", "selinuxLabel": LABEL, "apparmorProfile": "p1"}
    f = tmp_path / "process.json"
    f.write_text(jsonio.dumps({"args": ["true"], "cwd": "/"}))
    p = build_process(base, {"process": str(f)}, [])
    assert p["selinuxLabel"] == LABEL and p["apparmorProfile"] == "p1"
    f.write_text(jsonio.dumps({"args": ["true"], "cwd": "/", "selinuxLabel": "x:y:z:s0"}))
    assert build_process(base, {"process": str(f)}, [])["selinuxLabel"] == "x:y:z:s0"
    p = build_process(base, {"process-label": "a:b:c:s0"}, ["id"])
    assert p["selinuxLabel"] == "a:b:c:s0"
    assert build_process(base, {}, ["id"])["selinuxLabel"] == LABEL


def test_features_reports_selinux(fake_selinuxfs, tmp_path, monkeypatch):
    from pyrunc.commands import features
    assert features.features()["linux"]["selinux"] == {"enabled": True}
    monkeypatch.setattr(selinux, "SELINUXFS", str(tmp_path / "absent"))
    assert features.features()["linux"]["selinux"] == {"enabled": False}


def test_mount_data_is_formatted_as_go_selinux_does():
    assert selinux.mount_data("", None) == ""
    assert selinux.mount_data("mode=755", "") == "mode=755"
    assert selinux.mount_data("", MLABEL) == CONTEXT
    assert selinux.mount_data("mode=755", MLABEL) == f"mode=755,{CONTEXT}"
