"""The Lion example through the real workflow: `snakemake --configfile examples/lion.yaml` (on tiny
synthetic data) trains every level — the plugin's in training jobs that are new processes — records
the plugin in the tables, and after an edit of the plugin plans exactly its run again. A broken
plugin stops snakemake before any job with its one line."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, workspace

pytestmark = pytest.mark.integration

#: the example at a tiny size: synthetic 8×8 images, a 16-unit MLP, one epoch, one seed, and of the
#: catalogue's levels adam beside the baseline (tests/plugins/test_plugins.py plans the example whole)
TINY = ["data={source: {name: synthetic, n_train: 200, n_test: 60, size: 8}, val_fraction: 0.2}",
        "model={name: mlp, depth: 1, width: 16}", "train={epochs: 1, batch_size: 32}",
        "design={seeds: [0], factors: {optimizer: [{name: lion, lr: 0.0003, weight_decay: 0.03}, adam]}}"]


def snakemake(where: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=where, capture_output=True, text=True,
                          timeout=600)


def test_the_lion_example_runs_and_an_edit_of_the_plugin_reruns_its_run_alone(tmp_path: Path):
    where = workspace(tmp_path)
    shutil.copytree(REPO / "examples", where / "examples")
    plugin = where / "examples" / "lion.py"
    result = snakemake(where, "results/tables/runs.csv", "--cores", "2", "--configfile", "examples/lion.yaml",
                       "--config", *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = pd.read_csv(where / "results" / "tables" / "runs.csv", keep_default_na=False).set_index("optimizer")
    assert sorted(runs.index) == ["adam", "lion(lr=0.0003, weight_decay=0.03)", "momentum"]  # momentum: the baseline
    (lion,) = [label for label in runs.index if label.startswith("lion")]
    sha = hashlib.sha256(plugin.read_bytes()).hexdigest()
    assert runs.loc[lion, "plugins"] == f"lion.py sha256:{sha}" and (runs.drop(lion)["plugins"] == "").all()
    assert (runs["status"] == "ok").all()

    plugin.write_text(plugin.read_text() + "# a comment changes the hash, so the id\n")
    dry = snakemake(where, "results/tables/runs.csv", "-n", "--configfile", "examples/lion.yaml", "--config", *TINY)
    assert dry.returncode == 0, dry.stderr[-3000:]
    planned = set(re.findall(r"output: results/runs/([0-9a-f]{12})/summary\.json", dry.stdout + dry.stderr))
    assert len(planned) == 1 and planned.isdisjoint(runs["run_id"]), "only the plugin's run, under a new id"


def test_a_broken_plugin_stops_snakemake_before_any_job(tmp_path: Path):
    where = workspace(tmp_path)
    (where / "tricks").mkdir()
    (where / "tricks" / "adam.py").write_text(
        "import torch\nfrom trickbench.techniques.optimizers import OPTIMIZERS\n\n"
        "@OPTIMIZERS.register('adam')\ndef adam(params, *, lr: float = 1e-3):\n    return torch.optim.Adam(params, lr=lr)\n")
    result = snakemake(where, "-n", "--config", "plugins=[tricks/adam.py]")  # relative to the working directory
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "plugin tricks/adam.py: optimizer 'adam': the name is already registered (built in); a plugin must choose a new name")
    assert "Traceback" not in result.stderr and not (where / "results").exists()
