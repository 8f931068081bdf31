"""pyrunc's config validation and the runtime-spec JSON schema agree (issues 16 and 17).

Both judge the same documents: the fuzzer's variants (tests/fuzz_config_cases.py) of a rich
config and its whole-file cases.  pyrunc's verdict is everything create checks before it
makes anything, run in-process: jsonio.loads, config.Config, planner.check_config, the
seccomp compiler, the cgroup device rules and the resources' checks (queued, never written).

The rule: a document the schema rejects, pyrunc rejects too, with a PyruncError (never
another exception).  pyrunc may be stricter where the schema cannot say what the kernel
needs (STRICTER below); it is more lenient, deliberately and as runc is, only where LENIENT
says.  Both tables are checked case by case, so each exception is a decision, not an
accident of the sample.
"""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Iterator

import pytest

import fuzz_config_cases as cases
from conformance.bundle import CGROUP_PARENT, copy_rootfs
from conformance.schema import _validator

from pyrunc import jsonio
from pyrunc.config import Config
from pyrunc.errors import PyruncError

N_VARIANTS = int(os.environ.get("FUZZ_SCHEMA_VARIANTS", "3000"))


PROBE = f"{CGROUP_PARENT}/schema-probe"


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Iterator[tuple[dict, str]]:
    tmp = tmp_path_factory.mktemp("schema")
    rootfs = str(copy_rootfs(tmp / "rootfs"))
    (tmp / "share").mkdir()
    # The probe cgroup pyrunc_error checks resources against exists, as a container's would:
    # on cgroup v2 which controllers it offers is its parents' state (they enable them when a
    # cgroup below them is created), which is the host's, not the config's.
    from pyrunc.cgroups import Cgroup
    probe = Cgroup.resolve(PROBE, "probe")
    probe.create()
    try:
        yield cases.rich_config(rootfs, str(tmp / "share")), str(tmp)
    finally:
        probe.destroy()


def schema_errors(doc: object) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in _validator("config-schema.json").iter_errors(doc)]


def pyrunc_error(data: bytes, bundle: str) -> PyruncError | None:
    """The error create would meet before creating anything, or None."""
    from pyrunc.plan.build import check_config
    try:
        try:
            doc = jsonio.loads(data)
        except ValueError as e:
            raise PyruncError(f"config.json: invalid JSON: {e}") from None
        cfg = Config(doc, bundle)
        check_config(cfg)
        if cfg.linux.seccomp is not None:
            from pyrunc.seccomp import compile_seccomp
            compile_seccomp(cfg.linux.seccomp, cache_dir=None)
        from pyrunc.cgroups import devices
        res = cfg.linux.resources
        devices.rules_from_config(res, "linux.resources", cfg.linux.devices)
        if any(k != "devices" for k in res):
            from pyrunc.cgroups import Cgroup, resources, writes
            cg = Cgroup.resolve(PROBE, "probe")  # made by the base fixture; nothing written
            resources.build(writes.WritePlan(cg), res, "linux.resources", updating=False)
    except PyruncError as e:
        return e
    return None


def only_nulls(errors: list[str]) -> bool:
    return all(": None is not of type " in e for e in errors)


# Where pyrunc takes what the schema refuses, as runc does (each checked below).
LENIENT = {
    # Go's decoder reads null as "absent" for every optional member; so does pyrunc.
    "null for an optional member": (("process", "capabilities"), None),
    "null for an optional array": (("mounts", 0, "options"), None),
    "null for an optional integer": (("linux", "resources", "memory", "reservation"), None),
    # runc: "no default action and no syscalls: seccomp disabled"
    "a seccomp object without defaultAction or syscalls": (("linux", "seccomp"), {}),
    # runtime-spec 1.3 made pids.limit optional; the 1.1 schema here still requires it.
    "pids without limit": (("linux", "resources", "pids"), {}),
}

# Where pyrunc refuses what the schema allows: what the schema cannot express.
STRICTER = {
    "uid past 2^31-1 (-1 to setresuid: the process would stay root)":
        (("process", "user", "uid"), 2**32 - 1),
    "a NUL byte in a string that reaches a system call": (("mounts", 0, "source"), "pr\0oc"),
    "a NUL byte in linux.cgroupsPath": (("linux", "cgroupsPath"), f"{CGROUP_PARENT}/a\0b"),
    "a lone surrogate (no system call can take it)": (("process", "args", 0), "\ud800"),
    "an rlimit's soft value above its hard one": (("process", "rlimits", 0, "soft"), 2048),
    "a hook timeout past 2^31-1 ms (a poll cannot wait longer)":
        (("hooks", "poststop", 0, "timeout"), 2**31 // 1000 + 1),
    "a device number past 32 bits (makedev would cut it)":
        (("linux", "devices", 0, "major"), 2**32),
    "an env entry without '='": (("process", "env", 0), "PATH"),
    "a relative mount destination in a 1.0 config": (("mounts", 0, "destination"), "proc"),
}


def _variant(base: dict, path: tuple, value: object) -> dict:
    cfg = copy.deepcopy(base)
    node = cfg
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return cfg


@pytest.mark.parametrize("what", list(LENIENT))
def test_deliberately_lenient(base, what):
    cfg = _variant(base[0], *LENIENT[what])
    assert schema_errors(cfg), f"the schema takes {what}: drop it from LENIENT"
    assert pyrunc_error(cases.dumps(cfg), base[1]) is None


@pytest.mark.parametrize("what", list(STRICTER))
def test_deliberately_stricter(base, what):
    cfg = _variant(base[0], *STRICTER[what])
    assert not schema_errors(cfg), f"the schema refuses {what}: drop it from STRICTER"
    e = pyrunc_error(cases.dumps(cfg), base[1])
    assert e is not None, what


def _lenient_case(cfg: dict, errors: list[str]) -> bool:
    if only_nulls(errors):
        return True
    lx = cfg.get("linux") if isinstance(cfg, dict) else None
    if isinstance(lx, dict):
        sec = lx.get("seccomp")
        if isinstance(sec, dict) and not sec.get("defaultAction") and not sec.get("syscalls"):
            return all(e.startswith("linux/seccomp:") for e in errors)
        pids = (lx.get("resources") or {}).get("pids") if isinstance(lx.get("resources"),
                                                                     dict) else None
        if isinstance(pids, dict) and "limit" not in pids:
            return all(e == "linux/resources/pids: 'limit' is a required property"
                       for e in errors)
    return False


def test_schema_and_pyrunc_agree_on_the_fuzzer_variants(base):
    cfg, bundle = base
    assert not schema_errors(cfg) and pyrunc_error(cases.dumps(cfg), bundle) is None
    disagree = []
    stats = {"both refuse": 0, "both take": 0, "pyrunc stricter": 0, "lenient": 0}
    for name, doc in cases.path_variants(cfg, N_VARIANTS):
        data = cases.dumps(doc)
        errors = schema_errors(json.loads(data))
        try:
            e = pyrunc_error(data, bundle)
        except Exception as x:  # anything else is an internal error of create
            disagree.append(f"{name}: pyrunc raised {type(x).__name__}: {x}")
            continue
        if errors and e is None:
            if _lenient_case(json.loads(data), errors):
                stats["lenient"] += 1
            else:
                disagree.append(f"{name}: the schema refuses ({errors[0]}), pyrunc takes it")
        elif errors:
            stats["both refuse"] += 1
        else:
            stats["pyrunc stricter" if e is not None else "both take"] += 1
    assert not disagree, f"{len(disagree)} disagreements ({stats}):\n  " + "\n  ".join(
        disagree[:50])
    assert stats["both refuse"] > N_VARIANTS // 3, stats  # the sample does test something


def test_schema_and_pyrunc_agree_on_whole_files(base):
    cfg, bundle = base
    disagree = []
    for name, data in cases.file_variants(cfg):
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            doc = None  # no JSON for Python's parser either: pyrunc must refuse it
        errors = ["not JSON"] if doc is None else schema_errors(doc)
        e = pyrunc_error(data, bundle)
        if errors and e is None:
            disagree.append(f"{name}: the schema refuses ({errors[0]}), pyrunc takes it")
    assert not disagree, "\n  ".join(disagree)


def test_the_schemas_are_the_ones_in_the_repo():
    assert (Path(__file__).resolve().parent.parent / "spec" / "schema"
            / "config-schema.json").is_file()
