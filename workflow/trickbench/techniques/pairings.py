"""Techniques meant to be used together, and the note a run gets when it pairs them otherwise.

Some techniques are defined for a partner: SELU's self-normalization (Klambauer et al. 2017, §2
and Theorem 1) is derived for weights of mean 0 and variance 1/fan_in — LeCun's normal init. Under
He or orthogonal init a SELU network gets PyTorch's SELU gain 3/4 instead
(`torch.nn.init.calculate_gain("selu")`, an empirical choice), under Xavier variance
2/(fan_in + fan_out): it still trains, but it is not the network the paper analyses. Such a run is
kept — comparing pairings is what a grid does — and says so: the catalogue names the partner,
and the run's summary (`technique_notes`, a column of runs.csv and of the report's runs table)
names the mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from trickbench.registry import Technique

Level = Technique | tuple[Technique, ...]  # one technique, or a combination (regularizers)


@dataclass(frozen=True)
class Pairing:
    """`family` technique `name` is meant to be used with `partner_family` level `partner`, because `why`."""

    family: str
    name: str
    partner_family: str
    partner: str
    why: str


PAIRINGS = [
    Pairing("activation", "selu", "init", "lecun_normal",
            "its self-normalization assumes weights of variance 1/fan_in (Klambauer et al. 2017, §2)"),
]


def partners(family: str, name: str) -> list[Pairing]:
    """The pairings that technique `name` of `family` is meant for (what the catalogue lists)."""
    return [p for p in PAIRINGS if (p.family, p.name) == (family, name)]


def _names(level: Level) -> list[str]:
    return [t.name for t in level] if isinstance(level, tuple) else [level.name]


def technique_notes(levels: Mapping[str, Level]) -> str:
    """One note per pairing that `levels` (family → the run's level) breaks, '; '-separated;
    '' when the run pairs every technique as it is meant to be used."""
    notes = [f"{p.family} {p.name} is meant for {p.partner_family} {p.partner}: {p.why}; "
             f"this run uses {p.partner_family} {' + '.join(_names(levels[p.partner_family])) or 'none'}"
             for p in PAIRINGS
             if p.name in _names(levels[p.family]) and p.partner not in _names(levels[p.partner_family])]
    return "; ".join(notes)
