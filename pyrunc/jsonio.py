"""JSON without the json package.

``import json`` costs ~8 ms (it pulls in re and enum); create parses config.json, so this module
drives the C accelerator ``_json`` directly (well under 1 ms).  Even loading ``_json`` costs
0.2 ms, so it is loaded on first need: `pyrunc state` prints its JSON without it unless a string
needs escaping.  Errors are raised as ValueError with a position, like json.JSONDecodeError.
"""

_WS = " \t\n\r"


_scan = None


def _scanner():
    global _scan
    if _scan is None:
        import _json

        class _Ctx:  # the attributes json.JSONDecoder gives the scanner
            strict = False
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


def loads(doc: str | bytes) -> object:
    """Parse one JSON document; raise ValueError naming the line and column of an error."""
    if isinstance(doc, (bytes, bytearray)):
        try:
            doc = doc.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValueError(f"not UTF-8: {e}") from None
    n = len(doc)
    i = 0
    while i < n and doc[i] in _WS:
        i += 1
    try:
        value, end = _scanner()(doc, i)
    except StopIteration as e:
        raise ValueError(f"invalid JSON at {_lineno(doc, e.value)}") from None
    except Exception:
        # The scanner's own error path needs json.decoder; an error may cost the full import.
        import json
        try:
            json.loads(doc)
        except json.JSONDecodeError as e:
            raise ValueError(f"{e.msg} at {_lineno(doc, e.pos)}") from None
        raise ValueError("invalid JSON") from None
    while end < n and doc[end] in _WS:
        end += 1
    if end != n:
        raise ValueError(f"extra data at {_lineno(doc, end)}")
    return value


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
