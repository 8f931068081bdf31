"""The config-linux.md helpers live in conformance/linux.py (shared with conformance/)."""
from conformance.linux import *  # noqa: F401,F403
from conformance.linux import (USERNS_HOST_ID, USERNS_SIZE, MountLine, add_userns,  # noqa: F401
                               chown_tree, create_fails, mountinfo, open_path_to,
                               proc_edit, restore_modes, run_script, searchable,
                               skip_on_runc)
