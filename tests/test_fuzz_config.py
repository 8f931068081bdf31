"""Malformed input through the real CLI: nothing may get through as an internal error, a
traceback, a hang, a message on several lines or a leftover (issue 16).

Every variant (tests/fuzz_config_cases.py: wrong types and extreme values at every JSON path of
a rich config, whole files that are no config) is handed to `pyrunc create` with the test's
private --root.  Each must end with exit status 1 and exactly one line on stderr that is no
"internal error", leaving no state directory and no cgroup, or succeed and then be deleted
cleanly.  The rt fixture checks for processes and mounts left after the whole batch.  A
variant is run with a timeout; a hang is reported as that variant's failure.

The count is bounded and the seed fixed (fuzz_config_cases.SEED), so a run takes ~20 s on two
cores; FUZZ_VARIANTS=N runs more, FUZZ_SEED=N others.
"""
from __future__ import annotations

import json
import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import fuzz_config_cases as cases
from conformance import leftovers
from conformance.bundle import CGROUP_PARENT, copy_rootfs
from conformance.fixtures import CommandTimeout

N_VARIANTS = int(os.environ.get("FUZZ_VARIANTS", "400"))
SEED = int(os.environ.get("FUZZ_SEED", cases.SEED))
TIMEOUT = 15.0  # per call: a hang (the was > 20 s) fails the variant, not the run
WORKERS = 4


class Batch:
    """Runs variants against rt and collects what each did wrong."""

    def __init__(self, rt, tmp: Path) -> None:
        self.rt = rt
        self.tmp = tmp
        self.rootfs = str(copy_rootfs(tmp / "rootfs"))
        self.share = tmp / "share"
        self.share.mkdir()
        self.problems: list[str] = []
        self.accepted = 0
        self._lock = threading.Lock()
        self._n = 0

    def base(self) -> dict:
        return cases.rich_config(self.rootfs, str(self.share))

    def _slot(self) -> tuple[int, str, Path, str]:
        with self._lock:
            self._n += 1
            n = self._n
        cg = f"{self.rt.token}-v{n}"
        d = self.tmp / f"v{n}"
        d.mkdir()
        return n, self.rt.new_id(), d, cg

    def run(self, name: str, config: bytes | None, args: tuple = (), prepare=None) -> None:
        """One variant: config.json (bytes, or made by `prepare(bundle_dir)`), then create."""
        n, cid, bundle, cg = self._slot()
        if config is not None:
            config = config.replace(f"{CGROUP_PARENT}/fuzz".encode(),
                                    f"{CGROUP_PARENT}/{cg}".encode())
            (bundle / "config.json").write_bytes(config)
        if prepare is not None:
            prepare(bundle)
        self.check(name, ("create", *args, "--bundle", bundle, cid), cid, cg)

    def check(self, name: str, argv: tuple, cid: str | None = None, cg: str | None = None,
              want_fail: bool = False, global_args: tuple = ()) -> None:
        problems = []
        try:
            r = self.rt(*argv, timeout=TIMEOUT, global_args=global_args)
        except CommandTimeout as e:
            self._add(name, [f"hang: {e}"])
            return
        err = r.stderr
        if r.returncode == 0:
            if want_fail:
                problems.append(f"exited 0, stderr {err!r}")
            if cid is not None and argv[0] == "create":
                with self._lock:
                    self.accepted += 1
                d = self.rt("delete", "--force", cid, timeout=TIMEOUT)
                if d.returncode != 0:
                    problems.append(f"accepted, but delete --force failed: {d.stderr!r}")
        else:
            # warnings (an ignored unknown capability, as runc's) may come before the error
            lines = [ln for ln in err.split("\n") if ln and "level=warning" not in ln]
            if len(lines) != 1:
                problems.append(f"{len(lines)} lines on stderr: {err[:600]!r}")
            if "internal error" in err or "Traceback" in err:
                problems.append(f"internal error: {err[:600]!r}")
            if r.returncode != 1 and argv[0] not in ("exec",):
                problems.append(f"exit status {r.returncode}")
        if cid is not None:
            if (self.rt.root / cid).exists():
                problems.append(f"state dir {self.rt.root / cid} left")
                self.rt("delete", "--force", cid, timeout=TIMEOUT)
                if (self.rt.root / cid).exists():
                    problems.append("... which delete --force cannot remove")
            else:  # checked here: spare the fixture's teardown two calls per variant
                with self._lock:
                    if cid in self.rt.ids:
                        self.rt.ids.remove(cid)
        if cg is not None:
            for h in leftovers.hierarchies():
                p = h / CGROUP_PARENT.lstrip("/") / cg
                if p.exists():
                    problems.append(f"cgroup {p} left")
                    leftovers.remove_cgroup(p)
        self._add(name, problems)

    def _add(self, name: str, problems: list[str]) -> None:
        if problems:
            with self._lock:
                self.problems.append(f"{name}: " + "; ".join(problems))

    def report(self, total: int) -> None:
        assert not self.problems, (f"{len(self.problems)} of {total} variants mishandled:\n  "
                                   + "\n  ".join(self.problems))


def run_all(batch: Batch, jobs) -> None:
    with ThreadPoolExecutor(WORKERS) as pool:
        for f in [pool.submit(*job) for job in jobs]:
            f.result()


@pytest.fixture
def batch(rt, tmp_path):
    return Batch(rt, tmp_path)


def test_the_rich_base_config_runs(batch):
    """The fuzzer's base must pass, or every variant would only test one early error."""
    batch.run("base", cases.dumps(batch.base()))
    batch.report(1)
    assert batch.accepted == 1


def test_config_path_variants(batch):
    variants = cases.path_variants(batch.base(), N_VARIANTS, SEED)
    run_all(batch, [(batch.run, name, cases.dumps(cfg)) for name, cfg in variants])
    batch.report(len(variants))


def test_config_file_variants(batch):
    files = cases.file_variants(batch.base())

    def fifo(bundle: Path) -> None:
        os.mkfifo(bundle / "config.json")

    def dev_zero(bundle: Path) -> None:
        os.symlink("/dev/zero", bundle / "config.json")

    def directory(bundle: Path) -> None:
        (bundle / "config.json").mkdir()

    def huge(bundle: Path) -> None:  # sparse: 1 GiB of NULs after a valid start
        with open(bundle / "config.json", "wb") as f:
            f.write(b'{"x": "')
            f.truncate(1 << 30)

    def unreadable_symlink_loop(bundle: Path) -> None:
        os.symlink("config.json", bundle / "config.json")

    jobs = [(batch.run, name, data) for name, data in files]
    jobs += [(batch.run, name, None, (), prep) for name, prep in (
        ("a FIFO as config.json", fifo), ("/dev/zero as config.json", dev_zero),
        ("a directory as config.json", directory), ("a 1 GiB config.json", huge),
        ("a symlink loop as config.json", unreadable_symlink_loop),
        ("no config.json", lambda b: None))]
    run_all(batch, jobs)
    batch.report(len(jobs))


def test_seccomp_with_100000_rules(batch):
    """runc takes it in seconds; pyrunc hung for over 20 s."""
    cfg = batch.base()
    cfg["linux"]["seccomp"] = cases.seccomp_rules(100_000)
    batch.run("seccomp with 100000 rules", cases.dumps(cfg))
    batch.report(1)


# -- the command line --------------------------------------------------------------------------

def _special(tmp: Path) -> dict[str, str]:
    fifo = tmp / "fifo"
    os.mkfifo(fifo)
    (tmp / "dir").mkdir()
    return {"FIFO": str(fifo), "/dev/zero": "/dev/zero", "a directory": str(tmp / "dir"),
            "a missing file": str(tmp / "missing")}


def _created(batch, rt, tmp_path) -> tuple[dict, str]:
    """The base config with a cgroup of the test's, and the id of a container created of it
    (for exec and update to work on)."""
    good = batch.base()
    good["linux"]["cgroupsPath"] = f"{CGROUP_PARENT}/{rt.token}-running"
    cid = rt.new_id()
    bundle = tmp_path / "running"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(good))
    rt.ok("create", "--bundle", bundle, cid)
    return good, cid


def test_cli_cases(batch, rt, tmp_path):
    good, cid = _created(batch, rt, tmp_path)
    files = _special(tmp_path)
    jobs = []
    for what, path in files.items():
        jobs.append((batch.check, f"exec --process {what}",
                     ("exec", "--process", path, cid), None, None, True))
        jobs.append((batch.check, f"update -r {what}", ("update", "-r", path, cid), None, None,
                     True))
    for what, text in (("not JSON", "{"), ("a JSON array", "[]"), ("nested 100k deep",
                                                                  "[" * 100_000),
                       ("a lone surrogate", '{"args": ["\\ud800"], "cwd": "/"}'),
                       ("uid null", '{"args": ["true"], "cwd": "/", "user": {"uid": null}}')):
        p = tmp_path / f"process-{len(jobs)}.json"
        p.write_text(text)
        jobs.append((batch.check, f"exec --process {what}", ("exec", "--process", p, cid),
                     None, None, True))
        r = tmp_path / f"resources-{len(jobs)}.json"
        r.write_text(text.replace('"args"', '"memory"'))
        jobs.append((batch.check, f"update -r {what}", ("update", "-r", r, cid), None, None,
                     True))
    for root in ("/proc/self/fuzz", "/proc/1/fdinfo/x", "/sys/fuzz", "/dev/null/x"):
        jobs.append((batch.check, f"--root {root} state", ("state", "x"), None, None, True,
                     ("--root", root)))
        n, vid, vb, cg = batch._slot()
        (vb / "config.json").write_bytes(cases.dumps(good).replace(
            f"{rt.token}-running".encode(), cg.encode()))
        jobs.append((batch.check, f"--root {root} create", ("create", "--bundle", vb, vid),
                     None, cg, True, ("--root", root)))
    for what, flags in (("--log in a missing directory", ("--log", str(tmp_path / "no" / "l"))),
                        ("--log a directory", ("--log", str(tmp_path / "dir"))),
                        ("--log-format xml", ("--log-format", "xml"))):
        n, vid, vb, cg = batch._slot()
        (vb / "config.json").write_bytes(cases.dumps(good).replace(
            f"{rt.token}-running".encode(), cg.encode()))
        jobs.append((batch.check, what, ("create", "--bundle", vb, vid), vid, cg, True, flags))
    run_all(batch, jobs)
    rt.ok("delete", "--force", cid)
    batch.report(len(jobs))


def test_every_special_file_is_refused_by_the_reader(tmp_path):
    """The one helper that reads a JSON file named on the command line (pyrunc.jsonio)."""
    from pyrunc import jsonio
    from pyrunc.errors import PyruncError
    for what, path in _special(tmp_path).items():
        with pytest.raises(PyruncError) as e:
            jsonio.load_file(path, "--fuzz")
        assert "\n" not in str(e.value), what
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(jsonio.MAX_FILE + 1)
    with pytest.raises(PyruncError, match="larger than"):
        jsonio.load_file(str(big), "--fuzz")
    ok = tmp_path / "ok.json"
    ok.write_text('{"a": [1]}')
    assert jsonio.load_file(str(ok), "--fuzz") == {"a": [1]}
    assert stat.S_ISREG(os.stat(ok).st_mode)


def test_repeated_seccomp_rules_are_compiled_once(monkeypatch):
    """100,000 copies of one rule make the filter one rule makes, and libseccomp is given the
    rule once (each copy used to be merged into the others: minutes). Checked by what reaches
    libseccomp, not by a time limit, which a loaded or emulated machine would miss."""
    import pyrunc.seccomp.compile as sc
    from pyrunc.seccomp import compile_seccomp
    given: list[tuple[int, int]] = []
    distinct = sc._distinct

    def counted(rules, path):
        out = distinct(rules, path)
        given.append((len(rules), len(out)))
        return out
    monkeypatch.setattr(sc, "_distinct", counted)
    one = cases.seccomp_rules(1)
    many = dict(one, syscalls=one["syscalls"] * 100_000)
    assert compile_seccomp(many, cache_dir=None).bpf == compile_seccomp(one, cache_dir=None).bpf
    (n_many, kept_many), (n_one, kept_one) = given
    assert n_many == 100_000 * n_one and kept_many == kept_one == n_one


def test_exec_process_variants(batch, rt, tmp_path):
    """exec --process with the fuzzer's variants of the process section: each fails with
    one line that is no internal error, or runs (`true`) and leaves nothing."""
    good, cid = _created(batch, rt, tmp_path)
    process = dict(good["process"], args=["true"])
    variants = cases.path_variants(process, max(N_VARIANTS // 3, 50), SEED + 1)
    jobs = []
    for i, (name, doc) in enumerate(variants):
        p = tmp_path / f"process-{i}.json"
        p.write_bytes(cases.dumps(doc))
        jobs.append((batch.check, f"exec --process: {name}", ("exec", "--process", p, cid)))
    run_all(batch, jobs)
    rt.ok("delete", "--force", cid)
    batch.report(len(jobs))
