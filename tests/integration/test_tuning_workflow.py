"""A tuned design through the real Snakemake DAG on tiny synthetic data: before the checkpoint the
DAG holds the grid and the tuning trials only; the checkpoint chooses each level's lr on
validation; the tuned seeds then run at the chosen values, are collected with their role and
known by id to a later plan; the report gets its tuning section; a second run has nothing to do."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import yaml

from conftest import TINY_CONFIG, workspace
from test_workflow import snakemake
from trickbench.config import load_config
from trickbench.workflow import plan_from_config

pytestmark = pytest.mark.integration

#: 2 levels (momentum, the baseline, and Adam) × (1 seed at the fixed rate + 2 trials on the 2 default
#: tuning seeds + 1 tuned seed); the grid and the trials in one training process
TINY_TUNED = {
    **{key: TINY_CONFIG[key] for key in ("data", "model", "train", "baseline")},
    "execution": {"runs_per_job": 10},
    "design": {"kind": "ablation", "seeds": [0],
               "factors": {"activation": ["relu"], "init": ["he_normal"], "norm": ["batch"], "regularizer": ["none"],
                           "optimizer": [{"name": "momentum", "lr": 0.05}, {"name": "adam", "lr": 0.001}]},
               "tuning": {"enabled": True, "trials": 2, "lr_decades": 1.0}},
    "studies": "none",
    "report": {"title": "tiny tuned", "learning_curves": 2},
}
TRAINED = re.compile(r"results/trained/([0-9a-f]{12})")  # each run's marker, a training rule's output


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory):
    where = workspace(tmp_path_factory.mktemp("tuned"))
    (where / "tiny_tuned.yaml").write_text(yaml.safe_dump(TINY_TUNED))
    dry = snakemake(where, "-n", "--configfile", "tiny_tuned.yaml")
    assert dry.returncode == 0, dry.stderr[-3000:]
    result = snakemake(where, "--configfile", "tiny_tuned.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    return where, dry.stdout + dry.stderr


def plan_of(where, tables=None):
    return plan_from_config(load_config(where / "config.yaml", where / "tiny_tuned.yaml"), tables=tables)


def test_before_the_checkpoint_the_dag_trains_the_grid_and_the_trials_only(tuned_run):
    where, dry_run = tuned_run
    plan = plan_of(where)
    assert len(plan.grid) == 2 and len(plan.tuning) == 2 * 2 * 2 and plan.tuned == []
    assert set(TRAINED.findall(dry_run)) == {*plan.grid, *plan.tuning}


def test_the_tuned_seeds_run_at_the_values_chosen_on_validation(tuned_run):
    where, _ = tuned_run
    tables = where / "results" / "tables"
    trials, choice = pd.read_csv(tables / "tuning_trials.csv"), pd.read_csv(tables / "tuning.csv")
    assert len(trials) == 8 and len(choice) == 2 and set(trials["seed"]) == {100, 101}
    for cell, group in trials.groupby("cell"):
        chosen = choice.set_index("cell").loc[cell]
        # the best mean validation accuracy over the tuning seeds among trials trained on both
        # (ties: lower mean validation loss, then the smaller lr), recomputed here from the trials
        usable = group.groupby("lr").filter(lambda runs: runs["trained"].all() and len(runs) == 2)
        means = usable.groupby("lr").agg(acc=("val_acc", "mean"), loss=("val_loss", "mean")).reset_index()
        best = means.sort_values(["acc", "loss", "lr"], ascending=[False, True, True]).iloc[0]
        assert chosen["lr"] == best["lr"] and chosen["val_acc"] == pytest.approx(best["acc"])
        assert bool(chosen["lr_at_edge"])  # two grid points: both ends of the range

    runs = pd.read_csv(tables / "runs.csv")
    assert runs["role"].value_counts().to_dict() == {"tuning": 8, "grid": 2, "tuned": 2}  # chosen ≠ configured lr here
    tuned = runs[runs["role"] == "tuned"]
    assert sorted(tuned["optimizer"]) == ["adam", "momentum"]  # a tuned level keeps its name ...
    lrs = choice.set_index("optimizer")["lr"]
    for row in tuned.to_dict("records"):
        assert row["base_lr"] == lrs[row["optimizer"]]  # ... and runs at its chosen lr
        assert row["seed"] == 0 and row["epochs"] == TINY_CONFIG["train"]["epochs"]
    assert set(runs.loc[runs["role"] == "tuning", "seed"]) == {100, 101}


def test_a_plan_made_after_the_checkpoint_knows_the_tuned_runs_by_id(tuned_run):
    where, _ = tuned_run
    runs = pd.read_csv(where / "results" / "tables" / "runs.csv")
    plan = plan_of(where, tables=where / "results" / "tables")
    assert set(plan.runs) == set(runs["run_id"]) and len(plan.tuned) == 2


def test_the_report_has_the_tuning_section_and_a_second_run_nothing_to_do(tuned_run):
    where, _ = tuned_run
    html = (where / "reports" / "report.html").read_text()
    assert "<h2>Tuning: fixed against tuned learning rates</h2>" in html
    assert "Chosen values, as run, with the margin of each over its runner-up" in html
    assert 'id="figure-tuning_rankings"' in html and 'id="figure-tuning_sensitivity"' in html
    again = snakemake(where, "-n", "--configfile", "tiny_tuned.yaml")
    assert "Nothing to be done" in again.stdout + again.stderr
