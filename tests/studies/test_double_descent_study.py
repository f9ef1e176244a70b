"""The double-descent study: its runs, the interpolation threshold and the test-error peak."""

from __future__ import annotations

import pytest

from trickbench.config import validate_config
from trickbench.errors import ConfigError
from trickbench.studies import STUDIES
from trickbench.studies.double_descent import (NAME, SUMMARY, family_label, interpolation_threshold, study_specs,
                                               error_peak)
from study_runs import write_run


def test_interpolation_threshold_is_the_first_width_fitting_the_training_set():
    widths = [1, 2, 4, 8, 16]
    assert interpolation_threshold(widths, [0.6, 0.3, 0.008, 0.02, 0.0], 0.01) == 4
    assert interpolation_threshold(widths, [0.6, 0.5, 0.4, 0.3, 0.2], 0.01) is None


def test_peak_is_the_most_prominent_interior_maximum():
    widths = [1, 2, 4, 8, 16, 32]
    # a small bump at 2 (prominence min(0.72−0.70, 0.72−0.60) = 0.02), the real peak at 8
    # (prominence min(0.80−0.70, 0.80−0.60) = 0.10)
    width, prominence = error_peak(widths, [0.75, 0.72, 0.70, 0.80, 0.65, 0.60])
    assert width == 8 and prominence == pytest.approx(0.10)
    assert error_peak(widths, [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]) is None  # monotone: no peak


def study_config(tiny_config, **section):
    tiny_config["studies"] = {NAME: {"enabled": True, "epochs": 3, "seeds": [0, 1], "label_noise": 0.1,
                                     "train_subset": 50, **section}}
    return validate_config(tiny_config)


def test_runs_cover_every_width_and_seed_unregularized_on_noisy_labels(tiny_config):
    tiny_config["baseline"]["regularizer"] = {"name": "dropout", "p": 0.3}
    config = study_config(tiny_config, models=[{"name": "mlp", "depth": 1, "image_size": 4, "widths": [2, 8]},
                                               {"name": "resnet", "blocks": 1, "norm": "batch", "epochs": 5, "widths": [1]}])
    specs = study_specs(config)
    assert [(s.model.name, s.model.kwargs["width"], s.seed) for s in specs] == [
        ("mlp", 2, 0), ("mlp", 2, 1), ("mlp", 8, 0), ("mlp", 8, 1), ("resnet", 1, 0), ("resnet", 1, 1)]
    assert all(s.regularizer == () and s.data.label_noise == 0.1 and s.data.train_subset == 50 for s in specs)
    assert [s.data.image_size for s in specs] == [4, 4, 4, 4, 0, 0]
    assert [s.train.epochs for s in specs] == [3, 3, 3, 3, 5, 5]
    assert {s.norm.name for s in specs[:4]} == {"none"} and specs[4].norm.name == "batch"
    assert family_label(specs[0]) == "mlp(depth=1), 4×4 inputs"


def test_a_bad_model_parameter_names_its_entry(tiny_config):
    config = study_config(tiny_config, models=[{"name": "mlp", "deep": 1, "widths": [2]}])
    with pytest.raises(ConfigError, match=r"studies.double_descent.models\[0\].deep"):
        study_specs(config)


def test_summary_marks_threshold_and_peak(tiny_config, tmp_path):
    config = study_config(tiny_config, models=[{"name": "mlp", "depth": 1, "widths": [2, 4, 8, 16]}],
                          interpolation_error=0.01)
    train_error = {2: 0.5, 4: 0.2, 8: 0.005, 16: 0.0}
    test_error = {2: 0.60, 4: 0.62, 8: 0.70, 16: 0.55}
    # the running training-mode accuracy of the last epoch's minibatches stays low (the weights moved
    # during it); the eval-mode accuracy of the final weights on the training sample is what fits
    runs = [write_run(tmp_path, spec, {"train_eval_acc": [1 - train_error[w]], "train_acc": [0.3],
                                       "test_acc": [1 - test_error[w] + 0.01 * spec.seed]})
            for spec in study_specs(config) for w in [spec.model.kwargs["width"]]]
    tables = STUDIES[NAME].analyze(config, runs)
    assert len(tables[NAME]) == 8
    assert tables[NAME].set_index(["width", "seed"]).loc[(8, 0), "train_error"] == pytest.approx(0.005)
    summary = tables[SUMMARY].set_index("width")
    assert summary["test_error_mean"].tolist() == pytest.approx([0.595, 0.615, 0.695, 0.545])
    assert summary.index[summary["interpolation_threshold"]].tolist() == [8]
    assert summary.index[summary["test_error_peak"]].tolist() == [8]
    assert (summary["test_error_ci_high"] > summary["test_error_mean"]).all()  # two seeds give an interval
