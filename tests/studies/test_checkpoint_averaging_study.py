"""The checkpoint-averaging study: its runs and its tables of final weights vs EMA vs SWA."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from trickbench.config import validate_config
from trickbench.studies import STUDIES
from trickbench.errors import ConfigError
from trickbench.studies.checkpoint_averaging import (COMPARISONS, EMA, FINAL, FINAL_WEIGHTS, NAME, SWA, SWA_ITERATE,
                                                     study_specs, swa_lr, swa_start_epoch)
from study_runs import write_run


@pytest.mark.parametrize("epochs, start, expected", [(20, 0.75, 16), (4, 0.5, 3), (3, 0.0, 1), (10, 0.99, 10)])
def test_swa_starts_after_its_fraction_of_training(epochs, start, expected):
    assert swa_start_epoch(epochs, start) == expected


def study_config(tiny_config, **settings):
    tiny_config["studies"] = {NAME: {"enabled": True, "epochs": 4, "swa_start": 0.5, "seeds": [0, 1], **settings}}
    return validate_config(tiny_config)


def test_each_seed_trains_a_plain_run_with_its_ema_and_an_swa_run_of_equal_epochs(tiny_config):
    specs = study_specs(study_config(tiny_config))
    assert [s.seed for s in specs] == [0, 0, 1, 1]
    plain, swa = specs[:2]
    assert (plain.train.epochs, plain.train.ema_decay, plain.train.swa_start_epoch, plain.train.swa_lr) == (4, 0.995, 0, 0.0)
    # SWA from epoch 3 at half the baseline's lr 0.05 (the default swa_lr_fraction 0.5, Izmailov et al.)
    assert (swa.train.epochs, swa.train.ema_decay, swa.train.swa_start_epoch, swa.train.swa_lr) == (4, 0.0, 3, 0.025)
    assert dataclasses.replace(swa, train=plain.train) == plain  # the same run otherwise
    assert study_specs(study_config(tiny_config, swa_lr_fraction=0.2))[1].train.swa_lr == 0.01


def test_an_swa_rate_of_zero_is_refused(tiny_config):
    with pytest.raises(ConfigError, match="swa_lr_fraction"):
        study_config(tiny_config, swa_lr_fraction=0.0)
    with pytest.raises(ConfigError, match="swa_lr_fraction"):
        swa_lr(study_specs(study_config(tiny_config))[0], 0.0)


def test_last_epoch_comparisons_pair_each_seed_with_its_own_plain_run(tiny_config, tmp_path):
    config = study_config(tiny_config, seeds=[0, 1, 2])
    nan = math.nan
    specs = study_specs(config)
    finals = {0: (0.50, 0.54, 0.56, 0.40), 1: (0.60, 0.62, 0.61, 0.45), 2: (0.55, 0.58, 0.60, 0.41)}  # final, ema, swa, iterate
    other = {f"{p}{s}": [0.5] * 4 for p in ("ema_", "swa_") for s in ("val_loss", "val_acc", "test_loss")}
    runs = []
    for plain, swa in zip(specs[::2], specs[1::2]):
        final, ema, swa_acc, iterate = finals[plain.seed]
        runs.append(write_run(tmp_path, plain, {"test_acc": [0.3, 0.4, 0.45, final], "ema_test_acc": [0.1, 0.3, 0.4, ema],
                                                **{k: v for k, v in other.items() if k.startswith("ema_")}}))
        runs.append(write_run(tmp_path, swa, {"test_acc": [0.3, 0.4, 0.42, iterate], "swa_test_acc": [nan, nan, 0.5, swa_acc],
                                              **{k: v for k, v in other.items() if k.startswith("swa_")}}))
    tables = STUDIES[NAME].analyze(config, runs)
    curves = tables[NAME]
    assert len(curves) == 3 * 4 * 4 and set(curves["weights"]) == {FINAL_WEIGHTS, EMA, SWA, SWA_ITERATE}
    final = tables[FINAL].set_index(["metric", "weights"])
    assert final.loc[("test_acc", EMA), "mean"] == pytest.approx((0.54 + 0.62 + 0.58) / 3)
    comparisons = tables[COMPARISONS].set_index(["metric", "comparison"])
    swa_gain = comparisons.loc[("test_acc", f"{SWA} − {FINAL_WEIGHTS}")]
    accuracy = pd.DataFrame([{"cell": cell, "seed": seed, "value": 100 * finals[seed][i]}
                             for seed in finals for i, cell in enumerate(("final", "ema", "swa"))])
    fit = smf.ols("value ~ C(cell, Treatment('final')) + C(seed)", accuracy).fit()
    names = list(fit.params.index)
    expected = fit.t_test(np.eye(len(names))[names.index("C(cell, Treatment('final'))[T.swa]")])
    assert swa_gain["diff"] == pytest.approx(float(np.squeeze(expected.effect)))
    assert swa_gain["test"] == "pooled t (3 cells × 3 seeds OLS, df=4)" and fit.df_resid == 4
    assert swa_gain["p_value"] == pytest.approx(float(np.squeeze(expected.pvalue)))
    # per metric one model and one Holm family of the figure's 3 comparisons, at α/2 (Bonferroni
    # across the 2 metrics); an interval at its level is the OLS contrast's t interval at that level
    assert swa_gain["family_size"] == 3 and swa_gain["n"] == 3
    low, high = np.squeeze(expected.conf_int(alpha=1 - swa_gain["ci_level"]))
    assert (swa_gain["diff_ci_low"], swa_gain["diff_ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert 1 - 0.05 / 2 <= swa_gain["ci_level"] <= 1 - 0.05 / 6  # between Bonferroni over metrics and over all
    assert set(comparisons.index.get_level_values("metric")) == {"test_acc", "test_loss"}
    nll = comparisons.loc[("test_loss", f"{EMA} − {FINAL_WEIGHTS}")]  # 0.5 nats on both, every seed
    assert nll["finding"].startswith(f"{EMA} vs {FINAL_WEIGHTS}: no detectable difference with 3 seeds")
    assert "0.50 vs 0.50 nats" in nll["finding"]
