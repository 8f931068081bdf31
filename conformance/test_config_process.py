"""config.md#process checked from inside the container: args, env, cwd, user, rlimits,
terminal, capabilities, noNewPrivileges."""
from __future__ import annotations

import os

DEFAULT_CAPS = (1 << 29) | (1 << 5) | (1 << 10)  # CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE


def status_fields(text: str) -> dict[str, str]:
    """/proc/self/status as a dict of field -> value (whitespace collapsed)."""
    out = {}
    for line in text.splitlines():
        if ":" in line:
            key, _, value = line.partition(":")
            out[key.strip()] = " ".join(value.split())
    return out


def test_args_passed_exactly(rt):
    """config.md#process args: the program gets exactly these argv entries (spaces, empty
    and glob characters unchanged), argv[0] included."""
    b = rt.bundle(["sh", "-c", 'for a in "$0" "$@"; do echo "[$a]"; done > /share/out',
                   "zero", "one two", "", "*", "$HOME"], share=True)
    rt.run_to_exit(b)
    assert (rt.share / "out").read_text() == "[zero]\n[one two]\n[]\n[*]\n[$HOME]\n"


def test_args_program_found_by_absolute_path(rt):
    """config.md#process args: args[0] may be an absolute path in the rootfs."""
    b = rt.bundle(["/bin/sh", "-c", "echo abs > /share/out"], share=True)
    rt.run_to_exit(b)
    assert (rt.share / "out").read_text() == "abs\n"


def test_env_is_exactly_the_configured_environment(rt):
    """config.md#process env: the variables are set as given; the runtime's own
    environment does not leak in (HOME, which runc adds when unset, is allowed)."""
    env = ["PATH=/bin:/usr/bin", "FOO=bar", "EQ=a=b", "EMPTY=", "SPACE=x y"]
    os.environ["LEAK_CHECK_CONFORMANCE"] = "leaked"
    try:
        out = rt.script_output("env", env=env)
    finally:
        del os.environ["LEAK_CHECK_CONFORMANCE"]
    got = [line for line in out.splitlines() if line and not line.startswith(("PWD=", "SHLVL="))]
    assert sorted(v for v in got if not v.startswith("HOME=")) == sorted(env)
    assert "LEAK_CHECK_CONFORMANCE" not in out


def test_cwd(rt):
    """config.md#process cwd: the program starts in this directory."""
    assert rt.script_output("pwd", cwd="/tmp") == "/tmp\n"


def test_cwd_default_root(rt):
    """config.md#process cwd: runc spec's cwd "/" is honoured."""
    assert rt.script_output("pwd") == "/\n"


def test_user_uid_gid(rt):
    """config.md#posix-platform-user: uid and gid are the process's real, effective, saved
    and filesystem ids."""
    st = status_fields(rt.script_output("cat /proc/self/status", uid=65534, gid=65534))
    assert st["Uid"] == "65534 65534 65534 65534"
    assert st["Gid"] == "65534 65534 65534 65534"


def test_user_additional_gids(rt):
    """config.md#posix-platform-user additionalGids: the supplementary groups are set."""
    st = status_fields(rt.script_output("cat /proc/self/status", uid=1000, gid=1000,
                                        additional_gids=[10, 20]))
    assert st["Uid"].split()[0] == "1000"
    assert st["Gid"].split()[0] == "1000"
    assert sorted(int(g) for g in st["Groups"].split()) in ([10, 20], [10, 20, 1000])


def test_user_root_by_default(rt):
    """config.md#posix-platform-user: uid 0 / gid 0 run as root (`id` in the container)."""
    assert rt.script_output("id -u; id -g") == "0\n0\n"


def test_rlimits(rt):
    """config.md#posix-process rlimits: getrlimit gives the configured soft and hard value."""
    def edit(cfg):
        cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
                                     {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096}]

    out = rt.script_output("ulimit -Sn; ulimit -Hn; cat /proc/self/limits", edit)
    lines = out.splitlines()
    assert lines[:2] == ["100", "200"]
    limits = {line[:26].strip(): line[26:].split() for line in lines[2:]}
    assert limits["Max open files"][:2] == ["100", "200"]
    assert limits["Max core file size"][:2] == ["0", "4096"]


def test_terminal_false_means_no_tty(rt):
    """config.md#process terminal: with terminal false the process has no controlling
    terminal on its stdio."""
    out = rt.script_output("if [ -t 0 ] || [ -t 1 ] || [ -t 2 ]; then echo tty; else echo notty; fi")
    assert out == "notty\n"


def test_capabilities_default_set(rt):
    """config.md#linux-process capabilities: root gets exactly CAP_AUDIT_WRITE, CAP_KILL and
    CAP_NET_BIND_SERVICE (bits 29, 5, 10) as runc spec lists them. (Ambient stays empty: the
    kernel raises an ambient cap only if it is also inheritable, and runc spec lists none.)"""
    st = status_fields(rt.script_output("cat /proc/self/status"))
    for field in ("CapEff", "CapPrm", "CapBnd"):
        assert int(st[field], 16) == DEFAULT_CAPS, field


def test_capabilities_ambient_for_non_root(rt):
    """config.md#linux-process capabilities: with the inheritable set given too, a non-root
    process keeps the configured caps through exec via the ambient set."""
    def edit(cfg):
        caps = cfg["process"]["capabilities"]
        caps["inheritable"] = list(caps["bounding"])

    st = status_fields(rt.script_output("cat /proc/self/status", edit, uid=1000, gid=1000))
    for field in ("CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb"):
        assert int(st[field], 16) == DEFAULT_CAPS, field


def test_capabilities_empty(rt):
    """config.md#linux-process capabilities: empty lists drop every capability."""
    def edit(cfg):
        cfg["process"]["capabilities"] = {k: [] for k in
                                          ("bounding", "effective", "permitted", "ambient")}

    st = status_fields(rt.script_output("cat /proc/self/status", edit))
    for field in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
        assert int(st[field], 16) == 0, field


def test_no_new_privileges(rt):
    """config.md#linux-process noNewPrivileges: true sets the no_new_privs bit; false
    leaves it clear."""
    on = status_fields(rt.script_output("cat /proc/self/status"))
    off = status_fields(rt.script_output(
        "cat /proc/self/status",
        lambda cfg: cfg["process"].__setitem__("noNewPrivileges", False)))
    assert on["NoNewPrivs"] == "1"
    assert off["NoNewPrivs"] == "0"
