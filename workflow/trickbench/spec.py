"""The run spec: everything that defines one training run, validated, frozen and hashable.

A `RunSpec` is what travels config → DAG wildcard (its id) → training → summary row. Its id is a
hash of its canonical JSON, so the same experiment always gets the same folder, and settings that
do not change the experiment (where data lives, how many threads, the device) are *not* part of
it: they are `Execution` settings, passed beside the spec.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from typing import Any, Mapping

from trickbench.errors import ConfigError
from trickbench.registry import Technique
from trickbench.techniques import FAMILIES

#: bump only when the canonical form changes meaning; it is part of every id
SPEC_VERSION = 1


@dataclass(frozen=True)
class DataSpec:
    source: Technique
    val_fraction: float = 0.1
    split_seed: int = 0


@dataclass(frozen=True)
class TrainSpec:
    epochs: int = 10
    batch_size: int = 128
    warmup_epochs: float = 0.0


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

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form; `from_dict(to_dict(s)) == s`."""
        out: dict[str, Any] = {"spec_version": SPEC_VERSION, "seed": self.seed}
        out["data"] = {"source": self.data.source.as_dict(), "val_fraction": self.data.val_fraction,
                       "split_seed": self.data.split_seed}
        out["model"] = self.model.as_dict()
        out["train"] = {f.name: getattr(self.train, f.name) for f in fields(TrainSpec)}
        for family in FAMILIES:
            value = getattr(self, family)
            out[family] = [t.as_dict() for t in value] if family == "regularizer" else value.as_dict()
        return out

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

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
        from trickbench.data.sources import SOURCES
        from trickbench.models import MODELS

        expected = {"spec_version", "seed", "data", "model", "train", *FAMILIES}
        for name in sorted(expected ^ set(raw)):
            raise ConfigError(f"{key}.{name}", raw.get(name), "keys " + ", ".join(sorted(expected)))
        if raw["spec_version"] != SPEC_VERSION:
            raise ConfigError(f"{key}.spec_version", raw["spec_version"], str(SPEC_VERSION))
        data, train = raw["data"], raw["train"]
        return cls(
            data=DataSpec(
                source=SOURCES.resolve(data["source"], f"{key}.data.source"),
                val_fraction=_number(data["val_fraction"], f"{key}.data.val_fraction", float, 0.0, 0.9),
                split_seed=_number(data["split_seed"], f"{key}.data.split_seed", int, 0, None),
            ),
            model=MODELS.resolve(raw["model"], f"{key}.model"),
            train=TrainSpec(
                epochs=_number(train["epochs"], f"{key}.train.epochs", int, 1, None),
                batch_size=_number(train["batch_size"], f"{key}.train.batch_size", int, 1, None),
                warmup_epochs=_number(train["warmup_epochs"], f"{key}.train.warmup_epochs", float, 0.0, None),
            ),
            seed=_number(raw["seed"], f"{key}.seed", int, 0, None),
            **{family: (resolve_regularizers(raw[family], f"{key}.{family}") if family == "regularizer"
                        else registry.resolve(raw[family], f"{key}.{family}"))
               for family, registry in FAMILIES.items()},
        )


def resolve_regularizers(level: Any, key: str) -> tuple[Technique, ...]:
    """A regularizer level is one regularizer or a list combined; canonical: sorted, no 'none'."""
    from trickbench.techniques.regularizers import REGULARIZERS

    items = level if isinstance(level, (list, tuple)) else [level]
    resolved = [REGULARIZERS.resolve(item, f"{key}[{i}]" if isinstance(level, list) else key)
                for i, item in enumerate(items)]
    chosen = sorted((t for t in resolved if t.name != "none"), key=lambda t: (t.name, t.params))
    names = [t.name for t in chosen]
    if len(set(names)) != len(names):
        raise ConfigError(key, level, "each regularizer at most once in a combination")
    return tuple(chosen)


def regularizer_label(combination: tuple[Technique, ...]) -> str:
    from trickbench.techniques.regularizers import REGULARIZERS

    return "+".join(REGULARIZERS.label(t) for t in combination) or "none"


def _number(value: Any, key: str, kind: type, low: float | None, high: float | None) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not kind:
        raise ConfigError(key, value, f"a {kind.__name__}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(key, value, f"{low if low is not None else '-inf'} <= value <= {high if high is not None else 'inf'}")
    return value
