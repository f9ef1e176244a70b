"""The explosion abort: a run whose loss exceeds explode_factor × its first step's stops with
status `exploded` (a result written like any other), the option is off by default and leaves run
ids unchanged, and the reference loss survives a checkpoint."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from conftest import TINY_CONFIG
from trickbench.config import validate_config
from trickbench.data.device_data import prepare
from trickbench.data.sources import SOURCES
from trickbench.design import baseline_spec, resolve_level
from trickbench.run import Execution, train_run
from trickbench.train.loop import EXPLODED, OK, Trainer


def spec_with(config, lr: float, explode_factor: float, epochs: int = 2):
    spec = baseline_spec(validate_config(config), 0)
    optimizer = resolve_level("optimizer", {"name": "sgd", "lr": lr}, "optimizer")
    norm = resolve_level("norm", "none", "norm")  # no normalization: a huge lr really blows the loss up
    return dataclasses.replace(spec, optimizer=optimizer, norm=norm,
                               train=dataclasses.replace(spec.train, epochs=epochs, explode_factor=explode_factor))


def trainer_for(spec) -> Trainer:
    images = SOURCES.build(spec.data.source, Path("data"), False)
    return Trainer(spec, prepare(images, spec.data, spec.preprocessing, torch.device("cpu")), torch.device("cpu"))


def test_a_huge_learning_rate_is_aborted_as_exploded_within_the_first_epoch(tiny_config):
    trainer = trainer_for(spec_with(tiny_config, lr=50.0, explode_factor=3.0))
    row = trainer.train_epoch()
    assert trainer.status == EXPLODED and trainer.finished
    assert trainer.grad_evals < trainer.steps_per_epoch  # stopped mid-epoch, at the offending step
    assert trainer.initial_loss is not None and row["epoch"] == 1


def test_a_sane_run_is_not_aborted_and_the_option_is_off_by_default(tiny_config):
    trainer = trainer_for(spec_with(tiny_config, lr=0.05, explode_factor=3.0))
    while not trainer.finished:
        trainer.train_epoch()
    assert trainer.status == OK and trainer.epoch == 2
    assert baseline_spec(validate_config(dict(TINY_CONFIG)), 0).train.explode_factor == 0.0


def test_without_the_option_the_same_run_goes_on(tiny_config):
    trainer = trainer_for(spec_with(tiny_config, lr=50.0, explode_factor=0.0))
    trainer.train_epoch()
    assert trainer.status != EXPLODED and trainer.grad_evals == trainer.steps_per_epoch
    assert trainer.initial_loss is None  # no host sync per step was paid


def test_the_option_at_its_default_leaves_the_run_id_unchanged(tiny_config):
    spec = baseline_spec(validate_config(tiny_config), 0)
    assert "explode_factor" not in spec.to_dict()["train"]
    changed = dataclasses.replace(spec, train=dataclasses.replace(spec.train, explode_factor=3.0))
    assert changed.run_id != spec.run_id and changed.to_dict()["train"]["explode_factor"] == 3.0


def test_the_reference_loss_is_checkpointed(tiny_config):
    spec = spec_with(tiny_config, lr=0.05, explode_factor=3.0)
    first = trainer_for(spec)
    first.train_epoch()
    resumed = trainer_for(spec)
    resumed.load_state_dict(first.state_dict())
    assert resumed.initial_loss == first.initial_loss is not None


def test_an_exploded_run_writes_a_complete_folder_with_its_status(tiny_config, tmp_path):
    spec = spec_with(tiny_config, lr=50.0, explode_factor=3.0)
    summary = train_run(spec, tmp_path / spec.run_id, Execution(device="cpu"))
    assert summary["status"] == "exploded" and summary["epochs_completed"] == 1
    written = {p.name for p in (tmp_path / spec.run_id).iterdir()}
    assert {"summary.json", "epochs.csv", "test_probs.npy", "model.pt", "activations.csv"} <= written
    assert json.loads((tmp_path / spec.run_id / "summary.json").read_text())["status"] == "exploded"
