"""The run spec: everything that defines one training run, validated, frozen and hashable.

A `RunSpec` is what travels config → DAG wildcard (its id) → training → summary row. Its id is a
hash of its canonical JSON, so the same experiment always gets the same folder, and settings that
do not change the experiment (where data lives, how many threads, the device) are *not* part of
it: they are `Execution` settings, passed beside the spec. A technique from a user's plugin carries
the plugin's file and source hash, so editing a plugin renames the runs that use it, no others.
One setting of how a run executes is part of it all the same: its numerics mode
(`trickbench.numerics`), because on CPU it decides the bits of every number the run reports.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Mapping

from trickbench.data.sources import SOURCES
from trickbench.errors import ConfigError
from trickbench.models import MODELS
from trickbench.numerics import UNNAMED_MODE, check_mode
from trickbench.registry import PluginRef, Technique
from trickbench.techniques import FAMILIES
from trickbench.techniques.regularizers import REGULARIZERS
from trickbench.techniques.schedules import check_warmup

#: bump only when the canonical form changes meaning; it is part of every id, so runs trained under
#: an older meaning are never reused. 2: weight decay by parameter role, SAM's batch-norm statistics,
#: batch renorm's relaxation, the step schedule, the final_* metrics of the returned model. 3: early
#: stopping stops after `patience` epochs without improvement (was patience + 1), SWA recomputes
#: batch renorm's running statistics for the averaged weights
SPEC_VERSION = 3


def setting(default: Any, low: float | None = None, high: float | None = None, *, optional: bool = False) -> Any:
    """A numeric field of a spec section with its inclusive bounds.

    `optional=True` marks a field added after the first version: the canonical form leaves it out
    while it holds its default, so adding it renamed no existing run."""
    return field(default=default, metadata={"bounds": (low, high), "optional": optional})


@dataclass(frozen=True)
class DataSpec:
    source: Technique
    val_fraction: float = setting(0.1, 0.0, 0.9)
    split_seed: int = setting(0, 0)
    #: fraction of training labels replaced by a different class (seeded by split_seed; never val/test)
    label_noise: float = setting(0.0, 0.0, 1.0, optional=True)
    #: train on this many images of the training split (seeded by split_seed); 0 keeps them all
    train_subset: int = setting(0, 0, optional=True)
    #: images area-downsampled to image_size × image_size (all splits); 0 keeps the source's size
    image_size: int = setting(0, 0, optional=True)


@dataclass(frozen=True)
class TrainSpec:
    epochs: int = setting(10, 1)
    batch_size: int = setting(128, 1)
    warmup_epochs: float = setting(0.0, 0.0)
    #: abort (status `exploded`) once a step's training loss exceeds this × the first step's; 0 = never
    explode_factor: float = setting(0.0, 0.0, optional=True)
    #: decay d of an exponential moving average of the weights, x_avg ← d·x_avg + (1−d)·x each step; 0 = off
    ema_decay: float = setting(0.0, 0.0, 1.0, optional=True)
    #: stochastic weight averaging: average the weights at the end of every epoch from this one on; 0 = off
    swa_start_epoch: int = setting(0, 0, optional=True)
    #: constant learning rate from `swa_start_epoch` on (Izmailov et al. 2018), reached by the
    #: schedule planned for the epochs before it; 0 keeps the schedule planned for the whole run
    swa_lr: float = setting(0.0, 0.0, optional=True)
    #: test-time passes with dropout active, averaged (Gal & Ghahramani 2016); 0 = off
    mc_dropout_passes: int = setting(0, 0, optional=True)
    #: training images scored in eval mode after every epoch (a fixed sample, seeded by the split):
    #: part of the spec because it changes the numbers measured, not how training runs
    train_eval_sample: int = setting(1024, 1, optional=True)
    #: score the untrained model before the first step as every epoch is scored (epochs.csv row
    #: epoch 0): what a time-to-target counts from when the target is reached within epoch 1.
    #: Off by default, so it renames no run; it changes what a run reports, never how it trains
    evaluate_at_epoch_0: bool = setting(False, optional=True)


def settings_to_dict(section: Any) -> dict[str, Any]:
    """The numeric settings of a spec section, optional ones only where they differ from default."""
    return {f.name: getattr(section, f.name) for f in fields(section) if "bounds" in f.metadata
            and not (f.metadata["optional"] and getattr(section, f.name) == f.default)}


def settings_from_dict(cls: type, raw: Mapping[str, Any], key: str, **given: Any) -> Any:
    """Validate a section's numeric settings (type and bounds; optional ones may be absent)."""
    known = {f.name: f for f in fields(cls) if "bounds" in f.metadata}
    for name in raw:
        if name not in known and name not in given:
            raise ConfigError(f"{key}.{name}", raw[name], "keys " + ", ".join(sorted([*known, *given])))
    values = dict(given)
    for name, spec_field in known.items():
        if name not in raw:
            if not spec_field.metadata["optional"] or spec_field.default is MISSING:
                raise ConfigError(f"{key}.{name}", None, "a required key")
            continue
        values[name] = _number(raw[name], f"{key}.{name}", type(spec_field.default), *spec_field.metadata["bounds"])
    return cls(**values)


@dataclass(frozen=True)
class RunSpec:
    data: DataSpec
    model: Technique
    train: TrainSpec
    activation: Technique
    init: Technique
    norm: Technique
    regularizer: tuple[Technique, ...]
    optimizer: Technique
    schedule: Technique
    preprocessing: Technique
    seed: int = 0
    #: execution.numerics: `portable` pins the CPU libraries' code paths, `native` lets them choose by
    #: CPU. Left out of the canonical form when native, so runs trained before the mode existed (all
    #: native) keep their ids; portable runs have other bits, so other ids.
    numerics: str = UNNAMED_MODE

    def __post_init__(self) -> None:
        check_mode(self.numerics, "numerics")
        check_warmup(self.schedule, self.train.warmup_epochs)  # a combination no single key can refuse

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form; `from_dict(to_dict(s)) == s`."""
        out: dict[str, Any] = {"spec_version": SPEC_VERSION, "seed": self.seed}
        out["data"] = {"source": self.data.source.as_dict(), **settings_to_dict(self.data)}
        out["model"] = self.model.as_dict()
        out["train"] = settings_to_dict(self.train)
        for family in FAMILIES:
            value = getattr(self, family)
            out[family] = [t.as_dict() for t in value] if family == "regularizer" else value.as_dict()
        if self.numerics != UNNAMED_MODE:
            out["numerics"] = self.numerics
        return out

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def plugins(self) -> tuple[PluginRef, ...]:
        """The plugins whose techniques this run uses; each one's file and source hash is part of
        the canonical form (`Technique.as_dict`), so of the id. Empty for built-in techniques only."""
        techniques = [self.data.source, self.model, *self.regularizer,
                      *(getattr(self, family) for family in FAMILIES if family != "regularizer")]
        return tuple(dict.fromkeys(t.plugin for t in techniques if t.plugin is not None))

    @property
    def run_id(self) -> str:
        """Stable id: 12 hex digits of the SHA-256 of the canonical JSON (48 bits; collisions
        among even a million runs are ~1e-3 likely at worst, and `expand` checks for them)."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:12]

    def label(self, family: str) -> str:
        """Human label of the level this run uses for a factor family (e.g. 'leaky_relu(slope=0.1)')."""
        value = getattr(self, family)
        if family == "regularizer":
            return regularizer_label(value)
        return FAMILIES[family].label(value)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], key: str = "spec") -> "RunSpec":
        """Validate a complete spec dict (as `to_dict` writes it) back into a spec; errors name the key."""
        expected = {"spec_version", "seed", "data", "model", "train", *FAMILIES}
        for name in sorted(expected ^ (set(raw) - {"numerics"})):
            raise ConfigError(f"{key}.{name}", raw.get(name), "keys " + ", ".join(sorted([*expected, "numerics"])))
        if raw["spec_version"] != SPEC_VERSION:
            raise ConfigError(f"{key}.spec_version", raw["spec_version"], str(SPEC_VERSION))
        data = raw["data"]
        return cls(
            data=settings_from_dict(DataSpec, data, f"{key}.data",
                                    source=SOURCES.resolve(data.get("source"), f"{key}.data.source")),
            model=MODELS.resolve(raw["model"], f"{key}.model"),
            train=settings_from_dict(TrainSpec, raw["train"], f"{key}.train"),
            seed=_number(raw["seed"], f"{key}.seed", int, 0, None),
            numerics=check_mode(raw.get("numerics", UNNAMED_MODE), f"{key}.numerics"),
            **{family: (resolve_regularizers(raw[family], f"{key}.{family}") if family == "regularizer"
                        else registry.resolve(raw[family], f"{key}.{family}"))
               for family, registry in FAMILIES.items()},
        )


def resolve_regularizers(level: Any, key: str) -> tuple[Technique, ...]:
    """A regularizer level is one regularizer or a list combined; canonical: sorted, no 'none'."""
    items = level if isinstance(level, (list, tuple)) else [level]
    resolved = [REGULARIZERS.resolve(item, f"{key}[{i}]" if isinstance(level, list) else key)
                for i, item in enumerate(items)]
    chosen = sorted((t for t in resolved if t.name != "none"), key=lambda t: (t.name, t.params))
    names = [t.name for t in chosen]
    if len(set(names)) != len(names):
        raise ConfigError(key, level, "each regularizer at most once in a combination")
    return tuple(chosen)


def resolve_level(family: str, level: Any, key: str) -> Any:
    """A config level of `family` resolved by its registry (a regularizer level may be a combination)."""
    if family == "regularizer":
        return resolve_regularizers(level, key)
    return FAMILIES[family].resolve(level, key)


def regularizer_label(combination: tuple[Technique, ...]) -> str:
    return "+".join(REGULARIZERS.label(t) for t in combination) or "none"


def _number(value: Any, key: str, kind: type, low: float | None, high: float | None) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not kind:
        raise ConfigError(key, value, f"a {kind.__name__}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(key, value, f"{low if low is not None else '-inf'} <= value <= {high if high is not None else 'inf'}")
    return value
