"""Conformance tests: the shared fixtures (runtime, state_root, rt, container_id)."""
from conformance.fixtures import *  # noqa: F401,F403
