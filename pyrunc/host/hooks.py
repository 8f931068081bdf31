"""OCI hooks: prestart, createRuntime, poststart, poststop run here on the host;
createContainer and startContainer run inside the container, by the init (native/init/hooks.c).

Each hook gets the container's state JSON on stdin (Docker's libnetwork-setkey reads it there),
its args and env, and is killed when its timeout passes.  subprocess is imported only when a
config has hooks: it costs 14 ms.

The order is runc's (runtime-spec config.md#posix-platform-hooks): once the init has done the
mounts it reports H and waits (HOOK_STATE) before pivot_root; pyrunc runs prestart and
createRuntime, then writes the state records on a pipe: the init runs createContainer with the
first, pivots, and after `start` runs startContainer with the second, then execs the process.
The state has the container's host pid, which only pyrunc knows (from P) — hence the pipe.
"""

from pyrunc import fastos as os  # os without its import cost (see fastos)

from pyrunc import jsonio
from pyrunc.config import Hook
from pyrunc.errors import PyruncError


def from_state(st) -> dict[str, list[Hook]]:
    raw = (st.config or {}).get("hooks") or {}
    return {stage: [Hook(h, f"hooks.{stage}[{i}]") for i, h in enumerate(lst)]
            for stage, lst in raw.items()}


INIT_SYNC_STAGES = ("prestart", "createRuntime", "createContainer", "startContainer")


def needs_init_sync(all_hooks: dict[str, list[Hook]]) -> bool:
    """Whether create must pause the init before pivot_root for hooks."""
    return any(all_hooks.get(s) for s in INIT_SYNC_STAGES)


def _hook_ops(p, lst: list[Hook], stage: str, env: list[str]) -> None:
    """HOOK ops; a hook without env of its own gets ``env``: the environment the process
    running it has (runc's hooks are Go commands with a nil Env, which inherit it), which in
    the container is the container process' (runc's init has taken it on by then)."""
    for i, h in enumerate(lst):
        argv = h.args or [h.path]
        p.add("HOOK", h.timeout or 0, len(argv), f"error running {stage} hook #{i}", h.path,
              *argv, *(h.env or env))


def plan_init_hooks(planner, all_hooks: dict[str, list[Hook]], state_fd: int) -> None:
    """Put the sync point and the in-container hooks into the create plan (init fd state_fd)."""
    from pyrunc.plan.kernel import CHDIR_ALWAYS
    env = planner.cfg.process.env

    def before_pivot(p) -> None:
        p.add("HOOK_STATE", state_fd, 1)
        if all_hooks.get("createContainer"):
            # runc runs them in the container's root
            p.add("CHDIR", planner.cfg.root_path, CHDIR_ALWAYS)
            _hook_ops(p, all_hooks["createContainer"], "createContainer", env)

    def after_start(p) -> None:
        p.add("HOOK_STATE", state_fd, 0)
        _hook_ops(p, all_hooks["startContainer"], "startContainer", env)

    planner.before_pivot = before_pivot
    if all_hooks.get("startContainer"):
        planner.after_start = after_start


def send_states(fd: int, st, all_hooks: dict[str, list[Hook]]) -> None:
    """Write the init's state records (creating; created when startContainer hooks exist) and
    close ``fd``.  A dead init is not an error here: its E message says why."""
    import struct
    recs = [_state(st, "creating")]
    if all_hooks.get("startContainer"):
        recs.append(_state(st, "created"))
    data = b"".join(struct.pack("<I", len(r)) + r for r in recs)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BrokenPipeError:
        pass
    finally:
        os.close(fd)


def _state(st, status: str | None) -> bytes:
    d = st.spec_state()
    if status is not None:
        d["status"] = status
        if st.pid:
            d["pid"] = st.pid
    return jsonio.dumps(d).encode()


def run_stage(all_hooks: dict[str, list[Hook]], stage: str, st, warn_only: bool = False,
              status: str | None = None) -> None:
    """Run one host stage's hooks in order; the first failure raises (or warns)."""
    lst = all_hooks.get(stage)
    if not lst:
        return
    state = _state(st, status)
    from pyrunc import log
    for i, h in enumerate(lst):
        if log.debug_enabled:
            log.debug(f"running {stage} hook #{i}: {h.path}")
        try:
            run_hook(h, state)
        except PyruncError as e:
            msg = f"error running {stage} hook #{i}: {e}"
            if not warn_only:
                raise PyruncError(msg) from None
            from pyrunc import log
            log.warning(msg)


def run_hook(h: Hook, state: bytes) -> None:
    import subprocess
    args = h.args or [h.path]
    try:
        # no env of its own: the runtime's, as runc and crun pass it on
        env = dict(e.split("=", 1) for e in h.env if "=" in e) if h.env else None
        p = subprocess.run(args, executable=h.path, input=state, env=env,
                           capture_output=True, timeout=h.timeout)
    except subprocess.TimeoutExpired:
        raise PyruncError(f"{h.path}: timeout after {h.timeout}s") from None
    except OSError as e:
        raise PyruncError(f"{h.path}: {e.strerror}") from None
    if p.returncode != 0:
        detail = (p.stderr or p.stdout).decode(errors="replace").strip()
        raise PyruncError(f"{h.path}: exit status {p.returncode}"
                          + (f", stdout: {p.stdout.decode(errors='replace').strip()}, "
                             f"stderr: {p.stderr.decode(errors='replace').strip()}" if detail else ""))
