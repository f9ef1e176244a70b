"""MC dropout in the ensembles study: its runs and the curve over the number of passes."""

from __future__ import annotations

import numpy as np
import pytest

from trickbench.config import validate_config
from trickbench.metrics import accuracy, nll
from trickbench.studies.ensembles import NAME, mc_dropout_curve, mc_dropout_specs, member_specs, study_specs


def test_curve_scores_the_mean_of_the_first_t_passes():
    labels = np.array([0, 1])
    passes = np.array([[[0.9, 0.1], [0.6, 0.4]],   # pass 1: second image wrong
                       [[0.5, 0.5], [0.2, 0.8]],   # pass 2
                       [[0.7, 0.3], [0.4, 0.6]]])
    curve = mc_dropout_curve(passes, labels)
    assert curve["passes"].tolist() == [1, 2, 3]
    assert curve["accuracy"].tolist() == [0.5, 1.0, 1.0]
    mean_of_two = passes[:2].mean(0)  # [[0.7, 0.3], [0.4, 0.6]]
    assert curve["nll"].iloc[1] == pytest.approx(-(np.log(0.7) + np.log(0.6)) / 2)
    assert curve["nll"].iloc[2] == pytest.approx(nll(passes.mean(0), labels))
    assert curve["accuracy"].iloc[1] == accuracy(mean_of_two, labels)


def test_mc_dropout_runs_are_the_members_with_dropout_and_passes(tiny_config):
    tiny_config["baseline"]["regularizer"] = [{"name": "dropout", "p": 0.1}, "l2"]
    tiny_config["studies"] = {NAME: {"enabled": True, "members": 3, "mc_dropout_p": 0.4, "mc_dropout_passes": 7}}
    config = validate_config(tiny_config)
    members, mc = member_specs(config), mc_dropout_specs(config)
    assert [s.seed for s in mc] == [0, 1, 2]
    assert {s.label("regularizer") for s in mc} == {"dropout(p=0.4)+l2"}  # the baseline's p replaced
    assert {s.train.mc_dropout_passes for s in mc} == {7} and {s.train.mc_dropout_passes for s in members} == {0}
    assert study_specs(config) == members + mc
    config["studies"][NAME]["mc_dropout_passes"] = 0
    assert mc_dropout_specs(config) == []
