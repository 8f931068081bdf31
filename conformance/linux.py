"""Helpers for config-linux.md checks (conformance/test_config_linux_*.py and
tests/test_linux_*.py): run a script in a container built from an edited config, optionally
user-namespaced, and read back what it printed; parse mountinfo with propagation fields."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

RUNC_LACKS = "runc 1.1.5 does not implement "


def skip_on_runc(runtime: str, feature: str) -> None:
    """Skip when the runtime under test is runc (1.1.5 here), which lacks `feature`."""
    if os.path.basename(runtime) == "runc":
        pytest.skip(RUNC_LACKS + feature)

USERNS_HOST_ID = 100000
USERNS_SIZE = 65536


def add_userns(cfg: dict[str, Any], host_id: int = USERNS_HOST_ID) -> None:
    """A new user namespace mapping container 0..65535 to host_id.. (uid and gid)."""
    cfg["linux"]["namespaces"].append({"type": "user"})
    cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": host_id, "size": USERNS_SIZE}]
    cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": host_id, "size": USERNS_SIZE}]


def open_path_to(path: Path) -> list[tuple[Path, int]]:
    """Let everyone search the directories above `path` (the mapped root of a user namespace
    must walk to the rootfs, as with runc); returns what to restore."""
    changed = []
    for d in [path, *path.parents]:
        mode = d.stat().st_mode & 0o7777
        if mode & 0o001 == 0:
            os.chmod(d, mode | 0o011)
            changed.append((d, mode))
    return changed


def restore_modes(changed: list[tuple[Path, int]]) -> None:
    for d, mode in changed:
        os.chmod(d, mode)


def chown_tree(root: Path, uid: int, gid: int) -> None:
    """chown -R without following symlinks."""
    os.lchown(root, uid, gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            os.lchown(os.path.join(dirpath, n), uid, gid)


def run_script(rt, script: str, edit: Callable[[dict[str, Any]], Any] | None = None, *,
               userns: bool = False, prepare: Callable[[Path], Any] | None = None,
               **kw: Any) -> str:
    """Run `sh -c script` to completion in a fresh container; return its stdout+stderr.

    userns=True adds a user namespace (0 -> 100000, 65536 ids) and chowns the rootfs copy to
    match.  prepare(bundle) may change the bundle (rootfs contents) before create."""
    name = f"out-{rt.new_id()}"

    def full_edit(cfg):
        if userns:
            add_userns(cfg)
        if edit is not None:
            r = edit(cfg)
            return r if isinstance(r, dict) else cfg
        return cfg

    b = rt.bundle(["sh", "-c", f"exec >/share/{name} 2>&1\n{script}"], full_edit, share=True,
                  **kw)
    if userns:
        chown_tree(b / "rootfs", USERNS_HOST_ID, USERNS_HOST_ID)
    if prepare is not None:
        prepare(b)
    rt.run_to_exit(b)
    out = rt.share / name
    assert out.exists(), f"the container did not write {out}"
    return out.read_text()


def create_fails(rt, edit: Callable[[dict[str, Any]], Any] | None = None, *,
                 prepare: Callable[[Path], Any] | None = None, args: list[str] | None = None,
                 **kw: Any):
    """`create` a container from an edited config that must be refused; return the result
    (the rt fixture then checks that nothing was left behind)."""
    b = rt.bundle(args or ["true"], edit, **kw)
    if prepare is not None:
        prepare(b)
    cid = rt.new_id()
    r = rt("create", "--bundle", b, cid)
    assert r.returncode != 0, f"create succeeded: {r.stdout} {r.stderr}"
    assert rt("state", cid).returncode != 0, "a refused container is still known"
    return r


class MountLine:
    """One /proc/self/mountinfo line, with the optional (propagation) fields kept."""

    def __init__(self, line: str) -> None:
        f = line.split()
        sep = f.index("-")
        self.root = f[3]  # the directory of the filesystem that is mounted there
        self.mount_point = f[4]
        self.options = set(f[5].split(","))
        self.optional = f[6:sep]
        self.fstype = f[sep + 1]
        self.source = f[sep + 2]
        self.super_options = set(f[sep + 3].split(","))

    @property
    def propagation(self) -> set[str]:
        """{"shared", "master", "unbindable"} as present (private: empty)."""
        return {o.split(":")[0] for o in self.optional}


def mountinfo(text: str) -> dict[str, MountLine]:
    """The mount visible at each mount point in mountinfo `text` (the last one wins)."""
    out = {}
    for line in text.splitlines():
        if " - " in line:
            m = MountLine(line)
            out[m.mount_point] = m
    return out


def proc_edit(**fields: Any) -> Callable[[dict[str, Any]], None]:
    """A config edit that updates `process` with ``fields``."""
    def edit(cfg: dict[str, Any]) -> None:
        cfg["process"].update(fields)
    return edit


def searchable(tmp_path: Path) -> Iterator[None]:
    """For an autouse fixture: the mapped root of a user namespace must be able to walk to the
    rootfs in tmp_path (runc needs it too); the modes are restored afterwards."""
    changed = open_path_to(tmp_path)
    yield
    restore_modes(changed)


@pytest.fixture
def host_tree(tmp_path: Path) -> Iterator[Path]:
    """A host directory with a file and a private submount holding `inner` (for bind vs
    rbind, ro vs rro); the submount is unmounted afterwards.  The submount is a bind of
    another directory, not a tmpfs: tmpfs takes id-mapped mounts only since Linux 6.3, the
    filesystem below tmp_path (ext4 on Debian) since 5.12."""
    top = tmp_path / "hosttree"
    (top / "sub").mkdir(parents=True)
    (top / "file").write_text("top\n")
    src = tmp_path / "hosttree-sub"
    src.mkdir()
    (src / "inner").write_text("inner\n")
    subprocess.run(["mount", "--bind", str(src), str(top / "sub")], check=True)
    subprocess.run(["mount", "--make-private", str(top / "sub")], check=True)
    yield top
    subprocess.run(["umount", "-l", str(top / "sub")], check=False)
