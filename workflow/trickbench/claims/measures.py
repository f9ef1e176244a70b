"""Quantities the claims of the factor grid share: two levels of one factor as two arms of runs, and
what is measured on them (accuracy of the validation-selected model, the generalization gap, how
fast training gets somewhere).

The runs are those the report's comparisons rest on (`collect.compared_runs`: in a tuned design
each level at its own tuned learning rate, else at the config's). A run that failed to train
(diverged, exploded, or not above chance on validation by the report's exact binomial test:
`trickbench.stats.failures`) is left out of its arm and counted; a level most of whose runs failed is
*failed* (`level_failed`), and a claim on it is undecided, as the report treats it.

Two levels are compared where everything else is equal: among the runs of each level, only the
configurations (the other factors, data, model, budget) that both levels were run with — in an
ablation the baseline and the variant, in a full design every cell. Runs that share a
configuration and a seed are paired; where no configuration has both levels, the levels' runs are
compared as they are (averaged over the other factors) with Welch's test, and the claim says so.

The arms also carry the design they belong to (`Arms.design`): every compared run of the grid
that trained, in cells none of whose runs failed (a cell that lost a run — a failed level loses
most — would leave a seed without its block). A contrast measures its quantity on those runs too
(`Contrast.cells`), on the arms' seeds, keeping the cells where it is defined on every one of them,
so that the claim can be tested on one model over all those cells with seeds as blocks
(`stats.pooled_difference`, in `verdicts`) rather than on its two arms alone.

Training accuracy and loss are measured in eval mode on the run's fixed training sample
(`train_eval_*`), like validation: the running training-mode numbers have dropout and
augmentation on, which would make a regularizer look like it closes the gap by itself.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from trickbench.claims import Contrast, NotRun, Undecided
from trickbench.collect import compared_runs
from trickbench.report.findings import SELECT_ON
from trickbench.stats import ChanceTest, count_reasons, failure_reasons, level_failed
from trickbench.techniques import FAMILIES

#: what defines a run's configuration besides the factor compared
SETTING_COLUMNS = ("data", "model", "epochs", "batch_size")
#: test accuracy of the model chosen on validation (at the run's best_val_acc_epoch)
SELECTED_TEST_ACC = "best_test_acc"


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
    #: the runs of every cell the arms are compared among (module docstring); None: the arms are not
    #: cells of the grid's design
    design: pd.DataFrame | None = field(default=None, compare=False, repr=False)

    def runs(self) -> pd.DataFrame:
        """The arms' runs and the design's (the runs a quantity is measured on)."""
        return pd.concat([self.higher, self.lower, *([self.design] if self.design is not None else [])])


def level_arms(runs: pd.DataFrame | None, family: str, higher: str, lower: str, needs: str,
               chance: ChanceTest | None) -> Arms | NotRun | Undecided:
    """The arms of `family`=`higher` (the level the claim predicts higher) and `family`=`lower`
    among the compared runs (`collect.compared_runs`) that trained, matched on everything else."""
    if runs is None or runs.empty:
        return NotRun(f"no grid runs (results/tables/runs.csv); {needs}")
    compared = compared_runs(runs)
    labels = {name: level_label(compared, family, name) for name in (higher, lower)}
    missing = [name for name, label in labels.items() if label is None]
    if missing:
        if all(level_label(runs, family, name) is not None for name in missing):
            return Undecided(f"no tuned run with {family} {' or '.join(missing)}: it failed to tune (tuning.csv)")
        return NotRun(f"no run with {family} {' or '.join(missing)}; {needs}")
    reasons = failure_reasons(compared, SELECT_ON, chance)
    arms, notes = {}, []
    for name, label in labels.items():
        mine = compared[family].astype(str) == label
        failed = reasons[mine]
        counted = count_reasons(failed)
        if level_failed(int((failed != "").sum()), int(mine.sum())):
            return Undecided(f"{family}={label} failed to train ({counted} of {int(mine.sum())} runs): there is "
                             "nothing to compare")
        if counted:
            notes.append(f"{counted} of {int(mine.sum())} runs with {family}={label} left out (failed to train)")
        arms[name] = compared[mine & (reasons == "")]
    found = matched(arms[higher], arms[lower], family, (labels[higher], labels[lower]), notes)
    lost = set(cell_key(compared)[reasons != ""])
    trained = compared[reasons == ""]
    return dataclasses.replace(found, design=trained[~cell_key(trained).isin(lost).to_numpy()])


def cell_key(runs: pd.DataFrame) -> pd.Series:
    """Each run's cell: its configuration (data, model, budget) and level of every factor."""
    columns = [c for c in (*SETTING_COLUMNS, *FAMILIES) if c in runs]
    return runs[columns].astype(str).agg("|".join, axis=1) if len(runs) else pd.Series([], dtype=str)


def matched(higher: pd.DataFrame, lower: pd.DataFrame, family: str, labels: tuple[str, str], notes: list[str]) -> Arms:
    """The two levels' runs restricted to the configurations both ran, paired on configuration and
    seed where at least two such pairs exist; else as they are (Welch), saying so."""
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


def contrast(arms: Arms, value: Callable[[pd.DataFrame], pd.Series], notes: tuple[str, ...] = ()) -> Contrast | Undecided:
    """The arms' values (a pair is dropped when either value is not finite), and the quantity on
    the design's cells (`design_cells`)."""
    a = value(arms.higher).to_numpy(dtype=float)
    b = value(arms.lower).to_numpy(dtype=float)
    keep_a, keep_b = np.isfinite(a), np.isfinite(b)
    units = arms.units
    if arms.paired:
        keep_a = keep_b = keep_a & keep_b
        units = tuple(u for u, k in zip(units, keep_a) if k)
    if not keep_a.any() or not keep_b.any():
        return Undecided("the quantity is not defined on these runs")
    cells = design_cells(arms, value, arms.higher[keep_a].assign(value=a[keep_a]), arms.lower[keep_b].assign(value=b[keep_b]))
    return Contrast(a[keep_a], b[keep_b], arms.paired, units, arms.labels, arms.notes + notes, cells=cells)


def design_cells(arms: Arms, value: Callable[[pd.DataFrame], pd.Series], higher: pd.DataFrame,
                 lower: pd.DataFrame) -> pd.DataFrame | None:
    """The quantity per run (cell, seed, value, arm) of the arms' runs `higher` and `lower` (arm
    "higher", "lower") and of the design's other cells on the arms' seeds (arm ""), those where it
    is defined on every one of these seeds; None without a design."""
    if arms.design is None:
        return None
    mine = [frame.assign(cell=cell_key(frame).to_numpy(), arm=name) for frame, name in ((higher, "higher"), (lower, "lower"))]
    seeds = set(higher["seed"]) | set(lower["seed"])
    others = arms.design.assign(cell=cell_key(arms.design).to_numpy())
    others = others[~others["cell"].isin(set(mine[0]["cell"]) | set(mine[1]["cell"])) & others["seed"].isin(seeds)]
    if len(others):
        others = others.assign(value=value(others).to_numpy(dtype=float), arm="")
        defined = others.groupby("cell")["value"].transform(lambda v: bool(np.isfinite(v).all() and len(v) == len(seeds)))
        others = others[defined.astype(bool).to_numpy()]
    columns = ["cell", "seed", "value", "arm"]
    return pd.concat([frame.reindex(columns=columns) for frame in (*mine, others)], ignore_index=True)


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
    between evaluations — from the epoch-0 evaluation where the curve has one; NaN when it never
    reaches it, and when it is there at its first evaluation after epoch 0 (nothing to count from)."""
    epochs, values = curve.index.to_numpy(dtype=float), curve.to_numpy(dtype=float)
    reached = np.flatnonzero(values >= target)
    if not len(reached):
        return math.nan
    i = int(reached[0])
    if i == 0:
        return 0.0 if epochs[0] == 0 else math.nan
    e0, e1, v0, v1 = epochs[i - 1], epochs[i], values[i - 1], values[i]
    return float(e0 + (target - v0) / (v1 - v0) * (e1 - e0))


def speedup(arms: Arms, epochs: pd.DataFrame | None, metric: str, stated_target: float | None) -> Contrast | Undecided | NotRun:
    """Values ln(epochs to reach the target accuracy) per run: with the slower level as `higher`,
    higher − lower = ln(speedup), speedup = epochs(slower) / epochs(faster), counted from the
    epoch-0 evaluation where the epochs table has one.

    The target is the source's accuracy where every run of the faster arm reaches it (a slower run
    that does not is counted at its budget, its last epoch, and the speed-up is then a lower bound:
    `Contrast.at_least`), else the highest accuracy every run reaches — the same for every run, and
    stated in a note. `metric` 'train' reads the training accuracy (eval mode, the fixed training
    sample), 'val' the validation's."""
    if epochs is None or epochs.empty:
        return NotRun("no epochs table (results/tables/epochs.csv)")
    column = "train_eval_acc" if metric == "train" else "val_acc"
    runs = pd.concat([arms.higher, arms.lower])
    by_run = curves(epochs, arms.runs()["run_id"], column)
    if set(runs["run_id"]) - set(by_run):
        return Undecided("some runs have no epochs recorded")
    peak = lambda frame: min(float(by_run[r].max()) for r in frame["run_id"])
    what = "training" if metric == "train" else "validation"
    if stated_target is not None and peak(arms.lower) >= stated_target:
        target = stated_target
        note = f"target: the source's {100 * target:.0f} % {what} accuracy"
    else:
        target = peak(runs)
        note = f"target: {100 * target:.1f} % {what} accuracy, the highest every run reached"
        if stated_target is not None:
            note += f" (not every run of the faster arm reached the source's {100 * stated_target:.0f} %)"
    reach = {r: epochs_to_reach(curve, target) for r, curve in by_run.items()}
    first = [r for r in runs["run_id"] if by_run[r].index.min() > 0 and by_run[r].iloc[0] >= target]
    if first:
        return Undecided(f"{len(first)} run(s) reach the target ({100 * target:.1f} % {what} accuracy) at their first "
                         "evaluation, and the epochs table has no epoch-0 evaluation to count from "
                         "(train.evaluate_at_epoch_0: true records one)")
    if all(curve.index.min() == 0 for curve in by_run.values()):
        note += "; epochs to it counted from the untrained model's evaluation at epoch 0"
    capped = [r for r in arms.higher["run_id"] if not math.isfinite(reach[r])]
    for r in capped:  # a slower run that never reached the target: at least its budget
        reach[r] = float(by_run[r].index.max())
    if capped:
        note += (f"; {len(capped)} run(s) of {arms.labels[0]} never reached it and count at their budget "
                 f"({int(max(reach[r] for r in capped))} epochs): the speed-up is at least the one shown")
    value = lambda frame: frame["run_id"].map(lambda r: math.log(reach[r]) if reach.get(r, math.nan) > 0 else math.nan)
    found = contrast(arms, value, (note,))
    return dataclasses.replace(found, at_least=bool(capped)) if isinstance(found, Contrast) else found


def final_gap(arms: Arms) -> Contrast | Undecided:
    """Values training − validation accuracy (the gap) in points of the model each run returns,
    training accuracy in eval mode on the run's fixed training sample: with the unregularized level
    as `higher`, higher − lower is how much the regularizer narrows the gap. Its components — the
    training and the validation accuracy, regularized − not — come with it; the validation
    accuracy is guarded: a gap that narrows because validation accuracy fell is underfitting."""
    train = lambda frame: 100 * pd.to_numeric(frame["final_train_eval_acc"], errors="coerce")
    val = lambda frame: 100 * pd.to_numeric(frame["final_val_acc"], errors="coerce")
    found = contrast(arms, lambda frame: train(frame) - val(frame))
    if not isinstance(found, Contrast):
        return found
    regularized_first = Arms(arms.lower, arms.higher, arms.paired, arms.units, arms.labels[::-1], (), arms.design)
    parts = [(name, contrast(regularized_first, value)) for name, value in
             (("training accuracy", train), ("validation accuracy", val))]
    if any(not isinstance(part, Contrast) for _, part in parts):
        return found
    return dataclasses.replace(found, components=tuple(parts), guard="validation accuracy")


def early_training_loss(arms: Arms, epochs: pd.DataFrame | None, fraction: float,
                        notes: tuple[str, ...] = ()) -> Contrast | Undecided | NotRun:
    """Values training loss at the epoch ⌈fraction·T⌉ of a T-epoch run: with the slower level as
    `higher`, higher − lower is how much lower the faster level's loss is early on (eval mode, the
    fixed training sample)."""
    if epochs is None or epochs.empty:
        return NotRun("no epochs table (results/tables/epochs.csv)")
    by_run = curves(epochs, arms.runs()["run_id"], "train_eval_loss")

    def loss(run_id: str) -> float:
        curve = by_run.get(run_id)
        if curve is None or curve.empty:
            return math.nan
        epoch = max(1, math.ceil(fraction * curve.index.max()))
        return float(curve.get(epoch, math.nan))

    return contrast(arms, lambda frame: frame["run_id"].map(loss), notes)
