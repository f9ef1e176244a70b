"""The figure registry: name → how to draw it from tables, which tables it reads, its section.

Each figure is one function `draw(tables, config) -> (Figure, plotted_data)`. The workflow makes
one rule per enabled figure; the PNG (2× resolution) and the exact data it plots (CSV) are written
side by side, so every number in a picture can be read back (`trickbench.report.render`, which also
loads every module that registers figures). Captions live beside this module in
`captions/<name>.rst`, shared by the HTML report and `snakemake --report`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import matplotlib

matplotlib.use("Agg")  # files only, never a window: jobs run headless

import matplotlib.pyplot as plt
import pandas as pd

CAPTIONS = Path(__file__).with_name("captions")
DPI = 200  # 2× the usual 100 dpi: crisp on high-density screens

Draw = Callable[["Tables", Mapping[str, Any]], tuple[plt.Figure, pd.DataFrame]]


@dataclass(frozen=True)
class Figure:
    name: str
    title: str
    section: str
    tables: tuple[str, ...]
    draw: Draw
    enabled: Callable[[Mapping[str, Any]], bool]

    @property
    def caption_path(self) -> Path:
        return CAPTIONS / f"{self.name}.rst"

    @property
    def caption(self) -> str:
        return self.caption_path.read_text().strip()


FIGURES: dict[str, Figure] = {}


def figure(name: str, *, title: str, section: str, tables: tuple[str, ...] = ("runs",),
           enabled: Callable[[Mapping[str, Any]], bool] = lambda config: True) -> Callable[[Draw], Draw]:
    """Decorator registering a figure; `tables` are names under results/tables/ (without .csv)."""

    def register(draw: Draw) -> Draw:
        if name in FIGURES:
            raise ValueError(f"figure '{name}' is registered twice")
        FIGURES[name] = Figure(name, title, section, tables, draw, enabled)
        return draw

    return register


class Tables:
    """Lazily read tables of a results/tables folder by name."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._frames: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if name not in self._frames:
            self._frames[name] = read_table(self.folder / f"{name}.csv")
        return self._frames[name]


def read_table(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:  # a table of zero runs is written as an empty file
        return pd.DataFrame()


def placeholder(message: str) -> plt.Figure:
    """A small figure that says why there is nothing to plot (a report must never miss a file)."""
    fig, ax = plt.subplots(figsize=(6, 1.2))
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color="0.35", wrap=True)
    ax.set_axis_off()
    return fig
