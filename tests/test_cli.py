"""The command line as a user meets it: help with examples, a plan without training, one run
trained by id with its progress, shown by a prefix of its id, a report re-drawn from tables, and
one clear line (exit status 2) for every mistake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import TINY_CONFIG
from synthetic_results import grid_config, write_tables
from trickbench.cli import build_parser, main
from trickbench.spec import RunSpec
from trickbench.workflow import plan_from_config

COMMANDS = ["train", "plan", "show", "techniques", "report"]


@pytest.fixture
def configfile(tmp_path, tiny_config) -> Path:
    """The tiny 2-run ablation on synthetic 8×8 images, as a YAML file, without studies."""
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**tiny_config, "studies": "none"}))
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_top_level_help_lists_every_command_with_examples(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    for command in COMMANDS:
        assert f"\n    {command} " in out
    assert "examples:" in out and "trickbench plan" in out and "snakemake --cores 2" in out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_says_what_it_does_with_examples(capsys, command):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    doc = build_parser()._subparsers._group_actions[0].choices[command].description
    assert doc.splitlines()[0] in out
    examples = out.split("examples:\n", 1)[1]
    assert all(line.strip().startswith("trickbench " + command) for line in examples.splitlines() if line.strip())


def test_plan_counts_the_runs_and_lists_them_without_training(capsys, configfile, tmp_path):
    status, out, _ = run(capsys, "plan", "--configfile", str(configfile), "--results", str(tmp_path / "results"))
    lines = out.splitlines()
    assert status == 0
    assert lines[0] == "2 run(s): 2 in the grid (design 'ablation', seeds [0])"
    assert lines[1] == f"0 done, 2 to train (under {tmp_path / 'results' / 'runs'})"
    assert "activation=tanh" in lines[3] and "not started" in lines[3]
    assert not (tmp_path / "results").exists()


def test_plan_says_how_many_training_jobs_train_the_runs(capsys, configfile, tmp_path):
    _, out, _ = run(capsys, "plan", "--configfile", str(configfile), "--results", str(tmp_path),
                    "--config", "execution={runs_per_job: 3}", "design={kind: ablation, seeds: [0, 1], factors: {activation: [relu, tanh]}}")
    assert out.splitlines()[1].endswith("4 to train (under " + str(tmp_path / "runs") + "); 2 training jobs of up to 3 runs each")


def test_plan_ids_are_the_workflows_run_ids(capsys, configfile, tiny_config):
    status, out, _ = run(capsys, "plan", "--configfile", str(configfile), "--ids")
    assert out.split() == plan_from_config({**tiny_config, "studies": "none"}).grid


def test_plan_limits_its_listing(capsys, configfile):
    _, out, _ = run(capsys, "plan", "--configfile", str(configfile), "--limit", "1")
    assert out.splitlines()[-1] == "  … and 1 more (--limit N lists more, --ids lists every id)"


@pytest.fixture
def trained(capsys, configfile, tmp_path, monkeypatch):
    """The tiny config's baseline trained by `trickbench train --run-id <prefix>` in tmp_path."""
    monkeypatch.chdir(tmp_path)
    run_id = plan_from_config(yaml.safe_load(configfile.read_text())).grid[0]
    status, out, err = run(capsys, "train", "--run-id", run_id[:6], "--configfile", str(configfile))
    assert status == 0, err
    return run_id, err


def test_train_by_id_shows_its_progress_and_writes_the_run(trained, tmp_path):
    run_id, log = trained
    assert (tmp_path / "results" / "runs" / run_id / "summary.json").is_file()
    assert "epoch 1/2  train_loss" in log and "epoch 2/2  train_loss" in log and "img/s" in log
    assert f"run {run_id} finished: status ok" in log


def test_show_by_prefix_gives_spec_status_and_metrics(capsys, trained, configfile):
    run_id, _ = trained
    status, out, _ = run(capsys, "show", run_id[:4], "--configfile", str(configfile))
    lines = dict(line.split(None, 1) for line in out.splitlines()[1:])
    assert status == 0 and out.startswith(f"run {run_id}")
    assert lines["status"] == "ok" and lines["activation"] == "relu" and lines["seed"] == "0"
    assert lines["final"].startswith("train ") and "test" in lines["final"] and "%" in lines["final"]
    assert lines["epochs"] == "2 trained"


def test_show_json_is_the_spec_itself(capsys, trained):
    run_id, _ = trained
    _, out, _ = run(capsys, "show", run_id, "--json")
    assert RunSpec.from_dict(json.loads(out)).run_id == run_id


def test_show_a_planned_run_that_has_not_started(capsys, configfile, tmp_path):
    run_id = plan_from_config(yaml.safe_load(configfile.read_text())).grid[1]
    status, out, _ = run(capsys, "show", run_id, "--configfile", str(configfile), "--results", str(tmp_path))
    assert status == 0 and "status         not started" in out and "activation     tanh" in out


def test_report_redraws_figures_and_page_from_tables(capsys, configfile, tmp_path):
    config = grid_config(yaml.safe_load(configfile.read_text()), TINY_CONFIG["design"])
    write_tables(tmp_path / "tables", config)
    status, _, err = run(capsys, "report", "--configfile", str(configfile), "--tables", str(tmp_path / "tables"),
                         "--figures", str(tmp_path / "figures"), "--out", str(tmp_path / "report.html"),
                         "--config", "report={title: Re-drawn}")
    assert status == 0, err
    assert "<title>Re-drawn</title>" in (tmp_path / "report.html").read_text()
    assert {p.name for p in (tmp_path / "figures").iterdir()} >= {"factor_effects.png", "factor_effects.csv"}


@pytest.mark.parametrize("argv, message", [
    (["report", "--tables", "nowhere"], "no runs table under nowhere: run the workflow first"),
    (["show", "f"], "a prefix of one run"),
    (["show", "zzzz"], "'zzzz'; allowed: the id (or a prefix) of a run"),
    (["train", "--spec", "{not json"], "config error at '--spec'"),
    (["plan", "--config", "design"], "config error at '--config': got 'design'; allowed: KEY=VALUE pairs"),
    (["plan", "--configfile", "missing.yaml"], "config error at '--configfile': got 'missing.yaml'"),
    (["techniques", "colour"], "config error at 'family': got 'colour'"),
])
def test_mistakes_get_one_line_and_status_2(capsys, configfile, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    for prefix in ("f0", "f1"):  # two runs sharing the prefix 'f'
        (tmp_path / "results" / "runs" / f"{prefix}0000000000").mkdir(parents=True)
        (tmp_path / "results" / "runs" / f"{prefix}0000000000" / "spec.json").write_text("{}")
    if argv[0] == "report":
        argv = [*argv, "--configfile", str(configfile)]
    status, _, err = run(capsys, *argv)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("trickbench: error: ") and message in err
