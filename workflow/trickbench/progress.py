"""Progress a person can see while a run trains: a bar in a terminal, plain lines in a log.

A terminal gets a tqdm bar per epoch (steps, images/s, time left), redrawn in place. Anywhere
else — a Snakemake job's log file, a SLURM output file, a pipe — a redrawn bar is noise, so a
plain timestamped line is logged every `interval` seconds instead. Loss and accuracy come once an
epoch, in the epoch line `run.train_run` logs: reading the loss every step would force a
device-to-host synchronization per step, which the training loop avoids on purpose.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Callable, TextIO

log = logging.getLogger("trickbench.progress")

#: seconds between two plain progress lines in a log
LOG_INTERVAL = 30.0

StepCallback = Callable[[int, int], None]


def epoch_progress(epoch: int, epochs: int, steps: int, batch_size: int, stream: TextIO | None = None,
                   interval: float = LOG_INTERVAL) -> StepCallback:
    """The `on_step(step, total)` callback of one epoch: a bar when `stream` is a terminal, else
    a line every `interval` seconds."""
    stream = stream or sys.stderr
    if stream.isatty():
        return _bar(epoch, epochs, steps, batch_size, stream)
    return _lines(epoch, epochs, batch_size, interval)


def _bar(epoch: int, epochs: int, steps: int, batch_size: int, stream: TextIO) -> StepCallback:
    from tqdm import tqdm

    bar = tqdm(total=steps * batch_size, desc=f"epoch {epoch}/{epochs}", unit="img", unit_scale=True,
               leave=False, file=stream, dynamic_ncols=True)

    def on_step(step: int, total: int) -> None:
        bar.update(batch_size)
        if step == total:
            bar.close()

    return on_step


def _lines(epoch: int, epochs: int, batch_size: int, interval: float) -> StepCallback:
    started = last = time.perf_counter()

    def on_step(step: int, total: int) -> None:
        nonlocal last
        now = time.perf_counter()
        if now - last < interval or step == total:  # the epoch's end has its own line, with the losses
            return
        last = now
        speed = step * batch_size / max(now - started, 1e-9)
        left = (total - step) * (now - started) / step
        log.info("epoch %d/%d: step %d/%d (%.0f %%), %s images/s, about %s left in this epoch",
                 epoch, epochs, step, total, 100 * step / total, f"{speed:,.0f}", duration(left))

    return on_step


def duration(seconds: float) -> str:
    """'45 s', '3.5 min', '1.2 h'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
