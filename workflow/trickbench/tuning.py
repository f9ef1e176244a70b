"""Tuning as part of a design: every cell gets its own learning rate (and optionally one more
hyperparameter), chosen on validation by a budgeted search, before its seeds run.

Why: at one fixed learning rate a comparison of techniques mixes the technique with how well that
rate suits it; with each method tuned under the same budget, rankings change (Choi et al. 2019,
"On Empirical Comparisons of Optimizers"; Sivaprasad et al. 2020; Schmidt et al. 2021, "Descending
through a Crowded Valley"). The protocol is DeepOBS's (Schneider et al. 2019): search each method
on a log scale, then rerun it over seeds at the value chosen. `design.tuning` of config.yaml:

- **Trials** (stage 1): each cell of the design — a level of an ablation, a cell of a full or
  random design — trains `trials` points of `epochs` epochs, each point on every seed of
  `seeds` (`tuning_seeds`), none of which is one of `design.seeds`: the runs that choose are not
  the runs that are compared. The trial points are the same unit points for every cell (a log
  grid, or scrambled Sobol/Halton points: Owen 1998), mapped to the cell's own ranges: its
  configured lr × 10^(±lr_decades), so Adam searches around 1e-3 and SGD around 5e-2, and — for
  cells using the `second` technique — that parameter's log range as a second coordinate. Same
  trial count, seeds and epochs for every cell: the same budget.
- **Choice** (`choose`): the trial with the best *mean* final validation accuracy over the tuning
  seeds (test never chooses). One seed is not enough: on 466 validation images winning margins
  were 0–9 images, inside the seed-to-seed noise, and a choice made on one seed moved on another
  CPU. A trial is a candidate only when *every* one of its runs trained (ended ok, validation
  accuracy above chance by the report's exact binomial test, `trickbench.stats.ChanceTest`): its
  mean then rests on the same seeds as its rivals', and a rate that fails on one seed in two is
  no rate to run the compared seeds at. Ties in mean validation accuracy (accuracies are counts of
  images, so ties are common) go to the lower mean validation loss, then to the smaller learning
  rate (then the smaller second value): a smaller rate is the safer pick, further from divergence
  on seeds not yet seen, and the rule never depends on trial order. The choice's margin over the
  runner-up (the next by the same order) is the mean of its per-seed differences, with their
  standard error and paired 95 % t interval (scipy); the choice is *within noise* when that
  interval includes 0 (or one tuning seed gives no interval). A cell with no candidate *failed
  to tune* and gets no tuned runs. A value chosen in the outer `edge_fraction` of its log range is
  flagged: the optimum may lie outside the range.
- **Tuned runs** (stage 2): each tuned cell at its chosen values over `design.seeds`. A Snakemake
  checkpoint writes the choice table; these runs enter the DAG only once it exists, and any later
  parse of the workflow (a cluster job, `trickbench plan`) reads them from it.
- The design's runs at the configured values (the fixed-rate ablation, the same run ids as without
  tuning) run too, so the fixed-rate and the tuned ranking rest on the same seeds and the same test.

A tuned run keeps its cell's identity: `adam` tuned to lr 3e-3 is level `adam` in every table and
ranking (collect labels it with its cell's levels; its lr is in column `base_lr`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import qmc

from trickbench.atomic import atomic_path
from trickbench.collect import RunRole, baseline_labels, varied_factor
from trickbench.design import baseline_spec, design_cells, expand
from trickbench.errors import ConfigError
from trickbench.logs import logging_to
from trickbench.reference_seeds import cell_seeds
from trickbench.registry import Technique
from trickbench.stats import ChanceTest
from trickbench.spec import RunSpec
from trickbench.techniques import FAMILIES
from trickbench.tuning_seeds import tuning_seeds

log = logging.getLogger("trickbench.tuning")

TRIALS_TABLE = "tuning_trials"  # results/tables/<name>.csv: one row per trial
CHOICE_TABLE = "tuning"  # one row per cell: the chosen values (the checkpoint's table)
KEY = "design.tuning"

#: the confidence of the paired interval that decides "within noise"
MARGIN_CONFIDENCE = 0.95

TRIAL_COLUMNS = ["cell", "varies", *FAMILIES, "trial", "seed", "run_id", "lr", "lr_low", "lr_high", "fixed_lr",
                 "parameter", "value", "value_low", "value_high", "fixed_value", "status", "val_acc", "val_loss",
                 "val_images", "test_acc", "epochs_completed", "chance_acc", "chance_threshold", "trained"]
CHOICE_COLUMNS = ["cell", "varies", *FAMILIES, "status", "trials", "trials_trained", "seeds", "trial", "run_ids",
                  "val_acc", "val_loss", "lr", "lr_low", "lr_high", "fixed_lr", "lr_position", "lr_at_edge", "parameter",
                  "value", "value_low", "value_high", "fixed_value", "value_position", "value_at_edge",
                  "runner_up_lr", "runner_up_value", "runner_up_val_acc", "margin", "margin_se", "margin_low",
                  "margin_high", "within_noise", "tie_broken_by", "warning"]


def settings(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config["design"]["tuning"]


def enabled(config: Mapping[str, Any]) -> bool:
    return bool(config["design"].get("tuning", {}).get("enabled", False))


# -- the search points ---------------------------------------------------------------------------
def unit_points(search: str, count: int, dims: int, seed: int) -> np.ndarray:
    """`count` points of the unit cube [0, 1]^dims, one row each. grid: evenly spaced ends
    included (one point: the centre; two dimensions: a √count × √count product, lr outer);
    sobol / halton: scrambled quasi-random points (scipy.stats.qmc), seeded, so every cell gets
    the same points and a cell's range alone decides where it searches."""
    if search == "grid":
        side = count if dims == 1 else math.isqrt(count)
        axis = np.linspace(0.0, 1.0, side) if side > 1 else np.array([0.5])
        return np.array(list(itertools.product(axis, repeat=dims)))
    engine = {"sobol": qmc.Sobol, "halton": qmc.Halton}[search](d=dims, scramble=True, seed=seed)
    return engine.random_base2(int(math.log2(count))) if search == "sobol" else engine.random(count)


def log_values(unit: Sequence[float], low: float, high: float) -> list[float]:
    """Unit coordinates mapped log-linearly onto [low, high] (0 → low, 1 → high), rounded to 3
    significant digits (readable in tables and labels; the rounding moves a value < 0.5 %)."""
    a, b = math.log10(low), math.log10(high)
    return [float(f"{10 ** (a + u * (b - a)):.3g}") for u in unit]


def lr_range(cell: RunSpec, decades: float) -> tuple[float, float]:
    """The cell's own learning-rate range: its configured lr × 10^(±decades), to 3 significant
    digits like the points in it (so a grid's end points lie exactly on its ends)."""
    lr = cell.optimizer.kwargs["lr"]
    return float(f"{lr * 10 ** -decades:.3g}"), float(f"{lr * 10 ** decades:.3g}")


def edge_position(value: float, low: float, high: float) -> float:
    """Where `value` lies in [low, high] on a log scale: 0 at low, 1 at high."""
    return (math.log10(value) - math.log10(low)) / (math.log10(high) - math.log10(low))


def at_edge(position: float, fraction: float) -> bool:
    """Within the outer `fraction` of the log range (a grid's end points always are)."""
    return math.isfinite(position) and (position <= fraction or position >= 1 - fraction)


# -- what is searched ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Searched:
    """The hyperparameter searched beside the learning rate: one float parameter of one technique,
    over a log range, in the cells that use that technique."""

    family: str
    technique: str
    parameter: str
    low: float
    high: float

    @property
    def name(self) -> str:
        return f"{self.technique}.{self.parameter}"

    def used_by(self, cell: RunSpec) -> bool:
        return any(t.name == self.technique for t in _techniques(cell, self.family))

    def value_in(self, spec: RunSpec) -> float:
        return next(float(t.kwargs[self.parameter]) for t in _techniques(spec, self.family) if t.name == self.technique)


def _techniques(spec: RunSpec, family: str) -> tuple[Technique, ...]:
    value = getattr(spec, family)
    return value if family == "regularizer" else (value,)


def searched_parameter(config: Mapping[str, Any]) -> Searched | None:
    """`design.tuning.second` checked against the registries (None when absent)."""
    second = settings(config).get("second")
    if not second:
        return None
    name, parameter, (low, high) = second["technique"], second["parameter"], second["range"]
    owners = [family for family, registry in FAMILIES.items() if name in registry]
    if not owners:
        raise ConfigError(f"{KEY}.second.technique", name, "a technique name (`trickbench techniques` lists them)")
    family = next((f for f in owners if isinstance(FAMILIES[f].get(name).defaults.get(parameter), float)), None)
    if family is None:
        floats = sorted(p for f in owners for p, v in FAMILIES[f].get(name).defaults.items() if isinstance(v, float))
        raise ConfigError(f"{KEY}.second.parameter", parameter,
                          f"a float parameter of {name}: {', '.join(floats)}" if floats else f"none: {name} has no float parameter")
    if not low < high:
        raise ConfigError(f"{KEY}.second.range", [low, high], "[low, high] with 0 < low < high")
    bound_low, bound_high = FAMILIES[family].get(name).bounds.get(parameter, (None, None))
    if (bound_low is not None and low < bound_low) or (bound_high is not None and high > bound_high):
        raise ConfigError(f"{KEY}.second.range", [low, high],
                          f"within the bounds of {name}.{parameter}: [{bound_low}, {bound_high if bound_high is not None else 'inf'}]")
    return Searched(family, name, parameter, float(low), float(high))


def at_values(cell: RunSpec, lr: float, value: float | None, searched: Searched | None) -> RunSpec:
    """The cell with its optimizer at `lr` and, where given, the searched parameter at `value`."""
    optimizer = FAMILIES["optimizer"].resolve({**cell.optimizer.as_dict(), "lr": lr}, f"{KEY} (lr)")
    spec = dataclasses.replace(cell, optimizer=optimizer)
    if value is None or searched is None:
        return spec
    registry = FAMILIES[searched.family]
    changed = tuple(registry.resolve({**t.as_dict(), searched.parameter: value}, f"{KEY}.second")
                    if t.name == searched.technique else t for t in _techniques(spec, searched.family))
    return dataclasses.replace(spec, **{searched.family: changed if searched.family == "regularizer" else changed[0]})


# -- stage 1: the trials ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Trial:
    cell: RunSpec  # the design cell at its configured values (seed 0: a key, never trained as such)
    index: int  # the trial point; each runs on every tuning seed
    lr: float
    value: float | None  # the searched parameter's value, where the cell uses that technique
    spec: RunSpec  # the run at one tuning seed

    @property
    def seed(self) -> int:
        return self.spec.seed


def trials(config: Mapping[str, Any]) -> list[Trial]:
    """Every cell's trial runs — each trial point on each tuning seed — cells in design order
    (none when tuning is off). Raises ConfigError for a budget the search cannot honour or a
    design whose cells tuning would merge."""
    if not enabled(config):
        return []
    tuning, searched = settings(config), searched_parameter(config)
    check_protocol(config, searched)
    cells = design_cells(config)
    check_cells_stay_distinct(cells, searched)
    if searched is not None and not any(searched.used_by(cell) for cell in cells):
        raise ConfigError(f"{KEY}.second.technique", searched.technique, "a technique some configuration of the design uses")
    epochs, seeds = tuning["epochs"] or config["train"]["epochs"], tuning_seeds(config)
    found = []
    for cell in cells:
        two = searched is not None and searched.used_by(cell)
        unit = unit_points(tuning["search"], tuning["trials"], 2 if two else 1, tuning["sample_seed"])
        lrs = log_values(unit[:, 0], *lr_range(cell, tuning["lr_decades"]))
        values = log_values(unit[:, 1], searched.low, searched.high) if two else [None] * len(lrs)
        for index, (lr, value) in enumerate(zip(lrs, values)):
            spec = dataclasses.replace(at_values(cell, lr, value, searched), train=dataclasses.replace(cell.train, epochs=epochs))
            found += [Trial(cell, index, lr, value, dataclasses.replace(spec, seed=seed)) for seed in seeds]
    return found


def check_protocol(config: Mapping[str, Any], searched: Searched | None) -> None:
    """What the tuning protocol needs of the config, each failure one line."""
    tuning = settings(config)
    tuning_seeds(config)
    count = tuning["trials"]
    if tuning["search"] == "sobol" and count & (count - 1):
        raise ConfigError(f"{KEY}.trials", count, "a power of 2 with search sobol (its balance needs it; halton takes any count)")
    if tuning["search"] == "grid" and searched is not None and math.isqrt(count) ** 2 != count:
        raise ConfigError(f"{KEY}.trials", count, f"a square number with search grid and a second parameter "
                                                  f"(a side × side grid of lr × {searched.name})")


def check_cells_stay_distinct(cells: list[RunSpec], searched: Searched | None) -> None:
    """Two levels that differ only in what tuning searches (e.g. momentum at lr 0.05 and at 0.01)
    would become the same experiment once tuned: a design error, not a comparison."""
    seen: dict[str, RunSpec] = {}
    for cell in cells:
        value = searched.low if searched is not None and searched.used_by(cell) else None
        neutral = at_values(cell, 1.0, value, searched).run_id
        if neutral in seen:
            other = seen[neutral]
            family = next(f for f in FAMILIES if other.label(f) != cell.label(f))
            raise ConfigError(f"design.factors.{family}", f"{other.label(family)} and {cell.label(family)}",
                              "levels that differ in more than what design.tuning searches (the lr"
                              + (f" and {searched.name})" if searched else ")"))
        seen[neutral] = cell


def spec_labels(spec: RunSpec) -> dict[str, str]:
    return {family: spec.label(family) for family in FAMILIES}


def cell_label(labels: Mapping[str, str], reference: Mapping[str, str]) -> str:
    """What a cell changes relative to `reference` (the baseline), e.g. 'optimizer=adam', or 'baseline'."""
    return ", ".join(f"{f}={labels[f]}" for f in FAMILIES if labels[f] != reference.get(f)) or "baseline"


def ran_label(labels: Mapping[str, str], spec: RunSpec, baseline: Mapping[str, str]) -> str:
    """What a tuned cell ran, in the words a config uses: the levels its cell (`labels`, its
    configured levels) changes from the baseline, at the values `spec` ran them, and the learning
    rate — e.g. 'regularizer=l2(strength=0.0172) at lr 0.0137', 'optimizer=adam(lr=0.00316)',
    'baseline at lr 0.0158'. A tuned level's configured values are not what its runs used."""
    changed = [family for family in FAMILIES if labels[family] != baseline.get(family)]
    text = ", ".join(f"{family}={spec.label(family)}" for family in changed) or "baseline"
    return text if "optimizer" in changed else f"{text} at lr {spec.optimizer.kwargs['lr']:.3g}"


def ran_level(family: str, spec: RunSpec) -> str:
    """One level of a tuned cell as it ran: 'l2(strength=0.0172) at lr 0.0137', 'adam(lr=0.00316)'."""
    return spec.label(family) + ("" if family == "optimizer" else f" at lr {spec.optimizer.kwargs['lr']:.3g}")


# -- the choice (the checkpoint) -------------------------------------------------------------------
def trial_row(config: Mapping[str, Any], trial: Trial, summary: Mapping[str, Any], chance: ChanceTest) -> dict[str, Any]:
    """One trial run (a trial point at one tuning seed) as a row; it *trained* when it ended ok
    above chance on validation (the report's failed-run rule, `trickbench.stats.failures`)."""
    searched = searched_parameter(config)
    two = trial.value is not None
    labels = spec_labels(trial.cell)
    low, high = lr_range(trial.cell, settings(config)["lr_decades"])
    val_acc = _finite(summary.get("final_val_acc"))
    return {"cell": trial.cell.run_id, "varies": varied_factor(labels, baseline_labels(config)), **labels,
            "trial": trial.index, "seed": trial.seed, "run_id": trial.spec.run_id, "lr": trial.lr, "lr_low": low,
            "lr_high": high, "fixed_lr": trial.cell.optimizer.kwargs["lr"], "parameter": searched.name if two else "",
            "value": trial.value if two else math.nan, "value_low": searched.low if two else math.nan,
            "value_high": searched.high if two else math.nan,
            "fixed_value": searched.value_in(trial.cell) if two else math.nan, "status": summary["status"],
            "val_acc": val_acc, "val_loss": _finite(summary.get("final_val_loss")), "val_images": chance.n_val,
            "test_acc": _finite(summary.get("final_test_acc")), "epochs_completed": summary.get("epochs_completed"),
            "chance_acc": chance.chance, "chance_threshold": chance.threshold,
            "trained": bool(summary["status"] == "ok" and math.isfinite(val_acc) and not chance.at_chance(val_acc))}


def _finite(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else math.nan


def trial_means(runs: pd.DataFrame, seeds: int) -> pd.DataFrame:
    """One cell's trial runs → one row per trial point: its values, its runs and trained runs, the
    images its runs got right in all (the exact form of its mean validation accuracy: ties stay
    ties), its mean validation accuracy and loss, and whether it is a *candidate* — every one of
    its `seeds` runs trained. Ordered best first by the choice rule: more images right, then lower
    mean validation loss, then the smaller lr, then the smaller second value."""
    runs = runs.assign(correct=(runs["val_acc"].astype(float) * runs["val_images"].astype(float)).round())
    means = runs.groupby("trial", sort=True).agg(
        lr=("lr", "first"), value=("value", "first"), runs=("run_id", "size"),
        trained=("trained", lambda t: int(t.astype(bool).sum())), correct=("correct", "sum"),
        val_acc=("val_acc", "mean"), val_loss=("val_loss", "mean")).reset_index()
    means["candidate"] = (means["trained"] == seeds) & (means["runs"] == seeds)
    return means.sort_values(["candidate", "correct", "val_loss", "lr", "value"],
                             ascending=[False, False, True, True, True], na_position="last", kind="stable")


def tie_rule(best: Mapping[str, Any], runner_up: Mapping[str, Any]) -> str:
    """Which step of the choice rule put `best` before `runner_up`: "" (mean validation accuracy)
    or the tie-break that did."""
    if best["correct"] != runner_up["correct"]:
        return ""
    losses = (best["val_loss"], runner_up["val_loss"])
    if all(map(math.isfinite, losses)) and losses[0] != losses[1]:
        return "validation loss"
    return "learning rate" if best["lr"] != runner_up["lr"] else "second value"


def margin(runs: pd.DataFrame, best: int, runner_up: int) -> dict[str, float]:
    """The best trial's margin over the runner-up in validation accuracy (points): the mean of
    their per-seed differences (paired by tuning seed), its standard error, and the paired
    MARGIN_CONFIDENCE t interval (scipy). One seed: no error, no interval."""
    by_seed = runs.pivot_table(index="seed", columns="trial", values="val_acc", aggfunc="first")
    differences = 100 * (by_seed[best] - by_seed[runner_up]).to_numpy(dtype=float)
    mean = float(differences.mean())
    if len(differences) < 2:
        return {"margin": mean, "margin_se": math.nan, "margin_low": math.nan, "margin_high": math.nan}
    error = float(stats.sem(differences))
    if error == 0:  # every seed the same difference: an interval of no width
        return {"margin": mean, "margin_se": 0.0, "margin_low": mean, "margin_high": mean}
    low, high = stats.t.interval(MARGIN_CONFIDENCE, len(differences) - 1, loc=mean, scale=error)
    return {"margin": mean, "margin_se": error, "margin_low": float(low), "margin_high": float(high)}


def choose(group: pd.DataFrame, seeds: int) -> dict[str, Any]:
    """One cell's choice from its trial runs: the first trial by `trial_means`' order among the
    candidates, with its margin over the next candidate and whether that margin is within noise
    (the paired interval includes 0, or there is none); empty when no trial is a candidate."""
    means = trial_means(group, seeds)
    candidates = means[means["candidate"]].to_dict("records")
    if not candidates:
        return {}
    best = candidates[0]
    chosen = group[group["trial"] == best["trial"]]
    found = {"trial": int(best["trial"]), "run_ids": " ".join(chosen["run_id"].astype(str)), "val_acc": best["val_acc"],
             "val_loss": best["val_loss"], "lr": best["lr"], "value": best["value"], "runner_up_lr": math.nan,
             "runner_up_value": math.nan, "runner_up_val_acc": math.nan, "margin": math.nan, "margin_se": math.nan,
             "margin_low": math.nan, "margin_high": math.nan, "within_noise": False, "tie_broken_by": ""}
    if len(candidates) > 1:
        runner_up = candidates[1]
        found.update(runner_up_lr=runner_up["lr"], runner_up_value=runner_up["value"],
                     runner_up_val_acc=runner_up["val_acc"], tie_broken_by=tie_rule(best, runner_up),
                     **margin(group, best["trial"], runner_up["trial"]))
        found["within_noise"] = not found["margin_low"] > 0  # NaN (one seed): within noise
    return found


def choice_table(config: Mapping[str, Any], trial_table: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: the trial chosen by `choose` over the tuning seeds, where its values lie in
    their ranges, a warning at an edge — or status 'failed to tune' when no trial trained on every
    tuning seed."""
    fraction, baseline = settings(config)["edge_fraction"], baseline_labels(config)
    seeds = len(tuning_seeds(config))
    rows = []
    for cell, group in trial_table.groupby("cell", sort=False):
        first = group.iloc[0]
        label = cell_label(first[list(FAMILIES)].to_dict(), baseline)
        row = {column: first[column] for column in ("cell", "varies", *FAMILIES, "lr_low", "lr_high", "fixed_lr",
                                                    "parameter", "value_low", "value_high", "fixed_value")}
        trials_trained = int(trial_means(group, seeds)["candidate"].sum())
        row.update(trials=int(group["trial"].nunique()), trials_trained=trials_trained, seeds=seeds, status="tuned",
                   lr_position=math.nan, lr_at_edge=False, value_position=math.nan, value_at_edge=False)
        chosen = choose(group, seeds)
        if not chosen:
            outcomes = ", ".join(f"{n} {status}" for status, n in group["status"].value_counts().items())
            row.update(status="failed to tune", trial=math.nan, run_ids="", val_acc=math.nan, val_loss=math.nan,
                       lr=math.nan, value=math.nan, within_noise=False, tie_broken_by="",
                       warning=f"{label} failed to tune: none of its {row['trials']} trials trained on all of its "
                               f"{seeds} tuning seed(s) ({len(group)} runs: {outcomes}; 'ok' runs not above chance on "
                               f"validation count as not trained)")
        else:
            row.update(chosen)
            warnings = []
            for name, value, low, high, prefix in (("lr", chosen["lr"], row["lr_low"], row["lr_high"], "lr"),
                                                   (row["parameter"], chosen["value"], row["value_low"], row["value_high"], "value")):
                if not name or not math.isfinite(value):
                    continue
                position = edge_position(value, low, high)
                row[f"{prefix}_position"], row[f"{prefix}_at_edge"] = position, at_edge(position, fraction)
                if row[f"{prefix}_at_edge"]:
                    side = "lower" if position <= 0.5 else "upper"
                    warnings.append(f"{label}: chosen {name} {value:.3g} lies at the {side} edge of its range "
                                    f"[{low:.3g}, {high:.3g}]; the optimum may lie outside it")
            row["warning"] = "; ".join(warnings)
        if row["warning"]:
            log.warning(row["warning"])
        rows.append(row)
    return pd.DataFrame(rows, columns=CHOICE_COLUMNS)


def summarize(config: Mapping[str, Any], run_dirs: Sequence[str | Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The trials' run folders → (the trials table, the choice table)."""
    by_id = {trial.spec.run_id: trial for trial in trials(config)}
    rows = []
    for run_dir in map(Path, run_dirs):
        summary = json.loads((run_dir / "summary.json").read_text())
        n_val, classes = np.load(run_dir / "val_logits.npy", mmap_mode="r", allow_pickle=False).shape
        rows.append(trial_row(config, by_id[run_dir.name], summary, ChanceTest(classes, n_val)))
    trial_table = pd.DataFrame(rows, columns=TRIAL_COLUMNS)
    return trial_table, choice_table(config, trial_table)


def write_choice(config: Mapping[str, Any], run_dirs: Sequence[str | Path], trials_csv: str | Path,
                 choice_csv: str | Path, log_path: str | Path) -> None:
    """The checkpoint step: summarize the trials and write both tables atomically."""
    with logging_to(log_path):
        trial_table, choice = summarize(config, run_dirs)
        for frame, target in ((trial_table, trials_csv), (choice, choice_csv)):
            with atomic_path(target) as tmp:
                frame.to_csv(tmp, index=False)
        tuned = int((choice["status"] == "tuned").sum())
        log.info("tuning: %d trial run(s) of %d cell(s) summarized; %d tuned (%d within noise of the runner-up), "
                 "%d failed to tune, %d chosen at an edge", len(trial_table), len(choice), tuned,
                 int(choice["within_noise"].astype(bool).sum()), len(choice) - tuned,
                 int((choice["lr_at_edge"] | choice["value_at_edge"]).sum()))


# -- stage 2: the tuned runs -----------------------------------------------------------------------
@dataclass(frozen=True)
class TunedRun:
    spec: RunSpec
    cell: RunSpec
    value: float | None  # the searched parameter's chosen value, where the cell uses it


def tuned_runs(config: Mapping[str, Any], choice: pd.DataFrame) -> list[TunedRun]:
    """Each tuned cell at its chosen values over design.seeds, cells in design order. Cells the
    table does not hold (a table from another config) or that failed to tune get none."""
    if not enabled(config) or choice.empty:
        return []
    searched = searched_parameter(config)
    chosen = {row["cell"]: row for row in choice.to_dict("records") if row["status"] == "tuned"}
    runs = []
    cells = design_cells(config)
    seeds = cell_seeds(config, cells, baseline_spec(config, 0))  # the reference's design.reference_seeds, every other cell design.seeds
    for cell in cells:
        row = chosen.get(cell.run_id)
        if row is None:
            continue
        value = float(row["value"]) if searched is not None and searched.used_by(cell) else None
        if value is not None and not math.isfinite(value):
            continue
        spec = at_values(cell, float(row["lr"]), value, searched)
        runs += [TunedRun(dataclasses.replace(spec, seed=seed), cell, value) for seed in seeds[cell.run_id]]
    return runs


def chosen_specs(config: Mapping[str, Any], choice: pd.DataFrame) -> dict[str, tuple[RunSpec, RunSpec]]:
    """cell run id → (the cell, the cell at its chosen values) for every tuned cell of the choice table."""
    searched = searched_parameter(config)
    cells = {cell.run_id: cell for cell in design_cells(config)}
    found = {}
    for row in choice.to_dict("records"):
        cell = cells.get(row["cell"])
        if cell is None or row["status"] != "tuned":
            continue
        value = float(row["value"]) if searched is not None and searched.used_by(cell) else None
        found[row["cell"]] = (cell, at_values(cell, float(row["lr"]), value, searched))
    return found


def chosen_labels(config: Mapping[str, Any], choice: pd.DataFrame) -> dict[str, str]:
    """cell run id → `ran_label` of its chosen values, for every tuned cell of the choice table."""
    baseline = baseline_labels(config)
    return {cell_id: ran_label(spec_labels(cell), spec, baseline)
            for cell_id, (cell, spec) in chosen_specs(config, choice).items()}


def tuned_runs_from(config: Mapping[str, Any], choice_csv: str | Path) -> list[TunedRun]:
    """The tuned runs once the checkpoint's table exists; none before."""
    if not enabled(config) or not Path(choice_csv).is_file():
        return []
    return tuned_runs(config, pd.read_csv(choice_csv))


def run_roles(config: Mapping[str, Any], tables: str | Path) -> dict[str, RunRole]:
    """run id → its role in the design (what the collect step writes in column `role`): the
    fixed-rate grid, the tuning trials, and — once chosen — the tuned runs. A tuned run whose
    chosen values are the configured ones is the grid's run: role 'grid+tuned', trained once."""
    roles = {spec.run_id: RunRole("grid") for spec in expand(config)}
    searched = searched_parameter(config) if enabled(config) else None
    for trial in trials(config):
        roles[trial.spec.run_id] = RunRole("tuning", trial.cell, searched.name if trial.value is not None else "",
                                           trial.value if trial.value is not None else math.nan)
    for run in tuned_runs_from(config, Path(tables) / f"{CHOICE_TABLE}.csv"):
        shared = run.spec.run_id in roles and roles[run.spec.run_id].role == "grid"
        roles[run.spec.run_id] = RunRole("grid+tuned" if shared else "tuned", run.cell,
                                         searched.name if run.value is not None else "",
                                         run.value if run.value is not None else math.nan)
    return roles
