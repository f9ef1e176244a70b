"""`trickbench claims`: the scorecard in a terminal and as docs/claims.md's Markdown table, judged from
the tables of a results folder; one clear line when there are none."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from claim_tables import SEEDS, level_runs, run_row, write
from trickbench.claims import NOT_RUN, REPRODUCED, VERDICTS
from trickbench.claims.registered import load_all
from trickbench.cli import main
from trickbench.data_dictionary import conform


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> Path:
    """Dropout clearly beats no dropout on test accuracy (every seed +5 points); the baseline's
    temperature scaling lowers ECE by 4 points in every seed; nothing else ran."""
    runs = level_runs("regularizer", {"dropout": [0.45, 0.452, 0.448, 0.451], "none": [0.40] * 4})
    runs["test_ece"] = [0.10] * 4 + [0.14, 0.141, 0.139, 0.14]
    runs["test_ece_temperature_scaled"] = 0.10
    # the command reads tables as collect writes them: every column of the dictionary (empty where
    # these runs have nothing), and an epochs table
    return write(tmp_path_factory.mktemp("tables"), runs=conform(runs, "runs"), epochs=conform(pd.DataFrame(), "epochs"))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_the_scorecard_says_each_verdict_with_its_numbers(capsys, tables):
    status, out, err = run(capsys, "claims", "--tables", str(tables))
    assert status == 0, err
    claims = load_all()
    first = out.splitlines()[0]
    # dropout's gap is measured too (every run records its eval-mode training accuracy) and equal in both arms
    assert first == f"Claims on {tables} — {len(claims)} claims: 2 reproduced, 0 not reproduced, 1 inconclusive, " \
                    f"0 outside this setup, {len(claims) - 3} not run"
    head, *blocks, rest = out.split("\n\n")
    # the setup that ran it (config.yaml's: the default grid) above the claims
    assert "Setup: mlp (depth 2, width 256) on cifar10-mini — 4,194 training, 466 validation and 846 test images; " \
           "12 epochs; 3 seeds" in " ".join(head.split())
    ran = [c for c in claims.values() if any(" ".join(c.statement.split()[:4]) in " ".join(b.split()) for b in blocks)]
    assert len(blocks) == len(ran) == 3
    for block in blocks:
        assert block.split()[0] in {v.split()[0].upper() for v in VERDICTS}
    dropout = next(b for b in blocks if "Dropout improves" in b)
    assert dropout.startswith(REPRODUCED.upper())
    text = " ".join(dropout.split())
    assert "a paper's claim (not the lecture's)" in text
    # three tests: the ECE's (t ≈ 98) is Holm's first step at 1 − 0.05/3, dropout's (t ≈ 59) the second at
    # 1 − 0.05/2; the gap's (exactly 0, p = 1) is not rejected and gets the stopping step's level, 95 %
    assert re.search(r"\+5\.0 points \[4\.\d, 5\.\d\] \(97\.5 % CI, Holm, paired t\), 4 seeds, paired", text)
    # no other cell ran: nothing to pool, so the two-arm test, and the block says why
    assert "test: paired t, because no cell but the two arms' has the quantity" in text
    ece = " ".join(next(b for b in blocks if "poorly calibrated" in b).split())
    assert re.search(r"\+4\.0 points \[3\.\d, 4\.\d\] \(98\.33 % CI, Holm, paired t\), 4 seeds, paired", ece)
    # the claims that did not run: one line, each named with the preset that runs it
    rest = " ".join(rest.split())
    assert rest.startswith(f"Not run here ({len(claims) - 3} of {len(claims)}):")
    for c in claims.values():
        if c not in ran:
            assert c.name in rest
    assert "batch_norm_trains_faster" in rest and "(workflow/presets/claims.yaml)" in rest
    assert "relu_trains_faster_than_tanh" in rest and "(workflow/presets/claims-deep.yaml)" in rest


def test_markdown_is_the_readme_table(capsys, tables):
    status, out, _ = run(capsys, "claims", "--tables", str(tables), "--markdown")
    lines = out.splitlines()
    assert status == 0 and lines[0].startswith("Setup: mlp") and lines[1] == ""
    assert lines[2].startswith("| claim | whose | verdict |") and lines[3] == "|---|---|---|---|---|"
    rows = [line for line in lines[4:] if line.startswith("|")]
    assert len(rows) == 3
    assert all(row.count(" | ") == 4 and re.search(r"\| \*\*(reproduced|not reproduced|inconclusive)\*\* \|", row)
               for row in rows)
    assert any("**reproduced** | +5.0 points" in row and "`factor_effects`" in row for row in rows)
    assert lines[-1].startswith(f"Not run here ({len(load_all()) - 3} of {len(load_all())}):")


def test_no_tables_is_one_line(capsys, tmp_path):
    status, out, err = run(capsys, "claims", "--tables", str(tmp_path))
    assert status == 2 and out == ""
    assert err.strip().count("\n") == 0 and "run the workflow first" in err
