"""Seed groups: K seeds trained in one batched pass are the same experiments as the K runs alone
(same initialization, batches, augmentations and updates, up to float rounding)."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from conftest import TINY_CONFIG
from trickbench.config import validate_config
from trickbench.data.device_data import prepare
from trickbench.data.sources import SOURCES
from trickbench.design import expand
from trickbench.errors import ConfigError
from trickbench.techniques.optimizers import OPTIMIZERS
from trickbench.train.loop import Trainer
from trickbench.train.seed_group import SeedGroup, tie, train_seed_group

CPU = torch.device("cpu")


def seeds_of(optimizer="momentum", regularizer=("augment", {"name": "l2", "strength": 0.01}), seeds=(0, 1, 2), epochs=2):
    config = copy.deepcopy(TINY_CONFIG)
    config["design"] = {"kind": "ablation", "seeds": list(seeds), "factors": {}}
    config["baseline"]["regularizer"] = list(regularizer)
    config["baseline"]["optimizer"] = optimizer
    config["train"]["epochs"] = epochs
    specs = expand(validate_config(config))
    images = SOURCES.build(specs[0].data.source, Path("data"), False)
    return specs, prepare(images, specs[0].data, specs[0].preprocessing, CPU)


def alone(spec, data):
    run = Trainer(spec, data, CPU, 64)
    while not run.finished:
        run.train_epoch()
    return run.finish(0.0)


@pytest.mark.parametrize("optimizer", [entry.name for entry in OPTIMIZERS])
def test_each_member_matches_its_run_trained_alone(optimizer):
    """Batched kernels round differently and adaptive optimizers amplify that a little (Adam
    divides by √v, Adagrad by its running sum), so "the same" is within 1e-2 — while two seeds differ by far more."""
    specs, data = seeds_of(optimizer, seeds=(0, 1))
    try:
        together = train_seed_group(specs, data, CPU, 64)
    except ConfigError as error:  # optimizers that evaluate their closure twice (SAM, L-BFGS) are refused
        assert optimizer in str(error) and "closure once" in str(error)
        return
    for spec, member in zip(specs, together):
        single = alone(spec, data)
        for row_alone, row_member in zip(single.history, member.history):
            for metric in ("train_loss", "train_acc", "val_loss", "test_loss"):
                assert row_member[metric] == pytest.approx(row_alone[metric], rel=1e-2, abs=1e-2), metric
        torch.testing.assert_close(member.test_probabilities, single.test_probabilities, rtol=1e-2, atol=1e-2)
        assert member.n_parameters == single.n_parameters
    assert (together[0].test_probabilities - together[1].test_probabilities).abs().max() > 1e-2


def test_members_start_from_their_seeds_initialization():
    specs, data = seeds_of()
    group = SeedGroup(specs, data, CPU)
    for spec, member in zip(specs, group.members):
        fresh = Trainer(spec, data, CPU)
        for p, q in zip(member.model.parameters(), fresh.model.parameters()):
            assert torch.equal(p, q)
    first = [next(m.model.parameters()) for m in group.members]
    assert not torch.equal(first[0], first[1])  # different seeds, different weights


def test_tie_makes_each_model_a_view_of_its_slice():
    models = [torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2)) for _ in range(3)]
    params, buffers = tie(models)
    assert params["0.weight"].shape == (3, 2, 3) and params["0.weight"].requires_grad
    assert buffers["1.running_mean"].shape == (3, 2)
    with torch.no_grad():
        params["0.weight"][1].fill_(7.0)
        models[2][0].bias.fill_(-1.0)
    assert torch.all(models[1][0].weight == 7.0) and torch.all(params["0.bias"][2] == -1.0)
    assert torch.all(models[0][0].weight != 7.0)


def test_runs_that_differ_in_more_than_the_seed_are_refused():
    specs, data = seeds_of(seeds=(0,))
    other, _ = seeds_of(optimizer="sgd", seeds=(1,))
    with pytest.raises(ConfigError, match="differ only in their seed"):
        SeedGroup([specs[0], other[0]], data, CPU)


def test_runs_that_abort_on_explosion_are_refused():
    specs, data = seeds_of(seeds=(0, 1))
    exploding = [replace(spec, train=replace(spec.train, explode_factor=3.0)) for spec in specs]
    with pytest.raises(ConfigError, match="train.explode_factor"):
        SeedGroup(exploding, data, CPU)


def test_a_member_that_stops_early_stops_while_the_others_go_on(monkeypatch):
    specs, data = seeds_of(seeds=(0, 1), epochs=3)
    group = SeedGroup(specs, data, CPU)
    group.train_epoch()
    monkeypatch.setattr(type(group.members[0]), "finished", property(lambda self: self is group.members[0] or len(self.history) >= 3))
    rows = group.train_epoch()
    assert len(rows) == 1 and [len(m.history) for m in group.members] == [1, 2]
