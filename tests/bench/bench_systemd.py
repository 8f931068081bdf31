"""What `--systemd-cgroup` adds to create, pyrunc against runc's systemd driver (issue 13).

`create` of the same `sleep` bundle with the cgroupfs driver (cgroupsPath /pyrunc-test/...) and
with the systemd one (cgroupsPath system.slice:TOKEN:NAME, so a transient scope unit made over
D-Bus), four players interleaved; `delete` (after kill and the init's exit, as the shim does)
is timed too, since for systemd it stops the unit.  Each systemd create gets a unit name of its
own (the bundle's config.json is rewritten, untimed, before the call): a stopped scope may
linger in systemd for a moment, and a name in use would fail the create.

Needs systemd as PID 1 (/run/systemd/system, sd_booted's test): elsewhere, such as the
development host, it is skipped with that reason (BenchSkip), which is no failure.
"""
from __future__ import annotations

import json
import os

from bench_cases import SLEEP, Player, Sample, _median_diff, column, interleave
from bench_proc import reap_zombies, wait_exit
from bench_report import Row
from bench_session import BenchError, BenchSkip, Runtime, Session

SYSTEMD_FLAG = ("--systemd-cgroup",)


def systemd_booted() -> str | None:
    """None when systemd runs this host, else why the benchmark cannot run."""
    if not os.path.isdir("/run/systemd/system"):
        return "systemd is not PID 1 here (no /run/systemd/system): run it in the guest lane"
    return None


def bench_systemd(s: Session, pyrunc_bin: str, runc_bin: str, runs: int,
                  warmup: int) -> list[Row]:
    why = systemd_booted()
    if why:
        raise BenchSkip(why)
    rts = {"py-fs": s.add("pyrunc-fs", pyrunc_bin),
           "py-sd": s.add("pyrunc-sd", pyrunc_bin, global_args=SYSTEMD_FLAG),
           "runc-fs": s.add("runc-fs", runc_bin),
           "runc-sd": s.add("runc-sd", runc_bin, global_args=SYSTEMD_FLAG)}

    def player(key: str, rt: Runtime) -> Player:
        bundle = rt.bundle("cg", SLEEP)
        cfg_path = os.path.join(bundle, "config.json")

        def fn(tag: str) -> Sample:
            cid = s.new_id(rt, f"cg-{tag}")
            if rt.global_args:
                with open(cfg_path) as f:
                    cfg = json.load(f)
                cfg["linux"]["cgroupsPath"] = f"system.slice:{s.token}:{rt.name}-{tag}"
                with open(cfg_path, "w") as f:
                    json.dump(cfg, f)
            r = rt.call("create", "--bundle", bundle, cid)
            if r.rc != 0:
                rt.teardown(cid)
                raise BenchError(f"{rt.name}: {r.why()}")
            pid = rt.pid(rt.ok("state", cid))
            rt.ok("kill", cid, "KILL")
            wait_exit(pid)
            d = rt.call("delete", cid, timeout=15)
            reap_zombies()
            if d.rc != 0:
                rt.teardown(cid)
                raise BenchError(f"{rt.name} delete: {d.why()}")
            s.untrack(rt, cid)
            return {"create": r.seconds, "delete": d.seconds}
        return key, rt, fn

    got = interleave([player(k, rt) for k, rt in rts.items()], runs, warmup, "systemd")
    c = {k: column(v, "create") for k, v in got.items()}
    d = {k: column(v, "delete") for k, v in got.items()}
    adds = ", ".join(f"{name} {_median_diff(t[a], t[b]) * 1000:+.1f} ms to {what}"
                     for t, what in ((c, "create"), (d, "delete"))
                     for name, a, b in (("pyrunc", "py-sd", "py-fs"),
                                        ("runc", "runc-sd", "runc-fs")))
    return [Row("create, cgroupfs driver", "ms", {"pyrunc": c["py-fs"], "runc": c["runc-fs"]}),
            Row("create --systemd-cgroup", "ms", {"pyrunc": c["py-sd"], "runc": c["runc-sd"]},
                note=f"the systemd driver adds (median of per-round differences): {adds}"),
            Row("delete, cgroupfs driver", "ms", {"pyrunc": d["py-fs"], "runc": d["runc-fs"]}),
            Row("delete --systemd-cgroup", "ms", {"pyrunc": d["py-sd"], "runc": d["runc-sd"]})]
