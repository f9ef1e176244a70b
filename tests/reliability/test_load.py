"""Load: a few hundred tiny runs of a full factorial design, jobs SIGKILLed at random moments, a
re-run, and then every run must hold exactly one valid summary — no run lost, none doubled, no
partial file taken for a result, and every killed run's results bit-identical to an uninterrupted
run of its spec.

Where the time goes: a fresh Python that imports torch costs seconds, far more than one of these
runs (tens of milliseconds), so one process per job — what Snakemake does — would take many
minutes for a few hundred. Each job here is instead a process forked from a long-lived server
that imported torch once (multiprocessing's forkserver with a preload): a real process with its
own memory and file handles, killed by a real SIGKILL, for milliseconds of start-up. It calls
`train_run`, exactly what the workflow's `trickbench train` calls. The workflow itself, with
Snakemake's jobs killed and the submitting snakemake killed too, is tested at a smaller scale in
tests/integration/test_kill_workflow.py.
"""

from __future__ import annotations

import multiprocessing
import random
import signal
import time
from pathlib import Path

import pandas as pd
import pytest

from run_helpers import assert_only_results, result_of, tiny_specs
from trickbench.collect import collect
from trickbench.run import Execution, load_summary, train_run

pytestmark = pytest.mark.integration  # about a minute on two cores: left out by -m "not integration"
EPOCHS = 3
FACTORS = {  # 4 · 3 · 3 · 4 levels × 2 seeds = 288 runs
    "activation": ["relu", "tanh", "gelu", "sigmoid"],
    "init": ["he_normal", "xavier_normal", "large_gaussian"],
    "norm": ["batch", "layer", "none"],
    "optimizer": [{"name": "sgd", "lr": 0.1}, {"name": "momentum", "lr": 0.05}, {"name": "adam", "lr": 0.01},
                  {"name": "nesterov", "lr": 0.05}],
}
KILL_PROBABILITY = 0.35  # of a job being killed, at a moment drawn uniformly over a typical job's life
PARALLEL = 2
JOB_TIMEOUT_S = 120


def design():
    return tiny_specs(
        data={"source": {"name": "synthetic", "n_train": 80, "n_test": 20, "size": 4, "classes": 4}, "val_fraction": 0.2},
        model={"name": "mlp", "depth": 1, "width": 8},
        train={"epochs": EPOCHS, "batch_size": 16},
        design={"kind": "full", "seeds": [0, 1], "factors": FACTORS},
    )


def run_jobs(specs, root: Path, rng: random.Random | None) -> list[str]:
    """Run one job per spec, PARALLEL at a time; with `rng`, SIGKILL some at a random moment of
    their life (start-up, data, training, checkpoint or result writes), whose length is learnt from
    the jobs that ended. Returns the ids of the runs whose job was killed."""
    context = multiprocessing.get_context("forkserver")
    # What a job needs, imported once by the server: the package and, for the first optimizer a
    # process builds, torch._dynamo (seconds that every job would pay again). Preloaded modules
    # must be importable from the server's own sys.path (Python 3.11 does not pass on the tests').
    context.set_forkserver_preload(["trickbench.run", "torch._dynamo"])
    execution = Execution(device="cpu", threads=1, checkpoint_every=1)
    pending, running, killed, lifetimes = list(specs), {}, [], [0.2]
    while pending or running:
        while pending and len(running) < PARALLEL:
            spec = pending.pop(0)
            process = context.Process(target=train_run, args=(spec, root / spec.run_id, execution))
            process.start()
            started = time.monotonic()
            typical = sorted(lifetimes)[len(lifetimes) // 2]
            kill_at = started + rng.uniform(0, typical) if rng and rng.random() < KILL_PROBABILITY else None
            running[spec.run_id] = (process, started, kill_at)
        for run_id, (process, started, kill_at) in list(running.items()):
            if process.exitcode is not None:
                assert process.exitcode == 0, f"job {run_id} failed with exit code {process.exitcode}"
                lifetimes.append(time.monotonic() - started)
                process.close()
                del running[run_id]
            elif time.monotonic() - started > JOB_TIMEOUT_S:
                process.kill()
                pytest.fail(f"job {run_id} was stuck for {JOB_TIMEOUT_S} s")
            elif kill_at is not None and time.monotonic() >= kill_at:
                process.kill()
                process.join()
                if process.exitcode == -signal.SIGKILL:  # not when the job had ended just before
                    killed.append(run_id)
                process.close()
                del running[run_id]
        time.sleep(0.002)
    return killed


@pytest.fixture(scope="module")
def load_run(tmp_path_factory):
    specs = design()
    root = tmp_path_factory.mktemp("load")
    killed = run_jobs(specs, root, random.Random(7))
    unfinished = [s.run_id for s in specs if not (root / s.run_id / "summary.json").exists()]
    run_jobs([s for s in specs if s.run_id in unfinished], root, rng=None)  # the re-run, as Snakemake's: what is missing
    return specs, root, killed, unfinished


def test_the_design_is_hundreds_of_runs_and_kills_hit_many(load_run):
    specs, root, killed, unfinished = load_run
    assert len(specs) == len({s.run_id for s in specs}) == 288
    assert len(killed) >= 50  # about a third of the jobs
    assert len(unfinished) >= 30  # many kills came before the summary: those runs had to resume or restart
    statuses = pd.Series([load_summary(root / s.run_id)["status"] for s in specs]).value_counts().to_dict()
    print(f"\n{len(specs)} runs, {len(killed)} jobs killed, {len(unfinished)} left unfinished by the kills, "
          f"0 lost; statuses {statuses}")


def test_every_run_ends_with_exactly_one_valid_summary(load_run):
    specs, root, killed, unfinished = load_run
    assert sorted(p.name for p in root.iterdir()) == sorted(s.run_id for s in specs)
    # A kill in the instant between writing the summary and deleting the checkpoint leaves the
    # checkpoint beside a finished run: never read again (a restarted job returns at the summary,
    # deleting it), but no other run may keep one.
    killed_after_summary = set(killed) - set(unfinished)
    for spec in specs:
        run_dir = root / spec.run_id
        summary = load_summary(run_dir)
        assert summary["run_id"] == spec.run_id and summary["status"] in ("ok", "diverged")
        assert summary["epochs_completed"] == EPOCHS or summary["status"] == "diverged"
        if spec.run_id in killed_after_summary:
            (run_dir / "checkpoint.pt").unlink(missing_ok=True)
        assert_only_results(run_dir)


def test_killed_runs_end_bit_identical_to_uninterrupted_ones(load_run, tmp_path):
    specs, root, killed, unfinished = load_run
    by_id = {s.run_id: s for s in specs}
    for run_id in unfinished:
        train_run(by_id[run_id], tmp_path / run_id, Execution(device="cpu", threads=1))
        assert result_of(root / run_id) == result_of(tmp_path / run_id), run_id


def test_collect_takes_every_run_once_and_counts_statuses(load_run):
    specs, root, killed, unfinished = load_run
    tables = collect(sorted(root.iterdir()))
    assert not tables.skipped
    assert sorted(tables.runs["run_id"]) == sorted(s.run_id for s in specs)
    counts = tables.runs["status"].value_counts()
    assert counts.sum() == 288 and set(counts.index) <= {"ok", "diverged"}
    assert len(tables.epochs) == sum(pd.read_csv(root / r / "epochs.csv").shape[0] for r in tables.runs["run_id"])
