"""`design.kind: versus` — one technique (typically a plugin's) against its family's standard levels.

What a researcher placing a new method runs (DeepOBS's and AlgoPerf's "submit your optimizer"):
the challenger and the standard levels of its family, every other factor at the baseline, each
level tuned on validation (`design.tuning`, required) and then run over several seeds (at least
two, so every difference gets a paired test). It is an ablation of one factor whose levels are

1. the challenger, `design.versus.technique`;
2. the family's standard levels: `design.versus.levels` where given, else the levels the catalogue
   preset (workflow/presets/catalogue.yaml) trains for that family, at its parameters, less the
   ones `NOT_STANDARD` names with the reason (wrappers around another level, demonstrations of
   failure, combinations); a standard level with the challenger's name is left out;
3. the baseline's own level of the family, which every ablation runs (the default grid's baseline
   momentum is a standard optimizer level itself).

`design.factors` is not read (a preset overlaying config.yaml inherits its factors). Run ids are
those of the same ablation written by hand: the design kind is not part of a run's spec.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import yaml

from trickbench.config import MISSING
from trickbench.errors import ConfigError
from trickbench.spec import regularizer_label, resolve_level
from trickbench.techniques import FAMILIES

KIND = "versus"
KEY = "design.versus"
CATALOGUE = Path(__file__).resolve().parents[1] / "presets" / "catalogue.yaml"

#: catalogue levels that are not standard alternatives within their family, and why
NOT_STANDARD: dict[str, dict[str, str]] = {
    "activation": {"maxout": "multiplies each layer's weights by its pieces: more parameters, not a like-for-like swap"},
    "init": {"small_gaussian": "a demonstration of vanishing signals", "large_gaussian": "a demonstration of exploding ones",
             "zeros": "a demonstration of symmetry that never breaks"},
    "norm": {"instance": "needs feature maps (cnn, resnet); list it in design.versus.levels for such a model"},
    "regularizer": {"early_stopping": "changes which epoch's weights a run returns, not the training",
                    "<combination>": "several regularizers at once"},
    "optimizer": {"lbfgs": "a full-batch quasi-Newton method with its own line search",
                  "sam": "a wrapper around a base optimizer", "lookahead": "a wrapper around a base optimizer"},
    "schedule": {},
    "preprocessing": {},
}


def is_versus(config: Mapping[str, Any]) -> bool:
    return config["design"]["kind"] == KIND


@lru_cache(maxsize=1)
def catalogue_levels() -> dict[str, list[Any]]:
    """The levels the catalogue preset trains, per family, as written there."""
    return yaml.safe_load(CATALOGUE.read_text())["design"]["factors"]


def level_name(level: Any) -> str:
    """A level's technique name: 'adam' or {name: adam, ...} → 'adam'; a list → '<combination>'."""
    if isinstance(level, list):
        return "<combination>"
    return level["name"] if isinstance(level, Mapping) else str(level)


def standard_levels(family: str) -> list[Any]:
    """The family's standard levels: the catalogue's, less `NOT_STANDARD[family]`."""
    return [level for level in catalogue_levels()[family] if level_name(level) not in NOT_STANDARD[family]]


def settings(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """`design.versus`, checked against the rest of the design; each problem one ConfigError line."""
    plan = config["design"]
    given = plan.get("versus")
    if not is_versus(config):
        if given:
            raise ConfigError("design.kind", plan["kind"], f"{KIND} when {KEY} is given (or remove {KEY})")
        return {}
    if not given:
        raise ConfigError(KEY, MISSING, "a mapping {family: ..., technique: ...} with design.kind versus")
    if not plan["tuning"]["enabled"]:
        raise ConfigError("design.tuning.enabled", plan["tuning"]["enabled"],
                          "true with design.kind versus: every level is compared at its own learning rate, chosen on validation")
    if len(plan["seeds"]) < 2:
        raise ConfigError("design.seeds", plan["seeds"], "at least 2 seeds with design.kind versus (a paired test needs them)")
    return given


def challenger(config: Mapping[str, Any]) -> Any:
    """The challenger resolved by its family's registry; a name of another family, or of none,
    gets one line listing the family's techniques."""
    family, technique = settings(config)["family"], settings(config)["technique"]
    name = level_name(technique)
    registry = FAMILIES[family]
    if name not in registry:
        owners = [other for other, entries in FAMILIES.items() if name in entries]
        where = f" ({name} is a technique of {', '.join(owners)})" if owners else ""
        raise ConfigError(f"{KEY}.technique", technique, f"a technique of family {family}: "
                          + ", ".join(registry.names()) + where)
    return resolve_level(family, technique, f"{KEY}.technique")


def factors(config: Mapping[str, Any]) -> dict[str, list[Any]]:
    """{family: [challenger, *standard levels]}, resolved and without repeats: the one factor of
    the versus ablation (the design adds the baseline's level of the family)."""
    given = settings(config)
    family = given["family"]
    first = challenger(config)
    written = given.get("levels")
    key = f"{KEY}.levels" if written is not None else f"the catalogue preset's design.factors.{family}"
    levels = [resolve_level(family, level, f"{key}[{i}]")
              for i, level in enumerate(written if written is not None else standard_levels(family))]
    others = [level for level in levels if _names(level) != _names(first)]
    return {family: list(dict.fromkeys([first, *others]))}


def _names(level: Any) -> tuple[str, ...]:
    return tuple(t.name for t in level) if isinstance(level, tuple) else (level.name,)


def challenger_label(config: Mapping[str, Any]) -> str:
    """The challenger as the tables label it (e.g. 'lion(lr=0.0003, weight_decay=0.03)')."""
    family, level = settings(config)["family"], challenger(config)
    return regularizer_label(level) if family == "regularizer" else FAMILIES[family].label(level)
