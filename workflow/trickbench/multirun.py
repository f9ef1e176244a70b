"""One training process, many runs: what a workflow job does with `execution.runs_per_job` > 1.

Each process pays for itself — Python and torch imports (2–3 s), the device's start-up (CUDA:
seconds more), reading and preparing the data — before its first step. A small run trains in
about as long, so one process per run spends most of a grid's core-seconds starting. A job
given N runs pays that once: it reads each data set once (`data.cache.run_data`) and trains its
runs one after another with `run.train_run`, exactly as N jobs would — same folders, same atomic
files, same checkpoints, bit-identical results — or, where runs differ only in their seed and
`seed_groups` allows, as one `train.seed_group.SeedGroup` (one batched pass for K seeds: a GPU's
gain; results equal to the runs alone up to float rounding, see `seed_group_refusal`).

A run that is already finished is skipped (a job is rerun as a whole after a kill, or when the
runs it holds changed); a run with a checkpoint resumes. One failing run does not stop the
others: the job trains the rest, then exits non-zero so that the workflow reports it.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Sequence

import torch

from trickbench.atomic import atomic_path, write_json
from trickbench.data.cache import run_data
from trickbench.logs import FORMAT
from trickbench.numerics import require as require_numerics
from trickbench.run import (Execution, configure_backends, finish_run, remove_stale_temporaries, resolve_device,
                            set_deterministic, train_run)
from trickbench.run_files import is_complete, outputs, summary_run_id
from trickbench.spec import RunSpec
from trickbench.train.seed_group import SeedGroup

log = logging.getLogger("trickbench.multirun")

#: optimizers that evaluate their closure more than once per step (SAM: twice; L-BFGS: up to
#: max_iter times), which one batched pass per step cannot serve
MULTI_EVALUATION_OPTIMIZERS = frozenset({"sam", "lbfgs"})


@dataclass(frozen=True)
class JobRun:
    """One run of a job: its spec and whether its final weights are kept (model.pt)."""

    spec: RunSpec
    keep_weights: bool = False

    def outputs(self) -> tuple[str, ...]:
        return outputs(self.keep_weights)


def seed_group_refusal(specs: Sequence[RunSpec]) -> str | None:
    """Why these runs cannot train as one seed group with results equal to their runs alone (up
    to float rounding), or None. Measured over the whole catalogue (tests/test_multirun.py):
    every technique qualifies but dropout (its masks come from one random stream shared by the
    group, so a member's masks are not its run's), optimizers that evaluate their closure more
    than once per step, and runs that abort on explosion (a host check per step)."""
    if len(specs) < 2:
        return "a single run"
    if len({replace(spec, seed=0) for spec in specs}) != 1:
        return "the runs differ in more than their seed"
    spec = specs[0]
    if spec.optimizer.name in MULTI_EVALUATION_OPTIMIZERS:
        return f"optimizer {spec.optimizer.name} evaluates its closure more than once per step"
    if spec.train.explode_factor:
        return "the runs abort on explosion (train.explode_factor)"
    if any(technique.name == "dropout" for technique in spec.regularizer):
        return "dropout masks would come from one stream shared by the group"
    return None


def batches(runs: Sequence[JobRun], grouping: bool) -> list[list[JobRun]]:
    """The job's runs in order, consecutive runs that may share a seed group put together (the
    plan puts a configuration's seeds next to each other); every other run alone."""
    out: list[list[JobRun]] = []
    for run in runs:
        if grouping and out and seed_group_refusal([r.spec for r in out[-1]] + [run.spec]) is None:
            out[-1].append(run)
        else:
            out.append([run])
    return out


def uses_seed_groups(mode: str, device: torch.device) -> bool:
    """`auto`: on a GPU, where a small model is launch-bound and K seeds in one kernel pay; on a
    CPU one run after another is faster (bench/packing.py) and bit-identical to one per job."""
    return {"auto": device.type == "cuda", "always": True, "never": False}[mode]


# -- the job ---------------------------------------------------------------------------------------

def train_runs(runs: Sequence[JobRun], runs_dir: Path, logs_dir: Path, execution: Execution,
               seed_groups: str = "auto") -> int:
    """Train every unfinished run of `runs` into `runs_dir/<run_id>/` (logs in `logs_dir/<run_id>.log`);
    return how many failed."""
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    todo = [run for run in runs if not finished(run, Path(runs_dir) / run.spec.run_id)]
    log.info("job: %d run(s), %d already finished, %d to train", len(runs), len(runs) - len(todo), len(todo))
    if not todo:
        return 0
    device = resolve_device(execution.device)
    for run in todo:  # a process in another numerics mode than a run's would train other bits than its id names
        require_numerics(run.spec.numerics, device.type)
    failed = 0
    for batch in batches(todo, uses_seed_groups(seed_groups, device)):
        try:
            if len(batch) == 1:
                train_alone(batch[0], Path(runs_dir), Path(logs_dir), execution)
            else:
                train_seed_group(batch, Path(runs_dir), Path(logs_dir), execution)
        except Exception:  # noqa: BLE001 — one run's failure must not cost the others theirs
            failed += len(batch)
            log.exception("run(s) %s failed; going on with the job's other runs", ", ".join(r.spec.run_id for r in batch))
    log.info("job: %d trained, %d failed; %.1f s wall, %.1f CPU-s in all", len(todo) - failed, failed,
             time.perf_counter() - started_wall, time.process_time() - started_cpu)
    return failed


def finished(run: JobRun, run_dir: Path) -> bool:
    """Whether the run has its summary and every file this job must leave. A summary without a file
    the job must now write (model.pt, when its weights became wanted after it finished) cannot be
    completed without training: the summary is removed and the run trains again — on a CPU to
    bit-identical results."""
    if is_complete(run_dir, run.spec.run_id, run.outputs()):
        return True
    if summary_run_id(run_dir) == run.spec.run_id:
        missing = [name for name in run.outputs() if not (run_dir / name).is_file()]
        log.warning("run %s finished but lacks %s; training it again to make them", run.spec.run_id, ", ".join(missing))
        (run_dir / "summary.json").unlink()
    return False


def train_alone(run: JobRun, runs_dir: Path, logs_dir: Path, execution: Execution) -> None:
    run_dir = runs_dir / run.spec.run_id
    with run_log(logs_dir / f"{run.spec.run_id}.log", resuming=(run_dir / "checkpoint.pt").exists()):
        read_data(run.spec, execution)
        with accounted(run.spec.run_id):
            train_run(run.spec, run_dir, execution, progress=True, keep_weights=run.keep_weights)


def train_seed_group(group: Sequence[JobRun], runs_dir: Path, logs_dir: Path, execution: Execution) -> None:
    """K seeds of one run as one `SeedGroup`: each member resumes from its own checkpoint, is
    checkpointed as a run alone is, and is finished into its own folder (`run.finish_run`)."""
    ids = ", ".join(run.spec.run_id for run in group)
    run_dirs = [runs_dir / run.spec.run_id for run in group]
    with group_logs([logs_dir / f"{run.spec.run_id}.log" for run in group], run_dirs):
        data = read_data(group[0].spec, execution)
        with accounted(ids):
            train_members(group, run_dirs, data, execution)


def train_members(group: Sequence[JobRun], run_dirs: list[Path], data, execution: Execution) -> None:
    device = data.train.labels.device
    set_deterministic(execution.deterministic)
    configure_backends(device, execution.deterministic)
    started = time.perf_counter()
    for run_dir, run in zip(run_dirs, group):
        remove_stale_temporaries(run_dir)
        write_json(run_dir / "spec.json", run.spec.to_dict())
    seeds = SeedGroup([run.spec for run in group], data, device, execution.eval_batch_size, execution.precision)
    resume_members(seeds.members, [run_dir / "checkpoint.pt" for run_dir in run_dirs])
    step_costs = [member.step_cost() for member in seeds.members]
    log.info("seed group of %d runs (%s) on %s, one batched pass per step, from epochs %s", len(group),
             ", ".join(run.spec.run_id for run in group), device, [member.epoch for member in seeds.members])
    while not seeds.finished:
        active = [(member, run_dir) for member, run_dir in zip(seeds.members, run_dirs) if not member.finished]
        for row, (member, run_dir) in zip(seeds.train_epoch(), active):
            log.info("run %s epoch %d/%d  train_loss %.4f  train_acc %.3f  val_loss %.4f  val_acc %.3f  %.0f img/s",
                     member.spec.run_id, row["epoch"], member.spec.train.epochs, row["train_loss"], row["train_acc"],
                     row["val_loss"], row["val_acc"], row["images_per_s"])
            if member.finished or member.epoch % execution.checkpoint_every == 0:
                with atomic_path(run_dir / "checkpoint.pt") as tmp:
                    torch.save({"run_id": member.spec.run_id, **member.state_dict()}, tmp)
    share = (time.perf_counter() - started) / len(group)
    for run, run_dir, member, cost in zip(group, run_dirs, seeds.members, step_costs):
        finish_run(run.spec, run_dir, member, share, cost, run.keep_weights)


def read_data(spec: RunSpec, execution: Execution):
    """The run's data, read before its accounting starts (with the thread count its training
    uses: preprocessing statistics are reductions whose rounding may depend on it)."""
    torch.set_num_threads(execution.threads)
    wall, cpu = time.perf_counter(), time.process_time()
    data = run_data(spec, execution.data_root, resolve_device(execution.device))
    log.info("data of run %s ready: %.3f s wall, %.3f CPU-s (read once per process and data set)", spec.run_id,
             time.perf_counter() - wall, time.process_time() - cpu)
    return data


def resume_members(members: list, checkpoints: list[Path]) -> None:
    """Load each member's own checkpoint into it (weights land in the group's stacked tensors).
    A checkpoint that cannot be read or is not the member's is deleted and that member starts
    over — as `run.resumed_trainer` does for a run alone. The shared random stream (dropout
    aside, unused by a group's members) is the most advanced member's."""
    latest = None
    for member, checkpoint in zip(members, checkpoints):
        if not checkpoint.exists():
            continue
        try:
            state = torch.load(checkpoint, map_location=member.device, weights_only=True)
            if not isinstance(state, dict) or state.pop("run_id", None) != member.spec.run_id:
                raise ValueError("not this run's checkpoint")
            rng = state["rng"]["torch"]
            member.load_state_dict(state)
        except Exception as error:  # noqa: BLE001 — any damage costs only this member's progress
            log.warning("checkpoint %s unusable (%s); member %s starts over", checkpoint, type(error).__name__,
                        member.spec.run_id)
            checkpoint.unlink()
            continue
        log.info("member %s resumed from %s at epoch %d", member.spec.run_id, checkpoint, member.epoch)
        if latest is None or member.epoch > latest[0]:
            latest = (member.epoch, rng)
    if latest is not None:
        torch.set_rng_state(latest[1])


# -- logs and accounting ------------------------------------------------------------------------------

@contextmanager
def run_log(path: Path, resuming: bool) -> Iterator[None]:
    """The run's own log file (results/logs/train/<run_id>.log), beside the job's: appended to when
    the run resumes, so the log keeps the whole story of the run."""
    with log_files([path], "a" if resuming else "w"):
        yield


@contextmanager
def group_logs(paths: list[Path], run_dirs: list[Path]) -> Iterator[None]:
    mode = "a" if any((run_dir / "checkpoint.pt").exists() for run_dir in run_dirs) else "w"
    with log_files(paths, mode):
        yield


@contextmanager
def log_files(paths: list[Path], mode: str) -> Iterator[None]:
    handlers = []
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, mode=mode)
        handler.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))
        handlers.append(handler)
    logger = logging.getLogger("trickbench")
    for handler in handlers:
        logger.addHandler(handler)
    try:
        yield
    except Exception:  # the failure in the run's own log too (the job's log reports it as well)
        record = logger.makeRecord(log.name, logging.ERROR, __file__, 0, "the run failed", None, sys.exc_info())
        for handler in handlers:
            handler.handle(record)
        raise
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()


#: how a job log reports one run's (or seed group's) cost; bench/jobs.py reads these lines
ACCOUNTING = "accounting: runs %s: %.3f s wall, %.3f CPU-s training and evaluating"


@contextmanager
def accounted(ids: str) -> Iterator[None]:
    """Log the wall and CPU time (all threads of this process) spent on `ids` — model building,
    training, evaluation and writing results; the process's start-up and data reading are not in
    it (the data of a run is read once per process, before, by `run_data`)."""
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        log.info(ACCOUNTING, ids, time.perf_counter() - wall, time.process_time() - cpu)
