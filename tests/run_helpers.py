"""Helpers of the reliability tests: tiny real runs, started in a subprocess as the workflow's
rule starts them, and the parts of a run's results that must not depend on how it got there."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from conftest import REPO, TINY_CONFIG
from trickbench.config import validate_config
from trickbench.design import expand
from trickbench.spec import RunSpec

#: what a run's summary and epochs say about time, not about the result
TIMING_KEYS = ("train_seconds", "wall_seconds", "images_per_s")
TIMING_COLUMNS = ["train_seconds", "images_per_s"]


def tiny_specs(**overrides: Any) -> list[RunSpec]:
    """The specs of the tiny synthetic config, with top-level sections replaced by `overrides`."""
    config = copy.deepcopy(TINY_CONFIG)
    config.update(copy.deepcopy(overrides))
    return expand(validate_config(config))


def train_command(spec: RunSpec, run_dir: Path, *extra: str) -> list[str]:
    """`trickbench train` exactly as the workflow's train rule calls it (CPU, one thread)."""
    return [sys.executable, "-m", "trickbench", "train", "--spec", spec.canonical_json(), "--run-dir", str(run_dir),
            "--device", "cpu", "--threads", "1", "--checkpoint-every", "1", *extra]


def subprocess_env() -> dict[str, str]:
    """The environment for a child Python: this checkout's package first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "workflow"), *filter(None, [env.get("PYTHONPATH")])])
    return env


def result_of(run_dir: Path) -> dict[str, Any]:
    """Everything a run's files say, timing left out: its summary, its epochs and every array it
    saved (bit for bit). Compare two runs with ==."""
    summary = json.loads((run_dir / "summary.json").read_text())
    epochs = pd.read_csv(run_dir / "epochs.csv").drop(columns=TIMING_COLUMNS)
    return {  # as text, so that a diverged run's NaN equals itself
        "summary": json.dumps({k: v for k, v in summary.items() if k not in TIMING_KEYS}, sort_keys=True),
        "epochs": epochs.to_csv(index=False),
        "arrays": {p.name: np.load(p, allow_pickle=False).tobytes() for p in sorted(run_dir.glob("*.npy"))},
    }


def run_to_end(spec: RunSpec, run_dir: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(train_command(spec, run_dir), env=subprocess_env(), capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr[-2000:]
    return result



def assert_only_results(run_dir: Path) -> None:
    """A finished run folder: its results, and no checkpoint or temporary file left behind."""
    names = {p.name for p in run_dir.iterdir()}
    assert {"spec.json", "summary.json", "epochs.csv", "test_probs.npy"} <= names, (run_dir.name, names)
    assert "checkpoint.pt" not in names and not any(n.startswith(".") for n in names), (run_dir.name, names)
