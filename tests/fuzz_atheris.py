"""`make fuzz`: coverage-guided fuzzing (atheris) of config loading and planning, in-process.

Each input either is a config.json as raw bytes, or (mostly) steers up to four edits of one of
two rich configs (tests/fuzz_config_cases.py; one with a user namespace): which JSON path,
and what to put there (any JSON type, edge integers, spec words such as capability names,
syscall names and mount options, text from the input).  The edited document goes through
what create runs before it makes anything: jsonio.loads, config.Config,
planner.Planner(...).build(), Plan.encode(), the seccomp compiler, the cgroup device rules
and the resources' checks (queued on a plan that is never run).

A PyruncError is the expected end of a bad input; any other exception is a bug, reported by
libFuzzer with the input that caused it (crash-* in the working directory).  Run as
`python tests/fuzz_atheris.py -max_total_time=60 CORPUS_DIR` (see the Makefile).
"""
from __future__ import annotations

import copy
import json
import os
import sys
import tempfile

import atheris

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)),
                os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]

with atheris.instrument_imports(include=["pyrunc"]):
    from pyrunc import jsonio, log
    from pyrunc.cgroups import Cgroup, devices, resources, writes
    from pyrunc.config import Config
    from pyrunc.errors import PyruncError
    from pyrunc.plan import InitFds
    from pyrunc.plan.build import Planner
    from pyrunc.seccomp import compile_seccomp

import fuzz_config_cases as cases  # noqa: E402
from conformance.bundle import CGROUP_PARENT  # noqa: E402

WORDS = ["CAP_KILL", "CAP_SYS_ADMIN", "SCMP_ACT_ERRNO", "SCMP_ACT_ALLOW", "SCMP_ACT_NOTIFY",
         "SCMP_ACT_KILL_PROCESS", "SCMP_CMP_MASKED_EQ", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64",
         "SECCOMP_FILTER_FLAG_LOG", "SCHED_FIFO", "SCHED_DEADLINE", "SCHED_FLAG_RECLAIM",
         "IOPRIO_CLASS_RT", "LINUX32", "RLIMIT_NPROC", "bind", "rbind", "ro", "rw", "nosuid",
         "idmap", "ridmap", "rro", "tmpcopyup", "private", "rshared", "proc", "sysfs",
         "tmpfs", "cgroup", "devpts", "user", "pid", "mount", "network", "time", "cgroup",
         "/proc", "/proc/sys/kernel", "/sys", "/dev", "/dev/null", "/", ".", "..", "a/../..",
         "0-3,7", "1-0", "net.ipv4.ip_forward", "kernel.shm_rmid_forced", "fs.mqueue.x",
         "c", "b", "u", "p", "a", "rwm", "1.3.0", "1.0.0-rc1", "2.0.0", "max", "1G",
         "monotonic", "boottime", "read", "personality", "clone3", "memory", "cpu"]
INTS = [0, 1, -1, 2, 5, 6, 7, 8, 99, 100, 1000, 1001, 4096, 65536, 2**31 - 1, 2**31,
        2**32 - 1, 2**32, 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1]


def _bases() -> list[dict]:
    tmp = tempfile.mkdtemp(prefix="pyrunc-fuzz-")
    os.makedirs(f"{tmp}/rootfs/bin")
    os.makedirs(f"{tmp}/share")
    plain = cases.rich_config(f"{tmp}/rootfs", f"{tmp}/share")
    userns = copy.deepcopy(plain)
    userns["linux"]["namespaces"].append({"type": "user"})
    for key in ("uidMappings", "gidMappings"):
        userns["linux"][key] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    return [plain, userns]


log.configure("/dev/null", "text", False)  # warnings (unknown capabilities...) are no finding
BASES = _bases()
BUNDLE = os.path.dirname(BASES[0]["root"]["path"])
CGROUP = Cgroup.resolve(f"{CGROUP_PARENT}/fuzz-atheris", "fuzz")  # resolved once, never made


def value(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> object:
    kind = fdp.ConsumeIntInRange(0, 11)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return INTS[fdp.ConsumeIntInRange(0, len(INTS) - 1)]
    if kind == 3:
        return fdp.ConsumeInt(9)
    if kind == 4:
        return fdp.ConsumeRegularFloat()
    if kind == 5:
        return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 24))
    if kind in (6, 7):
        return WORDS[fdp.ConsumeIntInRange(0, len(WORDS) - 1)]
    if kind == 8:
        return copy.deepcopy(cases.VALUES[fdp.ConsumeIntInRange(0, len(cases.VALUES) - 1)])
    if kind == 9 and depth < 3:
        return [value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    if kind == 10 and depth < 3:
        return {(WORDS[fdp.ConsumeIntInRange(0, len(WORDS) - 1)] if fdp.ConsumeBool()
                 else fdp.ConsumeUnicode(6)): value(fdp, depth + 1)
                for _ in range(fdp.ConsumeIntInRange(0, 3))}
    return fdp.ConsumeIntInRange(-2, 300)


def document(data: bytes) -> bytes:
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeIntInRange(0, 7) == 0:
        return fdp.ConsumeBytes(fdp.remaining_bytes())
    cfg = copy.deepcopy(BASES[fdp.ConsumeIntInRange(0, len(BASES) - 1)])
    for _ in range(fdp.ConsumeIntInRange(1, 4)):
        paths = list(cases.paths(cfg))[1:]
        path = paths[fdp.ConsumeIntInRange(0, len(paths) - 1)]
        node = cfg
        for k in path[:-1]:
            node = node[k]
        how = fdp.ConsumeIntInRange(0, 9)
        if how == 0:
            del node[path[-1]]
        elif how == 1 and isinstance(node[path[-1]], list):
            node[path[-1]].append(value(fdp))
        elif how == 2 and isinstance(node[path[-1]], dict):
            node[path[-1]][WORDS[fdp.ConsumeIntInRange(0, len(WORDS) - 1)]] = value(fdp)
        else:
            node[path[-1]] = value(fdp)
    return json.dumps(cfg).encode()


def check(data: bytes) -> None:
    """What create checks before it makes anything; a PyruncError ends it."""
    try:
        doc = jsonio.loads(data)
    except ValueError:
        return
    cfg = Config(doc, BUNDLE)
    seccomp = None
    if cfg.linux.seccomp is not None:
        seccomp = compile_seccomp(cfg.linux.seccomp, cache_dir=None)
    Planner(cfg, InitFds(0, ["fifo"]), seccomp=seccomp, container_id="fuzz",
            cgroup_join=CGROUP.join_ops()).build().encode()
    res = cfg.linux.resources
    devices.rules_from_config(res, "linux.resources", cfg.linux.devices)
    if any(k != "devices" for k in res):
        resources.build(writes.WritePlan(CGROUP), res, "linux.resources", updating=False)


def TestOneInput(data: bytes) -> None:
    doc = document(data)
    try:
        check(doc)
    except PyruncError:
        pass
    except Exception:
        sys.stderr.write(f"input document: {doc[:2000]!r}\n")
        raise


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
