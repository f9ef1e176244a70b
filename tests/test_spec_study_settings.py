"""The run-spec settings the studies added are optional: absent at their defaults (no run renamed),
round-tripped and bound-checked when set."""

from __future__ import annotations

import dataclasses

import pytest

from trickbench.config import validate_config
from trickbench.design import baseline_spec
from trickbench.errors import ConfigError
from trickbench.spec import RunSpec

DATA = {"label_noise": 0.2, "train_subset": 100, "image_size": 8}
TRAIN = {"ema_decay": 0.995, "swa_start_epoch": 3, "swa_lr": 0.01, "mc_dropout_passes": 20}


def test_defaults_leave_the_canonical_form_as_before(tiny_config):
    spec = baseline_spec(validate_config(tiny_config), 0)
    raw = spec.to_dict()
    assert set(raw["data"]) == {"source", "val_fraction", "split_seed"}
    assert set(raw["train"]) == {"epochs", "batch_size", "warmup_epochs"}


def test_set_values_enter_the_id_and_round_trip(tiny_config):
    spec = baseline_spec(validate_config(tiny_config), 0)
    changed = dataclasses.replace(spec, data=dataclasses.replace(spec.data, **DATA),
                                  train=dataclasses.replace(spec.train, **TRAIN))
    assert changed.run_id != spec.run_id
    assert RunSpec.from_dict(changed.to_dict()) == changed
    assert changed.to_dict()["train"]["ema_decay"] == 0.995


@pytest.mark.parametrize("section, key, value", [("data", "label_noise", 1.5), ("data", "train_subset", -1),
                                                 ("train", "ema_decay", 2.0), ("train", "mc_dropout_passes", 0.5)])
def test_out_of_range_values_name_their_key(tiny_config, section, key, value):
    raw = baseline_spec(validate_config(tiny_config), 0).to_dict()
    raw[section][key] = value
    with pytest.raises(ConfigError, match=f"spec.{section}.{key}"):
        RunSpec.from_dict(raw)
