"""Side by side: create and delete -f with and without --systemd-cgroup, pyrunc and runc
(median ms of N rounds each).  Needs systemd as PID 1: run it in the stock-host guest,
`make vm-run CMD='make install && .venv/bin/python tests/bench/systemd_cgroup.py 10'`."""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from conformance.bundle import make_bundle

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10
tmp = tempfile.mkdtemp()
b = make_bundle(tmp, ["sleep", "1000"], cgroups_path="system.slice:bench:x")
def loop(rt, sd):
    root = tempfile.mkdtemp()
    g = ["--root", root] + (["--systemd-cgroup"] if sd else [])
    c, d = [], []
    for i in range(N):
        cid = f"bench{i}"
        path = f"system.slice:bench:{cid}" if sd else f"/bench/{cid}"
        cfg = json.load(open(b / "config.json")); cfg["linux"]["cgroupsPath"] = path
        json.dump(cfg, open(b / "config.json", "w"))
        t = time.perf_counter(); subprocess.run([rt, *g, "create", "--bundle", str(b), cid], check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL); c.append(time.perf_counter() - t)
        t = time.perf_counter(); subprocess.run([rt, *g, "delete", "-f", cid], check=True); d.append(time.perf_counter() - t)
    return statistics.median(c) * 1000, statistics.median(d) * 1000
res = {}
for rt in ("pyrunc", "/usr/sbin/runc"):
    for sd in (False, True):
        res[(rt, sd)] = loop(rt, sd)
        print(f"{rt:16} systemd={sd!s:5} create {res[(rt, sd)][0]:7.1f} ms  delete {res[(rt, sd)][1]:7.1f} ms", flush=True)
for rt in ("pyrunc", "/usr/sbin/runc"):
    print(f"{rt}: --systemd-cgroup adds {res[(rt, True)][0] - res[(rt, False)][0]:.1f} ms to create, {res[(rt, True)][1] - res[(rt, False)][1]:.1f} ms to delete")
print(f"create with --systemd-cgroup, pyrunc/runc: {res[('pyrunc', True)][0] / res[('/usr/sbin/runc', True)][0]:.2f}x")
