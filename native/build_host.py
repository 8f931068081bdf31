"""Build pyrunc._native, the cffi extension with the host-side calls Python lacks.

Each topic keeps a pair of files in native/host/: NAME.cdef (the declarations Python sees) and
NAME.c (their implementation).  This script joins every pair into one extension, so there is one
compiled module and one place to add a host-side call.  `ffi` is what the package build
(setup.py's cffi_modules) compiles; run as a script (the Makefile) it builds the module into the
checkout's pyrunc/.
"""
from pathlib import Path

import cffi

HERE = Path(__file__).resolve().parent
HOST = HERE / "host"


def make_ffi() -> cffi.FFI:
    ffi = cffi.FFI()
    cdefs = sorted(HOST.glob("*.cdef"))
    ffi.cdef("\n".join(p.read_text() for p in cdefs))
    sources = "\n".join(p.with_suffix(".c").read_text() for p in cdefs)
    ffi.set_source("pyrunc._native", sources, libraries=["seccomp"],
                   extra_compile_args=["-O2", "-Wall"])
    return ffi


ffi = make_ffi()


def build() -> None:
    ffi.compile(tmpdir=str(HERE.parent / "build" / "cffi"), verbose=False)
    # cffi writes the module into tmpdir/pyrunc/; move it next to the package.
    built = HERE.parent / "build" / "cffi" / "pyrunc"
    for so in built.glob("_native*.so"):
        so.replace(HERE.parent / "pyrunc" / so.name)


if __name__ == "__main__":
    build()
