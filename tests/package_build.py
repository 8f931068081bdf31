"""A pip-installed pyrunc made from a clean copy of this tree: used by tests/test_package.py
(does the package work) and `make bench` (what a call of its `pyrunc` command costs)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# What a build leaves in a checkout: a clean copy has none of it.
BUILT = shutil.ignore_patterns(".git", ".venv", "build", "__pycache__", "*.so", "*.pyc",
                               "libexec", ".native-built", "COMMIT", "*.egg-info", "dist")


def run(argv: list) -> None:
    """Run a build step; on failure, raise with the end of what it printed."""
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))}: exit {r.returncode}\n"
                           f"{(r.stdout + r.stderr)[-3000:]}")


def build_wheel(tmp: Path) -> Path:
    """`pip wheel .` of a clean copy in tmp/src, with this venv's setuptools and cffi: no
    index is needed (the guest has none)."""
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=BUILT, symlinks=True)
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-w", tmp / "dist", src])
    (whl,) = (tmp / "dist").glob("*.whl")
    return whl


def install_wheel(whl: Path, venv: Path) -> Path:
    """A fresh venv of Debian's python with the wheel pip-installed (cffi from the index, or
    the guest's wheelhouse); returns its `pyrunc` command."""
    run(["/usr/bin/python3", "-m", "venv", venv])
    run([venv / "bin" / "pip", "install", "-q", "--disable-pip-version-check", whl])
    return venv / "bin" / "pyrunc"
