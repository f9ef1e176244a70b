"""The noise floor: every variant against the baseline by the one comparison of the report (paired
t on shared seeds, Holm-corrected), the detectable flag, the seeds a difference needs from the same
test, and how the factor-effects table and the report's sentences use them."""

from __future__ import annotations

import pandas as pd
import pytest
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


def test_every_variant_is_paired_on_seeds_and_holm_corrected(tiny_config):
    table = noise.noise_table(grid_runs({"relu": RELU, "tanh": TANH, "gelu": GELU}), validate_config(tiny_config))
    final = table[table.metric == "returned model"].set_index("variant")
    points = lambda values: [100 * v for v in values]
    p = [scipy_stats.ttest_rel(points(TANH), points(RELU)).pvalue, scipy_stats.ttest_rel(points(GELU), points(RELU)).pvalue]
    holm = multipletests(p, method="holm")[1]
    assert final.loc["activation=tanh", "p_adjusted"] == pytest.approx(holm[0])
    assert final.loc["activation=gelu", "p_adjusted"] == pytest.approx(holm[1])
    assert final.loc["activation=tanh", "detectable"] and not final.loc["activation=gelu", "detectable"]
    assert final.loc["activation=tanh", "diff"] == pytest.approx(10.0) and final.loc["baseline", "n"] == 3
    # not detectable ⇒ the same test needs more seeds than it has
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
    assert "(paired t, Holm-corrected over 2) detects with 80 % power only differences of" in sentences[0]
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
