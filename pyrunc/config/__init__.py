"""config.json loaded into typed objects and validated before anything is created.

Every invalid value raises ConfigError naming its JSON path.  Classes use __slots__ rather than
dataclasses: importing dataclasses costs ~8 ms and this module is on the path of every create.
"""

from pyrunc import fastos as os  # os without its import cost (see fastos)

from pyrunc import jsonio
from pyrunc.config.fields import array, boolean, check_type, obj, string, strings
from pyrunc.config.linux import Linux, id_mappings
from pyrunc.config.process import Process
from pyrunc.errors import ConfigError
HOOK_STAGES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart",
               "poststop")
# A hook's timeout in seconds: the wait for its output is a poll(2) in milliseconds, an int, so
# 2^31-1 ms (24.8 days) is the longest it can be.
HOOK_TIMEOUT_MAX = ((1 << 31) - 1) // 1000


class Mount:
    __slots__ = ("destination", "type", "source", "options", "path", "uid_mappings",
                 "gid_mappings")

    def __init__(self, d: dict, path: str, relative_ok: bool = False) -> None:
        check_type(d, dict, path, "an object")
        self.path = path
        dest = string(d, "destination", path)
        if not dest:
            raise ConfigError(f"{path}.destination", "is required")
        if not dest.startswith("/"):
            # 1.0: MUST be absolute.  1.1+: MAY be relative (deprecated), read from "/".
            if not relative_ok:
                raise ConfigError(f"{path}.destination", f"{dest!r} is not an absolute path")
            from pyrunc import log
            log.warning(f"mount destination {dest} is not absolute. Support for non-absolute "
                        "mount destinations will be removed in a future release.")
            dest = "/" + dest
        # Cleaned, as runc's securejoin does: the /proc rules (host.probes.check_proc_mount) and
        # the init's check that a target outside /proc never lands on procfs both read it.
        self.destination = os.path.normpath(dest)
        self.type = string(d, "type", path) or ""
        self.source = string(d, "source", path) or ""
        self.options = strings(d, "options", path)
        self.uid_mappings = id_mappings(d, "uidMappings", path)
        self.gid_mappings = id_mappings(d, "gidMappings", path)
        if bool(self.uid_mappings) != bool(self.gid_mappings):
            raise ConfigError(f"{path}.uidMappings",
                              "an id-mapped mount needs both uidMappings and gidMappings")


class Hook:
    __slots__ = ("path", "args", "env", "timeout")

    def __init__(self, d: dict, path: str) -> None:
        check_type(d, dict, path, "an object")
        p = string(d, "path", path)
        if not p or not p.startswith("/"):
            raise ConfigError(f"{path}.path", "must be an absolute path")
        self.path = p
        self.args = strings(d, "args", path)
        self.env = strings(d, "env", path)
        t = d.get("timeout")
        if t is not None:
            check_type(t, int, f"{path}.timeout", "an integer")
            if not 0 < t <= HOOK_TIMEOUT_MAX:
                raise ConfigError(f"{path}.timeout", f"{t} is outside 1..{HOOK_TIMEOUT_MAX} "
                                                     "(seconds)")
        self.timeout: int | None = t

    def to_json(self) -> dict:
        d: dict = {"path": self.path}
        if self.args:
            d["args"] = self.args
        if self.env:
            d["env"] = self.env
        if self.timeout is not None:
            d["timeout"] = self.timeout
        return d


class Config:
    __slots__ = ("oci_version", "root_path", "root_readonly", "hostname", "domainname",
                 "process", "mounts", "linux", "hooks", "annotations", "bundle", "raw")

    def __init__(self, d: object, bundle: str) -> None:
        check_type(d, dict, "", "a JSON object")
        assert isinstance(d, dict)
        self.raw = d
        self.bundle = bundle
        v = d.get("ociVersion")
        if not isinstance(v, str):
            raise ConfigError("ociVersion", "is required and must be a string")
        check_oci_version(v)
        self.oci_version = v
        root = d.get("root")
        if not isinstance(root, dict):
            raise ConfigError("root", "is required and must be an object")
        rp = string(root, "path", "root")
        if not rp:
            raise ConfigError("root.path", "is required")
        self.root_path = os.path.normpath(os.path.join(bundle, rp))
        self.root_readonly = boolean(root, "readonly", "root")
        self.hostname = string(d, "hostname", "")
        self.domainname = string(d, "domainname", "")
        for key, name in (("hostname", self.hostname), ("domainname", self.domainname)):
            if name is not None and len(name.encode()) > 64:
                raise ConfigError(key, "is longer than 64 bytes (the kernel's limit)")
        p = d.get("process")
        self.process = Process(p) if p is not None else None
        ms = array(d, "mounts", "")
        rel = oci_minor(v) >= 1
        self.mounts = [Mount(m, f"mounts[{i}]", rel) for i, m in enumerate(ms)]
        self.linux = Linux(obj(d, "linux", ""))
        hooks = obj(d, "hooks", "")
        self.hooks: dict[str, list[Hook]] = {}
        for stage, lst in hooks.items():
            if stage not in HOOK_STAGES:
                raise ConfigError(f"hooks.{stage}", "unknown hook stage")
            check_type(lst, list, f"hooks.{stage}", "an array")
            self.hooks[stage] = [Hook(h, f"hooks.{stage}[{i}]") for i, h in enumerate(lst)]
        ann = obj(d, "annotations", "")
        for k, val in ann.items():
            check_type(val, str, f"annotations.{k}", "a string")
        self.annotations: dict[str, str] = ann


def check_oci_version(v: str) -> None:
    """Accept every runtime-spec version from 1.0.0 through 1.3.x (with -rc/-dev suffixes)."""
    core = v.split("-", 1)[0].split("+", 1)[0]
    parts = core.split(".")
    try:
        major, minor = int(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        raise ConfigError("ociVersion", f"{v!r} is not a version") from None
    if major != 1 or minor > 3:
        raise ConfigError("ociVersion", f"version {v} is not supported (1.0.0 to 1.3.x are)")


def oci_minor(v: str) -> int:
    """The minor version of an already checked ociVersion."""
    return int(v.split("-", 1)[0].split("+", 1)[0].split(".")[1])


def load(bundle: str) -> Config:
    """Read and validate BUNDLE/config.json."""
    return Config(jsonio.load_file(os.path.join(bundle, "config.json"), "config.json"), bundle)
