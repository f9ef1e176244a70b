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
from trickbench.claims.conditions import DEEP_PRESET, Condition
from trickbench.claims.measures import (Arms, contrast, curves, early_training_loss, epochs_to_reach, final_gap,
                                        level_arms, selected_test_accuracy, speedup, technique_of)
from trickbench.collect import compared_runs
from trickbench.report.findings import SELECT_ON
from trickbench.stats import failure_reasons
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
RELU_CONDITIONS = (
    Condition("four-layer convolutional network (Krizhevsky et al. 2012, Figure 1)", "model.name", allowed=("cnn",)),
    Condition("network of at least four layers", "model.depth", at_least=4),
    Condition("constant learning rate while the speed is measured", "baseline.schedule", allowed=("constant",)),
    Condition("learning rate of each network chosen to train as fast as possible (3 or more rates searched per "
              "activation, on a full, untuned design)", "activation.rates", at_least=3),
)


@claim("relu_trains_faster_than_tanh",
       statement="Deep networks with ReLUs train several times faster than their equivalents with tanh units: a "
                 "four-layer CNN with ReLUs reaches 25 % training error on CIFAR-10 six times faster than an "
                 "equivalent network with tanh neurons.",
       source="Krizhevsky, Sutskever & Hinton 2012, ImageNet Classification with Deep CNNs, §3.1 and Figure 1; "
              "cs231n, Activation functions",
       lecture="ReLU: \"converges much faster than sigmoid/tanh in practice (e.g. 6x)\"",
       quantity="speedup: epochs tanh needs to reach a training accuracy (eval mode, the run's fixed training "
                "sample) ÷ epochs ReLU needs (linear between evaluations), each activation at the fastest of its "
                "learning rates; the paper's 75 % where every ReLU run reaches it (a tanh run that does not counts at "
                "its budget: '≥'), else the highest every run reaches; per seed, geometric mean",
       needs=factor_needs("activation", "relu", "tanh") + f", on a CNN at several rates ({DEEP_PRESET})",
       rule=Difference(unit="×", asserted=6.0, ratio=True, stated_as="six times", at_least=4.0),
       conditions=RELU_CONDITIONS,
       family="activation", evidence=("learning_curves",))
def relu_trains_faster_than_tanh(results: Results):
    runs = results.get("runs")
    arms = fastest_rate_arms(runs, results.get("epochs"), results.chance) if runs is not None else None
    if arms is None:
        arms = compare_levels(results, "activation", "tanh", "relu")
    return on_arms(arms, lambda arms: speedup(arms, results.get("epochs"), "train", 0.75))


def fastest_rate_arms(runs: pd.DataFrame, epochs: pd.DataFrame | None, chance) -> Arms | NotRun | Undecided | None:
    """Krizhevsky et al.'s comparison: each activation at the learning rate (optimizer level) at
    which it reaches the highest accuracy every run reaches in the fewest epochs (mean over seeds);
    the two arms paired by seed. None when no activation ran at more than one rate (then the levels
    are compared at their one rate, and the claim's condition on the rates is unmet)."""
    compared = compared_runs(runs)
    activation = compared["activation"].astype(str).map(technique_of)
    mine = compared[activation.isin(["relu", "tanh"])]
    if epochs is None or mine.empty or mine.groupby(activation[mine.index])["optimizer"].nunique().min() < 2:
        return None
    reasons = failure_reasons(mine, SELECT_ON, chance)
    mine = mine[reasons == ""]
    by_run = curves(epochs, mine["run_id"], "train_eval_acc")
    target = min(float(curve.max()) for curve in by_run.values())
    reach = mine["run_id"].map(lambda r: epochs_to_reach(by_run[r], target) if r in by_run else math.nan)
    chosen, notes = {}, []
    for name in ("tanh", "relu"):
        part = mine[activation[mine.index] == name]
        speed = np.log(reach[part.index]).groupby(part["optimizer"].astype(str)).mean().dropna()
        if speed.empty:
            return Undecided(f"no {name} run has a time to {100 * target:.1f} % training accuracy at any rate: never "
                             "reached, or reached at its first evaluation with no epoch-0 evaluation to count from")
        best = str(speed.idxmin())
        rates = part.groupby(part["optimizer"].astype(str))["base_lr"].first().sort_values()
        edge = " (at the edge of the range searched: a rate beyond it may be faster)" \
            if best in (rates.index[0], rates.index[-1]) else ""
        notes.append(f"{name} at its fastest of {len(rates)} rates: {best}{edge}")
        chosen[name] = part[part["optimizer"].astype(str) == best].sort_values("seed")
    seeds = sorted(set(chosen["tanh"]["seed"]) & set(chosen["relu"]["seed"]))
    pick = {name: frame.set_index("seed").loc[seeds].reset_index() for name, frame in chosen.items()}
    return Arms(pick["tanh"], pick["relu"], True, tuple(f"seed {s}" for s in seeds),
                (f"tanh ({pick['tanh']['optimizer'].iloc[0]})", f"relu ({pick['relu']['optimizer'].iloc[0]})"),
                tuple(notes) + ("rates chosen on the runs compared: the speed-up may be optimistic for both arms alike",))


# -- norm ----------------------------------------------------------------------------------------
@claim("batch_norm_trains_faster",
       statement="Batch Normalization alone, added to the network and trained as before, matches its accuracy in "
                 "less than half the number of training steps.",
       source="Ioffe & Szegedy 2015, Batch Normalization, §4.2.2 (BN-Baseline) and Figure 2",
       quantity="speedup: epochs without normalization to reach a validation accuracy ÷ epochs with batch norm (the "
                "highest accuracy every run reaches, linear between epoch ends); per seed, geometric mean",
       needs=factor_needs("norm", "batch", "none"),
       rule=Difference(unit="×", asserted=2.0, ratio=True, stated_as="less than half"),
       family="norm", evidence=("learning_curves",))
def batch_norm_trains_faster(results: Results):
    return on_arms(compare_levels(results, "norm", "none", "batch"),
                   lambda arms: speedup(arms, results.get("epochs"), "val", None))


#: a learning rate is "usable" for a level while the level keeps this share of its best validation accuracy
USABLE_SHARE = 0.9


def largest_usable_lr(trials: pd.DataFrame) -> float:
    """The largest learning rate whose validation accuracy (mean over its trial runs — one tuning
    seed's here, as the claim reads each seed apart; a rate one of whose runs did not train —
    diverged, exploded, at chance — is unusable, as the tuning choice rules it out) is at least
    USABLE_SHARE of the level's best."""
    accuracy = trials["val_acc"].astype(float).where(trials["trained"].astype(bool), -math.inf)
    curve = accuracy.groupby(trials["lr"]).mean()
    return float(curve[curve >= USABLE_SHARE * curve.max()].index.max())


@claim("batch_norm_allows_higher_learning_rates",
       statement="Batch Normalization allows us to use much higher learning rates (the BN-x5 and BN-x30 networks "
                 "train at 5 and 30 times the initial learning rate).",
       source="Ioffe & Szegedy 2015, Batch Normalization, abstract, §3.3 and §4.2.1; cs231n, Lecture 6 (Training "
              "Neural Networks I): Batch Normalization",
       quantity="ratio of the largest learning rate at which each level keeps 90 % of its best validation accuracy, "
                "batch norm ÷ none, over the tuning trials of configurations that differ only in norm, on each tuning "
                "seed (geometric mean over such configurations)",
       needs=f"set {TUNING_SETTING}, with norm: [none, batch] among the factors",
       lecture="Batch normalization: \"Allows higher learning rates\"",
       rule=Threshold(unit="×", reproduced=(5.0, math.inf), refuted=(0.0, 1.0), ratio=True),
       family="norm", evidence=("tuning_sensitivity",))
def batch_norm_allows_higher_learning_rates(results: Results):
    trials = results.get(TRIALS_TABLE)
    if trials is None or trials.empty:
        return NotRun(f"no tuning trials; set {TUNING_SETTING}, with norm: [none, batch] among the factors")
    norm = trials["norm"].astype(str).map(technique_of)
    others = [family for family in FAMILIES if family != "norm"]
    found = {}  # per tuning seed, per configuration with both levels: {level: largest usable lr on that seed}
    for seed, trials_of_seed in trials.groupby("seed"):
        for _, cell in trials_of_seed.groupby(others, sort=False):
            levels = {name: cell[norm[cell.index] == name] for name in ("batch", "none")}
            if not any(part.empty for part in levels.values()):
                found.setdefault(int(seed), []).append({name: largest_usable_lr(part) for name, part in levels.items()})
    if not found:
        return NotRun("no tuning trials of norm batch and none with everything else equal; set "
                      "design.factors.norm to include both")
    ratios = {seed: float(np.exp(np.mean(np.log([usable["batch"] / usable["none"] for usable in configurations]))))
              for seed, configurations in found.items()}
    values = {f"largest usable lr, norm={name}, tuning seed {seed}" + (f", configuration {i}" if len(configurations) > 1
                                                                      else ""): lr
              for seed, configurations in found.items() for i, usable in enumerate(configurations, 1)
              for name, lr in usable.items()}
    per_level = int(trials.groupby(["cell", "seed"])["trial"].nunique().min())  # trial points per tuning seed
    top = float(trials.loc[norm == "batch", "lr"].max())
    capped = any(usable["batch"] >= top for configurations in found.values() for usable in configurations)
    notes = (f"batch norm keeps its accuracy up to the top of the searched range ({top:g}): the ratio is at least the "
             "one shown; widen design.tuning.lr_decades to measure it",) if capped else ()
    configurations = max(len(c) for c in found.values())
    return Reading.over_seeds(ratios, ratio=True, values=values, notes=notes, at_least=capped,
                              sample=f"{configurations} configuration(s) differing only in norm, {per_level} tuning "
                                     f"trials per level on each of {len(ratios)} tuning seeds (design.tuning.seeds)",
                              more_seeds="set design.tuning.seeds to 3 seeds or more")


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


@claim("batch_norm_regularizes",
       statement="Batch normalization acts as a form of regularization: it narrows the generalization gap.",
       source="cs231n, Lecture 6 (Training Neural Networks I): Batch Normalization; Ioffe & Szegedy 2015, §3.4",
       lecture="Batch normalization: \"Acts as a form of regularization in a funny way, and slightly reduces the "
               "need for dropout, maybe\"",
       quantity="generalization gap of the returned model (training accuracy in eval mode on the run's fixed "
                "training sample − validation accuracy): without − with batch norm, points",
       needs=factor_needs("norm", "batch", "none"),
       rule=Difference(unit="points"),
       family="norm", phenomenon="gap", evidence=("generalization_gap",))
def batch_norm_regularizes(results: Results):
    return on_arms(compare_levels(results, "norm", "none", "batch"), final_gap)


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


@claim("momentum_beats_sgd",
       statement="SGD with momentum does better than plain SGD, whose progress is very slow along shallow "
                 "dimensions and jitters along steep ones.",
       source="cs231n, Lecture 7 (Training Neural Networks II): Optimization, SGD + Momentum; Sutskever et al. 2013",
       lecture="\"Very slow progress along shallow dimension, jitter along steep direction\" (SGD); "
               "\"SGD + Momentum: build up velocity as a running mean of gradients\"",
       quantity="test accuracy of the validation-selected epoch, momentum SGD − plain SGD, points",
       needs=factor_needs("optimizer", "momentum", "sgd"),
       rule=Difference(unit="points"),
       family="optimizer", evidence=("factor_effects",))
def momentum_beats_sgd(results: Results):
    return on_arms(compare_levels(results, "optimizer", "momentum", "sgd"),
                   lambda arms: contrast(arms, selected_test_accuracy))


# -- schedule ------------------------------------------------------------------------------------
@claim("step_decay_beats_constant_rate",
       statement="In training deep networks it is usually helpful to anneal the learning rate over time; dividing "
                 "it by 10 when validation error stops improving (step decay) does better than keeping it constant.",
       source="cs231n, Neural Networks Part 3: Annealing the learning rate; Krizhevsky, Sutskever & Hinton 2012, §5",
       quantity="test accuracy of the validation-selected epoch, step decay − constant rate, points",
       needs=factor_needs("schedule", "step", "constant"),
       lecture="\"In training deep networks, it is usually helpful to anneal the learning rate over time\"",
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

