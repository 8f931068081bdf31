"""runc's --log / --log-format: errors and warnings as text or JSON lines.

containerd reads BUNDLE/log.json and shows the user the msg of the last error line, so errors go
there as {"level":"error","msg":"...","time":"..."} exactly like runc's logrus output.
"""

from pyrunc import fastos as os  # os without its import cost (see fastos)
import sys
import time


_path: str | None = None
_fd = -1
_format = "text"
debug_enabled = False


def configure(path: str | None, fmt: str, debug: bool) -> None:
    """Open the --log file now, as runc does: a log that cannot be written (its directory
    missing, a directory) is an error before the command does anything, not a silent fall
    back to stderr after it has created a container."""
    global _path, _format, debug_enabled, _fd
    _format = fmt
    debug_enabled = debug
    if _fd >= 0 and path != _path:
        os.close(_fd)
        _fd = -1
    if path and _fd < 0:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            from pyrunc.errors import PyruncError
            raise PyruncError(f"open {path}: {e.strerror}") from None
        _fd = fd
    _path = path or None


def _timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _quote(msg: str) -> str:
    return msg.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def one_line(msg: str) -> str:
    """``msg`` with every character that is not printable (line breaks of any kind, control
    characters, lone surrogates) written as its escape: an error is one line, whatever text
    it quotes."""
    if msg.isprintable():
        return msg
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in msg)


def _emit(level: str, msg: str, also_stderr: bool = False) -> None:
    """One line to the log (file, or stderr); errors also reach stderr plainly when the log is
    a file, as runc does."""
    if _format == "json":
        import _json  # every non-ASCII character escaped: one line of valid JSON, always
        line = (f'{{"level":"{level}","msg":{_json.encode_basestring_ascii(msg)},'
                f'"time":"{_timestamp()}"}}\n')
    else:
        line = f'time="{_timestamp()}" level={level} msg="{one_line(_quote(msg))}"\n'
    if _fd >= 0:
        try:
            os.write(_fd, line.encode())
            if also_stderr:
                sys.stderr.write(one_line(msg) + "\n")
                sys.stderr.flush()
            return
        except OSError:
            pass
    sys.stderr.write(line)
    sys.stderr.flush()


def go_errno_wording(msg: str) -> str:
    """libc's error texts in Go's wording ("No such file or directory" -> "no such file or
    directory"): Docker and containerd match runc's messages, which come from Go, literally."""
    for n in range(1, 134):  # every errno Linux defines
        text = os.strerror(n)
        if text in msg and not text.startswith("Unknown error"):
            msg = msg.replace(text, text[0].lower() + text[1:])
    return msg


def error(msg: str) -> None:
    _emit("error", go_errno_wording(msg), also_stderr=True)


def warning(msg: str) -> None:
    _emit("warning", go_errno_wording(msg))


def debug(msg: str) -> None:
    if debug_enabled:
        _emit("debug", msg)
