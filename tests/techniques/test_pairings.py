"""Techniques meant for a partner (SELU for LeCun's init): the catalogue names the partner, and a
run that pairs them otherwise says so in its summary, its row of runs.csv and the report's runs table."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from torch import nn

from technique_helpers import tiny_spec, tiny_trainer
from trickbench.collect import run_row
from trickbench.report.html import RUN_COLUMNS, run_columns
from trickbench.run import summarize
from trickbench.techniques.catalogue import markdown
from trickbench.techniques.inits import INITS
from trickbench.techniques.pairings import technique_notes

MLP = {"name": "mlp", "depth": 2, "width": 64}


def notes(**levels) -> str:
    spec = tiny_spec(MLP, **levels)
    return technique_notes({family: getattr(spec, family) for family in ("activation", "init", "regularizer")})


def test_the_catalogue_says_selu_is_meant_for_lecun_normal():
    row = next(line for line in markdown().splitlines() if line.startswith("| `selu` |"))
    assert "Meant for init `lecun_normal`" in row and "1/fan_in" in row


@pytest.mark.parametrize("init", [name for name in INITS.names() if name != "lecun_normal"])
def test_selu_with_any_other_init_gets_a_note_naming_both(init):
    note = notes(activation="selu", init=init)
    assert note.startswith("activation selu is meant for init lecun_normal") and note.endswith(f"this run uses init {init}")


def test_as_meant_or_without_selu_there_is_no_note():
    assert notes(activation="selu", init="lecun_normal") == ""
    assert notes(activation="relu", init="he_normal") == ""
    assert notes(activation="tanh", init="orthogonal") == ""


def test_why_the_note_matters_he_init_gives_selu_pytorchs_gain_not_lecuns_variance():
    """What the note is about, measured: under he_normal a SELU layer's weights have variance
    (3/4)²/fan_in (PyTorch's SELU gain), under lecun_normal 1/fan_in."""
    for init, gain in (("he_normal", 0.75), ("lecun_normal", 1.0)):
        hidden = tiny_trainer(MLP, activation="selu", init=init).model[2][0][0]  # the 64 → 64 layer
        assert isinstance(hidden, nn.Linear) and hidden.in_features == 64
        assert hidden.weight.var().item() == pytest.approx(gain**2 / 64, rel=0.08)


def test_the_summary_the_runs_table_and_the_report_carry_the_note():
    trainer = tiny_trainer(MLP, activation="selu", init="he_normal")
    trainer.train_epoch()
    summary = summarize(trainer.spec, trainer.finish(0.0), torch.device("cpu"), wall_seconds=0.0)
    assert "meant for init lecun_normal" in summary["technique_notes"]
    row = run_row(summary)
    assert row["technique_notes"] == summary["technique_notes"]
    fine = {**row, "run_id": "other", "activation": "relu", "technique_notes": math.nan}  # as read back from the csv
    columns, _ = run_columns(pd.DataFrame([row, fine]))
    assert columns[-1] == "technique_notes" and RUN_COLUMNS["technique_notes"] == "notes"
    columns, _ = run_columns(pd.DataFrame([fine, {**fine, "run_id": "third"}]))
    assert "technique_notes" not in columns  # no run has a note: no empty column
