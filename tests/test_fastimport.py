"""pyrunc.install_fast_imports, the CLI's loader for pyrunc's own modules: it must give the modules
importlib would (same attributes, same errors), use a .pyc only while it is current for its
source, and step aside for -X importtime.  Each check runs in a fresh interpreter, as the CLI
does, since install() replaces builtins.__import__ for the whole process."""
from __future__ import annotations

import compileall
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run_python(code: str, *xopts: str) -> str:
    """Run ``code`` in a fresh `python -I -S` with the repository importable; its stdout."""
    prog = f"import sys\nsys.path[0:0] = [{str(REPO)!r}]\n" + textwrap.dedent(code)
    r = subprocess.run([sys.executable, "-I", "-S", *xopts, "-c", prog],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def make_package(root: Path) -> Path:
    pkg = root / "fipkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("NAME = 'fipkg'\n")
    (pkg / "a.py").write_text("from fipkg import b\nVALUE = b.VALUE + 1\n")
    (pkg / "b.py").write_text("VALUE = 41\n")
    (pkg / "boom.py").write_text("raise RuntimeError('boom at import')\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "leaf.py").write_text("import fipkg.b\nLEAF = fipkg.b.VALUE\n")
    assert compileall.compile_dir(str(pkg), quiet=1)
    return pkg


def test_modules_come_from_the_fast_path_with_importlibs_attributes(tmp_path):
    pkg = make_package(tmp_path)
    out = run_python(f"""
        sys.path.insert(0, {str(tmp_path)!r})
        import fipkg  # the package itself comes from importlib, as pyrunc's does in the launcher
        import pyrunc
        pyrunc.install_fast_imports("fipkg", {str(pkg)!r})
        from fipkg import a
        import fipkg.sub.leaf
        from fipkg.sub import leaf
        for m in (a, fipkg.b, fipkg.sub, leaf):
            print(m.__name__, m.__spec__.loader_state, m.__file__, m.__cached__, m.__package__,
                  getattr(m, "__path__", None), m.__loader__.path == m.__file__)
        print(a.VALUE, leaf.LEAF, fipkg.sub.leaf is leaf, fipkg.a is a)
        try:
            import fipkg.boom
        except RuntimeError as e:
            print("raised", e, "fipkg.boom" in sys.modules)
        try:
            from fipkg import nothing
        except ImportError as e:
            print("ImportError", e.name)
        import json  # not the package's: importlib as ever
        print(json.__spec__.loader_state)
        sys.modules["fipkg.blocked"] = None  # importlib's way to make an import fail
        try:
            import fipkg.blocked
        except ImportError as e:
            print("blocked", e.name)
    """).splitlines()
    p = str(pkg)
    tag = sys.implementation.cache_tag
    assert out[0] == f"fipkg.a fastimport {p}/a.py {p}/__pycache__/a.{tag}.pyc fipkg None True"
    assert out[1].startswith(f"fipkg.b fastimport {p}/b.py ")
    assert out[2] == (f"fipkg.sub fastimport {p}/sub/__init__.py "
                      f"{p}/sub/__pycache__/__init__.{tag}.pyc "
                      f"fipkg.sub ['{p}/sub'] True")
    assert out[3].startswith(f"fipkg.sub.leaf fastimport {p}/sub/leaf.py ")
    assert out[4] == "42 41 True True"
    assert out[5] == "raised boom at import False"
    assert out[6] == "ImportError fipkg"
    assert out[7] == "None"
    assert out[8] == "blocked fipkg.blocked"


def test_a_stale_or_missing_pyc_goes_to_importlib(tmp_path):
    pkg = make_package(tmp_path)
    (pkg / "b.py").write_text("VALUE = 1000\n")  # newer than its .pyc, and longer
    (pkg / "__pycache__" / f"a.{sys.implementation.cache_tag}.pyc").unlink()
    out = run_python(f"""
        sys.path.insert(0, {str(tmp_path)!r})
        import fipkg
        import pyrunc
        pyrunc.install_fast_imports("fipkg", {str(pkg)!r})
        from fipkg import a, b
        print(a.VALUE, a.__spec__.loader_state, b.__spec__.loader_state)
    """)
    assert out.split() == ["1001", "None", "None"]
    # importlib rewrote both .pyc files: the next call loads them on the fast path again
    out = run_python(f"""
        sys.path.insert(0, {str(tmp_path)!r})
        import fipkg
        import pyrunc
        pyrunc.install_fast_imports("fipkg", {str(pkg)!r})
        from fipkg import a
        print(a.VALUE, a.__spec__.loader_state, fipkg.b.__spec__.loader_state)
    """)
    assert out.split() == ["1001", "fastimport", "fastimport"]


def test_the_cli_modules_load_on_the_fast_path_and_importtime_sees_them_all():
    assert compileall.compile_dir(str(REPO / "pyrunc"), quiet=1)  # as `make launcher` does
    code = """
        import pyrunc
        pyrunc.install_fast_imports()
        from pyrunc import cli, container, state
        from pyrunc.commands import exec  # exec: a name the package shadows
        import pyrunc.cgroups.writes
        print(*(m.__spec__.loader_state for m in (cli, container, exec, state,
                                                  pyrunc.cgroups.writes, pyrunc.commands)))
    """
    assert run_python(code).split() == ["fastimport"] * 6
    assert run_python(code, "-X", "importtime").split() == ["None"] * 6
