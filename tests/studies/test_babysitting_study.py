"""Babysitting checks: each verdict follows its definition on tiny synthetic data, a wrong gradient
is caught, and a newly registered custom layer is checked without being named anywhere."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from trickbench.config import validate_config
from trickbench.data.device_data import prepare
from trickbench.data.sources import SOURCES
from trickbench.design import baseline_spec, resolve_level
from trickbench.registry import Registry
from trickbench.studies import babysitting as bs
from trickbench.techniques.activations import ACTIVATIONS
from trickbench.techniques.regularizers import decayed_parameters
from trickbench.train.loop import Trainer


def baseline_and_data(config, **levels):
    spec = baseline_spec(validate_config(config), 0)
    spec = dataclasses.replace(spec, **{family: resolve_level(family, level, family) for family, level in levels.items()})
    images = SOURCES.build(spec.data.source, Path("data"), False)
    return spec, prepare(images, spec.data, spec.preprocessing, torch.device("cpu"))


def test_initial_loss_is_ln_classes_when_the_network_starts_near_zero(tiny_config):
    spec, data = baseline_and_data(tiny_config, init={"name": "small_gaussian", "std": 1e-4}, norm="none")
    row = bs.initial_loss_check(spec, data, tolerance=0.01)
    assert row["passed"] and row["measured"] == pytest.approx(math.log(10), rel=1e-3)


def test_initial_loss_check_fails_for_a_network_that_starts_confident(tiny_config):
    spec, data = baseline_and_data(tiny_config, init={"name": "large_gaussian", "std": 3.0}, norm="none")
    row = bs.initial_loss_check(spec, data, tolerance=0.1)
    assert not row["passed"] and row["measured"] > 1.1 * math.log(10)


def test_the_loss_rises_by_exactly_the_l2_penalty(tiny_config):
    spec, data = baseline_and_data(tiny_config)
    rows = bs.regularization_check(spec, data, "l2", [0.0, 0.1, 1.0])
    assert len(rows) == 2 and all(row["passed"] for row in rows)
    weights = Trainer(bs.unregularized(spec), data, torch.device("cpu")).model  # the same seed: the same weights
    penalty = 0.5 * sum(float(p.detach().pow(2).sum()) for p in decayed_parameters(weights))
    base = float(rows[0]["expected"].removeprefix("> "))
    assert rows[0]["measured"] - base == pytest.approx(0.1 * penalty, rel=1e-3)
    assert rows[1]["measured"] - base == pytest.approx(1.0 * penalty, rel=1e-3)


def test_the_baseline_overfits_twenty_examples(tiny_config):
    spec, data = baseline_and_data(tiny_config)
    row = bs.overfit_check(spec, data, size=20, max_steps=100, seed=0)
    assert row["passed"] and row["measured"] == 1.0 and "20" in row["check"]


def test_overfitting_is_reported_as_failed_when_the_budget_is_too_small(tiny_config):
    spec, data = baseline_and_data(tiny_config, optimizer={"name": "sgd", "lr": 1e-6})
    row = bs.overfit_check(spec, data, size=20, max_steps=2, seed=0)
    assert not row["passed"] and row["measured"] < 1.0


class Cube(torch.autograd.Function):
    """x³ with a deliberately wrong backward (2x² instead of 3x²) unless told otherwise."""

    @staticmethod
    def forward(ctx, x, factor):
        ctx.save_for_backward(x)
        ctx.factor = factor
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * ctx.factor * x**2, None


class CubeLayer(nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return Cube.apply(x, self.factor)


@pytest.mark.parametrize("factor, ok", [(3.0, True), (2.0, False)])
def test_gradient_check_tells_a_right_backward_from_a_wrong_one(factor, ok):
    row = bs.module_gradient_row(bs.Subject("cube", CubeLayer(factor), torch.randn(3, 4, dtype=torch.float64)))
    assert row["passed"] is ok
    assert (row["measured"] < 1e-6) is ok  # the directional error: ~1e-10 when right, ~1/3 when wrong


def test_only_modules_from_outside_torch_count_as_custom():
    assert bs.custom_classes(nn.Sequential(nn.Linear(2, 2), nn.ReLU())) == []
    assert bs.custom_classes(nn.Sequential(nn.Linear(2, 2), CubeLayer(3.0))) == ["CubeLayer"]


def test_a_newly_registered_custom_activation_is_checked_automatically(monkeypatch):
    extra = Registry("activation")
    extra.register("cube")(lambda features: CubeLayer(2.0))  # wrong gradient on purpose
    monkeypatch.setitem(ACTIVATIONS._entries, "cube", extra.get("cube"))
    rows = {row["subject"]: row for row in bs.gradient_rows()}
    assert not rows["activation cube [CubeLayer]"]["passed"]
    assert not any(subject.startswith("activation relu") for subject in rows)  # torch's own layers are trusted
    assert rows["model resnet [ResidualBlock]"]["passed"]  # a built-in custom block
    assert rows["regularizer l2 (penalty term)"]["passed"]
    renorm = rows["norm batch_renorm (dense) [BatchRenorm]"]  # stop-gradient r, d by design: checked in eval mode
    assert renorm["passed"] and "eval mode" in renorm["detail"]
    assert not any("dropout" in subject for subject in rows)  # no penalty term, nothing to check


def test_every_registered_module_is_built_or_skipped_as_its_technique_refuses():
    subjects = {subject.name for subject in bs.module_subjects()}
    assert "norm group (dense)" in subjects and "norm batch (conv)" in subjects
    assert "norm instance (conv)" in subjects and "norm instance (dense)" not in subjects  # conv models only
