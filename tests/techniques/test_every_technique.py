"""Registry-parametrized tests: every registered technique, of every family, is checked here
without anyone listing it (timm-style) — a new entry is tested the moment it is registered."""

from __future__ import annotations

import functools
import io
import json
import math

import pytest
import torch

from technique_helpers import tiny_spec, tiny_trainer
from trickbench.errors import ConfigError
from trickbench.registry import Entry, Registry
from trickbench.techniques import FAMILIES

ENTRIES = [pytest.param(family, entry, id=f"{family}-{entry.name}") for family, registry in FAMILIES.items()
           for entry in registry]
#: entries that are the absence of a technique, or PyTorch's own choice, need no reference
NO_REFERENCE = {"none", "default", "constant"}
MODELS = {"mlp": {"name": "mlp", "depth": 1, "width": 16}, "cnn": {"name": "cnn", "depth": 1, "width": 8}}


@pytest.mark.parametrize("family, entry", ENTRIES)
def test_entry_documents_what_it_does_and_where_it_comes_from(family: str, entry: Entry):
    assert entry.summary, f"{family} '{entry.name}' needs a docstring whose first line says what it does"
    assert entry.reference or entry.name in NO_REFERENCE, f"{family} '{entry.name}' needs a reference"


@pytest.mark.parametrize("family, entry", ENTRIES)
def test_every_parameter_is_validated(family: str, entry: Entry):
    """Numbers have bounds, strings have choices, so no config value reaches a builder unchecked."""
    registry = FAMILIES[family]
    for name, default in entry.defaults.items():
        if isinstance(default, str):
            assert name in entry.choices and default in entry.choices[name]()
        elif not isinstance(default, bool):
            assert name in entry.bounds, f"{family} '{entry.name}': parameter {name} has no bounds"
            low, high = entry.bounds[name]
            beyond = (low - 1) if low is not None else high + 1
            with pytest.raises(ConfigError, match=f"{family}.{name}"):
                registry.resolve({"name": entry.name, name: type(default)(beyond)}, family)
    with pytest.raises(ConfigError, match="parameters of"):
        registry.resolve({"name": entry.name, "no_such_parameter": 1}, family)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_unknown_names_list_the_allowed_ones(family: str):
    registry: Registry = FAMILIES[family]
    with pytest.raises(ConfigError) as error:
        registry.resolve("no_such_technique", f"baseline.{family}")
    message = str(error.value)
    assert f"baseline.{family}" in message and all(name in message for name in registry.names())


def _models_for(family: str, name: str) -> list[str]:
    # activations and norms shape the layers, so they are tried in both a dense and a conv net
    return list(MODELS) if family in ("activation", "norm") else ["mlp"]


CASES = [pytest.param(family, entry.name, model, id=f"{family}-{entry.name}-{model}")
         for family, registry in FAMILIES.items() for entry in registry for model in _models_for(family, entry.name)]

#: what a technique that is the tiny config's baseline level is compared with instead of the baseline
OTHER = {"activation": "tanh", "init": "xavier_normal", "norm": "none", "regularizer": "dropout",
         "optimizer": {"name": "sgd", "lr": 0.05}, "schedule": "constant", "preprocessing": "none"}
#: levels that act within the tiny run where the defaults would not: max-norm's 3 is never reached
#: by the rows of he-initialized weights of a 192-input layer (‖w‖ ≈ √2)
ACTING = {("regularizer", "max_norm"): {"name": "max_norm", "limit": 0.5}}
TIMINGS = ("train_seconds", "images_per_s")


@functools.lru_cache(maxsize=None)
def first_epoch(model: str, family: str | None = None, level: str | None = None) -> tuple[dict, dict, bool]:
    """(row, model state, whether a best epoch is kept) after one epoch of the tiny run, with the
    baseline's levels or `family` set to `level` (as JSON)."""
    trainer = tiny_trainer(MODELS[model], epochs=2, **({family: json.loads(level)} if family else {}))
    row = trainer.train_epoch()
    return row, trainer.model.state_dict(), trainer.best_weights is not None


def acted(got: tuple[dict, dict, bool], reference: tuple[dict, dict, bool]) -> bool:
    """Whether two first epochs differ: any metric, any weight or statistic, or the early-stopping record."""
    (row, state, best), (other_row, other_state, other_best) = got, reference
    metrics = lambda r: {k: v for k, v in r.items() if k not in TIMINGS}
    return (metrics(row) != metrics(other_row) or best != other_best or state.keys() != other_state.keys()
            or any(not torch.equal(state[k], other_state[k]) for k in state))


@pytest.mark.parametrize("family, name, model", CASES)
def test_trains_an_epoch_acts_and_resumes_from_its_checkpoint(family: str, name: str, model: str):
    """One epoch of the real training loop with the technique — which must differ from the same
    epoch without it (the baseline's level, or another level where the technique is the baseline's)
    — then its full state through torch.save/torch.load(weights_only=True) into a fresh trainer,
    which continues identically."""
    if (family, name, model) == ("norm", "instance", "mlp"):
        with pytest.raises(ConfigError, match="spatial"):
            tiny_trainer(MODELS[model], **{family: name})
        return
    level = ACTING.get((family, name), name)
    trainer = tiny_trainer(MODELS[model], epochs=2, **{family: level})
    row = trainer.train_epoch()
    assert math.isfinite(row["train_loss"]) and math.isfinite(row["val_loss"])
    assert row["grad_evals"] >= trainer.steps_per_epoch
    is_baseline = trainer.spec == tiny_spec(MODELS[model], epochs=2)
    reference = first_epoch(model, family, json.dumps(OTHER[family])) if is_baseline else first_epoch(model)
    assert acted((row, trainer.model.state_dict(), trainer.best_weights is not None), reference), \
        f"{family} {name} changed nothing in an epoch of training"
    buffer = io.BytesIO()
    torch.save(trainer.state_dict(), buffer)
    expected = trainer.train_epoch()
    buffer.seek(0)
    resumed = tiny_trainer(MODELS[model], epochs=2, **{family: level})
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    got = resumed.train_epoch()
    assert got["train_loss"] == expected["train_loss"] and got["val_loss"] == expected["val_loss"]
    for a, b in zip(trainer.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
