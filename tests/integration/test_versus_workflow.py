"""`snakemake --configfile examples/lion_versus.yaml` at a tiny size, through the real workflow:
the plugin's Lion and the standard levels each tuned, their seeds trained at the chosen rates, and
the "Where lion ranks" section's figure and text — whose numbers are recomputed here from runs.csv
with scipy (paired t, Holm's step-down written out), not with the code under test."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
import yaml
from scipy import stats

from conftest import REPO, workspace
from trickbench.config import load_config
from trickbench.plugins import unload_all
from trickbench.report import versus as report
from trickbench.report.figures import Tables

pytestmark = pytest.mark.integration

#: the example at a tiny size: synthetic 8×8 images, a 16-unit MLP, 2 epochs, 2 seeds, and of the
#: standard levels adam beside the baseline's momentum: 3 levels × (2 trials on 1 tuning seed + 2 seeds fixed + 2 tuned);
#: the 12 runs before the tuning checkpoint in one training process
TINY = ["data={source: {name: synthetic, n_train: 300, n_test: 100, size: 8}, val_fraction: 0.2}",
        "model={name: mlp, depth: 1, width: 16}", "train={epochs: 2, batch_size: 32}",
        "design={seeds: [0, 1], reference_seeds: same, versus: {levels: [adam]}, tuning: {trials: 2, seeds: 1}}",
        "execution={runs_per_job: 12}"]
LION = "lion(lr=0.0003, weight_decay=0.03)"


def snakemake(where: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=where, capture_output=True, text=True,
                          timeout=600)


def _paired(a: pd.Series, b: pd.Series) -> tuple[float, float, float]:
    """(se, p, df) of scipy's paired t of a − b."""
    differences = (a - b).to_numpy()
    return differences.std(ddof=1) / np.sqrt(len(differences)), stats.ttest_rel(a, b).pvalue, len(differences) - 1


def holm_alphas(p_values: list[float], alpha: float = 0.05) -> list[float]:
    """Each comparison's interval level by Holm's step-down: a rejection's own step, the stopping
    step for the rest."""
    m, ordered = len(p_values), sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = 0
    for step, i in enumerate(ordered):
        if p_values[i] > alpha / (m - step):
            break
        rejected += 1
    return [alpha / (m - ordered.index(i)) if ordered.index(i) < rejected else alpha / (m - rejected)
            for i in range(m)]


def section_text(where: Path) -> list[str]:
    """The section's sentences from the workflow's tables, under the config the workflow ran."""
    overrides = {key: yaml.safe_load(value) for key, value in (item.split("=", 1) for item in TINY)}
    try:
        config = load_config(where / "config.yaml", where / "examples" / "lion_versus.yaml", overrides=overrides)
        assert report.title(config) == "Where lion ranks"
        return report.section_lines(Tables(where / "results" / "tables"), config)
    finally:
        unload_all()  # registries are process-wide: leave them with the built-ins alone


def test_lion_versus_the_catalogue_ranks_lion_with_the_reports_statistics(tmp_path: Path):
    where = workspace(tmp_path)
    shutil.copytree(REPO / "examples", where / "examples")
    # the section's figure and its data (the page is rendered in tests/report/test_versus_report.py:
    # every other figure would triple this test's time)
    result = snakemake(where, "reports/figures/versus_ranks.png", "--cores", "2", "--configfile",
                       "examples/lion_versus.yaml", "--config", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]

    runs = pd.read_csv(where / "results" / "tables" / "runs.csv", keep_default_na=False)
    assert set(runs["role"]) <= {"grid", "tuning", "tuned", "grid+tuned"} and (runs["role"] == "tuning").sum() == 6
    tuned = runs[runs["role"].str.contains("tuned")]
    assert sorted(set(tuned["optimizer"])) == ["adam", LION, "momentum"] and (tuned["status"] == "ok").all()
    accuracy = lambda level: (100 * tuned[tuned["optimizer"] == level].set_index("seed")["final_test_acc"].astype(float)).sort_index()
    levels = ["momentum", "adam"]
    # one OLS over the three levels with seeds as blocks (3 cells × 2 seeds, 2 residual df), written here;
    # where Brown–Forsythe rejects one variance the report falls back to each comparison's paired t
    frame = pd.DataFrame([{"level": level, "seed": seed, "value": value}
                          for level in [LION, *levels] for seed, value in accuracy(level).items()])
    fit = smf.ols(f'value ~ C(level, Treatment("{LION}")) + C(seed)', frame).fit()
    residuals = [fit.resid[frame["level"] == level] for level in [LION, *levels]]
    equal = not stats.levene(*residuals, center="median").pvalue < 0.05  # NaN (no spread): not rejected
    names = [f'C(level, Treatment("{LION}"))[T.{level}]' for level in levels]
    if equal:  # LION − level = −(level's coefficient)
        found = [(-fit.params[name], fit.bse[name], fit.pvalues[name], fit.df_resid) for name in names]
    else:
        found = [(accuracy(LION).mean() - accuracy(level).mean(), *_paired(accuracy(LION), accuracy(level)))
                 for level in levels]
    alphas = holm_alphas([p for _, _, p, _ in found])

    plotted = pd.read_csv(where / "reports" / "figures" / "versus_ranks.csv").set_index("level")
    assert plotted.index[0] == LION and plotted.loc[LION, "is_challenger"]
    for level, (diff, se, _, df), alpha in zip(levels, found, alphas):
        row, half = plotted.loc[level], stats.t.ppf(1 - alpha / 2, df) * se
        assert row["test"] == ("pooled t (3 cells × 2 seeds OLS, df=2)" if equal else "paired t")
        assert row["family_size"] == 2 and row["challenger_n"] == 2
        assert row["diff"] == pytest.approx(accuracy(LION).mean() - accuracy(level).mean())
        assert (row["diff_ci_low"], row["diff_ci_high"]) == pytest.approx((diff - half, diff + half))
        assert bool(row["detectable"]) == (diff - half > 0 or diff + half < 0)
    means = {level: accuracy(level).mean() for level in [LION, *levels]}
    expected_rank = 1 + sum(mean > means[LION] for mean in means.values())
    assert plotted.loc[LION, "rank"] == expected_rank

    text = " ".join(section_text(where))
    assert f"lion ranks {expected_rank} of 3 by mean final test accuracy ({means[LION]:.1f} %, 2 seeds)" in text
    for level, (diff, low, high) in {level: (plotted.loc[level, "diff"], plotted.loc[level, "diff_ci_low"],
                                             plotted.loc[level, "diff_ci_high"]) for level in levels}.items():
        interval = f"95 % CI {low:+.1f} to {high:+.1f}".replace("-", "−")
        assert interval in text and "Holm-corrected over 2 comparisons" in text
        if low <= 0 <= high:
            assert f"lion vs {level}" in text and "no detectable difference with 2 seeds" in text
    assert np.isnan(plotted.loc[LION, "p_first"])  # 2 seeds: a bootstrap's P(first) is withheld
    assert "how often it would rank first is not stated below 20 seeds" in text
