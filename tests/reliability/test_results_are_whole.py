"""No partial file is ever taken for a result: writes are atomic (a killed writer leaves the old
file or none, never half of one), and the collect step skips — and lists, with the reason — every
run folder without a valid summary. Every status a run ends with (ok, diverged, exploded, …) is a
result: it reaches runs.csv and is counted."""

from __future__ import annotations

import copy
import shutil
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from conftest import TINY_CONFIG
from run_helpers import subprocess_env, tiny_specs
from trickbench.atomic import atomic_open, write_json
from trickbench.collect import collect, collect_into
from trickbench.run import Execution, load_summary, read_summary, remove_stale_temporaries, train_run


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """Two finished runs to copy and damage."""
    root = tmp_path_factory.mktemp("finished")
    specs = tiny_specs()
    for spec in specs:
        train_run(spec, root / spec.run_id, Execution(device="cpu"))
    return root, specs


def test_a_writer_killed_mid_write_leaves_no_partial_file(tmp_path):
    """A real process writes half of a summary through `atomic_open` and is SIGKILLed."""
    target = tmp_path / "summary.json"
    code = textwrap.dedent(f"""
        import os, signal
        from trickbench.atomic import atomic_open
        with atomic_open({str(target)!r}) as handle:
            handle.write('{{"run_id": "abc", "sta')
            handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    result = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), timeout=60)
    assert result.returncode == -signal.SIGKILL
    assert not target.exists() and read_summary(tmp_path) is None
    leftovers = list(tmp_path.glob(".summary.json.*.tmp"))
    assert len(leftovers) == 1  # the killed writer's temporary file, never read as a result
    remove_stale_temporaries(tmp_path)
    assert not any(tmp_path.iterdir())


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "epochs.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as handle:
            handle.write("new, half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["epochs.csv"]


DAMAGE = {
    "unfinished": (lambda d: (d / "summary.json").unlink(), "no summary.json (unfinished or failed)"),
    "truncated summary": (lambda d: (d / "summary.json").write_text((d / "summary.json").read_text()[:50]),
                          "summary.json unreadable (JSONDecodeError: "),
    "summary without status": (lambda d: write_json(d / "summary.json", {"run_id": d.name, "spec": {}}),
                               "summary.json lacks run_id, status or spec"),
    "summary of an older format": (
        lambda d: write_json(d / "summary.json", {**load_summary(d), "spec": {**load_summary(d)["spec"], "spec_version": 0}}),
        "summary.json has an invalid spec (ConfigError: config error at 'spec.spec_version': got 0; allowed: 3)"),
    "epochs.csv missing": (lambda d: (d / "epochs.csv").unlink(), "epochs.csv unreadable (FileNotFoundError: "),
}


def test_collect_skips_and_lists_every_run_without_a_valid_summary(finished, tmp_path):
    root, specs = finished
    (tmp_path / "runs").mkdir()
    shutil.copytree(root / specs[0].run_id, tmp_path / "runs" / "good")
    for name, (damage, _) in DAMAGE.items():
        shutil.copytree(root / specs[1].run_id, tmp_path / "runs" / name)
        damage(tmp_path / "runs" / name)
    tables = collect_into(sorted((tmp_path / "runs").iterdir()), tmp_path / "runs.csv", tmp_path / "epochs.csv",
                          None, tmp_path / "collect.log", skipped_csv=tmp_path / "skipped.csv")
    assert list(pd.read_csv(tmp_path / "runs.csv")["run_id"]) == [specs[0].run_id]
    skipped = pd.read_csv(tmp_path / "skipped.csv")
    assert list(skipped.columns) == ["run_id", "reason"] and sorted(skipped["run_id"]) == sorted(DAMAGE)
    log = (tmp_path / "collect.log").read_text()
    for name, (_, reason) in DAMAGE.items():
        assert skipped.set_index("run_id").loc[name, "reason"].startswith(reason), name
        assert f"skipped run {name}: {reason}" in log
    assert "collected 1 run(s)" in log and f"{len(DAMAGE)} skipped" in log


def test_nothing_skipped_still_writes_an_empty_list(finished, tmp_path):
    root, specs = finished
    collect_into([root / s.run_id for s in specs], tmp_path / "runs.csv", tmp_path / "epochs.csv", None,
                 tmp_path / "collect.log", skipped_csv=tmp_path / "skipped.csv")
    skipped = pd.read_csv(tmp_path / "skipped.csv")
    assert list(skipped.columns) == ["run_id", "reason"] and skipped.empty


def test_a_diverging_run_is_a_result(tmp_path):
    """A learning rate that sends the loss to infinity: status `diverged`, metrics left empty, a row."""
    spec = tiny_specs(baseline={**TINY_CONFIG["baseline"], "optimizer": {"name": "sgd", "lr": 1e12}},
                      design={"kind": "ablation", "seeds": [0], "factors": {}})[0]
    summary = train_run(spec, tmp_path / spec.run_id, Execution(device="cpu"))
    assert summary["status"] == "diverged" and summary["final_train_loss"] is None
    runs = collect([tmp_path / spec.run_id]).runs
    assert runs["status"].tolist() == ["diverged"] and runs["final_train_loss"].isna().all()


@pytest.mark.parametrize("statuses", [["ok", "ok", "diverged"], ["exploded", "ok", "diverged"], ["exploded", "exploded"]])
def test_every_status_reaches_runs_csv_and_is_counted(finished, tmp_path, statuses):
    root, specs = finished
    dirs = []
    for i, status in enumerate(statuses):
        run_dir = tmp_path / f"run{i}"
        shutil.copytree(root / specs[i % len(specs)].run_id, run_dir)
        write_json(run_dir / "summary.json", {**load_summary(run_dir), "status": status})
        dirs.append(run_dir)
    collect_into(dirs, tmp_path / "runs.csv", tmp_path / "epochs.csv", None, tmp_path / "collect.log")
    counts = pd.read_csv(tmp_path / "runs.csv")["status"].value_counts().to_dict()
    assert counts == pd.Series(statuses).value_counts().to_dict()


def test_the_report_counts_the_runs_left_out(finished, tmp_path):
    from trickbench.config import validate_config
    from trickbench.report.html import grid_summary

    root, specs = finished
    runs = collect([root / s.run_id for s in specs]).runs
    config = validate_config(copy.deepcopy(TINY_CONFIG))
    assert grid_summary(runs, config, skipped=0)["runs"] == "2, all trained to the end"
    assert grid_summary(runs, config, skipped=3)["runs"] == (
        "2, all trained to the end; 3 more left out, without a valid summary (results/tables/skipped.csv says why)")
