"""Reliability diagrams (DeGroot & Fienberg 1983; as drawn by Guo et al. 2017, Fig. 1): accuracy
against confidence per confidence bin, the diagonal being perfect calibration.

`reliability_figure` draws any table of `calibration.reliability_table` — one panel per predictor,
raw and temperature-scaled bars overlaid — so every study that saves probabilities (ensembles,
checkpoint averaging, MC dropout) gets the same diagram from one call.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from trickbench.report.style import PALETTE, apply_theme

SCALINGS = {"raw": "raw", "temperature": "temperature-scaled"}


def reliability_figure(table: pd.DataFrame, title: str) -> plt.Figure:
    """One panel per `model` of the table: accuracy per bin as bars over the bin's width for each
    scaling, the mean confidence of the bin as a dot, the diagonal, and ECE, NLL and T in the legend;
    a strip under each panel shows the share of predictions per bin (where the mass is)."""
    apply_theme()
    models = list(dict.fromkeys(table["model"]))
    fig, axes = plt.subplots(2, len(models), figsize=(4.3 * len(models), 5.2), squeeze=False, sharex=True,
                             gridspec_kw={"height_ratios": [4, 1]})
    for column, model in enumerate(models):
        ax, mass_ax = axes[0][column], axes[1][column]
        ax.plot([0, 1], [0, 1], color="0.5", linestyle=":", linewidth=1)
        part = table[table["model"] == model]
        for offset, ((scaling, rows), color) in enumerate(zip(part.groupby("scaling", sort=False), PALETTE)):
            width = (rows["upper"] - rows["lower"]).to_numpy()
            filled = rows["count"].to_numpy() > 0
            left = rows["lower"].to_numpy() + offset * width / 2
            first = rows.iloc[0]
            label = f"{SCALINGS.get(scaling, scaling)} (T={first['temperature']:.2f}): ECE {100 * first['ece']:.1f} %, NLL {first['nll']:.3f}"
            ax.bar(left[filled], rows["accuracy"].to_numpy()[filled], width=width[filled] / 2, align="edge",
                   color=color, alpha=0.75, label=label)
            ax.scatter(rows["confidence"][filled], rows["accuracy"][filled], s=10, color=color, edgecolor="black",
                       linewidth=0.4, zorder=3)
            mass_ax.bar(left, rows["count"] / max(rows["count"].sum(), 1), width=width / 2, align="edge", color=color, alpha=0.75)
        ax.set(xlim=(0, 1), ylim=(0, 1), title=model, ylabel="accuracy in bin" if column == 0 else "")
        ax.legend(loc="upper left", fontsize=7.5, frameon=True)
        mass_ax.set(xlabel="confidence (max. probability)", ylabel="share of predictions" if column == 0 else "")
    fig.suptitle(title, x=0.01, ha="left")
    fig.tight_layout()
    return fig
