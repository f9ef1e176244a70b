"""Resume after a kill: a real `trickbench train` process is SIGKILLed mid-training, started again,
and must end with results bit-identical to an uninterrupted run (CPU, one thread). The run uses
every random generator a run has — weight init, shuffling, dropout, augmentation — so a state that
a checkpoint forgot would show."""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def spec():
    """Enough steps per epoch (about 0.1-0.5 s) that a kill lands inside training, not after it."""
    return tiny_specs(
        data={"source": {"name": "synthetic", "n_train": 2400, "n_test": 60, "size": 8}, "val_fraction": 0.1},
        model={"name": "mlp", "depth": 2, "width": 48},
        train={"epochs": EPOCHS, "batch_size": 16},
        baseline={"activation": "relu", "init": "he_normal", "norm": "batch",
                  "regularizer": [{"name": "dropout", "p": 0.2}, "augment"],
                  "optimizer": {"name": "adam", "lr": 0.002}, "schedule": "cosine", "preprocessing": "standardize"},
        design={"kind": "ablation", "seeds": [3], "factors": {}},
    )[0]


@pytest.fixture(scope="module")
def uninterrupted(spec, tmp_path_factory) -> dict:
    run_dir = tmp_path_factory.mktemp("uninterrupted") / spec.run_id
    train_run(spec, run_dir, Execution(device="cpu", threads=1))
    return result_of(run_dir)


def kill_after_checkpoints(command: list[str], checkpoint: Path, writes: int, timeout: float = 300) -> None:
    """Start `command` and SIGKILL it as soon as it has replaced `checkpoint` `writes` times
    (every atomic write is a new file, so a new inode)."""
    process = subprocess.Popen(command, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen, deadline = set(), time.monotonic() + timeout
    try:
        while len(seen) < writes:
            assert process.poll() is None, f"the run ended before it was killed: {process.stderr.read()[-2000:]}"
            assert time.monotonic() < deadline, "no checkpoint appeared in time"
            try:
                seen.add(os.stat(checkpoint).st_ino)
            except FileNotFoundError:
                pass
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
        process.stderr.close()


@pytest.mark.parametrize("writes", [1, 3])
def test_a_run_killed_mid_training_resumes_to_bit_identical_results(spec, uninterrupted, tmp_path, writes):
    run_dir = tmp_path / spec.run_id
    kill_after_checkpoints(train_command(spec, run_dir), run_dir / "checkpoint.pt", writes)

    assert not (run_dir / "summary.json").exists()  # it really was cut off
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert writes <= len(state["history"]) < EPOCHS

    resumed = run_to_end(spec, run_dir)
    assert f"resumed from {run_dir / 'checkpoint.pt'} at epoch {len(state['history'])}" in resumed.stderr
    assert result_of(run_dir) == uninterrupted
    assert not (run_dir / "checkpoint.pt").exists()
    assert not list(run_dir.glob(".*.tmp"))  # no temporary file of the killed writer is left


def test_a_finished_run_started_again_does_nothing(spec, tmp_path):
    run_dir = tmp_path / spec.run_id
    train_run(spec, run_dir, Execution(device="cpu", threads=1))
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()}
    train_run(spec, run_dir, Execution(device="cpu", threads=1))
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()} == before
