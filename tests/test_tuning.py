"""design.tuning: its config errors, the search points, the choice on validation with its edge flag
and failures, and the second stage of the plan (the tuned runs appear once the choice exists)."""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from conftest import TINY_CONFIG
from trickbench import tuning
from trickbench.errors import ConfigError
from trickbench.stats import ChanceTest
from trickbench.workflow import plan_from_config

ADAM = {"name": "adam", "lr": 0.001}


def tuned_config(base=TINY_CONFIG, design_seeds=(0, 1), **tuning_settings):
    """The tiny config as an ablation of momentum (baseline) against Adam and of no regularizer
    against l2, with design.tuning on."""
    config = copy.deepcopy(base)
    config["design"] = {"kind": "ablation", "seeds": list(design_seeds),
                        "factors": {"optimizer": [{"name": "momentum", "lr": 0.05}, ADAM],
                                    "regularizer": ["none", {"name": "l2", "strength": 0.001}]},
                        "tuning": {"enabled": True, "trials": 3, "lr_decades": 1.0, **tuning_settings}}
    return config


# -- config errors: one line naming the key, the value and what is allowed --------------------------
BAD = [
    ({"serach": "grid"}, "design.tuning.serach", "'grid'", "keys edge_fraction, enabled, epochs, lr_decades"),
    ({"search": "random"}, "design.tuning.search", "'random'", "grid, sobol, halton"),
    ({"trials": 0}, "design.tuning.trials", "0", ">= 1"),
    ({"lr_decades": 0}, "design.tuning.lr_decades", "0", "> 0"),
    ({"edge_fraction": 0.7}, "design.tuning.edge_fraction", "0.7", "<= 0.5"),
    ({"second": {"technique": "l2", "parameter": "strength"}}, "design.tuning.second.range", "nothing", "a required key"),
    ({"second": {"technique": "l3", "parameter": "strength", "range": [1e-5, 1e-1]}}, "design.tuning.second.technique",
     "'l3'", "a technique name"),
    ({"second": {"technique": "l2", "parameter": "p", "range": [1e-5, 1e-1]}}, "design.tuning.second.parameter",
     "'p'", "a float parameter of l2: strength"),
    ({"second": {"technique": "l2", "parameter": "strength", "range": [1e-1, 1e-5]}}, "design.tuning.second.range",
     "[0.1, 1e-05]", "0 < low < high"),
    ({"second": {"technique": "l2", "parameter": "strength", "range": [0, 1e-1]}}, "design.tuning.second.range.0",
     "0", "> 0"),
    ({"second": {"technique": "dropout", "parameter": "p", "range": [0.1, 2.0]}}, "design.tuning.second.range",
     "[0.1, 2.0]", "within the bounds of dropout.p: [0.0, 0.95]"),
    ({"trials": 4, "second": {"technique": "label_smoothing", "parameter": "epsilon", "range": [0.01, 0.2]}},
     "design.tuning.second.technique", "'label_smoothing'", "a technique some configuration of the design uses"),
    ({"seeds": [1, 100]}, "design.tuning.seeds", "[1, 100]", "seeds not in design.seeds [0, 1]: the runs that choose"),
    ({"seeds": 0}, "design.tuning.seeds", "0", "a count >= 1 (seeds 100, 101, …) or a list of distinct integer seeds"),
    ({"seeds": [100, 100]}, "design.tuning.seeds", "[100, 100]", "a list of distinct integer seeds >= 0"),
    ({"seeds": 2.5}, "design.tuning.seeds", "2.5", "a count >= 1"),
    ({"seed": 100}, "design.tuning.seed", "100", "keys edge_fraction, enabled, epochs, lr_decades, sample_seed, search, "
                                                 "second, seeds, trials"),
    ({"search": "sobol", "trials": 6}, "design.tuning.trials", "6", "a power of 2 with search sobol"),
    ({"search": "grid", "trials": 5, "second": {"technique": "l2", "parameter": "strength", "range": [1e-5, 1e-1]}},
     "design.tuning.trials", "5", "a square number"),
]


@pytest.mark.parametrize("bad, key, value, allowed", BAD, ids=[case[1] + ":" + case[2] for case in BAD])
def test_a_bad_tuning_setting_gets_one_line_naming_key_value_and_what_is_allowed(bad, key, value, allowed):
    with pytest.raises(ConfigError) as caught:
        plan_from_config(tuned_config(**bad))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"config error at '{key}': got {value}; allowed: ") and allowed in message


def test_levels_that_differ_only_in_their_lr_cannot_be_tuned_apart():
    config = tuned_config()
    config["design"]["factors"]["optimizer"].append({"name": "momentum", "lr": 0.01})
    with pytest.raises(ConfigError, match=r"^config error at 'design.factors.optimizer': got 'momentum and "
                                          r"momentum\(lr=0.01\)'; allowed: levels that differ in more than"):
        plan_from_config(config)


def test_tuning_needs_a_validation_split():
    config = tuned_config()
    config["data"]["val_fraction"] = 0.0
    with pytest.raises(ConfigError, match="^config error at 'data.val_fraction': got 0.0; allowed: > 0"):  # every config
        plan_from_config(config)


def test_tuning_off_changes_no_run():
    config = tuned_config()
    config["design"]["tuning"]["enabled"] = False
    untouched = copy.deepcopy(config)
    del untouched["design"]["tuning"]
    plan = plan_from_config(config)
    assert plan.tuning == [] and plan.tuned == [] and list(plan.runs) == plan_from_config(untouched).grid


# -- the search points ----------------------------------------------------------------------------
def test_a_log_grid_is_evenly_spaced_in_the_exponent_ends_included():
    # 0.05 × 10^(±1) in 5 points: exponents −2.30, −1.80, −1.30, −0.80, −0.30 (by hand, 3 significant digits)
    unit = tuning.unit_points("grid", 5, 1, seed=0)[:, 0]
    assert tuning.log_values(unit, 0.005, 0.5) == [0.005, 0.0158, 0.05, 0.158, 0.5]
    assert tuning.log_values(tuning.unit_points("grid", 1, 1, 0)[:, 0], 1e-3, 1e-1) == [0.01]  # one point: the centre


def test_a_two_dimensional_grid_is_the_product_of_two_axes():
    points = tuning.unit_points("grid", 9, 2, seed=0)
    assert points.tolist() == [[a, b] for a in (0.0, 0.5, 1.0) for b in (0.0, 0.5, 1.0)]


def test_every_cell_searches_its_own_range_around_its_configured_lr():
    plan = plan_from_config(tuned_config(trials=3))
    by_cell: dict[str, list] = {}
    for trial in tuning.trials(plan.config):
        if trial.seed == 100:
            by_cell.setdefault(trial.cell.label("optimizer"), []).append(trial.lr)
    assert by_cell["momentum"][:3] == [0.005, 0.05, 0.5] and by_cell["adam"] == [0.0001, 0.001, 0.01]


@settings(max_examples=30, deadline=None)
@given(exponent=st.integers(0, 6), decades=st.floats(0.25, 3.0), centre=st.floats(-4, 0), seed=st.integers(0, 99))
def test_sobol_points_stratify_each_cells_log_range(exponent, decades, centre, seed):
    """A scrambled Sobol sequence of n = 2^k points in one dimension is a (0, k, 1)-net: each of
    the n equal slices of the unit interval holds exactly one point (Owen 1998). Mapped log-linearly,
    each of the n equal slices of the log range holds one value."""
    count = 2 ** exponent
    low, high = 10 ** (centre - decades), 10 ** (centre + decades)
    values = tuning.log_values(tuning.unit_points("sobol", count, 1, seed)[:, 0], low, high)
    assert len(values) == count
    assert all(low * 0.995 <= v <= high * 1.005 for v in values)
    in_slices = np.sort((np.log10(values) - math.log10(low)) / (2 * decades) * count)  # slice i holds [i, i + 1)
    slack = math.log10(1.005) / (2 * decades) * count  # the 3-significant-digit rounding moves a value < 0.5 %
    assert (np.arange(count) - slack <= in_slices).all() and (in_slices < np.arange(1, count + 1) + slack).all()


@pytest.mark.parametrize("search, trials", [("sobol", 4), ("halton", 5), ("grid", 4)])
def test_every_cell_gets_the_same_number_of_trials_and_epochs_in_its_ranges(search, trials):
    config = tuned_config(search=search, trials=trials, epochs=1,
                          second={"technique": "l2", "parameter": "strength", "range": [1e-5, 1e-1]})
    found = tuning.trials(plan_from_config(config).config)
    counts = pd.Series([t.cell.run_id for t in found]).value_counts()
    assert len(counts) == 3 and set(counts) == {trials * 2}  # each point on both default tuning seeds
    for trial in found:
        low, high = tuning.lr_range(trial.cell, 1.0)
        assert low * 0.995 <= trial.spec.optimizer.kwargs["lr"] == trial.lr <= high * 1.005
        assert trial.spec.train.epochs == 1 and trial.spec.seed in (100, 101)
        if trial.cell.label("regularizer") != "none":  # only the l2 cell searches its strength
            assert 1e-5 * 0.995 <= trial.spec.regularizer[0].kwargs["strength"] == trial.value <= 1e-1 * 1.005
        else:
            assert trial.value is None and trial.spec.regularizer == ()


def test_trials_run_the_design_epochs_unless_told_otherwise():
    plan = plan_from_config(tuned_config())
    assert {plan.runs[run_id].train.epochs for run_id in plan.tuning} == {TINY_CONFIG["train"]["epochs"]}


# -- the choice: validation only, edges flagged, failures reported ---------------------------------
#: 10 classes, 40 validation images: the exact binomial test needs 8 correct (20 %) to reject chance
CHANCE = ChanceTest(10, 40)


def trial_row_trained(status: str, val_acc: float) -> bool:
    cell = next(iter(tuning.trials(plan_from_config(tuned_config()).config)))
    summary = {"status": status, "final_val_acc": val_acc, "final_test_acc": val_acc, "epochs_completed": 2}
    return tuning.trial_row(plan_from_config(tuned_config()).config, cell, summary, CHANCE)["trained"]


def test_a_trial_trained_when_it_ended_ok_above_chance_by_the_reports_binomial_test():
    """P(K ≥ 8) ≤ 0.05 < P(K ≥ 7) for K ~ Binomial(40, 0.1) (scipy, independently of ChanceTest)."""
    assert stats.binom.sf(7, 40, 0.1) <= 0.05 < stats.binom.sf(6, 40, 0.1)
    assert trial_row_trained("ok", 8 / 40) and not trial_row_trained("ok", 7 / 40)
    assert not trial_row_trained("diverged", 0.9) and not trial_row_trained("ok", math.nan)


def trial_table(rows, val_loss=None):
    """Trial runs of cells, (cell, trial, seed, lr, status, val_acc, test_acc) each, over lr ranges
    [1e-3, 1], 40 validation images; `val_loss`: (cell, trial) → its validation loss (else 1.0)."""
    base = {column: "" for column in tuning.TRIAL_COLUMNS}
    frame = []
    for cell, trial, seed, lr, status, val_acc, test_acc in rows:
        frame.append({**base, "cell": cell, "varies": "optimizer", "optimizer": cell, "trial": trial, "seed": seed,
                      "run_id": f"{cell}{trial}s{seed}", "lr": lr, "lr_low": 1e-3, "lr_high": 1.0, "fixed_lr": 0.03,
                      "parameter": "", "value": math.nan, "value_low": math.nan, "value_high": math.nan,
                      "fixed_value": math.nan, "status": status, "val_acc": val_acc,
                      "val_loss": (val_loss or {}).get((cell, trial), 1.0), "val_images": 40, "test_acc": test_acc,
                      "chance_acc": 0.1, "chance_threshold": CHANCE.threshold,
                      "trained": status == "ok" and not CHANCE.at_chance(val_acc)})
    return pd.DataFrame(frame, columns=tuning.TRIAL_COLUMNS)


def on_seeds(cell, trial, lr, accuracies, status="ok", test_acc=0.5):
    """A trial's runs on tuning seeds 100, 101, … with these validation accuracies."""
    return [(cell, trial, 100 + i, lr, status, acc, test_acc) for i, acc in enumerate(accuracies)]


def test_the_choice_is_the_best_validation_trial_and_flags_a_value_at_the_edge():
    config = plan_from_config(tuned_config()).config
    trials = trial_table([
        *on_seeds("a", 0, 0.001, [0.30, 0.30], test_acc=0.90),  # best on test, not chosen
        *on_seeds("a", 1, 0.03, [0.50, 0.45], test_acc=0.40),  # best on validation, in the middle of the range
        *on_seeds("a", 2, 1.0, [0.99, 0.99], status="diverged"),  # a failed run is never chosen
        *on_seeds("b", 0, 0.001, [0.20, 0.20]),
        *on_seeds("b", 1, 0.03, [0.30, 0.30]),
        *on_seeds("b", 2, 0.9, [0.60, 0.55]),  # chosen at the upper edge: position 0.985
    ])
    choice = tuning.choice_table(config, trials).set_index("cell")
    assert choice.loc["a", "lr"] == 0.03 and choice.loc["a", "run_ids"] == "a1s100 a1s101" and not choice.loc["a", "lr_at_edge"]
    assert choice.loc["a", "lr_position"] == pytest.approx((math.log10(0.03) + 3) / 3)
    assert choice.loc["b", "lr"] == 0.9 and choice.loc["b", "lr_at_edge"]
    assert "upper edge" in choice.loc["b", "warning"] and choice.loc["a", "warning"] == ""
    assert (choice["status"] == "tuned").all() and choice.loc["a", "trials_trained"] == 2


THREE_SEEDS = plan_from_config(tuned_config(seeds=3)).config


@settings(max_examples=30, deadline=None)
@given(correct=st.lists(st.lists(st.integers(8, 40), min_size=3, max_size=3), min_size=2, max_size=6))
def test_the_choice_is_the_best_mean_validation_accuracy_over_the_tuning_seeds(correct):
    """Trials with accuracies k/40 on 3 tuning seeds: the choice is the trial of the highest mean
    (pandas, here), not the best single run — ties to the lower validation loss (here: all equal
    at 1.0), then to the smaller learning rate."""
    config = THREE_SEEDS
    lrs = [0.001 * 2 ** i for i in range(len(correct))]
    rows = [run for trial, (lr, counts) in enumerate(zip(lrs, correct)) for run in on_seeds("a", trial, lr, [k / 40 for k in counts])]
    choice = tuning.choice_table(config, trial_table(rows)).iloc[0]
    means = pd.Series([np.mean(counts) for counts in correct], index=lrs)
    best = means[means == means.max()].index.min()  # the smaller lr of the tied best
    assert choice["lr"] == best and choice["val_acc"] == pytest.approx(means.max() / 40)
    runner_up = means.drop(best).sort_values(ascending=False, kind="stable")
    runner_up = runner_up[runner_up == runner_up.max()].index.min()
    assert choice["runner_up_lr"] == runner_up
    assert choice["tie_broken_by"] == ("learning rate" if means[best] == means[runner_up] else "")


def test_ties_in_mean_accuracy_go_to_the_lower_validation_loss_then_to_the_smaller_lr():
    config = plan_from_config(tuned_config()).config
    rows = [*on_seeds("a", 0, 0.01, [0.50, 0.40]), *on_seeds("a", 1, 0.1, [0.40, 0.50]), *on_seeds("a", 2, 0.5, [0.45, 0.45]),
            *on_seeds("b", 0, 0.01, [0.50, 0.40]), *on_seeds("b", 1, 0.1, [0.40, 0.50])]
    # a: three trials tie at 18 of 40 images a seed; trial 1 has the lowest loss. b: a full tie: the smaller lr
    choice = tuning.choice_table(config, trial_table(rows, val_loss={("a", 0): 1.2, ("a", 1): 1.1, ("a", 2): 1.3,
                                                                     ("b", 0): 1.0, ("b", 1): 1.0})).set_index("cell")
    assert choice.loc["a", "lr"] == 0.1 and choice.loc["a", "tie_broken_by"] == "validation loss"
    assert choice.loc["a", "runner_up_lr"] == 0.01 and choice.loc["a", "margin"] == pytest.approx(0.0)
    assert choice.loc["b", "lr"] == 0.01 and choice.loc["b", "tie_broken_by"] == "learning rate"
    assert choice["within_noise"].all()  # a margin of 0 is never beyond the noise
    # the order of the trials in the table does not matter
    shuffled = trial_table(rows[::-1], val_loss={("a", 0): 1.2, ("a", 1): 1.1, ("a", 2): 1.3, ("b", 0): 1.0, ("b", 1): 1.0})
    assert tuning.choice_table(config, shuffled).set_index("cell").loc[["a", "b"], "lr"].tolist() == [0.1, 0.01]


def test_the_margin_over_the_runner_up_is_a_paired_mean_with_its_standard_error_and_t_interval():
    config = plan_from_config(tuned_config(seeds=4)).config
    best, second, third = [0.60, 0.55, 0.62, 0.58], [0.50, 0.46, 0.53, 0.49], [0.30, 0.30, 0.30, 0.30]
    noisy = [0.50, 0.60, 0.45, 0.62]  # runner-up of cell b: a margin inside its noise
    rows = [*on_seeds("a", 0, 0.01, best), *on_seeds("a", 1, 0.1, second), *on_seeds("a", 2, 0.5, third),
            *on_seeds("b", 0, 0.01, best), *on_seeds("b", 1, 0.1, noisy)]
    choice = tuning.choice_table(config, trial_table(rows)).set_index("cell")
    for cell, runner_up in (("a", second), ("b", noisy)):
        expected = stats.ttest_rel(100 * np.array(best), 100 * np.array(runner_up))
        interval = expected.confidence_interval(0.95)
        row = choice.loc[cell]
        assert row["margin"] == pytest.approx(100 * (np.mean(best) - np.mean(runner_up)))
        assert row["margin_se"] == pytest.approx(row["margin"] / expected.statistic)  # t = mean / SE
        assert (row["margin_low"], row["margin_high"]) == pytest.approx((interval.low, interval.high))
        assert row["within_noise"] == (interval.low <= 0)
    assert not choice.loc["a", "within_noise"] and choice.loc["b", "within_noise"]


def test_a_trial_counts_only_when_every_one_of_its_seeds_trained():
    """The best mean would be trial 0's, but one of its seeds stayed at chance (5 of 40 images):
    it is no candidate, and a cell whose every trial lost a seed failed to tune."""
    config = plan_from_config(tuned_config()).config
    rows = [*on_seeds("a", 0, 0.01, [0.90, 0.125]), *on_seeds("a", 1, 0.1, [0.40, 0.40]),
            *on_seeds("b", 0, 0.01, [0.90, 0.125]), *on_seeds("b", 1, 0.1, [0.50, 0.50], status="diverged")]
    choice = tuning.choice_table(config, trial_table(rows)).set_index("cell")
    assert choice.loc["a", "lr"] == 0.1 and choice.loc["a", "trials_trained"] == 1
    assert math.isnan(choice.loc["a", "margin"]) and not choice.loc["a", "within_noise"]  # no runner-up: no margin
    assert choice.loc["b", "status"] == "failed to tune" and "on all of its 2 tuning seed(s)" in choice.loc["b", "warning"]


@pytest.mark.parametrize("position, flagged", [(0.0, True), (0.1, True), (0.11, False), (0.5, False), (0.89, False),
                                               (0.9, True), (1.0, True), (math.nan, False)])
def test_edge_flag_is_the_outer_fraction_of_the_log_range(position, flagged):
    assert tuning.at_edge(position, 0.1) is flagged


def test_a_cell_none_of_whose_trials_trained_failed_to_tune_and_gets_no_tuned_runs(tmp_path):
    plan = plan_from_config(tuned_config())
    config = plan.config
    cells = {t.cell.label("optimizer") + "/" + t.cell.label("regularizer"): t.cell.run_id for t in tuning.trials(config)}
    rows = []
    for name, cell in cells.items():
        for trial, lr in enumerate((0.01, 0.1)):
            if name.startswith("adam"):  # every trial of the Adam cell diverged or stayed at chance
                rows += on_seeds(cell, trial, lr / 10, [0.9, 0.9] if lr == 0.1 else [0.11, 0.11],
                                 status="diverged" if lr == 0.1 else "ok")
            else:
                rows += on_seeds(cell, trial, lr, [0.5 + lr, 0.5 + lr])
    choice = tuning.choice_table(config, trial_table(rows))
    adam = choice[choice["cell"] == cells["adam/none"]].iloc[0]
    assert adam["status"] == "failed to tune" and math.isnan(adam["lr"]) and "failed to tune" in adam["warning"]
    choice.to_csv(tmp_path / "tuning.csv", index=False)
    tuned = plan_from_config(tuned_config(), tables=tmp_path)
    tuned_cells = {tuned.runs[run_id].optimizer.name for run_id in tuned.tuned}
    assert tuned_cells == {"momentum"} and len(tuned.tuned) == 2 * 2  # two momentum cells × two seeds


def test_trials_run_on_every_tuning_seed_and_those_at_seed_100_keep_the_ids_they_had_with_one_seed():
    """Before design.tuning.seeds, every trial ran once at seed 100: those runs are the first
    seed's, reused; the second seed's are new runs."""
    two = tuning.trials(plan_from_config(tuned_config()).config)
    one = tuning.trials(plan_from_config(tuned_config(seeds=[100])).config)
    assert [t.seed for t in two] == [100, 101] * len(one)
    assert [t.spec.run_id for t in two if t.seed == 100] == [t.spec.run_id for t in one]
    assert len({t.spec.run_id for t in two}) == 2 * len(one)
    # the run at seed 100 is the cell at the trial's values, seed 100, the trials' epochs: the ids of earlier versions
    for trial in one:
        spec = tuning.at_values(trial.cell, trial.lr, trial.value, tuning.searched_parameter(plan_from_config(tuned_config()).config))
        assert dataclasses.replace(spec, seed=100).run_id == trial.spec.run_id
    listed = tuning.trials(plan_from_config(tuned_config(seeds=[7, 100])).config)
    assert [t.seed for t in listed][:2] == [7, 100]


# -- the second stage: the tuned runs join the plan once the choice exists -------------------------
def choose(config, tables, index):
    """Write a choice table in which trial `index` of every cell won on validation; return its trials."""
    trials = tuning.trials(config)
    summaries = [{"status": "ok", "final_val_acc": 0.9 if t.index == index else 0.3, "final_test_acc": 0.5,
                  "epochs_completed": 2} for t in trials]
    table = pd.DataFrame([tuning.trial_row(config, t, summary, CHANCE) for t, summary in zip(trials, summaries)])
    tuning.choice_table(config, table).to_csv(tables / "tuning.csv", index=False)
    return [t for t in trials if t.index == index]


def identity(spec):
    """What a run is, less its id: optimizer and its lr, regularizers and their strengths, seed, epochs."""
    return (spec.optimizer.name, spec.optimizer.kwargs["lr"], tuple(t.params for t in spec.regularizer), spec.seed,
            spec.train.epochs)


def test_the_tuned_runs_join_the_plan_once_the_choice_table_exists_at_the_chosen_values(tmp_path):
    second = {"technique": "l2", "parameter": "strength", "range": [1e-5, 1e-1]}
    before = plan_from_config(tuned_config(search="sobol", trials=4, second=second), tables=tmp_path)
    assert before.tuned == [] and len(before.tuning) == 3 * 4 * 2 and len(before.runs) == len(before.grid) + 24
    chosen = choose(before.config, tmp_path, index=2)

    after = plan_from_config(tuned_config(search="sobol", trials=4, second=second), tables=tmp_path)
    assert after.grid == before.grid and after.tuning == before.tuning and set(after.tuned) <= set(after.runs)
    # each chosen trial's values (lr, and l2's strength in the l2 cell) on the compared seeds, full epochs
    expected = {identity(dataclasses.replace(t.spec, seed=seed, train=dataclasses.replace(t.spec.train, epochs=2)))
                for t in chosen for seed in (0, 1)}
    assert {identity(after.runs[run_id]) for run_id in after.tuned} == expected and len(after.tuned) == 6


def test_a_tuned_run_at_its_configured_values_is_the_grids_run(tmp_path):
    """With an odd grid the configured lr is a trial point; chosen, the tuned run is the grid's run."""
    before = plan_from_config(tuned_config(), tables=tmp_path)
    choose(before.config, tmp_path, index=1)  # 3 grid points: index 1 is the centre, the configured lr
    roles = tuning.run_roles(before.config, tmp_path)
    assert {roles[run_id].role for run_id in before.grid} == {"grid+tuned"}  # every cell chose its own lr
    assert {roles[run_id].role for run_id in before.tuning} == {"tuning"} and len(roles) == len(before.runs)
    trial = roles[before.tuning[-1]]
    assert trial.cell.optimizer.kwargs["lr"] == 0.05 and trial.cell.seed == 0  # a trial is labelled by its cell


def test_cluster_job_groups_leave_out_tuned_runs_a_new_choice_may_drop(tmp_path):
    config = tuned_config()
    config["execution"] = {"runs_per_cluster_job": 2}
    choose(plan_from_config(copy.deepcopy(config)).config, tmp_path, index=2)
    plan = plan_from_config(config, tables=tmp_path)
    grouped = [run_id for run_ids in plan.cluster_jobs.values() for run_id in run_ids]
    assert len(plan.tuned) == 6 and not set(grouped) & set(plan.tuned)
    assert sorted(grouped) == sorted([*plan.grid, *plan.tuning])
