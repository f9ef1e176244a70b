"""Claims of the lecture and the papers, each a registered entry: what the source states, the runs it
needs, the quantity it tests and the rule that makes it reproduced, not reproduced or inconclusive.

A claim is one decorated function that measures its quantity from the result tables
(results/tables/*.csv, never training code) and returns a `Measurement`:

- `Contrast`: per-seed values of two arms, the one the claim predicts higher and the other, so that
  the claim predicts higher − lower > 0; judged by a `Difference` rule through a t test, corrected
  across the scorecard (see `verdicts`);
- `Reading`: one measured number without seeds (a deterministic network, one pair of solutions);
  judged by a `Threshold` rule;
- `NotRun`: the runs it needs are absent — with the setting that runs them;
- `Undecided`: the runs are there but the quantity is undefined on them (e.g. no width reached zero
  training error), with why.

Claims are written as their source states them, with the source's own numbers where it gives one
(`Difference.asserted`), never as the data here happen to come out; their thresholds are in the
quantity's own units (points of accuracy, ratios), independent of the data set's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from trickbench.stats import ChanceTest
from trickbench.studies.registered import enabled_studies
from trickbench.tuning import CHOICE_TABLE, TRIALS_TABLE, enabled

#: the phenomena the studies show (technique families are `trickbench.techniques.FAMILIES`)
PHENOMENA = ("gap", "early stopping", "double descent", "ensembles", "checkpoint averaging",
             "initialization statistics", "babysitting", "mode connectivity", "calibration")


# -- the rules that turn a measurement into a verdict ---------------------------------------------
@dataclass(frozen=True)
class Difference:
    """A claim tested over seeds: the effect is higher − lower (> 0 when the claim holds).

    Reproduced when the corrected interval lies above 0 and does not exclude the size the source
    asserts; not reproduced when it lies below 0 or below that size; else inconclusive."""

    unit: str  # of the effect as shown: "points", "nats", "×"
    asserted: float | None = None  # the size the source states, in the shown unit (e.g. 6 for "six times")
    ratio: bool = False  # the values are natural logs; the effect is shown as a ratio exp(·)

    def boundary(self) -> float | None:
        """`asserted` on the scale of the values (its log for a ratio)."""
        if self.asserted is None:
            return None
        return float(np.log(self.asserted)) if self.ratio else self.asserted


@dataclass(frozen=True)
class Threshold:
    """A claim read off one measured number: reproduced inside `reproduced`, not reproduced inside
    `refuted` (everything outside `reproduced` when None), inconclusive in between."""

    unit: str
    reproduced: tuple[float, float]  # closed interval; ±inf for an open side
    refuted: tuple[float, float] | None = None

    def verdict(self, value: float) -> str:
        inside = lambda bounds: bounds[0] <= value <= bounds[1]
        if inside(self.reproduced):
            return REPRODUCED
        if self.refuted is None or inside(self.refuted):
            return NOT_REPRODUCED
        return INCONCLUSIVE


REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN = "reproduced", "not reproduced", "inconclusive", "not run"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN)


# -- what a claim's function returns --------------------------------------------------------------
@dataclass(frozen=True)
class Contrast:
    """Values of the arm the claim predicts higher and of the other (paired: higher[i] and lower[i]
    share unit i, e.g. a seed)."""

    higher: np.ndarray
    lower: np.ndarray
    paired: bool
    units: tuple[str, ...] = ()  # what each pair is (e.g. 'seed 3'), when paired
    arms: tuple[str, str] = ("higher", "lower")  # the arms' names, e.g. ('tanh', 'relu')
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reading:
    value: float
    sample: str  # what was measured, e.g. '1 network of 10 × 500 units on 1,000 inputs'
    notes: tuple[str, ...] = ()
    values: dict[str, float] = field(default_factory=dict)  # the numbers behind it, for the evidence table


@dataclass(frozen=True)
class NotRun:
    missing: str  # what is absent, and the setting that runs it


@dataclass(frozen=True)
class Undecided:
    reason: str  # why the quantity is undefined on the runs that are there


Measurement = Contrast | Reading | NotRun | Undecided


class Results:
    """The result tables of one folder, read lazily (None for a table that was not written), and the
    report's test of a run that did not learn on those data (`report.grid.chance_test` of the config
    that wrote them; None: only the status and missing scores fail a run)."""

    def __init__(self, folder: str | Path, chance: ChanceTest | None = None):
        self.folder = Path(folder)
        self.chance = chance
        self._tables: dict[str, pd.DataFrame | None] = {}

    def get(self, name: str) -> pd.DataFrame | None:
        if name not in self._tables:
            path = self.folder / f"{name}.csv"
            try:
                self._tables[name] = pd.read_csv(path) if path.is_file() else None
            except pd.errors.EmptyDataError:  # a table of zero rows is written as an empty file
                self._tables[name] = pd.DataFrame()
        return self._tables[name]


Measure = Callable[[Results], Measurement]


@dataclass(frozen=True)
class Claim:
    name: str
    statement: str  # as the source states it (quote or close paraphrase)
    source: str  # paper with year and section, or the cs231n topic
    quantity: str  # what is measured, precisely
    needs: str  # the runs it needs, as config settings
    rule: Difference | Threshold
    measure: Measure
    family: str | None = None  # a technique family it is about
    phenomenon: str | None = None  # a phenomenon of PHENOMENA
    evidence: tuple[str, ...] = ()  # figures of the report that hold the evidence


CLAIMS: dict[str, Claim] = {}


def claim(name: str, **fields) -> Callable[[Measure], Measure]:
    """Register the decorated function as the measurement of claim `name` (fields: see `Claim`)."""

    def register(measure: Measure) -> Measure:
        if name in CLAIMS:
            raise ValueError(f"claim '{name}' is registered twice")
        phenomenon = fields.get("phenomenon")
        if phenomenon is not None and phenomenon not in PHENOMENA:
            raise ValueError(f"claim '{name}': unknown phenomenon '{phenomenon}'")
        CLAIMS[name] = Claim(name=name, measure=measure, **fields)
        return measure

    return register


def input_tables(config) -> list[str]:
    """The tables the claims rule waits for: the grid's, every enabled study's and, in a tuned
    design, the tuning trials and choices (names, no .csv)."""
    studies = [table for study in enabled_studies(config) for table in study.tables]
    tuning = [TRIALS_TABLE, CHOICE_TABLE] if enabled(config) else []
    return list(dict.fromkeys(["runs", "epochs", *studies, *tuning]))
