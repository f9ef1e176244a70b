"""The run spec: canonical form, stable ids, round trips, validation of a spec read back."""

from __future__ import annotations

import copy
import dataclasses
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import TINY_CONFIG
from trickbench.config import load_config, validate_config
from trickbench.design import baseline_spec, expand
from trickbench.errors import ConfigError
from trickbench.spec import RunSpec, TrainSpec, settings_to_dict


def shuffled(value, rng: random.Random):
    """The same JSON value with every mapping's keys in a random order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


def test_id_is_twelve_hex_digits_of_the_canonical_json(tiny_config):
    spec = expand(validate_config(tiny_config))[0]
    assert len(spec.run_id) == 12 and int(spec.run_id, 16) >= 0
    assert spec.canonical_json() == json.dumps(spec.to_dict(), sort_keys=True, separators=(",", ":"))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), order=st.randoms(use_true_random=False))
def test_id_does_not_depend_on_key_order(seed, order):
    config = copy.deepcopy(TINY_CONFIG)
    config["design"]["seeds"] = [seed]
    spec = expand(validate_config(config))[0]
    again = RunSpec.from_dict(shuffled(spec.to_dict(), order))
    assert again == spec and again.run_id == spec.run_id


def test_round_trip_of_every_default_grid_run():
    for spec in expand(load_config("config.yaml")):
        assert RunSpec.from_dict(json.loads(spec.canonical_json())) == spec


def test_parameters_at_their_default_name_the_same_run(tiny_config):
    implicit = expand(validate_config(tiny_config))[0]
    tiny_config["baseline"]["activation"] = {"name": "relu"}
    tiny_config["baseline"]["norm"] = {"name": "batch", "momentum": 0.1}
    assert expand(validate_config(tiny_config))[0].run_id == implicit.run_id


def test_unrelated_keys_do_not_rename_runs(tiny_config):
    before = [s.run_id for s in expand(validate_config(copy.deepcopy(tiny_config)))]
    tiny_config["execution"] = {"device": "cpu", "threads": 2, "eval_batch_size": 64, "data_root": "/elsewhere"}
    tiny_config["report"] = {"title": "another title", "learning_curves": 2}
    assert [s.run_id for s in expand(validate_config(tiny_config))] == before


def test_what_defines_an_experiment_renames_it(tiny_config):
    base = baseline_spec(validate_config(tiny_config), 0)
    changed = [dataclasses.replace(base, seed=1),
               dataclasses.replace(base, train=dataclasses.replace(base.train, epochs=3)),
               dataclasses.replace(base, data=dataclasses.replace(base.data, split_seed=1))]
    assert len({base.run_id, *(s.run_id for s in changed)}) == 4


def test_optional_settings_stay_out_of_the_canonical_form_at_their_default():
    @dataclasses.dataclass(frozen=True)
    class Extended(TrainSpec):
        new_knob: float = dataclasses.field(default=0.0, metadata={"bounds": (0.0, 1.0), "optional": True})

    assert settings_to_dict(Extended()) == settings_to_dict(TrainSpec())
    assert settings_to_dict(Extended(new_knob=0.5))["new_knob"] == 0.5


@pytest.mark.parametrize("path, value, key", [
    (("train", "epochs"), 0, "spec.train.epochs"),
    (("train", "epochs"), 2.5, "spec.train.epochs"),
    (("data", "val_fraction"), 0.95, "spec.data.val_fraction"),
    (("activation",), {"name": "relu", "slope": 0.1}, "spec.activation.slope"),
    (("optimizer",), {"name": "adamm"}, "spec.optimizer"),
    (("spec_version",), 99, "spec.spec_version"),
])
def test_a_bad_spec_read_back_names_its_key(tiny_config, path, value, key):
    raw = expand(validate_config(tiny_config))[0].to_dict()
    target = raw
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    with pytest.raises(ConfigError) as error:
        RunSpec.from_dict(raw)
    assert error.value.key == key


def test_a_spec_missing_a_section_names_it(tiny_config):
    raw = expand(validate_config(tiny_config))[0].to_dict()
    del raw["norm"]
    with pytest.raises(ConfigError, match="spec.norm"):
        RunSpec.from_dict(raw)
