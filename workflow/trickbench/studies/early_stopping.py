"""Train/validation gap and early stopping: learning curves under contrasting regularization, and
whether stopping early helps — apart from annealing.

The baseline is trained, once per seed, with each configured regularizer level for the study's
own number of epochs (long enough to overfit) on the full schedule. From each run's learning curve
the study reads where early stopping would have stopped — the trainer's rule (`train.loop`, after
Prechelt 1998, "Early Stopping — But When?", counted as Keras does): stop once `patience` epochs
in a row have not improved on the best validation score so far, and restore the weights of that best
epoch. Two monitors are read off the same curves: validation loss (what the trainer and most
libraries watch) and validation accuracy; an over-confident network's validation loss rises long
before its validation accuracy stops improving. The gap is measured in eval mode (train accuracy
on the run's fixed training sample, `train_eval_acc`, minus validation accuracy).

Restored weights come from the middle of a schedule whose learning rate is still high, so "the
restored weights lose to the last epoch" mixes stopping with not annealing. A second round
separates the two: each run is trained again with `epochs` set to the epoch where early stopping
on validation loss stopped it, so its schedule anneals fully by then — the same compute as early
stopping, planned for it (Li, Yumer & Ramanan 2020, "Budgeted Training", ICLR: a schedule planned
for the budget beats a truncated one). Three weights per level and seed are compared, paired by
seed, through the report's statistics (`studies.comparisons`: one model over every level's weights
with seeds as blocks where they share seeds, else paired t — the table says which and why — Holm
across every comparison of the figure, minimum detectable effect of the same test): the last epoch, the
restored weights, and the planned run's final weights. The test set chooses nothing.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from trickbench.collect import baseline_labels
from trickbench.design import baseline_spec
from trickbench.report.figures import Tables, figure, placeholder
from trickbench.stats import grouped_ci
from trickbench.report.style import (BASELINE_COLOR, PALETTE, TECHNIQUE_PALETTE, TRAIN_STYLE, VAL_STYLE, apply_theme,
                                     integer_ticks)
from trickbench.spec import RunSpec, regularizer_label, resolve_regularizers
from trickbench.studies import Stage, Study, is_enabled, register_study
from trickbench.studies.comparisons import contrast_table, family_note
from trickbench.studies.records import FinishedRun, finished_runs

NAME = "early_stopping"
TITLE = "Train/validation gap and early stopping"
CURVES = f"{NAME}_curves"
STOPS = f"{NAME}_stops"  # the first round's stopping points: the stage table the second round is planned from
COMPARISONS = f"{NAME}_comparisons"
CURVE_METRICS = ("train_eval_loss", "val_loss", "train_eval_acc", "val_acc", "gap_acc")
MONITORS = {"val_loss": 1.0, "val_acc": -1.0}  # monitored column → sign making lower better
WATCHED = {"val_loss": "validation loss", "val_acc": "validation accuracy"}
PLANNED_MONITOR = "val_loss"  # the trainer's rule: the second round is planned for where it stops
#: the weights compared per level and seed, and the comparisons (a − b) of the study's one family
LAST, RESTORED, RESTORED_ACC, PLANNED = ("last epoch", "restored (lowest val loss)", "restored (highest val acc)",
                                         "schedule planned for the stop epoch")
CONTRASTS = [(RESTORED, LAST), (PLANNED, LAST), (PLANNED, RESTORED)]


def study_specs(config: Mapping[str, Any]) -> list[RunSpec]:
    """The first round: the baseline with each regularizer level × seed, for the study's epochs."""
    section = config["studies"][NAME]
    specs = []
    for i, level in enumerate(section["regularizers"]):
        regularizer = resolve_regularizers(level, f"studies.{NAME}.regularizers[{i}]")
        for seed in section["seeds"]:
            spec = baseline_spec(config, seed)
            specs.append(with_epochs(dataclasses.replace(spec, regularizer=regularizer), section["epochs"]))
    return specs


def with_epochs(spec: RunSpec, epochs: int) -> RunSpec:
    """`spec` trained for `epochs` epochs: its schedule is planned for, and anneals by, that epoch."""
    return dataclasses.replace(spec, train=dataclasses.replace(spec.train, epochs=epochs))


def planned_specs(config: Mapping[str, Any], stops: pd.DataFrame) -> list[RunSpec]:
    """The second round: each first-round run again, for as many epochs as early stopping on
    validation loss trained it. A run that never stopped early is its own planned run (same id)."""
    first = {spec.run_id: spec for spec in study_specs(config)}
    chosen = stops[(stops["monitor"] == PLANNED_MONITOR) & stops["run_id"].isin(first)]
    specs = [with_epochs(first[run_id], int(stop)) for run_id, stop in zip(chosen["run_id"], chosen["stop_epoch"])]
    return list({spec.run_id: spec for spec in specs}.values())


def early_stopping_point(val_loss: Sequence[float], patience: int) -> tuple[int, int]:
    """(stop epoch, restored epoch), 1-based, of early stopping on a validation curve where lower
    is better (pass −accuracy to monitor accuracy).

    Training stops after the first epoch e with e − best(e) ≥ patience — `patience` epochs in a row
    without improvement, Keras' rule (patience 0 stops after the first epoch) — where best(e) is the
    earliest epoch of the lowest value up to e (only a strictly lower value improves), and the
    weights of best(e) are restored; if no epoch qualifies, training runs to the end and the best
    epoch overall is restored. A restored epoch of 0 means no finite value was ever seen."""
    best_loss, best = math.inf, 0
    for epoch, loss in enumerate(val_loss, start=1):
        if loss < best_loss:
            best_loss, best = loss, epoch
        if epoch - best >= patience:
            return epoch, best
    return len(val_loss), best


def eval_mode_epochs(run: FinishedRun) -> pd.DataFrame:
    """The run's epochs with the generalization gap in eval mode: train_eval_acc − val_acc."""
    return run.epochs.assign(gap_acc=lambda e: e["train_eval_acc"] - e["val_acc"])


def stop_rows(run: FinishedRun, patience: int) -> list[dict[str, Any]]:
    """Per monitor: where early stopping stops this run, and the scores it keeps against the last epoch."""
    epochs = eval_mode_epochs(run)
    at = epochs.set_index("epoch")
    last = int(epochs["epoch"].iloc[-1])
    rows = []
    for monitor, sign in MONITORS.items():
        stop, restored = early_stopping_point((sign * epochs[monitor]).tolist(), patience)
        restored_at = lambda column: at.loc[restored, column] if restored else math.nan
        rows.append({
            "regularizer": regularizer_label(run.spec.regularizer), "seed": run.spec.seed, "run_id": run.run_id,
            "monitor": monitor, "epochs": last, "patience": patience, "stop_epoch": stop, "restored_epoch": restored,
            "test_acc_restored": restored_at("test_acc"), "test_acc_last": at.loc[last, "test_acc"],
            "val_acc_restored": restored_at("val_acc"), "val_acc_last": at.loc[last, "val_acc"],
            "gap_acc_restored": restored_at("gap_acc"), "gap_acc_last": at.loc[last, "gap_acc"],
            "epochs_saved": last - stop,
        })
    return rows


STOP_COLUMNS = ["regularizer", "seed", "run_id", "monitor", "epochs", "patience", "stop_epoch", "restored_epoch",
                "test_acc_restored", "test_acc_last", "val_acc_restored", "val_acc_last", "gap_acc_restored",
                "gap_acc_last", "epochs_saved"]
PLANNED_COLUMNS = ["planned_run_id", "test_acc_planned", "val_acc_planned", "gap_acc_planned"]
RUN_COLUMNS = [*STOP_COLUMNS, *PLANNED_COLUMNS, "test_acc_gain"]


def stop_table(runs: Sequence[FinishedRun], patience: int) -> pd.DataFrame:
    return pd.DataFrame([row for run in runs for row in stop_rows(run, patience)], columns=STOP_COLUMNS)


def summarize_first_round(config: Mapping[str, Any], run_dirs: list[Path]) -> pd.DataFrame:
    """The stage table: where early stopping stops each finished first-round run, per monitor."""
    return stop_table(finished_runs(run_dirs), config["studies"][NAME]["patience"])


def with_planned_runs(stops: pd.DataFrame, runs: Mapping[str, FinishedRun]) -> pd.DataFrame:
    """The stop table with, on each validation-loss row, the final scores of its planned run (the
    model that run returns; its gap in eval mode), where that run finished."""
    table = stops.copy()
    for column in PLANNED_COLUMNS:
        table[column] = "" if column == "planned_run_id" else math.nan
    for index, row in table[table["monitor"] == PLANNED_MONITOR].iterrows():
        planned_id = with_epochs(runs[row["run_id"]].spec, int(row["stop_epoch"])).run_id
        planned = runs.get(planned_id)
        if planned is None:
            continue
        final = planned.summary
        table.loc[index, PLANNED_COLUMNS] = [planned_id, final["final_test_acc"], final["final_val_acc"],
                                             _difference(final.get("final_train_eval_acc"), final["final_val_acc"])]
    table["test_acc_gain"] = table["test_acc_restored"] - table["test_acc_last"]
    return table[RUN_COLUMNS]


def _difference(a: float | None, b: float | None) -> float:
    return a - b if a is not None and b is not None else math.nan


def weights_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per regularizer × seed × weights (LAST, RESTORED, RESTORED_ACC, PLANNED): test
    accuracy in points, the gap and the epochs the weights were trained for."""
    on_loss, on_acc = runs[runs["monitor"] == "val_loss"], runs[runs["monitor"] == "val_acc"]
    keys = ["regularizer", "seed"]
    parts = [(on_loss, LAST, "last", "epochs"), (on_loss, RESTORED, "restored", "restored_epoch"),
             (on_acc, RESTORED_ACC, "restored", "restored_epoch"), (on_loss, PLANNED, "planned", "stop_epoch")]
    return pd.concat([part[keys].assign(weights=weights, test_acc=100 * part[f"test_acc_{suffix}"],
                                        gap_acc=100 * part[f"gap_acc_{suffix}"], epochs_trained=part[epochs])
                      for part, weights, suffix, epochs in parts], ignore_index=True)


def analyze(config: Mapping[str, Any], run_dirs: list[Path]) -> dict[str, pd.DataFrame]:
    """Both rounds' folders → the stop table with the planned runs, the curves of the first round
    and the comparisons of the three weights (in test-accuracy points, seeds as blocks; one family)."""
    first_ids = {spec.run_id for spec in study_specs(config)}
    finished = {run.run_id: run for run in finished_runs(run_dirs)}
    first_round = [run for run_id, run in finished.items() if run_id in first_ids]
    table = with_planned_runs(stop_table(first_round, config["studies"][NAME]["patience"]), finished)
    curves = [eval_mode_epochs(run)[["epoch", *CURVE_METRICS]].assign(regularizer=regularizer_label(run.spec.regularizer),
                                                                       seed=run.spec.seed) for run in first_round]
    comparisons = contrast_table(weights_table(table), "weights", "test_acc", CONTRASTS, within="regularizer",
                                 name_group=True)
    return {NAME: table, CURVES: curve_table(pd.concat(curves) if curves else pd.DataFrame()),
            COMPARISONS: comparisons}


def curve_table(epochs: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95 % CI over seeds of every curve metric, per regularizer level and epoch."""
    columns = ["regularizer", "epoch", "metric", "n", "mean", "sd", "ci_low", "ci_high"]
    if epochs.empty:
        return pd.DataFrame(columns=columns)
    long = epochs.melt(id_vars=["regularizer", "seed", "epoch"], value_vars=list(CURVE_METRICS), var_name="metric")
    return grouped_ci(long, ["regularizer", "metric", "epoch"], "value")[columns]


register_study(Study(NAME, TITLE, study_specs, analyze, tables=(NAME, CURVES, COMPARISONS),
                     run_files=("summary.json", "epochs.csv"),
                     stage=Stage(STOPS, summarize_first_round, planned_specs)))


def _enabled(config: Mapping[str, Any]) -> bool:
    return is_enabled(config, NAME)


def regularizer_colors(levels: pd.Series, config: Mapping[str, Any]) -> dict[str, tuple[float, float, float]]:
    """The baseline's regularizer in the report's baseline grey, the others in the palette's order."""
    baseline = baseline_labels(config)["regularizer"]
    others = [level for level in dict.fromkeys(levels) if level != baseline]
    return {baseline: BASELINE_COLOR, **{level: TECHNIQUE_PALETTE[i % len(TECHNIQUE_PALETTE)] for i, level in enumerate(others)}}


def _band(ax, part: pd.DataFrame, style: str, color, scale: float = 1.0, label: str | None = None) -> None:
    ax.plot(part["epoch"], scale * part["mean"], style, color=color, label=label)
    if np.isfinite(part["ci_low"]).any():
        ax.fill_between(part["epoch"], scale * part["ci_low"], scale * part["ci_high"], color=color, alpha=0.15, lw=0)


@figure("train_val_curves", title="Learning curves and the train/validation gap per regularization level",
        section=TITLE, tables=(NAME, CURVES), enabled=_enabled)
def train_val_curves(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    curves, stops = tables[CURVES], tables[NAME]
    if curves.empty:
        return placeholder("No run of the early-stopping study finished."), curves
    colors = regularizer_colors(curves["regularizer"].astype(str), config)
    fig, (loss_ax, acc_ax, gap_ax) = plt.subplots(1, 3, figsize=(15, 4.4))
    for level, part in curves.groupby("regularizer", sort=False):
        color = colors[str(level)]
        metric = lambda name: part[part.metric == name].sort_values("epoch")
        _band(loss_ax, metric("train_eval_loss"), TRAIN_STYLE, color, label=str(level))
        _band(loss_ax, metric("val_loss"), VAL_STYLE, color)
        _band(acc_ax, metric("train_eval_acc"), TRAIN_STYLE, color, 100)
        _band(acc_ax, metric("val_acc"), VAL_STYLE, color, 100)
        _band(gap_ax, metric("gap_acc"), "-", color, 100)
        for monitor, ax, marker, scale in (("val_loss", loss_ax, "v", 1), ("val_acc", acc_ax, "^", 100)):
            val = metric(monitor).set_index("epoch")["mean"]
            restored = stops.loc[(stops.regularizer == level) & (stops.monitor == monitor), "restored_epoch"]
            restored = restored[restored.isin(val.index)]
            ax.scatter(restored, scale * val.loc[restored], marker=marker, s=46, color=color, edgecolor="black", zorder=4)
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss (solid: train, dashed: validation)")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy (solid: train, dashed: validation)")
    gap_ax.set(xlabel="epoch", ylabel="train − validation accuracy (points)", title="generalization gap")
    for ax in (loss_ax, acc_ax, gap_ax):
        integer_ticks(ax)
    fig.legend(*loss_ax.get_legend_handles_labels(), loc="lower center", ncol=len(colors), frameon=False,
               title="regularizer — ▼ / ▲: the epoch early stopping on validation loss / accuracy restores, per seed")
    fig.suptitle("Mean over seeds; bands: 95 % CI. Train: eval mode on a fixed sample of the training split "
                 "(dropout off, no augmentation)", x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig, curves


@figure("early_stopping_test", title="Test accuracy: last epoch vs restored weights vs a schedule planned for the stop",
        section=TITLE, tables=(NAME, COMPARISONS), enabled=_enabled)
def early_stopping_test(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    runs, comparisons = tables[NAME], tables[COMPARISONS]
    if runs.empty:
        return placeholder("No run of the early-stopping study finished."), runs
    weights = weights_table(runs)
    arms = grouped_ci(weights, ["regularizer", "weights"], "test_acc")
    levels = list(dict.fromkeys(runs["regularizer"]))
    fig, (arm_ax, diff_ax) = plt.subplots(1, 2, figsize=(15, 1.6 + 1.1 * len(levels)), gridspec_kw={"width_ratios": [1.1, 1]})
    _arms_panel(arm_ax, weights, arms, levels)
    _comparisons_panel(diff_ax, comparisons, levels)
    patience = int(runs["patience"].iloc[0])
    fig.suptitle(f"Patience {patience} on validation loss; the planned run trains for the epochs early stopping trained "
                 "(its schedule anneals by then)", x=0.01, ha="left", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig, pd.concat([arms.assign(row="weights"), comparisons.assign(row="comparison")], ignore_index=True)


def _arms_panel(ax, weights: pd.DataFrame, arms: pd.DataFrame, levels: list[str]) -> None:
    """Each weights' test accuracy per level: seeds as dots, mean ± 95 % CI (descriptive)."""
    kinds = [LAST, RESTORED, RESTORED_ACC, PLANNED]
    epochs = weights.groupby(["regularizer", "weights"])["epochs_trained"].mean()
    for i, (kind, marker, color) in enumerate(zip(kinds, "oDsP", ("0.45", PALETTE[0], PALETTE[2], PALETTE[1]))):
        offset = (i - 1.5) * 0.17
        part = arms[arms.weights == kind].set_index("regularizer").reindex(levels)
        seeds = weights[weights.weights == kind]
        ax.scatter(seeds["test_acc"], [levels.index(r) + offset for r in seeds["regularizer"]], s=14, color=color, alpha=0.5)
        xerr = np.vstack([part["mean"] - part["ci_low"], part["ci_high"] - part["mean"]])
        ax.errorbar(part["mean"], np.arange(len(levels)) + offset, xerr=np.nan_to_num(xerr), fmt=marker, color=color,
                    capsize=3, label=kind)
    ax.set_yticks(range(len(levels)), [f"{level}\nepochs: " + " / ".join(
        f"{epochs.get((level, kind), math.nan):.0f}" for kind in kinds) for level in levels], fontsize=9)
    ax.set_ylim(len(levels) - 0.5, -0.5)
    ax.set_xlabel("test accuracy (%)")
    ax.set_title("dots: seeds; whiskers: 95 % CI; epochs trained: last / restored (loss) / restored (acc) / planned",
                 loc="left", fontsize=9)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.5 / len(levels) - 0.1), ncol=2, fontsize=9, frameon=False)


def _comparisons_panel(ax, comparisons: pd.DataFrame, levels: list[str]) -> None:
    """The differences (seeds as blocks or pairs) with their Holm-corrected intervals; hollow: no detectable difference."""
    colors = dict(zip([f"{a} − {b}" for a, b in CONTRASTS], (PALETTE[0], PALETTE[1], PALETTE[4])))
    ax.axvline(0, color="0.5", lw=1)
    for i, (name, color) in enumerate(colors.items()):
        part = comparisons[comparisons.comparison == name].set_index("regularizer").reindex(levels)
        y = np.arange(len(levels)) + (i - 1) * 0.22
        detected = (part["detectable"] == True).to_numpy()  # noqa: E712 (NaN: not tested)
        xerr = np.vstack([part["diff"] - part["diff_ci_low"], part["diff_ci_high"] - part["diff"]])
        ax.errorbar(part["diff"], y, xerr=np.nan_to_num(xerr), fmt="none", ecolor=color, capsize=3)
        ax.scatter(part["diff"], y, marker="o", s=40, color=color, label=name)
        ax.scatter(part["diff"][~detected], y[~detected], marker="o", s=18, color="white", zorder=3)
    ax.set_yticks(range(len(levels)), levels, fontsize=9)
    ax.set_ylim(len(levels) - 0.5, -0.5)
    ax.set_xlabel("difference in test accuracy (points), same seeds")
    ax.set_title(f"{family_note(comparisons)}; hollow: no detectable difference", loc="left", fontsize=9)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.5 / len(levels) - 0.1), ncol=1, fontsize=9, frameon=False)
