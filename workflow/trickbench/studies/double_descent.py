"""Double descent over width (Belkin et al. 2019; Nakkiran et al. 2019, "Deep Double Descent").

Each configured model family is trained at every width of a log-spaced list, without any
regularization and long enough to reach (near) zero training error, on training labels of which
a fraction `label_noise` is wrong (`data.label_noise`). Test error first falls with width, rises
to a peak around the *interpolation threshold* — the smallest width that fits the noisy training
set — and falls again beyond it. Errors are those of the last epoch (no early stopping: the
peak is a property of the trained-to-convergence model). Training error is that of the final
weights in eval mode on the run's fixed sample of the (noisy-labelled) training split
(`final_train_eval_acc`, `train.train_eval_sample` images): whether the model *fits* the training
set, not the running accuracy of the epoch's minibatches, which the weights changed during.

A model entry is a model level (`{name: mlp, depth: 1}`) plus `widths` and, optionally, its own
`image_size`, `epochs`, `norm` and `optimizer` (an MLP wants small inputs, a ResNet full ones).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.signal import find_peaks, peak_prominences

from trickbench.design import baseline_spec, resolve_level
from trickbench.models import MODELS
from trickbench.report.figures import Tables, figure, placeholder
from trickbench.stats import grouped_ci
from trickbench.report.style import PALETTE, apply_theme
from trickbench.spec import RunSpec
from trickbench.studies import Study, is_enabled, register_study
from trickbench.studies.records import finished_runs

NAME = "double_descent"
TITLE = "Double descent over width"
SUMMARY = f"{NAME}_summary"
OVERRIDES = ("widths", "image_size", "epochs", "norm", "optimizer")  # entry keys that are not model parameters


def study_specs(config: Mapping[str, Any]) -> list[RunSpec]:
    """Every model entry × width × seed, unregularized, on the study's noisy training subset."""
    section = config["studies"][NAME]
    specs = []
    for i, entry in enumerate(section["models"]):
        key = f"studies.{NAME}.models[{i}]"
        model_level = {k: v for k, v in entry.items() if k not in OVERRIDES}
        norm = resolve_level("norm", entry.get("norm", section["norm"]), f"{key}.norm")
        optimizer = resolve_level("optimizer", entry.get("optimizer", section["optimizer"]), f"{key}.optimizer")
        schedule = resolve_level("schedule", section["schedule"], f"studies.{NAME}.schedule")
        for width in entry["widths"]:
            model = MODELS.resolve({**model_level, "width": width}, key)
            for seed in section["seeds"]:
                spec = baseline_spec(config, seed)
                specs.append(dataclasses.replace(
                    spec, model=model, norm=norm, optimizer=optimizer, schedule=schedule, regularizer=(),
                    data=dataclasses.replace(spec.data, label_noise=section["label_noise"],
                                             train_subset=section["train_subset"],
                                             image_size=entry.get("image_size", section["image_size"])),
                    train=dataclasses.replace(spec.train, epochs=entry.get("epochs", section["epochs"]),
                                              batch_size=section["batch_size"])))
    return specs


def family_label(spec: RunSpec) -> str:
    """The family a run belongs to: its model without the width, with its input size, e.g.
    'mlp(depth=1), 8×8 inputs'."""
    params = ", ".join(f"{k}={v}" for k, v in spec.model.params if k != "width")
    size = f", {spec.data.image_size}×{spec.data.image_size} inputs" if spec.data.image_size else ""
    return f"{spec.model.name}({params}){size}"


def interpolation_threshold(widths: Sequence[int], train_error: Sequence[float], tolerance: float) -> int | None:
    """The smallest width (of ascending `widths`) whose training error is at most `tolerance`."""
    return next((w for w, e in zip(widths, train_error) if e <= tolerance), None)


def error_peak(widths: Sequence[int], test_error: Sequence[float]) -> tuple[int, float] | None:
    """(width, prominence) of the most prominent interior local maximum of the test-error curve,
    or None if it has none. Prominence (scipy.signal.peak_prominences) is the height of the peak
    above the higher of the lowest points on either side of it: how far error rose *and* fell again."""
    errors = np.asarray(test_error, dtype=float)
    peaks, _ = find_peaks(errors)
    if len(peaks) == 0:
        return None
    prominences = peak_prominences(errors, peaks)[0]
    top = int(np.argmax(prominences))
    return int(widths[peaks[top]]), float(prominences[top])


def analyze(config: Mapping[str, Any], run_dirs: list[Path]) -> dict[str, pd.DataFrame]:
    tolerance = config["studies"][NAME]["interpolation_error"]
    rows = [{
        "family": family_label(run.spec), "width": run.spec.model.kwargs["width"], "seed": run.spec.seed,
        "run_id": run.run_id, "n_parameters": run.summary["n_parameters"], "label_noise": run.spec.data.label_noise,
        "train_subset": run.spec.data.train_subset, "epochs": run.summary["epochs_completed"],
        "train_error": 1 - run.summary["final_train_eval_acc"], "test_error": 1 - run.summary["final_test_acc"],
        "train_loss": run.summary["final_train_eval_loss"], "test_loss": run.summary["final_test_loss"],
    } for run in finished_runs(run_dirs)]
    runs = pd.DataFrame(rows, columns=RUN_COLUMNS)
    return {NAME: runs, SUMMARY: summary_table(runs, tolerance)}


RUN_COLUMNS = ["family", "width", "seed", "run_id", "n_parameters", "label_noise", "train_subset", "epochs",
               "train_error", "test_error", "train_loss", "test_loss"]


def summary_table(runs: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """Per family and width: parameters, mean and 95 % CI over seeds of train and test error, and
    flags marking the interpolation threshold and the test-error peak."""
    parts = []
    for family, part in runs.groupby("family", sort=False):
        table = part.groupby("width", sort=True)["n_parameters"].first().reset_index()
        for error in ("train_error", "test_error"):
            stats = grouped_ci(part, "width", error).set_index("width").loc[table["width"]]
            for column in ("mean", "ci_low", "ci_high"):
                table[f"{error}_{column}"] = stats[column].to_numpy()
        table.insert(0, "family", family)
        table["seeds"] = part.groupby("width", sort=True)["seed"].nunique().to_numpy()
        threshold = interpolation_threshold(table["width"], table["train_error_mean"], tolerance)
        peak = error_peak(table["width"].tolist(), table["test_error_mean"].tolist())
        table["interpolation_threshold"] = table["width"] == threshold
        table["test_error_peak"] = table["width"] == (peak[0] if peak else None)
        table["peak_prominence"] = np.where(table["test_error_peak"], peak[1] if peak else np.nan, np.nan)
        parts.append(table)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=SUMMARY_COLUMNS)


SUMMARY_COLUMNS = ["family", "width", "n_parameters", "train_error_mean", "train_error_ci_low", "train_error_ci_high",
                   "test_error_mean", "test_error_ci_low", "test_error_ci_high", "seeds", "interpolation_threshold",
                   "test_error_peak", "peak_prominence"]

register_study(Study(NAME, TITLE, study_specs, analyze, tables=(NAME, SUMMARY)))


def loglog_interpolate(x: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Piecewise-linear interpolation of log y against log x through (xs, ys) (both increasing),
    extended past the ends along the end segments, so it stays invertible over a whole axis."""
    lx, lxs, lys = np.log(np.clip(x, 1e-12, None)), np.log(xs), np.log(ys)
    inside = np.interp(lx, lxs, lys)
    left = lys[0] + (lx - lxs[0]) * (lys[1] - lys[0]) / (lxs[1] - lxs[0])
    right = lys[-1] + (lx - lxs[-1]) * (lys[-1] - lys[-2]) / (lxs[-1] - lxs[-2])
    return np.exp(np.where(lx < lxs[0], left, np.where(lx > lxs[-1], right, inside)))


def parameters_axis(ax, widths: pd.Series, parameters: pd.Series) -> None:
    """A secondary x-axis on top giving the parameter count at each width (parameters grow strictly
    with width in every family); with a single width there is no axis to draw."""
    w, p = widths.to_numpy(float), parameters.to_numpy(float)
    if len(w) < 2:
        return
    top = ax.secondary_xaxis("top", functions=(lambda x: loglog_interpolate(x, w, p), lambda x: loglog_interpolate(x, p, w)))
    top.set_xscale("log")
    top.set_xlabel("parameters")


@figure("double_descent", title="Test and train error against width and parameter count", section=TITLE,
        tables=(NAME, SUMMARY), enabled=lambda config: is_enabled(config, NAME))
def double_descent(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    runs, summary = tables[NAME], tables[SUMMARY]
    if summary.empty:
        return placeholder("No run of the double-descent study finished."), summary
    families = list(dict.fromkeys(summary["family"]))
    fig, axes = plt.subplots(2, len(families), figsize=(6.5 * len(families), 7.5), squeeze=False, sharex="col")
    for column, family in enumerate(families):
        part = summary[summary.family == family].sort_values("width")
        seeds = runs[runs.family == family]
        panels = (("test_error", "test error (%)", PALETTE[0]),
                  ("train_error", "train error on the noisy labels,\neval mode (%)", PALETTE[1]))
        for (error, label, color), ax in zip(panels, axes[:, column]):
            ax.plot(part["width"], 100 * part[f"{error}_mean"], "o-", color=color, ms=4, label="mean over seeds")
            if part["seeds"].max() > 1:
                low, high = (100 * part[f"{error}_ci_{end}"].clip(0, 1) for end in ("low", "high"))
                ax.fill_between(part["width"], low, high, color=color, alpha=0.15, lw=0, label="95 % CI")
                ax.scatter(seeds["width"], 100 * seeds[error], s=10, color=color, alpha=0.45, label="seeds")
            threshold = part.loc[part["interpolation_threshold"], "width"]
            for width in threshold:
                ax.axvline(width, linestyle=":", color="0.3", lw=1.4, label="interpolation threshold")
            ax.set(ylabel=label, xscale="log")
            ax.set_xscale("log", base=2)
        peak = part[part["test_error_peak"]]
        axes[0, column].scatter(peak["width"], 100 * peak["test_error_mean"], marker="*", s=240, color=PALETTE[3],
                                edgecolor="black", zorder=5, label="test-error peak")
        axes[0, column].set_title(family, loc="left", fontweight="bold", pad=34)
        axes[0, column].legend(fontsize=8, loc="best")
        axes[1, column].set_xlabel("width")
        parameters_axis(axes[0, column], part["width"], part["n_parameters"])
    noise = runs["label_noise"].iloc[0] if not runs.empty else float("nan")
    fig.suptitle(f"Unregularized training on labels with {100 * noise:.0f} % noise; errors of the final weights in eval "
                 "mode (train: a fixed sample of the training split)",
                 x=0.01, ha="left")
    fig.tight_layout()
    return fig, summary
