"""tests/: the conformance fixtures (runtime, state_root, rt, container_id) for every test here."""
from conformance.fixtures import *  # noqa: F401,F403
from cgroup_helpers import parent  # noqa: E402,F401  (the cgroup tests' fixture)
