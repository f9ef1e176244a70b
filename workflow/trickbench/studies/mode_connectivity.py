"""Mode connectivity: the loss along paths between independently trained solutions.

Two copies of the baseline trained from different seeds end in different minima. On the straight
line θ(t) = (1 − t)·θ_A + t·θ_B between them the loss usually rises to a barrier (Goodfellow et al.
2015 looked along the line from init to solution; Frankle et al. 2020 between solutions). Garipov
et al. 2018 showed that a simple curve, the quadratic Bezier θ(t) = (1 − t)²·θ_A + 2t(1 − t)·θ_C +
t²·θ_B with a trained control point θ_C, joins them at nearly constant low loss. The control point
is trained on E_{t ~ U(0, 1)} of the training loss at θ(t) (plain cross-entropy, the baseline's
optimizer and schedule). At every point evaluated, batch-norm statistics are recomputed on the
training split first, since averaged weights do not match averaged statistics (as for SWA).

The barrier of a path is max_t [loss(t) − ((1 − t)·loss(0) + t·loss(1))] (Frankle et al. 2020).

The study joins several pairs of solutions: `studies.mode_connectivity.seeds` taken in consecutive
pairs ([0, 1, 2, 3, 4, 5] joins 0–1, 2–3 and 4–5), one line and one curve per pair. Pairs share no
endpoint, so their barriers are independent draws and a claim reads their t interval.
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
import torch
from torch import nn

from trickbench.data.device_data import DeviceData, prepare, shuffled_batches, to_unit_float
from trickbench.data.cache import read_images
from trickbench.design import baseline_spec
from trickbench.errors import ConfigError
from trickbench.models import Parts, build_model
from trickbench.report.figures import Tables, figure, placeholder
from trickbench.report.style import PALETTE, TRAIN_STYLE, VAL_STYLE, apply_theme
from trickbench.run import load_weights, resolve_device
from trickbench.spec import RunSpec
from trickbench.studies import Study, is_enabled, register_study
from trickbench.techniques.optimizers import OPTIMIZERS
from trickbench.techniques.schedules import lr_multiplier
from trickbench.techniques.weight_decay import parameter_groups
from trickbench.train.averaging import preprocessed_batches
from trickbench.train.evaluate import evaluate

NAME = "mode_connectivity"
TITLE = "Mode connectivity"
State = dict[str, torch.Tensor]
PATH_COLUMNS = ["pair", "path", "t", "train_loss", "train_acc", "test_loss", "test_acc"]
log = logging.getLogger("trickbench.studies.mode_connectivity")  # a curve trains for minutes: its epochs are logged


def settings(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config["studies"][NAME]


def endpoint_pairs(config: Mapping[str, Any]) -> list[tuple[int, int]]:
    """The seeds in consecutive pairs: [0, 1, 2, 3] → (0, 1), (2, 3). The schema makes them distinct
    integers, at least two; an odd count would leave a seed without a partner."""
    seeds = list(settings(config)["seeds"])
    if len(seeds) % 2:
        raise ConfigError(f"studies.{NAME}.seeds", seeds, "an even number of distinct seeds, joined in consecutive "
                          "pairs (e.g. [0, 1, 2, 3, 4, 5]: 3 pairs, 0–1, 2–3 and 4–5)")
    return list(zip(seeds[::2], seeds[1::2]))


def pair_label(pair: tuple[int, int]) -> str:
    return f"{pair[0]}–{pair[1]}"


def endpoint_specs(config: Mapping[str, Any]) -> list[RunSpec]:
    """The baseline at every seed of every pair, pair by pair (shared with the grid when it uses them),
    on the study's training subset and for its epochs where it sets them: runs of their own then."""
    subset, epochs = settings(config)["train_subset"], settings(config)["epochs"]
    specs = [baseline_spec(config, seed) for pair in endpoint_pairs(config) for seed in pair]
    return [dataclasses.replace(spec, data=dataclasses.replace(spec.data, train_subset=subset or spec.data.train_subset),
                                train=dataclasses.replace(spec.train, epochs=epochs or spec.train.epochs))
            for spec in specs]


# -- paths in weight space -----------------------------------------------------------------------
def interpolate(a: State, b: State, t: float) -> State:
    """(1 − t)·a + t·b for floating-point tensors; counters (num_batches_tracked) are taken from a."""
    return {k: torch.lerp(a[k], b[k], t) if a[k].is_floating_point() else a[k].clone() for k in a}


def bezier(a: State, control: State, b: State, t: float) -> State:
    """The quadratic Bezier curve (1 − t)²·a + 2t(1 − t)·c + t²·b (Garipov et al. 2018, eq. 3)."""
    return {k: (1 - t) ** 2 * a[k] + 2 * t * (1 - t) * control[k] + t**2 * b[k] if a[k].is_floating_point()
            else a[k].clone() for k in a}


def point_metrics(model: nn.Module, state: State, data: DeviceData, batch_size: int) -> dict[str, float]:
    """Train and test loss/accuracy at one point, batch-norm statistics recomputed first."""
    model.load_state_dict(state)
    torch.optim.swa_utils.update_bn(preprocessed_batches(data, batch_size), model)
    train, test = evaluate(model, data, "train", batch_size), evaluate(model, data, "test", batch_size)
    return {"train_loss": train.loss, "train_acc": train.accuracy, "test_loss": test.loss, "test_acc": test.accuracy}


def path_table(model: nn.Module, states: dict[str, Any], data: DeviceData, points: int, batch_size: int) -> pd.DataFrame:
    """Metrics at `points` evenly spaced t in [0, 1] along each path (name → t ↦ state)."""
    rows = [{"path": name, "t": float(t), **point_metrics(model, state_at(float(t)), data, batch_size)}
            for name, state_at in states.items() for t in np.linspace(0.0, 1.0, points)]
    return pd.DataFrame(rows, columns=PATH_COLUMNS)


def barriers(paths: pd.DataFrame) -> pd.DataFrame:
    """Per pair, path and split: the largest excess of the loss over the line between its endpoint losses."""
    rows = []
    for (pair, path), group in paths.groupby(["pair", "path"], sort=False):
        part = group.sort_values("t")
        t = part["t"].to_numpy()
        for split in ("train", "test"):
            loss = part[f"{split}_loss"].to_numpy()
            excess = loss - ((1 - t) * loss[0] + t * loss[-1])
            worst = int(np.argmax(excess))
            rows.append({"pair": pair, "path": path, "split": split, "barrier": float(excess[worst]),
                         "t_max": float(t[worst]),
                         "loss_at_0": float(loss[0]), "loss_at_1": float(loss[-1]), "max_loss": float(loss.max()),
                         "min_acc": float(part[f"{split}_acc"].min())})
    return pd.DataFrame(rows)


# -- the trained curve ---------------------------------------------------------------------------
def train_bezier(model: nn.Module, a: State, b: State, data: DeviceData, spec: RunSpec, epochs: int) -> State:
    """The control point θ_C minimizing the mean training loss over the curve, from the midpoint."""
    names = [name for name, _ in model.named_parameters()]
    start = interpolate(a, b, 0.5)
    control = {k: start[k].clone().requires_grad_(k in names) for k in start}
    buffers = {k: v.clone() for k, v in a.items() if k not in names}  # running statistics, updated as training goes
    optimizer = OPTIMIZERS.build(spec.optimizer, parameter_groups(model, control))  # decayed by role, as in runs
    steps_per_epoch = math.ceil(len(data.train) / spec.train.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_multiplier(spec.schedule, epochs * steps_per_epoch))
    shuffle = torch.Generator().manual_seed(spec.seed)
    model.train()
    for epoch in range(1, epochs + 1):
        losses = []
        for index in shuffled_batches(len(data.train), spec.train.batch_size, shuffle, data.train.labels.device):
            inputs = data.preprocess(to_unit_float(data.train.images[index]))
            labels = data.train.labels[index]
            t = float(torch.rand((), generator=shuffle))

            def closure(t=t, inputs=inputs, labels=labels):
                optimizer.zero_grad(set_to_none=True)
                weights = {k: (1 - t) ** 2 * a[k] + 2 * t * (1 - t) * control[k] + t**2 * b[k] for k in names}
                logits = torch.func.functional_call(model, {**buffers, **weights}, (inputs,))
                loss = nn.functional.cross_entropy(logits, labels)
                loss.backward()
                return loss

            loss = optimizer.step(closure)  # the closure's loss (a plugin's optimizer may return None)
            losses += [torch.as_tensor(loss).item()] if loss is not None else []
            scheduler.step()
        mean = f", mean training loss along the curve {sum(losses) / len(losses):.4f}" if losses else ""
        log.info("Bezier curve: epoch %d/%d%s", epoch, epochs, mean)
    return {k: v.detach() for k, v in control.items()}


# -- the study -----------------------------------------------------------------------------------
def analyze(config: Mapping[str, Any], run_dirs: list[Path]) -> dict[str, pd.DataFrame]:
    """The paths of every pair whose endpoints both finished; a pair with an endpoint that did not
    has no paths and one barrier row saying so."""
    study, execution = settings(config), config["execution"]
    summaries = [json.loads((d / "summary.json").read_text()) for d in run_dirs]
    spec = RunSpec.from_dict(summaries[0]["spec"])
    device = resolve_device(execution["device"])
    images = read_images(spec.data.source, Path(execution["data_root"]), execution["download"])
    data = prepare(images, spec.data, spec.preprocessing, device)
    model = build_model(spec.model, Parts(data.input_shape, data.num_classes, spec.activation, spec.norm)).to(device)
    tables, unfinished = [], []
    for k, pair in enumerate(endpoint_pairs(config)):
        ends, dirs = summaries[2 * k: 2 * k + 2], run_dirs[2 * k: 2 * k + 2]
        if failed := ", ".join(f"{s['run_id']} ({s['status']})" for s in ends if s["status"] != "ok"):
            unfinished.append({"pair": pair_label(pair), "path": "line", "split": "test", "barrier": math.nan,
                               "note": f"an endpoint did not finish: {failed}"})
            continue
        table = pair_paths(model, dirs, data, RunSpec.from_dict(ends[0]["spec"]), study, execution["eval_batch_size"])
        tables.append(table.assign(pair=pair_label(pair))[PATH_COLUMNS])
    paths = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=PATH_COLUMNS)
    return {NAME: paths, f"{NAME}_barriers": pd.concat([barriers(paths), pd.DataFrame(unfinished)], ignore_index=True)}


def pair_paths(model: nn.Module, run_dirs: list[Path], data: DeviceData, spec: RunSpec, study: Mapping[str, Any],
               batch_size: int) -> pd.DataFrame:
    """The line, and with `bezier` the trained curve (seeded by the pair's first run), between the
    weights of two run folders."""
    a, b = ({k: v.to(data.train.labels.device) for k, v in load_weights(d / "model.pt").items()} for d in run_dirs)
    paths = {"line": lambda t: interpolate(a, b, t)}
    if study["bezier"]:
        log.info("runs %s and %s: training the Bezier curve between them (epochs: %d)", run_dirs[0].name, run_dirs[1].name,
                 study["bezier_epochs"])
        control = train_bezier(model, a, b, data, spec, study["bezier_epochs"])
        paths["bezier"] = lambda t: bezier(a, control, b, t)
    log.info("runs %s and %s: evaluating %s at %d points each", run_dirs[0].name, run_dirs[1].name, " and ".join(paths),
             study["points"])
    return path_table(model, paths, data, study["points"], batch_size)


register_study(Study(NAME, TITLE, endpoint_specs, analyze, tables=(NAME, f"{NAME}_barriers"),
                     run_files=("summary.json", "model.pt")))


@figure("mode_connectivity", title="Loss and accuracy along paths between pairs of trained networks", section=TITLE,
        tables=(NAME, f"{NAME}_barriers"), enabled=lambda config: is_enabled(config, NAME))
def mode_connectivity_figure(tables: Tables, config: Mapping[str, Any]):
    """One colour per path (line, curve); one line of it per pair of solutions, t = 0 at the pair's
    first seed and t = 1 at its second."""
    apply_theme()
    paths = tables[NAME]
    if paths.empty:
        return placeholder("No pair of endpoint runs finished: no path to evaluate."), paths
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(12, 4.4))
    colors = dict(zip(paths["path"].unique(), PALETTE))
    for (pair, path), part in paths.groupby(["pair", "path"], sort=False):
        first = pair == paths["pair"].iloc[0]  # one legend entry per path and split
        for split, style in (("train", TRAIN_STYLE), ("test", VAL_STYLE)):
            label = f"{path}, {split}" if first else None
            loss_ax.plot(part["t"], part[f"{split}_loss"], style, color=colors[path], label=label, alpha=0.8)
            acc_ax.plot(part["t"], 100 * part[f"{split}_acc"], style, color=colors[path], label=label, alpha=0.8)
    pairs = paths["pair"].unique()
    for ax, label in ((loss_ax, "cross-entropy loss"), (acc_ax, "accuracy (%)")):
        ax.set(xlabel=f"t  (0: a pair's first seed, 1: its second; pairs {', '.join(pairs)})", ylabel=label)
    loss_ax.legend(fontsize=9)
    barrier = tables[f"{NAME}_barriers"]
    line = barrier[(barrier.path == "line") & (barrier.split == "test")]["barrier"].dropna()
    mean_of = f" (mean of {len(line)} pairs)" if len(line) > 1 else ""
    note = f" — test-loss barrier on the line: {line.mean():.3f}{mean_of}" if len(line) else ""
    fig.suptitle("Solid: training split, dashed: test split; batch-norm statistics recomputed at each point" + note,
                 x=0.01, ha="left", fontsize=10)
    fig.tight_layout()
    return fig, paths
