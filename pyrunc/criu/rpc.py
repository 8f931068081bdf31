"""Talking to CRIU through its RPC interface: `criu swrk FD` over a SOCK_SEQPACKET socketpair,
one CriuReq / CriuResp protobuf message per packet, as runc does.

The messages are those of criu's rpc.proto, through the Python module Debian's `criu` package
generates from it (/usr/lib/python3/dist-packages/pycriu/rpc_pb2.py) and the `google.protobuf`
runtime of python3-protobuf that package depends on.  Why that one and not a copy or a wheel:
it is generated from the very rpc.proto of the installed criu, by the protoc that matches the
installed protobuf runtime, so the messages can never drift from the criu that answers them,
and nothing fetched is kept in this tree.  rpc_pb2.py is loaded by its path, without pycriu's
package __init__ (which pulls its image decoders in).  Importing it costs ~25 ms, paid only by
`checkpoint` and `restore`: nothing else imports this module.

CRIU resolves the fds named in a request (images_dir_fd, work_dir_fd) through
/proc/<peer>/fd/N of the process on the other end of the socketpair, so they are ours and stay
open until criu is done; inherit_fd numbers are criu's own fds (our stdio, and pass_fds).
"""

import os
import socket
import subprocess
import sys

from pyrunc.errors import PyruncError

DIST_PACKAGES = "/usr/lib/python3/dist-packages"
RPC_PB2 = DIST_PACKAGES + "/pycriu/rpc_pb2.py"
MAX_MESSAGE = 10 * 4096  # runc's buffer: a response never comes near it

_rpc = None


def rpc():
    """The rpc_pb2 module of the installed criu (loaded once)."""
    global _rpc
    if _rpc is not None:
        return _rpc
    if not os.path.exists(RPC_PB2):
        raise PyruncError(f"checkpoint/restore needs criu's RPC definitions ({RPC_PB2}): "
                          "install Debian's criu package")
    if DIST_PACKAGES not in sys.path:
        sys.path.append(DIST_PACKAGES)  # last: the venv's modules win
    import importlib.util
    try:
        spec = importlib.util.spec_from_file_location("pyrunc_criu_rpc_pb2", RPC_PB2)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
    except ImportError as e:
        raise PyruncError(f"loading criu's RPC definitions ({RPC_PB2}): {e} (python3-protobuf "
                          "is needed)") from None
    _rpc = mod
    return mod


def check_reason(criu: str) -> str | None:
    """Why criu cannot work on this host, in criu's own words (`criu check`), or None if it
    says it can.  Asked only after a request failed: it costs a second criu run."""
    try:
        p = subprocess.run([criu, "check"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"`{criu} check` could not run: {e}"
    if p.returncode == 0:
        return None
    out = (p.stderr or p.stdout).decode("utf-8", "replace")
    return "`criu check` says: " + summarize(out)


def summarize(text: str) -> str:
    """criu's error lines as one line: "Error (file:line): what" becomes "what"."""
    errs = []
    for line in text.splitlines():
        line = line.strip()
        if "Error" not in line:
            continue
        if line.startswith("Error (") and "): " in line:
            line = line.split("): ", 1)[1]
        if line and line not in errs:
            errs.append(line)
    return "; ".join(errs[:3]) if errs else (text.strip().splitlines() or ["failed"])[-1]


def log_errors(path: str) -> str:
    """The first error lines of a criu log, as one line ("" when there are none)."""
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return ""
    errs = [ln.strip() for ln in text.splitlines() if "Error" in ln]
    return summarize("\n".join(errs)) if errs else ""


class CriuError(PyruncError):
    """A request criu answered with failure, or criu died without answering."""

    def __init__(self, msg: str, answered: bool) -> None:
        super().__init__(msg)
        self.answered = answered


class Swrk:
    """One `criu swrk` process serving requests on a socketpair.

    ``pass_fds`` stay open in criu under their numbers (inherit_fd keys refer to them); criu's
    stdio is ours, so inherit_fd can hand a restored process our pipes (runc does the same).
    """

    def __init__(self, criu: str, pass_fds: tuple[int, ...] = ()) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen([criu, "swrk", str(theirs.fileno())],
                                         pass_fds=(theirs.fileno(), *pass_fds))
        except OSError as e:
            ours.close()
            raise PyruncError(f"cannot run {criu}: {e.strerror or e}") from None
        finally:
            theirs.close()
        self.sock = ours
        self.criu = criu

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, req) -> None:
        try:
            self.sock.send(req.SerializeToString())
        except OSError as e:  # criu died before reading
            raise CriuError(f"criu: sending the request: {e.strerror or e}", False) from None

    def recv(self):
        """The next CriuResp and the fds that came with it."""
        fds: list[int] = []
        try:
            data, anc, _flags, _addr = self.sock.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE(16))
        except OSError as e:
            raise CriuError(f"criu: reading its answer: {e.strerror or e}", False) from None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                n = len(payload) - len(payload) % 4
                fds += [int.from_bytes(payload[i:i + 4], sys.byteorder) for i in range(0, n, 4)]
        if not data:
            for fd in fds:
                os.close(fd)
            raise CriuError("criu exited without answering", False)
        resp = rpc().criu_resp()
        try:
            resp.ParseFromString(data)
        except Exception as e:  # protobuf's DecodeError has no common base we can name
            for fd in fds:
                os.close(fd)
            raise CriuError(f"criu sent an answer that does not parse: {e}", False) from None
        return resp, fds

    def request(self, req, on_notify=None):
        """Send ``req`` and serve criu's notifications (``on_notify(script, pid, fds)``, fds
        closed afterwards) until the final answer, which is returned; CriuError on failure."""
        r = rpc()
        self.send(req)
        while True:
            resp, fds = self.recv()
            try:
                if not resp.success:
                    name = r.criu_req_type.Name(resp.type)
                    msg = f"criu failed: type {name} errno {resp.cr_errno}"
                    if resp.cr_errmsg:
                        msg += f": {resp.cr_errmsg}"
                    raise CriuError(msg, True)
                if resp.type != r.NOTIFY:
                    return resp
                if on_notify is not None:
                    on_notify(resp.notify.script, resp.notify.pid, fds)
            finally:
                for fd in fds:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            ack = r.criu_req(type=r.NOTIFY, notify_success=True)
            self.send(ack)

    def finish(self, timeout: float = 60.0) -> int:
        """Close our end and wait for criu to exit; its exit status."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.sock.close()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        """End criu now (a failed request); never raises."""
        try:
            self.sock.close()
        except OSError:
            pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def feature_check(criu: str, **features: bool) -> list[str]:
    """The features among ``features`` (criu_features fields set True) criu lacks."""
    r = rpc()
    sw = Swrk(criu)
    try:
        resp = sw.request(r.criu_req(type=r.FEATURE_CHECK, features=r.criu_features(**features)))
    except BaseException:
        sw.kill()
        raise
    sw.finish()
    have = resp.features
    return [k for k, want in features.items()
            if want and have.HasField(k) and not getattr(have, k)]


def version(criu: str) -> int:
    """criu's version as runc counts it: major*10000 + minor*100 + sublevel."""
    r = rpc()
    sw = Swrk(criu)
    try:
        resp = sw.request(r.criu_req(type=r.VERSION))
    except BaseException:
        sw.kill()
        raise
    sw.finish()
    v = resp.version
    return v.major_number * 10000 + v.minor_number * 100 + (v.sublevel or 0)
