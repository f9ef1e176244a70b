"""Checkpoint averaging: the final weights of a plain schedule against their EMA and against SWA,
at equal epochs.

Per seed of the baseline, two runs of the study's `epochs`:

- the plain run: the baseline's schedule, annealed over all epochs, with an exponential moving
  average of its weights (updated every step, decay `ema_decay`; Polyak & Juditsky 1992);
- the SWA run, as Izmailov et al. 2018 ("Averaging Weights Leads to Wider Optima") run it: the same
  schedule planned for the first `swa_start` of training decays to swa_lr, which then stays
  constant while the end-of-epoch weights are averaged (batch-norm statistics recomputed,
  `torch.optim.swa_utils.update_bn`). The default swa_lr is half the baseline's learning rate, the
  ratio the paper uses on CIFAR (0.05 after 0.1 for VGG-16 and PreResNet-164): high enough that the
  iterates keep moving along the flat region the average sits in. A rate of 0 would average weights
  while the schedule anneals to zero — close to the final weights, not SWA — so the study refuses it.

All weights are scored every epoch on the same validation and test images (see `train.averaging`).
At the last epoch, SWA, the EMA and the plain run's final weights are compared paired by seed —
the same seed gives both runs the same initialization and data order — through the report's
statistics (`studies.comparisons`): per metric (test accuracy, test NLL) one model over the three
weights with seeds as blocks where they share seeds (else paired t, and the table says why), Holm
over its three comparisons at α/2 (Bonferroni across the two metrics: they share no residual
variance), minimum detectable effect of the same test.
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
from trickbench.errors import ConfigError
from trickbench.report.figures import Tables, figure, placeholder
from trickbench.stats import grouped_ci
from trickbench.report.style import PALETTE, apply_theme, integer_ticks
from trickbench.spec import RunSpec
from trickbench.studies import Study, is_enabled, register_study
from trickbench.studies.comparisons import ACCURACY, NLL, contrast_table, family_note
from trickbench.studies.records import finished_runs

NAME = "checkpoint_averaging"
TITLE = "Checkpoint averaging: EMA and SWA"
FINAL = f"{NAME}_final"
COMPARISONS = f"{NAME}_comparisons"
FINAL_WEIGHTS, EMA, SWA, SWA_ITERATE = ("final weights (plain schedule)", "EMA (plain schedule)", "SWA",
                                        "SWA run's last iterate")
#: which weights each run's epoch columns score: (run kind, column prefix) → label
WEIGHTS = {("plain", ""): FINAL_WEIGHTS, ("plain", "ema_"): EMA, ("swa", "swa_"): SWA, ("swa", ""): SWA_ITERATE}
SCORES = ("val_loss", "val_acc", "test_loss", "test_acc")
#: the comparisons (a − b) at the last epoch, per metric; both metrics' are one family (one figure)
CONTRASTS = [(SWA, FINAL_WEIGHTS), (EMA, FINAL_WEIGHTS), (SWA, EMA)]
#: metric → (scale: accuracy in points, NLL in nats; how a finding names it)
COMPARED = {"test_acc": (100.0, ACCURACY), "test_loss": (1.0, NLL)}


def swa_start_epoch(epochs: int, swa_start: float) -> int:
    """The first averaged epoch (1-based) when SWA averages what follows `swa_start` of training:
    ⌊swa_start·epochs⌋ + 1, at most the last epoch (so at least one snapshot is averaged)."""
    return min(epochs, math.floor(swa_start * epochs) + 1)


def swa_lr(spec: RunSpec, fraction: float) -> float:
    """The SWA phase's constant rate: `fraction` of the baseline optimizer's learning rate."""
    if "lr" not in spec.optimizer.kwargs:
        raise ConfigError("baseline.optimizer", spec.optimizer.name, f"an optimizer with an lr for studies.{NAME}")
    if not fraction > 0:
        raise ConfigError(f"studies.{NAME}.swa_lr_fraction", fraction,
                          "> 0: SWA averages at a constant high rate (a rate annealed to 0 averages the final weights)")
    return float(f"{fraction * spec.optimizer.kwargs['lr']:.6g}")


def run_pair(config: Mapping[str, Any], seed: int) -> dict[str, RunSpec]:
    """The plain run (with its EMA) and the SWA run of one seed, both of the study's epochs."""
    section = config["studies"][NAME]
    spec = baseline_spec(config, seed)
    epochs = section["epochs"]
    plain = dataclasses.replace(spec.train, epochs=epochs, ema_decay=section["ema_decay"])
    swa = dataclasses.replace(spec.train, epochs=epochs, swa_start_epoch=swa_start_epoch(epochs, section["swa_start"]),
                              swa_lr=swa_lr(spec, section["swa_lr_fraction"]))
    return {"plain": dataclasses.replace(spec, train=plain), "swa": dataclasses.replace(spec, train=swa)}


def study_specs(config: Mapping[str, Any]) -> list[RunSpec]:
    return [spec for seed in config["studies"][NAME]["seeds"] for spec in run_pair(config, seed).values()]


def weights_table(epochs: pd.DataFrame, kind: str) -> pd.DataFrame:
    """One row per epoch × weights this run (`kind` plain or swa) scores, with its scores."""
    parts = []
    for (run_kind, prefix), label in WEIGHTS.items():
        columns = {f"{prefix}{score}": score for score in SCORES}
        if run_kind == kind and set(columns) <= set(epochs.columns):
            parts.append(epochs[["epoch", *columns]].rename(columns=columns).assign(weights=label))
    return pd.concat(parts, ignore_index=True)


CURVE_COLUMNS = ["epoch", "weights", "seed", "run_id", *SCORES]


def analyze(config: Mapping[str, Any], run_dirs: list[Path]) -> dict[str, pd.DataFrame]:
    kinds = {spec.run_id: kind for seed in config["studies"][NAME]["seeds"]
             for kind, spec in run_pair(config, seed).items()}
    curves = [weights_table(run.epochs, kinds[run.run_id]).assign(seed=run.spec.seed, run_id=run.run_id)
              for run in finished_runs(run_dirs) if run.run_id in kinds]
    curves = pd.concat(curves, ignore_index=True)[CURVE_COLUMNS] if curves else pd.DataFrame(columns=CURVE_COLUMNS)
    last = curves[curves["epoch"] == curves.groupby("run_id")["epoch"].transform("max")]
    final = pd.concat([grouped_ci(last, "weights", score).assign(metric=score) for score in SCORES], ignore_index=True) \
        if len(last) else pd.DataFrame(columns=["weights", "n", "mean", "sd", "ci_low", "ci_high", "metric"])
    compared = pd.concat([last.assign(metric=metric, value=scale * last[metric])
                          for metric, (scale, _) in COMPARED.items()], ignore_index=True)
    comparisons = contrast_table(compared, "weights", "value", CONTRASTS, within="metric",
                                 quantity={metric: quantity for metric, (_, quantity) in COMPARED.items()})
    return {NAME: curves, FINAL: final[["weights", "metric", "n", "mean", "sd", "ci_low", "ci_high"]],
            COMPARISONS: comparisons}


register_study(Study(NAME, TITLE, study_specs, analyze, tables=(NAME, FINAL, COMPARISONS),
                     run_files=("summary.json", "epochs.csv")))


@figure("weight_averaging", title="Final weights of a plain schedule vs their EMA vs SWA, at equal epochs", section=TITLE,
        tables=(NAME, COMPARISONS), enabled=lambda config: is_enabled(config, NAME))
def weight_averaging(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    curves, comparisons = tables[NAME], tables[COMPARISONS]
    if curves.empty:
        return placeholder("No run of the checkpoint-averaging study finished."), curves
    colors = dict(zip(WEIGHTS.values(), (PALETTE[7], PALETTE[0], PALETTE[2], PALETTE[1])))
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.6), gridspec_kw={"width_ratios": [1.2, 1.2, 1, 1]})
    for (score, ax, scale) in (("test_acc", axes[0], 100), ("test_loss", axes[1], 1)):
        stats = grouped_ci(curves, ["weights", "epoch"], score)
        for weights, part in stats.groupby("weights", sort=False):
            part = part.dropna(subset=["mean"])
            style = ":" if weights == SWA_ITERATE else "-"
            ax.plot(part["epoch"], scale * part["mean"], style, color=colors[weights], label=weights)
            if part["ci_low"].notna().any():
                ax.fill_between(part["epoch"], scale * part["ci_low"], scale * part["ci_high"], color=colors[weights],
                                alpha=0.15, lw=0)
        integer_ticks(ax)
    axes[0].set(xlabel="epoch", ylabel="test accuracy (%)", title="test accuracy over training")
    axes[1].set(xlabel="epoch", ylabel="test NLL (nats)", title="test loss over training")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=4, frameon=False)
    for ax, (metric, unit) in zip(axes[2:], (("test_acc", "test accuracy (points)"), ("test_loss", "test NLL (nats)"))):
        _differences(ax, comparisons[comparisons.metric == metric], unit)
    fig.suptitle(f"Mean over seeds; bands: 95 % CI. Right: differences at the last epoch on the same seeds "
                 f"({family_note(comparisons, within='metric')}; hollow: no detectable difference)", x=0.01, ha="left", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 0.96))
    return fig, comparisons


def _differences(ax, part: pd.DataFrame, unit: str) -> None:
    part = part.reset_index(drop=True)
    y = np.arange(len(part))
    ax.axvline(0, color="0.5", lw=1)
    xerr = np.vstack([part["diff"] - part["diff_ci_low"], part["diff_ci_high"] - part["diff"]])
    ax.errorbar(part["diff"], y, xerr=np.nan_to_num(xerr), fmt="none", ecolor="black", capsize=3)
    detected = (part["detectable"] == True).to_numpy()  # noqa: E712 (NaN: not tested)
    ax.scatter(part["diff"], y, s=44, color=[PALETTE[0] if d else "white" for d in detected], edgecolor="black", zorder=3)
    ax.set_yticks(y, [name.replace(" − ", "\n − ") for name in part["comparison"]], fontsize=8)
    ax.set_ylim(len(part) - 0.5, -0.5)
    ax.set(xlabel=f"difference in {unit}", title=f"n = {int(part['n'].max()) if len(part) else 0} seeds")
