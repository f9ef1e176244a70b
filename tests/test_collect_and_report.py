"""Collect and report on real (tiny) runs: tables skip unfinished runs, figures hold the data they
plot, the HTML embeds them. The runs are trained once per module on synthetic 8×8 images."""

from __future__ import annotations

import copy
import json
import math

import pandas as pd
import pytest

from conftest import TINY_CONFIG
from trickbench.collect import baseline_labels, collect, write_tables
from trickbench.config import validate_config
from trickbench.design import expand
from trickbench.report.render import enabled_figures, render
from trickbench.report.grid import effects_table
from trickbench.report.html import write_report
from trickbench.stats import mean_ci
from trickbench.run import Execution, train_run


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Four finished runs (2 activations × 2 seeds), one folder without a summary, tables, figures."""
    root = tmp_path_factory.mktemp("results")
    config = copy.deepcopy(TINY_CONFIG)
    config["design"]["seeds"] = [0, 1]
    config = validate_config(config)
    specs = expand(config)
    for spec in specs:
        train_run(spec, root / "runs" / spec.run_id, Execution(device="cpu"))
    (root / "runs" / "0123456789ab").mkdir()  # an unfinished run: spec, no summary
    (root / "runs" / "0123456789ab" / "summary.json").write_text('{"status": ')  # and a torn file
    tables = collect(sorted((root / "runs").iterdir()), baseline_labels(config))
    write_tables(tables, root / "tables" / "runs.csv", root / "tables" / "epochs.csv")
    return root, config, specs, tables


def test_collect_skips_and_names_runs_without_a_valid_summary(results):
    _, _, specs, tables = results
    assert list(tables.skipped) == ["0123456789ab"]  # run folder -> why it was skipped
    assert sorted(tables.runs["run_id"]) == sorted(s.run_id for s in specs)


def test_a_run_folder_listed_twice_is_one_row(results):
    """A tuned run whose chosen values are the configured ones is the grid's run (role grid+tuned):
    the collect rule lists its folder among the grid's and among the tuned ones."""
    root, config, specs, _ = results
    folders = [root / "runs" / spec.run_id for spec in specs]
    tables = collect([*folders, folders[0], folders[1]], baseline_labels(config))
    assert sorted(tables.runs["run_id"]) == sorted(s.run_id for s in specs)
    assert len(tables.epochs) == len(specs) * 2


def test_run_rows_carry_factor_labels_metrics_and_provenance(results):
    root, _, specs, _ = results
    runs = pd.read_csv(root / "tables" / "runs.csv")
    assert list(runs.columns[:5]) == ["run_id", "seed", "varies", "data", "model"]
    assert set(runs["varies"]) == {"baseline", "activation"}
    assert {"torch_version", "git_commit", "device_name", "final_test_acc", "best_val_acc"} <= set(runs.columns)
    for spec in specs:
        row = runs[runs.run_id == spec.run_id].iloc[0]
        assert json.loads(row["spec_json"]) == spec.to_dict()
    epochs = pd.read_csv(root / "tables" / "epochs.csv")
    assert len(epochs) == len(specs) * 2 and epochs["epoch"].tolist()[:2] == [1, 2]


def test_factor_effects_figure_holds_the_plotted_means_and_intervals(results):
    root, config, _, _ = results
    render("factor_effects", root / "tables", config, root / "fig.png", root / "fig.csv")
    plotted = pd.read_csv(root / "fig.csv")
    runs = pd.read_csv(root / "tables" / "runs.csv")
    for level in ("relu", "tanh"):
        row = plotted[(plotted.factor == "activation") & (plotted.level == level)].iloc[0]
        mean, half = mean_ci(100 * runs.loc[runs.activation == level, "final_test_acc"])
        assert row["n"] == 2 and row["mean"] == pytest.approx(mean)
        assert row["ci_high"] - row["mean"] == pytest.approx(half)
    assert (root / "fig.png").read_bytes().startswith(b"\x89PNG")


def test_effects_table_is_empty_when_nothing_varies(results):
    _, config, _, tables = results
    assert effects_table(tables.runs[tables.runs.activation == "relu"], config).empty


@pytest.mark.parametrize("name", ["learning_curves", "generalization_gap"])
def test_each_grid_figure_renders_with_its_data(results, name):
    root, config, _, _ = results
    render(name, root / "tables", config, root / f"{name}.png", root / f"{name}.csv")
    data = pd.read_csv(root / f"{name}.csv")
    assert len(data) > 0 and (root / f"{name}.png").stat().st_size > 10_000


def test_report_embeds_figures_and_lists_every_run(results):
    root, config, specs, _ = results
    figures = root / "figures"
    names = [figure.name for figure in enabled_figures(config)]
    assert {"factor_effects", "learning_curves", "generalization_gap"} <= set(names)
    for name in names:
        render(name, root / "tables", config, figures / f"{name}.png", figures / f"{name}.csv")
    write_report(root / "tables", figures, config, root / "report.html")
    html = (root / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(names)
    assert all(spec.run_id in html for spec in specs)


def test_mean_ci_matches_the_t_interval():
    mean, half = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.302652729911275 * 1.0 / math.sqrt(3))
    assert math.isnan(mean_ci([5.0])[1]) and math.isnan(mean_ci([])[0])
    assert mean_ci([1.0, float("nan"), 3.0])[0] == 2.0
