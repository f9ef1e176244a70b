"""One look for every figure: a colour-blind-safe palette, a colour per technique level that stays
the same across figures, and readable defaults."""

from __future__ import annotations

from typing import Iterable

import seaborn as sns

PALETTE = sns.color_palette("colorblind", 10)
TRAIN_STYLE, VAL_STYLE = "-", "--"


def apply_theme() -> None:
    sns.set_theme(style="whitegrid", context="notebook", palette=PALETTE,
                  rc={"axes.spines.right": False, "axes.spines.top": False, "figure.dpi": 100})


def level_colors(labels: Iterable[str]) -> dict[str, tuple[float, float, float]]:
    """A colour per label, assigned in sorted order: the same label gets the same colour in every
    figure drawn from the same table."""
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(sorted(set(labels)))}
