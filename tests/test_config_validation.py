"""Bad config input: each mistake stops with one line naming the key, the value and what is allowed."""

from __future__ import annotations

import copy

import pytest

from conftest import TINY_CONFIG
from trickbench.config import load_config, validate_config
from trickbench.design import expand
from trickbench.errors import ConfigError
from trickbench.studies.registered import load_all


def with_change(path: str, value):
    config = copy.deepcopy(TINY_CONFIG)
    *parents, last = path.split(".")
    target = config
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value
    return config


CASES = [
    # (dotted key to set, value, key named in the error, a fragment of what is allowed)
    ("trian", {"epochs": 1}, "trian", "keys baseline, data, design"),
    ("train.epochs", 0, "train.epochs", ">= 1"),
    ("train.epochs", "many", "train.epochs", "type integer"),
    ("train.batch_size", -8, "train.batch_size", ">= 1"),
    ("data.val_fraction", 1.5, "data.val_fraction", "<= 0.9"),
    ("design.kind", "fulll", "design.kind", "full, ablation, random"),
    ("design.seeds", [], "design.seeds", "at least 1 item"),
    ("design.seeds", [0, 0], "design.seeds", "no repeated items"),
    ("design.factors.colour", ["red"], "design.factors.colour", "keys activation"),
    ("design.factors.activation", [], "design.factors.activation", "at least 1 item"),
    ("execution.device", "tpu", "execution.device", "auto, cpu, cuda"),
    ("baseline.activation", "rleu", "baseline.activation", "relu"),
    ("baseline.optimizer", {"name": "adam", "lr": -1.0}, "baseline.optimizer.lr", "0.0 <= lr"),
    ("baseline.optimizer", {"name": "adam", "momentum": 0.9}, "baseline.optimizer.momentum", "parameters of adam"),
    ("baseline.regularizer", ["dropout", "dropout"], "baseline.regularizer", "at most once"),
    ("model", {"name": "mlp", "depth": -1}, "model.depth", "0 <= depth"),
    ("model", "transformer", "model", "cnn, mlp, resnet"),
    ("data.source", "imagenet", "data.source", "cifar10, cifar10-mini, synthetic"),
    ("studies", "everything", "studies", "all, none"),
]


@pytest.mark.parametrize("path, value, key, allowed", CASES, ids=[c[0] + "=" + repr(c[1]) for c in CASES])
def test_bad_input_names_key_value_and_what_is_allowed(path, value, key, allowed):
    with pytest.raises(ConfigError) as caught:
        expand(validate_config(with_change(path, value)))
    error = caught.value
    assert error.key == key
    assert allowed in error.allowed
    message = str(error)
    assert "\n" not in message and key in message and repr(value if not isinstance(value, dict) else error.value) in message


def test_missing_required_section_is_named():
    config = copy.deepcopy(TINY_CONFIG)
    del config["baseline"]
    with pytest.raises(ConfigError, match="'baseline'.*a required key"):
        validate_config(config)


def test_defaults_are_filled_in():
    config = validate_config(copy.deepcopy(TINY_CONFIG))
    assert config["execution"]["device"] == "auto" and config["train"]["warmup_epochs"] == 0
    assert config["studies"]["ensembles"]["enabled"] is False


def test_command_line_strings_become_the_numbers_the_schema_expects():
    # snakemake --config train='{epochs: 3}' hands over {'epochs': '3'}: YAML's BaseLoader keeps strings
    config = with_change("train", {"epochs": "3", "batch_size": "16", "warmup_epochs": "0.5"})
    config["baseline"]["optimizer"] = {"name": "adam", "lr": "1e-3"}
    config["execution"] = {"deterministic": "true"}
    spec = expand(validate_config(config))[0]
    assert (spec.train.epochs, spec.train.batch_size, spec.train.warmup_epochs) == (3, 16, 0.5)
    assert spec.optimizer.kwargs["lr"] == 0.001 and config["execution"]["deterministic"] is True


def test_a_string_that_is_not_a_number_is_still_rejected():
    with pytest.raises(ConfigError, match="train.epochs"):
        validate_config(with_change("train", {"epochs": "three"}))


def test_overlays_merge_mappings_and_replace_lists(tmp_path):
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("train: {epochs: 1}\ndesign: {seeds: [5]}\n")
    config = load_config("config.yaml", overlay)
    assert config["train"] == {"epochs": 1, "batch_size": 128, "warmup_epochs": 0}
    assert config["design"]["seeds"] == [5] and config["design"]["kind"] == "ablation"


def test_studies_shorthand_enables_exactly_the_named_studies():
    config = validate_config(with_change("studies", "all"))
    assert all(section["enabled"] for section in config["studies"].values())
    config = validate_config(with_change("studies", "none"))
    assert not any(section["enabled"] for section in config["studies"].values())


def test_studies_shorthand_names_every_registered_study():
    """The configuration reads the study names from the schema, not from the studies (which sit above
    it): the schema must have a section for every registered study and for nothing else."""
    config = validate_config(with_change("studies", "all"))
    assert sorted(config["studies"]) == sorted(load_all())
