"""The "Where <technique> ranks" section of a versus design, on synthetic tuned runs with known
effects: the challenger against each standard level by the pooled blocked model (a statsmodels OLS
written here) with Holm's intervals worked out by hand, its rank, levels that failed to tune or to train named and left out, and the
page (its title, figure and the figure's data)."""

from __future__ import annotations

import copy
import html
import math
import re

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from conftest import TINY_CONFIG
from synthetic_results import grid_config, render_report, write_tables
from trickbench import tuning
from trickbench.report import versus as report
from trickbench.report.figures import Tables
from trickbench.report.render import enabled_figures
from trickbench.stats import ChanceTest
from trickbench.workflow import plan_from_config

CHALLENGER = {"name": "adam", "lr": 0.003}  # a built-in challenger: no plugin to load in a unit test
LABEL = "adam(lr=0.003)"
VERSUS = {"family": "optimizer", "technique": CHALLENGER, "levels": ["sgd", "nesterov", "rmsprop"]}


def versus_design(folder, tuned_effects, tuned_status=lambda spec: "ok", failed_cells=()):
    """runs.csv of a versus design (3 seeds at the fixed rates and 3 tuned, the tuned ones with
    known effects in points) and its tuning tables; `failed_cells`: optimizers none of whose trials
    trained."""
    config = grid_config(TINY_CONFIG, {"kind": "versus", "seeds": [0, 1, 2], "versus": VERSUS,
                                       "tuning": {"enabled": True, "trials": 3, "lr_decades": 1.0}})
    fixed = write_tables(folder / "fixed", config, {}, seed=0).assign(role="grid")
    tuned = write_tables(folder / "tuned", config, tuned_effects, status=tuned_status, seed=1).assign(role="tuned")
    tuned["run_id"] = "t" + tuned["run_id"].str[1:]
    tuned = tuned[~tuned["optimizer"].isin(failed_cells)]  # a level that failed to tune has no tuned runs
    config = plan_from_config(config).config
    rows = []
    for trial in tuning.trials(config):
        accuracy = 0.12 if trial.cell.optimizer.name in failed_cells else 0.3 + 0.1 * trial.index
        summary = {"status": "ok", "final_val_acc": accuracy, "final_test_acc": accuracy, "epochs_completed": 2}
        rows.append(tuning.trial_row(config, trial, summary, ChanceTest(10, 40)))
    trials = pd.DataFrame(rows, columns=tuning.TRIAL_COLUMNS)
    trials.to_csv(folder / "tuning_trials.csv", index=False)
    tuning.choice_table(config, trials).to_csv(folder / "tuning.csv", index=False)
    pd.concat([fixed, tuned]).to_csv(folder / "runs.csv", index=False)
    pd.concat([pd.read_csv(folder / "fixed" / "epochs.csv"), pd.read_csv(folder / "tuned" / "epochs.csv")
               .assign(run_id=lambda e: "t" + e["run_id"].str[1:])]).to_csv(folder / "epochs.csv", index=False)
    return config, Tables(folder)


def holm_intervals(runs: pd.DataFrame, challenger: str, levels: list[str]) -> dict[str, tuple[float, float, float]]:
    """challenger − level per level: (difference, low, high) from one OLS over every level with seeds
    as blocks (statsmodels, the randomized complete block design), at the level Holm's step-down
    gives each comparison among all of them (written out here, not the code under test)."""
    tuned = runs[runs["role"] == "tuned"]
    frame = pd.DataFrame({"level": tuned["optimizer"].astype(str), "seed": tuned["seed"],
                          "value": 100 * tuned["final_test_acc"]})
    frame = frame[frame["level"].isin([challenger, *levels])]
    fit = smf.ols("value ~ C(level) + C(seed)", frame).fit()
    residuals = [fit.resid[frame["level"] == level] for level in [challenger, *levels]]
    assert stats.levene(*residuals, center="median").pvalue >= 0.05  # one variance: the pooled model holds
    tests = {level: fit.t_test(_contrast(fit, challenger, level)) for level in levels}
    p = [float(np.squeeze(tests[level].pvalue)) for level in levels]
    ordered = sorted(range(len(levels)), key=lambda i: p[i])
    m, rejected = len(levels), 0
    for step, i in enumerate(ordered):
        if p[i] > 0.05 / (m - step):
            break
        rejected += 1
    found = {}
    for i, level in enumerate(levels):
        step = ordered.index(i)
        alpha = 0.05 / (m - step) if step < rejected else 0.05 / (m - rejected)
        diff, se = float(np.squeeze(tests[level].effect)), float(np.squeeze(tests[level].sd))
        half = stats.t.ppf(1 - alpha / 2, fit.df_resid) * se
        found[level] = (diff, diff - half, diff + half)
    return found


def _contrast(fit, a: str, b: str) -> np.ndarray:
    """The parameter vector of mean(a) − mean(b) under treatment coding."""
    vector = np.zeros(len(fit.params))
    for level, sign in ((a, 1.0), (b, -1.0)):
        name = f"C(level)[T.{level}]"
        if name in fit.params.index:
            vector[list(fit.params.index).index(name)] += sign
    return vector


def test_the_challenger_against_each_level_is_the_pooled_blocked_model_with_holms_intervals(tmp_path):
    config, tables = versus_design(tmp_path, {("optimizer", LABEL): 6.0, ("optimizer", "sgd"): -4.0,
                                              ("optimizer", "nesterov"): 5.6})
    table = report.versus_table(tables, config).set_index("level")
    assert table.index.tolist()[0] == LABEL and table.loc[LABEL, "is_challenger"]
    assert set(table.index) == {LABEL, "momentum", "sgd", "nesterov", "rmsprop"}
    expected = holm_intervals(tables["runs"], LABEL, ["momentum", "sgd", "nesterov", "rmsprop"])
    for level, (diff, low, high) in expected.items():
        row = table.loc[level]
        assert row["test"] == "pooled t (5 cells × 3 seeds OLS, df=8)" and row["family_size"] == 4 and row["challenger_n"] == 3
        assert (row["diff"], row["diff_ci_low"], row["diff_ci_high"]) == pytest.approx((diff, low, high))
        assert bool(row["detectable"]) == (low > 0 or high < 0)
    assert table.loc["sgd", "detectable"] and not table.loc["nesterov", "detectable"]  # 10 points vs 0.4
    assert table.loc[LABEL, "rank"] in (1, 2) and table.loc["sgd", "rank"] == 5

    lines = report.section_lines(tables, config)
    assert lines[1].startswith(f"adam ranks {int(table.loc[LABEL, 'rank'])} of 5 by mean final test accuracy")
    nesterov = next(line for line in lines if "vs nesterov" in line)
    assert "no detectable difference with 3 seeds" in nesterov and "Holm-corrected over 4 comparisons" in nesterov
    sgd = next(line for line in lines if " sgd " in line)
    assert sgd.startswith(f"adam beats sgd by {expected['sgd'][0]:.1f} points")


def test_levels_that_failed_to_tune_or_to_train_are_named_and_not_ranked(tmp_path):
    config, tables = versus_design(tmp_path, {("optimizer", LABEL): 6.0},
                                   tuned_status=lambda spec: "diverged" if spec.optimizer.name == "sgd" else "ok",
                                   failed_cells=("rmsprop",))
    table = report.versus_table(tables, config).set_index("level")
    assert table.loc["rmsprop", "failed"] == "failed to tune"
    assert table.loc["sgd", "failed"] == "failed to train (3 diverged of 3 runs)"
    for level in ("rmsprop", "sgd"):
        assert math.isnan(table.loc[level, "rank"]) and math.isnan(table.loc[level, "diff"])
    assert table["family_size"].max() == 2  # momentum and nesterov only
    assert table["rank"].dropna().max() == 3
    lines = report.section_lines(tables, config)
    assert "rmsprop is not ranked: failed to tune." in lines and any(l.startswith("sgd is not ranked: failed to train") for l in lines)


def test_a_challenger_that_failed_is_not_ranked_and_nothing_is_compared(tmp_path):
    config, tables = versus_design(tmp_path, {}, failed_cells=("adam",))
    table = report.versus_table(tables, config)
    assert table["diff"].isna().all() and table["family_size"].isna().all()
    assert report.rank_sentence(table, config) == ("adam is not ranked: failed to tune; no difference to the standard "
                                                   "levels is estimated.")


def test_the_page_has_the_section_under_the_techniques_name_with_its_figure_and_data(tmp_path):
    config, tables = versus_design(tmp_path / "tables", {("optimizer", LABEL): 6.0})
    page = render_report(tmp_path / "tables", config, tmp_path / "out").read_text()
    assert "<h2>Where adam ranks</h2>" in page and 'href="#where-adam-ranks"' in page
    assert 'id="figure-versus_ranks"' in page
    assert re.findall(r'<section id="([a-z-]+)"', page)[:2] == ["summary", "where-adam-ranks"]  # it leads
    text = html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))
    assert report.section_lines(tables, config)[1] in text  # the rank, in the section and the summary
    plotted = pd.read_csv(tmp_path / "out" / "figures" / "versus_ranks.csv")
    table = report.versus_table(tables, config)
    assert plotted["level"].tolist() == table["level"].tolist()
    assert plotted[["mean", "diff", "diff_ci_low", "diff_ci_high", "rank"]].to_numpy() == pytest.approx(
        table[["mean", "diff", "diff_ci_low", "diff_ci_high", "rank"]].to_numpy().astype(float), nan_ok=True)


def test_only_a_versus_design_gets_the_section():
    config = copy.deepcopy(TINY_CONFIG)
    assert "versus_ranks" not in [f.name for f in enabled_figures(config)]
    assert report.section_titles(config) == {}
