"""Claims about the phenomena of training, each tested on the tables of its study."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from trickbench.claims import Contrast, Difference, NotRun, Reading, Results, Threshold, Undecided, claim
from trickbench.claims.conditions import CLAIMS_PRESET, Condition
from trickbench.claims.measures import technique_of
from trickbench.collect import compared_runs
from trickbench.report.findings import SELECT_ON
from trickbench.stats import failure_reasons
from trickbench.studies.checkpoint_averaging import EMA, FINAL_WEIGHTS, SWA


def study_needs(study: str, detail: str = "") -> str:
    return f"set studies.{study}.enabled: true" + (f" ({detail})" if detail else "")


def study_table(results: Results, name: str, study: str) -> pd.DataFrame | NotRun:
    table = results.get(name)
    if table is None:
        return NotRun(f"no {name} table; {study_needs(study)}")
    return table


def by_seed(frame: pd.DataFrame, column: str) -> pd.Series:
    return frame.set_index("seed")[column].sort_index()


def paired_by_seed(higher: pd.Series, lower: pd.Series, arms: tuple[str, str], notes: tuple[str, ...] = ()) -> Contrast | Undecided:
    """Two per-seed series as a paired contrast over the seeds both have (finite values only)."""
    joined = pd.concat({"higher": higher, "lower": lower}, axis=1).dropna()
    if joined.empty:
        return Undecided("no seed has both values")
    return Contrast(joined["higher"].to_numpy(float), joined["lower"].to_numpy(float), True,
                    tuple(f"seed {s}" for s in joined.index), arms, notes)


# -- initialization statistics -------------------------------------------------------------------
INIT_NEEDS = "with activation {activation} and init {init} among studies.init_stats.activations / inits"
INIT_SEEDS = "set studies.init_stats.seeds to 3 seeds or more"


def init_layers(results: Results, activation: str, init: str) -> pd.DataFrame | NotRun:
    """The study's per-layer statistics of the demonstration network for one activation × init, on
    every seed of the study."""
    table = study_table(results, "init_stats", "init_stats")
    if isinstance(table, NotRun):
        return table
    rows = table[(table["activation"].map(technique_of) == activation) & (table["init"].map(technique_of) == init)]
    if rows.empty:
        return NotRun("the init-statistics study has no " + INIT_NEEDS.format(activation=activation, init=init))
    return rows.sort_values(["seed", "layer"])


def depth_sample(layers: pd.DataFrame) -> str:
    return (f"a network of {int(layers['layer'].max())} hidden layers on N(0, I) inputs, "
            f"{layers['seed'].nunique()} seeds (weights and inputs)")


def per_seed(layers: pd.DataFrame, quantity) -> dict[int, float]:
    """`quantity` of each seed's layers (sorted by layer)."""
    return {int(seed): float(quantity(part)) for seed, part in layers.groupby("seed")}


def std_ratio(layers: pd.DataFrame) -> float:
    """std of the deepest hidden layer's outputs ÷ std of the first's (one seed's layers)."""
    return float(layers["std"].iloc[-1] / layers["std"].iloc[0])


@claim("he_init_keeps_relu_variance",
       statement="Initializing weights with variance 2/n (n inputs per unit) keeps the magnitude of ReLU activations "
                 "from shrinking or growing exponentially with depth, which the Xavier initialization (variance 1/n) "
                 "does not: under it the variance halves at every ReLU layer.",
       source="He, Zhang, Ren & Sun 2015, Delving Deep into Rectifiers, §2.2 and Figure 3; cs231n, Weight "
              "initialization",
       quantity="std of the deepest hidden layer's activations ÷ std of the first, ReLU network under He init",
       needs=study_needs("init_stats", INIT_NEEDS.format(activation="relu", init="he_normal")),
       lecture="Kaiming / MSRA initialization for ReLU: std = sqrt(2 / Din)",
       rule=Threshold(unit="×", reproduced=(0.5, 2.0), ratio=True),
       family="init", phenomenon="initialization statistics", evidence=("init_layer_stats",))
def he_init_keeps_relu_variance(results: Results):
    layers = init_layers(results, "relu", "he_normal")
    if isinstance(layers, NotRun):
        return layers
    values = {}
    xavier = init_layers(results, "relu", "xavier_normal")
    if not isinstance(xavier, NotRun):
        values["std ratio, xavier_normal (for contrast), geometric mean over seeds"] = \
            Reading.over_seeds(per_seed(xavier, std_ratio), ratio=True, sample="").value
    return Reading.over_seeds(per_seed(layers, std_ratio), ratio=True, sample=depth_sample(layers), values=values,
                              more_seeds=INIT_SEEDS)


@claim("small_init_activations_collapse",
       statement="With small random weights (W = 0.01·randn), the activations of a deep tanh network shrink layer "
                 "after layer until they are all nearly zero, and so do the gradients.",
       source="cs231n, Lecture 6 (Training Neural Networks I): Weight initialization, activation statistics",
       quantity="std of the deepest hidden layer's activations ÷ std of the first, tanh network under N(0, 0.01²)",
       needs=study_needs("init_stats", INIT_NEEDS.format(activation="tanh", init="small_gaussian")),
       lecture="W = 0.01·randn: \"All activations tend to zero for deeper network layers\"",
       rule=Threshold(unit="×", reproduced=(0.0, 0.01), ratio=True),
       family="init", phenomenon="initialization statistics", evidence=("init_layer_stats",))
def small_init_activations_collapse(results: Results):
    layers = init_layers(results, "tanh", "small_gaussian")
    if isinstance(layers, NotRun):
        return layers
    return Reading.over_seeds(per_seed(layers, std_ratio), ratio=True, sample=depth_sample(layers), more_seeds=INIT_SEEDS,
                              values={"std, first hidden layer, mean over seeds": float(per_first(layers)["std"].mean()),
                                      "std, last hidden layer, mean over seeds": float(per_last(layers)["std"].mean())})


def per_first(layers: pd.DataFrame) -> pd.DataFrame:
    return layers.groupby("seed").head(1)


def per_last(layers: pd.DataFrame) -> pd.DataFrame:
    return layers.groupby("seed").tail(1)


@claim("large_init_tanh_saturates",
       statement="With weights drawn from a unit Gaussian (W = randn), almost all tanh neurons saturate at −1 and 1, "
                 "where their gradients are zero.",
       source="cs231n, Lecture 6 (Training Neural Networks I): Weight initialization, activation statistics",
       quantity="share of saturated units in the deepest hidden layer of a tanh network under N(0, 1), %",
       needs=study_needs("init_stats", INIT_NEEDS.format(activation="tanh", init="large_gaussian")),
       lecture="W = 0.05·randn or larger: \"Activations saturate\" … \"Local gradients all zero, no learning\"",
       rule=Threshold(unit="%", reproduced=(50.0, 100.0)),
       family="init", phenomenon="initialization statistics", evidence=("init_layer_stats",))
def large_init_tanh_saturates(results: Results):
    layers = init_layers(results, "tanh", "large_gaussian")
    if isinstance(layers, NotRun):
        return layers
    return Reading.over_seeds(per_seed(layers, lambda part: 100 * part["saturated_fraction"].iloc[-1]),
                              sample=depth_sample(layers), more_seeds=INIT_SEEDS,
                              values={f"saturated %, layer {int(layer)}, mean over seeds": 100 * float(share)
                                      for layer, share in layers.groupby("layer")["saturated_fraction"].mean().items()})


# -- early stopping ------------------------------------------------------------------------------
@claim("early_stopping_improves_generalization",
       statement="Stopping training when the validation error starts to rise gives a network that generalizes better "
                 "than training on to the end.",
       source="Prechelt 1998, Early Stopping — But When?, §1-2; cs231n, Lecture 8 (Training Neural Networks II): "
              "Early stopping",
       quantity="test accuracy of the run trained for the epochs early stopping (patience on validation loss) trained, "
                "its schedule planned to anneal by then − the full run's last epoch, unregularized level, points",
       needs=study_needs("early_stopping", "with none among studies.early_stopping.regularizers"),
       lecture="Early stopping: \"Stop training the model when accuracy on the validation set decreases\"",
       rule=Difference(unit="points"),
       phenomenon="early stopping", evidence=("early_stopping_test",))
def early_stopping_improves_generalization(results: Results):
    """The study's second round, not the restored weights: those come from the middle of a schedule
    whose rate is still high, so restored-vs-last compares stopping *and* not annealing."""
    table = study_table(results, "early_stopping", "early_stopping")
    if isinstance(table, NotRun):
        return table
    rows = table[(table["monitor"] == "val_loss") & (table["regularizer"].astype(str) == "none")]
    if rows.empty:
        return NotRun("the early-stopping study has no unregularized level; add none to "
                      "studies.early_stopping.regularizers")
    stops = by_seed(rows, "stop_epoch")
    return paired_by_seed(100 * by_seed(rows, "test_acc_planned"), 100 * by_seed(rows, "test_acc_last"),
                          ("schedule planned for the stop", "last epoch"),
                          (f"stopped after {int(stops.min())}–{int(stops.max())} of {int(rows['epochs'].max())} epochs",))


# -- double descent ------------------------------------------------------------------------------
def interpolation_threshold(results: Results) -> tuple[str, pd.DataFrame, int, pd.DataFrame] | NotRun | Undecided:
    """What both double-descent claims read: the study's first model family, its widths (the
    summary's rows), the width of its interpolation threshold, and the test error by seed × width."""
    runs = study_table(results, "double_descent", "double_descent")
    summary = study_table(results, "double_descent_summary", "double_descent")
    for table in (runs, summary):
        if isinstance(table, NotRun):
            return table
    if runs.empty or summary.empty:
        return Undecided("no run of the double-descent study finished")
    family = summary["family"].iloc[0]
    widths = summary[summary["family"] == family].sort_values("width")
    threshold = widths.loc[widths["interpolation_threshold"].astype(bool), "width"]
    if threshold.empty:
        return Undecided("no width reached zero training error (studies.double_descent.interpolation_error): train "
                         "longer (studies.double_descent.epochs) or add wider models")
    errors = runs[runs["family"] == family].pivot_table(index="seed", columns="width", values="test_error")
    return family, widths, int(threshold.iloc[0]), errors


@claim("double_descent_peak_at_interpolation",
       statement="Test error peaks around the interpolation threshold, where models are just barely able to fit the "
                 "training set, and decreases again as models grow beyond it.",
       source="Nakkiran et al. 2019, Deep Double Descent, §1 and §5 (model-wise double descent); Belkin et al. 2019",
       quantity="per seed, test error at the interpolation threshold (the smallest width that fits the noisy "
                "training labels) − the higher of the mean test errors of the widths ≤ ¼ of it and of the widths "
                "≥ 4× it, points",
       needs=study_needs("double_descent", "widths spanning ¼× to 4× the interpolation threshold"),
       rule=Difference(unit="points"),
       phenomenon="double descent", evidence=("double_descent",))
def double_descent_peak_at_interpolation(results: Results):
    found = interpolation_threshold(results)
    if isinstance(found, (NotRun, Undecided)):
        return found
    family, widths, at, errors = found
    below = widths.loc[widths["width"] <= at / 4, "width"].astype(int).tolist()
    above = widths.loc[widths["width"] >= 4 * at, "width"].astype(int).tolist()
    if not below or not above:
        return Undecided(f"the widths do not reach from ¼× to 4× the interpolation threshold (width {at}): add "
                         "smaller or wider models to studies.double_descent.models")
    flank = np.maximum(errors[below].mean(axis=1), errors[above].mean(axis=1))
    return paired_by_seed(100 * errors[at], 100 * flank, (f"width {at} (threshold)", "higher flank"),
                          (f"{family}: threshold at width {at}; flanks: widths {', '.join(map(str, below))} and "
                           f"{', '.join(map(str, above))}",))


@claim("test_error_falls_past_interpolation",
       statement="Past the interpolation threshold, test error falls again as the models grow.",
       source="Belkin, Hsu, Ma & Mandal 2019, Reconciling modern machine learning practice and the bias-variance "
              "trade-off, Figure 1; Nakkiran et al. 2019, §5; cs231n, Generalization",
       lecture="double descent: test error falls again past the interpolation threshold (the lecture's figure, "
               "after Belkin et al. 2019)",
       quantity="per seed, test error at the interpolation threshold − the test error of the widest model, points",
       needs=study_needs("double_descent", "widths up to well beyond the interpolation threshold"),
       rule=Difference(unit="points"),
       phenomenon="double descent", evidence=("double_descent",))
def test_error_falls_past_interpolation(results: Results):
    found = interpolation_threshold(results)
    if isinstance(found, (NotRun, Undecided)):
        return found
    family, widths, at, errors = found
    widest = int(widths["width"].max())
    if widest == at:
        return Undecided(f"no width beyond the interpolation threshold (width {at}): add wider models")
    return paired_by_seed(100 * errors[at], 100 * errors[widest], (f"width {at} (threshold)", f"width {widest}"),
                          (f"{family}: threshold at width {at}, widest {widest}",))


# -- ensembles -----------------------------------------------------------------------------------
@claim("ensemble_beats_single_model",
       statement="Training several independent models and averaging their predictions at test time reliably "
                 "improves on a single model, typically by a few percent.",
       source="cs231n, Neural Networks Part 3: Model ensembles; Lakshminarayanan, Pritzel & Blundell 2017, §1",
       quantity="test accuracy of the ensemble of all K members − each member's, points (the members are the "
                "baseline's seeds 0…K−1)",
       needs=study_needs("ensembles", "and design.seeds covering its members 0…K−1"),
       rule=Difference(unit="points"),
       phenomenon="ensembles", evidence=("ensemble_gain",))
def ensemble_beats_single_model(results: Results):
    return ensemble_gain(results)


@claim("ensemble_gains_about_two_percent",
       statement="Train multiple independent models and average their results at test time: enjoy 2 % extra "
                 "performance.",
       source="cs231n, Lecture 7 (Training Neural Networks II): Model ensembles",
       lecture="Model ensembles: \"1. Train multiple independent models 2. At test time average their results "
               "(Take average of predicted probability distributions, then choose argmax) Enjoy 2% extra performance\"",
       quantity="test accuracy of the ensemble of all K members − each member's, points; 1 point or more counts as "
                "the stated 2 %",
       needs=study_needs("ensembles", "and design.seeds covering its members 0…K−1"),
       rule=Difference(unit="points", asserted=2.0, stated_as="2 %", at_least=1.0),
       phenomenon="ensembles", evidence=("ensemble_gain",))
def ensemble_gains_about_two_percent(results: Results):
    return ensemble_gain(results)


def ensemble_gain(results: Results):
    """The ensemble of all K members against each member: a one-sample contrast, paired by seed."""
    table = study_table(results, "ensembles", "ensembles")
    if isinstance(table, NotRun):
        return table
    curve = table[(table["kind"] == "ensemble") & (table["metric"] == "accuracy") & (table["scaling"] == "raw")]
    runs = results.get("runs")
    if curve.empty or runs is None or runs.empty:
        return Undecided("no ensemble member finished")
    size = int(curve["k"].max())
    ensemble = 100 * float(curve.loc[curve["k"] == size, "value"].iloc[0])
    # the members are the baseline at the config's rates (role grid), not its tuned runs
    at_config_rates = runs["role"].astype(str).str.split("+").map(lambda roles: "grid" in roles)
    members = runs[at_config_rates & (runs["varies"] == "baseline") & (runs["seed"] < size) & (runs["status"] == "ok")]
    members = members.sort_values("seed")
    if len(members) < 2:
        return NotRun(f"the ensemble's members (the baseline's seeds 0…{size - 1}) are not in runs.csv; set "
                      f"design.seeds to include them")
    notes = ("one-sample t of the members' test accuracies against the ensemble's: the ensemble's own test-set "
             "noise is not in the interval",)
    if len(members) < size:
        notes += (f"{len(members)} of the {size} members are in runs.csv",)
    accuracy = 100 * members["final_test_acc"].to_numpy(float)
    return Contrast(np.full(len(accuracy), ensemble), accuracy, True, tuple(f"seed {s}" for s in members["seed"]),
                    (f"ensemble of {size}", "member"), notes)


# -- checkpoint averaging ------------------------------------------------------------------------
def averaged_against_final(results: Results, averaged: str, short: str):
    """Per seed, test accuracy of the checkpoint-averaging study's `averaged` weights − its final
    weights, each at its run's last epoch (what the SWA and the EMA claims both read)."""
    table = study_table(results, "checkpoint_averaging", "checkpoint_averaging")
    if isinstance(table, NotRun):
        return table
    if table.empty:
        return Undecided("no run of the checkpoint-averaging study finished")
    last = table[table["epoch"] == table.groupby("run_id")["epoch"].transform("max")]
    weights = {name: last[last["weights"] == name] for name in (averaged, FINAL_WEIGHTS)}
    if weights[averaged].empty:
        return Undecided(f"the study recorded no {short} weights")
    return paired_by_seed(100 * by_seed(weights[averaged], "test_acc"),
                          100 * by_seed(weights[FINAL_WEIGHTS], "test_acc"), (averaged, FINAL_WEIGHTS))


@claim("swa_improves_generalization",
       statement="Stochastic Weight Averaging — averaging the weights along the trajectory of SGD with a constant or "
                 "cyclical learning rate — leads to better generalization than conventional training.",
       source="Izmailov et al. 2018, Averaging Weights Leads to Wider Optima and Better Generalization, abstract "
              "and §5",
       quantity="test accuracy of the SWA weights − the final weights of the same seed's plain schedule, each at its "
                "run's last epoch, points",
       needs=study_needs("checkpoint_averaging"),
       rule=Difference(unit="points"),
       phenomenon="checkpoint averaging", evidence=("weight_averaging",))
def swa_improves_generalization(results: Results):
    return averaged_against_final(results, SWA, "SWA")


@claim("ema_beats_final_weights",
       statement="Instead of the final parameter vector, keep a moving average of it (x_test = 0.995·x_test + "
                 "0.005·x) and use that at test time: it does better than the final weights.",
       source="cs231n, Lecture 7 (Training Neural Networks II): Model ensembles, tips and tricks (Polyak averaging); "
              "Polyak & Juditsky 1992",
       lecture="\"Instead of using actual parameter vector, keep a moving average of the parameter vector and use "
               "that at test time (Polyak averaging)\": x_test = 0.995*x_test + 0.005*x",
       quantity="test accuracy of the weights' exponential moving average (decay studies.checkpoint_averaging."
                "ema_decay) − the final weights of the same plain run, at its last epoch, points",
       needs=study_needs("checkpoint_averaging", "ema_decay: 0.995"),
       rule=Difference(unit="points"),
       conditions=(Condition("running average with decay 0.995", "checkpoint_averaging.ema_decay", allowed=(0.995,),
                             preset="workflow/presets/claims.yaml"),),
       phenomenon="checkpoint averaging", evidence=("weight_averaging",))
def ema_beats_final_weights(results: Results):
    return averaged_against_final(results, EMA, "EMA")


# -- calibration ---------------------------------------------------------------------------------
@claim("temperature_scaling_fixes_calibration",
       statement="Modern neural networks are poorly calibrated (over-confident); temperature scaling, a single "
                 "parameter fitted on validation, is surprisingly effective at calibrating their predictions.",
       source="Guo, Pleiss, Sun & Weinberger 2017, On Calibration of Modern Neural Networks, abstract and §5",
       quantity="test expected calibration error (15 bins) of the baseline's runs, raw − after temperature scaling, "
                "points",
       needs="the grid's baseline runs (runs.csv records test_ece and test_ece_temperature_scaled for every run)",
       rule=Difference(unit="points"),
       phenomenon="calibration", evidence=("calibration_effects",))
def temperature_scaling_fixes_calibration(results: Results):
    runs = results.get("runs")
    if runs is None or runs.empty:
        return NotRun("no grid runs (results/tables/runs.csv); every run records it: set design.seeds to 2 or more "
                      "seeds of the baseline")
    if not {"test_ece", "test_ece_temperature_scaled"} <= set(runs):
        return NotRun("runs.csv has no test_ece / test_ece_temperature_scaled (tables of an older trickbench): "
                      "set design.seeds and run the workflow again")
    runs = compared_runs(runs)
    baseline = runs[(runs["varies"] == "baseline") & (failure_reasons(runs, SELECT_ON, results.chance) == "")]
    if baseline.empty:
        return Undecided("no baseline run finished")
    return paired_by_seed(100 * by_seed(baseline, "test_ece"), 100 * by_seed(baseline, "test_ece_temperature_scaled"),
                          ("raw", "temperature-scaled"))


# -- babysitting ---------------------------------------------------------------------------------
BABYSITTING_SEEDS = "set studies.babysitting.seeds to 3 seeds or more"


def babysitting_rows(results: Results, check: str) -> pd.DataFrame | NotRun:
    """The rows of one check, on every seed of the study."""
    table = study_table(results, "babysitting", "babysitting")
    if isinstance(table, NotRun):
        return table
    rows = table[table["check"].astype(str).str.startswith(check)]
    if rows.empty:
        return NotRun(f"the babysitting table has no check '{check}'; {study_needs('babysitting')}")
    return rows.sort_values("seed")


def seeds_sample(rows: pd.DataFrame) -> str:
    return f"{rows['seed'].nunique()} seeds (the model's weights; the subset it overfits)"


@claim("initial_loss_is_ln_classes",
       statement="Look for the correct loss at chance performance: when you initialize with small parameters, a "
                 "softmax classifier on CIFAR-10 should start at a loss of ln(10) = 2.302, a diffuse probability of 0.1 "
                 "for each class.",
       source="cs231n, Neural Networks Part 3: Sanity checks (before learning)",
       lecture="Sanity check: \"Make sure that you get the loss you expect when you disable the regularization\" "
               "— loss ~2.3, \"correct\" for 10 classes, at small weights (0.0001·randn)",
       quantity="initial training loss of the baseline (regularization off, one batch, the check's init) ÷ ln(classes)",
       needs=study_needs("babysitting", "init: {name: small_gaussian, std: 0.0001}"),
       rule=Threshold(unit="× ln(classes)", reproduced=(0.9, 1.1)),
       conditions=(Condition("small weights, 0.0001·randn (studies.babysitting.init: {name: small_gaussian, std: "
                             "0.0001})", "babysitting.init", allowed=("small_gaussian(std=0.0001)",),
                             preset=CLAIMS_PRESET),),
       phenomenon="babysitting", evidence=("babysitting_checks",))
def initial_loss_is_ln_classes(results: Results):
    rows = babysitting_rows(results, "initial loss")
    if isinstance(rows, NotRun):
        return rows
    classes = re.search(r"ln\((\d+)\)", str(rows["detail"].iloc[0]))
    if classes is None:
        return Undecided("the babysitting check does not say its number of classes")
    expected = math.log(int(classes.group(1)))
    return Reading.over_seeds(dict(zip(rows["seed"], rows["measured"].astype(float) / expected)),
                              sample=f"the baseline at init, one batch ({rows['subject'].iloc[0]}), {seeds_sample(rows)}",
                              values={"initial loss, mean over seeds": float(rows["measured"].mean()),
                                      f"ln({classes.group(1)})": expected}, more_seeds=BABYSITTING_SEEDS)


@claim("regularization_raises_loss",
       statement="Crank up the regularization: the loss at initialization goes up.",
       source="cs231n, Lecture 6 (Training Neural Networks I): Babysitting the learning process",
       lecture="\"Crank up regularization … loss went up, good. (sanity check)\"",
       quantity="share of the steps up the studies.babysitting.strengths ladder at which the initial loss (same "
                "weights and batch) rises, %",
       needs=study_needs("babysitting"),
       rule=Threshold(unit="%", reproduced=(100.0, 100.0)),
       family="regularizer", phenomenon="babysitting", evidence=("babysitting_checks",))
def regularization_raises_loss(results: Results):
    table = study_table(results, "babysitting", "babysitting")
    if isinstance(table, NotRun):
        return table
    rows = table[table["check"].astype(str).str.startswith("loss rises")]
    if rows.empty:
        return NotRun(f"the babysitting table has no check 'loss rises with regularization'; {study_needs('babysitting')}")
    passed = rows["passed"].astype(str).str.lower().isin(["true", "1"])
    steps = rows[rows["seed"] == rows["seed"].min()]
    return Reading.over_seeds({int(seed): 100 * float(share) for seed, share in passed.groupby(rows["seed"]).mean().items()},
                              sample=f"{len(steps)} steps up the strengths ({'; '.join(steps['subject'])}), "
                                     f"{seeds_sample(rows)}",
                              values={f"{r.subject}, seed {int(r.seed)}": float(r.measured) for r in rows.itertuples()},
                              more_seeds=BABYSITTING_SEEDS)


@claim("overfit_tiny_subset",
       statement="Before training on the full data, make sure you can overfit a tiny subset of it (e.g. 20 examples) "
                 "and reach zero cost, with regularization off.",
       source="cs231n, Neural Networks Part 3: Sanity checks (overfit a tiny subset of data)",
       quantity="training accuracy the unregularized baseline reaches on 20 examples within the study's full-batch "
                "steps, %",
       needs=study_needs("babysitting"),
       lecture="\"Make sure that you can overfit very small portion of the training data\"",
       rule=Threshold(unit="%", reproduced=(100.0, 100.0)),
       phenomenon="babysitting", evidence=("babysitting_checks",))
def overfit_tiny_subset(results: Results):
    rows = babysitting_rows(results, "overfit")
    if isinstance(rows, NotRun):
        return rows
    return Reading.over_seeds(dict(zip(rows["seed"], 100 * rows["measured"].astype(float))),
                              sample=f"{rows['check'].iloc[0]}: {rows['subject'].iloc[0]}, {seeds_sample(rows)}",
                              notes=tuple(dict.fromkeys(rows["detail"].astype(str))), more_seeds=BABYSITTING_SEEDS)


# -- mode connectivity ---------------------------------------------------------------------------
@claim("curves_connect_minima",
       statement="The optima of deep networks' loss functions are connected by simple curves over which training and "
                 "test accuracy are nearly constant; a straight line between them crosses a region of high loss.",
       source="Garipov, Izmailov, Podoprikhin, Vetrov & Wilson 2018, Loss Surfaces, Mode Connectivity, and Fast "
              "Ensembling of DNNs, abstract and §3",
       quantity="largest drop of training accuracy along the trained quadratic Bezier curve below the mean of its "
                "two endpoints', points, per pair of solutions",
       needs=study_needs("mode_connectivity", "with studies.mode_connectivity.bezier: true"),
       rule=Threshold(unit="points", reproduced=(-math.inf, 2.0), refuted=(5.0, math.inf)),
       conditions=(Condition("optima: endpoints trained to (near) zero training error, at most 1 %",
                             "mode_connectivity.endpoint_train_error", at_most=0.01),),
       phenomenon="mode connectivity", evidence=("mode_connectivity",))
def curves_connect_minima(results: Results):
    """Per pair of solutions, the drop along each path; the claim reads the trained curve's, one value
    per pair (the pairs share no endpoint: independent draws, whose t interval meets the band)."""
    table = study_table(results, "mode_connectivity", "mode_connectivity")
    if isinstance(table, NotRun):
        return table
    if table.empty:
        return Undecided("no pair of endpoints finished training")
    if "pair" not in table:
        return Undecided("the mode_connectivity table predates pairs of endpoints (no pair column): "
                         "run the study again")
    drops: dict[str, dict[str, float]] = {}
    for (pair, path), part in table.groupby(["pair", "path"], sort=False):
        part = part.sort_values("t")
        ends = (part["train_acc"].iloc[0] + part["train_acc"].iloc[-1]) / 2
        drops.setdefault(path, {})[str(pair)] = 100 * float(ends - part["train_acc"].min())
    if "bezier" not in drops:
        return NotRun("no trained curve between the solutions; set studies.mode_connectivity.bezier: true")
    pairs = drops["bezier"]
    means = {f"training-accuracy drop along the {path}, mean over pairs, points": float(np.mean(list(by_pair.values())))
             for path, by_pair in drops.items()}
    return Reading.over_seeds(pairs, unit="pair", sample=f"{len(pairs)} pair(s) of solutions (the baseline's seeds "
                              f"{', '.join(pairs)}), {table['t'].nunique()} points along each path",
                              more_seeds="set studies.mode_connectivity.seeds to 6 seeds or more (3 pairs)",
                              notes=unfinished_pairs(results), values=means)


def unfinished_pairs(results: Results) -> tuple[str, ...]:
    """The study's notes on pairs left out because an endpoint did not finish (its barriers table)."""
    barriers = results.get("mode_connectivity_barriers")
    if barriers is None or "note" not in barriers:
        return ()
    return tuple(f"pair {row.pair} left out: {row.note}" for row in barriers.dropna(subset=["note"]).itertuples())
