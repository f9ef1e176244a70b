"""Schedules against their formulas: the learning-rate multiplier at chosen steps, warm-up in
front of any schedule, one-cycle against torch's OneCycleLR, and what LambdaLR then sets."""

from __future__ import annotations

import math

import pytest
import torch

from trickbench.techniques.schedules import SCHEDULES, lr_multiplier

T = 100


def factor(level, step: int, total: int = T) -> float:
    return SCHEDULES.build(SCHEDULES.resolve(level, "schedule"), step, total)


# (level, step, multiplier from the formula) at T = 100 steps
POINTS = [
    ("constant", 0, 1.0), ("constant", 99, 1.0),
    ("step", 0, 1.0), ("step", 32, 1.0), ("step", 33, 0.1), ("step", 66, 0.01), ("step", 99, 0.001),
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


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_every_schedule_stays_within_the_base_lr(name):
    """The base lr is each schedule's maximum: multipliers lie in [0, 1] at every step, and reach
    1 (one-cycle's peak may fall between two steps)."""
    values = [factor(name, step, 57) for step in range(58)]
    assert all(0.0 <= v <= 1.0 for v in values) and max(values) > 0.999


@pytest.mark.parametrize("name", SCHEDULES.names())
def test_linear_warmup_goes_in_front_of_any_schedule(name):
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
