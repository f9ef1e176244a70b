"""One look for every figure: a colour-blind-safe palette, a colour per technique level that stays
the same across figures, and readable defaults (labelled axes, whole-number epoch ticks).

Colours follow Okabe & Ito's rule for colour-blind readers (seaborn's `colorblind` palette, the
same hues): distinguishable under the common colour-vision deficiencies, and never the only cue —
every figure also labels its levels in text.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

PALETTE = sns.color_palette("colorblind", 10)
#: the baseline is drawn in this neutral grey in every figure; techniques get the other colours
BASELINE_COLOR = (0.33, 0.33, 0.33)
TECHNIQUE_PALETTE = [color for color in PALETTE if len(set(color)) > 1]  # the palette less its grey
TRAIN_STYLE, VAL_STYLE = "-", "--"


def apply_theme() -> None:
    sns.set_theme(style="whitegrid", context="notebook", palette=PALETTE,
                  rc={"axes.spines.right": False, "axes.spines.top": False, "figure.dpi": 100})


class TechniqueColors:
    """A colour per (factor, level): the baseline's level grey, the other levels of a factor the
    palette's colours in the order the runs table first lists them (the config's order, since runs
    are collected in design order). Built from the whole runs table — diverged runs included — so
    that every figure of a report gives a technique the same colour whatever runs it plots."""

    def __init__(self, runs: pd.DataFrame, baseline: Mapping[str, str], families: Iterable[str]):
        self.baseline = dict(baseline)
        self.colors: dict[tuple[str, str], tuple[float, float, float]] = {}
        for family in families:
            if family not in runs:
                continue
            others = [str(level) for level in dict.fromkeys(runs[family]) if str(level) != self.baseline.get(family)]
            for index, level in enumerate(others):
                self.colors[(family, level)] = TECHNIQUE_PALETTE[index % len(TECHNIQUE_PALETTE)]

    def __call__(self, family: str, level: str) -> tuple[float, float, float]:
        if str(level) == self.baseline.get(family):
            return BASELINE_COLOR
        return self.colors.get((family, str(level)), TECHNIQUE_PALETTE[0])


def integer_ticks(ax: Axes, axis: str = "x") -> None:
    """Whole-number ticks only (epochs, members, counts): no '1.5 epochs'."""
    getattr(ax, f"{axis}axis").set_major_locator(MaxNLocator(integer=True))
