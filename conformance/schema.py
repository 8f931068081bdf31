"""Validate JSON documents against the OCI runtime-spec JSON schemas.

The schemas come from Debian's golang-github-opencontainers-specs-dev; `make` copies them to
spec/schema/ in the repo. They are draft-04 and refer to each other by bare file name
("defs.json#/definitions/..."), so every file is registered under its own name.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

REPO = Path(__file__).resolve().parent.parent
SCHEMA_DIRS = (REPO / "spec" / "schema",
               Path("/usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema"))


def schema_dir() -> Path:
    """spec/schema/ of the repo if it holds the schemas, else Debian's copy."""
    for d in SCHEMA_DIRS:
        if (d / "state-schema.json").is_file():
            return d
    raise FileNotFoundError(
        "runtime-spec schemas not found in " + " or ".join(map(str, SCHEMA_DIRS))
        + " (install golang-github-opencontainers-specs-dev)")


@functools.cache
def _validator(name: str) -> jsonschema.Draft4Validator:
    d = schema_dir()
    resources = []
    for f in sorted(d.glob("*.json")):
        contents = json.loads(f.read_text())
        resources.append((f.name, Resource.from_contents(contents, default_specification=DRAFT4)))
    registry = Registry().with_resources(resources)
    schema = json.loads((d / name).read_text())
    return jsonschema.Draft4Validator(schema, registry=registry)


def validate(document: Any, schema_name: str) -> None:
    """Raise jsonschema.ValidationError (all errors joined) unless `document` is valid."""
    errors = sorted(_validator(schema_name).iter_errors(document), key=lambda e: list(e.path))
    if errors:
        lines = [f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors]
        raise jsonschema.ValidationError(f"{schema_name}: " + "; ".join(lines))


def validate_state(state: Any) -> None:
    """Check a `state` output against state-schema.json (runtime.md#state)."""
    validate(state, "state-schema.json")


def validate_config(config: Any) -> None:
    """Check a config.json document against config-schema.json."""
    validate(config, "config-schema.json")
