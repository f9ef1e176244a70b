"""Schedules against their formulas: the learning-rate multiplier at chosen steps and over whole
runs (torch's own schedulers where torch has one), the step schedule's decays by hand, warm-up in
front of any schedule without its own (refused before one-cycle), and what LambdaLR then sets."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch

from technique_helpers import VALIDATED
from trickbench.design import baseline_spec
from trickbench.errors import ConfigError
from trickbench.techniques.schedules import OWN_WARMUP, SCHEDULES, lr_multiplier

T = 100


def factor(level, step: int, total: int = T) -> float:
    return SCHEDULES.build(SCHEDULES.resolve(level, "schedule"), step, total)


# (level, step, multiplier from the formula) at T = 100 steps
POINTS = [
    ("constant", 0, 1.0), ("constant", 99, 1.0),
    ("step", 0, 1.0), ("step", 32, 1.0), ("step", 33, 0.1), ("step", 65, 0.1), ("step", 66, 0.01), ("step", 99, 0.01),
    ({"name": "step", "gamma": 0.5, "every_fraction": 0.25}, 60, 0.25),
    ("cosine", 0, 1.0), ("cosine", 25, 0.5 * (1 + math.cos(math.pi / 4))), ("cosine", 50, 0.5), ("cosine", 100, 0.0),
    ("exponential", 0, 1.0), ("exponential", 50, 0.1), ("exponential", 100, 0.01),
    ({"name": "exponential", "final": 0.25}, 50, 0.5),
    ("inverse_time", 0, 1.0), ("inverse_time", 50, 1 / 5.5), ("inverse_time", 100, 0.1),
    ({"name": "inverse_time", "k": 1.0}, 100, 0.5),
    ("one_cycle", 0, 1 / 25), ("one_cycle", 29, 1.0), ("one_cycle", 99, 1 / (25 * 1e4)),
    ("one_cycle", 64, 0.5 * (1 + 1 / 250000)),  # halfway down: (99 − 29)/2 + 29
]


@pytest.mark.parametrize("level, step, expected", POINTS)
def test_multiplier_at_chosen_steps_equals_the_formula(level, step, expected):
    assert factor(level, step) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_every_schedule_has_points_in_the_table():
    assert {level if isinstance(level, str) else level["name"] for level, *_ in POINTS} == set(SCHEDULES.names())


@pytest.mark.parametrize("pct_start, div, final_div, total", [(0.3, 25.0, 1e4, 100), (0.25, 10.0, 100.0, 37)])
def test_one_cycle_matches_torchs_one_cycle_lr(pct_start, div, final_div, total):
    """Its cosine form, at every step: the same multipliers torch's OneCycleLR sets (momentum not cycled)."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    torch_schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1.0, total_steps=total, pct_start=pct_start,
                                                         div_factor=div, final_div_factor=final_div, cycle_momentum=False)
    level = {"name": "one_cycle", "pct_start": pct_start, "div_factor": div, "final_div_factor": final_div}
    for step in range(total):
        assert factor(level, step, total) == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-9)
        optimizer.step()
        torch_schedule.step()


# (every_fraction, T) → the steps at which the lr drops, by hand: round(k·f·T) while a tenth of
# a phase or more remains after it
DECAYS = [
    (0.33, 100, [33, 66]),  # thirds: no third decay at 99, for the last 1 % of training
    (0.25, 100, [25, 50, 75]),
    (0.3, 100, [30, 60, 90]),  # 10 % of training after the last decay: a third of a phase, kept
    (0.5, 100, [50]),
    (0.95, 100, []),  # 5 % left: less than a tenth of a 95 % phase
    (0.33, 57, [19, 38]),  # 18.81 and 37.62 rounded
    (0.1, 20, [2, 4, 6, 8, 10, 12, 14, 16, 18]),
]


@pytest.mark.parametrize("fraction, total, drops", DECAYS)
def test_step_schedule_decays_at_the_hand_computed_steps_only(fraction, total, drops):
    gamma = 0.5
    level = {"name": "step", "gamma": gamma, "every_fraction": fraction}
    values = [factor(level, step, total) for step in range(total)]
    expected = [gamma ** sum(step >= drop for drop in drops) for step in range(total)]
    assert values == pytest.approx(expected, rel=1e-12)
    assert [step for step in range(1, total) if values[step] != values[step - 1]] == drops


def torch_multipliers(make, total: int) -> list[float]:
    """What one of torch's own schedulers sets at steps 0 … total−1 (base lr 1)."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler, values = make(optimizer), []
    for _ in range(total):
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return values


S = torch.optim.lr_scheduler
#: name → its multipliers over a 57-step run from an independent source: torch's own scheduler
#: where torch has one, else the formula written out here
REFERENCES = {
    "constant": lambda T: [1.0] * T,
    "step": lambda T: torch_multipliers(lambda o: S.MultiStepLR(o, milestones=[19, 38], gamma=0.1), T),
    "cosine": lambda T: torch_multipliers(lambda o: S.CosineAnnealingLR(o, T_max=T), T),
    "exponential": lambda T: torch_multipliers(lambda o: S.ExponentialLR(o, gamma=0.01 ** (1 / T)), T),
    "inverse_time": lambda T: [1 / (1 + 9 * t / T) for t in range(T)],
    "one_cycle": lambda T: torch_multipliers(lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=T, cycle_momentum=False), T),
}


def test_every_registered_schedule_has_a_reference():
    assert set(REFERENCES) == set(SCHEDULES.names()), "add the new schedule's reference to REFERENCES"


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_every_schedule_at_its_defaults_is_its_reference_at_every_step(name):
    """The whole run, step by step (a schedule that did nothing would stay at 1). The base lr is
    each schedule's maximum: multipliers lie in [0, 1]."""
    values = [factor(name, step, 57) for step in range(57)]
    assert values == pytest.approx(REFERENCES[name](57), rel=1e-9, abs=1e-12)
    assert all(0.0 <= v <= 1.0 for v in values)


@pytest.mark.parametrize("name", [name for name in SCHEDULES.names() if name not in OWN_WARMUP])
def test_linear_warmup_goes_in_front_of_any_schedule_without_its_own(name):
    """(t+1)/W for the first W steps, then the schedule over the remaining T − W steps."""
    schedule = SCHEDULES.resolve(name, "schedule")
    multiplier = lr_multiplier(schedule, total_steps=T, warmup_steps=10)
    assert [multiplier(t) for t in range(10)] == pytest.approx([(t + 1) / 10 for t in range(10)])
    for t in (10, 40, 99):
        assert multiplier(t) == pytest.approx(SCHEDULES.build(schedule, t - 10, T - 10))


def test_lambda_lr_sets_base_lr_times_the_multiplier():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_multiplier(SCHEDULES.resolve("step", "schedule"), T))
    for _ in range(33):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.02)


def spec_with(schedule: str, warmup_epochs: float):
    config = copy.deepcopy(VALIDATED)
    config["train"]["warmup_epochs"] = warmup_epochs
    config["baseline"]["schedule"] = schedule
    return baseline_spec(config, seed=0)


def test_warmup_in_front_of_one_cycle_is_refused_when_the_spec_is_made():
    """One-cycle warms up itself (from base/div_factor over pct_start): a linear warm-up in front
    would end at the base lr and drop to base/25 — a sawtooth. The refusal is one line naming both,
    for a spec from a config and for one a study derives from another."""
    for make in (lambda: spec_with("one_cycle", 1.0),
                 lambda: dataclasses.replace(spec_with("one_cycle", 0.0), train=spec_with("cosine", 1.0).train)):
        with pytest.raises(ConfigError) as error:
            make()
        message = str(error.value)
        assert "train.warmup_epochs" in message and "one_cycle" in message and "own warm-up" in message
        assert "\n" not in message
    assert spec_with("one_cycle", 0.0).schedule.name == "one_cycle"
    assert spec_with("cosine", 1.0).train.warmup_epochs == 1.0
