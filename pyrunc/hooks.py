"""OCI hooks run by pyrunc on the host: prestart, createRuntime, poststart, poststop.

Each hook gets the container's state JSON on stdin (Docker's libnetwork-setkey reads it there),
its args and env, and is killed when its timeout passes.  subprocess is imported only when a
config has hooks: it costs 14 ms.
"""
from __future__ import annotations

from pyrunc import jsonio
from pyrunc.config import Hook
from pyrunc.errors import PyruncError


def from_state(st) -> dict[str, list[Hook]]:
    raw = (st.config or {}).get("hooks") or {}
    return {stage: [Hook(h, f"hooks.{stage}[{i}]") for i, h in enumerate(lst)]
            for stage, lst in raw.items()}


def run_stage(all_hooks: dict[str, list[Hook]], stage: str, st, warn_only: bool = False) -> None:
    lst = all_hooks.get(stage)
    if not lst:
        return
    state = jsonio.dumps(st.spec_state()).encode()
    for i, h in enumerate(lst):
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
        p = subprocess.run(args, executable=h.path, input=state, env=dict(
            e.split("=", 1) for e in h.env if "=" in e), capture_output=True,
            timeout=h.timeout)
    except subprocess.TimeoutExpired:
        raise PyruncError(f"{h.path}: timeout after {h.timeout}s") from None
    except OSError as e:
        raise PyruncError(f"{h.path}: {e.strerror}") from None
    if p.returncode != 0:
        detail = (p.stderr or p.stdout).decode(errors="replace").strip()
        raise PyruncError(f"{h.path}: exit status {p.returncode}"
                          + (f", stdout: {p.stdout.decode(errors='replace').strip()}, "
                             f"stderr: {p.stderr.decode(errors='replace').strip()}" if detail else ""))
