"""Fixtures for the engine tests: one containerd + dockerd pair per pytest session.

The daemons start once (session scope) and are stopped, and the host restored, at the end of the
session even when tests fail or the run is interrupted (Ctrl-C runs fixture teardown; SIGTERM is
turned into KeyboardInterrupt; a SIGKILLed run is cleaned up by the next one). Cleanup is verified
and a leftover fails the session loudly.
"""
from __future__ import annotations

import os
import shutil
import signal
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import engine_harness as eh  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "engines: real containerd/dockerd/docker-compose driving ENGINE_RUNTIME (slow-ish, root)")


def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here + os.sep):
            item.add_marker(pytest.mark.engines)


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "engine tests need root"
    for b in (eh.CONTAINERD, eh.DOCKERD, eh.DOCKER, eh.CTR, eh.BUSYBOX, "iptables", "ip"):
        if not shutil.which(b):
            return f"{b} is not installed"
    if not os.access(eh.ENGINE_RUNTIME, os.X_OK):
        return f"ENGINE_RUNTIME {eh.ENGINE_RUNTIME} is not an executable (set ENGINE_RUNTIME=/usr/sbin/runc to test runc)"
    return None


class _Terminated(KeyboardInterrupt):
    """SIGTERM during the session: unwind like Ctrl-C so that fixtures tear down."""


@pytest.fixture(scope="session")
def engines():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)

    def on_term(signum, frame):
        raise _Terminated()

    old = signal.getsignal(signal.SIGTERM)
    if old in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, on_term)
    e = eh.Engines()
    e.start()
    try:
        yield e
    finally:
        left = e.stop()
        if old in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if left:
            msg = "ENGINE HARNESS CLEANUP FAILED, the host is left changed:\n  " + "\n  ".join(left)
            print(msg, file=sys.stderr)
            pytest.fail(msg, pytrace=False)


@pytest.fixture
def docker(engines):
    """The engines, with every container/volume/network/task removed after each test; dockerd
    with the host's default cgroup driver (see cgroupfs_docker)."""
    engines.use_cgroup_driver(eh.default_cgroup_driver())
    yield engines
    engines.remove_all()


@pytest.fixture
def cgroupfs_docker(engines):
    """The engines with dockerd on native.cgroupdriver=cgroupfs (a restart on a systemd host,
    whose default is systemd; the tests that use this come last, so it happens once)."""
    engines.use_cgroup_driver("cgroupfs")
    yield engines
    engines.remove_all()


@pytest.fixture
def name(request):
    """A unique container name for this test."""
    base = request.node.name.replace("[", "-").replace("]", "").replace("_", "-")[:40]
    return f"{base}-{uuid.uuid4().hex[:6]}"
