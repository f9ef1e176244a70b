"""Per-layer activation statistics: the dead and saturated fractions by their definitions, on
activations built by hand; the probe that classifies every registered activation; and recording
that leaves the model and the random generators untouched."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from trickbench.techniques.activations import ACTIVATIONS
from trickbench.train.activations import activation_shape, activation_statistics, layer_statistics


def shape_of(name: str):
    return activation_shape(ACTIVATIONS.resolve(name, "activation"))


def test_dead_fraction_counts_units_zero_for_every_example():
    outputs = torch.tensor([[0.0, 0.0, 1.0, 0.0],
                            [0.0, 2.0, 0.0, 0.0],
                            [0.0, 0.0, 3.0, 0.0]])  # units 0 and 3 never fire; 1 and 2 fire once or more
    row = layer_statistics(outputs, shape_of("relu"))
    assert row["dead_fraction"] == 0.5
    assert math.isnan(row["saturated_fraction"])  # ReLU is not bounded above
    assert row["mean"] == pytest.approx(0.5)
    assert row["std"] == pytest.approx(outputs.std(correction=0).item())


def test_saturated_fraction_of_tanh_is_the_share_within_one_percent_of_the_range_from_an_asymptote():
    # range (-1, 1): 1 % of it is 0.02, so |y| >= 0.98 is saturated
    outputs = torch.tensor([[0.99, -0.985, 0.5, 0.0], [0.97, -0.2, -0.98, 0.981]])
    row = layer_statistics(outputs, shape_of("tanh"))
    assert row["saturated_fraction"] == pytest.approx(4 / 8)
    assert math.isnan(row["dead_fraction"])


def test_saturated_fraction_of_sigmoid_uses_its_range_zero_to_one():
    outputs = torch.tensor([[0.005, 0.995, 0.5, 0.02]])
    assert layer_statistics(outputs, shape_of("sigmoid"))["saturated_fraction"] == pytest.approx(0.5)


def test_a_convolution_channel_is_one_unit_its_positions_are_examples():
    outputs = torch.zeros(2, 3, 4, 4)
    outputs[1, 0, 2, 3] = 1.0  # channel 0 fires once, at one position of one example
    assert layer_statistics(outputs, shape_of("relu"))["dead_fraction"] == pytest.approx(2 / 3)


def test_the_saturation_margin_is_where_the_slope_falls_below_four_percent_of_its_maximum():
    # the docstring's claim, checked for both bounded activations at the margin's edge
    tanh_slope = 1 - 0.98**2
    sigmoid_slope = 0.99 * 0.01 / 0.25
    assert tanh_slope == pytest.approx(0.0396) and sigmoid_slope == pytest.approx(0.0396)


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_every_registered_activation_is_classified_consistently(name):
    shape = shape_of(name)
    if shape.bounded:
        assert math.isfinite(shape.low) and math.isfinite(shape.high) and shape.low < shape.high
    if shape.rectifier:  # its flat value is what a dead unit outputs
        module = ACTIVATIONS.build(ACTIVATIONS.resolve(name, "activation"), 1)
        assert module(torch.tensor([[-3.0]])).item() == shape.low


def test_the_classic_activations_are_classified_as_expected():
    assert shape_of("relu").rectifier and not shape_of("relu").bounded
    assert shape_of("tanh").bounded and (shape_of("tanh").low, shape_of("tanh").high) == (-1.0, 1.0)
    assert shape_of("sigmoid").bounded and not shape_of("sigmoid").rectifier
    assert not shape_of("gelu").rectifier and not shape_of("gelu").bounded


def test_recording_leaves_model_running_statistics_and_random_state_untouched():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(0.5), nn.Linear(6, 4), nn.ReLU())
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    inputs = torch.randn(16, 5)
    rng = torch.get_rng_state()
    rows = activation_statistics(model, inputs, ACTIVATIONS.resolve("relu", "activation"))
    assert [row["layer"] for row in rows] == [1, 2] and [row["module"] for row in rows] == ["2", "5"]
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng)


def test_recording_uses_batch_statistics():
    model = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8, affine=False), nn.Tanh()).eval()
    inputs = torch.randn(64, 3, generator=torch.Generator().manual_seed(0)) * 50 + 7
    rows = activation_statistics(model, inputs, ACTIVATIONS.resolve("tanh", "activation"))
    expected = torch.tanh(nn.functional.batch_norm(model[0](inputs), None, None, training=True))
    assert rows[0]["std"] == pytest.approx(expected.std(correction=0).item(), rel=1e-5)


def test_recording_turns_dropout_off():
    model = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.9), nn.ReLU())
    inputs = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    rows = activation_statistics(model, inputs, ACTIVATIONS.resolve("relu", "activation"))
    with torch.no_grad():
        assert rows[0]["mean"] == pytest.approx(torch.relu(model[0](inputs)).mean().item(), rel=1e-6)
