"""Build pyrunc-init, the container-side C program, into the path given on the command line
(and, for setup.py, any other static helper: compile_static).

One recipe for both ways pyrunc is built: the Makefile's `native` target (in the checkout) and the
package build (setup.py, for `pip install .` / `pip wheel .`), so the two cannot drift apart.

The init is linked statically: it runs inside the container, where no host library may be
loaded.  musl-gcc is used where it is installed (95 KB instead of glibc's 720 KB, so copying it
into the memfd and exec'ing it costs ~1 ms less on every create and exec); it leaves out
/usr/include, so the kernel's uapi headers are offered alone, from a directory of three symlinks.
Without musl, gcc links it statically against glibc (libc6-dev ships libc.a).

Usage: python native/build_init.py OUTPUT [BUILD_DIR]
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FLAGS = ["-static", "-Os", "-Wall", "-Wextra", "-Werror"]


def plan_header(build: Path) -> Path:
    """plan_ops.h, generated from pyrunc.plan (the plan's one definition)."""
    sys.path.insert(0, str(REPO))
    try:
        from pyrunc.plan import c_header
    finally:
        sys.path.remove(str(REPO))
    header = build / "plan_ops.h"
    text = c_header()
    if not header.exists() or header.read_text() != text:  # keep make's timestamps honest
        header.write_text(text)
    return header


def kernel_include(build: Path) -> Path:
    """The kernel's uapi headers, alone (musl-gcc must not see glibc's /usr/include)."""
    kinc = build / "kernel-include"
    kinc.mkdir(parents=True, exist_ok=True)
    multiarch = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True,
                               check=True).stdout.strip()
    for name, target in (("linux", "/usr/include/linux"),
                         ("asm-generic", "/usr/include/asm-generic"),
                         ("asm", f"/usr/include/{multiarch}/asm")):
        link = kinc / name
        if os.path.islink(link) and os.readlink(link) == target:
            continue
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    return kinc


def compile_static(output: Path, sources: list[str], build_dir: Path, *flags: str) -> None:
    """Compile and link `sources` statically into `output` (stripped, mode 0755)."""
    if shutil.which("musl-gcc"):
        cmd = ["musl-gcc", *FLAGS, *flags, "-isystem", str(kernel_include(build_dir))]
    else:
        cmd = ["gcc", *FLAGS, *flags]
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    subprocess.run([*cmd, "-o", str(tmp), *sources], check=True)
    subprocess.run(["strip", str(tmp)], check=True)
    tmp.chmod(0o755)
    tmp.replace(output)


def build(output: Path, build_dir: Path) -> None:
    build_dir.mkdir(parents=True, exist_ok=True)
    plan_header(build_dir)
    sources = sorted(str(p) for p in (HERE / "init").glob("*.c"))
    compile_static(output, sources, build_dir, "-I", str(build_dir), "-I", str(HERE / "init"))


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.rsplit("Usage: ", 1)[1])
    build(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) == 3 else REPO / "build")
