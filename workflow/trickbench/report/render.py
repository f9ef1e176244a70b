"""Drawing the registered figures: every module that registers one, the figures a config enables,
and each figure's PNG (2× resolution) and plotted data (CSV), both written atomically.

Above the figure registry (`trickbench.report.figures`) and above every module that registers
figures into it — the report's own and the studies' — so that it can import them all.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import matplotlib

matplotlib.use("Agg")  # files only, never a window: jobs run headless

import matplotlib.pyplot as plt

from trickbench.atomic import atomic_path
from trickbench.errors import DataError
from trickbench.report import calibration_effects, equal_compute, grid, noise, tuning, versus  # noqa: F401  (they register)
from trickbench.report.figures import DPI, FIGURES, Figure, Tables
from trickbench.studies.registered import load_all as load_studies

log = logging.getLogger(__name__)


def enabled_figures(config: Mapping[str, Any]) -> list[Figure]:
    load_all()
    return [f for f in FIGURES.values() if f.enabled(config)]


def load_all() -> None:
    """Fill the registry: every module that registers figures is imported above; the studies'
    modules are imported by their own registry."""
    load_studies()


def render(name: str, tables_folder: str | Path, config: Mapping[str, Any], png: str | Path, data_csv: str | Path) -> None:
    """Draw one figure and write its PNG and its plotted data, both atomically."""
    load_all()
    log.info("drawing figure %s → %s", name, png)
    fig, data = FIGURES[name].draw(Tables(tables_folder), config)
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=DPI, bbox_inches="tight", format="png")
    plt.close(fig)
    with atomic_path(data_csv) as tmp:
        data.to_csv(tmp, index=False)


def render_all(tables_folder: str | Path, config: Mapping[str, Any], figures_folder: str | Path) -> list[Figure]:
    """Draw every enabled figure from existing tables into `figures_folder` — a report re-rendered
    without training. Stops before drawing anything when a table a figure reads is missing."""
    tables_folder, figures_folder = Path(tables_folder), Path(figures_folder)
    figures = enabled_figures(config)
    missing = sorted({t for fig in figures for t in fig.tables if not (tables_folder / f"{t}.csv").is_file()})
    if missing:
        raise DataError(f"table(s) {', '.join(f'{t}.csv' for t in missing)} missing under {tables_folder}: "
                        f"run the workflow (snakemake) first")
    for fig in figures:
        render(fig.name, tables_folder, config, figures_folder / f"{fig.name}.png", figures_folder / f"{fig.name}.csv")
    return figures
