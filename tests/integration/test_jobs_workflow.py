"""The workflow's training at scale, for real: the full CIFAR-10 path offline (a tiny copy in the
official on-disk format), prepared once before any training job, several runs per training
process — and what a user changes between invocations (runs per job, a lost run, a deleted
cache) retrains nothing that need not be retrained."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from torchvision.datasets import CIFAR10

from conftest import REPO, TINY_CONFIG
from run_helpers import result_of, subprocess_env
from test_data import md5, write_official_cifar10
from trickbench.data.cache import prepare_cache
from trickbench.registry import Technique

pytestmark = pytest.mark.integration

CONFIG = {**TINY_CONFIG,
          "data": {"source": "cifar10", "val_fraction": 0.2},
          "train": {"epochs": 2, "batch_size": 8},
          "design": {"kind": "ablation", "seeds": [0, 1], "factors": {"activation": ["relu", "tanh"]}},  # 4 runs
          "studies": "none",
          "execution": {"runs_per_job": 3, "data_root": "data"}}
TABLES = "results/tables/runs.csv"


def snakemake(where: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *args], cwd=where, env=subprocess_env(),
                          capture_output=True, text=True, timeout=600)


def jobs_planned(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule name → jobs, from the job table a dry run, or a run before its first job, prints."""
    return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", result.stdout + result.stderr, re.MULTILINE)
            if rule != "total"}


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    """A checkout with CONFIG as its config.yaml; the steps of a user with an offline machine."""
    where = tmp_path_factory.mktemp("jobs")
    (where / "Snakefile").write_text((REPO / "Snakefile").read_text())
    for name in ("workflow", "profiles"):  # profiles/default: the workflow profile Snakemake reads by itself
        (where / name).symlink_to(REPO / name)
    (where / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    steps = {"no data": snakemake(where, "-n", TABLES)}
    write_official_cifar10(where / "data", np.random.default_rng(0))  # as if the archive had been extracted there
    steps["official files"] = snakemake(where, "-n", TABLES)
    # The prepare_data rule would check torchvision's MD5s of the real files; the tiny copy has its
    # own, so prepare it here with those, then take the pickles away: jobs read the cache alone.
    folder = where / "data" / CIFAR10.base_folder
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CIFAR10, "train_list", [[n, md5(folder / n)] for n, _ in CIFAR10.train_list])
        patch.setattr(CIFAR10, "test_list", [[n, md5(folder / n)] for n, _ in CIFAR10.test_list])
        patch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5(folder / "batches.meta")})
        prepare_cache(Technique("cifar10"), where / "data", download=False)
    shutil.rmtree(folder)
    steps["trained"] = snakemake(where, TABLES)
    return where, steps


def test_without_the_data_the_dag_stops_before_any_job_with_one_line(workflow):
    where, steps = workflow
    result = steps["no data"]
    assert result.returncode != 0 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("data source cifar10: nothing under data") and "execution.download: true" in line


def test_with_the_official_files_the_data_is_prepared_once_before_training(workflow):
    where, steps = workflow
    result = steps["official files"]
    assert result.returncode == 0, result.stderr[-2000:]
    assert jobs_planned(result) == {"prepare_data": 1, "train_job_0": 1, "train_job_1": 1, "collect": 1}
    assert "output: data/cache/cifar10-v1/manifest.json" in result.stdout + result.stderr


def test_every_run_trains_in_jobs_of_three_from_the_cache(workflow):
    where, steps = workflow
    assert steps["trained"].returncode == 0, steps["trained"].stderr[-3000:]
    runs = pd.read_csv(where / TABLES)
    assert len(runs) == 4 and set(runs["status"]) == {"ok"}
    logs = sorted((where / "results/logs/jobs").iterdir())
    assert sorted(log.name.split("+")[1] for log in logs) == ["0.log", "2.log"]  # <first run>+<more runs>.log
    job_lines = "".join(log.read_text() for log in logs)
    assert job_lines.count("accounting: runs") == 4 and job_lines.count("data of run") == 4
    assert not (where / "results/logs/prepare_data").exists()  # the cache was there: nothing fetched or verified


def test_changing_runs_per_job_or_deleting_the_cache_afterwards_retrains_nothing(workflow):
    where, _ = workflow
    shutil.move(where / "data" / "cache", where / "cache-away")  # the training inputs' manifests are ancient
    try:
        for runs_per_job in (1, 4):
            result = snakemake(where, "-n", TABLES, "--config", f"execution={{runs_per_job: {runs_per_job}, data_root: data}}")
            assert "Nothing to be done" in result.stdout + result.stderr, (runs_per_job, result.stdout[-2000:])
    finally:
        shutil.move(where / "cache-away", where / "data" / "cache")


def test_a_lost_run_reruns_its_job_which_keeps_and_skips_the_finished_runs(workflow):
    where, _ = workflow
    log = next(p for p in (where / "results/logs/jobs").iterdir() if p.name.endswith("+2.log"))
    job_runs = re.findall(r"accounting: runs ([0-9a-f]{12})", log.read_text())
    assert len(job_runs) == 3
    lost, kept = where / "results/runs" / job_runs[1], [where / "results/runs" / r for r in (job_runs[0], job_runs[2])]
    before = {d.name: result_of(d) for d in [lost, *kept]}
    # every write is atomic (a new file renamed into place), so an unchanged inode is a file not written again
    stamps = {d.name: {p.name: p.stat().st_ino for p in d.iterdir()} for d in kept}
    (lost / "summary.json").unlink()
    target = f"results/trained/{lost.name}"  # its marker, removed at the next start since the run is not whole
    result = snakemake(where, target)
    assert result.returncode == 0, result.stderr[-2000:]
    assert jobs_planned(result) == {"train_job_0": 1}  # its job alone (a run prints the job table a dry run does)
    assert "3 run(s), 2 already finished, 1 to train" in log.read_text()
    assert {d.name: {p.name: p.stat().st_ino for p in d.iterdir()} for d in kept} == stamps
    assert {d.name: result_of(d) for d in [lost, *kept]} == before  # trained again to the same results


def test_a_training_job_asks_for_one_gpu_slot_and_the_time_of_its_runs(workflow):
    where, _ = workflow
    target = "results/trained/{}"
    runs = sorted(p.name for p in (where / "results/runs").iterdir())
    (where / "results/runs" / runs[0] / "summary.json").unlink()  # one job to plan
    result = snakemake(where, "-n", target.format(runs[0]), "--config",
                       "execution={runs_per_job: 3, data_root: data, device: cuda, runtime_min: 20}")
    assert result.returncode == 0, result.stderr[-2000:]
    resources = re.search(r"rule train_job_\d+:.*?resources: ([^\n]+)", result.stdout + result.stderr, re.DOTALL).group(1)
    assert "gpu=1" in resources and "gpu_slot=1" in resources
    runs_in_job = int(re.search(r"jobs/[0-9a-f]{12}\+(\d)\.log", result.stdout + result.stderr).group(1)) + 1
    assert f"runtime={20 * runs_in_job}" in resources
