"""Train/validation gap and early stopping: learning curves under contrasting regularization.

The baseline is trained, once per seed, with each configured regularizer level for the study's
own number of epochs (long enough to overfit). From each run's full learning curve the study
reads where early stopping would have stopped — the trainer's rule (`train.loop`, after Prechelt
1998, "Early Stopping — But When?"): stop after the first epoch that is more than `patience`
epochs past the best validation score so far, and restore the weights of that best epoch — and
what test accuracy those weights keep against the last epoch's. The test set chooses nothing.

Two monitors are read off the same curves: validation loss (what the trainer and most libraries
watch) and validation accuracy. They can disagree badly: an over-confident network's validation
loss rises long before its validation accuracy stops improving.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from trickbench.design import baseline_spec
from trickbench.report.figures import Tables, figure, placeholder
from trickbench.report.stats import grouped_ci
from trickbench.report.style import (BASELINE_COLOR, PALETTE, TECHNIQUE_PALETTE, TRAIN_STYLE, VAL_STYLE, apply_theme,
                                     integer_ticks)
from trickbench.spec import RunSpec, regularizer_label, resolve_regularizers
from trickbench.studies import Study, is_enabled, register_study
from trickbench.studies.records import finished_runs

NAME = "early_stopping"
TITLE = "Train/validation gap and early stopping"
CURVES = f"{NAME}_curves"
CURVE_METRICS = ("train_loss", "val_loss", "train_acc", "val_acc", "gap_acc")
MONITORS = {"val_loss": 1.0, "val_acc": -1.0}  # monitored column → sign making lower better
WATCHED = {"val_loss": "validation loss", "val_acc": "validation accuracy"}


def study_specs(config: Mapping[str, Any]) -> list[RunSpec]:
    """The baseline with each regularizer level × seed, for the study's epochs."""
    section = config["studies"][NAME]
    specs = []
    for i, level in enumerate(section["regularizers"]):
        regularizer = resolve_regularizers(level, f"studies.{NAME}.regularizers[{i}]")
        for seed in section["seeds"]:
            spec = baseline_spec(config, seed)
            specs.append(dataclasses.replace(spec, regularizer=regularizer,
                                             train=dataclasses.replace(spec.train, epochs=section["epochs"])))
    return specs


def early_stopping_point(val_loss: Sequence[float], patience: int) -> tuple[int, int]:
    """(stop epoch, restored epoch), 1-based, of early stopping on a validation curve where lower
    is better (pass −accuracy to monitor accuracy).

    Training stops after the first epoch e with e − best(e) > patience, where best(e) is the
    earliest epoch of the lowest value up to e (only a strictly lower value improves), and the
    weights of best(e) are restored; if no epoch qualifies, training runs to the end and the best
    epoch overall is restored. A restored epoch of 0 means no finite value was ever seen."""
    best_loss, best = math.inf, 0
    for epoch, loss in enumerate(val_loss, start=1):
        if loss < best_loss:
            best_loss, best = loss, epoch
        if epoch - best > patience:
            return epoch, best
    return len(val_loss), best


def analyze(config: Mapping[str, Any], run_dirs: list[Path]) -> dict[str, pd.DataFrame]:
    patience = config["studies"][NAME]["patience"]
    rows, curves = [], []
    for run in finished_runs(run_dirs):
        epochs = run.epochs.assign(gap_acc=lambda e: e["train_acc"] - e["val_acc"])
        at = epochs.set_index("epoch")
        last = int(epochs["epoch"].iloc[-1])
        label = regularizer_label(run.spec.regularizer)
        for monitor, sign in MONITORS.items():
            stop, restored = early_stopping_point((sign * epochs[monitor]).tolist(), patience)
            restored_at = lambda column: at.loc[restored, column] if restored else math.nan
            rows.append({
                "regularizer": label, "seed": run.spec.seed, "run_id": run.run_id, "monitor": monitor,
                "epochs": last, "patience": patience, "stop_epoch": stop, "restored_epoch": restored,
                "test_acc_restored": restored_at("test_acc"), "test_acc_last": at.loc[last, "test_acc"],
                "val_acc_restored": restored_at("val_acc"), "val_acc_last": at.loc[last, "val_acc"],
                "gap_acc_restored": restored_at("gap_acc"), "gap_acc_last": at.loc[last, "gap_acc"],
                "epochs_saved": last - stop,
            })
        curves.append(epochs[["epoch", *CURVE_METRICS]].assign(regularizer=label, seed=run.spec.seed))
    table = pd.DataFrame(rows, columns=RUN_COLUMNS)
    table["test_acc_gain"] = table["test_acc_restored"] - table["test_acc_last"]
    return {NAME: table, CURVES: curve_table(pd.concat(curves) if curves else pd.DataFrame())}


RUN_COLUMNS = ["regularizer", "seed", "run_id", "monitor", "epochs", "patience", "stop_epoch", "restored_epoch",
               "test_acc_restored", "test_acc_last", "val_acc_restored", "val_acc_last", "gap_acc_restored",
               "gap_acc_last", "epochs_saved"]


def curve_table(epochs: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95 % CI over seeds of every curve metric, per regularizer level and epoch."""
    columns = ["regularizer", "epoch", "metric", "n", "mean", "sd", "ci_low", "ci_high"]
    if epochs.empty:
        return pd.DataFrame(columns=columns)
    long = epochs.melt(id_vars=["regularizer", "seed", "epoch"], value_vars=list(CURVE_METRICS), var_name="metric")
    return grouped_ci(long, ["regularizer", "metric", "epoch"], "value")[columns]


register_study(Study(NAME, TITLE, study_specs, analyze, tables=(NAME, CURVES), run_files=("summary.json", "epochs.csv")))


def _enabled(config: Mapping[str, Any]) -> bool:
    return is_enabled(config, NAME)


def regularizer_colors(levels: pd.Series, config: Mapping[str, Any]) -> dict[str, tuple[float, float, float]]:
    """The baseline's regularizer in the report's baseline grey, the others in the palette's order."""
    from trickbench.collect import baseline_labels

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
        _band(loss_ax, metric("train_loss"), TRAIN_STYLE, color, label=str(level))
        _band(loss_ax, metric("val_loss"), VAL_STYLE, color)
        _band(acc_ax, metric("train_acc"), TRAIN_STYLE, color, 100)
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
    fig.suptitle("Mean over seeds; bands: 95 % CI", x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig, curves


@figure("early_stopping_test", title="Test accuracy: early-stopped weights vs the last epoch", section=TITLE,
        tables=(NAME,), enabled=_enabled)
def early_stopping_test(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    runs = tables[NAME]
    if runs.empty:
        return placeholder("No run of the early-stopping study finished."), runs
    once = runs[runs.monitor == "val_loss"]  # the last epoch is the same for both monitors
    long = pd.concat([once.assign(weights="last epoch", acc=100 * once["test_acc_last"])] + [
        part.assign(weights=f"early-stopped on {WATCHED[monitor]}", acc=100 * part["test_acc_restored"])
        for monitor, part in runs.groupby("monitor", sort=False)])
    table = grouped_ci(long, ["regularizer", "weights"], "acc")
    stop = grouped_ci(runs, ["regularizer", "monitor"], "stop_epoch").set_index(["regularizer", "monitor"])["mean"]
    levels = list(dict.fromkeys(runs["regularizer"]))
    kinds = list(dict.fromkeys(long["weights"]))
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.9 * len(levels)))
    for weights, marker, offset, color in zip(kinds, "oDs", (-0.18, 0.0, 0.18), ("0.45", PALETTE[0], PALETTE[2])):
        part = table[table.weights == weights].set_index("regularizer").loc[levels]
        y = np.arange(len(levels)) + offset
        seeds = long[long.weights == weights]
        ax.scatter(seeds["acc"], [levels.index(r) + offset for r in seeds["regularizer"]], s=14, color=color, alpha=0.5)
        xerr = np.vstack([part["mean"] - part["ci_low"], part["ci_high"] - part["mean"]])
        ax.errorbar(part["mean"], y, xerr=np.nan_to_num(xerr), fmt=marker, color=color, capsize=3, label=weights)
    ax.set_yticks(range(len(levels)), [f"{level}\nstops ≈ epoch " + " / ".join(f"{stop[level, m]:.0f}" for m in MONITORS)
                                       for level in levels])
    ax.set_ylim(len(levels) - 0.5, -0.5)
    ax.set_xlabel("test accuracy (%)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.55 / len(levels) - 0.12), ncol=3, fontsize=9, frameon=False)
    ax.set_title(f"patience {int(runs['patience'].iloc[0])} (stop epochs: on loss / on accuracy); dots: seeds; "
                 "whiskers: 95 % CI", loc="left", fontsize=10)
    fig.tight_layout()
    return fig, table
