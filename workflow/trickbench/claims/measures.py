"""Quantities the claims of the factor grid share: two levels of one factor as two arms of runs, and
what is measured on them (accuracy of the validation-selected model, the generalization gap, how
fast training gets somewhere).

Two levels are compared where everything else is equal: among the runs of each level, only the
configurations (the other factors, data, model, budget) that both levels were run with — in an
ablation the baseline and the variant, in a full design every cell. Runs that share a
configuration and a seed are paired; where no configuration has both levels, the levels' runs are
compared as they are (averaged over the other factors) with Welch's test, and the claim says so.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from trickbench.claims import Contrast, NotRun, Undecided
from trickbench.claims.adapter import SELECTED_TEST_ACC, failed, train_curve_column

#: what defines a run's configuration besides the factor compared
SETTING_COLUMNS = ("data", "model", "epochs", "batch_size")


def technique_of(label: str) -> str:
    """The technique name(s) of a level label: 'dropout(p=0.5)' → 'dropout', 'dropout+l2(strength=0.1)' → 'dropout+l2'."""
    return re.sub(r"\([^)]*\)", "", str(label))


def level_label(runs: pd.DataFrame, family: str, name: str) -> str | None:
    """The level of `family` the claim means by technique `name`: the baseline's own level when it
    is that technique, else the most frequent level of that name; None when no run has it."""
    labels = runs[family].astype(str)
    matching = labels[labels.map(technique_of) == name]
    if matching.empty:
        return None
    baseline = matching[runs.loc[matching.index, "varies"] == "baseline"] if "varies" in runs else matching.iloc[:0]
    return str((baseline if len(baseline) else matching).value_counts().index[0])


@dataclass(frozen=True)
class Arms:
    """The runs of two levels, restricted to what they can be compared on; `paired`: row i of each
    shares configuration and seed (the frames are in that order)."""

    higher: pd.DataFrame  # the level the claim predicts higher on its quantity
    lower: pd.DataFrame
    paired: bool
    units: tuple[str, ...]
    labels: tuple[str, str]
    notes: tuple[str, ...]


def level_arms(runs: pd.DataFrame | None, family: str, higher: str, lower: str, needs: str) -> Arms | NotRun | Undecided:
    """The arms of `family`=`higher` (the level the claim predicts higher) and `family`=`lower`
    among the grid's runs that trained, matched on everything else."""
    if runs is None or runs.empty:
        return NotRun(f"no grid runs (results/tables/runs.csv); {needs}")
    labels = {name: level_label(runs, family, name) for name in (higher, lower)}
    missing = [name for name, label in labels.items() if label is None]
    if missing:
        return NotRun(f"no run with {family} {' or '.join(missing)}; {needs}")
    arms, notes = {}, []
    for name, label in labels.items():
        level = runs[runs[family].astype(str) == label]
        bad = failed(level)
        if bad.all():
            return Undecided(f"every run with {family}={label} failed to train ({describe_failures(level)}): "
                             "there is nothing to compare")
        if bad.any():
            notes.append(f"{int(bad.sum())} of {len(level)} runs with {family}={label} failed to train and are left out")
        arms[name] = level[~bad]
    return matched(arms[higher], arms[lower], family, (labels[higher], labels[lower]), notes)


def matched(higher: pd.DataFrame, lower: pd.DataFrame, family: str, labels: tuple[str, str], notes: list[str]) -> Arms:
    """The two levels' runs restricted to the configurations both ran, paired on configuration and
    seed where at least two such pairs exist; else as they are (Welch), saying so."""
    from trickbench.techniques import FAMILIES

    key_columns = [c for c in (*SETTING_COLUMNS, *FAMILIES) if c != family and c in higher]
    configuration = lambda frame: frame[key_columns].astype(str).agg("|".join, axis=1)
    shared = set(configuration(higher)) & set(configuration(lower))
    if not shared:
        notes.append("no configuration ran both levels with everything else equal: the levels are compared averaged "
                     "over the other factors")
        return Arms(higher, lower, False, (), labels, tuple(notes))
    framed = []
    for frame in (higher, lower):
        frame = frame[configuration(frame).isin(shared)]
        framed.append(frame.assign(_unit=(configuration(frame) + "|" + frame["seed"].astype(str)).to_numpy()))
    a, b = framed
    common = sorted(set(a["_unit"]) & set(b["_unit"])) if a["_unit"].is_unique and b["_unit"].is_unique else []
    if len(common) < 2:  # no seeds in common (or several runs per seed): the arms as they are
        return Arms(a.drop(columns="_unit"), b.drop(columns="_unit"), False, (), labels, tuple(notes))
    if unpaired := len(a) + len(b) - 2 * len(common):
        notes.append(f"{unpaired} run(s) without a partner of the same seed are left out of the pairs")
    a, b = (frame.set_index("_unit").loc[common].reset_index() for frame in (a, b))
    ordered = sorted(shared)
    units = tuple(f"seed {seed}" if len(shared) == 1 else f"configuration {ordered.index(unit.rsplit('|', 1)[0]) + 1}, seed {seed}"
                  for unit, seed in zip(a["_unit"], a["seed"]))
    return Arms(a.drop(columns="_unit"), b.drop(columns="_unit"), True, units, labels, tuple(notes))


def describe_failures(runs: pd.DataFrame) -> str:
    """'3 diverged' or '2 ok but at chance, 1 exploded'."""
    statuses = runs["status"].where(runs["status"] != "ok", "ok but at chance") if "status" in runs else None
    if statuses is None:
        return f"{len(runs)} failed"
    return ", ".join(f"{n} {status}" for status, n in statuses.value_counts().items())


def contrast(arms: Arms, value: Callable[[pd.DataFrame], pd.Series], notes: tuple[str, ...] = ()) -> Contrast | Undecided:
    """The arms' values (a pair is dropped when either value is not finite)."""
    a = value(arms.higher).to_numpy(dtype=float)
    b = value(arms.lower).to_numpy(dtype=float)
    units = arms.units
    if arms.paired:
        keep = np.isfinite(a) & np.isfinite(b)
        a, b, units = a[keep], b[keep], tuple(u for u, k in zip(units, keep) if k)
    else:
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not len(a) or not len(b):
        return Undecided("the quantity is not defined on these runs")
    return Contrast(a, b, arms.paired, units, arms.labels, arms.notes + notes)


# -- the quantities ------------------------------------------------------------------------------
def selected_test_accuracy(runs: pd.DataFrame) -> pd.Series:
    """Test accuracy (points) of the model chosen on validation: the run's validation-selected epoch."""
    return 100 * pd.to_numeric(runs[SELECTED_TEST_ACC], errors="coerce")


def curves(epochs: pd.DataFrame, run_ids: pd.Series, column: str) -> dict[str, pd.Series]:
    """Per run: `column` indexed by epoch (ascending)."""
    part = epochs[epochs["run_id"].isin(set(run_ids))]
    return {run_id: group.set_index("epoch")[column].sort_index() for run_id, group in part.groupby("run_id")}


def epochs_to_reach(curve: pd.Series, target: float) -> float:
    """The (fractional) epoch at which `curve` (indexed by epoch) first reaches `target`, linear
    between epoch ends; the first epoch when it starts there; NaN when it never does."""
    epochs, values = curve.index.to_numpy(dtype=float), curve.to_numpy(dtype=float)
    reached = np.flatnonzero(values >= target)
    if not len(reached):
        return math.nan
    i = int(reached[0])
    if i == 0:
        return float(epochs[0])
    e0, e1, v0, v1 = epochs[i - 1], epochs[i], values[i - 1], values[i]
    return float(e0 + (target - v0) / (v1 - v0) * (e1 - e0))


def speedup(arms: Arms, epochs: pd.DataFrame | None, metric: str, stated_target: float | None) -> Contrast | Undecided | NotRun:
    """Values ln(epochs to reach the target accuracy) per run: with the slower level as `higher`,
    higher − lower = ln(speedup), speedup = epochs(slower) / epochs(faster). The target is the source's accuracy where every run
    of both arms reaches it, else the highest accuracy every run reaches — the same for every run.

    `metric` 'train' reads the training accuracy (eval mode when recorded), 'val' the validation's."""
    if epochs is None or epochs.empty:
        return NotRun("no epochs table (results/tables/epochs.csv)")
    column, eval_mode = train_curve_column(epochs, "acc") if metric == "train" else ("val_acc", True)
    runs = pd.concat([arms.higher, arms.lower])
    by_run = curves(epochs, runs["run_id"], column)
    if set(runs["run_id"]) - set(by_run):
        return Undecided("some runs have no epochs recorded")
    peak = min(float(curve.max()) for curve in by_run.values())
    target = peak if stated_target is None else min(stated_target, peak)
    what = "training" if metric == "train" else "validation"
    if stated_target is None:
        note = f"target: {100 * target:.1f} % {what} accuracy, the highest every run reached"
    elif target == stated_target:
        note = f"target: the source's {100 * target:.0f} % {what} accuracy"
    else:
        note = (f"target: {100 * target:.1f} % {what} accuracy, the highest every run reached "
                f"(not every run reached the source's {100 * stated_target:.0f} %)")
    notes = (note,) + (() if eval_mode else ("training-mode running accuracy: no eval-mode column yet",))
    value = lambda frame: frame["run_id"].map(lambda r: math.log(epochs_to_reach(by_run[r], target)))
    return contrast(arms, value, notes)


def final_gap(arms: Arms, epochs: pd.DataFrame | None) -> Contrast | Undecided | NotRun:
    """Values training − validation accuracy (the gap) in points at each run's last epoch: with the
    unregularized level as `higher`, higher − lower is how much the regularizer narrows the gap.
    Training accuracy in eval mode when recorded."""
    from trickbench.claims.adapter import TRAIN_MODE_NOTE

    if epochs is None or epochs.empty:
        return NotRun("no epochs table (results/tables/epochs.csv)")
    column, eval_mode = train_curve_column(epochs, "acc")
    runs = pd.concat([arms.higher, arms.lower])
    last = epochs[epochs["run_id"].isin(set(runs["run_id"]))].sort_values("epoch").groupby("run_id").last()
    gap = 100 * (last[column] - last["val_acc"])
    return contrast(arms, lambda frame: frame["run_id"].map(gap), () if eval_mode else (TRAIN_MODE_NOTE,))


def early_training_loss(arms: Arms, epochs: pd.DataFrame | None, fraction: float,
                        notes: tuple[str, ...] = ()) -> Contrast | Undecided | NotRun:
    """Values training loss at the epoch ⌈fraction·T⌉ of a T-epoch run: with the slower level as
    `higher`, higher − lower is how much lower the faster level's loss is early on (eval mode when
    recorded)."""
    if epochs is None or epochs.empty:
        return NotRun("no epochs table (results/tables/epochs.csv)")
    column, eval_mode = train_curve_column(epochs, "loss")
    runs = pd.concat([arms.higher, arms.lower])
    by_run = curves(epochs, runs["run_id"], column)

    def loss(run_id: str) -> float:
        curve = by_run.get(run_id)
        if curve is None or curve.empty:
            return math.nan
        epoch = max(1, math.ceil(fraction * curve.index.max()))
        return float(curve.get(epoch, math.nan))

    notes += () if eval_mode else ("training-mode running loss: no eval-mode column yet",)
    return contrast(arms, lambda frame: frame["run_id"].map(loss), notes)
