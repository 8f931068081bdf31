"""JSON without the json package.

``import json`` costs ~8 ms (it pulls in re and enum); create parses config.json, so this module
drives the C accelerator ``_json`` directly (well under 1 ms).  Even loading ``_json`` costs
0.2 ms, so it is loaded on first need: `pyrunc state` prints its JSON without it unless a string
needs escaping.  Errors are raised as ValueError with a position, like json.JSONDecodeError.
"""

import sys

_WS = " \t\n\r"
# Deeper documents are refused: the C scanner recurses once per level, and so do the encoder
# and every walk over a parsed document, so a config nested 100,000 deep would end as a
# RecursionError (an "internal error") wherever the first recursion met it.  Configs nest
# fewer than ten levels; Go's encoding/json stops at 10,000.
MAX_DEPTH = 200
# A JSON file named on the command line (config.json, exec --process, update -r) is read only
# if it is a regular file no larger than this: a FIFO would block the read forever, /dev/zero
# would fill the memory.  A 100,000-rule seccomp profile is ~7 MB.
MAX_FILE = 64 << 20


_scan = None


def _scanner():
    global _scan
    if _scan is None:
        import _json

        class _Ctx:  # the attributes json.JSONDecoder gives the scanner
            strict = True  # a raw control character in a string is no JSON (nor to Go)
            object_hook = None
            object_pairs_hook = None
            parse_float = float
            parse_int = int
            memo = None

            @staticmethod
            def parse_constant(name: str) -> float:
                raise ValueError(f"invalid JSON constant {name}")
        _scan = _json.make_scanner(_Ctx())
    return _scan


def _lineno(doc: str, pos: int) -> str:
    line = doc.count("\n", 0, pos) + 1
    col = pos - doc.rfind("\n", 0, pos)
    return f"line {line} column {col}"


def _depth() -> int:
    f, n = sys._getframe(1), 0
    while f is not None:
        n += 1
        f = f.f_back
    return n


def loads(doc: str | bytes) -> object:
    """Parse one JSON document; raise ValueError naming the line and column of an error, a
    document nested deeper than MAX_DEPTH, or a lone surrogate (a "\\ud800" escape: text no
    system call can take) naming its JSON path."""
    if isinstance(doc, (bytes, bytearray)):
        try:
            doc = doc.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"not UTF-8: {e}") from None
    n = len(doc)
    i = 0
    while i < n and doc[i] in _WS:
        i += 1
    # The scanner counts its levels against the recursion limit: lowered to MAX_DEPTH above
    # this frame while it runs (the limit is the interpreter's; pyrunc runs no threads).
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(_depth() + MAX_DEPTH + 5)
    try:
        value, end = _scanner()(doc, i)
    except StopIteration as e:
        raise ValueError(f"invalid JSON at {_lineno(doc, e.value)}") from None
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    except Exception:
        # The scanner's own error path needs json.decoder; an error may cost the full import.
        sys.setrecursionlimit(limit)
        import json
        try:
            json.loads(doc)
        except json.JSONDecodeError as e:
            raise ValueError(f"{e.msg} at {_lineno(doc, e.pos)}") from None
        except (RecursionError, ValueError):
            pass
        raise ValueError("invalid JSON") from None
    finally:
        sys.setrecursionlimit(limit)
    while end < n and doc[end] in _WS:
        end += 1
    if end != n:
        raise ValueError(f"extra data at {_lineno(doc, end)}")
    if "\\ud" in doc or "\\uD" in doc:  # an escaped surrogate: paired, or not
        _check_surrogates(value, "")
    return value


def _check_surrogates(v: object, path: str) -> None:
    if isinstance(v, str):
        if not v.isascii():
            try:
                v.encode()
            except UnicodeEncodeError as e:
                where = f" at {path}" if path else ""
                raise ValueError(f"lone surrogate {ascii(v[e.start])[1:-1]}{where}: a string "
                                 "must be Unicode text") from None
    elif isinstance(v, dict):
        for k, x in v.items():
            _check_surrogates(k, path)
            _check_surrogates(x, f"{path}.{k}" if path else k)
    elif isinstance(v, list):
        for j, x in enumerate(v):
            _check_surrogates(x, f"{path}[{j}]")


def load_file(path: str, what: str, invalid: str = "") -> object:
    """The JSON document in the file ``path`` names, which must be a regular file of at most
    MAX_FILE bytes (a FIFO, a device or a directory is refused before any read: the read
    would block, never end, or fail); ``what`` names the file in error messages (e.g.
    "config.json"), ``invalid`` begins the message for a document that is no JSON (default
    "WHAT: invalid JSON").  Every failure is a PyruncError of one line."""
    import posix
    from pyrunc.errors import PyruncError
    # O_NONBLOCK: opening a FIFO with no writer would block in open() itself.
    try:
        fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC | posix.O_NONBLOCK)
    except OSError as e:
        if isinstance(e, FileNotFoundError):  # Go's wording, which engines match
            raise PyruncError(f"open {path}: no such file or directory") from None
        raise PyruncError(f"open {path}: {e.strerror}") from None
    try:
        st = posix.fstat(fd)
        if st.st_mode & 0o170000 != 0o100000:
            raise PyruncError(f"{what}: {path} is not a regular file")
        if st.st_size > MAX_FILE:
            raise PyruncError(f"{what}: {path} is larger than {MAX_FILE >> 20} MiB")
        chunks = []
        size = 0
        while True:  # to the end, not st_size: a file may grow while it is read
            data = posix.read(fd, max(st.st_size - size, 0) + 65536)
            if not data:
                break
            size += len(data)
            if size > MAX_FILE:
                raise PyruncError(f"{what}: {path} is larger than {MAX_FILE >> 20} MiB")
            chunks.append(data)
    except OSError as e:
        raise PyruncError(f"read {path}: {e.strerror}") from None
    finally:
        posix.close(fd)
    try:
        return loads(b"".join(chunks))
    except ValueError as e:
        raise PyruncError(f"{invalid or what + ': invalid JSON'}: {e}") from None


def _enc_str(s: str) -> str:
    """A JSON string as _json.encode_basestring writes it; printable ASCII without quote or
    backslash needs no escaping: ids, paths and timestamps, all that `state` prints for most
    containers."""
    if s.isascii() and s.isprintable() and '"' not in s and "\\" not in s:
        return '"' + s + '"'
    import _json
    return _json.encode_basestring(s)


def _encode(obj: object, indent: str | None, level: int, out: list[str]) -> None:
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, str):
        out.append(_enc_str(obj))
    elif isinstance(obj, int):
        out.append(int.__repr__(obj))
    elif isinstance(obj, float):
        out.append(float.__repr__(obj))
    elif isinstance(obj, dict):
        if not obj:
            out.append("{}")
            return
        if indent is None:
            out.append("{")
            first = True
            for k, v in obj.items():
                if not first:
                    out.append(",")
                first = False
                out.append(_enc_str(str(k)))
                out.append(":")
                _encode(v, None, 0, out)
            out.append("}")
        else:
            inner = "\n" + indent * (level + 1)
            out.append("{")
            first = True
            for k, v in obj.items():
                out.append(inner if first else "," + inner)
                first = False
                out.append(_enc_str(str(k)))
                out.append(": ")
                _encode(v, indent, level + 1, out)
            out.append("\n" + indent * level + "}")
    elif isinstance(obj, (list, tuple)):
        if not obj:
            out.append("[]")
            return
        if indent is None:
            out.append("[")
            for i, v in enumerate(obj):
                if i:
                    out.append(",")
                _encode(v, None, 0, out)
            out.append("]")
        else:
            inner = "\n" + indent * (level + 1)
            out.append("[")
            for i, v in enumerate(obj):
                out.append(inner if i == 0 else "," + inner)
                _encode(v, indent, level + 1, out)
            out.append("\n" + indent * level + "]")
    else:
        raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def dumps(obj: object, indent: str | int | None = None) -> str:
    """Encode obj; ``indent`` (spaces or a string) pretty-prints like Go's MarshalIndent."""
    if isinstance(indent, int):
        indent = " " * indent
    out: list[str] = []
    _encode(obj, indent, 0, out)
    return "".join(out)
