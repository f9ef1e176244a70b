"""Resume after a kill: a real `trickbench train` process is SIGKILLed mid-training, started again,
and must end with results bit-identical to an uninterrupted run (CPU, one thread). The runs use
every random generator and every piece of state a run has (see VARIANTS), so a state that a
checkpoint forgot would show."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from run_helpers import result_of, run_to_end, subprocess_env, tiny_specs, train_command
from trickbench.run import Execution, train_run

EPOCHS = 6


BASELINE = {"activation": "relu", "init": "he_normal", "norm": "batch", "optimizer": {"name": "adam", "lr": 0.002},
            "schedule": "cosine", "preprocessing": "standardize"}
VARIANTS = {
    # every random generator a run has: weight init, shuffling, dropout, augmentation
    "dropout-augment": ({"epochs": EPOCHS, "batch_size": 16}, [{"name": "dropout", "p": 0.2}, "augment"], {}),
    # and the state beside the model: weight averages (EMA, SWA with its learning-rate phase), the
    # early-stopping record and its best weights, MC-dropout test passes (spec fields the studies set)
    "averages-early-stopping": ({"epochs": EPOCHS, "batch_size": 16},
                                [{"name": "dropout", "p": 0.2}, {"name": "early_stopping", "patience": 10}],
                                {"ema_decay": 0.9, "swa_start_epoch": 4, "swa_lr": 0.001, "mc_dropout_passes": 2}),
}


def spec_of(variant: str):
    """Enough steps per epoch (about 0.1-0.5 s) that a kill lands inside training, not after it."""
    train, regularizer, study_fields = VARIANTS[variant]
    spec = tiny_specs(
        data={"source": {"name": "synthetic", "n_train": 2400, "n_test": 60, "size": 8}, "val_fraction": 0.1},
        model={"name": "mlp", "depth": 2, "width": 48}, train=train,
        baseline={**BASELINE, "regularizer": regularizer},
        design={"kind": "ablation", "seeds": [3], "factors": {}},
    )[0]
    return dataclasses.replace(spec, train=dataclasses.replace(spec.train, **study_fields))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The results of each variant run without interruption, computed once; `.folders` holds
    each one's run folder."""
    results, folders = {}, {}

    def result(variant: str) -> dict:
        if variant not in results:
            spec = spec_of(variant)
            folders[variant] = tmp_path_factory.mktemp("uninterrupted") / spec.run_id
            train_run(spec, folders[variant], Execution(device="cpu", threads=1))
            results[variant] = result_of(folders[variant])
        return results[variant]

    result.folders = folders
    return result


def kill_after_checkpoints(command: list[str], checkpoint: Path, writes: int, timeout: float = 300) -> None:
    """Start `command` and SIGKILL it as soon as it has written `checkpoint` `writes` times (every
    atomic write is a new file: a new inode and modification time)."""
    process = subprocess.Popen(command, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen, deadline = set(), time.monotonic() + timeout
    try:
        while len(seen) < writes:
            assert process.poll() is None, f"the run ended before it was killed: {process.stderr.read()[-2000:]}"
            assert time.monotonic() < deadline, "no checkpoint appeared in time"
            try:
                stat = os.stat(checkpoint)
                seen.add((stat.st_ino, stat.st_mtime_ns))  # a freed inode number can come back
            except FileNotFoundError:
                pass
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
        process.stderr.close()


@pytest.mark.serial  # the kill must land within the run's last epochs: alone, not beside a busy worker
@pytest.mark.parametrize("variant, writes, resume_in", [("dropout-augment", 1, "this process"),
                                                        ("dropout-augment", 3, "a new process"),
                                                        ("averages-early-stopping", 4, "a new process")])
def test_a_run_killed_mid_training_resumes_to_bit_identical_results(uninterrupted, tmp_path, caplog, variant, writes,
                                                                    resume_in):
    """Resumed by a new `trickbench train` process, as a workflow restarts it, or by `train_run` in
    this one (no process start: the checkpoint is all the two share either way)."""
    spec = spec_of(variant)
    run_dir = tmp_path / spec.run_id
    kill_after_checkpoints(train_command(spec, run_dir), run_dir / "checkpoint.pt", writes)

    assert not (run_dir / "summary.json").exists()  # it really was cut off
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert writes <= len(state["history"]) < EPOCHS

    if resume_in == "a new process":
        said = run_to_end(spec, run_dir).stderr
    else:
        with caplog.at_level(logging.INFO, logger="trickbench"):
            train_run(spec, run_dir, Execution(device="cpu", threads=1))
        said = caplog.text
    assert f"resumed from {run_dir / 'checkpoint.pt'} at epoch {len(state['history'])}" in said
    assert result_of(run_dir) == uninterrupted(variant)
    assert not (run_dir / "checkpoint.pt").exists()
    assert not list(run_dir.glob(".*.tmp"))  # no temporary file of the killed writer is left


def test_a_finished_run_started_again_does_nothing(uninterrupted):
    spec = spec_of("dropout-augment")
    uninterrupted("dropout-augment")  # trained to the end once (the kill tests' reference)
    run_dir = uninterrupted.folders["dropout-augment"]
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()}
    train_run(spec, run_dir, Execution(device="cpu", threads=1))
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()} == before
