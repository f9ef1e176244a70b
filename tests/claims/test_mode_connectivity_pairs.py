"""Mode connectivity over several pairs of solutions (issue 21): one drop per pair, the claim reads
their t interval against its band (≤ 2 points reproduced, ≥ 5 not), as the other single
measurements read their seeds'."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from claim_tables import CHANCE, mode_connectivity_rows, verdict, write
from trickbench.claims import CLAIMS, INCONCLUSIVE, Results
from trickbench.claims.registered import load_all
from trickbench.claims.verdicts import judge

NAME = "curves_connect_minima"


def test_three_pairs_give_the_t_interval_of_their_drops(tmp_path):
    dips = {"0–1": 0.010, "2–3": 0.015, "4–5": 0.026}  # the curve's dip below its endpoints' 90 %
    row = verdict(write(tmp_path, mode_connectivity=pd.DataFrame(mode_connectivity_rows(dips))), NAME)
    points = 100 * np.array(list(dips.values()))
    low, high = stats.t.interval(0.95, df=2, loc=points.mean(), scale=stats.sem(points))
    assert row["n"] == 3 and row["effect"] == pytest.approx(points.mean())
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert row["ci_level"] == pytest.approx(0.95)
    assert row["verdict"] == INCONCLUSIVE  # 1.7 ± 2.1 points straddles the band's edge at 2
    assert "3 pair(s) of solutions (the baseline's seeds 0–1, 2–3, 4–5)" in row["sample"]


def test_each_pair_is_a_unit_of_the_evidence(tmp_path):
    dips = {"0–1": 0.01, "2–3": 0.02, "4–5": 0.03}
    load_all()
    _, evidence = judge(Results(write(tmp_path, mode_connectivity=pd.DataFrame(mode_connectivity_rows(dips))), CHANCE),
                        {NAME: CLAIMS[NAME]})
    by_unit = evidence.set_index("unit")["value"]
    for pair, dip in dips.items():
        assert by_unit[f"pair {pair}"] == pytest.approx(100 * dip)


def test_one_pair_has_no_interval_and_says_how_to_get_more(tmp_path):
    row = verdict(write(tmp_path, mode_connectivity=pd.DataFrame(mode_connectivity_rows({"0–1": 0.01}))), NAME)
    assert row["verdict"] == INCONCLUSIVE and "n pairs < 3 (n = 1)" in row["note"]
    assert "studies.mode_connectivity.seeds" in row["note"]


def test_a_pair_left_out_by_the_study_is_named(tmp_path):
    barriers = pd.DataFrame([{"pair": "4–5", "path": "line", "split": "test", "barrier": float("nan"),
                              "note": "an endpoint did not finish: abc (diverged)"}])
    folder = write(tmp_path, mode_connectivity=pd.DataFrame(mode_connectivity_rows({"0–1": 0.01, "2–3": 0.01})),
                   mode_connectivity_barriers=barriers)
    row = verdict(folder, NAME)
    assert row["n"] == 2 and "pair 4–5 left out: an endpoint did not finish: abc (diverged)" in row["note"]
