"""Initialization statistics: what each init does to the activations, layer after layer.

The classic demonstration (Glorot & Bengio 2010; He et al. 2015; the cs231n notes "Neural
Networks Part 2"): a deep fully connected net (default 10 layers of 500 units) is fed N(0, I)
inputs, and the mean, std and histogram of every hidden layer's outputs are recorded for each
activation × initialization. Too small a scale makes activations collapse towards 0 with depth;
too large saturates tanh and blows ReLU outputs up; Xavier (tanh) and He (ReLU) keep the std
roughly constant. The same per-layer statistics, which every training run records at epoch 0 and
at its end (train.activations), are tabled for real runs of each activation × init.

Note that the registry's `xavier_normal` includes the activation's gain (√2 for ReLU), so on square
layers it equals He for ReLU; Glorot's original gain-1 scheme is what halves ReLU variance per layer.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from trickbench.collect import baseline_labels
from trickbench.design import baseline_spec, resolve_level
from trickbench.registry import Technique
from trickbench.report.figures import Tables, figure, placeholder
from trickbench.report.style import TechniqueColors, apply_theme
from trickbench.spec import RunSpec
from trickbench.studies import Study, is_enabled, register_study
from trickbench.techniques.activations import ACTIVATIONS
from trickbench.techniques.inits import INITS, InitContext
from trickbench.train.activations import activation_shape, layer_statistics

NAME = "init_stats"
TITLE = "Initialization statistics"
STAT_COLUMNS = ["mean", "std", "dead_fraction", "saturated_fraction"]


def settings(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config["studies"][NAME]


def levels(config: Mapping[str, Any], family: str) -> list[Technique]:
    key = {"activation": "activations", "init": "inits"}[family]
    return [resolve_level(family, level, f"studies.{NAME}.{key}[{i}]") for i, level in enumerate(settings(config)[key])]


# -- the demonstration network -------------------------------------------------------------------
def deep_network(activation: Technique, layers: int, units: int) -> nn.Sequential:
    """`layers` blocks of Linear(units → units) followed by the activation (no normalization)."""
    blocks = []
    for _ in range(layers):
        nonlinearity = ACTIVATIONS.build(activation, units)
        blocks.append(nn.Sequential(nn.Linear(units, units * getattr(nonlinearity, "expansion", 1)), nonlinearity))
    return nn.Sequential(*blocks)


@torch.no_grad()
def layer_outputs(activation: Technique, init: Technique, layers: int, units: int, inputs: torch.Tensor,
                  seed: int) -> list[torch.Tensor]:
    """Every hidden layer's outputs for `inputs`, with weights drawn by the init registry."""
    torch.manual_seed(seed)
    network = deep_network(activation, layers, units)
    INITS.build(init, network, InitContext(activation, inputs))
    outputs, x = [], inputs
    for block in network:
        x = block(x)
        outputs.append(x)
    return outputs


def histogram(values: torch.Tensor, bins: int) -> pd.DataFrame:
    """Counts of `values` in `bins` equal bins spanning their own range (finite values only)."""
    data = values.detach().double().flatten().numpy()
    data = data[np.isfinite(data)]
    if len(data) == 0:
        return pd.DataFrame(columns=["bin", "left", "right", "count"])
    low, high = float(data.min()), float(data.max())
    if low == high:  # every value equal (e.g. all units dead): one visible bar around it
        low, high = low - 0.5, high + 0.5
    counts, edges = np.histogram(data, bins=bins, range=(low, high))
    return pd.DataFrame({"bin": range(bins), "left": edges[:-1], "right": edges[1:], "count": counts})


def demonstration(config: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-layer statistics on every seed of studies.init_stats.seeds, per-layer histograms on the
    first) for every activation × init of the config. Each seed draws the inputs and the weights, so
    a claim read off the statistics has one value per seed and an interval over them."""
    study = settings(config)
    stats, histograms = [], []
    for seed in study["seeds"]:
        inputs = torch.randn(study["examples"], study["units"], generator=torch.Generator().manual_seed(seed))
        for activation in levels(config, "activation"):
            shape = activation_shape(activation)
            for init in levels(config, "init"):
                names = {"activation": ACTIVATIONS.label(activation), "init": INITS.label(init)}
                outputs = layer_outputs(activation, init, study["layers"], study["units"], inputs, seed)
                for layer, output in enumerate(outputs, start=1):
                    stats.append({**names, "seed": seed, "layer": layer, **layer_statistics(output, shape)})
                    if seed == study["seeds"][0]:
                        histograms.append(histogram(output, study["bins"]).assign(layer=layer, **names))
    hist = pd.concat(histograms, ignore_index=True)
    return pd.DataFrame(stats), hist[["activation", "init", "layer", "bin", "left", "right", "count"]]


# -- real training runs --------------------------------------------------------------------------
def run_specs(config: Mapping[str, Any]) -> list[RunSpec]:
    """The grid's model trained with each activation × init, at the study's normalization."""
    study = settings(config)
    norm = resolve_level("norm", study["run_norm"], f"studies.{NAME}.run_norm")
    specs = [dataclasses.replace(baseline_spec(config, seed), activation=activation, init=init, norm=norm)
             for activation in levels(config, "activation") for init in levels(config, "init")
             for seed in study["run_seeds"]]
    return list({spec.run_id: spec for spec in specs}.values())


def run_statistics(run_dirs: list[Path]) -> pd.DataFrame:
    """The per-layer statistics each run recorded at its start and end, with what the run was."""
    frames = []
    for run_dir in run_dirs:
        summary = json.loads((run_dir / "summary.json").read_text())
        spec = RunSpec.from_dict(summary["spec"])
        stats = pd.read_csv(run_dir / "activations.csv")
        frames.append(stats.assign(run_id=summary["run_id"], activation=spec.label("activation"), init=spec.label("init"),
                                   norm=spec.label("norm"), seed=spec.seed, status=summary["status"],
                                   final_test_acc=summary["final_test_acc"]))
    columns = ["run_id", "activation", "init", "norm", "seed", "status", "final_test_acc", "moment", "layer", "module",
               *STAT_COLUMNS]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def analyze(config: Mapping[str, Any], run_dirs: list[Path]) -> dict[str, pd.DataFrame]:
    stats, histograms = demonstration(config)
    return {NAME: stats, f"{NAME}_histograms": histograms, f"{NAME}_runs": run_statistics(run_dirs)}


register_study(Study(NAME, TITLE, run_specs, analyze, tables=(NAME, f"{NAME}_histograms", f"{NAME}_runs"),
                     run_files=("summary.json", "activations.csv")))


# -- figures -------------------------------------------------------------------------------------
def _enabled(config: Mapping[str, Any]) -> bool:
    return is_enabled(config, NAME)


@figure("init_histograms", title="Activation histograms, layer by layer, per activation and init", section=TITLE,
        tables=(f"{NAME}_histograms", NAME), enabled=_enabled)
def init_histograms(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    hist, stats = tables[f"{NAME}_histograms"], tables[NAME]
    rows = list(dict.fromkeys(zip(stats["activation"], stats["init"])))
    layers = int(stats["layer"].max())
    fig, axes = plt.subplots(len(rows), layers, figsize=(1.9 * layers, 1.35 * len(rows) + 0.6), squeeze=False)
    for r, (activation, init) in enumerate(rows):
        for c in range(layers):
            ax = axes[r][c]
            part = hist[(hist.activation == activation) & (hist.init == init) & (hist.layer == c + 1)]
            row = stats[(stats.activation == activation) & (stats.init == init) & (stats.layer == c + 1)].iloc[0]
            ax.bar(part["left"], part["count"], width=part["right"] - part["left"], align="edge", color="#0072b2")
            ax.set_yticks([])
            ax.tick_params(axis="x", labelsize=6, pad=1)
            ax.xaxis.get_offset_text().set_fontsize(6)
            ax.set_title(f"σ={row['std']:.2g}", fontsize=7, pad=2)
            if c == 0:
                ax.set_ylabel(f"{activation}\n{init}", fontsize=8, rotation=0, ha="right", va="center")
            if r == 0:
                ax.annotate(f"layer {c + 1}", (0.5, 1.35), xycoords="axes fraction", ha="center", fontsize=9)
    fig.suptitle(f"Hidden activations of a deep net on N(0, I) inputs, seed {stats['seed'].iloc[0]} — rows: activation "
                 "· init, columns: layers (each panel on its own x range)", x=0.01, ha="left", fontsize=11)
    fig.tight_layout(h_pad=0.4, w_pad=0.2)
    return fig, hist


#: marker and line style per init, so curves that coincide (Xavier and He on square layers) stay visible
MARKERS = [("o", "-", 8), ("s", "--", 6), ("^", ":", 6), ("D", "-.", 4), ("v", "-", 5), ("P", "--", 5)]


def init_colors(table: pd.DataFrame, config: Mapping[str, Any]) -> TechniqueColors:
    """The report's colours: the baseline's init grey, the others in the table's order."""
    return TechniqueColors(table, baseline_labels(config), ["init"])


def _fraction_column(part: pd.DataFrame) -> str | None:
    for column in ("dead_fraction", "saturated_fraction"):
        if part[column].notna().any():
            return column
    return None


@figure("init_layer_stats", title="Activation std and dead/saturated units by layer", section=TITLE,
        tables=(NAME,), enabled=_enabled)
def init_layer_stats(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    stats = tables[NAME].groupby(["activation", "init", "layer"], sort=False)[STAT_COLUMNS].mean().reset_index()
    activations = list(dict.fromkeys(stats["activation"]))
    colors = init_colors(stats, config)
    styles = dict(zip(dict.fromkeys(stats["init"]), MARKERS * 4))
    fig, axes = plt.subplots(2, len(activations), figsize=(5.6 * len(activations), 7), squeeze=False)
    for c, activation in enumerate(activations):
        part = stats[stats.activation == activation]
        fraction = _fraction_column(part)
        for init, curve in part.groupby("init", sort=False):
            marker, line, size = styles[init]
            style = {"marker": marker, "linestyle": line, "markersize": size, "color": colors("init", init), "label": init}
            axes[0][c].plot(curve["layer"], curve["std"], **style)
            if fraction:
                axes[1][c].plot(curve["layer"], 100 * curve[fraction], **style)
        axes[0][c].set(yscale="log", xlabel="layer", ylabel="std of activations", title=activation)
        axes[1][c].set(xlabel="layer", ylabel=f"{fraction.replace('_fraction', '')} units (%)" if fraction else "",
                       ylim=(-3, 103))
        if not fraction:
            axes[1][c].text(0.5, 0.5, "neither a rectifier nor bounded:\nno dead or saturated units defined",
                            ha="center", va="center", transform=axes[1][c].transAxes, color="0.4")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Per-layer std (log scale) and the share of dead (rectifier) or saturated (bounded) units, mean over "
                 f"{tables[NAME]['seed'].nunique()} seeds",
                 x=0.01, ha="left")
    fig.tight_layout()
    return fig, stats


@figure("init_runs", title="Activation statistics of real training runs at epoch 0 and at the end", section=TITLE,
        tables=(f"{NAME}_runs",), enabled=_enabled)
def init_runs(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    runs = tables[f"{NAME}_runs"]
    if runs.empty:
        return placeholder("No run recorded activation statistics (a model without hidden layers?)."), runs
    first = runs[runs["seed"] == runs["seed"].min()]
    activations = list(dict.fromkeys(first["activation"]))
    colors = init_colors(first, config)
    fig, axes = plt.subplots(2, len(activations), figsize=(5.6 * len(activations), 7), squeeze=False)
    for c, activation in enumerate(activations):
        part = first[first.activation == activation]
        fraction = _fraction_column(part)
        for (init, moment), curve in part.groupby(["init", "moment"], sort=False):
            style = "--" if moment == "start" else "-"
            accuracy = curve["final_test_acc"].iloc[0]
            label = (f"{init} ({curve['status'].iloc[0]}, test {100 * accuracy:.1f} %)" if math.isfinite(accuracy)
                     else f"{init} ({curve['status'].iloc[0]})") if moment == "end" else None
            axes[0][c].plot(curve["layer"], curve["std"], "o" + style, color=colors("init", init), label=label)
            if fraction:
                axes[1][c].plot(curve["layer"], 100 * curve[fraction], "o" + style, color=colors("init", init))
        axes[0][c].set(yscale="log", xlabel="hidden layer", ylabel="std of activations", title=activation,
                       xticks=sorted(part["layer"].unique()))
        axes[1][c].set(xlabel="hidden layer", ylabel=f"{fraction.replace('_fraction', '')} units (%)" if fraction else "",
                       ylim=(-3, 103), xticks=sorted(part["layer"].unique()))
        axes[0][c].legend(fontsize=7)
    fig.suptitle(f"Real runs (norm = {first['norm'].iloc[0]}, seed {first['seed'].iloc[0]}) — dashed: epoch 0, "
                 "solid: end of training", x=0.01, ha="left")
    fig.tight_layout()
    return fig, runs
