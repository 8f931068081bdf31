"""/dev (config-linux.md#default-devices, #devices, #dev-symbolic-links): the default nodes,
/dev/ptmx, the /dev/fd and std links, devpts, and linux.devices of every type."""
from __future__ import annotations


from linux_helpers import run_script

DEFAULTS = {"null": "1:3", "zero": "1:5", "full": "1:7", "random": "1:8", "urandom": "1:9",
            "tty": "5:0"}


def test_default_devices(rt):
    script = "; ".join(f"stat -c '%n %F %t:%T %a %u %g' /dev/{d}" for d in DEFAULTS)
    out = run_script(rt, script)
    for line, (name, dev) in zip(out.splitlines(), DEFAULTS.items()):
        maj, mino = dev.split(":")
        assert line == f"/dev/{name} character special file {int(maj):x}:{int(mino):x} 666 0 0"


def test_dev_links_and_ptmx(rt):
    out = run_script(rt, "for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done; "
                     "grep ' /dev/pts ' /proc/self/mountinfo; stat -c '%a' /dev/pts/ptmx")
    lines = out.splitlines()
    assert lines[:5] == ["/proc/self/fd", "/proc/self/fd/0", "/proc/self/fd/1",
                         "/proc/self/fd/2", "pts/ptmx"]
    assert " - devpts " in lines[5] and "ptmxmode=666" in lines[5]
    assert lines[6] == "666"


def test_device_default_mode_and_owner(rt):
    def edit(cfg):
        cfg["linux"]["devices"] = [{"path": "/dev/sub/zero2", "type": "c", "major": 1,
                                    "minor": 5}]
    out = run_script(rt, "stat -c '%t:%T %u %g' /dev/sub/zero2; head -c 3 /dev/sub/zero2 | wc -c",
                     edit)
    assert out.split("\n")[0] == "1:5 0 0"


def test_device_overrides_default(rt):
    """A linux.devices entry for a default path wins (here /dev/null with mode 0600)."""
    def edit(cfg):
        cfg["linux"]["devices"] = [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3,
                                    "fileMode": 0o600}]
    out = run_script(rt, "stat -c '%a' /dev/null", edit)
    assert out.strip() == "600"


def test_a_read_only_dev_tmpfs_is_filled_first_and_read_only_after(rt):
    """`ro` on the /dev tmpfs: runc creates the devices, links and mount points first and
    remounts it read-only last (issue 18); pyrunc failed ("mkdir /dev/pts: read-only file
    system")."""
    def edit(cfg):
        for m in cfg["mounts"]:
            if m["destination"] == "/dev":
                m["options"] = m.get("options", []) + ["ro"]
    out = rt.script_output("echo x > /dev/null && echo null-ok; ls /dev/pts >/dev/null && "
                           "echo pts-ok; touch /dev/new 2>/dev/null || echo dev-ro", edit)
    assert out.split() == ["null-ok", "pts-ok", "dev-ro"], out
