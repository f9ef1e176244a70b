"""Claims of the lecture and the papers, each a registered entry: what the source states, the runs it
needs, the quantity it tests and the rule that makes it reproduced, not reproduced or inconclusive.

A claim is one decorated function that measures its quantity from the result tables
(results/tables/*.csv, never training code) and returns a `Measurement`:

- `Contrast`: per-seed values of two arms, the one the claim predicts higher and the other, so that
  the claim predicts higher − lower > 0; judged by a `Difference` rule through a t test — from one
  model over the grid's cells where the arms are cells of it (`Contrast.cells`) — corrected across
  the scorecard (see `verdicts`);
- `Reading`: one measured quantity, read on each of several seeds (the init-statistics network, the
  sanity checks, the tuning trials); judged by a `Threshold` rule through the t interval of its
  mean against the band (see `Threshold`);
- `NotRun`: the runs it needs are absent — with the setting that runs them;
- `Undecided`: the runs are there but the quantity is undefined on them (e.g. no width reached zero
  training error), with why.

Each claim also declares the conditions its source states (`Condition`: model family and depth,
schedule, how the rates were chosen, initialization, training to zero error …) as data; a claim
whose conditions the setup that ran does not meet is **outside this setup** — the unmet condition
and the preset that meets it are named — and never "not reproduced" (`claims.conditions`).

Claims are written as their source states them, with the source's own numbers where it gives one
(`Difference.asserted`), never as the data here happen to come out; their thresholds are in the
quantity's own units (points of accuracy, ratios), independent of the data set's size.
"""

from __future__ import annotations

import math
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

    Without a stated size: reproduced when the corrected interval lies above 0, not reproduced when
    it lies below 0. With one, the verdict is decided by one boundary, `at_least` (the smallest
    effect that still counts as the stated size; the stated size itself when the source states a
    bound): reproduced when the interval lies above it, not reproduced when it lies below it — so
    that adding seeds to a fixed true effect never moves the verdict between the two."""

    unit: str  # of the effect as shown: "points", "nats", "×"
    asserted: float | None = None  # the size the source states, in the shown unit (e.g. 6 for "six times")
    ratio: bool = False  # the values are natural logs; the effect is shown as a ratio exp(·)
    stated_as: str = ""  # the words of the statement that state the size ("six times"), where it states one
    at_least: float | None = None  # the deciding boundary in the shown unit; None: `asserted` itself

    def __post_init__(self):
        if (self.asserted is None) != (not self.stated_as):
            raise ValueError("a stated size needs the words that state it (stated_as), and only a stated size has them")

    def boundary(self) -> float | None:
        """The deciding boundary (`at_least`, else `asserted`) on the scale of the values (its log
        for a ratio); None without a stated size."""
        if self.asserted is None:
            return None
        size = self.asserted if self.at_least is None else self.at_least
        return float(np.log(size)) if self.ratio else size


#: a single measurement needs this many seeds before its interval is read against its band
MIN_SEEDS = 3


@dataclass(frozen=True)
class Threshold:
    """A claim read off one measured quantity, judged by its band: `reproduced` (closed; ±inf for an
    open side) and `refuted` (everything outside `reproduced` when None).

    The quantity is read on each of n ≥ MIN_SEEDS seeds and the verdict reads the t interval of its
    mean (`verdicts.seed_interval`; for a ratio, `ratio`, on the log scale, i.e. of the geometric
    mean): **reproduced** when the interval lies inside the reproduced band, **not reproduced** when
    it lies inside the refuted region, **inconclusive** when it straddles an edge — or when fewer
    than MIN_SEEDS seeds were read ("n seeds < 3"). A percentage cannot leave 0–100, so its
    interval is clipped there (`limits`): three seeds at 67, 73 and 87 % saturated give a t interval
    up to 101 %, which is still wholly "≥ 50 %"."""

    unit: str
    reproduced: tuple[float, float]
    refuted: tuple[float, float] | None = None
    ratio: bool = False  # the quantity is a ratio: its interval is taken on the log scale

    @property
    def limits(self) -> tuple[float, float]:
        """The values the quantity can take at all: 0–100 for a percentage, any number otherwise."""
        return (0.0, 100.0) if self.unit == "%" else (-math.inf, math.inf)

    def verdict(self, low: float, high: float, at_least: bool = False) -> str:
        """The verdict of the interval [low, high] of the quantity. `at_least`: the values are lower
        bounds (capped by the budget or the searched range), so they can reproduce a claim of a lower
        bound but refute nothing above them."""
        within = lambda bounds: bounds[0] <= low and high <= bounds[1]
        if within(self.reproduced) and not (at_least and self.reproduced[1] < math.inf):
            return REPRODUCED
        if at_least and high < self.reproduced[0]:
            return INCONCLUSIVE
        refuted = (within(self.refuted) if self.refuted is not None
                   else high < self.reproduced[0] or low > self.reproduced[1])
        return NOT_REPRODUCED if refuted else INCONCLUSIVE

    def band(self) -> str:
        """The thresholds in words, e.g. 'reproduced at 0.5–2 ×; not reproduced elsewhere'."""
        text = f"reproduced at {bounds_words(self.reproduced)} {self.unit}"
        if self.refuted is None:
            return text + "; not reproduced elsewhere"
        return f"{text}; not reproduced at {bounds_words(self.refuted)} {self.unit}; inconclusive between"


def bounds_words(bounds: tuple[float, float]) -> str:
    """A closed interval in words: '≥ 5', '≤ 2', '100', '0.5–2'."""
    low, high = bounds
    if high == math.inf:
        return f"≥ {low:g}"
    if low == -math.inf:
        return f"≤ {high:g}"
    return f"{low:g}" if low == high else f"{low:g}–{high:g}"


REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN = "reproduced", "not reproduced", "inconclusive", "not run"
OUTSIDE = "outside this setup"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, OUTSIDE, NOT_RUN)


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
    at_least: bool = False  # a value of `higher` is capped (by the budget): the effect is a lower bound ("≥")
    #: what the effect is made of, each shown with its interval (e.g. the training and the validation
    #: accuracy behind a gap), and the one among them that must not fall beyond the noise floor
    components: tuple[tuple[str, "Contrast"], ...] = ()
    guard: str | None = None
    #: the quantity on every run of the grid's compared cells that share the arms' seeds (columns
    #: cell, seed, value, arm: "higher", "lower" or "" for a cell outside the two arms), so that the
    #: test can come from one model over them (`stats.pooled_difference`); None where the arms are
    #: not cells of the grid (a study's runs, levels chosen on the runs)
    cells: pd.DataFrame | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Reading:
    """A quantity read once per seed: `seeds` maps each seed to its value (the verdict reads their
    t interval against the band), `value` is their mean (geometric for a ratio). Where one value
    needs several seeds (mode connectivity joins a pair), `seeds` is keyed by that `unit`'s label."""

    value: float
    sample: str  # what was measured, e.g. 'a network of 10 × 500 units on 1,000 inputs'
    seeds: dict[int | str, float] = field(default_factory=dict)  # the value on each seed (or each `unit`)
    more_seeds: str = ""  # how to read more seeds (the config key), said when there are fewer than MIN_SEEDS
    notes: tuple[str, ...] = ()
    values: dict[str, float] = field(default_factory=dict)  # the numbers behind it, for the evidence table
    at_least: bool = False  # the value is a lower bound (e.g. a rate at the top of the searched range): "≥"
    unit: str = "seed"  # what one value is measured on: a seed, or e.g. a pair of seeds ("pair")

    @classmethod
    def over_seeds(cls, seeds: dict[int | str, float], ratio: bool = False, **fields) -> "Reading":
        """The reading of per-seed (or per-`unit`) values: their mean, or for a ratio their geometric mean."""
        values = np.asarray(list(seeds.values()), float)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = math.nan if not len(values) else float(np.exp(np.mean(np.log(values)))) if ratio \
                else float(np.mean(values))
        return cls(value, seeds={seed if isinstance(seed, str) else int(seed): float(v) for seed, v in seeds.items()},
                   **fields)


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

    def __init__(self, folder: str | Path, chance: ChanceTest | None = None, config=None):
        self.folder = Path(folder)
        self.chance = chance
        self.config = config  # the config that wrote the tables: the setup the conditions are checked on
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
    #: the lecture's line it comes from (a short quote); "" for a claim that comes from a paper
    lecture: str = ""
    #: the conditions its source states (`claims.conditions.Condition`); unmet: "outside this setup"
    conditions: tuple = ()


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
