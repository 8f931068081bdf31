"""The errors pyrunc reports to its user: one line each, never a traceback."""


class PyruncError(Exception):
    """A failure the user caused or must know about; the CLI prints it and exits 1."""


class ConfigError(PyruncError):
    """An invalid config.json value, named by its JSON path (e.g. ``linux.namespaces[2].type``)."""

    def __init__(self, path: str, msg: str) -> None:
        self.path = path
        self.msg = msg
        super().__init__(f"{path}: {msg}" if path else msg)
