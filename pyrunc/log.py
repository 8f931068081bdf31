"""runc's --log / --log-format: errors and warnings as text or JSON lines.

containerd reads BUNDLE/log.json and shows the user the msg of the last error line, so errors go
there as {"level":"error","msg":"...","time":"..."} exactly like runc's logrus output.
"""

from pyrunc import fastos as os  # os without its import cost (see fastos)
import sys
import time


_path: str | None = None
_format = "text"
debug_enabled = False


def configure(path: str | None, fmt: str, debug: bool) -> None:
    global _path, _format, debug_enabled
    _path = path or None
    _format = fmt
    debug_enabled = debug


def _timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _quote(msg: str) -> str:
    return msg.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _emit(level: str, msg: str, also_stderr: bool = False) -> None:
    """One line to the log (file, or stderr); errors also reach stderr plainly when the log is
    a file, as runc does."""
    if _format == "json":
        from pyrunc import jsonio
        line = jsonio.dumps({"level": level, "msg": msg, "time": _timestamp()}) + "\n"
    else:
        line = f'time="{_timestamp()}" level={level} msg="{_quote(msg)}"\n'
    if _path:
        try:
            fd = os.open(_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
            if also_stderr:
                sys.stderr.write(msg + "\n")
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
