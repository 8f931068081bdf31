"""Helpers for the CVE-shaped tests in tests/security: static helpers compiled by the test, the
host's mount table, snapshots of host directories the tests own, and running a container whose
create a safe runtime may refuse."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any, Callable

from conformance.bundle import read_config
from conformance.fixtures import COMMAND_TIMEOUT
from conformance.leftovers import _unescape

UNTOUCHED = "untouched\n"


def compile_static(tmp_path: Path, name: str, source: str, dest: Path) -> Path:
    """gcc -static `source` into `dest` (a path in a rootfs, or on the host)."""
    src = tmp_path / f"{name}.c"
    src.write_text(source)
    subprocess.run(["gcc", "-static", "-Os", "-o", str(dest), str(src)], check=True,
                   timeout=120)
    return dest


def host_mount_points() -> list[str]:
    """Every mount point in the host's (this process') mount namespace, in table order."""
    with open("/proc/self/mountinfo") as f:
        return [_unescape(line.split()[4]) for line in f if len(line.split()) > 4]


def new_mounts(before: list[str], *places: Path) -> list[str]:
    """Mount points now in the host's table at or under any of `places` that `before` lacked
    (a count per path: a second mount stacked on an existing one counts too)."""
    prefixes = [str(p) for p in places] + [os.path.realpath(p) for p in places]
    now = host_mount_points()
    left = list(before)
    out = []
    for m in now:
        if m in left:
            left.remove(m)
        elif any(m == p or m.startswith(p.rstrip("/") + "/") for p in prefixes):
            out.append(m)
    return out


def marker_dir(path: Path, files: dict[str, str] | None = None) -> Path:
    """A host directory of the test's with known contents (default: one file `file`)."""
    path.mkdir(parents=True)
    for name, text in (files or {"file": UNTOUCHED}).items():
        (path / name).write_text(text)
    return path


def snapshot(path: Path) -> dict[str, Any]:
    """What a host directory holds (names, file contents, link targets, modes), without
    following symlinks: two equal snapshots mean nothing was added, removed or changed."""
    out: dict[str, Any] = {}
    st = os.lstat(path)
    out["."] = (st.st_mode, st.st_uid)
    for dirpath, dirnames, filenames in os.walk(path):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, path)
            st = os.lstat(p)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    out[rel] = ("file", st.st_mode, f.read())
            else:
                out[rel] = ("other", st.st_mode)
    return out


def core_pattern() -> str:
    """The host's kernel.core_pattern (never written by these tests: read before and after)."""
    with open("/proc/sys/kernel/core_pattern") as f:
        return f.read()


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run_or_refused(rt, bundle: Path, out: Path, timeout: float = COMMAND_TIMEOUT,
                   while_created: Callable[[], Any] | None = None) -> tuple[str | None, str]:
    """create + start + wait + delete a container whose process writes `out` (a host path,
    e.g. in rt.share); (None, stderr) if the runtime refused to create it, else (what the
    container wrote, "").  A refused create must leave no container behind.
    `while_created()` runs between create and start (e.g. to look at the host's mounts)."""
    cid = rt.new_id()
    r = rt("create", "--bundle", bundle, cid, timeout=timeout)
    if r.returncode != 0:
        assert rt("state", cid).returncode != 0, "a refused container is still known"
        return None, r.stderr
    if while_created is not None:
        while_created()
    rt.ok("start", cid)
    rt.wait_stopped(cid)
    rt.ok("delete", cid)
    assert out.exists(), f"the container did not write {out}"
    return out.read_text(), ""


def edit_config(bundle: Path, edit: Callable[[dict[str, Any]], Any]) -> None:
    """Change a bundle's config.json in place (one rootfs copy serves several containers: a
    copy costs ~0.5 s here)."""
    cfg = read_config(bundle)
    edit(cfg)
    (bundle / "config.json").write_text(json.dumps(cfg, indent=2))


def script_bundle(rt, script: str, out_name: str,
                  edit: Callable[[dict[str, Any]], Any] | None = None,
                  prepare: Callable[[Path], Any] | None = None, **kw: Any) -> tuple[Path, Path]:
    """A bundle running `sh -c script` with stdout+stderr to /share/out_name; returns the
    bundle and the host path of that output."""
    b = rt.bundle(["sh", "-c", f"exec >/share/{out_name} 2>&1\n{script}"], edit, share=True,
                  **kw)
    if prepare is not None:
        prepare(b)
    return b, rt.share / out_name


SWAPPER_C = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = atol(argv[3]);
    struct timespec rest = { 0, 100000 };  /* 100 us in the starting arrangement */
    for (long i = 0; i < n && access("/share/stop", F_OK) != 0; i++) {
        renameat2(AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE);  /* the attack */
        renameat2(AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE);  /* and back */
        nanosleep(&rest, NULL);
    }
    return 0;
}
"""
SWAPS = 200_000_000  # an upper bound only: the test stops the swapper by /share/stop


class Swapper:
    """A container that exchanges two of its paths (renameat2 RENAME_EXCHANGE) in a tight
    loop, a static helper compiled by the test, until `stop()`: the racing half of a
    symlink-exchange attack on a directory it shares with another container.  Each attack is
    an exchange and its undo, then 100 us in the starting arrangement: with the two states
    held equally long, a create whose eight mounts must all miss the swapped state ran one
    time in 256 (none of 40 did in the guest under TCG), and the race proved nothing."""

    def __init__(self, rt, tmp_path: Path, a: str, b: str,
                 edit: Callable[[dict[str, Any]], Any]) -> None:
        self.rt = rt
        bundle = rt.bundle(["/bin/swapper", a, b, str(SWAPS)], edit, share=True)
        compile_static(tmp_path, "swapper", SWAPPER_C, bundle / "rootfs/bin/swapper")
        self.cid = rt.create(bundle)
        rt.ok("start", self.cid)

    def stop(self) -> None:
        (self.rt.share / "stop").write_text("")
        self.rt.wait_stopped(self.cid)
        self.rt.ok("delete", self.cid)


def race_creates(rt, tmp_path: Path, swap: tuple[str, str],
                 swapper_edit: Callable[[dict[str, Any]], Any], bundle: Path, out: Path,
                 creates: int, check: Callable[[int, str | None], Any],
                 while_created: Callable[[int], Any] | None = None) -> None:
    """Create (and run) `bundle` `creates` times while a Swapper container exchanges the two
    paths `swap`; check(n, text) after each (text None where the create was refused).  At
    least one create must have run a container, or the race proved nothing: while none has,
    up to four times as many creates are tried (a loaded machine lets the swapper win more)."""
    ran = 0
    swapper = Swapper(rt, tmp_path, *swap, swapper_edit)
    try:
        n = 0
        while n < creates or (not ran and n < 4 * creates):
            n += 1
            out.unlink(missing_ok=True)
            text, _err = run_or_refused(
                rt, bundle, out,
                while_created=None if while_created is None else lambda: while_created(n))
            ran += text is not None
            check(n, text)
    finally:
        swapper.stop()
    assert ran, "every create was refused: the race never ran a container"
