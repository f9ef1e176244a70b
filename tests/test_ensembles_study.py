"""The ensembles study's computation against independent computations: the mean over subsets of k
members and its band, scores after temperature scaling fitted on validation, and the ensemble
against single members on the same test images (paired bootstrap, McNemar)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from statsmodels.stats.contingency_tables import mcnemar

from trickbench.calibration import fit_temperature, softmax
from trickbench.metrics import accuracy, expected_calibration_error, nll
from trickbench.studies.ensemble_members import (CHOSEN, MEAN_MEMBER, Member, Scored, member_subsets, single_members,
                                                 subset_curve, versus_members)

LABELS = np.array([0, 1, 1])
PROBS = [np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]]),
         np.array([[0.4, 0.6], [0.2, 0.8], [0.3, 0.7]]),
         np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])]


def tiny_members() -> tuple[list[Member], dict[str, np.ndarray]]:
    return [Member(p, p) for p in PROBS], {"val": LABELS, "test": LABELS}


def test_each_k_is_the_mean_over_all_subsets_with_a_band():
    members, labels = tiny_members()
    curve = subset_curve(members, labels).set_index(["k", "metric", "scaling"])
    pairs = [accuracy((PROBS[a] + PROBS[b]) / 2, LABELS) for a, b in itertools.combinations(range(3), 2)]
    row = curve.loc[(2, "accuracy", "raw")]
    assert row["value"] == pytest.approx(np.mean(pairs)) and row["subsets"] == 3 and row["all_subsets"]
    assert (row["band_low"], row["band_high"]) == pytest.approx(tuple(np.quantile(pairs, [0.025, 0.975])))
    singles = [nll(p, LABELS) for p in PROBS]
    assert curve.loc[(1, "nll", "raw"), "value"] == pytest.approx(np.mean(singles))
    # two members that err differently: their average is right where each alone is half right
    assert curve.loc[(3, "accuracy", "raw"), "value"] == pytest.approx(accuracy(sum(PROBS) / 3, LABELS))


def test_the_scaled_curve_fits_each_subsets_temperature_on_validation():
    rng = np.random.default_rng(0)
    logits = [rng.normal(0, 3, (80, 4)) + 2 * np.eye(4)[np.arange(80) % 4] for _ in range(3)]
    labels = {"val": np.arange(40) % 4, "test": np.arange(40) % 4}
    members = [Member(softmax(l[40:]), softmax(l[:40])) for l in logits]  # val: the first 40, test: the last 40
    curve = subset_curve(members, labels).set_index(["k", "metric", "scaling"])
    val, test = np.mean([m.val for m in members], axis=0), np.mean([m.test for m in members], axis=0)
    temperature = fit_temperature(np.log(val), labels["val"])
    expected = nll(softmax(np.log(test), temperature), labels["test"])
    assert curve.loc[(3, "nll", "temperature-scaled"), "value"] == pytest.approx(expected, rel=1e-6)
    assert (3, "accuracy", "temperature-scaled") not in curve.index  # scaling never changes accuracy


def test_many_subsets_are_sampled_distinct():
    assert member_subsets(5, 2)[0] == list(itertools.combinations(range(5), 2)) and member_subsets(5, 2)[1]
    sampled, exhaustive = member_subsets(20, 10, limit=50)
    assert not exhaustive and len(set(sampled)) == 50 and all(len(s) == 10 == len(set(s)) for s in sampled)


def test_scored_pieces_give_the_metrics_on_any_resample_of_images():
    rng = np.random.default_rng(1)
    probabilities, labels = softmax(rng.normal(0, 2, (200, 10))), rng.integers(0, 10, 200)
    scored = Scored(probabilities, labels)
    images = rng.integers(0, 200, 200)  # with repeats, as a bootstrap draws them
    assert scored.score("accuracy", images) == pytest.approx(accuracy(probabilities[images], labels[images]))
    assert scored.score("nll", images) == pytest.approx(nll(probabilities[images], labels[images]))
    assert scored.score("ece", images) == pytest.approx(expected_calibration_error(probabilities[images], labels[images]))


def noisy_members(count: int = 4, images: int = 300) -> tuple[list[Member], dict[str, np.ndarray]]:
    rng = np.random.default_rng(2)
    labels = np.arange(images) % 10
    signal = 1.5 * np.eye(10)[labels]
    members = [Member(softmax(rng.normal(0, 2, (images, 10)) + signal), softmax(rng.normal(0, 2, (images, 10)) + signal))
               for _ in range(count)]
    return members, {"val": labels, "test": labels}


def test_the_ensemble_against_members_is_paired_on_images_and_bonferroni_corrected():
    members, labels = noisy_members()
    table = versus_members(members, labels, chosen=1, resamples=500).set_index(["against", "metric", "scaling"])
    assert len(table) == 10 and (table["family_size"] == 10).all()
    assert table["ci_level"].iloc[0] == pytest.approx(1 - 0.05 / 10)
    ensemble = np.mean([m.test for m in members], axis=0)
    accuracy_row = table.loc[(CHOSEN, "accuracy", "raw")]
    assert accuracy_row["diff"] == pytest.approx(accuracy(ensemble, labels["test"]) - accuracy(members[1].test, labels["test"]))
    mean_nll = np.mean([nll(m.test, labels["test"]) for m in members])
    assert table.loc[(MEAN_MEMBER, "nll", "raw"), "diff"] == pytest.approx(nll(ensemble, labels["test"]) - mean_nll)
    # McNemar's exact test on the discordant images, by statsmodels on the hand-made 2×2 table
    right, other = ensemble.argmax(1) == labels["test"], members[1].test.argmax(1) == labels["test"]
    table_2x2 = [[(right & other).sum(), (right & ~other).sum()], [(~right & other).sum(), (~right & ~other).sum()]]
    assert accuracy_row["only_ensemble_right"] == table_2x2[0][1] and accuracy_row["only_member_right"] == table_2x2[1][0]
    assert accuracy_row["mcnemar_p"] == pytest.approx(mcnemar(table_2x2, exact=True).pvalue)
    for row in table.to_dict("records"):
        assert row["diff_ci_low"] <= row["diff"] <= row["diff_ci_high"]
        assert row["detectable"] == (row["diff_ci_low"] > 1e-9 or row["diff_ci_high"] < -1e-9)


def test_an_ensemble_of_copies_gains_nothing_detectable():
    members, labels = noisy_members(count=1)
    copies = members * 3  # averaging identical members changes nothing: the test must say so
    table = versus_members(copies, labels, chosen=0, resamples=200)
    assert (table["diff"].abs() < 1e-9).all() and not table["detectable"].any()


def test_without_a_validation_score_nothing_is_chosen():
    members, labels = noisy_members(count=2)
    assert CHOSEN not in set(single_members(members, labels, chosen=None)["kind"])
    assert set(versus_members(members, labels, chosen=None, resamples=200)["against"]) == {MEAN_MEMBER}
    assert not math.isnan(single_members(members, labels, chosen=0).set_index(["kind", "metric", "scaling"])
                          .loc[(CHOSEN, "nll", "temperature-scaled"), "value"])
