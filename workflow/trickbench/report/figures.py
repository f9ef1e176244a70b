"""The figure registry: name → how to draw it from tables, which tables it reads, its section.

Each figure is one function `draw(tables, config) -> (Figure, plotted_data)`. The workflow makes
one rule per enabled figure; the PNG (2× resolution) and the exact data it plots (CSV) are written
side by side, so every number in a picture can be read back. Captions live beside this module in
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

from trickbench.atomic import atomic_path

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


def enabled_figures(config: Mapping[str, Any]) -> list[Figure]:
    load_all()
    return [f for f in FIGURES.values() if f.enabled(config)]


def load_all() -> None:
    """Import every module that registers figures."""
    from trickbench.report import calibration_effects, equal_compute, grid, noise, tuning  # noqa: F401
    from trickbench.studies import load_all as load_studies

    load_studies()


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


def render(name: str, tables_folder: str | Path, config: Mapping[str, Any], png: str | Path, data_csv: str | Path) -> None:
    """Draw one figure and write its PNG and its plotted data, both atomically."""
    load_all()
    fig, data = FIGURES[name].draw(Tables(tables_folder), config)
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=DPI, bbox_inches="tight", format="png")
    plt.close(fig)
    with atomic_path(data_csv) as tmp:
        data.to_csv(tmp, index=False)


def render_all(tables_folder: str | Path, config: Mapping[str, Any], figures_folder: str | Path) -> list[Figure]:
    """Draw every enabled figure from existing tables into `figures_folder` — a report re-rendered
    without training. Stops before drawing anything when a table a figure reads is missing."""
    from trickbench.errors import DataError

    tables_folder, figures_folder = Path(tables_folder), Path(figures_folder)
    figures = enabled_figures(config)
    missing = sorted({t for fig in figures for t in fig.tables if not (tables_folder / f"{t}.csv").is_file()})
    if missing:
        raise DataError(f"table(s) {', '.join(f'{t}.csv' for t in missing)} missing under {tables_folder}: "
                        f"run the workflow (snakemake) first")
    for fig in figures:
        render(fig.name, tables_folder, config, figures_folder / f"{fig.name}.png", figures_folder / f"{fig.name}.csv")
    return figures


def placeholder(message: str) -> plt.Figure:
    """A small figure that says why there is nothing to plot (a report must never miss a file)."""
    fig, ax = plt.subplots(figsize=(6, 1.2))
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color="0.35", wrap=True)
    ax.set_axis_off()
    return fig
