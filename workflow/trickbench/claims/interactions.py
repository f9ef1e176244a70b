"""Claims about two factors together, which an ablation (one factor at a time) cannot test: batch
norm against the dependence on initialization, and L2 against weight decay under Adam.

Both read the grid's runs (runs.csv) of a design that crosses the two factors on shared seeds —
`workflow/presets/claims-interactions.yaml`, a full design — and pair runs that differ only in
what the claim compares, configuration by configuration and seed by seed. Each states its
condition on the design (`conditions.crossed_inits`, `conditions.matched_decays`): where the
runs are there but the design does not cross the factors, the claim is outside this setup and
names the preset.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from trickbench.claims import Contrast, Difference, NotRun, Results, Undecided, claim
from trickbench.claims.conditions import INTERACTIONS_PRESET, WEIGHT_DECAYS, Condition
from trickbench.claims.measures import SETTING_COLUMNS, contrast, level_arms, selected_test_accuracy, technique_of
from trickbench.collect import compared_runs
from trickbench.report.findings import SELECT_ON
from trickbench.stats import failure_reasons, interaction_anova
from trickbench.techniques import FAMILIES
from trickbench.techniques.regularizers import REGULARIZERS


def configurations(runs: pd.DataFrame, *families: str) -> pd.Series:
    """Each run's configuration apart from `families` and the seed, as one string."""
    columns = [c for c in (*SETTING_COLUMNS, *FAMILIES) if c not in families and c in runs]
    return runs[columns].astype(str).agg("|".join, axis=1)


def unit_names(keys: list[tuple[str, int]]) -> tuple[str, ...]:
    """'seed 3', or 'configuration 2, seed 3' where the pairs come from several configurations."""
    ordered = sorted({configuration for configuration, _ in keys})
    if len(ordered) == 1:
        return tuple(f"seed {seed}" for _, seed in keys)
    return tuple(f"configuration {ordered.index(configuration) + 1}, seed {seed}" for configuration, seed in keys)


# -- batch norm × initialization -----------------------------------------------------------------
NORM_INIT_NEEDS = ("set design.kind: full with norm none and batch crossed with 3 or more inits on the same seeds "
                   f"({INTERACTIONS_PRESET})")


@claim("batch_norm_reduces_init_dependence",
       statement="Batch normalization reduces the strong dependence on initialization: networks with it end close "
                 "together from initializations that leave the same networks without it far apart (\"be less "
                 "careful about initialization\").",
       source="cs231n, Lecture 6 (Training Neural Networks I): Batch Normalization; Ioffe & Szegedy 2015, Batch "
              "Normalization, abstract",
       lecture="Batch normalization: \"Reduces the strong dependence on initialization\"",
       quantity="per configuration and seed, the spread over the inits (best − worst) of the test accuracy of the "
                "validation-selected epoch: without normalization − with batch norm, points; a run that failed to "
                "train counts at its accuracy (chance where it has none): failing is the dependence",
       needs=NORM_INIT_NEEDS,
       rule=Difference(unit="points"),
       conditions=(Condition("initializations crossed with batch norm and with no normalization on the same seeds, "
                             "three or more of them (the lecture's W = 0.01·randn and W = randn beside Xavier and He)",
                             "norm_init.crossed_inits", at_least=3, preset=INTERACTIONS_PRESET),),
       family="norm", evidence=("factor_effects",))
def batch_norm_reduces_init_dependence(results: Results):
    runs = results.get("runs")
    if runs is None or runs.empty:
        return NotRun(f"no grid runs (results/tables/runs.csv); {NORM_INIT_NEEDS}")
    compared = compared_runs(runs)
    compared = compared[compared["norm"].astype(str).map(technique_of).isin(["none", "batch"])]
    norms = set(compared["norm"].astype(str).map(technique_of))
    if norms != {"none", "batch"} or compared["init"].nunique() < 2:
        return NotRun(f"no runs of norm none and batch from two or more inits; {NORM_INIT_NEEDS}")
    accuracy = selected_test_accuracy(compared)
    chance = 100 * results.chance.chance if results.chance is not None else math.nan
    frame = pd.DataFrame({"configuration": configurations(compared, "norm", "init").to_numpy(),
                          "seed": compared["seed"].astype(int).to_numpy(),
                          "norm": compared["norm"].astype(str).map(technique_of).to_numpy(),
                          "init": compared["init"].astype(str).to_numpy(),
                          "value": accuracy.where(np.isfinite(accuracy), chance).to_numpy()})
    spreads, crossed = {}, []
    for key, unit in frame.groupby(["configuration", "seed"], sort=True):
        cells = unit.pivot_table(index="init", columns="norm", values="value", aggfunc="mean").dropna()
        if len(cells) >= 2 and {"none", "batch"} <= set(cells):
            spreads[key] = (cells["none"].max() - cells["none"].min(), cells["batch"].max() - cells["batch"].min())
            crossed.append(unit[unit["init"].isin(cells.index)])
    if not spreads:
        return Undecided("the runs do not cross norm with init: no configuration and seed ran two or more inits both "
                         "without normalization and with batch norm (an ablation varies one factor at a time); "
                         + NORM_INIT_NEEDS)
    keys = list(spreads)
    inits = sorted(pd.concat(crossed)["init"].unique())
    notes = [f"spread over {len(inits)} inits: {', '.join(inits)}", anova_note(pd.concat(crossed))]
    failed = failure_reasons(compared, SELECT_ON, results.chance)
    if (failed != "").any():
        notes.append(f"{int((failed != '').sum())} run(s) failed to train and count at their accuracy (chance where "
                     "they have none)")
    return Contrast(np.array([spreads[k][0] for k in keys]), np.array([spreads[k][1] for k in keys]), True,
                    unit_names(keys), ("norm none", "batch norm"), tuple(notes))


def anova_note(crossed: pd.DataFrame) -> str:
    """The norm × init interaction of the crossed runs: a two-way ANOVA, each configuration × seed a block."""
    blocked = crossed.assign(block=crossed["configuration"] + "|" + crossed["seed"].astype(str))
    test = interaction_anova(blocked, "norm", "init", block="block")
    if not math.isfinite(test["F"]):
        return f"norm × init interaction not tested: {test['note']}"
    return (f"norm × init interaction (two-way ANOVA, each configuration × seed a block): F({test['df_interaction']:g}, "
            f"{test['df_error']:g}) = {test['F']:.2f}, p = {test['p_value']:.3g}")


# -- Adam × weight decay -------------------------------------------------------------------------
ADAM_DECAY_NEEDS = ("set design.kind: full with optimizer adam and regularizer l2 and decoupled_weight_decay at the "
                    f"same strength ({INTERACTIONS_PRESET})")


def strength_of(label: str) -> float:
    """The nominal strength λ of a weight-decay level label: 'l2(strength=0.01)' → 0.01; a label
    without it is at its registry default."""
    found = re.search(r"strength=([^,)]+)", label)
    return float(found.group(1)) if found else float(REGULARIZERS.get(technique_of(label)).defaults["strength"])


@claim("adamw_generalizes_better_than_adam_l2",
       statement="L2 regularization and weight decay are equivalent for standard SGD (when rescaled by the learning "
                 "rate), but not for adaptive gradient algorithms such as Adam: decoupling the weight decay from the "
                 "gradient-based update (AdamW) substantially improves Adam's generalization performance.",
       source="Loshchilov & Hutter 2019, Decoupled Weight Decay Regularization (ICLR), abstract, §2 and Algorithm 2",
       quantity="test accuracy of the validation-selected epoch, Adam with decoupled weight decay w ← w − lr·λ·w "
                "(AdamW) − Adam with the L2 penalty (λ/2)·‖W‖², the same nominal λ, learning rate and everything "
                "else, points",
       needs=ADAM_DECAY_NEEDS,
       rule=Difference(unit="points"),
       conditions=(Condition("Adam with an L2 penalty and with decoupled weight decay of the same nominal strength λ, "
                             "everything else equal (Algorithm 2: λ in the gradient or in the update)",
                             "adam_decay.matched_configurations", at_least=1, preset=INTERACTIONS_PRESET),),
       family="optimizer", evidence=("factor_effects",))
def adamw_generalizes_better_than_adam_l2(results: Results):
    runs = results.get("runs")
    if runs is None or runs.empty:
        return NotRun(f"no grid runs (results/tables/runs.csv); {ADAM_DECAY_NEEDS}")
    compared = compared_runs(runs)
    adam = compared[compared["optimizer"].astype(str).map(technique_of) == "adam"]
    labels = adam["regularizer"].astype(str)
    strengths = {name: {strength_of(label) for label in labels[labels.map(technique_of) == name]}
                 for name in WEIGHT_DECAYS}
    missing = [name for name, found in strengths.items() if not found]
    if missing:
        return NotRun(f"no run of Adam with regularizer {' or '.join(missing)}; {ADAM_DECAY_NEEDS}")
    shared = sorted(strengths["l2"] & strengths["decoupled_weight_decay"])
    if not shared:
        return Undecided("Adam ran with l2 at strength " + ", ".join(f"{s:g}" for s in sorted(strengths["l2"]))
                         + " and with decoupled_weight_decay at " + ", ".join(
                             f"{s:g}" for s in sorted(strengths["decoupled_weight_decay"]))
                         + ": no nominal strength in common; " + ADAM_DECAY_NEEDS)
    strength = shared[-1]
    at_strength = labels.map(lambda label: technique_of(label) in WEIGHT_DECAYS and strength_of(label) == strength)
    arms = level_arms(adam[at_strength], "regularizer", "decoupled_weight_decay", "l2", ADAM_DECAY_NEEDS,
                      results.chance)
    if isinstance(arms, (NotRun, Undecided)):
        return arms
    notes = (f"both at λ = {strength:g}: the penalty adds λ·w to the gradient, which Adam then divides by its running "
             "gradient scale; the decoupled decay takes lr·λ·w off the weights beside Adam's step",
             "at one λ and the config's learning rate, not tuned: Loshchilov & Hutter compare each at its best λ and "
             "learning rate")
    if len(shared) > 1:
        notes += (f"compared at the largest of the shared strengths ({', '.join(f'{s:g}' for s in shared)})",)
    return contrast(arms, selected_test_accuracy, notes)
