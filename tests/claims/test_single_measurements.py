"""Single measurements over seeds: the t interval of the mean against the band, and the studies that
give one value per seed.

The expected interval is computed here with scipy's t distribution from the per-seed values (on the
log scale for a ratio); the verdict follows from where that interval lies relative to the band:
inside → reproduced, outside → not reproduced, across an edge → inconclusive, fewer than 3 seeds →
inconclusive.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from trickbench.claims import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Reading, Threshold
from trickbench.claims.verdicts import banded
from trickbench.config import validate_config
from trickbench.studies import babysitting, init_stats

ALPHA = 0.05
KEEPS_SCALE = Threshold(unit="×", reproduced=(0.5, 2.0), ratio=True)  # He init: 0.5–2×
SATURATED = Threshold(unit="%", reproduced=(50.0, 100.0))  # ≥ 50 % saturated
CONNECTED = Threshold(unit="points", reproduced=(-math.inf, 2.0), refuted=(5.0, math.inf))


def t_interval(values, log: bool) -> tuple[float, float]:
    """The 95 % t interval of the mean, written out: mean ± t(0.975, n − 1)·s/√n."""
    x = np.log(values) if log else np.asarray(values, float)
    half = stats.t.ppf(1 - ALPHA / 2, len(x) - 1) * np.std(x, ddof=1) / math.sqrt(len(x))
    low, high = x.mean() - half, x.mean() + half
    return (math.exp(low), math.exp(high)) if log else (low, high)


def judged(rule: Threshold, values) -> dict:
    return banded(rule, Reading.over_seeds(dict(enumerate(values)), ratio=rule.ratio, sample="test"), ALPHA)


@pytest.mark.parametrize("rule, values, case", [
    (KEEPS_SCALE, [0.9, 1.0, 1.1], REPRODUCED),  # interval well inside 0.5–2
    (KEEPS_SCALE, [0.04, 0.05, 0.045], NOT_REPRODUCED),  # well below 0.5
    (KEEPS_SCALE, [0.3, 1.5, 0.8], INCONCLUSIVE),  # wide on the log scale: across 0.5
    (SATURATED, [90.0, 95.0, 92.0], REPRODUCED),
    (SATURATED, [10.0, 12.0, 11.0], NOT_REPRODUCED),
    (SATURATED, [40.0, 60.0, 55.0], INCONCLUSIVE),  # across 50 %
    (CONNECTED, [0.5, 1.0, 0.8], REPRODUCED),
    (CONNECTED, [10.0, 12.0, 11.0], NOT_REPRODUCED),
    (CONNECTED, [3.0, 3.5, 4.0], INCONCLUSIVE),  # between the bands
])
def test_the_interval_against_the_band(rule, values, case):
    low, high = t_interval(values, rule.ratio)
    reproduced, refuted = rule.reproduced, rule.refuted
    inside = reproduced[0] <= low and high <= reproduced[1]
    outside = (refuted[0] <= low and high <= refuted[1]) if refuted else (high < reproduced[0] or low > reproduced[1])
    assert case == (REPRODUCED if inside else NOT_REPRODUCED if outside else INCONCLUSIVE)  # the scenario is as named
    row = judged(rule, values)
    assert row["verdict"] == case
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    assert row["n"] == len(values)


def test_a_ratio_is_judged_on_the_log_scale():
    """Values 0.6, 3, 0.6: the arithmetic interval of the mean crosses 0 (impossible for a ratio); the
    geometric one stays positive and is centred on the geometric mean."""
    values = [0.6, 3.0, 0.6]
    row = judged(KEEPS_SCALE, values)
    assert row["effect"] == pytest.approx(stats.gmean(values))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(t_interval(values, log=True))
    assert row["ci_low"] > 0


@pytest.mark.parametrize("values", [[], [1.0], [1.0, 1.01]])
def test_fewer_than_three_seeds_are_inconclusive_whatever_the_values(values):
    row = banded(KEEPS_SCALE, Reading.over_seeds(dict(enumerate(values)), ratio=True, sample="test",
                                                  more_seeds="set studies.init_stats.seeds to 3 seeds or more"), ALPHA)
    assert row["verdict"] == INCONCLUSIVE
    assert f"n seeds < 3 (n = {len(values)})" in row["note"] and "studies.init_stats.seeds" in row["note"]


def test_a_percentages_interval_stops_at_100():
    """67, 73 and 87 % saturated: the t interval of the mean runs to about 101 %, a value no
    percentage takes; clipped at 100 it lies wholly in "≥ 50 %"."""
    values = [67.0, 73.0, 87.0]
    low, high = t_interval(values, log=False)
    assert 50 < low and high > 100  # the example is what the test says it is
    row = judged(SATURATED, values)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, 100.0))
    assert row["verdict"] == REPRODUCED


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0, 100.0), min_size=3, max_size=8))
def test_any_values_get_the_verdict_of_their_interval(values):
    if np.std(values) == 0:
        low = high = float(np.mean(values))
    else:
        low, high = t_interval(values, log=False)
    assume(min(abs(low - 50), abs(high - 50)) > 1e-9)  # not on the edge to rounding
    expected = REPRODUCED if low >= 50 else NOT_REPRODUCED if high < 50 else INCONCLUSIVE
    assert judged(SATURATED, values)["verdict"] == expected


# -- the studies give one value per seed ----------------------------------------------------------
def test_init_stats_has_each_layer_once_per_seed(tiny_config):
    tiny_config["studies"] = {"init_stats": {"enabled": True, "units": 8, "examples": 6, "bins": 3, "layers": 2,
                                             "activations": ["relu"], "inits": ["he_normal"], "seeds": [0, 1, 2]}}
    table, histograms = init_stats.demonstration(validate_config(tiny_config))
    assert sorted(table.groupby("seed").size().items()) == [(0, 2), (1, 2), (2, 2)]
    assert table.groupby("seed")["std"].first().nunique() == 3  # each seed draws its own inputs and weights
    assert len(histograms) == 2 * 3  # histograms of the first seed: 2 layers × 3 bins


def test_babysitting_checks_run_once_per_seed(tiny_config, monkeypatch):
    monkeypatch.setattr(babysitting, "gradient_rows", lambda: [])  # seed-free, and slow: not this test's subject
    tiny_config["studies"] = {"babysitting": {"enabled": True, "seeds": [0, 1, 2], "subset": 4, "max_steps": 2,
                                              "strengths": [0.0, 0.1]}}
    table = babysitting.run_checks(validate_config(tiny_config))
    per_check = table.groupby("check")["seed"].apply(lambda s: sorted(s.tolist()))
    assert len(per_check) == 3 and all(seeds == [0, 1, 2] for seeds in per_check)
    losses = table[table["check"].str.startswith("initial loss")]["measured"]
    assert losses.nunique() == 3  # each seed its own weights


def test_a_bad_seeds_list_is_one_line_naming_the_key(tiny_config):
    tiny_config["studies"] = {"init_stats": {"enabled": True, "seeds": [0, 0]}}
    with pytest.raises(Exception) as error:
        validate_config(tiny_config)
    assert "studies.init_stats.seeds" in str(error.value) and "\n" not in str(error.value)


def test_the_claims_presets_read_the_single_measurements_on_three_seeds():
    root = Path(__file__).resolve().parents[2]
    for preset, studies in (("claims.yaml", ("init_stats", "babysitting")), ("claims-deep.yaml", ("babysitting",))):
        config = yaml.safe_load((root / "workflow" / "presets" / preset).read_text())
        for study in studies:
            assert len(config["studies"][study]["seeds"]) >= 3, (preset, study)
