"""Learning-rate schedules: name → `factor(step, total_steps) -> float`, the multiplier of the base lr.

Schedules are pure functions of the optimizer step, so each is testable against its formula and
wraps into `torch.optim.lr_scheduler.LambdaLR` (whose state checkpoints and resumes). Linear
warm-up is not a schedule of its own: `lr_multiplier` puts it in front of any schedule that has
none of its own (one-cycle has: `check_warmup`).
"""

from __future__ import annotations

import math
from typing import Callable

from trickbench.errors import ConfigError
from trickbench.registry import Registry, Technique

SCHEDULES = Registry("schedule")


@SCHEDULES.register("constant")
def constant(step: int, total_steps: int) -> float:
    """The base learning rate throughout."""
    return 1.0


@SCHEDULES.register("step", reference="Krizhevsky et al. 2012", bounds={"gamma": (0.0, 1.0), "every_fraction": (0.01, 1.0)})
def step_decay(step: int, total_steps: int, *, gamma: float = 0.1, every_fraction: float = 0.33) -> float:
    """Multiply by gamma every `every_fraction` f of training: at steps round(k·f·T) that leave a tenth of a phase (f = 0.33: thirds).

    Decays at f·T, 2f·T, … strictly inside training, each followed by at least a tenth of a phase
    f·T: f = 0.33 decays at 0.33·T and 0.66·T, not a third time for the last 1 % of training at
    0.99·T, where the lowest rate could hardly act (see `decay_steps`)."""
    decays = decay_steps(every_fraction, total_steps)
    return gamma ** sum(step >= at for at in decays)


def decay_steps(every_fraction: float, total_steps: int) -> list[int]:
    """The steps at which the step schedule decays: round(k·f·T) (at least 1) for every k ≥ 1 with
    k·f ≤ 1 − f/10, i.e. k ≤ 1/f − 1/10."""
    count = math.floor(1.0 / every_fraction - 0.1 + 1e-9)
    return [max(1, round(k * every_fraction * total_steps)) for k in range(1, count + 1)]


@SCHEDULES.register("cosine", reference="Loshchilov & Hutter 2017, SGDR")
def cosine(step: int, total_steps: int) -> float:
    """Half a cosine from the base lr to 0: ½·(1 + cos(π·t/T))."""
    return 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / max(1, total_steps)))


@SCHEDULES.register("exponential", reference="cs231n: exponential decay α₀·e^(−kt)", bounds={"final": (1e-6, 1.0)})
def exponential(step: int, total_steps: int, *, final: float = 0.01) -> float:
    """Smooth geometric decay to `final` of the base lr at the end: final^(t/T) = e^(−ln(1/final)·t/T)."""
    return final ** (min(step, total_steps) / max(1, total_steps))


@SCHEDULES.register("inverse_time", reference="cs231n: 1/t decay α₀/(1 + kt); Robbins & Monro 1951", bounds={"k": (0.0, None)})
def inverse_time(step: int, total_steps: int, *, k: float = 9.0) -> float:
    """1/t decay, time measured in fractions of training: 1/(1 + k·t/T) (k = 9 ends at a tenth)."""
    return 1.0 / (1.0 + k * min(step, total_steps) / max(1, total_steps))


def _cosine_between(start: float, end: float, fraction: float) -> float:
    return end + (start - end) * 0.5 * (1.0 + math.cos(math.pi * fraction))


@SCHEDULES.register("one_cycle", reference="Smith & Topin 2019, Super-Convergence (cosine form of torch's OneCycleLR)",
                    bounds={"pct_start": (0.01, 0.99), "div_factor": (1.0, None), "final_div_factor": (1.0, None)})
def one_cycle(step: int, total_steps: int, *, pct_start: float = 0.3, div_factor: float = 25.0,
              final_div_factor: float = 1e4) -> float:
    """Cosine rise from base/div_factor to the base lr over pct_start of training, then cosine anneal to ~0.

    The base lr is the cycle's peak; the end is base/(div_factor·final_div_factor). Momentum is
    not cycled (the optimizer keeps its own)."""
    peak_step = pct_start * total_steps - 1
    last_step = total_steps - 1
    step = min(step, last_step)
    if step <= peak_step:
        return _cosine_between(1.0 / div_factor, 1.0, step / peak_step if peak_step > 0 else 1.0)
    return _cosine_between(1.0, 1.0 / (div_factor * final_div_factor), (step - peak_step) / (last_step - peak_step))


#: schedules that begin with a warm-up of their own: a linear warm-up in front would end at the
#: base lr and drop to the schedule's start (one-cycle: base/div_factor), a sawtooth
OWN_WARMUP = {"one_cycle"}


def check_warmup(schedule: Technique, warmup_epochs: float) -> None:
    """Refuse `train.warmup_epochs` in front of a schedule that warms up itself (one line)."""
    if warmup_epochs > 0 and schedule.name in OWN_WARMUP:
        raise ConfigError("train.warmup_epochs", warmup_epochs,
                          f"0 with schedule {schedule.name}, which has its own warm-up (its pct_start)")


def lr_multiplier(schedule: Technique, total_steps: int, warmup_steps: int = 0) -> Callable[[int], float]:
    """The full multiplier for LambdaLR: linear warm-up over `warmup_steps`, then the schedule
    over the remaining steps (so the schedule still ends where its formula says). Not for a
    schedule with its own warm-up (`check_warmup` refuses that combination when a spec is made)."""

    def multiplier(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return SCHEDULES.build(schedule, step - warmup_steps, max(1, total_steps - warmup_steps))

    return multiplier
