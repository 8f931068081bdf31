"""`make bench`: pyrunc side by side with Debian's runc (and crun where it runs), in one run.

Runs, in interleaved rounds, with a busybox bundle from conformance.bundle:
  1. `run` of /bin/true                                       (goal: pyrunc/runc <= 0.8)
  2. the engine lifecycle create/start/state/kill/delete       (goal: pyrunc/runc <= 1.0)
  3. VmRSS and Pss of a created container's init               (goal: pyrunc <= 2 MB)
  4. `create` without and with Podman's seccomp profile (pyrunc's cache warm and cold)
  5. `exec true` into a running container
  5a. what each speed trick of the launcher saves per state/kill call, and the state file's
      marshal format against JSON (issue 17: keep a trick only where it pays)
  5b. the lifecycle's calls of a pip-installed pyrunc (a wheel of this tree in a fresh venv)
      against the launcher (issue 17: under 0.2 ms apart)
  6. crun in 1-3, from a private mount namespace that hides the hybrid cgroup2 mount
  6b. create and delete with and without --systemd-cgroup, pyrunc and runc
      (tests/bench/bench_systemd.py; skipped with the reason where systemd is not PID 1)
  7. with --docker: `docker run --rm` latency (tests/bench/docker_latency.py)
and prints one table: medians per runtime and the median of per-pair pyrunc/runc ratios.
Nothing is asserted; the exit status is 1 only if a benchmark could not run or something was
left behind. Every container is deleted (also on Ctrl-C), then the bench checks that no state
dir, cgroup or mount of its own is left. See tests/bench/README.md for what each number means.

    .venv/bin/python tests/bench/run.py [--runs N] [--quick] [--docker] [--markdown] [--only NAME]
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path[0:0] = [REPO, os.path.join(REPO, "tests")]
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import bench_cases as cases  # noqa: E402
import bench_systemd  # noqa: E402
from bench_proc import HiddenCgroup2, become_subreaper, cgroup2_is_hybrid  # noqa: E402
from bench_report import Row, markdown, table  # noqa: E402
from bench_session import CRUN_OCI_VERSION, BenchError, BenchSkip, Session, warn  # noqa: E402

PYRUNC = os.environ.get("BENCH_PYRUNC", "/usr/local/bin/pyrunc")
RUNC = "/usr/sbin/runc"
CRUN = "/usr/bin/crun"


def pip_installed(tmp: str) -> str:
    """The `pyrunc` command of a wheel of this tree pip-installed into a fresh venv in tmp."""
    from pathlib import Path
    from package_build import build_wheel, install_wheel
    d = Path(tmp) / "pip-installed"
    d.mkdir()
    return str(install_wheel(build_wheel(d), d / "venv"))


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def setup_crun(s: Session):
    """crun as a Runtime, or None with the reason printed."""
    if not os.access(CRUN, os.X_OK):
        warn(f"crun: {CRUN} not found; crun columns stay empty")
        return None
    ns = None
    if cgroup2_is_hybrid():
        try:
            ns = HiddenCgroup2()
        except OSError as e:
            warn(f"crun: cannot make a mount namespace hiding /sys/fs/cgroup/unified ({e}); "
                 "crun columns stay empty")
            return None
        s.ns = ns
    return s.add("crun", CRUN, ns=ns, oci_version=CRUN_OCI_VERSION)


def running(names: tuple[str, ...]) -> list[str]:
    """"name (pid N)" for each live process whose comm is one of `names`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm in names:
            found.append(f"{comm} (pid {pid})")
    return found


def docker_row(runs: int) -> tuple[Row | None, str]:
    """Run docker_latency.measure() and turn it into a row (and its own report)."""
    others = running(("dockerd", "containerd"))
    if others:  # two harnesses would fight over docker0, iptables and /run/docker
        raise BenchError(f"another engine is running ({', '.join(others)}); "
                         "not starting a second one")
    import docker_latency as dl
    import engine_harness as eh
    warmup = 3 if runs >= 10 else 1
    times = dl.measure(runs, warmup)
    row = Row("docker run --rm true", "ms",
              {"pyrunc": times[eh.RUNTIME_NAME], "runc": times[eh.REFERENCE_NAME]},
              goal=("ratio", 1.05))
    return row, dl.report(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=None,
                    help="timed rounds per benchmark (default 30; 5 with --quick)")
    ap.add_argument("--quick", action="store_true",
                    help="few rounds and one warm-up round: a smoke run, noisy figures")
    ap.add_argument("--docker", action="store_true",
                    help="also measure `docker run --rm` latency (starts containerd+dockerd; "
                         "up to a minute)")
    ap.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    ap.add_argument("--only", action="append", default=[], metavar="NAME",
                    help="run only the named benchmark(s), e.g. --only 'speed tricks'")
    args = ap.parse_args()
    runs = args.runs or (5 if args.quick else 30)
    warmup = 1 if args.quick else 2
    rss_runs = min(runs, 10)

    if os.geteuid() != 0:
        print("bench: must run as root (it creates containers)", file=sys.stderr)
        return 2
    for b in (PYRUNC, RUNC):
        if not os.access(b, os.X_OK):
            print(f"bench: {b} is not executable (run `make install` first)", file=sys.stderr)
            return 2

    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    become_subreaper()
    s = Session()
    rows: list[Row] = []
    failed: list[str] = []
    notes: list[str] = []
    docker_report = ""
    crun = None
    t0 = time.monotonic()
    print(f"pyrunc bench: {runs} interleaved rounds per benchmark ({rss_runs} for memory), "
          f"{warmup} warm-up; load average {cases.loadavg()}", flush=True)
    try:
        pyrunc = s.add("pyrunc", PYRUNC)
        runc = s.add("runc", RUNC)
        crun = setup_crun(s)
        trio = [pyrunc, runc] + ([crun] if crun else [])
        steps = [
            ("run /bin/true", lambda: cases.bench_run(s, trio, runs, warmup)),
            ("lifecycle", lambda: cases.bench_lifecycle(s, trio, runs, warmup)),
            ("memory", lambda: cases.bench_rss(s, trio, rss_runs, 1)),
            ("seccomp create", lambda: cases.bench_seccomp(s, pyrunc, runc, runs, warmup)),
            ("exec", lambda: cases.bench_exec(s, [pyrunc, runc], runs, warmup)),
            ("speed tricks", lambda: cases.bench_speed_tricks(s, pyrunc, runs, warmup)),
            ("pip-installed", lambda: cases.bench_pip_installed(
                s, pyrunc, s.add("pyrunc-pip", pip_installed(s.tmp)), runs, warmup)),
            ("systemd cgroup", lambda: bench_systemd.bench_systemd(s, PYRUNC, RUNC, runs,
                                                                   warmup)),
        ]
        for name, step in steps:
            if args.only and name not in args.only:
                continue
            print(f"  {name} ...", flush=True)
            try:
                got = step()
            except BenchSkip as e:
                notes.append(f"{name}: skipped: {e}")
                warn(f"  {name}: skipped: {e}")
                continue
            except BenchError as e:
                failed.append(f"{name}: {e}")
                warn(f"  {name}: abandoned: {e}")
                continue
            except Exception as e:  # a bug in the bench: report it, clean up, go on
                traceback.print_exc()
                failed.append(f"{name}: {type(e).__name__}: {e}")
                continue
            rows.extend(got)
            notes.extend(f"{r.label.strip()}: {r.note}" for r in got if r.note)
    except KeyboardInterrupt:
        warn("interrupted: cleaning up")
        failed.append("interrupted")
    finally:
        problems = s.close()
    become_subreaper(False)  # the docker harness's daemons must not become our orphans
    if args.docker and "interrupted" not in failed:
        print("  docker run --rm (tests/bench/docker_latency.py: its own containerd+dockerd) ...",
              flush=True)
        try:
            row, docker_report = docker_row(min(runs, 20))
            rows.append(row)
        except KeyboardInterrupt:
            failed.append("docker: interrupted")
        except BenchError as e:
            failed.append(f"docker: {e}")
            warn(f"  docker: not measured: {e}")
        except (Exception, SystemExit) as e:  # the harness raises SystemExit on a failed run
            failed.append(f"docker: {e}")
            warn(f"  docker: abandoned: {e}")

    print()
    print(table(rows))
    print()
    print("times are wall-clock medians per call, as an engine would see them; pyrunc/runc is "
          "the median of per-round ratios.")
    if not args.docker:
        print("docker run --rm latency: not measured (pass --docker; it starts its own "
              "containerd+dockerd and takes up to a minute).")
    elif docker_report:
        print(docker_report)
    for n in notes:
        print(f"note: {n}")
    if crun is None:
        print("crun: not measured (see above)")
    print(f"load average now {cases.loadavg()}; bench took {time.monotonic() - t0:.0f} s")
    if args.markdown:
        print()
        print(markdown(rows))
    for f in failed:
        print(f"FAILED {f}")
    if problems:
        print("LEFTOVERS (found and removed):")
        for p in problems:
            print(f"  {p}")
    else:
        print("cleanup: no container, state dir, cgroup, mount or process of the bench is left.")
    return 1 if failed or problems else 0


if __name__ == "__main__":
    sys.exit(main())
