"""`design.reference_seeds`: the seeds the reference of a many-to-one design runs.

In an ablation every level is compared with the baseline cell; in a versus design every standard
level with the challenger. Each comparison shares the reference's noise, so one unlucky reference
seed widens all of them. The classical allocation (Dunnett 1955) gives the reference about √k
times the seeds of each of k compared levels: that minimizes the variance of every many-to-one
difference for a given total of runs. The extra reference runs enter the pooled model
(`stats.pooled`: the reference's extra seeds make it a one-way model over every run).

The key takes:

- `auto`: round(√k × len(design.seeds)) reference seeds in all, k the compared levels
  (docs/statistics.md has what it gains on the default grid);
- a count: that many reference seeds in all (at least len(design.seeds));
- a list of seeds: exactly those for the reference (it must hold every one of design.seeds);
- `same` (the schema's default, so presets and configs written before the key keep their runs):
  the design's seeds, no extra run.

Extra seeds are the smallest seeds not in design.seeds and not in design.tuning.seeds (the tuning
trials' seeds are never compared). The smallest, because the runs a study already trains of the
reference's spec sit there: the ensemble's members are the baseline at seeds 0..K−1, so with
design.seeds [0, 1, 2] the extra seeds 3, 4, … are members, counted once and never retrained. The
rule reads nothing but the config, so the runs a config makes never depend on which studies are
loaded (this module sits below the studies and the design, which pass it the baseline). Designs that
are not many-to-one (full, random) run every cell, the reference included, on design.seeds. Run ids
of existing runs do not change: an extra run is the reference's spec at another seed.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

from trickbench.errors import ConfigError
from trickbench.spec import RunSpec
from trickbench.tuning_seeds import tuning_seeds
from trickbench.versus import challenger_label

KEY = "design.reference_seeds"
#: design kinds whose comparisons are many-to-one (every level against one reference cell)
MANY_TO_ONE = ("ablation", "versus")
ALLOWED = ("'auto', 'same', a count of reference seeds ≥ the number of design.seeds, or a list of seeds "
           "(integers ≥ 0) holding every one of design.seeds")


def reference_cell(config: Mapping[str, Any], cells: list[RunSpec], baseline: RunSpec) -> RunSpec | None:
    """The cell every other is compared with: the baseline (`baseline`, the design's baseline spec)
    in an ablation, the challenger in a versus design; None in other designs."""
    kind = config["design"]["kind"]
    if kind not in MANY_TO_ONE:
        return None
    if kind == "versus":
        family, label = config["design"]["versus"]["family"], challenger_label(config)
        return next((cell for cell in cells if cell.label(family) == label), None)
    return next((cell for cell in cells if cell.run_id == dataclasses.replace(baseline, seed=cell.seed).run_id), None)


def reference_seeds(config: Mapping[str, Any], cells: list[RunSpec], baseline: RunSpec) -> list[int]:
    """The seeds the reference cell runs: design.seeds, then the extra seeds (module docstring)."""
    seeds = list(config["design"]["seeds"])
    wanted = config["design"].get("reference_seeds", "same")
    if reference_cell(config, cells, baseline) is None:
        return seeds
    if isinstance(wanted, list):
        missing = [seed for seed in seeds if seed not in wanted]
        if missing or len(set(wanted)) != len(wanted) or not all(_is_seed(s) for s in wanted):
            raise ConfigError(KEY, wanted, ALLOWED + (f" (missing {missing})" if missing else ""))
        return seeds + [seed for seed in wanted if seed not in seeds]
    total = planned_total(wanted, len(seeds), len(cells) - 1)
    return seeds + extra_seeds(config, total - len(seeds))


def planned_total(wanted: Any, seeds: int, compared: int) -> int:
    """How many seeds the reference runs in all, for a count, `same` or `auto`."""
    if wanted == "same":
        return seeds
    if wanted == "auto":
        return max(seeds, round(math.sqrt(max(compared, 1)) * seeds))
    if isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < seeds:
        raise ConfigError(KEY, wanted, ALLOWED)
    return wanted


def extra_seeds(config: Mapping[str, Any], count: int) -> list[int]:
    """`count` seeds beyond design.seeds: the smallest free ones (module docstring), never a seed of
    design.tuning.seeds."""
    tuned = config["design"].get("tuning", {}).get("enabled", False)
    taken = set(config["design"]["seeds"]) | (set(tuning_seeds(config)) if tuned else set())
    chosen: list[int] = []
    candidate = 0
    while len(chosen) < count:
        if candidate not in taken:
            chosen.append(candidate)
        candidate += 1
    return chosen


def cell_seeds(config: Mapping[str, Any], cells: list[RunSpec], baseline: RunSpec) -> dict[str, list[int]]:
    """Cell run id → the seeds it runs: the reference's `reference_seeds`, every other design.seeds."""
    reference = reference_cell(config, cells, baseline)
    chosen = reference_seeds(config, cells, baseline) if reference is not None else []
    return {cell.run_id: (chosen if reference is not None and cell.run_id == reference.run_id
                          else list(config["design"]["seeds"])) for cell in cells}


def _is_seed(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
