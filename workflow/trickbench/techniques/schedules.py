"""Learning-rate schedules: name → `factor(step, total_steps) -> float`, the multiplier of the base lr.

Schedules are pure functions of the optimizer step, so each is testable against its formula and
wraps into `torch.optim.lr_scheduler.LambdaLR` (whose state checkpoints and resumes). Linear
warm-up is not a schedule of its own: `lr_multiplier` puts it in front of any schedule.
"""

from __future__ import annotations

import math
from typing import Callable

from trickbench.registry import Registry, Technique

SCHEDULES = Registry("schedule")


@SCHEDULES.register("constant")
def constant(step: int, total_steps: int) -> float:
    """The base learning rate throughout."""
    return 1.0


@SCHEDULES.register("step", reference="Krizhevsky et al. 2012", bounds={"gamma": (0.0, 1.0), "every_fraction": (0.0, 1.0)})
def step_decay(step: int, total_steps: int, *, gamma: float = 0.1, every_fraction: float = 0.33) -> float:
    """Multiply by gamma every `every_fraction` of training: lr·γ^⌊t / (f·T)⌋."""
    every = max(1, round(every_fraction * total_steps))
    return gamma ** (step // every)


@SCHEDULES.register("cosine", reference="Loshchilov & Hutter 2017, SGDR")
def cosine(step: int, total_steps: int) -> float:
    """Half a cosine from the base lr to 0: ½·(1 + cos(π·t/T))."""
    return 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / max(1, total_steps)))


def lr_multiplier(schedule: Technique, total_steps: int, warmup_steps: int = 0) -> Callable[[int], float]:
    """The full multiplier for LambdaLR: linear warm-up over `warmup_steps`, then the schedule
    over the remaining steps (so the schedule still ends where its formula says)."""

    def multiplier(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return SCHEDULES.build(schedule, step - warmup_steps, max(1, total_steps - warmup_steps))

    return multiplier
