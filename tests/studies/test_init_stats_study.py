"""Initialization statistics: the deep-net demonstration reproduces the scaling laws it is meant to
show (collapse by the weight scale per layer, constant std under He for ReLU, saturation of tanh
under large weights), histograms count every value, and real runs' recorded statistics are read."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from trickbench.config import validate_config
from trickbench.run import Execution, train_run
from trickbench.studies import init_stats
from trickbench.techniques.activations import ACTIVATIONS
from trickbench.techniques.inits import INITS

UNITS = 400


def stds(activation: str, init, layers: int = 4) -> list[float]:
    inputs = torch.randn(500, UNITS, generator=torch.Generator().manual_seed(0))
    outputs = init_stats.layer_outputs(ACTIVATIONS.resolve(activation, "a"), INITS.resolve(init, "i"), layers, UNITS, inputs, 0)
    return [o.std().item() for o in outputs]


def test_small_weights_shrink_tanh_activations_by_std_times_sqrt_units_per_layer():
    # in tanh's linear regime each layer multiplies the std by σ_w·√fan_in = 0.01·20 = 0.2
    values = stds("tanh", "small_gaussian")
    ratios = np.array(values[1:]) / np.array(values[:-1])
    assert ratios == pytest.approx([0.2] * 3, rel=0.05)


def test_he_keeps_the_second_moment_of_relu_activations_constant():
    inputs = torch.randn(500, UNITS, generator=torch.Generator().manual_seed(0))
    outputs = init_stats.layer_outputs(ACTIVATIONS.resolve("relu", "a"), INITS.resolve("he_normal", "i"), 6, UNITS, inputs, 0)
    second_moments = [o.pow(2).mean().item() for o in outputs]
    # He et al. 2015, eqs. 8-10: Var[y_l] = fan_in·Var[w]·E[x_{l-1}²] and E[x_l²] = ½·Var[y_l], so with
    # Var[w] = 2 / fan_in every layer keeps the inputs' second moment (1 for N(0, 1) inputs)
    assert second_moments == pytest.approx([1.0] * 6, rel=0.15)


def test_xavier_halves_the_second_moment_of_relu_activations_per_layer():
    """The classic failure He et al. fixed: Var[w] = 2/(n+n) = 1/n, so each ReLU layer keeps half."""
    inputs = torch.randn(500, UNITS, generator=torch.Generator().manual_seed(0))
    outputs = init_stats.layer_outputs(ACTIVATIONS.resolve("relu", "a"), INITS.resolve("xavier_normal", "i"), 6, UNITS, inputs, 0)
    second_moments = [o.pow(2).mean().item() for o in outputs]
    assert second_moments == pytest.approx([0.5 ** layer for layer in range(1, 7)], rel=0.15)


def test_large_weights_saturate_tanh_as_the_gaussian_tail_predicts():
    rows, _ = demonstration_of(activations=["tanh"], inits=["large_gaussian"], layers=3)
    # layer 1: pre-activations N(0, units) for N(0, I) inputs and N(0, 1) weights; |tanh| ≥ 0.98 ⇔ |z| ≥ atanh(0.98)
    expected = 2 * stats.norm.sf(math.atanh(0.98) / math.sqrt(50))
    assert rows["saturated_fraction"].iloc[0] == pytest.approx(expected, abs=0.03)
    assert (rows["saturated_fraction"] > 0.5).all()


def demonstration_of(**study):
    config = validate_config({"baseline": {"activation": "relu", "init": "he_normal", "norm": "batch", "regularizer": "none",
                                           "optimizer": "sgd", "schedule": "constant", "preprocessing": "none"},
                              "design": {"kind": "ablation", "seeds": [0]},
                              "studies": {"init_stats": {"enabled": True, "units": 50, "examples": 40, "bins": 7, **study}}})
    return init_stats.demonstration(config)


def test_demonstration_tables_cover_every_activation_init_and_layer_and_count_every_value():
    stats, histograms = demonstration_of(activations=["tanh", "relu"], inits=["small_gaussian", "he_normal"], layers=3)
    assert len(stats) == 2 * 2 * 3
    counts = histograms.groupby(["activation", "init", "layer"])["count"].sum()
    assert (counts == 40 * 50).all() and len(counts) == 12
    assert (histograms.groupby(["activation", "init", "layer"]).size() == 7).all()
    relu = stats[stats.activation == "relu"]
    assert relu["dead_fraction"].notna().all() and relu["saturated_fraction"].isna().all()


def test_histogram_of_constant_values_is_one_bar():
    table = init_stats.histogram(torch.zeros(10, 3), bins=4)
    assert table["count"].sum() == 30 and (table["count"] > 0).sum() == 1
    assert table["left"].iloc[0] < 0 < table["right"].iloc[-1]


def test_runs_are_every_activation_by_init_at_the_study_norm(tiny_config):
    tiny_config["studies"] = {"init_stats": {"enabled": True, "activations": ["relu", "tanh"],
                                             "inits": ["he_normal", "small_gaussian"], "run_norm": "none", "run_seeds": [0, 1]}}
    specs = init_stats.run_specs(validate_config(tiny_config))
    assert len(specs) == 8 and {s.norm.name for s in specs} == {"none"}
    assert {(s.activation.name, s.init.name, s.seed) for s in specs} == {
        (a, i, seed) for a in ("relu", "tanh") for i in ("he_normal", "small_gaussian") for seed in (0, 1)}


def test_every_run_records_per_layer_statistics_at_its_start_and_end(tiny_config, tmp_path):
    tiny_config["model"] = {"name": "mlp", "depth": 2, "width": 8}
    tiny_config["train"]["epochs"] = 1
    tiny_config["studies"] = {"init_stats": {"enabled": True, "activations": ["relu"], "inits": ["he_normal"]}}
    config = validate_config(tiny_config)
    (spec,) = init_stats.run_specs(config)
    train_run(spec, tmp_path / spec.run_id, Execution(device="cpu"))
    table = init_stats.run_statistics([tmp_path / spec.run_id])
    assert list(table["moment"]) == ["start", "start", "end", "end"] and list(table["layer"]) == [1, 2, 1, 2]
    assert (table["activation"] == "relu").all() and (table["status"] == "ok").all()
    assert table["dead_fraction"].between(0, 1).all() and table["std"].gt(0).all()
    assert math.isfinite(table["final_test_acc"].iloc[0])
