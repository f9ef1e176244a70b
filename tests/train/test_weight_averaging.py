"""EMA and SWA of the weights (train.averaging) against their definitions, and inside the trainer."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from trickbench.config import validate_config
from trickbench.data.device_data import prepare
from trickbench.data.sources import SOURCES
from trickbench.design import baseline_spec
from trickbench.errors import ConfigError
from trickbench.registry import Technique
from trickbench.techniques.norms import BatchRenorm
from trickbench.train.averaging import ExponentialAverage, StochasticWeightAverage, schedule_with_swa_phase
from trickbench.train.loop import Trainer


COSINE = Technique("cosine", ())


def set_weights(model: nn.Module, value: torch.Tensor) -> None:
    with torch.no_grad():
        model.weight.copy_(value)


@settings(max_examples=25, deadline=None)
@given(decay=st.floats(0.0, 0.999), steps=st.integers(1, 12), seed=st.integers(0, 10_000))
def test_ema_after_n_steps_equals_its_closed_form(decay: float, steps: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    snapshots = [torch.randn(3, 2, generator=generator, dtype=torch.float64) for _ in range(steps + 1)]
    model = nn.Linear(2, 3, bias=False).double()
    set_weights(model, snapshots[0])
    ema = ExponentialAverage(model, decay)
    for weights in snapshots[1:]:
        set_weights(model, weights)
        ema.after_step(model)
    # x_avg = dⁿ·x₀ + (1−d)·Σ_{k=1..n} d^{n−k}·x_k
    expected = decay**steps * snapshots[0] + (1 - decay) * sum(decay ** (steps - k) * snapshots[k] for k in range(1, steps + 1))
    torch.testing.assert_close(ema.model.weight, expected, rtol=1e-9, atol=1e-12)


def test_ema_averages_batch_norm_statistics_too():
    model = nn.BatchNorm1d(2)
    ema = ExponentialAverage(model, 0.5)
    with torch.no_grad():
        model.running_mean.fill_(4.0)
    ema.after_step(model)
    torch.testing.assert_close(ema.model.running_mean, torch.full((2,), 2.0))  # ½·0 + ½·4


def test_swa_is_the_arithmetic_mean_of_the_snapshots_from_its_start_epoch():
    model = nn.Linear(2, 3, bias=False)
    swa = StochasticWeightAverage(model, start_epoch=2)
    snapshots = [torch.full((3, 2), float(v)) for v in (10, 1, 2, 6)]
    for epoch, weights in enumerate(snapshots, start=1):
        assert swa.ready == (epoch > 2)
        set_weights(model, weights)
        swa.after_epoch(model, epoch, lambda: [])
    torch.testing.assert_close(swa.model.weight, torch.full((3, 2), 3.0))  # mean of 1, 2, 6; epoch 1 left out


def test_swa_recomputes_batch_norm_statistics_of_the_averaged_weights():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    swa = StochasticWeightAverage(model, start_epoch=1)
    inputs = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    swa.after_epoch(model, 1, lambda: [inputs])
    features = swa.model[0](inputs).detach()
    torch.testing.assert_close(swa.model[1].running_mean, features.mean(0))
    torch.testing.assert_close(swa.model[1].running_var, features.var(0, unbiased=True))


def test_swa_recomputes_batch_renorm_statistics_of_the_averaged_weights():
    """torch's update_bn resets only its own batch norms; batch renorm's running mean and std must
    come from the averaged weights too. Expected here by hand: per layer, the mean over the batches
    of each batch's mean and std (biased, + eps) of the layer's input under the averaged weights,
    each renorm layer normalizing by its batch's statistics on the way (as update_bn's batch norms)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), BatchRenorm(4), nn.ReLU(), nn.Linear(4, 2), BatchRenorm(2))
    generator = torch.Generator().manual_seed(1)
    batches = [torch.randn(16, 3, generator=generator) * 2 + 1 for _ in range(3)]
    swa = StochasticWeightAverage(model, start_epoch=1)
    for epoch, scale in ((1, 1.0), (2, 3.0)):  # two snapshots of different weights, the live model training on
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.mul_(scale)
        model.train()
        for batch in batches:
            model(batch)
        swa.after_epoch(model, epoch, lambda: iter(batches))
    averaged = swa.model

    def batch_statistics(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x.mean(0), (x.var(0, unbiased=False) + 1e-5).sqrt()

    first, second = [], []
    with torch.no_grad():
        for batch in batches:
            x = averaged[0](batch)
            mean, std = batch_statistics(x)
            first.append((mean, std))
            normalized = averaged[1].weight * (x - mean) / std + averaged[1].bias
            second.append(batch_statistics(averaged[3](normalized.relu())))
    for layer, statistics in ((averaged[1], first), (averaged[4], second)):
        torch.testing.assert_close(layer.running_mean, torch.stack([m for m, _ in statistics]).mean(0))
        torch.testing.assert_close(layer.running_std, torch.stack([s for _, s in statistics]).mean(0))
        # the layer is batch renorm again afterwards, its relaxation's counter the live model's (SWA syncs
        # buffers from it), not advanced by the recomputing pass
        assert (layer.rmax, layer.dmax, layer.momentum, int(layer.num_batches_tracked)) == (3.0, 5.0, 0.01, 2 * len(batches))


def test_swa_phase_anneals_to_swa_lr_then_holds_it(tiny_config):
    """Izmailov et al. 2018: the schedule, planned for the epochs before SWA, decays to swa_lr,
    which then stays constant. Cosine, 6 epochs of 5 steps, SWA from epoch 4 (step 15), base lr
    0.1, swa_lr 0.02: r = 0.2, lr/base = 0.2 + 0.8·½(1 + cos(π·t/15)) for t < 15, then 0.2."""
    spec = baseline_spec(validate_config(tiny_config), 0)
    train = dataclasses.replace(spec.train, epochs=6, swa_start_epoch=4, swa_lr=0.02)
    multiplier = schedule_with_swa_phase(COSINE, train, steps_per_epoch=5, base_lr=0.1)
    expected = [0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * t / 15)) for t in range(15)] + [0.2] * 15
    assert [multiplier(t) for t in range(30)] == pytest.approx(expected, abs=1e-12)
    plain = schedule_with_swa_phase(COSINE, dataclasses.replace(train, swa_lr=0.0), 5, 0.1)
    assert [plain(t) for t in range(30)] == pytest.approx([0.5 * (1 + math.cos(math.pi * t / 30)) for t in range(30)])
    with pytest.raises(ConfigError, match="optimizer.lr"):
        schedule_with_swa_phase(COSINE, train, 5, 0.0)


def test_swa_phase_keeps_the_warm_up(tiny_config):
    spec = baseline_spec(validate_config(tiny_config), 0)
    train = dataclasses.replace(spec.train, epochs=6, warmup_epochs=1.0, swa_start_epoch=4, swa_lr=0.02)
    multiplier = schedule_with_swa_phase(COSINE, train, steps_per_epoch=5, base_lr=0.1)
    assert [multiplier(t) for t in range(5)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])  # (t + 1) / 5
    # then the cosine over the 10 steps left before SWA, rescaled to end at r = 0.2
    assert [multiplier(t) for t in range(5, 15)] == pytest.approx(
        [0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * k / 10)) for k in range(10)])


def averaging_trainer(tiny_config) -> Trainer:
    spec = baseline_spec(validate_config(tiny_config), 0)
    spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, epochs=3, ema_decay=0.9, swa_start_epoch=2))
    data = prepare(SOURCES.build(spec.data.source, None, False), spec.data, spec.preprocessing, torch.device("cpu"))
    return Trainer(spec, data, torch.device("cpu"), eval_batch_size=64)


def test_trainer_scores_the_averages_every_epoch(tiny_config):
    trainer = averaging_trainer(tiny_config)
    rows = [trainer.train_epoch() for _ in range(3)]
    for row in rows:
        assert 0 <= row["ema_test_acc"] <= 1 and math.isfinite(row["ema_val_loss"])
    assert math.isnan(rows[0]["swa_test_acc"])  # SWA has no snapshot before epoch 2
    assert all(0 <= row["swa_test_acc"] <= 1 for row in rows[1:])


def test_a_resumed_run_continues_its_averages_exactly(tiny_config):
    straight = averaging_trainer(tiny_config)
    expected = [straight.train_epoch() for _ in range(3)]
    first = averaging_trainer(tiny_config)
    for _ in range(2):
        first.train_epoch()
    state = copy.deepcopy(first.state_dict())
    resumed = averaging_trainer(tiny_config)
    resumed.load_state_dict(state)
    last = resumed.train_epoch()
    for column in ("ema_val_loss", "ema_test_acc", "swa_val_loss", "swa_test_acc", "val_loss"):
        assert last[column] == expected[2][column]


def test_swa_in_a_run_follows_izmailov(tiny_config):
    """A real run (MLP with batch norm, momentum at lr 0.05, cosine), 4 epochs of 5 steps, SWA from
    epoch 3 at swa_lr 0.01: every step's learning rate by hand, the average against the mean of
    the end-of-epoch weights of epochs 3 and 4, and its batch-norm statistics against those of the
    averaged network's batch-norm input on the training images."""
    spec = baseline_spec(validate_config(tiny_config), 0)
    spec = dataclasses.replace(spec, train=dataclasses.replace(spec.train, epochs=4, swa_start_epoch=3, swa_lr=0.01))
    data = prepare(SOURCES.build(spec.data.source, None, False), spec.data, spec.preprocessing, torch.device("cpu"))
    trainer = Trainer(spec, data, torch.device("cpu"), eval_batch_size=1024)  # one batch: update_bn's exact mean
    assert len(data.train) == 160 and trainer.steps_per_epoch == 5
    used, step = [], trainer.step
    trainer.step = lambda closure: used.append(step(closure)) or used[-1]
    snapshots = []
    while not trainer.finished:
        trainer.train_epoch()
        snapshots.append({name: p.detach().clone() for name, p in trainer.model.named_parameters()})
    expected = [0.01 + 0.04 * 0.5 * (1 + math.cos(math.pi * t / 10)) for t in range(10)] + [0.01] * 10
    assert used == pytest.approx(expected, abs=1e-12)

    average = trainer.averages[0].model
    for name, value in average.named_parameters():
        torch.testing.assert_close(value, (snapshots[2][name] + snapshots[3][name]) / 2)
    norm = next(m for m in average.modules() if isinstance(m, nn.BatchNorm1d))
    seen = []
    handle = norm.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    average.eval()
    with torch.no_grad():
        average(data.preprocess(data.train.images.float() / 255))
    handle.remove()
    torch.testing.assert_close(norm.running_mean, seen[0].mean(0), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(norm.running_var, seen[0].var(0, unbiased=True), rtol=1e-5, atol=1e-6)
