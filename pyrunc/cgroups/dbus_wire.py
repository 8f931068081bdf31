"""The D-Bus wire format (the D-Bus specification's "Message Protocol"), as much of it as the
systemd driver speaks: little-endian messages, every basic and container type, so a reply of
any signature decodes.

Why not a library: jeepney cost every `--systemd-cgroup` create and delete ~21 ms of imports
on the development host (enum, typing, its auth module) and ~290 ms under the guest lane's
emulated CPU, where runc's whole systemd driver adds ~43 ms; this module imports nothing.

Values are Python's: y n q i u x t as int, b as bool, d as float, s o g as str, an array as a
list (of (key, value) tuples for a{..}; ay as bytes), a struct as a tuple, and a variant as
``(signature, value)``, which is how systemd.py writes unit properties (as jeepney took them).
"""

ENDIAN = ord("l")
METHOD_CALL, METHOD_RETURN, ERROR, SIGNAL = 1, 2, 3, 4
NO_REPLY_EXPECTED = 1
# header field codes
PATH, INTERFACE, MEMBER, ERROR_NAME, REPLY_SERIAL, DESTINATION, SENDER, SIGNATURE = range(1, 9)
_FIELD_TYPES = {PATH: "o", INTERFACE: "s", MEMBER: "s", ERROR_NAME: "s", REPLY_SERIAL: "u",
                DESTINATION: "s", SENDER: "s", SIGNATURE: "g", 9: "u"}
MAX_MESSAGE = 1 << 27  # the specification's limit (128 MiB)

_ALIGN = {"y": 1, "b": 4, "n": 2, "q": 2, "i": 4, "u": 4, "x": 8, "t": 8, "d": 8, "h": 4,
          "s": 4, "o": 4, "g": 1, "a": 4, "(": 8, "{": 8, "v": 1}
_INTS = {"y": (1, False), "n": (2, True), "q": (2, False), "i": (4, True), "u": (4, False),
         "x": (8, True), "t": (8, False), "h": (4, False)}


class WireError(ValueError):
    """Bytes that are no D-Bus message (or a value that does not fit its signature)."""


def split_signature(sig: str) -> list[str]:
    """The complete types of a signature: "sa(sv)u" -> ["s", "a(sv)", "u"]."""
    out, i = [], 0
    while i < len(sig):
        j = _type_end(sig, i)
        out.append(sig[i:j])
        i = j
    return out


def _type_end(sig: str, i: int) -> int:
    c = sig[i] if i < len(sig) else ""
    if c == "a":
        return _type_end(sig, i + 1)
    if c in "({":
        close = ")" if c == "(" else "}"
        j = i + 1
        while j < len(sig) and sig[j] != close:
            j = _type_end(sig, j)
        if j >= len(sig):
            raise WireError(f"unterminated {c} in signature {sig!r}")
        return j + 1
    if c in _ALIGN and c not in "a({":
        return i + 1
    raise WireError(f"bad signature {sig!r} at {i}")


class Writer:
    """Marshals values; alignment counts from ``start``, the offset of this buffer in its
    message (a body is 8-aligned in the message, so 0 does for it)."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def pad(self, n: int) -> None:
        self.buf += bytes(-len(self.buf) % n)

    def put(self, t: str, v: object) -> None:
        c = t[0]
        self.pad(_ALIGN[c])
        if c in _INTS:
            size, signed = _INTS[c]
            try:
                self.buf += int(v).to_bytes(size, "little", signed=signed)  # type: ignore[call-overload]
            except (OverflowError, TypeError, ValueError):
                raise WireError(f"{v!r} does not fit D-Bus type {c}") from None
        elif c == "b":
            self.buf += (1 if v else 0).to_bytes(4, "little")
        elif c == "d":
            import struct  # only for a double, which the driver never sends
            self.buf += struct.pack("<d", float(v))  # type: ignore[arg-type]
        elif c in "so":
            data = str(v).encode()
            self.buf += len(data).to_bytes(4, "little") + data + b"\0"
        elif c == "g":
            data = str(v).encode()
            self.buf += bytes([len(data)]) + data + b"\0"
        elif c == "v":
            sig, value = v  # type: ignore[misc]
            self.put("g", sig)
            self.put(sig, value)
        elif c == "(":
            types = split_signature(t[1:-1])
            if not isinstance(v, (tuple, list)) or len(v) != len(types):
                raise WireError(f"{v!r} is not a struct {t}")
            for et, ev in zip(types, v):
                self.put(et, ev)
        elif c == "{":
            kt, vt = split_signature(t[1:-1])
            self.put(kt, v[0])  # type: ignore[index]
            self.put(vt, v[1])  # type: ignore[index]
        elif c == "a":
            et = t[1:]
            at = len(self.buf)
            self.buf += bytes(4)
            self.pad(_ALIGN[et[0]])  # the length counts from the first element
            first = len(self.buf)
            for ev in (v.items() if isinstance(v, dict) else v):  # type: ignore[attr-defined]
                self.put(et, ev)
            self.buf[at:at + 4] = (len(self.buf) - first).to_bytes(4, "little")


class Reader:
    """Unmarshals from ``data`` (a whole message: alignment counts from its first byte)."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def _take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise WireError("a cut D-Bus message")
        out = self.data[self.pos:end]
        self.pos = end
        return out

    def get(self, t: str) -> object:
        c = t[0]
        self.pos += -self.pos % _ALIGN[c]
        if c in _INTS:
            size, signed = _INTS[c]
            return int.from_bytes(self._take(size), "little", signed=signed)
        if c == "b":
            return int.from_bytes(self._take(4), "little") != 0
        if c == "d":
            import struct
            return struct.unpack("<d", self._take(8))[0]
        if c in "so":
            n = int.from_bytes(self._take(4), "little")
            s = self._take(n + 1)
            return s[:-1].decode("utf-8", "replace")
        if c == "g":
            n = self._take(1)[0]
            return self._take(n + 1)[:-1].decode("ascii", "replace")
        if c == "v":
            sig = str(self.get("g"))
            types = split_signature(sig)
            if len(types) != 1:
                raise WireError(f"a variant of signature {sig!r}")
            return (sig, self.get(sig))
        if c == "(":
            return tuple(self.get(et) for et in split_signature(t[1:-1]))
        if c == "{":
            kt, vt = split_signature(t[1:-1])
            return (self.get(kt), self.get(vt))
        if c == "a":
            n = int.from_bytes(self._take(4), "little")
            et = t[1:]
            self.pos += -self.pos % _ALIGN[et[0]]
            end = self.pos + n
            if n > MAX_MESSAGE or end > len(self.data):
                raise WireError("an array longer than its message")
            if et == "y":
                return bytes(self._take(n))
            out = []
            while self.pos < end:
                out.append(self.get(et))
            return out
        raise WireError(f"bad type {t!r}")


class Message:
    """One message: its type, header fields (code -> value) and body (a tuple)."""

    __slots__ = ("type", "flags", "serial", "fields", "body")

    def __init__(self, type: int, fields: dict[int, object], body: tuple = (),
                 flags: int = 0, serial: int = 0) -> None:
        self.type = type
        self.flags = flags
        self.serial = serial
        self.fields = fields
        self.body = body

    def encode(self, serial: int) -> bytes:
        sig = str(self.fields.get(SIGNATURE, ""))
        body = Writer()
        types = split_signature(sig)
        if len(types) != len(self.body):
            raise WireError(f"{len(self.body)} values for signature {sig!r}")
        for t, v in zip(types, self.body):
            body.put(t, v)
        head = Writer()
        head.buf += bytes([ENDIAN, self.type, self.flags, 1])
        head.put("u", len(body.buf))
        head.put("u", serial)
        head.put("a(yv)", [(code, (_FIELD_TYPES[code], v))
                           for code, v in self.fields.items() if v not in (None, "")])
        head.pad(8)
        return bytes(head.buf + body.buf)


def message_length(start: bytes) -> int:
    """The whole length of the message whose first 16 bytes are ``start``."""
    if start[0] != ENDIAN:
        raise WireError("a big-endian or garbled D-Bus message")
    body = int.from_bytes(start[4:8], "little")
    fields = int.from_bytes(start[12:16], "little")
    n = 16 + fields + (-(16 + fields) % 8) + body
    if n > MAX_MESSAGE:
        raise WireError("a D-Bus message over 128 MiB")
    return n


def decode(data: bytes) -> Message:
    """One whole message (message_length(data[:16]) bytes)."""
    r = Reader(data, 12)
    fields = {code: value for code, (_sig, value) in r.get("a(yv)")}  # type: ignore[misc, union-attr]
    r.pos += -r.pos % 8
    sig = str(fields.get(SIGNATURE, ""))
    body = tuple(r.get(t) for t in split_signature(sig))
    return Message(data[1], fields, body, flags=data[2],
                   serial=int.from_bytes(data[8:12], "little"))
