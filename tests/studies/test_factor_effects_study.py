"""Factor effects on hand-made runs tables: level means, the comparison with the baseline level
(paired t, Holm over every level of every factor — recomputed with scipy and statsmodels), failed
levels (diverged or at chance) kept out of effects and ranking, the ranking and its best level
chosen on validation, the bootstrap of the ranking, interaction residuals and the blocked ANOVA."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.multitest import multipletests

from trickbench.config import validate_config
from trickbench.stats import ChanceTest
from trickbench.studies import factor_effects as fe

BASELINE = {"activation": "relu", "init": "he_normal", "norm": "batch", "regularizer": "none", "optimizer": "momentum",
            "schedule": "cosine", "preprocessing": "standardize"}
CHANCE = ChanceTest(classes=10, n_val=466)  # chance below 12.4 % validation accuracy
RUN_IDS = iter(range(10 ** 6))


def run(varies: str, accuracy: float, seed: int, status: str = "ok", val: float | None = None, **levels) -> dict:
    return {**BASELINE, **levels, "run_id": f"r{next(RUN_IDS)}", "seed": seed, "varies": varies,
            "final_test_acc": accuracy, "final_val_acc": accuracy + 0.01 if val is None else val, "status": status}


def ablation_runs() -> pd.DataFrame:
    """init: large_gaussian trains to chance (9 % validation) or diverges; xavier best on test,
    he_normal best on validation."""
    return pd.DataFrame([
        *(run("baseline", acc, s, val=0.56 + s / 100) for s, acc in enumerate([0.50, 0.52, 0.51])),
        *(run("activation", acc, s, activation="tanh") for s, acc in enumerate([0.40, 0.44, 0.41])),
        *(run("init", acc, s, init="xavier_normal", val=0.50) for s, acc in enumerate([0.53, 0.56, 0.54])),
        run("init", 0.09, 0, init="large_gaussian", val=0.09), run("init", 0.10, 1, init="large_gaussian", val=0.08),
        run("init", 0.10, 2, "diverged", init="large_gaussian", val=0.10),
    ])


def effects(chance=CHANCE) -> pd.DataFrame:
    return fe.main_effects(ablation_runs(), "ablation", BASELINE, "final_test_acc", chance)


def test_main_effects_are_the_reports_pooled_comparison_holm_corrected_over_every_factor():
    table = effects().set_index(["factor", "level"])
    runs = ablation_runs()
    runs = runs[runs["init"] != "large_gaussian"]  # at chance: out before the fit
    frame = pd.DataFrame({"cell": runs["activation"] + "|" + runs["init"], "seed": runs["seed"],
                          "value": 100 * runs["final_test_acc"]})
    fit = smf.ols('value ~ C(cell, Treatment("relu|he_normal")) + C(seed)', frame).fit()
    names = ['C(cell, Treatment("relu|he_normal"))[T.tanh|he_normal]', 'C(cell, Treatment("relu|he_normal"))[T.relu|xavier_normal]']
    holm = multipletests(fit.pvalues[names], method="holm")[1]
    tanh, xavier = table.loc[("activation", "tanh")], table.loc[("init", "xavier_normal")]
    assert tanh["mean"] == pytest.approx(125 / 3) and tanh["diff"] == pytest.approx(125 / 3 - 51.0)
    assert tanh["test"] == f"pooled t (3 cells × 3 seeds OLS, df={fit.df_resid:g})" and tanh["family_size"] == 2
    assert tanh["p_adjusted"] == pytest.approx(holm[0]) and xavier["p_adjusted"] == pytest.approx(holm[1])
    assert table.loc[("activation", "relu"), "is_baseline"]


def test_a_level_at_chance_is_excluded_from_effects_and_the_ranking():
    table = effects()
    large = table.set_index(["factor", "level"]).loc[("init", "large_gaussian")]
    assert large["failed"] and large["n_failed"] == 3 and large["failures"] == "2 at chance, 1 diverged"
    assert math.isnan(large["mean"]) and math.isnan(large["diff"]) and math.isnan(large["rank"])
    ranked = fe.ranking(table, fe.ranking_runs(ablation_runs(), table, "ablation", BASELINE, "final_val_acc", CHANCE))
    init = ranked.set_index("factor").loc["init"]
    assert init["failed_levels"] == "large_gaussian" and init["levels"] == 2
    assert init["val_spread"] == pytest.approx(100 * (0.57 - 0.50))  # he_normal vs xavier, without the dead level
    assert ranked["factor"].tolist() == ["activation", "init"]  # a dead level no longer ranks init first
    # without the chance test the two large_gaussian runs that ended "ok" would rank init first by a 47-point spread
    blind = fe.main_effects(ablation_runs(), "ablation", BASELINE, "final_test_acc", None)
    assert not blind.set_index("level").loc["large_gaussian", "failed"]
    blind_ranking = fe.ranking(blind, fe.ranking_runs(ablation_runs(), blind, "ablation", BASELINE, "final_val_acc", None))
    assert blind_ranking["factor"].iloc[0] == "init"


def test_the_best_level_is_chosen_on_validation_and_reported_on_the_metric():
    table = effects()
    ranked = fe.ranking(table, fe.ranking_runs(ablation_runs(), table, "ablation", BASELINE, "final_val_acc", CHANCE))
    init = ranked.set_index("factor").loc["init"]
    # xavier_normal has the best test accuracy (54.3 %), he_normal the best validation accuracy (57 %): validation chooses
    assert (init["best_level"], init["worst_level"]) == ("he_normal", "xavier_normal")
    assert init["best_mean"] == pytest.approx(51.0) and init["worst_mean"] == pytest.approx(163 / 3)
    ranks = table.set_index(["factor", "level"]).loc["init", "rank"].to_dict()
    assert ranks["he_normal"] == 1 and ranks["xavier_normal"] == 2


def test_the_ranking_carries_a_bootstrap_interval_and_how_often_each_factor_ranks_first():
    table = effects()
    ranked = fe.ranking(table, fe.ranking_runs(ablation_runs(), table, "ablation", BASELINE, "final_val_acc", CHANCE))
    assert ranked["p_first"].isna().all() and ranked["rank"].tolist() == [1, 2]  # 3 seeds: P(first) withheld
    assert (ranked["val_spread_ci_low"] <= ranked["val_spread"] + 1e-9).all()
    assert (ranked["val_spread"] <= ranked["val_spread_ci_high"] + 1e-9).all()


def pair_runs(cell_values: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    rows = []
    for (activation, init), values in cell_values.items():
        varies = "several" if (activation, init) != ("relu", "he_normal") else "baseline"
        rows += [run(varies, v / 100, seed, activation=activation, init=init) for seed, v in enumerate(values)]
    return pd.DataFrame(rows)


def cells_of(values) -> tuple[pd.DataFrame, pd.DataFrame]:
    return fe.pair_cells(pair_runs(values), "activation", ["relu", "tanh"], "init", ["he_normal", "xavier_normal"],
                         BASELINE, "final_test_acc", CHANCE)


def test_additive_cells_have_zero_interaction_residuals():
    cells, part = cells_of({("relu", "he_normal"): [50, 52], ("relu", "xavier_normal"): [45, 47],
                            ("tanh", "he_normal"): [40, 42], ("tanh", "xavier_normal"): [35, 37]})
    assert cells["interaction"].abs().max() == pytest.approx(0.0, abs=1e-9)
    assert cells.set_index(["level_a", "level_b"]).loc[("tanh", "he_normal"), "mean"] == pytest.approx(41.0)
    # every seed-1 run is 2 points above its seed-0 run: the blocks take it all, nothing is left to test against
    assert "no variation left" in fe.interaction_anova(part, "activation", "init")["note"]


def test_interaction_residuals_and_the_blocked_f_test_match_the_hand_computation():
    # cell means 50, 40 / 40, 50 (a crossing interaction), seeds ±1 with equal seed means (SS_seed = 0)
    cells, part = cells_of({("relu", "he_normal"): [49, 51], ("relu", "xavier_normal"): [41, 39],
                            ("tanh", "he_normal"): [39, 41], ("tanh", "xavier_normal"): [51, 49]})
    residual = cells.set_index(["level_a", "level_b"])["interaction"]
    assert residual[("relu", "he_normal")] == pytest.approx(5.0) and residual[("relu", "xavier_normal")] == pytest.approx(-5.0)
    test = fe.interaction_anova(part, "activation", "init")
    # SS_AB = n·Σ residual² = 2·4·25 = 200 on 1 df; SS_E = 8 on (ab − 1)(s − 1) = 3 df → F = 200 / (8/3) = 75
    assert test["F"] == pytest.approx(75.0) and test["df_error"] == 3
    assert test["p_value"] == pytest.approx(stats.f.sf(75.0, 1, 3)) and test["mde_rms"] > 0


def test_cells_with_a_run_at_chance_leave_it_out():
    runs = pair_runs({("relu", "he_normal"): [49, 51], ("relu", "xavier_normal"): [41, 9],
                      ("tanh", "he_normal"): [39, 41], ("tanh", "xavier_normal"): [51, 49]})
    cells, part = fe.pair_cells(runs, "activation", ["relu", "tanh"], "init", ["he_normal", "xavier_normal"], BASELINE,
                                "final_test_acc", CHANCE)
    assert cells.set_index(["level_a", "level_b"]).loc[("relu", "xavier_normal"), "n"] == 1 and len(part) == 7


def test_pairs_become_full_sub_designs_shared_with_the_grid(tiny_config):
    tiny_config["design"]["seeds"] = [0, 1]
    tiny_config["studies"] = {"factor_effects": {"enabled": True, "seeds": [0, 1], "pairs": [
        {"activation": ["relu", "tanh"], "norm": ["batch", "none"]}]}}
    config = validate_config(tiny_config)
    pairs = fe.pair_specs(config)
    assert len(pairs) == 2 * 2 * 2
    assert {(s.activation.name, s.norm.name) for s in pairs} == {("relu", "batch"), ("relu", "none"), ("tanh", "batch"),
                                                                 ("tanh", "none")}
    grid = {s.run_id for s in fe.expand(config)}
    study = {s.run_id for s in fe.study_specs(config)}
    assert grid <= study and len(study) == len(grid | {s.run_id for s in pairs})
    assert len(grid & {s.run_id for s in pairs}) == 4  # relu/tanh with batch norm, two seeds: already in the grid


def test_a_pair_must_name_two_factors(tiny_config):
    from trickbench.errors import ConfigError

    tiny_config["studies"] = {"factor_effects": {"enabled": True, "pairs": [{"activation": ["relu", "tanh"]}]}}
    with pytest.raises(ConfigError, match="studies.factor_effects.pairs.0"):
        validate_config(tiny_config)


def test_interaction_cells_hold_only_the_sub_design_s_seeds(tiny_config):
    tiny_config["design"]["seeds"] = [0, 1]
    tiny_config["studies"] = {"factor_effects": {"enabled": True, "seeds": [0], "pairs": [
        {"activation": ["relu", "tanh"], "norm": ["batch", "none"]}]}}
    config = validate_config(tiny_config)
    specs = fe.study_specs(config)  # the grid's seed-1 runs share cells' levels, not the pair's seeds
    runs = pd.DataFrame([{"run_id": s.run_id, **{f: s.label(f) for f in BASELINE}, "status": "ok", "seed": s.seed,
                          "final_test_acc": 0.5 + 0.1 * s.seed, "final_val_acc": 0.5} for s in specs])
    cells, tests = fe.interactions(runs, config, fe.baseline_labels(config), "final_test_acc", CHANCE)
    assert (cells["n"] == 1).all() and list(cells["mean"]) == pytest.approx([50.0] * 4)
    assert math.isnan(tests["F"].iloc[0])  # one seed per cell: no test of the interaction
