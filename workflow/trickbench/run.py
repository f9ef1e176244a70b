"""One run on disk: `results/runs/<id>/` from a spec, resumable, every file written atomically.

Files of a run folder, in the order they are written:
  spec.json        the validated spec (written first, so a folder always says what it is)
  checkpoint.pt    everything needed to resume, rewritten every `checkpoint_every` epochs
  epochs.csv       one row per epoch; first a row for epoch 0, the untrained model, where the spec
                   asks (train.evaluate_at_epoch_0)
  test_probs.npy   test-set class probabilities of the returned model (float32, N×classes): the
                   last epoch's weights, or the weights early stopping restored
  model.pt         the returned model's state_dict (CPU tensors; load with weights_only=True), where kept
  activations.csv  per-layer activation statistics at the start and the end (train.activations)
  test_probs_mc_dropout.npy  only with `train.mc_dropout_passes`: each pass's test probabilities
                   with dropout active (float32, passes×N×classes); written before summary.json
  val_logits.npy   validation and test logits of the same model (float32, N×classes): what
  test_logits.npy  temperature scaling fits (on validation) and reports (on test)
  summary.json     the returned model's metrics (final_*), the last epoch's (last_epoch_*), the
                   validation-selected epoch's (best_*), status, provenance — written last: its
                   presence is what "this run is done" means
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from trickbench.atomic import TEMPORARY_SUFFIX, atomic_open, atomic_path, write_json
from trickbench.calibration import calibration_record
from trickbench.data.cache import run_data
from trickbench.errors import ConfigError, one_line
from trickbench.numerics import require as require_numerics
from trickbench.progress import epoch_progress
from trickbench.provenance import provenance
from trickbench.spec import RunSpec
from trickbench.techniques import FAMILIES
from trickbench.techniques.pairings import technique_notes
from trickbench.train.acceleration import choose_acceleration, configure_backends
from trickbench.train.activations import COLUMNS as ACTIVATION_COLUMNS
from trickbench.train.compute import StepCost, run_cost
from trickbench.train.loop import Outcome, Trainer

log = logging.getLogger("trickbench.run")

EPOCH_COLUMNS = ["epoch", "lr", "train_loss", "train_acc", "train_eval_loss", "train_eval_acc", "val_loss", "val_acc",
                 "test_loss", "test_acc", "grad_evals", "train_seconds", "images_per_s"]
#: the scores of a model in an epoch row and in a summary: running training-mode (train_*) and
#: eval-mode (train_eval_* on the fixed training sample, val_*, test_*)
METRICS = ("train_loss", "train_acc", "train_eval_loss", "train_eval_acc", "val_loss", "val_acc", "test_loss", "test_acc")


@dataclass(frozen=True)
class Execution:
    """How to run, not what: none of this is part of a run's identity."""

    device: str = "auto"
    threads: int = 1
    eval_batch_size: int = 1024
    checkpoint_every: int = 1
    deterministic: bool = False
    data_root: str = "data"
    precision: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU) | fp32 | bf16; see train.acceleration
    compile: bool = False  # torch.compile the model


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("execution.device", name, "auto or cpu: no CUDA device is visible here")
    return torch.device(name)


class InvalidSummary(ValueError):
    """A run folder without a usable summary.json; the message says why, in one line."""


def load_summary(run_dir: Path) -> dict[str, Any]:
    """The run's summary, or `InvalidSummary` saying why there is none (unfinished, failed, damaged)."""
    try:
        with open(Path(run_dir) / "summary.json") as handle:
            summary = json.load(handle)
    except FileNotFoundError:
        raise InvalidSummary("no summary.json (unfinished or failed)") from None
    except (OSError, ValueError) as error:
        raise InvalidSummary(f"summary.json unreadable ({one_line(error, 120)})") from None
    if not isinstance(summary, dict) or not {"run_id", "status", "spec"} <= set(summary):
        raise InvalidSummary("summary.json lacks run_id, status or spec")
    return summary


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """The run's summary if it exists and parses, else None (an unfinished or damaged run)."""
    try:
        return load_summary(run_dir)
    except InvalidSummary:
        return None


def train_run(spec: RunSpec, run_dir: Path, execution: Execution, progress: bool = False,
              keep_weights: bool = True) -> dict[str, Any]:
    """Train `spec` into `run_dir`, resuming from its checkpoint; a finished run is returned as is.
    `keep_weights` writes the final weights (model.pt) too."""
    run_dir = Path(run_dir)
    done = read_summary(run_dir)
    if done is not None and done.get("run_id") == spec.run_id:
        log.info("run %s already finished (%s); nothing to do", spec.run_id, done["status"])
        (run_dir / "checkpoint.pt").unlink(missing_ok=True)  # left if a kill came right after the summary
        return done
    remove_stale_temporaries(run_dir)
    write_json(run_dir / "spec.json", spec.to_dict())
    torch.set_num_threads(execution.threads)
    set_deterministic(execution.deterministic)
    device = resolve_device(execution.device)
    require_numerics(spec.numerics, device.type)
    configure_backends(device, execution.deterministic)
    started = time.perf_counter()
    data = run_data(spec, execution.data_root, device)
    acceleration = choose_acceleration(device, execution.precision, execution.compile)
    trainer = resumed_trainer(lambda: Trainer(spec, data, device, execution.eval_batch_size, acceleration),
                              run_dir / "checkpoint.pt")
    step_cost = trainer.step_cost()
    log.info("run %s: %s on %s (%s), %d train / %d val / %d test images, from epoch %d of %d",
             spec.run_id, describe(spec), device, trainer.acceleration.describe(), len(data.train),
             len(data.val), len(data.test), trainer.epoch, spec.train.epochs)
    if notes := technique_notes({family: getattr(spec, family) for family in FAMILIES}):
        log.warning("run %s: %s", spec.run_id, notes)
    while not trainer.finished:
        on_step = epoch_progress(trainer.epoch + 1, spec.train.epochs, trainer.steps_per_epoch,
                                 spec.train.batch_size) if progress else None
        row = trainer.train_epoch(on_step)
        log.info("epoch %d/%d  train_loss %.4f  train_acc %.3f (eval mode %.3f)  val_loss %.4f  val_acc %.3f  "
                 "lr %.3g  %.0f img/s", row["epoch"], spec.train.epochs, row["train_loss"], row["train_acc"],
                 row["train_eval_acc"], row["val_loss"], row["val_acc"], row["lr"], row["images_per_s"])
        if trainer.finished or trainer.epoch % execution.checkpoint_every == 0:
            with atomic_path(run_dir / "checkpoint.pt") as tmp:
                torch.save({"run_id": spec.run_id, **trainer.state_dict()}, tmp)
    return finish_run(spec, run_dir, trainer, time.perf_counter() - started, step_cost, keep_weights)


def finish_run(spec: RunSpec, run_dir: Path, trainer: Trainer, wall_seconds: float, step_cost: StepCost,
               keep_weights: bool = True) -> dict[str, Any]:
    """Close a trained run: its outcome, weights (if kept), summary and result files, written
    atomically with summary.json last; its checkpoint removed."""
    data = trainer.data
    outcome = trainer.finish(sum(row["train_seconds"] for row in trainer.history))
    if keep_weights:
        write_weights(run_dir / "model.pt", trainer.model)
    summary = summarize(spec, outcome, trainer.device, wall_seconds=wall_seconds, step_cost=step_cost,
                        images_seen=trainer.epoch * len(data.train), optimizer_steps=trainer.optimizer_steps,
                        labels={split: data.split(split).labels.cpu().numpy() for split in ("val", "test")})
    _write_results(run_dir, outcome, summary)
    (run_dir / "checkpoint.pt").unlink(missing_ok=True)
    log.info("run %s finished: status %s, test_acc %s of the weights of epoch %s it returns (last epoch %s), "
             "best val_acc at epoch %s", spec.run_id, summary["status"], summary["final_test_acc"],
             summary["returned_epoch"], summary["last_epoch_test_acc"], summary["best_val_acc_epoch"])
    return summary


def set_deterministic(enabled: bool) -> None:
    """PyTorch's reproducibility switch (docs: "Reproducibility", torch.use_deterministic_algorithms):
    deterministic kernels or an error where an operation has none, no cuDNN autotuning, and the
    cuBLAS workspace setting that CUDA >= 10.2 needs for reproducible matrix products (read when
    cuBLAS starts, so set before any tensor reaches the GPU). CPU training is deterministic anyway.
    cuDNN autotuning follows the same switch in `configure_backends`."""
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if torch.are_deterministic_algorithms_enabled() != enabled:
        # only when it changes: the call imports torch._inductor and torch._dynamo (seconds per job)
        torch.use_deterministic_algorithms(enabled)


def remove_stale_temporaries(run_dir: Path) -> None:
    """Delete the temporary files of a writer that was killed mid-write (see `atomic_path`): never a
    result, only clutter. Safe because one run folder has one writer at a time (Snakemake's job)."""
    for stale in Path(run_dir).glob(f".*{TEMPORARY_SUFFIX}"):
        stale.unlink(missing_ok=True)


def describe(spec: RunSpec) -> str:
    return ", ".join(f"{family}={spec.label(family)}" for family in FAMILIES)


def resumed_trainer(new_trainer: Callable[[], Trainer], checkpoint: Path) -> Trainer:
    """A trainer at the state of `checkpoint`, or a fresh one where there is no usable checkpoint.

    Loaded with `weights_only=True`: tensors, numbers, strings and containers only, so a damaged or
    planted file cannot run code. A checkpoint that cannot be read or is not this run's costs only
    the progress it held: it is deleted and the run starts over from a trainer built anew (a failed
    load may have changed part of the first one)."""
    trainer = new_trainer()
    if not checkpoint.exists():
        return trainer
    try:
        state = torch.load(checkpoint, map_location=trainer.device, weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, EOFError or RuntimeError, by damage
        problem = f"is not a readable checkpoint: truncated, damaged or holding more than tensors ({type(error).__name__})"
    else:
        owner = state.pop("run_id", None) if isinstance(state, dict) else None
        if owner != trainer.spec.run_id:
            problem = f"belongs to run {owner}, not {trainer.spec.run_id}" if owner else "carries no run id"
        else:
            try:
                trainer.load_state_dict(state)
                log.info("resumed from %s at epoch %d", checkpoint, trainer.epoch)
                return trainer
            except Exception as error:  # a state of other shapes or keys
                problem = f"does not fit this run ({one_line(error, 120)})"
    log.warning("checkpoint %s %s; starting this run over", checkpoint, problem)
    checkpoint.unlink()
    return new_trainer()


def summarize(spec: RunSpec, outcome: Outcome, device: torch.device, wall_seconds: float,
              step_cost: StepCost | None = None, images_seen: int = 0, optimizer_steps: int = 0,
              labels: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """The run's one-row record: what it was (spec), how it ended, what it scored, where it ran,
    what it cost (with the measured `step_cost`) and how calibrated it is (with the `labels` of the
    val and test splits that the outcome's logits score).

    Three sets of scores: `final_*` of the model the run returns (the weights of `returned_epoch`,
    scored again after restoration: the model of test_probs.npy and the logits), `last_epoch_*`
    of the last trained epoch, `best_*` of the epoch of highest validation accuracy. The running
    training-mode `final_train_*` are those of the returned epoch's row."""
    history = outcome.history
    last = history[-1] if history else {}
    at_epoch = lambda epoch: next((row for row in history if row["epoch"] == epoch), {})
    best, returned = at_epoch(outcome.best_val_acc_epoch), at_epoch(outcome.returned_epoch)
    finite = lambda x: x if isinstance(x, (int, float)) and math.isfinite(x) else None
    summary: dict[str, Any] = {
        "run_id": spec.run_id,
        "spec": spec.to_dict(),
        "status": outcome.status,
        "technique_notes": technique_notes({family: getattr(spec, family) for family in FAMILIES}),
        "epochs_completed": len(history),
        "stopped_early": outcome.stopped_early,
        "returned_epoch": outcome.returned_epoch,
        "best_val_acc_epoch": outcome.best_val_acc_epoch,
        "n_parameters": outcome.n_parameters,
        "train_seconds": outcome.train_seconds,
        "wall_seconds": wall_seconds,
        "images_per_s": sum(r["images_per_s"] * r["train_seconds"] for r in history) / max(outcome.train_seconds, 1e-9),
        "grad_evals": last.get("grad_evals", 0),
        **provenance(device, spec),
    }
    for metric in METRICS:
        summary[f"final_{metric}"] = finite(outcome.final.get(metric, returned.get(metric)))
        summary[f"last_epoch_{metric}"] = finite(last.get(metric))
        summary[f"best_{metric}"] = finite(best.get(metric))
    for column in extra_columns(history):  # e.g. the EMA's and SWA's scores: never the returned model's
        summary[f"last_epoch_{column}"] = finite(last.get(column))
    if step_cost is not None:
        summary.update(run_cost(step_cost, summary["grad_evals"], optimizer_steps, images_seen))
    if labels is not None and outcome.test_logits is not None and outcome.val_logits is not None:
        calibration = calibration_record(outcome.val_logits.numpy(), labels["val"], outcome.test_logits.numpy(), labels["test"])
        summary.update({key: finite(value) for key, value in calibration.items()})
    return summary


def write_weights(target: Path, model: torch.nn.Module) -> None:
    """The model's state_dict as CPU tensors, atomically: what studies of trained weights load."""
    with atomic_path(target) as tmp:
        torch.save({name: value.detach().cpu() for name, value in model.state_dict().items()}, tmp)


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """A state_dict written by `write_weights`, read without unpickling arbitrary objects."""
    return torch.load(path, map_location="cpu", weights_only=True)


def extra_columns(history: list[dict[str, float]]) -> list[str]:
    """Epoch columns beyond EPOCH_COLUMNS that this run's spec switched on, in the order written."""
    return [column for column in (history[0] if history else {}) if column not in EPOCH_COLUMNS]


def _write_results(run_dir: Path, outcome: Outcome, summary: dict[str, Any]) -> None:
    with atomic_open(run_dir / "activations.csv", "w") as handle:
        writer = csv.DictWriter(handle, fieldnames=["moment", *ACTIVATION_COLUMNS])
        writer.writeheader()
        writer.writerows(outcome.activation_stats)
    columns = EPOCH_COLUMNS + extra_columns(outcome.history)
    rows = ([outcome.epoch_0] if outcome.epoch_0 is not None else []) + outcome.history
    with atomic_open(run_dir / "epochs.csv", "w") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: row[k] for k in columns} for row in rows)
    arrays = {"test_probs": outcome.test_probabilities, "test_logits": outcome.test_logits, "val_logits": outcome.val_logits,
              "test_probs_mc_dropout": outcome.mc_dropout_probabilities}
    for name, array in ((name, array) for name, array in arrays.items() if array is not None):
        with atomic_path(run_dir / f"{name}.npy") as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, array.numpy().astype(np.float32), allow_pickle=False)
    write_json(run_dir / "summary.json", summary)
