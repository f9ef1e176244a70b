"""Checkpoint averaging: the final weights against their EMA and their SWA, over training and at the end.

Each seed of the baseline is trained once for the study's epochs while the trainer keeps an
exponential moving average of the weights (updated every step with decay `ema_decay`) and a
stochastic weight average (the mean of the end-of-epoch weights from `swa_start` of training on,
batch-norm statistics recomputed; optionally at a constant `swa_lr` from there). All three are
scored every epoch on the same validation and test images (see `train.averaging`), so their
difference is the averaging alone: same trajectory, same data order.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from trickbench.design import baseline_spec
from trickbench.report.figures import Tables, figure, placeholder
from trickbench.report.stats import grouped_ci
from trickbench.report.style import PALETTE, apply_theme, integer_ticks
from trickbench.spec import RunSpec
from trickbench.studies import Study, is_enabled, register_study
from trickbench.studies.records import finished_runs

NAME = "checkpoint_averaging"
TITLE = "Checkpoint averaging: EMA and SWA"
FINAL = f"{NAME}_final"
WEIGHTS = {"final": "final weights", "ema": "EMA", "swa": "SWA"}  # column prefix → label
SCORES = ("val_loss", "val_acc", "test_loss", "test_acc")


def swa_start_epoch(epochs: int, swa_start: float) -> int:
    """The first averaged epoch (1-based) when SWA averages what follows `swa_start` of training:
    ⌊swa_start·epochs⌋ + 1, at most the last epoch (so at least one snapshot is averaged)."""
    return min(epochs, math.floor(swa_start * epochs) + 1)


def study_specs(config: Mapping[str, Any]) -> list[RunSpec]:
    section = config["studies"][NAME]
    specs = []
    for seed in section["seeds"]:
        spec = baseline_spec(config, seed)
        train = dataclasses.replace(spec.train, epochs=section["epochs"], ema_decay=section["ema_decay"],
                                    swa_start_epoch=swa_start_epoch(section["epochs"], section["swa_start"]),
                                    swa_lr=section["swa_lr"])
        specs.append(dataclasses.replace(spec, train=train))
    return specs


def weights_table(epochs: pd.DataFrame) -> pd.DataFrame:
    """One row per epoch × weights (final, ema, swa) with its validation and test scores."""
    parts = []
    for prefix, label in WEIGHTS.items():
        columns = {(score if prefix == "final" else f"{prefix}_{score}"): score for score in SCORES}
        if set(columns) <= set(epochs.columns):
            parts.append(epochs[["epoch", *columns]].rename(columns=columns).assign(weights=label))
    return pd.concat(parts, ignore_index=True)


def analyze(config: Mapping[str, Any], run_dirs: list[Path]) -> dict[str, pd.DataFrame]:
    curves = [weights_table(run.epochs).assign(seed=run.spec.seed, run_id=run.run_id) for run in finished_runs(run_dirs)]
    if not curves:
        return {NAME: pd.DataFrame(columns=["epoch", "weights", "seed", "run_id", *SCORES]),
                FINAL: pd.DataFrame(columns=["weights", "metric", "n", "mean", "ci_low", "ci_high"])}
    curves = pd.concat(curves, ignore_index=True)[["epoch", "weights", "seed", "run_id", *SCORES]]
    return {NAME: curves, FINAL: final_table(curves)}


def final_table(curves: pd.DataFrame) -> pd.DataFrame:
    """At the last epoch, per weights: mean and 95 % CI over seeds of each score, and of its
    paired difference from the final weights of the same seed (the gain of averaging)."""
    last = curves[curves["epoch"] == curves.groupby("run_id")["epoch"].transform("max")]
    reference = last[last.weights == WEIGHTS["final"]].set_index("seed")
    rows = []
    for score in SCORES:
        gains = last.assign(value=last[score] - reference.loc[last["seed"], score].to_numpy())
        for kind, frame in (("value", last.assign(value=last[score])), ("gain vs final weights", gains)):
            table = grouped_ci(frame, "weights", "value").assign(metric=score, kind=kind)
            rows.append(table)
    return pd.concat(rows, ignore_index=True)[["weights", "metric", "kind", "n", "mean", "sd", "ci_low", "ci_high"]]


register_study(Study(NAME, TITLE, study_specs, analyze, tables=(NAME, FINAL), run_files=("summary.json", "epochs.csv")))


@figure("weight_averaging", title="Final weights vs their EMA vs SWA", section=TITLE, tables=(NAME, FINAL),
        enabled=lambda config: is_enabled(config, NAME))
def weight_averaging(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    curves, final = tables[NAME], tables[FINAL]
    if curves.empty:
        return placeholder("No run of the checkpoint-averaging study finished."), curves
    colors = dict(zip(WEIGHTS.values(), PALETTE))
    fig, (acc_ax, loss_ax, end_ax) = plt.subplots(1, 3, figsize=(15, 4.4), gridspec_kw={"width_ratios": [1.2, 1.2, 1]})
    for (score, ax, scale) in (("test_acc", acc_ax, 100), ("test_loss", loss_ax, 1)):
        stats = grouped_ci(curves, ["weights", "epoch"], score)
        for weights, part in stats.groupby("weights", sort=False):
            part = part.dropna(subset=["mean"])
            ax.plot(part["epoch"], scale * part["mean"], "-", color=colors[weights], label=weights)
            if part["ci_low"].notna().any():
                ax.fill_between(part["epoch"], scale * part["ci_low"], scale * part["ci_high"], color=colors[weights],
                                alpha=0.15, lw=0)
    acc_ax.set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy over training")
    loss_ax.set(xlabel="epoch", ylabel="test NLL (nats)", title="test loss over training")
    fig.legend(*acc_ax.get_legend_handles_labels(), loc="lower center", ncol=3, frameon=False)
    for ax in (acc_ax, loss_ax):
        integer_ticks(ax)
    gains = final[(final.metric == "test_acc") & (final.kind == "gain vs final weights")].set_index("weights")
    labels = [w for w in WEIGHTS.values() if w in gains.index and w != WEIGHTS["final"]]
    part = gains.loc[labels]
    y = np.arange(len(labels))
    end_ax.axvline(0, color="0.5", lw=1)
    end_ax.barh(y, 100 * part["mean"], color=[colors[w] for w in labels], alpha=0.8)
    xerr = 100 * np.vstack([part["mean"] - part["ci_low"], part["ci_high"] - part["mean"]])
    end_ax.errorbar(100 * part["mean"], y, xerr=np.nan_to_num(xerr), fmt="none", ecolor="black", capsize=3)
    end_ax.set_yticks(y, labels)
    end_ax.set_ylim(len(labels) - 0.5, -0.5)
    end_ax.set(xlabel="test accuracy − final weights' (points)", title="gain at the last epoch")
    fig.suptitle("Mean over seeds; bands and whiskers: 95 % CI", x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig, final
