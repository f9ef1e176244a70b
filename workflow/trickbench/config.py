"""Loading and validating `config.yaml`: structure by JSON schema, technique names by registries.

Both stages raise `ConfigError`, whose message is one line naming the key, the value and what is
allowed — the only thing a user with a typo should have to read.
"""

from __future__ import annotations

import copy
import functools
import math
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
        deep_update(config, read_config_file(path))
    deep_update(config, dict(overrides or {}))
    validate_config(config)
    load_plugins(config["plugins"], plugins_folder([Path(p) for p in paths], overrides or {}))
    return config


class StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last:
    `lr: 0.1` then `lr: 0.01` further down would silently train with 0.01)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice (lines {seen[key].start_mark.line + 1} and "
                    f"{key_node.start_mark.line + 1}); a mapping takes each key once", key_node.start_mark)
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """One config file as a mapping, or one `ConfigError` line naming the file: bytes that are not
    UTF-8, a YAML syntax error (with its line), a key given twice, or a top level that is not a
    mapping of sections. An empty file is an empty mapping."""
    try:
        with open(path, encoding="utf-8") as handle:
            loader = StrictLoader(handle)  # a SafeLoader: what yaml.safe_load does, with the duplicate-key check
            try:
                data = loader.get_single_data()
            finally:
                loader.dispose()
    except UnicodeDecodeError as error:
        raise ConfigError(str(path), f"byte {error.object[error.start]:#04x} at offset {error.start}",
                          "a UTF-8 text file") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(str(path), f"invalid YAML ({where}{problem})",
                          "a YAML mapping of sections (data, model, train, …)") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), f"a {type(data).__name__} at the top level",
                          "a YAML mapping of sections (data, model, train, …)")
    return data


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
    refuse_non_finite(config)
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
    return list(schema()["properties"]["studies"]["properties"])


@functools.cache
def schema() -> dict[str, Any]:
    """The config schema, parsed once per process (a tenth of a second of YAML each time); read only."""
    with open(SCHEMA_PATH) as handle:
        return yaml.safe_load(handle)


def coerce_command_line_strings(config: dict[str, Any]) -> None:
    """Turn strings into the number or boolean the schema expects, in place.

    `snakemake --config train='{epochs: 20}'` parses nested values with YAML's BaseLoader, which
    keeps every scalar a string; without this, the documented override would be rejected."""
    validator = jsonschema.Draft202012Validator(schema())
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


def refuse_non_finite(value: Any, key: str = "") -> None:
    """A NaN or infinite number anywhere in the config (`lr: .nan`, `.inf`) is refused: no setting
    means it, and a run given one trains to a 'diverged' result and writes non-standard JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(key or "<top level>", value, "a finite number")
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for name, child in children:
        refuse_non_finite(child, f"{key}[{name}]" if isinstance(name, int) else f"{key}.{name}" if key else str(name))


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
    if error.validator == "oneOf" and isinstance(value, dict) and "name" not in value:
        return ConfigError(key, value, "a technique name, or a mapping with 'name' and its parameters "
                                       "(e.g. {name: sgd, lr: 0.1}); this mapping has no 'name'")
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
        "oneOf": lambda: _described_alternatives(schema, error.message),
    }.get(error.validator, lambda: error.message)()
    return ConfigError(key, value, allowed)


def _described_alternatives(schema: Mapping[str, Any], message: str) -> str:
    """What a key with several accepted forms (oneOf) takes: its schema description, on one line."""
    description = " ".join(str(schema.get("description", "")).split())
    return description or message
