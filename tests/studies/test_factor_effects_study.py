"""Factor effects on hand-made runs tables: level means and their CIs, the difference from the
baseline level with Welch's interval, the ranking by spread, interaction residuals and the two-way
ANOVA F test, all against values computed by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy import stats

from trickbench.config import validate_config
from trickbench.studies import factor_effects as fe

BASELINE = {"activation": "relu", "init": "he_normal", "norm": "batch", "regularizer": "none", "optimizer": "momentum",
            "schedule": "cosine", "preprocessing": "standardize"}


def run(varies: str, accuracy: float, status: str = "ok", **levels) -> dict:
    return {**BASELINE, **levels, "varies": varies, "final_test_acc": accuracy, "status": status}


def ablation_runs() -> pd.DataFrame:
    return pd.DataFrame([
        run("baseline", 0.50), run("baseline", 0.52),
        run("activation", 0.40, activation="tanh"), run("activation", 0.44, activation="tanh"),
        run("init", 0.51, init="xavier_normal"), run("init", 0.53, init="xavier_normal"),
        run("init", 0.10, init="large_gaussian"), run("init", 0.12, init="large_gaussian", status="diverged"),
    ])


def test_main_effects_are_level_means_and_differences_from_the_baseline_level():
    effects = fe.main_effects(ablation_runs(), "ablation", BASELINE, "final_test_acc").set_index(["factor", "level"])
    assert set(effects.index.get_level_values("factor")) == {"activation", "init"}
    tanh = effects.loc[("activation", "tanh")]
    assert tanh["mean"] == pytest.approx(42.0) and tanh["effect"] == pytest.approx(42.0 - 51.0)
    assert tanh["n"] == 2 and not tanh["is_baseline"] and effects.loc[("activation", "relu"), "is_baseline"]
    # Welch: se = √(s1²/2 + s2²/2) with s1 = √8, s2 = √2 (in points); df = (5)² / (4² + 1²) = 25/17
    se, df = math.sqrt(8 / 2 + 2 / 2), 25 / 17
    half = stats.t.ppf(0.975, df) * se
    assert tanh["effect_ci_low"] == pytest.approx(-9 - half) and tanh["effect_ci_high"] == pytest.approx(-9 + half)
    large = effects.loc[("init", "large_gaussian")]  # its diverged run is counted as failed, never averaged
    assert large["failed"] == 1 and large["n"] == 1 and large["mean"] == pytest.approx(10.0)
    ranks = effects.loc["init"]["rank"].to_dict()
    assert ranks == {"xavier_normal": 1, "he_normal": 2, "large_gaussian": 3}


def test_a_level_whose_runs_all_failed_is_listed_with_no_mean():
    runs = pd.concat([ablation_runs(), pd.DataFrame([run("norm", 0.1, "diverged", norm="none"),
                                                     run("norm", 0.1, "exploded", norm="none")])])
    effects = fe.main_effects(runs, "ablation", BASELINE, "final_test_acc").set_index(["factor", "level"])
    none = effects.loc[("norm", "none")]
    assert none["n"] == 0 and none["failed"] == 2 and math.isnan(none["mean"]) and none["rank"] == 2


def test_ranking_orders_factors_by_the_spread_of_their_level_means():
    effects = fe.main_effects(ablation_runs(), "ablation", BASELINE, "final_test_acc")
    ranking = fe.ranking(effects)
    assert list(ranking["factor"]) == ["init", "activation"] and list(ranking["rank"]) == [1, 2]
    init = ranking.iloc[0]
    assert init["spread"] == pytest.approx(52.0 - 10.0)
    assert (init["best_level"], init["worst_level"]) == ("xavier_normal", "large_gaussian")


def pair_runs(cell_means: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    rows = []
    for (activation, init), values in cell_means.items():
        varies = "several" if (activation, init) != ("relu", "he_normal") else "baseline"
        rows += [run(varies, v / 100, activation=activation, init=init) for v in values]
    return pd.DataFrame(rows)


def test_additive_cells_have_zero_interaction_residuals():
    # row effect + column effect exactly: residuals vanish
    runs = pair_runs({("relu", "he_normal"): [50, 52], ("relu", "xavier_normal"): [45, 47],
                      ("tanh", "he_normal"): [40, 42], ("tanh", "xavier_normal"): [35, 37]})
    cells, part = fe.pair_cells(runs, "activation", ["relu", "tanh"], "init", ["he_normal", "xavier_normal"], BASELINE,
                                "final_test_acc")
    assert cells["interaction"].abs().max() == pytest.approx(0.0, abs=1e-9)
    assert cells.set_index(["level_a", "level_b"]).loc[("tanh", "he_normal"), "mean"] == pytest.approx(41.0)
    test = fe.interaction_test(part, "activation", "init")
    assert test["F"] == pytest.approx(0.0, abs=1e-9) and test["p_value"] == pytest.approx(1.0)


def test_interaction_residuals_and_f_test_match_the_hand_computation():
    # cell means 50, 40 / 40, 50 (a crossing interaction), replicates ±1 around them
    runs = pair_runs({("relu", "he_normal"): [49, 51], ("relu", "xavier_normal"): [39, 41],
                      ("tanh", "he_normal"): [39, 41], ("tanh", "xavier_normal"): [49, 51]})
    cells, part = fe.pair_cells(runs, "activation", ["relu", "tanh"], "init", ["he_normal", "xavier_normal"], BASELINE,
                                "final_test_acc")
    residual = cells.set_index(["level_a", "level_b"])["interaction"]
    assert residual[("relu", "he_normal")] == pytest.approx(5.0) and residual[("relu", "xavier_normal")] == pytest.approx(-5.0)
    test = fe.interaction_test(part, "activation", "init")
    # SS_AB = n·Σ residual² = 2·4·25 = 200 on 1 df; SS_E = 8·1 = 8 on 4 df → F = 200 / 2 = 100
    assert test["F"] == pytest.approx(100.0)
    assert test["p_value"] == pytest.approx(stats.f.sf(100.0, 1, 4))


def test_unbalanced_cells_get_no_f_test():
    runs = pair_runs({("relu", "he_normal"): [49, 51], ("relu", "xavier_normal"): [39],
                      ("tanh", "he_normal"): [39, 41], ("tanh", "xavier_normal"): [49, 51]})
    _, part = fe.pair_cells(runs, "activation", ["relu", "tanh"], "init", ["he_normal", "xavier_normal"], BASELINE,
                            "final_test_acc")
    assert math.isnan(fe.interaction_test(part, "activation", "init")["F"])


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
    runs = pd.DataFrame([{"run_id": s.run_id, **{f: s.label(f) for f in BASELINE}, "status": "ok",
                          "final_test_acc": 0.5 + 0.1 * s.seed} for s in specs])
    cells, tests = fe.interactions(runs, config, fe.baseline_labels(config), "final_test_acc")
    assert (cells["n"] == 1).all() and list(cells["mean"]) == pytest.approx([50.0] * 4)
    assert math.isnan(tests["F"].iloc[0])  # one seed per cell: no test of the interaction
