"""The commands other than the five every container costs an engine (those are in cli.py).

Each module is imported only when its command runs (cli.COMMANDS).
"""
