"""Calibration per variant: raw and scaled metrics per variant, the sentence on whether scaling
changes which variant has the lowest NLL, and whether that one differs detectably from the baseline
(one OLS over variants and seeds where they share seeds, else the per-comparison test — both
recomputed here with statsmodels and scipy)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.multitest import multipletests

from trickbench.config import validate_config
from trickbench.report.calibration_effects import calibration_table, scaled_nll_comparisons, summary_sentences


def runs_with_calibration(spread: float = 0.01) -> pd.DataFrame:
    """relu: over-confident (raw NLL high, scaled lowest); tanh: raw NLL lowest, scaled worse."""
    numbers = {"relu": (2.0, 1.60, 0.25, 0.03, 2.2), "tanh": (1.8, 1.75, 0.10, 0.04, 1.3)}
    rows = []
    for level, (nll, nll_scaled, ece, ece_scaled, temperature) in numbers.items():
        for seed in (0, 1, 2):
            wobble = spread * (seed if level == "relu" else seed ** 2)
            rows.append({"run_id": f"{level}{seed}", "seed": seed, "activation": level, "init": "he_normal",
                         "norm": "batch", "regularizer": "none", "optimizer": "momentum", "schedule": "cosine",
                         "preprocessing": "standardize", "status": "ok", "final_test_acc": 0.5, "final_val_acc": 0.5,
                         "test_nll": nll + wobble, "test_nll_temperature_scaled": nll_scaled + wobble,
                         "test_ece": ece, "test_ece_temperature_scaled": ece_scaled, "temperature": temperature})
    return pd.DataFrame(rows)


def test_table_holds_raw_and_scaled_means_per_variant(tiny_config):
    table = calibration_table(runs_with_calibration(), validate_config(tiny_config)).set_index(["variant", "metric", "scaling"])
    assert table.loc[("baseline", "nll", "raw"), "mean"] == pytest.approx(2.01)
    assert table.loc[("activation=tanh", "ece", "temperature-scaled"), "mean"] == pytest.approx(4.0)  # in %
    assert table.loc[("baseline", "nll", "raw"), "temperature"] == pytest.approx(2.2)
    assert table.loc[("baseline", "nll", "raw"), "n"] == 3


def test_sentences_say_when_scaling_changes_the_best_variant_and_test_it(tiny_config):
    config = validate_config(tiny_config)
    sentences = summary_sentences(runs_with_calibration(), config)
    assert "The lowest raw NLL is activation=tanh's (1.817), but after scaling baseline's (1.610 vs 1.767)" in sentences[1]
    assert sentences[2] == ("After scaling, 1 of 1 variants differ detectably from the baseline in test NLL (pooled t "
                            "(2 cells × 3 seeds OLS, df=2), Holm-corrected over 1); the baseline itself has the lowest.")
    same = runs_with_calibration().assign(test_nll_temperature_scaled=lambda r: r["test_nll"] - 0.1)
    lines = summary_sentences(same, config)
    assert len(lines) == 2 and lines[1].startswith("After scaling, 1 of 1 variants differ detectably from the baseline in "
                                                   "test NLL (pooled t (2 cells × 3 seeds OLS, df=2), Holm-corrected over "
                                                   "1). Lowest after scaling, activation=tanh is better than the "
                                                   "baseline by 0.193 nats of temperature-scaled test NLL")


def ols_contrasts(runs: pd.DataFrame, reference: str = "relu"):
    """The expected comparisons, fitted here: statsmodels OLS of scaled NLL on cell and seed, each
    level's contrast with the reference read by `fit.t_test`."""
    data = pd.DataFrame({"value": runs["test_nll_temperature_scaled"], "cell": runs["activation"], "seed": runs["seed"]})
    fit = smf.ols(f"value ~ C(cell, Treatment('{reference}')) + C(seed)", data).fit()
    names = list(fit.params.index)
    return fit, {level: fit.t_test(np.eye(len(names))[names.index(f"C(cell, Treatment('{reference}'))[T.{level}]")])
                 for level in data["cell"].unique() if level != reference}


def three_levels(**shift_seeds) -> pd.DataFrame:
    """relu (baseline), tanh and elu on seeds 0–2 (a level in `shift_seeds` ran those seeds + 10)."""
    runs = runs_with_calibration()
    rng = np.random.default_rng(3)
    elu = runs[runs.activation == "tanh"].assign(activation="elu", run_id=lambda r: "elu" + r["seed"].astype(str))
    elu["test_nll_temperature_scaled"] = 1.62 + rng.normal(0, 0.02, 3)
    runs = pd.concat([runs, elu], ignore_index=True)
    for level, offset in shift_seeds.items():
        runs.loc[runs.activation == level, "seed"] += offset
    return runs


def test_the_scaled_comparisons_are_contrasts_of_one_ols_over_cells_and_seeds(tiny_config):
    runs = three_levels()
    table = scaled_nll_comparisons(runs, validate_config(tiny_config)).set_index("variant")
    fit, expected = ols_contrasts(runs)
    assert fit.df_resid == 4
    p = {level: float(np.squeeze(t.pvalue)) for level, t in expected.items()}
    holm = dict(zip(p, multipletests(list(p.values()), method="holm")[1]))
    for level, t in expected.items():
        row = table.loc[f"activation={level}"]
        assert row["test"] == "pooled t (3 cells × 3 seeds OLS, df=4)" and row["df"] == 4
        assert "seeds are blocks" in row["why"]
        assert row["diff"] == pytest.approx(float(np.squeeze(t.effect)))
        assert row["p_value"] == pytest.approx(p[level]) and row["p_adjusted"] == pytest.approx(holm[level])
        half = (row["diff_ci_high"] - row["diff_ci_low"]) / 2
        assert half == pytest.approx(stats.t.ppf(1 - (1 - row["ci_level"]) / 2, 4) * float(np.squeeze(t.sd)))
    assert "pooled t (3 cells × 3 seeds OLS, df=4)" in " ".join(summary_sentences(runs, validate_config(tiny_config)))


def test_variants_that_ran_other_seeds_fall_back_to_welch_and_say_why(tiny_config):
    runs = three_levels(elu=10)
    table = scaled_nll_comparisons(runs, validate_config(tiny_config)).set_index("variant")
    row = table.loc["activation=elu"]
    elu = runs.loc[runs.activation == "elu", "test_nll_temperature_scaled"].to_numpy()
    relu = runs.loc[runs.activation == "relu", "test_nll_temperature_scaled"].to_numpy()
    assert row["test"] == "Welch t" and row["why"] == "the cells ran different seeds"
    assert row["p_value"] == pytest.approx(stats.ttest_ind(elu, relu, equal_var=False).pvalue)
    assert table.loc["activation=tanh", "test"] == "paired t"
