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


def tuned_design(tmp_path, fixed_effects, tuned_effects, tuned_status=lambda spec: "ok", failed_cells=()):
    """runs.csv of a tuned ablation (3 seeds at the fixed rates, 3 at tuned ones, each with known
    effects in points), with the tuning tables of its trials; `failed_cells`: optimizer names whose
    every trial stayed at chance."""
    config = grid_config(TINY_CONFIG, {"kind": "ablation", "seeds": [0, 1, 2], "factors": FACTORS,
                                       "tuning": {"enabled": True, "trials": 3, "lr_decades": 1.0}})
    fixed = write_tables(tmp_path / "fixed", config, fixed_effects, seed=0).assign(role="grid")
    tuned = write_tables(tmp_path / "tuned", config, tuned_effects, status=tuned_status, seed=1).assign(role="tuned")
    tuned["run_id"] = "t" + tuned["run_id"].str[1:]  # distinct runs, as tuned runs are
    epochs = [pd.read_csv(tmp_path / "fixed" / "epochs.csv"), pd.read_csv(tmp_path / "tuned" / "epochs.csv")]
    epochs[1]["run_id"] = "t" + epochs[1]["run_id"].str[1:]
    config = plan_from_config(config).config
    rows = []
    for trial in tuning.trials(config):
        accuracy = 0.12 if trial.cell.optimizer.name in failed_cells else 0.3 + 0.1 * trial.index
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
