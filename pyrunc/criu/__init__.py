"""CRIU for checkpoint and restore: its RPC messages (rpc.py, over `criu swrk`) and the options
runc gives it for a container (options.py). Imported only by those two commands.
"""
