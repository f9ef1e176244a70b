"""The ensembles study's computation: the k-member average of probabilities, scored."""

from __future__ import annotations

import numpy as np
import pytest

from trickbench.metrics import accuracy, nll
from trickbench.studies.ensembles import ensemble_curve


def test_ensemble_of_k_averages_the_first_k_members():
    labels = np.array([0, 1, 1])
    members = [np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]]),
               np.array([[0.4, 0.6], [0.2, 0.8], [0.3, 0.7]]),
               np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])]
    curve = ensemble_curve(members, labels)
    assert curve["k"].tolist() == [1, 2, 3]
    for k in (1, 2, 3):
        average = sum(members[:k]) / k
        row = curve[curve.k == k].iloc[0]
        assert row["accuracy"] == pytest.approx(accuracy(average, labels))
        assert row["nll"] == pytest.approx(nll(average, labels))
    # two members that err differently: their average is right where each alone is half right
    assert curve.loc[0, "accuracy"] == pytest.approx(2 / 3) and curve.loc[1, "accuracy"] == pytest.approx(1.0)
