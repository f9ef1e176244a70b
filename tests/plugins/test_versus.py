"""`design.kind: versus`: which levels it compares, that its runs are the hand-written ablation's,
and that a family, technique or level that does not fit stops with one line (the exact lines are
rows of docs/bad-input.md, tested in tests/reliability/test_bad_input.py)."""

from __future__ import annotations

import copy

import pytest
import yaml

from conftest import REPO, TINY_CONFIG
from plugin_helpers import EXAMPLES, clean_registries  # noqa: F401  (a fixture)
from trickbench.config import validate_config
from trickbench.design import design_cells, expand
from trickbench.errors import ConfigError
from trickbench.plugins import load_plugins
from trickbench.techniques import FAMILIES
from trickbench.tuning import trials
from trickbench.versus import NOT_STANDARD, standard_levels

LION = {"name": "lion", "lr": 0.0003, "weight_decay": 0.03}
#: the catalogue preset's optimizers less lbfgs, sam and lookahead, written out by hand
STANDARD_OPTIMIZERS = ["momentum", "sgd", "nesterov", "adagrad", "rmsprop", "adam", "adamw"]


def versus_config(versus: dict, seeds=(0, 1), plugins=("lion.py",)) -> dict:
    config = copy.deepcopy(TINY_CONFIG)
    config["plugins"] = list(plugins)
    config["design"] = {"kind": "versus", "seeds": list(seeds), "versus": versus,
                        "factors": {"activation": ["relu", "tanh"]},  # inherited from config.yaml: not read
                        "tuning": {"enabled": True, "trials": 2}}
    validate_config(config)
    load_plugins(config["plugins"], EXAMPLES)
    return config


def names(config: dict, family: str = "optimizer") -> list[str]:
    return [getattr(cell, family).name for cell in design_cells(config)]


def test_versus_is_the_baseline_the_challenger_and_the_catalogues_standard_levels(clean_registries):
    config = versus_config({"family": "optimizer", "technique": LION})
    cells = design_cells(config)
    assert names(config) == ["momentum", "lion", *STANDARD_OPTIMIZERS[1:]]  # the baseline's level first, once
    assert {cell.activation.name for cell in cells} == {"relu"}  # design.factors is not read
    assert cells[1].optimizer.kwargs == {"lr": 0.0003, "weight_decay": 0.03, "beta1": 0.9, "beta2": 0.99}
    catalogue = yaml.safe_load((REPO / "workflow" / "presets" / "catalogue.yaml").read_text())["design"]["factors"]
    by_name = {level["name"]: level for level in catalogue["optimizer"]}
    for cell in cells[2:]:  # the catalogue's parameters
        assert cell.optimizer.kwargs["lr"] == by_name[cell.optimizer.name]["lr"]
    assert len(expand(config)) == 8 * 2  # every level × seeds
    assert len(trials(config)) == 8 * 2 * 2  # every level tuned: 2 trials each, each on 2 tuning seeds


def test_versus_runs_are_the_runs_of_the_same_ablation_written_by_hand(clean_registries):
    versus = versus_config({"family": "optimizer", "technique": LION, "levels": ["adam", {"name": "sgd", "lr": 0.1}]})
    by_hand = copy.deepcopy(versus)
    del by_hand["design"]["versus"]
    by_hand["design"].update(kind="ablation", factors={"optimizer": [LION, "adam", {"name": "sgd", "lr": 0.1}]})
    assert [spec.run_id for spec in expand(versus)] == [spec.run_id for spec in expand(by_hand)]
    assert [t.spec.run_id for t in trials(versus)] == [t.spec.run_id for t in trials(by_hand)]
    assert names(versus) == ["momentum", "lion", "adam", "sgd"]  # levels replace the catalogue's; the baseline's stays


def test_a_builtin_challenger_replaces_the_standard_level_of_its_name(clean_registries):
    config = versus_config({"family": "optimizer", "technique": {"name": "adam", "lr": 0.003}}, plugins=())
    cells = design_cells(config)
    adams = [cell.optimizer for cell in cells if cell.optimizer.name == "adam"]
    assert adams and all(a.kwargs["lr"] == 0.003 for a in adams) and len(adams) == 1
    assert names(config) == ["momentum", "adam", *[n for n in STANDARD_OPTIMIZERS[1:] if n != "adam"]]


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_familys_standard_levels_are_catalogue_levels_that_resolve(family):
    catalogue = yaml.safe_load((REPO / "workflow" / "presets" / "catalogue.yaml").read_text())["design"]["factors"][family]
    standard = standard_levels(family)
    assert len(standard) >= 2 and all(level in catalogue for level in standard)
    left_out = [level for level in catalogue if level not in standard]
    named = {level if isinstance(level, str) else level["name"] for level in left_out if not isinstance(level, list)}
    assert named == set(NOT_STANDARD[family]) - {"<combination>"}  # every exclusion is a real catalogue level, with a reason
    assert all(name in FAMILIES[family] for name in named)
    config = copy.deepcopy(TINY_CONFIG)
    config["design"] = {"kind": "versus", "seeds": [0, 1], "tuning": {"enabled": True},
                        "versus": {"family": family, "technique": FAMILIES[family].names()[0]}}
    design_cells(validate_config(config))  # every standard level resolves


@pytest.mark.parametrize("versus, key", [
    ({"family": "activation", "technique": LION}, "design.versus.technique"),  # lion is an optimizer
    ({"family": "optimizer", "technique": "lino"}, "design.versus.technique"),
    ({"family": "optimizer", "technique": {"name": "lion", "learning_rate": 0.1}}, "design.versus.technique.learning_rate"),
    ({"family": "optimizer", "technique": "lion", "levels": ["adam", "relu"]}, "design.versus.levels[1]"),
])
def test_a_challenger_or_level_outside_the_family_stops_with_its_key(clean_registries, versus, key):
    config = versus_config(versus)
    with pytest.raises(ConfigError) as raised:
        design_cells(config)
    assert raised.value.key == key and "\n" not in str(raised.value)
    if key == "design.versus.technique" and versus["family"] == "activation":
        assert str(raised.value).endswith("(lion is a technique of optimizer)")
        assert "relu" in raised.value.allowed and "adam" not in raised.value.allowed


def test_the_schema_names_the_families(clean_registries):
    with pytest.raises(ConfigError) as raised:
        versus_config({"family": "optimiser", "technique": "lion"})
    assert raised.value.key == "design.versus.family"
    assert raised.value.allowed == ", ".join(FAMILIES)


def test_the_lion_versus_example_plans_the_same_grid_as_the_lion_ablation_plus_every_levels_trials(clean_registries):
    """examples/lion_versus.yaml as shipped (tests/integration/test_versus_workflow.py trains it small):
    its fixed-rate runs are exactly those of examples/lion.yaml, the hand-written ablation."""
    from trickbench.config import load_config
    from trickbench.plugins import unload_all
    from trickbench.workflow import plan_from_config

    versus = plan_from_config(load_config(REPO / "config.yaml", EXAMPLES / "lion_versus.yaml"))
    unload_all()
    ablation = plan_from_config(load_config(REPO / "config.yaml", EXAMPLES / "lion.yaml"))
    assert set(versus.grid) == set(ablation.grid) and len(versus.grid) == 8 * 3
    assert len(versus.tuning) == 8 * 5 * 2 and versus.tuned == []  # the tuned runs join once the trials are chosen
