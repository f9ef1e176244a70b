"""The tuning section: Kendall's τ and the swapped pairs against a hand example, the fixed-rate and
the tuned ranking of a synthetic tuned design with known effects, failed levels left out, and the
page — a tuned report's section, an untuned report's note where it ranks."""

from __future__ import annotations

import html
import math
import re

import pandas as pd
import pytest
from scipy import stats

from conftest import TINY_CONFIG
from synthetic_results import grid_config, render_report, write_tables
from trickbench import tuning
from trickbench.report import tuning as report
from trickbench.report.figures import Tables
from trickbench.stats import ChanceTest
from trickbench.workflow import plan_from_config

FACTORS = {"activation": ["relu", "tanh"],
           "optimizer": [{"name": "momentum", "lr": 0.05}, {"name": "sgd", "lr": 0.05}, {"name": "adam", "lr": 0.001}]}


def test_kendall_tau_and_swapped_pairs_of_a_hand_example():
    fixed = {"a": 40.0, "b": 38.0, "c": 35.0, "d": 30.0}
    tuned = {"a": 39.0, "b": 41.0, "c": 36.0, "d": 28.0}
    # 6 pairs; only a/b changes order: 5 concordant, 1 discordant, τ = (5 − 1) / 6
    assert report.kendall_tau(fixed, tuned) == pytest.approx(4 / 6)
    assert report.swapped_pairs(fixed, tuned) == [("a", "b")]
    reversed_ = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}
    assert report.kendall_tau(fixed, reversed_) == pytest.approx(-1.0) and len(report.swapped_pairs(fixed, reversed_)) == 6
    assert report.kendall_tau(fixed, {"a": 1.0, "c": 0.5}) == pytest.approx(1.0)  # over the levels both rank
    assert math.isnan(report.kendall_tau(fixed, {"a": 1.0}))


def tuned_design(tmp_path, fixed_effects, tuned_effects, tuned_status=lambda spec: "ok", failed_cells=(),
                 trial_accuracy=lambda trial: 0.3 + 0.1 * trial.index, factors=FACTORS, second=None, trials=3):
    """runs.csv of a tuned ablation (3 seeds at the fixed rates, 3 at tuned ones, each with known
    effects in points), with the tuning tables of its trials (validation accuracy
    `trial_accuracy(trial)`, on tuning seeds 100 and 101); `failed_cells`: optimizer names whose
    every trial stayed at chance."""
    config = grid_config(TINY_CONFIG, {"kind": "ablation", "seeds": [0, 1, 2], "factors": factors,
                                       "tuning": {"enabled": True, "trials": trials, "lr_decades": 1.0,
                                                  **({"second": second} if second else {})}})
    fixed = write_tables(tmp_path / "fixed", config, fixed_effects, seed=0).assign(role="grid")
    tuned = write_tables(tmp_path / "tuned", config, tuned_effects, status=tuned_status, seed=1).assign(role="tuned")
    tuned["run_id"] = "t" + tuned["run_id"].str[1:]  # distinct runs, as tuned runs are
    epochs = [pd.read_csv(tmp_path / "fixed" / "epochs.csv"), pd.read_csv(tmp_path / "tuned" / "epochs.csv")]
    epochs[1]["run_id"] = "t" + epochs[1]["run_id"].str[1:]
    config = plan_from_config(config).config
    rows = []
    for trial in tuning.trials(config):
        accuracy = 0.12 if trial.cell.optimizer.name in failed_cells else trial_accuracy(trial)
        summary = {"status": "ok", "final_val_acc": accuracy, "final_test_acc": accuracy, "epochs_completed": 2}
        rows.append(tuning.trial_row(config, trial, summary, ChanceTest(10, 40)))  # 40 validation images
    trials = pd.DataFrame(rows, columns=tuning.TRIAL_COLUMNS)
    trials.to_csv(tmp_path / "tuning_trials.csv", index=False)
    tuning.choice_table(config, trials).to_csv(tmp_path / "tuning.csv", index=False)
    pd.concat([fixed, tuned]).to_csv(tmp_path / "runs.csv", index=False)
    pd.concat(epochs).to_csv(tmp_path / "epochs.csv", index=False)
    return config, Tables(tmp_path)


SGD, ADAM, TANH = ("optimizer", "sgd"), ("optimizer", "adam"), ("activation", "tanh")


def order(ranking, factor, name):
    part = ranking[(ranking["factor"] == factor) & (ranking["ranking"] == name)].dropna(subset=["rank"])
    return part.sort_values("rank")["level"].tolist()


def test_tuning_that_lifts_adam_swaps_it_past_both_sgd_and_momentum(tmp_path):
    config, tables = tuned_design(tmp_path, {SGD: -5.0, ADAM: -10.0, TANH: -2.0}, {SGD: -5.0, ADAM: 3.0, TANH: -2.0})
    ranking = report.ranking_table(tables, config)
    assert order(ranking, "optimizer", "fixed") == ["momentum", "sgd", "adam"]
    assert order(ranking, "optimizer", "tuned") == ["adam", "momentum", "sgd"]
    assert order(ranking, "activation", "fixed") == order(ranking, "activation", "tuned") == ["relu", "tanh"]

    agreement = report.agreement_table(tables, config, ranking)
    optimizer = agreement[agreement["factor"] == "optimizer"]
    # 3 pairs: momentum/sgd keeps its order, momentum/adam and sgd/adam swap: τ = (1 − 2) / 3
    assert optimizer["kendall_tau"].iloc[0] == pytest.approx(-1 / 3)
    assert {(a, b) for a, b in optimizer.loc[optimizer["swapped"], ["a", "b"]].itertuples(index=False)} == {
        ("momentum", "adam"), ("sgd", "adam")}
    assert agreement.loc[agreement["factor"] == "activation", "kendall_tau"].iloc[0] == pytest.approx(1.0)

    # the tuned momentum − adam difference: the runs share seeds 0–2, so a paired t test (scipy);
    # its interval at the level Holm's step-down gives it among the factor's 3 pairs, by hand
    runs = tables["runs"]
    tuned = runs[runs["role"] == "tuned"]
    rows = lambda name: (100 * tuned.loc[tuned["varies"].isin(["optimizer", "baseline"]) & (tuned["optimizer"] == name)
                                         & (tuned["activation"] == "relu")].set_index("seed")["final_test_acc"]).sort_index()
    pairs = [("momentum", "sgd"), ("momentum", "adam"), ("sgd", "adam")]
    p_values = [stats.ttest_rel(rows(a), rows(b)).pvalue for a, b in pairs]
    ordered = sorted(range(3), key=lambda i: p_values[i])
    rejected = 0
    for step, i in enumerate(ordered):  # Holm: reject while p_(k) <= α/(m − k + 1)
        if p_values[i] > 0.05 / (3 - step):
            break
        rejected += 1
    step = ordered.index(1)
    alpha = 0.05 / (3 - step) if step < rejected else 0.05 / (3 - rejected)
    expected = stats.ttest_rel(rows("momentum"), rows("adam")).confidence_interval(1 - alpha)
    pair = optimizer[(optimizer["a"] == "momentum") & (optimizer["b"] == "adam")].iloc[0]
    assert pair["tuned_test"] == "paired t"
    assert pair["tuned_diff"] == pytest.approx(rows("momentum").mean() - rows("adam").mean())
    assert (pair["tuned_low"], pair["tuned_high"]) == pytest.approx((expected.low, expected.high))
    assert pair["tuned_high"] < 0 < pair["fixed_low"] and pair["reversed"]  # a reversal beyond the noise in both
    assert "2 of the 2 swapped pairs reverse beyond the noise" in report.summary_findings(tables, config)[0]

    sentence = next(s for s in report.tuning_sentences(tables, config) if s.startswith("optimizer"))
    assert "fixed rate: momentum > sgd > adam; tuned: adam > momentum > sgd; Kendall τ = -0.33 over 3 levels" in sentence
    assert "momentum and adam swap" in sentence and "95 % intervals Holm-corrected over the factor's 3 pairs" in sentence


def test_a_level_whose_runs_failed_stays_out_of_the_ranking(tmp_path):
    config, tables = tuned_design(tmp_path, {SGD: -5.0, ADAM: -10.0}, {SGD: -5.0},
                                  tuned_status=lambda spec: "diverged" if spec.optimizer.name == "adam" else "ok")
    ranking = report.ranking_table(tables, config)
    adam = ranking[(ranking["level"] == "adam") & (ranking["ranking"] == "tuned")].iloc[0]
    assert adam["failed"] == "failed to train (3 diverged of 3 runs)" and math.isnan(adam["rank"])
    assert order(ranking, "optimizer", "tuned") == ["momentum", "sgd"]
    agreement = report.agreement_table(tables, config, ranking)
    assert agreement.loc[agreement["factor"] == "optimizer", "kendall_tau"].iloc[0] == pytest.approx(1.0)


def test_a_level_at_chance_or_failed_to_tune_is_named_and_not_ranked(tmp_path):
    # tuned adam runs at 12 % test (13 % validation): at chance for 10 classes (5 of 40 validation
    # images correct; the exact binomial test needs 8 to reject chance at α = 0.05)
    config, tables = tuned_design(tmp_path, {SGD: -5.0, ADAM: -10.0}, {SGD: -5.0, ADAM: -28.0}, failed_cells=("sgd",))
    ranking = report.ranking_table(tables, config).set_index(["ranking", "level"])
    assert ranking.loc[("tuned", "adam"), "failed"] == "failed to train (3 at chance of 3 runs)"
    assert ranking.loc[("tuned", "sgd"), "failed"] == "failed to tune"
    assert ranking.loc[("fixed", "sgd"), "failed"] == "" and ranking.loc[("fixed", "sgd"), "rank"] == 2
    sentence = next(s for s in report.tuning_sentences(tables, config) if s.startswith("optimizer"))
    assert "sgd not ranked tuned: failed to tune" in sentence and "adam not ranked tuned: failed to train (3 at chance of 3 runs)" in sentence


def visible(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_a_tuned_report_has_the_tuning_section_and_an_untuned_one_says_so_where_it_ranks(tmp_path):
    config, _ = tuned_design(tmp_path / "tuned", {SGD: -5.0, ADAM: -10.0}, {ADAM: 3.0})
    page = render_report(tmp_path / "tuned", config, tmp_path / "tuned" / "out").read_text()
    assert 'id="figure-tuning_rankings"' in page and 'id="figure-tuning_sensitivity"' in page
    text = visible(page)
    assert "<h2>Tuning: fixed against tuned learning rates</h2>" in page and "Kendall τ" in text
    assert "Every level was tuned on validation before its seeds ran" in text
    assert report.UNTUNED_NOTE not in text and "tuned per configuration on validation" in text

    untuned = grid_config(TINY_CONFIG, {"kind": "ablation", "seeds": [0, 1], "factors": FACTORS})
    write_tables(tmp_path / "untuned", plan_from_config(untuned).config)
    page = render_report(tmp_path / "untuned", untuned, tmp_path / "untuned" / "out").read_text()
    summary, grid = page.split('<section id="summary">')[1].split("</section>")[0], page.split("<h2>Factor grid</h2>")[1]
    assert report.UNTUNED_NOTE in visible(summary) and visible(grid).lstrip().startswith(report.UNTUNED_NOTE)
    assert "figure-tuning_rankings" not in page


def test_in_a_tuned_design_the_reports_comparisons_rest_on_the_tuned_runs(tmp_path):
    """Adam trails by 10 points at the fixed rate and leads by 3 tuned: the findings and the grid's
    figures must see the tuned runs (never the trials, nor the fixed-rate runs twice)."""
    from trickbench.report.findings import comparisons
    from trickbench.report.grid import finished

    config, tables = tuned_design(tmp_path, {ADAM: -10.0}, {ADAM: 3.0})
    runs = tables["runs"]
    assert set(finished(runs)["role"]) == {"tuned"} and len(finished(runs)) == 4 * 3  # 4 configurations × 3 seeds
    found = comparisons(runs, config)
    adam = found[found["level"] == "adam"].iloc[0]
    assert adam["diff"] == pytest.approx(3.0, abs=1.5) and adam["n"] == 3


# -- the choices: values as run, margins over the runner-up, failures named -----------------------
def test_each_choice_shows_its_margin_over_the_runner_up_with_its_paired_standard_error(tmp_path):
    """Trial 2 wins on both tuning seeds (50 and 56 %) over trial 1 (45 and 47 %): a margin of 7
    points whose paired t interval (1 degree of freedom) includes 0 — within noise. Expected values
    from scipy's paired t test, not the package."""
    accuracy = {(0, 100): 0.30, (0, 101): 0.30, (1, 100): 0.45, (1, 101): 0.47, (2, 100): 0.50, (2, 101): 0.56}
    config, tables = tuned_design(tmp_path, {}, {}, trial_accuracy=lambda trial: accuracy[(trial.index, trial.seed)])
    choice = tables[tuning.CHOICE_TABLE]
    expected = stats.ttest_rel([50.0, 56.0], [45.0, 47.0])
    assert choice["margin"].to_numpy() == pytest.approx([7.0] * len(choice))
    assert choice["margin_se"].to_numpy() == pytest.approx([7.0 / expected.statistic] * len(choice))
    interval = expected.confidence_interval(0.95)
    assert choice["margin_low"].to_numpy() == pytest.approx([interval.low] * len(choice)) and interval.low < 0
    assert choice["within_noise"].all()
    sentence = next(s for s in report.tuning_sentences(tables, config) if s.startswith("Chosen values"))
    adam = choice.set_index("optimizer").loc["adam"]
    assert f"optimizer=adam(lr={adam['lr']:g}): +7.0 ± 2.0 over lr {adam['runner_up_lr']:.3g}, within noise" in sentence
    assert "4 of 4 choices are within noise" in sentence and "the standard error of the 2 per-seed differences" in sentence
    assert "4 of 4 choices are within noise of their runner-up" in report.summary_findings(tables, config)[0]


L2 = {"name": "l2", "strength": 0.001}
SECOND = {"technique": "l2", "parameter": "strength", "range": [1e-5, 1e-1]}


def test_a_tuned_level_is_named_by_the_values_its_runs_ran_wherever_a_user_could_copy_it(tmp_path):
    """The l2 level is configured at strength 0.001 and tuned to other values: the best
    configuration, the comparisons table and the findings name those values and the lr they ran."""
    from trickbench.report.findings import best_configuration, top_findings
    from trickbench.report.html import comparison_rows

    factors = {"regularizer": ["none", L2], "optimizer": [{"name": "momentum", "lr": 0.05}, ADAM_LEVEL]}
    config, tables = tuned_design(tmp_path, {}, {("regularizer", "l2(strength=0.001)"): 8.0}, factors=factors,
                                  second=SECOND, trials=4)  # a 2 × 2 grid of lr × strength where l2 is used
    choice = tables[tuning.CHOICE_TABLE].set_index("regularizer").loc["l2(strength=0.001)"]
    assert choice["value"] != 0.001  # tuned away from the configured strength
    ran = f"l2(strength={choice['value']:g}) at lr {choice['lr']:.3g}"
    runs = tables["runs"][tables["runs"]["role"] == "tuned"]
    best = best_configuration(runs, config, lambda levels: report.ran_variant(tables, config, levels))
    assert best["variant"] == f"regularizer={ran}"
    names = report.ran_names(tables, config)
    row = next(r for r in comparison_rows(runs, config, names) if r[0] == "regularizer")
    assert row[1] == ran and row[4].startswith("none at lr ")
    assert any(f"regularizer {ran} beats the baseline none at lr" in line for line in top_findings(runs, config, names))
    assert "l2(strength=0.001)" not in best["variant"] + " ".join(best["versus"])


ADAM_LEVEL = {"name": "adam", "lr": 0.001}


def test_a_level_that_failed_to_tune_is_named_in_the_summary_counts_and_the_factor_grid(tmp_path):
    """sgd's every trial stayed at chance: it has tuning trials but no tuned run. The design's count
    of configurations, the factor grid's table and the findings name it as failed to tune."""
    from trickbench.report.findings import top_findings
    from trickbench.report.grid import effects_table
    from trickbench.report.html import COMPARISON_COLUMNS, comparison_rows, grid_summary

    config, tables = tuned_design(tmp_path, {SGD: -5.0}, {}, failed_cells=("sgd",))
    runs = tables["runs"]
    tuned_sgd = (runs["role"] == "tuned") & (runs["optimizer"] == "sgd")
    trials = runs[(runs["role"] == "grid") & (runs["optimizer"] == "sgd")].assign(role="tuning")
    trials["run_id"] = "x" + trials["run_id"].str[1:]  # its trial runs, which the collect step lists too
    runs = pd.concat([runs[~tuned_sgd], trials], ignore_index=True)
    runs.to_csv(tmp_path / "runs.csv", index=False)
    tables = Tables(tmp_path)
    compared = runs[runs["role"] == "tuned"]

    effects = effects_table(runs, config).set_index(["factor", "level"])
    assert effects.loc[("optimizer", "sgd"), "failed"] and effects.loc[("optimizer", "sgd"), "failures"] == "failed to tune"
    sgd = next(row for row in comparison_rows(runs, config) if row[:2] == ["optimizer", "sgd"])
    assert sgd[list(COMPARISON_COLUMNS).index("detectable")] == "failed to tune"
    design = grid_summary(compared, config, 0, report.failed_to_tune(tables, config))["design"]
    assert design.startswith("ablation: 4 configurations × seeds") and "1 of them failed to tune" in design
    assert "optimizer=sgd" in design
    assert any(line.startswith("Failed to tune") and "optimizer=sgd" in line for line in top_findings(runs, config))


def test_swap_differences_leave_out_the_runs_at_chance_that_the_ranking_means_leave_out(tmp_path):
    """One tuned adam run ends at chance (12 % on 40 validation images): the ranking's mean drops it,
    and so must the momentum − adam difference (today's rule kept it: ok status, finite score)."""
    config, tables = tuned_design(tmp_path, {ADAM: 5.0}, {ADAM: -5.0})
    runs = tables["runs"]
    dead = runs.index[(runs["role"] == "tuned") & (runs["optimizer"] == "adam")][0]
    runs.loc[dead, ["final_val_acc", "final_test_acc"]] = 0.12
    runs.to_csv(tmp_path / "runs.csv", index=False)
    tables = Tables(tmp_path)
    ranking = report.ranking_table(tables, config).set_index(["ranking", "level"])
    assert ranking.loc[("tuned", "adam"), "n"] == 2
    agreement = report.agreement_table(tables, config, report.ranking_table(tables, config))
    pair = agreement[(agreement["a"] == "adam") & (agreement["b"] == "momentum")].iloc[0]
    assert pair["tuned_n"] == "2 v 3"
    assert pair["tuned_diff"] == pytest.approx(ranking.loc[("tuned", "adam"), "mean"] - ranking.loc[("tuned", "momentum"), "mean"])
