"""Command-line strings read as the YAML scalars they mean.

`snakemake --config` keeps every nested scalar a string; both the config schema's check
(`trickbench.config`) and a technique's parameters (`trickbench.registry`) turn them back into numbers
and booleans the same way. Below both, so the registry need not import the configuration.
"""

from __future__ import annotations

from typing import Any

import yaml


def parse_scalar(text: str) -> Any:
    """A YAML scalar as YAML's safe loader reads it ('20' → 20, '1e-3' → 0.001, 'true' → True)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:
            return float(text)  # YAML 1.1 reads '1e-3' as a string; users mean the number
        except ValueError:
            return text
    return value
