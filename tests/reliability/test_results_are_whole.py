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


def edit_summary(run_dir, **values):
    write_json(run_dir / "summary.json", {**load_summary(run_dir), **values})


def cut_epochs(run_dir, keep):
    """epochs.csv cut after `keep` characters from its end (a write cut short by a full disk)."""
    text = (run_dir / "epochs.csv").read_text()
    (run_dir / "epochs.csv").write_text(text[:len(text) - keep])


#: damage done to a finished run's folder (given it and the other run's folder) → the reason it is skipped
DAMAGE = {
    "unfinished": (lambda d, o: (d / "summary.json").unlink(), "no summary.json (unfinished or failed)"),
    "truncated summary": (lambda d, o: (d / "summary.json").write_text((d / "summary.json").read_text()[:50]),
                          "summary.json unreadable (JSONDecodeError: "),
    "summary without status": (lambda d, o: write_json(d / "summary.json", {"run_id": d.name, "spec": {}}),
                               "summary.json lacks run_id, status or spec"),
    "summary of an older format": (
        lambda d, o: edit_summary(d, spec={**load_summary(d)["spec"], "spec_version": 0}),
        "summary.json has an invalid spec (ConfigError: config error at 'spec.spec_version': got 0; allowed: 3)"),
    "epochs.csv missing": (lambda d, o: (d / "epochs.csv").unlink(), "epochs.csv unreadable (FileNotFoundError: "),
    "summary copied from another run": (lambda d, o: shutil.copy(o / "summary.json", d / "summary.json"),
                                        "summary.json names run '{other}', not this folder's {run} (copied from another run?)"),
    "spec of another run under this id": (lambda d, o: edit_summary(d, spec=load_summary(o)["spec"]),
                                          "summary.json's spec has id {other}, not this folder's {run} "
                                          "(its spec was changed or copied)"),
    "a metric written as text": (lambda d, o: edit_summary(d, final_test_acc="0.93"),
                                 "summary.json: final_test_acc is '0.93'; expected a number"),
    "a count written as text": (lambda d, o: edit_summary(d, epochs_completed="2"),
                                "summary.json: epochs_completed is '2'; expected a number"),
    "epochs.csv without its last row": (lambda d, o: cut_epochs(d, len((d / "epochs.csv").read_text().splitlines()[-1]) + 1),
                                        "epochs.csv has 1 row(s); summary.json says epochs_completed 2"),
    "epochs.csv cut mid-row": (lambda d, o: cut_epochs(d, 30), "epochs.csv row 2 is cut short or has extra cells"),
    "epochs.csv with a word for a number": (
        lambda d, o: (d / "epochs.csv").write_text((d / "epochs.csv").read_text().replace("\n2,", "\ntwo,")),
        "epochs.csv row 2: epoch is 'two', not a number"),
    "epochs.csv without a column": (
        lambda d, o: (d / "epochs.csv").write_text((d / "epochs.csv").read_text().replace(",val_acc,", ",val_accuracy,", 1)),
        "epochs.csv lacks column(s) val_acc"),
}


@pytest.mark.parametrize("name", DAMAGE)
def test_collect_skips_and_lists_every_run_that_is_not_what_its_folder_says(finished, tmp_path, name):
    """The damaged run is skipped with its reason, in the log and skipped.csv; the other run stays."""
    root, specs = finished
    good, damaged = tmp_path / "runs" / specs[0].run_id, tmp_path / "runs" / specs[1].run_id
    for spec, folder in zip(specs, (good, damaged)):
        shutil.copytree(root / spec.run_id, folder)
    damage, reason = DAMAGE[name]
    damage(damaged, good)
    reason = reason.format(run=specs[1].run_id, other=specs[0].run_id)
    collect_into([good, damaged], tmp_path / "runs.csv", tmp_path / "epochs.csv", None, tmp_path / "collect.log",
                 skipped_csv=tmp_path / "skipped.csv")
    assert list(pd.read_csv(tmp_path / "runs.csv")["run_id"]) == [specs[0].run_id]
    assert set(pd.read_csv(tmp_path / "epochs.csv")["run_id"]) == {specs[0].run_id}
    skipped = pd.read_csv(tmp_path / "skipped.csv")
    assert list(skipped.columns) == ["run_id", "reason"] and list(skipped["run_id"]) == [specs[1].run_id]
    assert skipped["reason"][0].startswith(reason)
    log = (tmp_path / "collect.log").read_text()
    assert f"skipped run {specs[1].run_id}: {reason}" in log and "collected 1 run(s)" in log and "1 skipped" in log


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
        run_id = specs[i % len(specs)].run_id
        run_dir = tmp_path / f"copy{i}" / run_id  # a run folder is named by its run's id
        shutil.copytree(root / run_id, run_dir)
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


@pytest.mark.parametrize("damage, line", [
    (lambda d: (d / "test_probs.npy").write_bytes((d / "test_probs.npy").read_bytes()[:200]),
     "study ensembles: run {run}: test_probs.npy is unreadable (ValueError: "),
    (lambda d: (d / "summary.json").write_text((d / "summary.json").read_text()[:40]),
     "study ensembles: run {run} is not whole: summary.json unreadable (JSONDecodeError: "),
    (lambda d: (d / "val_logits.npy").unlink(), "study ensembles: run {run} lacks val_logits.npy"),
])
def test_a_study_names_the_damaged_member_and_its_file_in_one_line(finished, tmp_path, damage, line):
    from trickbench.studies.registered import load_all
    from trickbench.studies.run import DamagedMember, check_members

    root, specs = finished
    folders = [tmp_path / spec.run_id for spec in specs]
    for spec, folder in zip(specs, folders):
        shutil.copytree(root / spec.run_id, folder)
    check_members("ensembles", load_all()["ensembles"], folders)  # whole members pass
    damage(folders[1])
    with pytest.raises(DamagedMember) as caught:
        check_members("ensembles", load_all()["ensembles"], folders)
    assert str(caught.value).startswith(line.format(run=specs[1].run_id)) and "\n" not in str(caught.value)
