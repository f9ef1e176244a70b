"""Learning-rate search: random search in log space, coarse then fine, exploding runs cut short.

The recipe of the cs231n notes ("Neural Networks Part 3: hyperparameter optimization") with the
random (not grid) sampling of Bergstra & Bengio 2012: a coarse stage samples the learning rate
(and, optionally, a regularizer's strength) log-uniformly over wide ranges for a few epochs; a fine
stage samples again around the best coarse point for longer. Runs whose training loss exceeds
`explode_factor` × its first value are aborted (status `exploded`): a result, not a crash.
Configurations are chosen on validation accuracy only. When the best value lies near an edge of
the range searched, the optimum may lie outside it: the table and the figure say so.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path
from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from trickbench.design import baseline_spec
from trickbench.errors import ConfigError
from trickbench.report.figures import Tables, figure, placeholder
from trickbench.report.style import PALETTE, apply_theme
from trickbench.spec import RunSpec
from trickbench.studies import Stage, Study, is_enabled, register_study
from trickbench.techniques.optimizers import OPTIMIZERS
from trickbench.techniques.regularizers import REGULARIZERS

NAME = "lr_search"
TITLE = "Learning-rate search"
COARSE_TABLE = "lr_search_coarse"
log = logging.getLogger("trickbench.studies.lr_search")

RUN_COLUMNS = ["stage", "run_id", "lr", "strength", "status", "val_acc", "test_acc", "epochs_completed"]


# -- sampling ------------------------------------------------------------------------------------
def log_uniform(rng: np.random.Generator, low: float, high: float, count: int) -> list[float]:
    """`count` values with log10 uniform on [log10 low, log10 high], rounded to 3 significant
    digits (readable labels; the rounding moves a value by < 0.5 %)."""
    return [float(f"{10 ** x:.3g}") for x in rng.uniform(math.log10(low), math.log10(high), count)]


def fine_range(best: float, width_decades: float) -> tuple[float, float]:
    """The fine stage's range: `width_decades` decades centred (in log space) on the best value."""
    return best * 10 ** (-width_decades / 2), best * 10 ** (width_decades / 2)


def edge_position(value: float, low: float, high: float) -> float:
    """Where `value` lies in [low, high] on a log scale: 0 at low, 1 at high."""
    return (math.log10(value) - math.log10(low)) / (math.log10(high) - math.log10(low))


def edge_warning(parameter: str, stage: str, value: float, low: float, high: float, fraction: float) -> str:
    """A warning when `value` lies within `fraction` of the log range of an edge, else ''."""
    position = edge_position(value, low, high)
    if fraction < position < 1 - fraction:
        return ""
    side = "lower" if position <= fraction else "upper"
    return (f"{stage} stage: best {parameter} {value:.3g} lies at the {side} edge of the range searched "
            f"[{low:.3g}, {high:.3g}]; the optimum may lie outside it — widen the range")


# -- specs ---------------------------------------------------------------------------------------
def settings(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config["studies"][NAME]


def searched_regularizer(config: Mapping[str, Any]) -> str | None:
    """The regularizer whose `strength` is searched beside the lr, or None for the lr alone."""
    name = settings(config)["regularizer"]
    if name == "none":
        return None
    entry = REGULARIZERS.get(name, f"studies.{NAME}.regularizer")
    if "strength" not in entry.defaults:
        allowed = ", ".join(e.name for e in REGULARIZERS if "strength" in e.defaults)
        raise ConfigError(f"studies.{NAME}.regularizer", name, f"none or a regularizer with a strength: {allowed}")
    return name


def search_spec(config: Mapping[str, Any], lr: float, strength: float | None, epochs: int) -> RunSpec:
    """The baseline with this lr (and strength), trained `epochs` epochs with the explosion abort."""
    study = settings(config)
    base = baseline_spec(config, study["seed"])
    if "lr" not in OPTIMIZERS.get(base.optimizer.name).defaults:
        raise ConfigError("baseline.optimizer", base.optimizer.name, "an optimizer with an `lr` to search")
    optimizer = OPTIMIZERS.resolve({**base.optimizer.as_dict(), "lr": lr}, f"studies.{NAME}")
    regularizer = base.regularizer
    name = searched_regularizer(config)
    if name is not None:
        searched = REGULARIZERS.resolve({"name": name, "strength": strength}, f"studies.{NAME}.regularizer")
        regularizer = tuple(sorted([*(t for t in base.regularizer if t.name != name), searched],
                                   key=lambda t: (t.name, t.params)))
    train = dataclasses.replace(base.train, epochs=epochs, explode_factor=float(study["explode_factor"]))
    return dataclasses.replace(base, optimizer=optimizer, regularizer=regularizer, train=train)


Range = tuple[float, float]


def stage_specs(config: Mapping[str, Any], stage: str, lr_range: Range, strength_range: Range | None) -> list[RunSpec]:
    """`samples` random points of one stage (strength_range None: the lr alone), seeded per stage."""
    study = settings(config)
    rng = np.random.default_rng([study["seed"], 0 if stage == "coarse" else 1])
    count = study[stage]["samples"]
    lrs = log_uniform(rng, *lr_range, count)
    strengths = log_uniform(rng, *strength_range, count) if strength_range else [None] * count
    specs = [search_spec(config, lr, strength, study[stage]["epochs"]) for lr, strength in zip(lrs, strengths)]
    return list({spec.run_id: spec for spec in specs}.values())


def coarse_specs(config: Mapping[str, Any]) -> list[RunSpec]:
    return stage_specs(config, "coarse", *coarse_ranges(config))


def fine_specs(config: Mapping[str, Any], coarse: pd.DataFrame) -> list[RunSpec]:
    """The fine stage around the best finished coarse point; none if every coarse run failed."""
    best = best_row(coarse)
    if best is None:
        log.warning("no coarse run finished: there is no fine stage")
        return []
    lr_range, strength_range = fine_ranges(config, best)
    return stage_specs(config, "fine", lr_range, strength_range)


def coarse_ranges(config: Mapping[str, Any]) -> tuple[Range, Range | None]:
    study = settings(config)
    return tuple(study["lr_range"]), tuple(study["strength_range"]) if searched_regularizer(config) else None


def fine_ranges(config: Mapping[str, Any], best: Mapping[str, Any]) -> tuple[Range, Range | None]:
    width = settings(config)["fine"]["width_decades"]
    return fine_range(best["lr"], width), fine_range(best["strength"], width) if searched_regularizer(config) else None


# -- tables --------------------------------------------------------------------------------------
def run_row(run_dir: Path, stage: str, config: Mapping[str, Any]) -> dict[str, Any]:
    summary = json.loads((run_dir / "summary.json").read_text())
    spec = RunSpec.from_dict(summary["spec"])
    name = searched_regularizer(config)
    strength = next((t.kwargs["strength"] for t in spec.regularizer if t.name == name), math.nan)
    return {"stage": stage, "run_id": summary["run_id"], "lr": spec.optimizer.kwargs["lr"], "strength": strength,
            "status": summary["status"], "val_acc": summary["best_val_acc"], "test_acc": summary["best_test_acc"],
            "epochs_completed": summary["epochs_completed"]}


def best_row(runs: pd.DataFrame) -> dict[str, Any] | None:
    """The finished run with the highest validation accuracy (never chosen on test)."""
    if runs.empty:
        return None
    ok = runs[(runs["status"] == "ok") & np.isfinite(pd.to_numeric(runs["val_acc"], errors="coerce"))]
    return None if ok.empty else ok.loc[ok["val_acc"].astype(float).idxmax()].to_dict()


def summarize_coarse(config: Mapping[str, Any], run_dirs: list[Path]) -> pd.DataFrame:
    return pd.DataFrame([run_row(d, "coarse", config) for d in run_dirs], columns=RUN_COLUMNS)


def best_table(config: Mapping[str, Any], runs: pd.DataFrame) -> pd.DataFrame:
    """Per stage and searched parameter: the best value, the range searched, and the edge warning."""
    study = settings(config)
    ranges = {"coarse": coarse_ranges(config)}
    coarse_best = best_row(runs[runs["stage"] == "coarse"])
    if coarse_best is not None:
        ranges["fine"] = fine_ranges(config, coarse_best)
    rows = []
    for stage, stage_ranges in ranges.items():
        best = best_row(runs[runs["stage"] == stage])
        for parameter, (low, high) in zip(["lr", "strength"], (r for r in stage_ranges if r is not None)):
            row = {"stage": stage, "parameter": parameter, "low": low, "high": high, "best": math.nan,
                   "position": math.nan, "at_edge": False, "val_acc": math.nan, "test_acc": math.nan, "run_id": "",
                   "warning": f"{stage} stage: no run finished"}
            if best is not None:
                warning = edge_warning(parameter, stage, best[parameter], low, high, study["edge_fraction"])
                row.update(best=best[parameter], position=edge_position(best[parameter], low, high), at_edge=bool(warning),
                           val_acc=best["val_acc"], test_acc=best["test_acc"], run_id=best["run_id"], warning=warning)
            if row["warning"]:
                log.warning(row["warning"])
            rows.append(row)
    return pd.DataFrame(rows)


def analyze(config: Mapping[str, Any], run_dirs: list[Path]) -> dict[str, pd.DataFrame]:
    coarse = {spec.run_id for spec in coarse_specs(config)}
    runs = pd.DataFrame([run_row(d, "coarse" if d.name in coarse else "fine", config) for d in run_dirs],
                        columns=RUN_COLUMNS)
    return {NAME: runs, f"{NAME}_best": best_table(config, runs)}


register_study(Study(NAME, TITLE, coarse_specs, analyze, tables=(NAME, f"{NAME}_best"),
                     stage=Stage(COARSE_TABLE, summarize_coarse, fine_specs)))


# -- figure --------------------------------------------------------------------------------------
@figure("lr_search", title="Validation accuracy against learning rate and regularization strength",
        section=TITLE, tables=(NAME, f"{NAME}_best"), enabled=lambda config: is_enabled(config, NAME))
def lr_search_figure(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    runs, best = tables[NAME], tables[f"{NAME}_best"]
    if runs.empty:
        return placeholder("No learning-rate search run finished."), runs
    parameters = list(dict.fromkeys(best["parameter"]))
    fig, axes = plt.subplots(1, len(parameters), figsize=(6.2 * len(parameters), 4.4), squeeze=False)
    styles = {"coarse": ("o", PALETTE[0]), "fine": ("^", PALETTE[1])}
    floor = 0.0
    for ax, parameter in zip(axes[0], parameters):
        for stage, (marker, color) in styles.items():
            part = runs[runs["stage"] == stage]
            ok = part[part["status"] == "ok"]
            ax.scatter(ok[parameter], 100 * ok["val_acc"], marker=marker, color=color, s=36, label=f"{stage} stage")
            failed = part[part["status"] != "ok"]
            ax.scatter(failed[parameter], np.full(len(failed), floor), marker="x", color=color, s=40,
                       label=f"{stage}: exploded/diverged" if len(failed) else None)
            chosen = best[(best["stage"] == stage) & (best["parameter"] == parameter)]
            if len(chosen) and math.isfinite(chosen["low"].iloc[0]):
                ax.axvspan(chosen["low"].iloc[0], chosen["high"].iloc[0], color=color, alpha=0.07)
                if math.isfinite(chosen["best"].iloc[0]):
                    ax.axvline(chosen["best"].iloc[0], color=color, linestyle="--", linewidth=1)
        ax.set_xscale("log")
        ax.set(xlabel="learning rate" if parameter == "lr" else f"{settings(config)['regularizer']} strength",
               ylabel="validation accuracy (%)")
    axes[0][0].legend(loc="best", fontsize=8)
    warnings = [w for w in best["warning"].fillna("") if w]
    title = "Shaded: range searched per stage; dashed: best value (chosen on validation); x: aborted runs"
    fig.suptitle(title + ("\n⚠ " + "\n⚠ ".join(warnings) if warnings else ""), x=0.01, ha="left", fontsize=10,
                 color="#b00020" if warnings else "black")
    fig.tight_layout()
    # the chosen values with their warnings first (what the report previews), then every run plotted
    return fig, pd.concat([best.assign(row="chosen"), runs.assign(row="run")], ignore_index=True)
