"""pyrunc: an OCI runtime-spec container runtime, a drop-in for runc.

Python decides (CLI, config, state, cgroups, hooks, the plan); the C init in native/init executes
the plan inside the container.  Modules on the create/start/state/kill/delete path import only
builtin modules: every CLI call pays for its imports.
"""

__version__ = "0.1.0"
OCI_VERSION = "1.2.0"
