"""A claim comparing two cells of the grid is tested on one model over every compared cell that
shares their seeds (`stats.pooled_difference`): expectations from a statsmodels OLS fit written
here, on synthetic ablations; where the model does not apply, the two-arm test, and the row says why."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from claim_tables import CHANCE, run_row, verdict, write
from trickbench.claims import CLAIMS, Claim, Difference, Results
from trickbench.claims.measures import contrast, selected_test_accuracy
from trickbench.claims.registered import load_all
from trickbench.claims.techniques import compare_levels, on_arms
from trickbench.claims.verdicts import judge

#: the variants of a small ablation around the baseline (cells), and their true accuracy offsets (points)
VARIANTS = {"baseline": ({}, 0.0), "dropout": ({"regularizer": "dropout"}, 1.5),
            "augment": ({"regularizer": "augment"}, 2.0), "adam": ({"optimizer": "adam"}, -1.0),
            "sgd": ({"optimizer": "sgd"}, -2.0), "batch": ({"norm": "batch"}, 0.5)}
SEEDS = (0, 1, 2, 3)


def ablation(rng_seed: int = 0, sd: float = 1.0, noisy: dict[str, float] | None = None,
             missing: tuple[str, int] | None = None) -> pd.DataFrame:
    """runs.csv of the ablation: accuracy (points) = 40 + offset + the seed's shift + noise (sd per
    variant, `noisy` overrides); `missing` (variant, seed): that run's accuracy is not recorded."""
    rng = np.random.default_rng(rng_seed)
    shift = rng.normal(0, 2, len(SEEDS))
    rows = []
    for name, (levels, offset) in VARIANTS.items():
        for seed in SEEDS:
            points = 40 + offset + shift[seed] + rng.normal(0, (noisy or {}).get(name, sd))
            value = math.nan if missing == (name, seed) else points / 100
            rows.append({**run_row(f"{name}-{seed}", seed, levels, best_test_acc=value), "variant": name})
    return pd.DataFrame(rows)


def ols_contrast(runs: pd.DataFrame, higher: str, lower: str, boundary: float = 0.0):
    """higher − lower from statsmodels OLS `y ~ C(variant) + C(seed)` over every variant with a
    value on every seed: (effect, standard error, two-sided p against 0, one-sided p against
    `boundary`, residual df, residuals by variant)."""
    data = pd.DataFrame({"y": 100 * runs["best_test_acc"], "variant": runs["variant"], "seed": runs["seed"].astype(str)})
    complete = data.groupby("variant")["y"].transform(lambda y: bool(np.isfinite(y).all())).astype(bool)
    data = data[complete]
    fit = smf.ols(f"y ~ C(variant, Treatment('{lower}')) + C(seed)", data).fit()
    weights = np.array([name == f"C(variant, Treatment('{lower}'))[T.{higher}]" for name in fit.params.index], float)
    test, sized = fit.t_test(weights), fit.t_test((weights, boundary))
    residuals = [fit.resid[data["variant"] == v] for v in dict.fromkeys(data["variant"])]
    return (float(test.effect[0]), float(test.sd[0, 0]), float(test.pvalue), float(stats.t.sf(sized.tvalue[0, 0], fit.df_resid)),
            float(fit.df_resid), residuals)


def paired_interval(runs: pd.DataFrame, higher: str, lower: str) -> tuple[float, float]:
    """The 95 % interval of the paired t on the two arms alone (scipy)."""
    arm = lambda name: 100 * runs[runs["variant"] == name].sort_values("seed")["best_test_acc"].to_numpy()  # noqa: E731
    found = stats.ttest_rel(arm(higher), arm(lower)).confidence_interval(0.95)
    return float(found.low), float(found.high)


def tables(folder: Path, runs: pd.DataFrame) -> Path:
    return write(folder, runs=runs.drop(columns="variant"))


def test_a_claim_on_two_cells_is_a_contrast_of_the_ols_over_every_cell(tmp_path):
    runs = ablation()
    row = verdict(tables(tmp_path, runs), "dropout_improves_test_accuracy")  # alone: a family of one, 95 %
    effect, se, p, _, df, residuals = ols_contrast(runs, "dropout", "baseline")
    assert stats.levene(*residuals, center="median").pvalue >= 0.05  # the model's assumption holds here
    half = stats.t.ppf(0.975, df) * se
    assert df == (len(VARIANTS) - 1) * (len(SEEDS) - 1)
    assert row["effect"] == pytest.approx(effect)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((effect - half, effect + half))
    assert row["p_value"] == pytest.approx(p)
    assert row["test"] == f"pooled t ({len(VARIANTS)} cells × {len(SEEDS)} seeds OLS, df={df:g})"
    assert "seeds are blocks" in row["why"] and "Brown–Forsythe" in row["why"]


def test_the_pooled_model_narrows_the_interval_of_the_two_arm_test(tmp_path):
    """Two arms of 4 seeds: the paired t has 3 df; the model over 6 cells has 15."""
    runs = ablation(rng_seed=3)
    row = verdict(tables(tmp_path, runs), "dropout_improves_test_accuracy")
    low, high = paired_interval(runs, "dropout", "baseline")
    assert row["test"].startswith("pooled t")
    assert row["ci_high"] - row["ci_low"] < 0.8 * (high - low)


def test_the_size_test_and_the_seeds_needed_use_the_models_standard_error_and_df(tmp_path):
    """A claim stating a size of 2 points: its one-sided p is the OLS contrast's t against 2 at the
    residual df; the verdict (interval against 2) and that p agree, and the seeds that would decide
    it exceed the seeds it has."""
    load_all()
    sized = Claim(name="sized", statement="Dropout adds two points.", source="", quantity="", needs="",
                  rule=Difference(unit="points", asserted=2.0, stated_as="two points"), family="regularizer",
                  measure=lambda results: on_arms(compare_levels(results, "regularizer", "dropout", "none"),
                                                  lambda arms: contrast(arms, selected_test_accuracy)))
    runs = ablation(rng_seed=1)
    scorecard, _ = judge(Results(tables(tmp_path, runs), CHANCE), {"sized": sized})
    row = scorecard.iloc[0]
    effect, se, _, p_size, df, _ = ols_contrast(runs, "dropout", "baseline", boundary=2.0)
    assert row["p_size"] == pytest.approx(p_size)
    assert row["test"].startswith("pooled t")
    assert (row["ci_low"] > 2.0) == (p_size < 0.025)
    assert row["verdict"] == "inconclusive" and row["seeds_to_decide"] > len(SEEDS)


def test_a_cell_without_the_quantity_on_every_seed_stays_out_of_the_model(tmp_path):
    runs = ablation(missing=("adam", 2))
    row = verdict(tables(tmp_path, runs), "dropout_improves_test_accuracy")
    effect, se, p, _, df, _ = ols_contrast(runs, "dropout", "baseline")
    assert df == (len(VARIANTS) - 2) * (len(SEEDS) - 1)
    assert row["test"] == f"pooled t ({len(VARIANTS) - 1} cells × {len(SEEDS)} seeds OLS, df={df:g})"
    assert row["effect"] == pytest.approx(effect) and row["p_value"] == pytest.approx(p)


def test_a_cell_that_lost_a_run_to_a_failure_stays_out_of_the_model(tmp_path):
    """adam's seed 2 diverged: the report leaves that run out, so adam's cell would miss a seed's
    block; it stays out of the model, which is the OLS over the other 5 cells."""
    runs = ablation()
    runs.loc[runs["run_id"] == "adam-2", "status"] = "diverged"
    row = verdict(tables(tmp_path, runs), "dropout_improves_test_accuracy")
    effect, se, p, _, df, _ = ols_contrast(runs[runs["variant"] != "adam"], "dropout", "baseline")
    assert row["test"] == f"pooled t ({len(VARIANTS) - 1} cells × {len(SEEDS)} seeds OLS, df={df:g})"
    assert row["effect"] == pytest.approx(effect) and row["p_value"] == pytest.approx(p)


def test_where_the_cells_variances_differ_the_claim_uses_the_two_arm_test_and_says_why(tmp_path):
    runs = ablation(sd=0.2, noisy={"sgd": 6.0, "adam": 6.0})
    *_, residuals = ols_contrast(runs, "dropout", "baseline")
    assert stats.levene(*residuals, center="median").pvalue < 0.05
    row = verdict(tables(tmp_path, runs), "dropout_improves_test_accuracy")
    assert row["test"] == "paired t"
    assert row["why"].startswith("Brown–Forsythe p=") and "variances differ" in row["why"]
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(paired_interval(runs, "dropout", "baseline"))


def test_a_claim_whose_arms_are_not_cells_of_the_grid_says_so(tmp_path):
    """A contrast built from a study's runs carries no cells: the two-arm test, and why."""
    from trickbench.claims import Contrast

    load_all()
    claim = Claim(name="study", statement="", source="", quantity="", needs="", rule=Difference(unit="points"),
                  measure=lambda results: Contrast(np.array([2.0, 3.0, 2.5]), np.zeros(3), True,
                                                   ("seed 0", "seed 1", "seed 2")), phenomenon="gap")
    row = judge(Results(tmp_path), {"study": claim})[0].iloc[0]
    assert row["test"] == "paired t" and "not two cells of the grid" in row["why"]
    assert CLAIMS  # the registry is untouched by judging a claim of one's own


def test_a_speed_up_is_pooled_on_the_log_epochs_of_every_cell(tmp_path):
    """batch norm vs none, on log epochs to the validation accuracy every run of the two arms
    reaches: every other cell's runs reach it too (their epochs to it join the model); the effect
    is exp of the OLS contrast on log epochs, written here from the curves."""
    from claim_tables import curve_rows

    rng = np.random.default_rng(1)
    slow = {"baseline": 28.0, "batch": 17.0, "dropout": 26.0, "augment": 24.0, "adam": 20.0, "sgd": 22.0}
    shift = rng.normal(0, 0.05, len(SEEDS))
    rows, epochs, reach = [], [], {}
    for name, (levels, _) in VARIANTS.items():
        for seed in SEEDS:
            run_id = f"{name}-{seed}"
            reach[run_id] = slow[name] * math.exp(shift[seed] + rng.normal(0, 0.05))  # accuracy 0.9 · epoch / reach
            rows.append({**run_row(run_id, seed, levels), "variant": name})
            epochs += curve_rows(run_id, {"val_acc": [0.9 * e / reach[run_id] for e in range(1, 17)]})
    runs = pd.DataFrame(rows)
    row = verdict(write(tmp_path, runs=runs.drop(columns="variant"), epochs=pd.DataFrame(epochs)), "batch_norm_trains_faster")
    arms = [r for r in reach if r.split("-")[0] in ("baseline", "batch")]
    target = min(0.9 * 16 / reach[r] for r in arms)
    data = pd.DataFrame({"y": [math.log(target * reach[r] / 0.9) for r in runs["run_id"]], "variant": runs["variant"],
                         "seed": runs["seed"].astype(str)})
    fit = smf.ols("y ~ C(variant, Treatment('batch')) + C(seed)", data).fit()
    found = fit.t_test(np.array([name == "C(variant, Treatment('batch'))[T.baseline]" for name in fit.params.index], float))
    half = stats.t.ppf(0.975, fit.df_resid) * found.sd[0, 0]
    assert row["test"].startswith(f"pooled t ({len(VARIANTS)} cells")
    assert row["effect"] == pytest.approx(math.exp(found.effect[0]))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((math.exp(found.effect[0] - half), math.exp(found.effect[0] + half)))


def test_in_a_full_design_each_arm_is_the_mean_of_its_cells_in_one_model(tmp_path):
    """relu/tanh × momentum/adam, 4 seeds: momentum − adam is the mean of the two momentum cells −
    the mean of the two adam cells, a contrast of the OLS over the 4 cells (df 3 × 3 = 9)."""
    rng = np.random.default_rng(5)
    shift = rng.normal(0, 2, len(SEEDS))
    rows = []
    for activation, optimizer in [("relu", "momentum"), ("tanh", "momentum"), ("relu", "adam"), ("tanh", "adam")]:
        for seed in SEEDS:
            points = 40 + (1.0 if optimizer == "momentum" else 0.0) + (0.5 if activation == "tanh" else 0.0) \
                + shift[seed] + rng.normal(0, 1)
            rows.append({**run_row(f"{activation}-{optimizer}-{seed}", seed, {"activation": activation, "optimizer": optimizer},
                                   best_test_acc=points / 100), "variant": f"{activation}|{optimizer}"})
    runs = pd.DataFrame(rows)
    row = verdict(write(tmp_path, runs=runs.drop(columns="variant")), "sgd_generalizes_better_than_adam")
    data = pd.DataFrame({"y": 100 * runs["best_test_acc"], "cell": runs["variant"], "seed": runs["seed"].astype(str)})
    fit = smf.ols("y ~ C(cell) + C(seed)", data).fit()  # treatment level: relu|adam
    weights = {"C(cell)[T.relu|momentum]": 0.5, "C(cell)[T.tanh|momentum]": 0.5, "C(cell)[T.tanh|adam]": -0.5}
    found = fit.t_test(np.array([weights.get(name, 0.0) for name in fit.params.index]))
    assert row["test"] == "pooled t (4 cells × 4 seeds OLS, df=9)"
    assert row["effect"] == pytest.approx(float(found.effect[0])) and row["p_value"] == pytest.approx(float(found.pvalue))
