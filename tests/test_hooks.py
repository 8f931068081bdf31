"""OCI hooks: all six stages, with the state on stdin, args, env and timeout, each in the
namespaces runtime-spec config.md#posix-platform-hooks names; failures fail or warn."""
from __future__ import annotations

import json
import os
from pathlib import Path

from conformance.linux import skip_on_runc
from tests.helpers_exec import wait_file

STAGES = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart",
          "poststop"]
HOST_STAGES = ["prestart", "createRuntime", "poststart", "poststop"]
# runc 1.1 gives these "creating"; state.md's "created" is checked by
# test_prestart_and_create_runtime_hooks_see_created
RUNC_CREATING = ("prestart", "createRuntime")

# Records: its name, its args, an env var, its namespaces and its stdin, one JSON line.
HOOK_SCRIPT = """#!/bin/sh
out=$1; shift
state=$(cat)
printf '{"stage": "%s", "argv": "%s", "env": "%s", "mnt": "%s", "pid": "%s", "state": %s}\\n' \\
  "$STAGE" "$*" "$HOOK_ENV" "$(readlink /proc/self/ns/mnt)" "$(readlink /proc/self/ns/pid)" \\
  "$state" >> "$out"
"""


def write_script(path: Path, text: str) -> str:
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


def hook(path: str, out: str, stage: str, **kw) -> dict:
    return {"path": path, "args": ["recorder", out, "a1", "a2"],
            "env": ["PATH=/bin:/usr/bin", f"STAGE={stage}", f"HOOK_ENV=env-{stage}"], **kw}


def records(path: Path) -> dict[str, dict]:
    out = {}
    for line in path.read_text().splitlines():
        d = json.loads(line)
        out[d["stage"]] = d
    return out


def test_every_stage_runs_with_the_right_state_and_namespace(rt, tmp_path):
    script = write_script(tmp_path / "hook.sh", HOOK_SCRIPT)
    host_out = tmp_path / "hooks.jsonl"
    # startContainer resolves its path in the container: the script is copied into the
    # rootfs, and it writes to the /share bind mount.

    def edit(c):
        c["hooks"] = {s: [hook(script, str(host_out), s)] for s in STAGES}
        c["hooks"]["startContainer"] = [hook("/hook.sh", "/share/hooks.jsonl",
                                             "startContainer")]
    b = rt.bundle(["sleep", "1000"], edit, share=True)
    write_script(b / "rootfs" / "hook.sh", HOOK_SCRIPT)
    os.chmod(rt.share, 0o777)
    cid = rt.create(b)
    st = rt.state(cid)
    pid = st["pid"]
    got = records(host_out)
    if "poststart" in got:
        skip_on_runc(rt.path, "poststart hooks at `start` (1.1 runs them in `create`)")
    assert sorted(got) == ["createContainer", "createRuntime", "prestart"]
    rt.ok("start", cid)
    got.update(records(host_out))
    wait_file(rt.share / "hooks.jsonl")  # start returns once the init is released
    got.update(records(rt.share / "hooks.jsonl"))
    rt.kill_and_delete(cid)
    got.update(records(host_out))
    assert sorted(got) == sorted(STAGES)

    host_mnt, host_pid = os.readlink("/proc/self/ns/mnt"), os.readlink("/proc/self/ns/pid")
    statuses = {"prestart": "created", "createRuntime": "created",
                "createContainer": "creating", "startContainer": "created",
                "poststart": "running", "poststop": "stopped"}
    for stage, rec in got.items():
        s = rec["state"]
        assert s["id"] == cid and s["bundle"] == str(b) and s["ociVersion"]
        if not (stage in RUNC_CREATING and os.path.basename(rt.path) == "runc"):
            assert s["status"] == statuses[stage], stage
        if stage != "poststop":
            assert s["pid"] == pid, stage
        assert rec["argv"] == "a1 a2" and rec["env"] == f"env-{stage}"
        inside = stage in ("createContainer", "startContainer")
        assert (rec["mnt"] != host_mnt) == inside, stage
        assert (rec["pid"] != host_pid) == inside, stage


def _fail_hook(tmp_path: Path, stage: str) -> dict:
    path = write_script(tmp_path / f"fail-{stage}.sh",
                        "#!/bin/sh\necho hook-said-no >&2\nexit 7\n")
    return {"path": path}


def test_failing_create_stages_fail_create_and_clean_up(rt, tmp_path):
    for stage in ("prestart", "createRuntime", "createContainer"):
        b = rt.bundle(["sleep", "1000"],
                      lambda c, s=stage: c.__setitem__("hooks", {s: [_fail_hook(tmp_path, s)]}))
        cid = rt.new_id()
        r = rt("create", "--bundle", b, cid)
        assert r.returncode == 1, stage
        assert "hook #0" in r.stderr and "exit status 7" in r.stderr, r.stderr
        assert "hook-said-no" in r.stderr
        assert rt("state", cid).returncode == 1  # nothing left: the rt fixture checks the rest


def test_failing_start_container_hook_stops_the_container(rt, tmp_path):
    def edit(c):
        c["hooks"] = {"startContainer": [{"path": "/bin/sh",
                                          "args": ["sh", "-c", "exit 3"]}]}
    b = rt.bundle(["sh", "-c", "echo ran > /share/ran"], edit, share=True)
    cid = rt.create(b)
    rt("start", cid)
    rt.wait_stopped(cid)
    assert not (rt.share / "ran").exists()
    rt.ok("delete", cid)


def test_poststop_failure_is_a_warning(rt, tmp_path):
    b = rt.bundle(["sleep", "1000"], lambda c: c.__setitem__(
        "hooks", {"poststop": [_fail_hook(tmp_path, "poststop")]}))
    cid = rt.create(b)
    rt.ok("start", cid)
    rt.ok("kill", cid, "KILL")
    rt.wait_stopped(cid)
    r = rt("delete", cid)
    assert r.returncode == 0 and "hook #0" in r.stderr  # runc: "error running hook #0"
    assert rt("state", cid).returncode == 1


def _poststart_fails(c, tmp_path: Path, n_ok: int = 0) -> None:
    ok = {"path": "/bin/true"}
    c["hooks"] = {"poststart": [ok] * n_ok + [_fail_hook(tmp_path, "poststart"), ok]}


def test_failing_poststart_hook_stops_the_container(rt, tmp_path):
    """runtime-spec 1.3 runtime.md#lifecycle step 9: a failing poststart hook is an error,
    the container is stopped (its processes killed) and the lifecycle goes on at destroy:
    `start` fails naming the hook, state says stopped, `delete` cleans as usual."""
    skip_on_runc(rt.path, "the 1.3 poststart rule (1.1 runs poststart hooks in `create`)")
    b = rt.bundle(["sleep", "1000"], lambda c: _poststart_fails(c, tmp_path, 1))
    cid = rt.create(b)
    pid = rt.state(cid)["pid"]
    r = rt("start", cid)
    assert r.returncode == 1, r
    assert "poststart hook #1" in r.stderr and "exit status 7" in r.stderr, r.stderr
    assert "hook-said-no" in r.stderr
    assert rt.state(cid)["status"] == "stopped"  # at once: start waited for the kill
    assert not os.path.exists(f"/proc/{pid}/cmdline") or not open(f"/proc/{pid}/cmdline").read()
    rt.ok("delete", cid)
    assert rt("state", cid).returncode == 1


def test_failing_poststart_hook_fails_run_and_leaves_nothing(rt, tmp_path):
    """`run` (detached or not) fails the same way and deletes the container."""
    skip_on_runc(rt.path, "the 1.3 poststart rule (1.1 runs poststart hooks in `create`)")
    for detach in ((), ("--detach",)):
        b = rt.bundle(["sleep", "1000"], lambda c: _poststart_fails(c, tmp_path))
        cid = rt.new_id()
        r = rt("run", *detach, "--bundle", b, cid)
        assert r.returncode == 1 and "poststart hook #0" in r.stderr, (detach, r)
        assert rt("state", cid).returncode == 1, detach


def test_prestart_and_create_runtime_hooks_see_created(rt, tmp_path):
    """state.md: "created" once the create operation's environment exists and the user's
    program has not run: what runtime-tools' hooks_stdin expects of a prestart hook, with the
    container's pid."""
    skip_on_runc(rt.path, 'the "created" status for prestart hooks (it says "creating")')
    out = tmp_path / "states"

    def edit(c):
        c["hooks"] = {s: [{"path": "/bin/sh",
                           "args": ["sh", "-c", f"cat >> {out}; echo >> {out}"]}]
                      for s in ("prestart", "createRuntime")}
        c["annotations"] = {"org.opencontainers.runtime-tools": "hook stdin test"}
    b = rt.bundle(["true"], edit)
    cid = rt.create(b)
    pid = rt.state(cid)["pid"]
    rt.ok("delete", "--force", cid)
    states = [json.loads(line) for line in out.read_text().splitlines() if line]
    assert len(states) == 2
    for s in states:
        assert s["status"] == "created" and s["pid"] == pid and s["id"] == cid
        assert s["annotations"] == {"org.opencontainers.runtime-tools": "hook stdin test"}


def test_hook_timeout(rt, tmp_path):
    slow = write_script(tmp_path / "slow.sh", "#!/bin/sh\nexec sleep 100\n")
    for stage in ("createRuntime", "createContainer"):
        b = rt.bundle(["true"], lambda c, s=stage: c.__setitem__(
            "hooks", {s: [{"path": slow, "timeout": 1}]}))
        r = rt("create", "--bundle", b, rt.new_id())
        assert r.returncode == 1 and "timeout" in r.stderr, r.stderr


def test_prestart_state_is_usable_for_network_setup(rt, tmp_path):
    """Docker's libnetwork-setkey reads the pid from stdin and enters the container's netns."""
    script = write_script(tmp_path / "net.sh", f"""#!/bin/sh
pid=$(sed 's/.*"pid":\\([0-9]*\\).*/\\1/')
readlink /proc/$pid/ns/net > {tmp_path}/share/hook-netns
nsenter -t $pid -n ip link set lo up
""")
    b = rt.bundle(["sh", "-c", "readlink /proc/self/ns/net > /share/netns; "
                   "ip link show lo > /share/link 2>&1"],
                  lambda c: c.__setitem__("hooks", {"prestart": [{"path": script}]}),
                  share=True)
    rt.run_to_exit(b)
    assert (rt.share / "hook-netns").read_text() == (rt.share / "netns").read_text()
    assert "UP" in (rt.share / "link").read_text()


ENV_SCRIPT = """#!/bin/sh
echo "$1 mark=$PYRUNC_TEST_MARK proc=$PROC_MARK cwd=$(pwd)" >> "$2"
"""


def test_hooks_without_env_inherit_and_container_hooks_start_in_the_root(rt, tmp_path):
    """runc's hooks are Go commands with a nil Env: a hook without env of its own gets the
    environment of whoever runs it, the runtime's on the host and the container process' in
    the container; createContainer hooks run in the container's root (issue 18)."""
    script = write_script(tmp_path / "env.sh", ENV_SCRIPT)
    out = tmp_path / "env.out"

    def edit(c):
        c["process"]["env"].append("PROC_MARK=from-process")
        c["hooks"] = {s: [{"path": script, "args": ["env.sh", s, str(out)]}]
                      for s in ("prestart", "createRuntime", "createContainer")}
    b = rt.bundle(["true"], edit)
    cid = rt.new_id()
    r = rt("create", "--bundle", b, cid, env=dict(os.environ, PYRUNC_TEST_MARK="from-runtime"))
    assert r.returncode == 0, r.stderr
    rt.ok("delete", "--force", cid)
    got = {line.split()[0]: line.split()[1:] for line in out.read_text().splitlines()}
    for stage in ("prestart", "createRuntime"):
        assert got[stage][0] == "mark=from-runtime", got
    assert got["createContainer"][1] == "proc=from-process", got
    assert got["createContainer"][2] == f"cwd={b / 'rootfs'}", got


def test_start_container_hooks_run_under_the_containers_seccomp_filter(rt):
    """A startContainer hook is the container's process (runc loads the filter before it
    runs, noNewPrivileges or not): mkdir, which the profile refuses, fails in the hook too."""
    script = "#!/bin/sh\nif mkdir /tmp/made; then echo made; else echo refused; fi > /share/hook\n"

    def edit(c):
        c["root"]["readonly"] = False
        c["process"]["noNewPrivileges"] = True
        c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures":
                                 ["SCMP_ARCH_X86_64"],
                                 "syscalls": [{"names": ["mkdir", "mkdirat"],
                                               "action": "SCMP_ACT_ERRNO"}]}
        c["hooks"] = {"startContainer": [{"path": "/hook.sh"}]}
    b = rt.bundle(["true"], edit, share=True)
    write_script(b / "rootfs" / "hook.sh", script)
    os.chmod(rt.share, 0o777)
    rt.run_to_exit(b)
    assert (rt.share / "hook").read_text() == "refused\n"
