"""Designs: turn a validated config into the list of run specs.

A design chooses *which combinations of factor levels* to run; each combination is crossed with
the seeds. Designs are a registry of functions `(factors, baseline, options) -> combinations`,
where `factors` maps a family to its list of levels and a combination maps every family to a
level. Techniques are resolved (and checked) once, before any combination is made.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
from typing import Any, Callable, Mapping

from trickbench.data.sources import SOURCES
from trickbench.errors import ConfigError
from trickbench.models import MODELS
from trickbench.reference_seeds import cell_seeds
from trickbench.spec import DataSpec, RunSpec, TrainSpec, resolve_level, settings_from_dict
from trickbench.techniques import FAMILIES
from trickbench.versus import factors as versus_factors
from trickbench.versus import settings as versus_settings

Level = Any
Combination = dict[str, Level]
DesignFn = Callable[[dict[str, list[Level]], Combination, Mapping[str, Any]], list[Combination]]

DESIGNS: dict[str, DesignFn] = {}


def design(name: str) -> Callable[[DesignFn], DesignFn]:
    def register(fn: DesignFn) -> DesignFn:
        DESIGNS[name] = fn
        return fn

    return register


@design("full")
def full(factors: dict[str, list[Level]], baseline: Combination, options: Mapping[str, Any]) -> list[Combination]:
    """The factorial product of every listed factor; unlisted families stay at the baseline."""
    names = list(factors)
    return [{**baseline, **dict(zip(names, levels))} for levels in itertools.product(*factors.values())]


@design("ablation")
def ablation(factors: dict[str, list[Level]], baseline: Combination, options: Mapping[str, Any]) -> list[Combination]:
    """The baseline, plus one run per non-baseline level of each factor (one factor varied at a time)."""
    runs = [dict(baseline)]
    for family, levels in factors.items():
        runs += [{**baseline, family: level} for level in levels if level != baseline[family]]
    return runs


@design("versus")
def versus(factors: dict[str, list[Level]], baseline: Combination, options: Mapping[str, Any]) -> list[Combination]:
    """An ablation of one factor: the challenger and its family's standard levels (`trickbench.versus`)."""
    return ablation(factors, baseline, options)


#: designs that vary one factor at a time around the baseline (their effects need no averaging)
ONE_FACTOR_AT_A_TIME = ("ablation", "versus")


@design("random")
def random_sample(factors: dict[str, list[Level]], baseline: Combination, options: Mapping[str, Any]) -> list[Combination]:
    """`samples` distinct combinations drawn uniformly from the full product with `sample_seed`."""
    sizes = [len(levels) for levels in factors.values()]
    total = 1
    for size in sizes:
        total *= size
    chosen = random.Random(options["sample_seed"]).sample(range(total), min(options["samples"], total))
    runs = []
    for index in sorted(chosen):
        combination = dict(baseline)
        for family, levels in reversed(list(factors.items())):
            index, position = divmod(index, len(levels))
            combination[family] = levels[position]
        runs.append(combination)
    return runs


def expand(config: Mapping[str, Any]) -> list[RunSpec]:
    """All run specs of a validated config, in design order, seeds innermost. Combinations that
    make the same run (an ablation's baseline level listed in its factor) are one run. The reference
    cell of a many-to-one design runs `design.reference_seeds` (`trickbench.reference_seeds`), every
    other cell design.seeds — unless the design is tuned: then these runs at the config's values are
    not the compared ones, and the extra seeds go to the tuned runs (`tuning.tuned_runs`)."""
    cells = design_cells(config)
    if config["design"].get("tuning", {}).get("enabled"):
        return [dataclasses.replace(cell, seed=seed) for cell in cells for seed in config["design"]["seeds"]]
    seeds = cell_seeds(config, cells, baseline_spec(config, 0))
    return [dataclasses.replace(cell, seed=seed) for cell in cells for seed in seeds[cell.run_id]]


def design_cells(config: Mapping[str, Any]) -> list[RunSpec]:
    """The design's distinct combinations of levels, in design order, each as its spec at seed 0:
    what `expand` crosses with the seeds, and what `design.tuning` tunes one by one."""
    plan = config["design"]
    baseline = baseline_levels(config)
    cells: dict[str, RunSpec] = {}
    for combination in DESIGNS[plan["kind"]](design_factors(config), baseline, plan):
        spec = make_spec(config, combination, 0)
        cells.setdefault(spec.run_id, spec)
    if not cells:
        raise ConfigError("design", plan["kind"], "a design that yields at least one run")
    return list(cells.values())


def design_factors(config: Mapping[str, Any]) -> dict[str, list[Level]]:
    """Each varied family's resolved levels: `design.factors`, or for kind versus the challenger
    and its family's standard levels (`trickbench.versus`, which checks design.versus)."""
    if versus_settings(config):
        return versus_factors(config)
    return {family: distinct([resolve_level(family, level, f"design.factors.{family}[{i}]") for i, level in enumerate(levels)],
                             levels, f"design.factors.{family}")
            for family, levels in config["design"]["factors"].items()}


def baseline_levels(config: Mapping[str, Any]) -> Combination:
    return {family: resolve_level(family, config["baseline"][family], f"baseline.{family}") for family in FAMILIES}


def make_spec(config: Mapping[str, Any], combination: Combination, seed: int) -> RunSpec:
    """The spec of one combination of resolved levels under the config's data, model, budget and
    numerics mode."""
    return RunSpec(data=_data_spec(config["data"]), model=_model(config["model"]),
                   train=_train_spec(config["train"]), seed=seed, numerics=config["execution"]["numerics"], **combination)


def baseline_spec(config: Mapping[str, Any], seed: int) -> RunSpec:
    """The baseline run: what studies start from (and change with `dataclasses.replace`)."""
    return make_spec(config, baseline_levels(config), seed)


def distinct(resolved: list[Any], given: list[Level], key: str) -> list[Any]:
    """The levels of one factor, refused where two are the same technique once resolved (`relu`
    and `{name: relu}`, or a parameter written at its default): a repeated level would be one run
    counted as two levels — a slip in the config, never a design."""
    first: dict[Any, int] = {}
    for i, level in enumerate(resolved):
        if level in first:
            raise ConfigError(f"{key}[{i}]", given[i], f"a level not listed before (it repeats {key}[{first[level]}])")
        first[level] = i
    return resolved


def _data_spec(data: Mapping[str, Any]) -> DataSpec:
    source = SOURCES.resolve(data["source"], "data.source")
    return settings_from_dict(DataSpec, {k: v for k, v in data.items() if k != "source"}, "data", source=source)


def _model(model: Any):
    return MODELS.resolve(model, "model")


def _train_spec(train: Mapping[str, Any]) -> TrainSpec:
    return settings_from_dict(TrainSpec, train, "train")
