"""Claims about the technique families, tested on the factor grid (runs.csv, epochs.csv) — and one
on the tuning trials (tuning_trials.csv of `design.tuning`). Each compares two levels of one factor
(`measures.level_arms`), on the runs the report compares: each level at its own tuned learning rate
where the design was tuned, else at the config's rates — and says which."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from trickbench.claims import Difference, NotRun, Reading, Results, Threshold, Undecided, claim
from trickbench.claims.measures import (contrast, early_training_loss, final_gap, level_arms, selected_test_accuracy,
                                        speedup, technique_of)
from trickbench.techniques import FAMILIES
from trickbench.tuning import TRIALS_TABLE

TUNING_SETTING = "design.tuning.enabled: true (each level's learning rate tuned on validation; workflow/presets/tuned.yaml)"
TUNED_NOTE = "each level at its own learning rate, tuned on validation (design.tuning); tuned runs only"
UNTUNED_NOTE = ("both levels at the config's learning rates, not tuned: the rate may suit one level more; set "
                + TUNING_SETTING)


def factor_needs(family: str, *levels: str) -> str:
    return f"set design.factors.{family} to include {' and '.join(levels)}"


def compare_levels(results: Results, family: str, higher: str, lower: str):
    """The runs of `family`=`higher` (predicted higher on the claim's quantity) and of `lower`,
    saying how their learning rates were chosen."""
    runs = results.get("runs")
    arms = level_arms(runs, family, higher, lower, factor_needs(family, higher, lower), results.chance)
    if isinstance(arms, (NotRun, Undecided)):
        return arms
    tuned = runs["role"].astype(str).str.split("+").map(lambda roles: "tuned" in roles).any()
    return dataclasses.replace(arms, notes=arms.notes + (TUNED_NOTE if tuned else UNTUNED_NOTE,))


def on_arms(arms, measure):
    """`measure(arms)` when the arms exist, else what stands in their way (NotRun, Undecided)."""
    return arms if isinstance(arms, (NotRun, Undecided)) else measure(arms)


# -- activation ----------------------------------------------------------------------------------
@claim("relu_trains_faster_than_tanh",
       statement="Deep networks with ReLUs train several times faster than their equivalents with tanh units: a "
                 "four-layer CNN with ReLUs reaches 25 % training error on CIFAR-10 six times faster than an "
                 "equivalent network with tanh neurons.",
       source="Krizhevsky, Sutskever & Hinton 2012, ImageNet Classification with Deep CNNs, §3.1 and Figure 1; "
              "cs231n, Activation functions",
       quantity="speedup: epochs tanh needs to reach a training accuracy (eval mode, the run's fixed training "
                "sample) ÷ epochs ReLU needs (linear between epoch ends); the paper's 75 % where every run reaches it, else the highest every run reaches; per seed, "
                "geometric mean",
       needs=factor_needs("activation", "relu", "tanh"),
       rule=Difference(unit="×", asserted=6.0, ratio=True),
       family="activation", evidence=("learning_curves",))
def relu_trains_faster_than_tanh(results: Results):
    return on_arms(compare_levels(results, "activation", "tanh", "relu"),
                   lambda arms: speedup(arms, results.get("epochs"), "train", 0.75))


# -- norm ----------------------------------------------------------------------------------------
@claim("batch_norm_trains_faster",
       statement="Batch Normalization alone, added to the network and trained as before, matches its accuracy in "
                 "less than half the number of training steps.",
       source="Ioffe & Szegedy 2015, Batch Normalization, §4.2.2 (BN-Baseline) and Figure 2",
       quantity="speedup: epochs without normalization to reach a validation accuracy ÷ epochs with batch norm (the "
                "highest accuracy every run reaches, linear between epoch ends); per seed, geometric mean",
       needs=factor_needs("norm", "batch", "none"),
       rule=Difference(unit="×", asserted=2.0, ratio=True),
       family="norm", evidence=("learning_curves",))
def batch_norm_trains_faster(results: Results):
    return on_arms(compare_levels(results, "norm", "none", "batch"),
                   lambda arms: speedup(arms, results.get("epochs"), "val", None))


#: a learning rate is "usable" for a level while the level keeps this share of its best validation accuracy
USABLE_SHARE = 0.9


def largest_usable_lr(trials: pd.DataFrame) -> float:
    """The largest learning rate whose validation accuracy (mean over its trial runs, one per tuning
    seed; a rate one of whose runs did not train — diverged, exploded, at chance — is unusable, as
    the tuning choice rules it out) is at least USABLE_SHARE of the level's best."""
    accuracy = trials["val_acc"].astype(float).where(trials["trained"].astype(bool), -math.inf)
    curve = accuracy.groupby(trials["lr"]).mean()
    return float(curve[curve >= USABLE_SHARE * curve.max()].index.max())


@claim("batch_norm_allows_higher_learning_rates",
       statement="Batch Normalization allows us to use much higher learning rates (the BN-x5 and BN-x30 networks "
                 "train at 5 and 30 times the initial learning rate).",
       source="Ioffe & Szegedy 2015, Batch Normalization, abstract, §3.3 and §4.2.1",
       quantity="ratio of the largest learning rate at which each level keeps 90 % of its best validation accuracy, "
                "batch norm ÷ none, over the tuning trials of configurations that differ only in norm (geometric "
                "mean over such configurations)",
       needs=f"set {TUNING_SETTING}, with norm: [none, batch] among the factors",
       rule=Threshold(unit="×", reproduced=(5.0, math.inf), refuted=(0.0, 1.0)),
       family="norm", evidence=("tuning_sensitivity",))
def batch_norm_allows_higher_learning_rates(results: Results):
    trials = results.get(TRIALS_TABLE)
    if trials is None or trials.empty:
        return NotRun(f"no tuning trials; set {TUNING_SETTING}, with norm: [none, batch] among the factors")
    norm = trials["norm"].astype(str).map(technique_of)
    others = [family for family in FAMILIES if family != "norm"]
    found = []  # per configuration with both levels: {level: largest usable lr}
    for _, cell in trials.groupby(others, sort=False):
        levels = {name: cell[norm[cell.index] == name] for name in ("batch", "none")}
        if not any(part.empty for part in levels.values()):
            found.append({name: largest_usable_lr(part) for name, part in levels.items()})
    if not found:
        return NotRun("no tuning trials of norm batch and none with everything else equal; set "
                      "design.factors.norm to include both")
    ratios = [usable["batch"] / usable["none"] for usable in found]
    values = {f"largest usable lr, norm={name}" + (f", configuration {i}" if len(found) > 1 else ""): lr
              for i, usable in enumerate(found, 1) for name, lr in usable.items()}
    per_level = int(trials.groupby("cell")["trial"].nunique().min())  # trial points (each on every tuning seed)
    return Reading(float(np.exp(np.mean(np.log(ratios)))),
                   f"{len(found)} configuration(s) differing only in norm, {per_level} tuning trials per level",
                   values=values)


# -- regularizer ---------------------------------------------------------------------------------
@claim("dropout_reduces_overfitting",
       statement="Dropout significantly reduces overfitting.",
       source="Srivastava et al. 2014, Dropout, JMLR, abstract and §7.1",
       quantity="generalization gap of the returned model (training accuracy in eval mode on the run's fixed "
                "training sample − validation accuracy): without dropout − with dropout, points",
       needs=factor_needs("regularizer", "dropout", "none"),
       rule=Difference(unit="points"),
       family="regularizer", phenomenon="gap", evidence=("generalization_gap",))
def dropout_reduces_overfitting(results: Results):
    return on_arms(compare_levels(results, "regularizer", "none", "dropout"),
                   final_gap)


@claim("dropout_improves_test_accuracy",
       statement="Dropout improves the performance of neural networks on supervised learning tasks in vision.",
       source="Srivastava et al. 2014, Dropout, JMLR, abstract",
       quantity="test accuracy of the validation-selected epoch, with − without dropout, points",
       needs=factor_needs("regularizer", "dropout", "none"),
       rule=Difference(unit="points"),
       family="regularizer", evidence=("factor_effects",))
def dropout_improves_test_accuracy(results: Results):
    return on_arms(compare_levels(results, "regularizer", "dropout", "none"),
                   lambda arms: contrast(arms, selected_test_accuracy))


@claim("augmentation_reduces_overfitting",
       statement="The easiest and most common method to reduce overfitting on image data is to artificially enlarge "
                 "the dataset using label-preserving transformations (random crops and horizontal reflections); "
                 "without it the network suffers from substantial overfitting.",
       source="Krizhevsky, Sutskever & Hinton 2012, §4.1; cs231n, Data augmentation",
       quantity="generalization gap of the returned model (training accuracy in eval mode on the run's fixed "
                "training sample − validation accuracy): without − with augmentation, points",
       needs=factor_needs("regularizer", "augment", "none"),
       rule=Difference(unit="points"),
       family="regularizer", phenomenon="gap", evidence=("generalization_gap",))
def augmentation_reduces_overfitting(results: Results):
    return on_arms(compare_levels(results, "regularizer", "none", "augment"),
                   final_gap)


# -- optimizer -----------------------------------------------------------------------------------
@claim("sgd_generalizes_better_than_adam",
       statement="The solutions found by adaptive methods (Adam) generalize worse, often significantly worse, than "
                 "those of SGD with momentum, even when they have better training performance.",
       source="Wilson et al. 2017, The Marginal Value of Adaptive Gradient Methods, abstract and §5",
       quantity="test accuracy of the validation-selected epoch, momentum SGD − Adam, points",
       needs=factor_needs("optimizer", "momentum", "adam"),
       rule=Difference(unit="points"),
       family="optimizer", evidence=("factor_effects",))
def sgd_generalizes_better_than_adam(results: Results):
    return on_arms(compare_levels(results, "optimizer", "momentum", "adam"),
                   lambda arms: contrast(arms, selected_test_accuracy))


@claim("adam_faster_initial_progress",
       statement="Adaptive methods often display faster initial progress on the training set.",
       source="Wilson et al. 2017, §1 and §5; Kingma & Ba 2015, Adam, §6",
       quantity="training loss (eval mode, the run's fixed training sample) after the first quarter of the "
                "epochs, momentum SGD − Adam, nats",
       needs=factor_needs("optimizer", "adam", "momentum"),
       rule=Difference(unit="nats"),
       family="optimizer", evidence=("learning_curves",))
def adam_faster_initial_progress(results: Results):
    return on_arms(compare_levels(results, "optimizer", "momentum", "adam"),
                   lambda arms: early_training_loss(arms, results.get("epochs"), 0.25))


# -- schedule ------------------------------------------------------------------------------------
@claim("step_decay_beats_constant_rate",
       statement="In training deep networks it is usually helpful to anneal the learning rate over time; dividing "
                 "it by 10 when validation error stops improving (step decay) does better than keeping it constant.",
       source="cs231n, Neural Networks Part 3: Annealing the learning rate; Krizhevsky, Sutskever & Hinton 2012, §5",
       quantity="test accuracy of the validation-selected epoch, step decay − constant rate, points",
       needs=factor_needs("schedule", "step", "constant"),
       rule=Difference(unit="points"),
       family="schedule", evidence=("factor_effects",))
def step_decay_beats_constant_rate(results: Results):
    return on_arms(compare_levels(results, "schedule", "step", "constant"),
                   lambda arms: contrast(arms, selected_test_accuracy))


# -- preprocessing -------------------------------------------------------------------------------
@claim("standardized_inputs_converge_faster",
       statement="Convergence is usually faster if the average of each input variable over the training set is "
                 "close to zero, and if the inputs are scaled so that their covariances are about the same.",
       source="LeCun, Bottou, Orr & Müller 1998, Efficient BackProp, §4.3",
       quantity="speedup: epochs with raw [0, 1] pixels to reach a training accuracy (eval mode, the run's fixed "
                "training sample) ÷ epochs with per-channel standardized inputs (the highest accuracy every run reaches); per seed, geometric mean",
       needs=factor_needs("preprocessing", "standardize", "none"),
       rule=Difference(unit="×", ratio=True),
       family="preprocessing", evidence=("learning_curves",))
def standardized_inputs_converge_faster(results: Results):
    return on_arms(compare_levels(results, "preprocessing", "none", "standardize"),
                   lambda arms: speedup(arms, results.get("epochs"), "train", None))

