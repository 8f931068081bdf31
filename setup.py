"""The package build: `pip install .`, `pip wheel .` (metadata in pyproject.toml).

Besides the Python package, a wheel carries the two native parts, built by the same scripts the
Makefile runs: the cffi extension pyrunc._native (cffi_modules, native/build_host.py) and the
static container init pyrunc/libexec/pyrunc-init (native/build_init.py), so a pip-installed
pyrunc finds its init inside the package, never in a checkout.  The extension makes the wheel a
platform wheel (linux_x86_64).
"""
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithInit(build_py):
    """build_py, plus pyrunc-init compiled into the built package's libexec/."""

    def run(self) -> None:
        super().run()
        out = Path(self.build_lib) / "pyrunc" / "libexec" / "pyrunc-init"
        build_dir = Path(self.get_finalized_command("build").build_temp) / "pyrunc-init"
        subprocess.run([sys.executable, str(HERE / "native" / "build_init.py"), str(out),
                        str(build_dir)], check=True)


setup(cmdclass={"build_py": BuildPyWithInit}, cffi_modules=["native/build_host.py:ffi"])
