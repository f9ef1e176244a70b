"""Figures readable at a glance: one colour per technique in every figure, the baseline grey,
colour-blind-safe hues, labelled axes, whole-number epochs."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from conftest import TINY_CONFIG
from synthetic_results import grid_config, write_tables
from trickbench.report.figures import FIGURES, Tables
from trickbench.report.render import load_all
from trickbench.report.style import BASELINE_COLOR, PALETTE, TECHNIQUE_PALETTE, TechniqueColors

DESIGN = {"kind": "ablation", "seeds": [0, 1],
          "factors": {"activation": ["relu", "tanh", "sigmoid"], "init": ["he_normal", "small_gaussian", "xavier_normal"]}}


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    config = grid_config(TINY_CONFIG, DESIGN)
    folder = tmp_path_factory.mktemp("tables")
    write_tables(folder, config, effects={("activation", "tanh"): -5.0, ("init", "small_gaussian"): 3.0},
                 status=lambda s: "diverged" if s.activation.name == "sigmoid" and s.seed == 1 else "ok")
    load_all()
    return config, Tables(folder)


def test_levels_get_palette_colours_in_table_order_and_the_baseline_grey():
    runs = pd.DataFrame({"activation": ["relu", "tanh", "gelu", "tanh"], "init": ["he", "he", "he", "xavier"]})
    colors = TechniqueColors(runs, {"activation": "relu", "init": "he"}, ["activation", "init"])
    assert colors("activation", "relu") == colors("init", "he") == BASELINE_COLOR
    assert colors("activation", "tanh") == TECHNIQUE_PALETTE[0] and colors("activation", "gelu") == TECHNIQUE_PALETTE[1]
    assert colors("init", "xavier") == TECHNIQUE_PALETTE[0]  # factors are told apart by their panel


def test_the_palette_is_the_colour_blind_one_less_its_grey():
    assert len(TECHNIQUE_PALETTE) == len(PALETTE) - 1
    assert all(len(set(np.round(color, 6))) > 1 for color in TECHNIQUE_PALETTE)


def level_colors_in(ax) -> dict[str, tuple[float, float, float]]:
    """Level label → RGB of the scatter dots or bars drawn on its row of a per-level panel."""
    labels = {round(y): t.get_text().split(" (")[0] for y, t in zip(ax.get_yticks(), ax.get_yticklabels())}
    found = {}
    for collection in ax.collections:
        offsets, faces = collection.get_offsets(), collection.get_facecolors()
        if len(offsets) and len(faces) and len(np.unique(np.round(offsets[:, 1]))) == 1:
            found[labels[round(offsets[0, 1])]] = tuple(np.round(faces[0][:3], 4))
    for bar in ax.patches:
        found[labels[round(bar.get_y() + bar.get_height() / 2)]] = tuple(np.round(bar.get_facecolor()[:3], 4))
    return found


def test_a_technique_has_the_same_colour_in_every_figure(grid):
    config, tables = grid
    effects_fig, _ = FIGURES["factor_effects"].draw(tables, config)
    gap_fig, _ = FIGURES["generalization_gap"].draw(tables, config)
    for effects_ax, gap_ax in zip(effects_fig.axes, gap_fig.axes):
        if not effects_ax.get_title():
            continue
        assert effects_ax.get_title() == gap_ax.get_title()
        dots, bars = level_colors_in(effects_ax), level_colors_in(gap_ax)
        assert dots and dots == bars, effects_ax.get_title()
        family = effects_ax.get_title()
        baseline = {"activation": "relu", "init": "he_normal"}[family]
        assert dots[baseline] == tuple(np.round(BASELINE_COLOR, 4))
        assert len(set(dots.values())) == len(dots)  # levels of one factor never share a colour
    plt.close("all")


def test_every_axis_is_labelled_and_epochs_are_whole_numbers(grid):
    config, tables = grid
    for name in ("factor_effects", "generalization_gap", "learning_curves"):
        fig, data = FIGURES[name].draw(tables, config)
        assert not data.empty
        for ax in fig.axes:
            if not ax.axison:
                continue
            assert ax.get_xlabel() or name == "learning_curves", (name, ax.get_title())
            if name == "learning_curves":
                assert all(float(tick).is_integer() for tick in ax.get_xticks()), ax.get_xticks()
        plt.close(fig)


def test_learning_curves_draw_each_chosen_run_against_the_baseline(grid):
    config, tables = grid
    fig, data = FIGURES["learning_curves"].draw(tables, config)
    assert "baseline" in set(data["variant"])
    assert {ax.get_ylabel() for ax in fig.axes if ax.axison} == {"cross-entropy loss (nats)", "accuracy (%)", ""}
    titles = [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left")]
    first_seed = tables["runs"][(tables["runs"]["seed"] == 0)]
    assert len(titles) == len(first_seed) == 5  # every configuration of seed 0 (≤ report.learning_curves = 6)
    val_acc = {title: data.loc[(data["variant"] == title), "val_acc"].iloc[-1] for title in titles}
    assert list(val_acc.values()) == sorted(val_acc.values())  # worst to best on validation
    assert set(data.columns) >= {"run_id", "variant", "epoch", "train_eval_loss", "train_eval_acc", "val_loss", "val_acc",
                                 "train_loss", "train_acc"}
    plt.close(fig)


def test_the_solid_train_curve_is_measured_in_eval_mode_and_the_running_one_is_dotted(grid):
    config, tables = grid
    fig, data = FIGURES["learning_curves"].draw(tables, config)
    ax = fig.axes[0]  # the loss of the worst run
    run = data[data["variant"] == ax.get_title(loc="left")]
    drawn = {(line.get_linestyle(), line.get_linewidth()): line.get_ydata() for line in ax.get_lines()}
    assert list(drawn[("-", 2.0)]) == pytest.approx(run["train_eval_loss"].tolist())
    assert list(drawn[(":", 1.0)]) == pytest.approx(run["train_loss"].tolist())
    assert run["train_eval_loss"].tolist() != pytest.approx(run["train_loss"].tolist())  # the two are told apart
    plt.close(fig)
