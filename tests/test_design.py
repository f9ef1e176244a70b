"""Designs: how many runs each makes, which combinations, and that a repeated level is refused."""

from __future__ import annotations

import copy
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import TINY_CONFIG
from trickbench.config import validate_config
from trickbench.errors import ConfigError
from trickbench.design import expand

LEVELS = {
    "activation": ["relu", "tanh", "sigmoid", "gelu"],
    "init": ["he_normal", "xavier_normal", "orthogonal"],
    "norm": ["batch", "none", "layer"],
    "optimizer": [{"name": "momentum", "lr": 0.05}, "sgd", "adam"],
}


def design(config, kind, factors, seeds=(0,), **options):
    config["design"] = {"kind": kind, "seeds": list(seeds), "factors": factors, **options}
    return expand(validate_config(config))


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(1, 3), min_size=1, max_size=4), seeds=st.integers(1, 3))
def test_full_design_is_the_product_times_seeds(sizes, seeds):
    factors = {family: LEVELS[family][:n] for family, n in zip(LEVELS, sizes)}
    runs = design(copy.deepcopy(TINY_CONFIG), "full", factors, seeds=range(seeds))
    assert len(runs) == math.prod(sizes) * seeds


def test_ablation_is_baseline_plus_each_other_level(tiny_config):
    runs = design(tiny_config, "ablation", LEVELS, seeds=(0, 1))
    # baseline (relu, he_normal, batch, momentum) + 3 + 2 + 2 + 2 other levels, each × 2 seeds
    assert len(runs) == (1 + 3 + 2 + 2 + 2) * 2
    for spec in runs:
        changed = [f for f in LEVELS if spec.label(f) != {"activation": "relu", "init": "he_normal", "norm": "batch",
                                                           "optimizer": "momentum"}[f]]
        assert len(changed) <= 1


def test_random_design_draws_distinct_combinations_reproducibly(tiny_config):
    first = design(tiny_config, "random", LEVELS, samples=10, sample_seed=3)
    again = design(tiny_config, "random", LEVELS, samples=10, sample_seed=3)
    other = design(tiny_config, "random", LEVELS, samples=10, sample_seed=4)
    assert len(first) == 10 and len({s.run_id for s in first}) == 10
    assert [s.run_id for s in first] == [s.run_id for s in again]
    assert [s.run_id for s in first] != [s.run_id for s in other]


def test_random_design_caps_at_the_product(tiny_config):
    assert len(design(tiny_config, "random", {"activation": ["relu", "tanh"]}, samples=50)) == 2


def test_seeds_are_innermost_and_give_distinct_ids(tiny_config):
    runs = design(tiny_config, "full", {"activation": ["relu", "tanh"]}, seeds=(0, 1, 2))
    assert [s.seed for s in runs] == [0, 1, 2, 0, 1, 2]
    assert len({s.run_id for s in runs}) == 6


@pytest.mark.parametrize("kind", ["full", "ablation"])
@pytest.mark.parametrize("levels, first, repeated", [
    (["relu", "tanh", "relu"], 0, 2),
    (["relu", {"name": "relu"}], 0, 1),
    (["relu", {"name": "leaky_relu", "slope": 0.01}, "leaky_relu"], 1, 2),  # a parameter at its default
])
def test_a_level_listed_twice_is_refused_naming_both_places(tiny_config, kind, levels, first, repeated):
    with pytest.raises(ConfigError) as caught:
        design(tiny_config, kind, {"activation": levels})
    assert str(caught.value) == (f"config error at 'design.factors.activation[{repeated}]': got {levels[repeated]!r}; "
                                 f"allowed: a level not listed before (it repeats design.factors.activation[{first}])")


def test_regularizer_combinations_are_order_free(tiny_config):
    with pytest.raises(ConfigError, match=r"regularizer\[1\]'.*it repeats design.factors.regularizer\[0\]"):
        design(tiny_config, "full", {"regularizer": [["dropout", "l2"], ["l2", "dropout"], "none"]})
    runs = design(tiny_config, "full", {"regularizer": [["dropout", "l2"], "none"]})
    assert sorted(s.label("regularizer") for s in runs) == ["dropout+l2", "none"]
