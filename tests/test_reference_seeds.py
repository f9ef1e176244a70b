"""design.reference_seeds: the reference of a many-to-one design runs extra seeds (Dunnett's allocation)."""

from __future__ import annotations

import copy
import math

import pytest

from trickbench.config import validate_config
from trickbench.design import baseline_spec, expand
from trickbench.errors import ConfigError
from trickbench.reference_seeds import extra_seeds


def ablation(tiny_config, reference_seeds=None, seeds=(0, 1), **design):
    config = tiny_config
    config["design"].update(seeds=list(seeds), factors={"activation": ["relu", "tanh", "sigmoid", "gelu"]}, **design)
    if reference_seeds is not None:
        config["design"]["reference_seeds"] = reference_seeds
    return validate_config(config)


def seeds_by_cell(config) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for spec in expand(config):
        found.setdefault(spec.activation if isinstance(spec.activation, str) else str(spec.activation), []).append(spec.seed)
    return {cell: sorted(seeds) for cell, seeds in found.items()}


def baseline_seeds(config) -> list[int]:
    base = baseline_spec(config, 0)
    return sorted(spec.seed for spec in expand(config) if spec.run_id == baseline_spec(config, spec.seed).run_id
                  and spec.activation == base.activation)


def test_a_count_gives_the_reference_that_many_seeds_and_the_others_the_design_seeds(tiny_config):
    config = ablation(tiny_config, 4)
    assert baseline_seeds(config) == [0, 1, 2, 3]
    others = [spec for spec in expand(config) if spec.run_id != baseline_spec(config, spec.seed).run_id]
    assert len(others) == 3 * 2 and {spec.seed for spec in others} == {0, 1}


def test_a_list_is_the_reference_seeds_and_same_adds_none(tiny_config):
    assert baseline_seeds(ablation(tiny_config, [0, 1, 7, 9])) == [0, 1, 7, 9]


def test_same_adds_no_run(tiny_config):
    config = ablation(tiny_config, "same")
    assert baseline_seeds(config) == [0, 1] and len(expand(config)) == 4 * 2


def test_auto_is_dunnetts_square_root_allocation_and_same_is_the_schema_default(tiny_config):
    assert ablation(copy.deepcopy(tiny_config))["design"]["reference_seeds"] == "same"
    config = ablation(tiny_config, "auto")  # k = 3 compared levels, 2 seeds: round(√3 × 2) = 3
    assert len(baseline_seeds(config)) == round(math.sqrt(3) * 2) == 3


def test_extra_seeds_keep_every_existing_run_id(tiny_config):
    same = ablation(copy.deepcopy(tiny_config), "same")
    config = ablation(tiny_config, 5)
    assert baseline_seeds(config) == [0, 1, 2, 3, 4]
    assert {spec.run_id for spec in expand(same)} < {spec.run_id for spec in expand(config)}


def test_extra_seeds_skip_the_tuning_seeds(tiny_config):
    config = ablation(tiny_config, tuning={"enabled": True, "seeds": [2, 4]})
    assert extra_seeds(config, 3) == [3, 5, 6]  # 2 and 4 choose rates, never compared


def test_the_ensembles_members_count_and_are_not_new_runs(tiny_config):
    tiny_config["studies"] = {"ensembles": {"enabled": True, "members": 4, "mc_dropout_passes": 0}}
    config = ablation(tiny_config, 4, seeds=(0, 1))
    from trickbench.studies.ensembles import member_specs

    members = {spec.run_id for spec in member_specs(config)}
    extra = {spec.run_id for spec in expand(config) if spec.seed in (2, 3)}
    assert extra and extra <= members


@pytest.mark.parametrize("value", ["sometimes", -1, [1, 1], [5], 1, True, 2.5])
def test_a_bad_value_is_one_line_naming_the_key(tiny_config, value):
    with pytest.raises(ConfigError) as error:
        expand(ablation(tiny_config, value))
    message = str(error.value)
    assert "design.reference_seeds" in message and "\n" not in message and "same" in message
