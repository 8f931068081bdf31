"""The package build (issue 17): a clean copy of the tree gives a platform wheel carrying the
cffi extension and the container init, and a fresh venv's pip install of it runs a container."""
from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from conformance.fixtures import Runtime
from tests.package_build import build_wheel, install_wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("package"))


def test_the_wheel_is_a_platform_wheel_with_the_native_parts(wheel):
    assert wheel.name.endswith("-linux_x86_64.whl"), wheel.name
    z = zipfile.ZipFile(wheel)
    names = z.namelist()
    assert "pyrunc/libexec/pyrunc-init" in names
    assert any(n.startswith("pyrunc/_native") and n.endswith(".so") for n in names)
    assert not any(n.startswith(("tests/", "conformance/", "native/")) for n in names)
    assert (z.getinfo("pyrunc/libexec/pyrunc-init").external_attr >> 16) & 0o111


def test_a_pip_installed_pyrunc_runs_a_container(wheel, tmp_path, state_root):
    """Installed into a fresh venv, pyrunc finds its init inside the package (the copy it
    was built from is not on its path) and runs a container."""
    venv = tmp_path / "venv"
    pyrunc = install_wheel(wheel, venv)
    where = subprocess.run([venv / "bin" / "python", "-c", "import pyrunc; print(pyrunc.__file__)"],
                           check=True, capture_output=True, text=True, cwd="/").stdout
    assert where.startswith(str(venv)), where
    with open(pyrunc, "rb") as f:  # native/launcher: not pip's wrapper script
        assert f.read(4) == b"\x7fELF"
    r = subprocess.run([pyrunc, "--version"], capture_output=True, text=True,
                       env={"PYTHONVERBOSE": "1", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0 and "import" not in r.stderr  # -I: no PYTHON* variable counts
    rt = Runtime(str(pyrunc), state_root, tmp_path)
    try:
        cid = rt.new_id()
        b = rt.bundle(["sh", "-c", "echo hello from $(hostname)"])
        r = rt("run", "--bundle", b, cid)
        assert r.returncode == 0 and r.stdout.startswith("hello from"), r.stderr
        assert rt("state", cid).returncode != 0  # run removed it
    finally:
        problems = rt.cleanup()
    assert not problems, problems
