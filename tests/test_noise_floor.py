"""The noise floor: every variant against the baseline by the one comparison of the report (paired
t on shared seeds, Holm-corrected), the detectable flag, the seeds a difference needs from the same
test, and how the factor-effects table and the report's sentences use them."""

from __future__ import annotations

import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests

from trickbench.config import validate_config
from trickbench.report import noise
from trickbench.report.grid import effects_table


def grid_runs(values: dict[str, list[float]], val_offset: dict[str, float] | None = None) -> pd.DataFrame:
    """Runs of an activation ablation around relu, with given final test accuracies (fractions)."""
    rows = []
    for level, accuracies in values.items():
        for seed, acc in enumerate(accuracies):
            rows.append({"run_id": f"{level}{seed}", "seed": seed, "varies": "baseline" if level == "relu" else "activation",
                         "activation": level, "init": "he_normal", "norm": "batch", "regularizer": "none",
                         "optimizer": "momentum", "schedule": "cosine", "preprocessing": "standardize",
                         "status": "ok", "final_test_acc": acc, "best_test_acc": acc,
                         "final_val_acc": acc + (val_offset or {}).get(level, 0.0)})
    return pd.DataFrame(rows)


RELU, TANH, GELU = [0.50, 0.51, 0.505], [0.60, 0.61, 0.605], [0.50, 0.53, 0.49]


def test_every_variant_is_compared_in_one_blocked_model_and_holm_corrected(tiny_config):
    table = noise.noise_table(grid_runs({"relu": RELU, "tanh": TANH, "gelu": GELU}), validate_config(tiny_config))
    final = table[table.metric == "returned model"].set_index("variant")
    frame = pd.DataFrame([{"level": level, "seed": seed, "value": 100 * value}
                          for level, values in (("relu", RELU), ("tanh", TANH), ("gelu", GELU))
                          for seed, value in enumerate(values)])
    fit = smf.ols('value ~ C(level, Treatment("relu")) + C(seed)', frame).fit()
    residuals = [fit.resid[frame["level"] == level] for level in ("relu", "tanh", "gelu")]
    assert scipy_stats.levene(*residuals, center="median").pvalue >= 0.05  # one variance: the pooled model holds
    names = ['C(level, Treatment("relu"))[T.tanh]', 'C(level, Treatment("relu"))[T.gelu]']
    holm = multipletests(fit.pvalues[names], method="holm")[1]
    assert final.loc["activation=tanh", "p_adjusted"] == pytest.approx(holm[0])
    assert final.loc["activation=gelu", "p_adjusted"] == pytest.approx(holm[1])
    assert (final.loc[["activation=tanh", "activation=gelu"], "df"] == fit.df_resid).all()
    assert final.loc["activation=tanh", "detectable"] and not final.loc["activation=gelu", "detectable"]
    assert final.loc["activation=tanh", "diff"] == pytest.approx(10.0) and final.loc["baseline", "n"] == 3
    # not detectable ⇒ the same model needs more seeds than it has
    assert final.loc["activation=gelu", "seeds_needed"] > 3


def test_factor_effects_carry_the_same_comparison_and_are_ordered_on_validation(tiny_config):
    config = validate_config(tiny_config)
    runs = grid_runs({"relu": RELU, "tanh": TANH, "gelu": GELU}, val_offset={"gelu": 0.2})  # gelu best on validation only
    effects = effects_table(runs, config).set_index("level")
    assert effects.index.tolist() == ["gelu", "tanh", "relu"]  # by validation, never by test
    final = noise.noise_table(runs, config)
    final = final[final.metric == "returned model"].set_index("variant")
    for level in ("tanh", "gelu"):  # the figure and the table state one comparison the same way
        for column in ("diff", "diff_ci_low", "diff_ci_high", "p_adjusted", "detectable", "mde", "seeds_needed"):
            assert effects.loc[level, column] == pytest.approx(final.loc[f"activation={level}", column])


def test_noise_sentences_state_the_floor_and_the_claims(tiny_config):
    config = validate_config(tiny_config)
    sentences = noise.summary_sentences(noise.noise_table(grid_runs({"relu": RELU, "tanh": TANH, "gelu": GELU}), config))
    assert "pooled standard deviation of test accuracy (of the model each run returns)" in sentences[0]
    assert "(pooled t (3 cells × 3 seeds OLS, df=4), Holm-corrected over 2) detects with 80 % power only differences of" \
        in sentences[0]
    assert "Why this test: one residual variance (Brown–Forsythe p=" in sentences[0]
    assert sentences[1].startswith("1 of 2 differences to the baseline are detectable (their corrected 95 % interval "
                                   "excludes 0); the others would need")
    every = noise.summary_sentences(noise.noise_table(grid_runs({"relu": RELU, "tanh": TANH}), config))
    assert every[1] == "1 of 1 differences to the baseline are detectable (their corrected 95 % interval excludes 0)."
    single = noise.summary_sentences(noise.noise_table(grid_runs({"relu": [0.5], "tanh": [0.6]}), config))
    assert "No cell was run with more than one seed" in single[0]


def test_a_cell_at_chance_is_left_out_of_the_noise_floor(tiny_config):
    config = validate_config(tiny_config)  # synthetic data: 40 validation images of 10 classes
    runs = grid_runs({"relu": RELU, "tanh": TANH, "sigmoid": [0.09, 0.10, 0.08]})
    table = noise.noise_table(runs, config)
    assert "activation=sigmoid" not in set(table["variant"])  # not a 40-point "effect"
    assert (table.loc[table.variant == "activation=tanh", "family_size"] == 1).all()


def test_in_a_tuned_design_the_noise_floor_rests_on_the_compared_runs_only(tiny_config):
    """Tuning trials and the fixed-rate runs are not the runs compared: their spread must not
    enter the noise floor (issue 20: n of 11–14 per cell, pooled sd 3.79 where the tuned runs give 1.03)."""
    config = validate_config(tiny_config)
    tuned = grid_runs({"relu": RELU, "tanh": TANH}).assign(role="tuned")
    fixed = grid_runs({"relu": [0.2, 0.6, 0.35], "tanh": [0.3, 0.7, 0.25]}).assign(role="grid")
    fixed["run_id"] += "-fixed"
    trials = grid_runs({"relu": [0.1, 0.45], "tanh": [0.15, 0.5]}).assign(role="tuning", seed=100)
    trials["run_id"] += "-trial"
    table = noise.noise_table(pd.concat([tuned, fixed, trials], ignore_index=True), config)
    final = table[table.metric == "returned model"].set_index("variant")
    assert final["n"].tolist() == [3, 3]
    expected_sd = scipy_stats.tstd([100 * v for v in RELU])
    assert final.loc["baseline", "sd"] == pytest.approx(expected_sd)
    sentence = noise.summary_sentences(table)[0]
    pooled = (0.5 * (scipy_stats.tvar([100 * v for v in RELU]) + scipy_stats.tvar([100 * v for v in TANH]))) ** 0.5
    assert f"is {pooled:.2f} points over 2 cells with 3 seeds" in sentence
