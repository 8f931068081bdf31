"""The package build: `pip install .`, `pip wheel .` (metadata in pyproject.toml).

Besides the Python package, a wheel carries the native parts, built by the same scripts the
Makefile runs: the cffi extension pyrunc._native (cffi_modules, native/build_host.py) and the
static container init pyrunc/libexec/pyrunc-init (native/build_init.py), so a pip-installed
pyrunc finds its init inside the package, never in a checkout.  The extension makes the wheel a
platform wheel (linux_x86_64).

The `pyrunc` command is not one of pip's console scripts (its wrapper imports re, and pip starts
it without -I -S: milliseconds on every call) but native/launcher/launcher.c, built here into
the wheel's scripts: one exec of a small static binary that starts the venv's python -I -S.
"""
import subprocess
import sys
import sysconfig
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from distutils.command.build_scripts import build_scripts  # setuptools provides distutils

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "native"))
from build_init import compile_static  # noqa: E402


class BuildPyWithInit(build_py):
    """build_py, plus pyrunc-init compiled into the built package's libexec/, and the commit
    the tree is at (where it is a git checkout)."""

    def run(self) -> None:
        super().run()
        out = Path(self.build_lib) / "pyrunc" / "libexec" / "pyrunc-init"
        build_dir = Path(self.get_finalized_command("build").build_temp) / "pyrunc-init"
        subprocess.run([sys.executable, str(HERE / "native" / "build_init.py"), str(out),
                        str(build_dir)], check=True)
        # `pyrunc --version` prints "commit: ..." as runc does (dockerd parses it).
        git = subprocess.run(["git", "-C", str(HERE), "rev-parse", "HEAD"], capture_output=True,
                             text=True)
        if git.returncode == 0:
            (out.parent.parent / "COMMIT").write_text(git.stdout)


class BuildLauncher(build_scripts):
    """The one script, `pyrunc`, compiled from native/launcher/launcher.c (not copied)."""

    def run(self) -> None:
        purelib = Path(sysconfig.get_path("purelib", "venv" if "venv" in
                                          sysconfig.get_scheme_names() else "posix_prefix",
                                          vars={"base": "/B", "platbase": "/B"}))
        rel = str(purelib.relative_to("/B"))
        build_dir = Path(self.get_finalized_command("build").build_temp) / "launcher"
        compile_static(Path(self.build_dir) / "pyrunc", [str(HERE / "native" / "launcher" /
                                                             "launcher.c")],
                       build_dir, f'-DPURELIB_REL="{rel}"')


setup(cmdclass={"build_py": BuildPyWithInit, "build_scripts": BuildLauncher},
      cffi_modules=["native/build_host.py:ffi"], scripts=["native/launcher/launcher.c"])
