"""Learning-rate search: log-uniform sampling, the fine range around the best coarse point, the
choice on validation that ignores aborted runs, and the edge-of-range warning."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trickbench.config import validate_config
from trickbench.errors import ConfigError
from trickbench.studies import lr_search


def config_with(tiny_config, **study):
    tiny_config["studies"] = {"lr_search": {"enabled": True, "coarse": {"samples": 4, "epochs": 1},
                                            "fine": {"samples": 3, "epochs": 2, "width_decades": 1.0}, **study}}
    return validate_config(tiny_config)


@settings(max_examples=40, deadline=None)
@given(low_exp=st.floats(-6, 0), span=st.floats(0.5, 4), seed=st.integers(0, 1000))
def test_log_uniform_values_lie_in_the_range_with_three_significant_digits(low_exp, span, seed):
    low, high = 10**low_exp, 10 ** (low_exp + span)
    values = lr_search.log_uniform(np.random.default_rng(seed), low, high, 20)
    assert all(low * 0.995 <= v <= high * 1.005 for v in values)  # rounding moves a value < 0.5 %
    assert all(float(f"{v:.3g}") == v for v in values)


def test_log_uniform_is_uniform_in_the_exponent():
    values = np.log10(lr_search.log_uniform(np.random.default_rng(0), 1e-4, 1.0, 4000))
    counts, _ = np.histogram(values, bins=4, range=(-4, 0))
    assert (abs(counts - 1000) < 120).all()  # each decade gets a quarter (binomial sd ≈ 27)


def test_fine_range_spans_the_given_decades_centred_on_the_best_value():
    low, high = lr_search.fine_range(0.01, 1.0)
    assert low == pytest.approx(0.01 / math.sqrt(10)) and high == pytest.approx(0.01 * math.sqrt(10))
    assert math.log10(high / low) == pytest.approx(1.0)


@pytest.mark.parametrize("value, warned", [(1e-4, True), (1.5e-4, True), (1e-2, False), (0.7, True), (1.0, True)])
def test_edge_warning_when_the_best_value_lies_in_the_outer_tenth_of_the_log_range(value, warned):
    message = lr_search.edge_warning("lr", "coarse", value, 1e-4, 1.0, 0.1)
    assert bool(message) is warned
    if warned:
        assert ("lower" if value < 1e-2 else "upper") in message and "widen the range" in message


def test_edge_position_is_linear_in_the_exponent():
    assert lr_search.edge_position(1e-2, 1e-4, 1.0) == pytest.approx(0.5)
    assert lr_search.edge_position(1e-4, 1e-4, 1.0) == 0.0


def runs_table(rows):
    return pd.DataFrame(rows, columns=lr_search.RUN_COLUMNS)


def test_the_best_run_is_chosen_on_validation_among_finished_runs_only():
    runs = runs_table([
        ["coarse", "a", 0.01, math.nan, "ok", 0.40, 0.90, 1],
        ["coarse", "b", 0.10, math.nan, "ok", 0.55, 0.10, 1],  # best on validation, worse on test
        ["coarse", "c", 2.00, math.nan, "exploded", 0.99, 0.99, 1],  # aborted runs are never chosen
    ])
    assert lr_search.best_row(runs)["run_id"] == "b"
    assert lr_search.best_row(runs_table([["coarse", "c", 2.0, math.nan, "exploded", 0.9, 0.9, 1]])) is None


def test_best_table_warns_when_the_coarse_optimum_is_at_the_edge(tiny_config):
    config = config_with(tiny_config, regularizer="none", lr_range=[1e-3, 1.0])
    runs = runs_table([
        ["coarse", "a", 0.002, math.nan, "ok", 0.30, 0.3, 1],
        ["coarse", "b", 0.9, math.nan, "ok", 0.60, 0.6, 1],  # at the upper edge
        ["fine", "c", 0.9, math.nan, "ok", 0.62, 0.6, 2],  # fine range: 0.9 / √10 … 0.9·√10 — centred
    ])
    best = lr_search.best_table(config, runs).set_index("stage")
    assert list(best["parameter"]) == ["lr", "lr"]
    assert best.loc["coarse", "at_edge"] and "upper edge" in best.loc["coarse", "warning"]
    assert not best.loc["fine", "at_edge"] and best.loc["fine", "warning"] == ""
    assert best.loc["fine", "low"] == pytest.approx(0.9 / math.sqrt(10))


def test_stage_specs_search_the_lr_and_the_strength_with_the_abort_on(tiny_config):
    config = config_with(tiny_config, regularizer="l2", lr_range=[1e-3, 1.0], strength_range=[1e-5, 1e-2], explode_factor=3.0)
    specs = lr_search.coarse_specs(config)
    assert len(specs) == 4 and len({s.run_id for s in specs}) == 4
    for spec in specs:
        assert 1e-3 <= spec.optimizer.kwargs["lr"] <= 1.0 and spec.optimizer.name == "momentum"
        (l2,) = spec.regularizer
        assert l2.name == "l2" and 1e-5 <= l2.kwargs["strength"] <= 1e-2
        assert spec.train.explode_factor == 3.0 and spec.train.epochs == 1
    assert [s.run_id for s in lr_search.coarse_specs(config)] == [s.run_id for s in specs]  # deterministic


def test_fine_specs_lie_around_the_best_coarse_point(tiny_config):
    config = config_with(tiny_config, regularizer="none")
    coarse = runs_table([["coarse", "a", 0.02, math.nan, "ok", 0.5, 0.5, 1], ["coarse", "b", 0.5, math.nan, "ok", 0.2, 0.2, 1]])
    fine = lr_search.fine_specs(config, coarse)
    assert len(fine) == 3 and all(s.train.epochs == 2 for s in fine)
    assert all(0.02 / math.sqrt(10) * 0.995 <= s.optimizer.kwargs["lr"] <= 0.02 * math.sqrt(10) * 1.005 for s in fine)
    assert lr_search.fine_specs(config, runs_table([])) == []  # nothing finished: no fine stage


def test_a_regularizer_without_a_strength_is_refused_in_one_line(tiny_config):
    with pytest.raises(ConfigError, match="studies.lr_search.regularizer.*l2"):
        lr_search.coarse_specs(config_with(tiny_config, regularizer="dropout"))
