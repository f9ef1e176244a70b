"""Bad config through `snakemake -n`: the Snakefile stops before any job with the same one line
that `trickbench plan` prints (docs/bad-input.md), and no traceback. `--config` values arrive as
YAML text, so a mistyped number must still be named as such.

One real Snakemake start checks the Snakefile's path (a start costs ~8 CPU-s just to print the
line); every case, that one included, goes through `trickbench plan --config` with the same text,
so that the line Snakemake printed is the line of each case's check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import workspace
from trickbench import cli
from trickbench.errors import ConfigError

pytestmark = pytest.mark.integration

CASES = [
    ("train={epochs: ten, batch_size: 128}", ConfigError("train.epochs", "ten", "type integer")),
    ("model={name: mlp, depth: 1, width: -4}", ConfigError("model.width", -4, "1 <= width <= 65536")),
    ("design={kind: ablation, seeds: []}", ConfigError("design.seeds", [], "at least 1 item(s)")),
]


def test_snakemake_stops_before_any_job_with_the_one_line(tmp_path: Path):
    override, error = CASES[0]  # a mistyped number: Snakemake reads --config values as YAML too
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--config", override], cwd=workspace(tmp_path),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == str(error)
    assert "Traceback" not in result.stderr and not (tmp_path / "results").exists()


@pytest.mark.parametrize("override, error", CASES, ids=[c[0] for c in CASES])
def test_plan_prints_the_one_line_snakemake_prints(tmp_path: Path, monkeypatch, capsys, override, error):
    monkeypatch.setattr("trickbench.logs.configure", lambda verbose=False: None)  # keep pytest's logging
    monkeypatch.chdir(workspace(tmp_path))
    assert cli.main(["plan", "--config", override]) == 2
    out, err = capsys.readouterr()
    assert err == f"trickbench: error: {error}\n" and out == ""
    assert not (tmp_path / "results").exists()
