"""The real workflow survives kills: training jobs (two runs per process) SIGKILLed mid-training,
then the submitting snakemake itself killed (as a lost login node or a pre-empted session would),
then `trickbench resume` with the local profile, the one command docs/bad-input.md gives. Every run must end with exactly one
valid summary whose results are bit-identical to an uninterrupted run of its spec."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, TINY_CONFIG
from run_helpers import assert_only_results, result_of, subprocess_env, tiny_specs
from trickbench.run import Execution, load_summary, train_run
from trickbench.run_files import id_of_canonical

pytestmark = [pytest.mark.integration, pytest.mark.serial]  # its kills race the jobs: alone, not beside a busy worker

SECTIONS = {  # 2 activations × 2 optimizers = 4 runs, about a second of training each
    "data": {"source": {"name": "synthetic", "n_train": 1500, "n_test": 60, "size": 8}, "val_fraction": 0.1},
    "model": {"name": "mlp", "depth": 2, "width": 32},
    "train": {"epochs": 5, "batch_size": 16},
    "design": {"kind": "full", "seeds": [0],
               "factors": {"activation": ["relu", "tanh"], "optimizer": [{"name": "momentum", "lr": 0.05}, "adam"]}},
}


def workspace(tmp_path: Path) -> Path:
    """The workflow with this test's config as its config.yaml (a --configfile would merge into the
    default grid's factors)."""
    (tmp_path / "Snakefile").write_text((REPO / "Snakefile").read_text())
    for name in ("workflow", "profiles"):
        (tmp_path / name).symlink_to(REPO / name)
    config = {**TINY_CONFIG, **SECTIONS, "studies": {"ensembles": {"enabled": False}}, "execution": {"runs_per_job": 2}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    return tmp_path


def start_snakemake(where: Path) -> subprocess.Popen:
    """Up to the tables (figures and the report add nothing to this test); its log in snakemake.log."""
    with open(where / "snakemake.log", "w") as log:
        return subprocess.Popen([sys.executable, "-m", "snakemake", "--profile", "profiles/local", "--cores", "2",
                                 "results/tables/runs.csv"], cwd=where, env=subprocess_env(),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def log_tail(where: Path) -> str:
    return (where / "snakemake.log").read_text()[-3000:]


def training_processes(where: Path) -> dict[str, int]:
    """run id -> pid of the `trickbench train-many` Python running in this workspace that holds it."""
    found = {}
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if b"trickbench" in argv and b"train-many" in argv and Path(os.readlink(proc / "cwd")) == where \
                    and not argv[0].endswith(b"sh"):
                specs = [argv[i + 1].decode() for i, word in enumerate(argv) if word == b"--spec"]
                found.update((id_of_canonical(spec), int(proc.name)) for spec in specs)
        except (OSError, ValueError):
            continue
    return found


def checkpointed_unfinished(where: Path) -> set[str]:
    runs = where / "results" / "runs"
    return {d.name for d in runs.iterdir() if (d / "checkpoint.pt").exists() and not (d / "summary.json").exists()} \
        if runs.exists() else set()


def version(path: Path) -> tuple[int, int] | None:
    """Which write of a file this is (a freed inode number can come back, so with the mtime)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def wait_for(condition, process: subprocess.Popen, where: Path, timeout: float = 300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        assert process.poll() is None, f"snakemake ended first: {log_tail(where)}"
        time.sleep(0.01)
    pytest.fail("timed out")


@pytest.fixture(scope="module")
def killed_and_rerun(tmp_path_factory):
    where = workspace(tmp_path_factory.mktemp("kill").resolve())
    # 1. SIGKILL two training jobs, each once it has checkpointed (snakemake goes on: keep-going).
    snakemake = start_snakemake(where)
    killed_jobs = []
    while len(killed_jobs) < 2:
        victims = wait_for(lambda: {r: p for r, p in training_processes(where).items()
                                    if r in checkpointed_unfinished(where) and r not in killed_jobs}, snakemake, where)
        run_id, pid = next(iter(victims.items()))
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:  # it had just ended
            continue
        if not (where / "results" / "runs" / run_id / "summary.json").exists():
            killed_jobs.append(run_id)
    snakemake.wait(timeout=600)
    assert snakemake.returncode != 0  # the killed jobs failed
    # 2. Re-run (it resumes the two), and SIGKILL snakemake with all its jobs as soon as a resumed
    #    job has written a new checkpoint.
    checkpoints = {r: (where / "results" / "runs" / r / "checkpoint.pt") for r in killed_jobs}
    first = {r: version(p) for r, p in checkpoints.items()}
    snakemake = start_snakemake(where)
    wait_for(lambda: [r for r, p in checkpoints.items() if version(p) not in (None, first[r])], snakemake, where)
    os.killpg(snakemake.pid, signal.SIGKILL)
    snakemake.wait()
    # 3. What a user does next: one command (it removes the lock the killed snakemake left).
    final = subprocess.run([sys.executable, "-m", "trickbench", "resume", "--profile", "profiles/local", "--cores", "2",
                            "results/tables/runs.csv"], cwd=where, env=subprocess_env(), capture_output=True,
                           text=True, timeout=900)
    assert final.returncode == 0, final.stderr[-3000:]
    return where, killed_jobs


def test_every_run_ends_with_one_valid_summary_identical_to_an_uninterrupted_run(killed_and_rerun, tmp_path):
    where, killed_jobs = killed_and_rerun
    specs = tiny_specs(**SECTIONS)
    assert len(specs) == 4
    assert sorted(d.name for d in (where / "results" / "runs").iterdir()) == sorted(s.run_id for s in specs)
    for spec in specs:
        run_dir = where / "results" / "runs" / spec.run_id
        assert load_summary(run_dir)["run_id"] == spec.run_id
        assert_only_results(run_dir)
        train_run(spec, tmp_path / spec.run_id, Execution(device="cpu", threads=1))
        assert result_of(run_dir) == result_of(tmp_path / spec.run_id), spec.run_id


def test_killed_jobs_resumed_from_their_checkpoints(killed_and_rerun):
    where, killed_jobs = killed_and_rerun
    for run_id in killed_jobs:
        assert "resumed from results/runs/" in (where / "results" / "logs" / "train" / f"{run_id}.log").read_text()


def test_the_tables_hold_every_run_and_skip_none(killed_and_rerun):
    where, killed_jobs = killed_and_rerun
    assert len(pd.read_csv(where / "results/tables/runs.csv")) == 4
    assert pd.read_csv(where / "results/tables/skipped.csv").empty
