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
from trickbench.plugins import load_plugins, plugins_folder
from trickbench.scalars import parse_scalar



class _Missing:
    def __repr__(self) -> str:
        return "nothing"


MISSING = _Missing()  # the "value" of a required key that is absent
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


def load_config(*paths: str | Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Read YAML configs, later ones updating earlier ones (as `snakemake --configfile` does),
    validate them and load the plugins they name (relative to the config that names them, see
    `trickbench.plugins`). For tests and the command line; the Snakefile does the same in
    workflow/rules/common.smk."""
    config: dict[str, Any] = {}
    for path in paths:
        with open(path) as handle:
            deep_update(config, yaml.safe_load(handle) or {})
    deep_update(config, dict(overrides or {}))
    validate_config(config)
    load_plugins(config["plugins"], plugins_folder([Path(p) for p in paths], overrides or {}))
    return config


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

    expand_shorthand(config)
    coerce_command_line_strings(config)
    try:
        validate(config, str(SCHEMA_PATH), set_default=True)
    except WorkflowError as error:
        cause = error.__context__  # snakemake raises its WorkflowError inside `except ValidationError`
        if not isinstance(cause, jsonschema.ValidationError):
            raise
        raise describe(cause, config) from None
    return config


def expand_shorthand(config: dict[str, Any]) -> None:
    """`studies: all`, `studies: none` or `studies: "a,b"` (handy on the command line) become the
    mapping form, with exactly the named studies enabled."""
    value = config.get("studies")
    if not isinstance(value, str):
        return
    names = study_sections()
    chosen = {"all": names, "none": []}.get(value, [n.strip() for n in value.split(",") if n.strip()])
    for name in chosen:
        if name not in names:
            raise ConfigError("studies", value, "all, none, or a comma-separated list of: " + ", ".join(names))
    config["studies"] = {name: {"enabled": name in chosen} for name in names}


def study_sections() -> list[str]:
    """The studies that have a section in the schema: one per registered study (a test checks), so
    the configuration names them without importing the studies, which sit far above it."""
    with open(SCHEMA_PATH) as handle:
        return list(yaml.safe_load(handle)["properties"]["studies"]["properties"])


def coerce_command_line_strings(config: dict[str, Any]) -> None:
    """Turn strings into the number or boolean the schema expects, in place.

    `snakemake --config train='{epochs: 20}'` parses nested values with YAML's BaseLoader, which
    keeps every scalar a string; without this, the documented override would be rejected."""
    with open(SCHEMA_PATH) as handle:
        validator = jsonschema.Draft202012Validator(yaml.safe_load(handle))
    for error in validator.iter_errors(config):
        expected, path = error.schema.get("type"), list(error.absolute_path)
        if error.validator != "type" or not isinstance(error.instance, str) or not path:
            continue
        value = parse_scalar(error.instance)
        if expected in SCALAR_TYPES and isinstance(value, SCALAR_TYPES[expected]) and not (
                expected != "boolean" and isinstance(value, bool)):
            parent = config
            for part in path[:-1]:
                parent = parent[part]
            parent[path[-1]] = value


SCALAR_TYPES = {"integer": int, "number": (int, float), "boolean": bool}


def describe(error: jsonschema.ValidationError, config: Mapping[str, Any]) -> ConfigError:
    """A one-line ConfigError for a schema violation: which key, what value, what is allowed."""
    key = ".".join(str(part) for part in error.absolute_path) or "<top level>"
    schema, value = error.schema, error.instance
    if error.validator == "additionalProperties":
        allowed_keys = sorted(schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed_keys))
        return ConfigError(f"{key}.{extra[0]}" if key != "<top level>" else extra[0], value[extra[0]],
                           "keys " + ", ".join(allowed_keys))
    if "propertyNames" in error.schema_path:  # a key that is not one of the allowed names
        owner = config
        for part in error.absolute_path:
            owner = owner[part]
        return ConfigError(f"{key}.{value}", owner[value], "keys " + ", ".join(map(str, schema.get("enum", []))))
    if error.validator == "required":
        missing = next(k for k in schema["required"] if k not in value)
        return ConfigError(missing if key == "<top level>" else f"{key}.{missing}", MISSING, "a required key")
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
