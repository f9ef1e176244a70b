"""Loading and validating `config.yaml`: structure by JSON schema, technique names by registries.

Both stages raise `ConfigError`, whose message is one line naming the key, the value and what is
allowed — the only thing a user with a typo should have to read.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping

import jsonschema
import yaml

from trickbench.errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


def load_config(*paths: str | Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read YAML configs, later ones updating earlier ones (as `snakemake --configfile` does),
    then validate. For tests and the command line; the Snakefile validates its own `config`."""
    config: dict[str, Any] = {}
    for path in paths:
        with open(path) as handle:
            deep_update(config, yaml.safe_load(handle) or {})
    deep_update(config, dict(overrides or {}))
    return validate_config(config)


def deep_update(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict update: nested mappings merge, everything else (lists too) replaces."""
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Check `config` against the schema with Snakemake's `validate` (which also fills schema
    defaults in place); turn its multi-line error into one `ConfigError` line."""
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    try:
        validate(config, str(SCHEMA_PATH), set_default=True)
    except WorkflowError as error:
        cause = next((a for a in error.args if isinstance(a, jsonschema.ValidationError)), None)
        if cause is None:
            raise
        raise describe(cause) from None
    return config


def describe(error: jsonschema.ValidationError) -> ConfigError:
    """A one-line ConfigError for a schema violation: which key, what value, what is allowed."""
    key = ".".join(str(part) for part in error.absolute_path) or "<top level>"
    schema, value = error.schema, error.instance
    if error.validator == "additionalProperties":
        allowed_keys = sorted(schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed_keys))
        return ConfigError(f"{key}.{extra[0]}" if key != "<top level>" else extra[0], value[extra[0]],
                           "keys " + ", ".join(allowed_keys))
    if error.validator == "propertyNames":
        bad = sorted(k for k in value if not jsonschema.Draft202012Validator(schema["propertyNames"]).is_valid(k))
        return ConfigError(f"{key}.{bad[0]}", value[bad[0]], "keys " + ", ".join(schema["propertyNames"]["enum"]))
    allowed = {
        "enum": lambda: ", ".join(map(str, schema.get("enum", []))),
        "type": lambda: f"type {schema.get('type')}",
        "minimum": lambda: f">= {schema.get('minimum')}",
        "maximum": lambda: f"<= {schema.get('maximum')}",
        "exclusiveMinimum": lambda: f"> {schema.get('exclusiveMinimum')}",
        "exclusiveMaximum": lambda: f"< {schema.get('exclusiveMaximum')}",
        "minItems": lambda: f"at least {schema.get('minItems')} item(s)",
        "uniqueItems": lambda: "no repeated items",
        "required": lambda: "must have " + ", ".join(schema.get("required", [])),
    }.get(error.validator, lambda: error.message)()
    return ConfigError(key, value, allowed)
