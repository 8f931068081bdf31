"""The lifecycle of runtime-spec runtime.md after create: start, kill, delete.

create lives in commands/create.py: start, kill and delete, one CLI call each, do not load its
code.  A SIGKILL of pyrunc at any moment leaves something `delete -f` cleans (see
commands/create.py for the order that guarantees it); destroy is that cleaning.
"""

from pyrunc import fastos as os  # os without its import cost (see fastos)
import time

from pyrunc.errors import PyruncError
from pyrunc.state import State, Store

SIGKILL = 9


def start(store: Store, cid: str) -> State:
    """Let the created container's process exec (runtime.md#start)."""
    st = store.load(cid)
    notify_sock = None
    try:
        status = st.status()
        if status != "created":
            if status == "stopped":
                raise PyruncError("cannot start a container that has stopped")
            raise PyruncError(f"cannot start an already {status} container")
        hooks_cfg = _state_hooks(st)
        if os.environ.get("NOTIFY_SOCKET"):
            from pyrunc.host import notify
            notify_sock = notify.bind(st.dir)  # before the process can send anything
        _release_init(st)
        if hooks_cfg:
            _poststart(st, hooks_cfg)
    except BaseException:
        if notify_sock is not None:
            notify_sock.close()
        raise
    finally:
        st.release()
    if notify_sock is not None:
        notify.wait_ready(notify_sock, st.pid, st.init_alive)
    return st


def _poststart(st: State, hooks_cfg: dict) -> None:
    """Run the poststart hooks.  Since runtime-spec 1.3 (runtime.md#lifecycle step 9) a failing
    one is an error that stops the container: its processes are killed, as runc 1.3 does, and
    the container is left stopped for `delete` (`run` deletes it, as after any failed start)."""
    from pyrunc.host import hooks
    try:
        hooks.run_stage(hooks_cfg, "poststart", st)
    except PyruncError:
        _kill_stopped(st)
        raise


def _kill_stopped(st: State) -> None:
    """SIGKILL the container (every process of it when it shares a pid namespace, as kill
    --all) and wait until state says stopped."""
    try:
        if st.own_pid_namespace():
            os.kill(st.pid, SIGKILL)
        elif st.cgroup:
            _signal_all(st, SIGKILL)
    except ProcessLookupError:
        pass
    if st.init_alive():
        _wait_init_gone(st)
    _reap_if_child(st.pid)


def _state_hooks(st: State) -> dict:
    """The hooks kept in the state; the hooks module (and config) only when there are some."""
    if not (st.config or {}).get("hooks"):
        return {}
    from pyrunc.host import hooks
    return hooks.from_state(st)


def _release_init(st: State) -> None:
    """Release the init: write its byte into the exec fifo it waits on (runtime.md#start).

    The init opens the fifo for reading and blocks there; an open for writing without blocking
    succeeds only while it does (ENXIO otherwise), and the byte waits in the pipe, so start
    never waits for the init to be scheduled.  ENXIO right after create means the init has
    not reached its open yet: try again gently while it is alive and waiting."""
    delay = 0.0002
    while True:
        try:
            fd = os.open(st.fifo_path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            break
        except FileNotFoundError:
            raise PyruncError("cannot start an already running container") from None
        except OSError as e:
            if e.errno != 6:  # ENXIO: no reader yet
                raise
        if not st.init_alive():
            raise PyruncError("container init exited before start")
        if not st._init_waiting():
            # A start that was killed after releasing the init left the fifo behind.
            _unlink_quietly(st.fifo_path)
            raise PyruncError("cannot start an already running container")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    try:
        os.write(fd, b"0")
    except BrokenPipeError:  # the init left its open since ours succeeded
        raise PyruncError("container init exited before start") from None
    finally:
        os.close(fd)
    _unlink_quietly(st.fifo_path)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def kill(store: Store, cid: str, sig: int, all_procs: bool = False) -> None:
    st = store.load(cid)
    try:
        status = st.status()
        if status == "stopped":
            if all_procs and st.cgroup:
                _signal_all(st, sig)
                return
            raise PyruncError("container not running")
        if all_procs and st.cgroup:
            _signal_all(st, sig)
        else:
            if all_procs and not st.own_pid_namespace():
                from pyrunc import log
                log.warning("cannot signal all processes without a cgroup (rootless: none "
                            "was delegated), only the init")
            os.kill(st.pid, sig)
    except ProcessLookupError:
        raise PyruncError("container not running") from None
    finally:
        st.release()


def _signal_all(st: State, sig: int) -> None:
    """kill --all: every process of the container in its cgroup.  With a pid namespace of its
    own, only the processes in that namespace (none once the init is gone): the cgroup may be
    one the config named that holds the host's processes too (runc signals the whole cgroup
    only when the container shares a pid namespace)."""
    if not st.own_pid_namespace():
        _cgroup(st).signal_all(sig)
        return
    from pyrunc.cgroups import pid_namespace
    ns = pid_namespace(st.pid) if st.init_alive() else None
    if ns is not None and st.init_alive():  # still the same process once its ns is known
        _cgroup(st).signal_all(sig, pid_ns=ns)


def _cgroup(st: State):
    from pyrunc.cgroups import Cgroup
    return Cgroup.from_json(st.cgroup)  # type: ignore[arg-type]


def delete(store: Store, cid: str, force: bool = False) -> None:
    try:
        st = store.load(cid, partial_ok=force)
    except PyruncError:
        raise
    try:
        status = st.status() if st.pid else "stopped"
        if status in ("running", "paused") and not force:
            raise PyruncError(f"cannot delete container {cid} that is not stopped: {status}")
        if status == "created" or force:
            destroy(st, cgroup_json=st.cgroup)
        else:
            destroy(st, cgroup_json=st.cgroup)
        hooks_cfg = _state_hooks(st)
        if hooks_cfg:
            from pyrunc.host import hooks
            hooks.run_stage(hooks_cfg, "poststop", st, warn_only=True)
    finally:
        st.release()


def destroy(st: State, cgroup_json: dict | None) -> None:
    """Kill whatever is left of the container, remove its cgroups and its state directory.

    A container with a pid namespace of its own ends with its init: the kernel kills every
    other process in the namespace, so nothing else is signalled, and what is still in the
    cgroup afterwards belongs to the host (a config may name a service's cgroup) and is left
    alone, as runc does.  Only a container that shares a pid namespace has its whole cgroup
    killed."""
    own_ns = st.own_pid_namespace()
    if st.pid and st.init_alive():
        try:
            os.kill(st.pid, SIGKILL)
        except ProcessLookupError:
            pass
        if own_ns:
            _wait_init_gone(st)
    if cgroup_json and not _rmdir_cgroups(cgroup_json):
        from pyrunc.cgroups import Cgroup
        cg = Cgroup.from_json(cgroup_json)
        try:
            if cg.frozen():
                cg.thaw()
        except OSError:
            pass
        if own_ns:
            cg.remove_leaving_foreign()
        else:
            cg.destroy()
    if cgroup_json and cgroup_json.get("unit"):  # --systemd-cgroup: its scope unit too
        from pyrunc.cgroups import systemd
        systemd.stop(cgroup_json["unit"], user=bool(cgroup_json.get("user")))
    if st.pid:
        _reap_if_child(st.pid)
    if os.path.isdir(os.path.join(st.dir, "notify")):
        from pyrunc.host import notify
        notify.cleanup(st.dir)
    st.remove()


def _wait_init_gone(st: State, timeout: float = 10.0) -> None:
    """Wait until the SIGKILLed init is gone, and with it every process of its pid namespace
    (the kernel reports its exit only after they are).  A frozen process cannot die: thaw."""
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while st.init_alive():
        if st.cgroup and st._frozen():
            _cgroup(st).thaw()
        if time.monotonic() > deadline:
            raise PyruncError(f"container init {st.pid} did not die of SIGKILL in {timeout:g}s")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _rmdir_cgroups(cgroup_json: dict) -> bool:
    """The common end of a container: every process has exited and there are no sub-cgroups, so
    one rmdir per hierarchy removes its cgroups, without importing the cgroups package (0.25 ms
    of a `delete`).  rmdir refuses (EBUSY) a cgroup that still holds a process or a child, so
    it can never harm anything; any refusal leaves the rest to Cgroup.destroy."""
    done = True
    for p in dict.fromkeys(cgroup_json["paths"].values()):
        try:
            os.rmdir(p)
        except FileNotFoundError:
            pass
        except OSError:
            done = False
    return done


def _reap_if_child(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
