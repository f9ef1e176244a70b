"""Many runs in one process (`trickbench train-many`, what a workflow job does with
execution.runs_per_job): the same results as one process per run, bit for bit; a job killed
mid-run resumes to the same results; a job whose runs are all finished imports nothing heavy;
one failing run spares the others; seed groups within their stated tolerance, technique by
technique over the whole catalogue."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import TINY_CONFIG
from run_helpers import result_of, run_to_end, subprocess_env, tiny_specs
from trickbench.config import validate_config
from trickbench.data.device_data import prepare
from trickbench.data.sources import SOURCES
from trickbench.design import expand
from trickbench.errors import ConfigError
from trickbench.multirun import JobRun, batches, seed_group_refusal, train_runs, uses_seed_groups
from trickbench.run import Execution, train_run
from trickbench.techniques import FAMILIES
from trickbench.train import seed_group
from trickbench.train.loop import Trainer
from trickbench.train.seed_group import train_seed_group

CPU = torch.device("cpu")
EXECUTION = Execution(device="cpu", threads=1)
#: a seed group's members equal their runs alone up to the rounding of batched kernels, which
#: adaptive optimizers amplify (Adam divides by √v): the tolerance of tests/test_seed_group.py
TOLERANCE = {"rel": 1e-2, "abs": 1e-2}


def specs_of(**sections) -> list:
    """Specs of the tiny synthetic config with `sections` replaced; 3 epochs of 16-image batches."""
    base = {"train": {"epochs": 3, "batch_size": 16},
            "data": {"source": {"name": "synthetic", "n_train": 400, "n_test": 60, "size": 8}, "val_fraction": 0.2}}
    return tiny_specs(**{**base, **sections})


def variety() -> list:
    """Runs that use every source of state a process could leak from one run into the next: the
    global random stream (dropout), augmentation generators, batch-norm buffers, an adaptive
    optimizer, shared data (two seeds) and data prepared anew (another preprocessing)."""
    baseline = dict(TINY_CONFIG["baseline"], regularizer=[{"name": "dropout", "p": 0.2}, "augment"])
    first = specs_of(baseline=baseline, design={"kind": "ablation", "seeds": [0, 1], "factors": {}})
    adam = specs_of(baseline=dict(baseline, optimizer={"name": "adam", "lr": 0.003}, regularizer="label_smoothing"),
                    design={"kind": "ablation", "seeds": [2], "factors": {}})
    whitened = specs_of(baseline=dict(baseline, preprocessing="zca_whitening", norm="none"),
                        design={"kind": "ablation", "seeds": [0], "factors": {}})
    return first + adam + whitened


def many_command(specs, runs_dir: Path, *extra: str) -> list[str]:
    """`trickbench train-many` as the workflow's training rules call it (CPU, one thread)."""
    words = [sys.executable, "-m", "trickbench", "train-many", "--runs-dir", str(runs_dir),
             "--logs-dir", str(runs_dir.parent / "logs"), "--device", "cpu", "--threads", "1", *extra]
    for spec in specs:
        words += ["--spec", spec.canonical_json()]
    return words


@pytest.fixture(scope="module")
def one_process_per_run(tmp_path_factory):
    """Each run of `variety()` trained by its own `trickbench train` process (one run per job)."""
    folder = tmp_path_factory.mktemp("alone")
    results = {}
    for spec in variety():
        run_to_end(spec, folder / spec.run_id)
        results[spec.run_id] = result_of(folder / spec.run_id)
    return results


def test_runs_in_one_process_equal_one_process_per_run_bit_for_bit(one_process_per_run, tmp_path):
    specs = variety()
    job = subprocess.run(many_command(specs, tmp_path / "runs"), env=subprocess_env(), capture_output=True,
                         text=True, timeout=600)
    assert job.returncode == 0, job.stderr[-2000:]
    for spec in specs:
        assert result_of(tmp_path / "runs" / spec.run_id) == one_process_per_run[spec.run_id], spec.run_id
        assert "finished: status ok" in (tmp_path / "logs" / f"{spec.run_id}.log").read_text()  # each run's own log
    assert job.stderr.count("accounting: runs") == len(specs)
    assert not any((tmp_path / "runs" / spec.run_id / "model.pt").exists() for spec in specs)  # weights not asked for


def long_runs() -> list:
    """Three runs of about a second each, so that a kill lands inside the second one."""
    return specs_of(data={"source": {"name": "synthetic", "n_train": 2400, "n_test": 60, "size": 8}, "val_fraction": 0.1},
                    model={"name": "mlp", "depth": 2, "width": 48}, train={"epochs": 5, "batch_size": 16},
                    design={"kind": "ablation", "seeds": [0, 1, 2], "factors": {}})


@pytest.mark.serial  # the kill must land inside the second run: alone, not beside a busy worker
def test_a_job_killed_mid_run_resumes_to_bit_identical_results(tmp_path):
    specs = long_runs()
    runs = tmp_path / "runs"
    first, second = (runs / spec.run_id for spec in specs[:2])
    process = subprocess.Popen(many_command(specs, runs), env=subprocess_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not ((first / "summary.json").exists() and (second / "checkpoint.pt").exists()):
            assert process.poll() is None and time.monotonic() < deadline, "the job ended before it was killed"
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert not (second / "summary.json").exists() and not (runs / specs[2].run_id / "summary.json").exists()
    finished_before = (first / "summary.json").stat().st_mtime_ns

    again = subprocess.run(many_command(specs, runs), env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "job: 3 run(s), 1 already finished, 2 to train" in again.stderr
    assert (first / "summary.json").stat().st_mtime_ns == finished_before  # the finished run was not touched
    assert "resumed from" in (tmp_path / "logs" / f"{specs[1].run_id}.log").read_text()
    for spec in specs:  # (one process per run gives these results too: the test above)
        train_run(spec, tmp_path / "uninterrupted" / spec.run_id, EXECUTION)
        assert result_of(runs / spec.run_id) == result_of(tmp_path / "uninterrupted" / spec.run_id), spec.run_id


def test_a_job_of_finished_runs_imports_no_torch(tmp_path):
    spec = specs_of()[0]
    train_runs([JobRun(spec)], tmp_path / "runs", tmp_path / "logs", EXECUTION)
    code = ("import sys; from trickbench.cli import main; "
            f"code = main({many_command([spec], tmp_path / 'runs')[3:]!r}); print(code, 'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["0", "False"], result.stderr[-2000:]
    assert "all 1 run(s) already finished" in result.stderr


def test_one_failing_run_spares_the_others(tmp_path, caplog):
    ok = specs_of()[0]
    unprepared = specs_of(data={"source": "cifar10", "val_fraction": 0.1})[0]  # no cache under the data root
    execution = dataclasses.replace(EXECUTION, data_root=str(tmp_path / "data"))
    with caplog.at_level(logging.INFO, logger="trickbench"):
        failed = train_runs([JobRun(unprepared), JobRun(ok)], tmp_path / "runs", tmp_path / "logs", execution)
    assert failed == 1
    assert (tmp_path / "runs" / ok.run_id / "summary.json").is_file()
    assert "no prepared copy" in caplog.text and "going on with the job's other runs" in caplog.text
    assert "the run failed" in (tmp_path / "logs" / f"{unprepared.run_id}.log").read_text()  # in its own log too


def test_a_finished_run_whose_weights_are_now_wanted_trains_again_to_the_same_results(tmp_path, caplog):
    spec = specs_of()[0]
    run_dir = tmp_path / "runs" / spec.run_id
    train_runs([JobRun(spec, keep_weights=False)], tmp_path / "runs", tmp_path / "logs", EXECUTION)
    assert not (run_dir / "model.pt").exists()
    before = result_of(run_dir)
    with caplog.at_level(logging.WARNING, logger="trickbench"):
        train_runs([JobRun(spec, keep_weights=True)], tmp_path / "runs", tmp_path / "logs", EXECUTION)
    assert "lacks model.pt" in caplog.text
    assert (run_dir / "model.pt").is_file() and result_of(run_dir) == before


# -- seed groups ---------------------------------------------------------------------------------------

def seeds_with(family: str, name: str, seeds=(0, 1)) -> list:
    config = copy.deepcopy(TINY_CONFIG)
    config["design"] = {"kind": "ablation", "seeds": list(seeds), "factors": {}}
    if family == "regularizer":
        config["baseline"]["regularizer"] = [name]
    else:
        config["baseline"][family] = name
    if name == "instance":  # normalizes over space: convolutional models only
        config["model"] = {"name": "cnn", "depth": 1, "width": 4}
    return expand(validate_config(config))


def alone(spec, data):
    trainer = Trainer(spec, data, CPU, 64)
    while not trainer.finished:
        trainer.train_epoch()
    return trainer.finish(0.0)


def close(a, b) -> bool:
    same_history = all(row_a[m] == pytest.approx(row_b[m], **TOLERANCE) for row_a, row_b in zip(a.history, b.history)
                       for m in ("train_loss", "train_acc", "val_loss", "test_loss"))
    return same_history and torch.allclose(a.test_probabilities, b.test_probabilities, rtol=TOLERANCE["rel"],
                                           atol=TOLERANCE["abs"])


@pytest.mark.parametrize("family, name", [(family, entry.name) for family, registry in FAMILIES.items()
                                          for entry in registry])
def test_a_seed_group_equals_its_runs_alone_for_every_technique_it_accepts(family, name):
    """Eligible (`seed_group_refusal` is None): each member within TOLERANCE of its run trained
    alone. Refused: the refusal is real — the group cannot train them, or its results differ."""
    specs = seeds_with(family, name)
    torch.set_num_threads(1)
    data = prepare(SOURCES.build(specs[0].data.source, Path("data"), False), specs[0].data, specs[0].preprocessing, CPU)
    refusal = seed_group_refusal(specs)
    try:
        members = train_seed_group(specs, data, CPU, 64)
    except ConfigError:
        assert refusal is not None, f"{name}: the group refused runs that seed_group_refusal accepts"
        return
    agree = all(close(member, alone(spec, data)) for spec, member in zip(specs, members))
    assert agree == (refusal is None), f"{family} {name}: refusal {refusal!r}, members agree: {agree}"


def test_only_consecutive_runs_that_differ_in_their_seed_share_a_group():
    three = [JobRun(s) for s in seeds_with("activation", "tanh", seeds=(0, 1, 2))]
    other = [JobRun(s) for s in seeds_with("activation", "relu", seeds=(0, 1))]
    dropout = [JobRun(s) for s in seeds_with("regularizer", "dropout")]
    grouped = batches(three + other + dropout, grouping=True)
    assert [len(b) for b in grouped] == [3, 2, 1, 1]
    assert [len(b) for b in batches(three, grouping=False)] == [1, 1, 1]
    assert uses_seed_groups("auto", torch.device("cuda")) and not uses_seed_groups("auto", CPU)


def group_job(specs, folder: Path) -> None:
    assert train_runs([JobRun(s) for s in specs], folder / "runs", folder / "logs", EXECUTION, seed_groups="always") == 0


def test_a_seed_group_job_writes_every_members_folder_within_tolerance(tmp_path, caplog):
    specs = seeds_with("regularizer", "augment", seeds=(0, 1, 2))
    with caplog.at_level(logging.INFO, logger="trickbench"):
        group_job(specs, tmp_path / "group")
    assert "seed group of 3 runs" in caplog.text
    train_runs([JobRun(s) for s in specs], tmp_path / "alone" / "runs", tmp_path / "alone" / "logs", EXECUTION)
    for spec in specs:
        a, b = (json.loads((tmp_path / where / "runs" / spec.run_id / "summary.json").read_text())
                for where in ("group", "alone"))
        for key in ("final_test_loss", "final_val_loss", "final_train_loss", "final_test_acc"):
            assert a[key] == pytest.approx(b[key], **TOLERANCE), key
        assert (tmp_path / "group" / "logs" / f"{spec.run_id}.log").is_file()


def test_a_seed_group_interrupted_between_epochs_resumes_each_member_from_its_checkpoint(tmp_path, monkeypatch, caplog):
    specs = seeds_with("regularizer", "augment", seeds=(0, 1))
    specs = [dataclasses.replace(s, train=dataclasses.replace(s.train, epochs=4)) for s in specs]
    group_job(specs, tmp_path / "uninterrupted")
    original, calls = seed_group.SeedGroup.train_epoch, []

    def interrupted(self):
        if len(calls) == 2:
            raise KeyboardInterrupt  # as a kill would, after two checkpointed epochs
        calls.append(1)
        return original(self)

    monkeypatch.setattr(seed_group.SeedGroup, "train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        group_job(specs, tmp_path / "resumed")
    monkeypatch.setattr(seed_group.SeedGroup, "train_epoch", original)
    assert all((tmp_path / "resumed" / "runs" / s.run_id / "checkpoint.pt").exists() for s in specs)
    with caplog.at_level(logging.INFO, logger="trickbench"):
        group_job(specs, tmp_path / "resumed")
    assert caplog.text.count("at epoch 2") == 2
    for spec in specs:
        assert result_of(tmp_path / "resumed" / "runs" / spec.run_id) == result_of(tmp_path / "uninterrupted" / "runs" / spec.run_id)
