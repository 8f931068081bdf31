"""`docker run --rm busybox true` latency: ENGINE_RUNTIME against Debian's runc, side by side.

Both runtimes are declared in the same dockerd (as "pyrunc" and "debian-runc"), so the daemon,
containerd, the shim and the image are shared and only the runtime differs. Runs are interleaved
(the order alternating each round) so that drift in machine load hits both alike. Prints medians
and the ratio; asserts nothing (the goal, from issue 7, is a ratio <= 1.05).

    ENGINE_RUNTIME=/usr/local/bin/pyrunc .venv/bin/python tests/bench/docker_latency.py [--runs N]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "engines"))
import engine_harness as eh  # noqa: E402


def one_run(e: eh.Engines, runtime: str) -> float:
    argv = [eh.DOCKER, "run", "--rm", "--runtime", runtime, eh.IMAGE, "true"]
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=e.client_env(), capture_output=True, text=True, timeout=120)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({r.returncode}): {r.stderr.strip()}")
    return dt


def measure(runs: int = 20, warmup: int = 3) -> dict[str, list[float]]:
    """Seconds per `docker run --rm IMAGE true`, keyed by runtime name ("pyrunc", "debian-runc")."""
    runtimes = [eh.RUNTIME_NAME, eh.REFERENCE_NAME]
    times: dict[str, list[float]] = {r: [] for r in runtimes}
    with eh.Engines() as e:
        for _ in range(warmup):
            for rt in runtimes:
                one_run(e, rt)
        for i in range(runs):
            for rt in (runtimes if i % 2 == 0 else runtimes[::-1]):
                times[rt].append(one_run(e, rt))
    return times


def report(times: dict[str, list[float]]) -> str:
    med = {rt: statistics.median(v) for rt, v in times.items()}
    n = len(times[eh.RUNTIME_NAME])
    lines = [f"docker run --rm {eh.IMAGE} true, {n} runs each, interleaved"]
    for rt, path in ((eh.RUNTIME_NAME, eh.ENGINE_RUNTIME), (eh.REFERENCE_NAME, eh.REFERENCE_RUNTIME)):
        v = times[rt]
        lines.append(f"  {rt:12s} {path:28s} median {med[rt] * 1000:7.1f} ms  min {min(v) * 1000:7.1f} ms  "
                     f"max {max(v) * 1000:7.1f} ms")
    ratio = med[eh.RUNTIME_NAME] / med[eh.REFERENCE_NAME]
    lines.append(f"  ratio {eh.RUNTIME_NAME}/{eh.REFERENCE_NAME} (medians): {ratio:.3f}  (goal <= 1.05)")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20, help="timed runs per runtime (default 20)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs per runtime first (default 3)")
    args = ap.parse_args()
    if not os.access(eh.ENGINE_RUNTIME, os.X_OK):
        print(f"docker_latency: ENGINE_RUNTIME {eh.ENGINE_RUNTIME} is not executable; skipped")
        return 0
    print(report(measure(args.runs, args.warmup)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
