"""Progress while training: a bar in a terminal, periodic plain lines anywhere else."""

from __future__ import annotations

import io
import logging

from trickbench.progress import duration, epoch_progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_plain_lines_with_step_share_speed_and_time_left(caplog):
    on_step = epoch_progress(3, 12, steps=4, batch_size=128, stream=io.StringIO(), interval=0.0)
    with caplog.at_level(logging.INFO, logger="trickbench.progress"):
        for step in range(1, 5):
            on_step(step, 4)
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 3  # the epoch's last step is left to the epoch line, which has the losses
    assert lines[0].startswith("epoch 3/12: step 1/4 (25 %), ") and "images/s, about" in lines[0]
    assert lines[2].startswith("epoch 3/12: step 3/4 (75 %)")


def test_a_log_line_waits_for_its_interval(caplog):
    on_step = epoch_progress(1, 2, steps=100, batch_size=32, stream=io.StringIO(), interval=3600.0)
    with caplog.at_level(logging.INFO, logger="trickbench.progress"):
        for step in range(1, 101):
            on_step(step, 100)
    assert caplog.records == []


def test_a_terminal_gets_a_bar_counting_images():
    terminal = Terminal()
    on_step = epoch_progress(2, 5, steps=3, batch_size=100, stream=terminal)
    for step in range(1, 4):
        on_step(step, 3)
    shown = terminal.getvalue()
    assert "epoch 2/5" in shown and "/300" in shown and "img/s" in shown  # tqdm redraws at most every 0.1 s


def testdurations_read_naturally():
    assert [duration(s) for s in (5, 89.6, 95, 3600, 7200)] == ["5 s", "90 s", "1.6 min", "60.0 min", "2.0 h"]
