"""One run on disk: `results/runs/<id>/` from a spec, resumable, every file written atomically.

Files of a run folder, in the order they are written:
  spec.json        the validated spec (written first, so a folder always says what it is)
  checkpoint.pt    everything needed to resume, rewritten every `checkpoint_every` epochs
  epochs.csv       one row per epoch
  test_probs.npy   test-set class probabilities of the final model (float32, N×classes)
  model.pt         the final model's state_dict (CPU tensors; load with weights_only=True)
  activations.csv  per-layer activation statistics at the start and the end (train.activations)
  test_probs_mc_dropout.npy  only with `train.mc_dropout_passes`: each pass's test probabilities
                   with dropout active (float32, passes×N×classes); written before summary.json
  val_logits.npy   validation and test logits of the same model (float32, N×classes): what
  test_logits.npy  temperature scaling fits (on validation) and reports (on test)
  summary.json     final and validation-selected metrics, status, provenance — written last:
                   its presence is what "this run is done" means
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trickbench.atomic import atomic_open, atomic_path, write_json
from trickbench.calibration import calibration_record
from trickbench.data.device_data import prepare
from trickbench.data.sources import SOURCES
from trickbench.errors import ConfigError
from trickbench.progress import epoch_progress
from trickbench.provenance import provenance
from trickbench.spec import RunSpec
from trickbench.train.acceleration import choose_acceleration, configure_backends
from trickbench.train.activations import COLUMNS as ACTIVATION_COLUMNS
from trickbench.train.compute import StepCost, run_cost
from trickbench.train.loop import Outcome, Trainer

log = logging.getLogger("trickbench.run")

EPOCH_COLUMNS = ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
                 "grad_evals", "train_seconds", "images_per_s"]


@dataclass(frozen=True)
class Execution:
    """How to run, not what: none of this is part of a run's identity."""

    device: str = "auto"
    threads: int = 1
    eval_batch_size: int = 1024
    checkpoint_every: int = 1
    deterministic: bool = False
    data_root: str = "data"
    download: bool = False
    precision: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU) | fp32 | bf16; see train.acceleration
    compile: bool = False  # torch.compile the model


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("execution.device", name, "auto or cpu: no CUDA device is visible here")
    return torch.device(name)


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """The run's summary if it exists and parses, else None (an unfinished or damaged run)."""
    try:
        with open(run_dir / "summary.json") as handle:
            summary = json.load(handle)
        return summary if isinstance(summary, dict) and "status" in summary else None
    except (OSError, ValueError):
        return None


def train_run(spec: RunSpec, run_dir: Path, execution: Execution, progress: bool = False) -> dict[str, Any]:
    """Train `spec` into `run_dir`, resuming from its checkpoint; a finished run is returned as is."""
    run_dir = Path(run_dir)
    done = read_summary(run_dir)
    if done is not None and done.get("run_id") == spec.run_id:
        log.info("run %s already finished (%s); nothing to do", spec.run_id, done["status"])
        return done
    write_json(run_dir / "spec.json", spec.to_dict())
    torch.set_num_threads(execution.threads)
    torch.use_deterministic_algorithms(execution.deterministic)
    device = resolve_device(execution.device)
    configure_backends(device, execution.deterministic)
    started = time.perf_counter()
    images = SOURCES.build(spec.data.source, Path(execution.data_root), execution.download)
    data = prepare(images, spec.data, spec.preprocessing, device)
    trainer = Trainer(spec, data, device, execution.eval_batch_size,
                      choose_acceleration(device, execution.precision, execution.compile))
    _resume(trainer, run_dir / "checkpoint.pt")
    step_cost = trainer.step_cost()
    log.info("run %s: %s on %s (%s), %d train / %d val / %d test images, from epoch %d of %d",
             spec.run_id, describe(spec), device, trainer.acceleration.describe(), len(data.train),
             len(data.val), len(data.test), trainer.epoch, spec.train.epochs)
    while not trainer.finished:
        on_step = epoch_progress(trainer.epoch + 1, spec.train.epochs, trainer.steps_per_epoch,
                                 spec.train.batch_size) if progress else None
        row = trainer.train_epoch(on_step)
        log.info("epoch %d/%d  train_loss %.4f  train_acc %.3f  val_loss %.4f  val_acc %.3f  lr %.3g  %.0f img/s",
                 row["epoch"], spec.train.epochs, row["train_loss"], row["train_acc"], row["val_loss"],
                 row["val_acc"], row["lr"], row["images_per_s"])
        if trainer.finished or trainer.epoch % execution.checkpoint_every == 0:
            with atomic_path(run_dir / "checkpoint.pt") as tmp:
                torch.save(trainer.state_dict(), tmp)
    outcome = trainer.finish(sum(row["train_seconds"] for row in trainer.history))
    write_weights(run_dir / "model.pt", trainer.model)
    summary = summarize(spec, outcome, device, wall_seconds=time.perf_counter() - started, step_cost=step_cost,
                        images_seen=trainer.epoch * len(data.train), optimizer_steps=trainer.optimizer_steps,
                        labels={split: data.split(split).labels.cpu().numpy() for split in ("val", "test")})
    _write_results(run_dir, outcome, summary)
    (run_dir / "checkpoint.pt").unlink(missing_ok=True)
    log.info("run %s finished: status %s, final test_acc %.3f, val-selected test_acc %.3f (epoch %s)",
             spec.run_id, summary["status"], summary["final_test_acc"], summary["best_test_acc"], summary["best_epoch"])
    return summary


def describe(spec: RunSpec) -> str:
    from trickbench.techniques import FAMILIES

    return ", ".join(f"{family}={spec.label(family)}" for family in FAMILIES)


def _resume(trainer: Trainer, checkpoint: Path) -> None:
    if not checkpoint.exists():
        return
    try:
        trainer.load_state_dict(torch.load(checkpoint, map_location=trainer.device, weights_only=True))
        log.info("resumed from %s at epoch %d", checkpoint, trainer.epoch)
    except Exception as error:  # a damaged checkpoint only costs the progress it held
        log.warning("checkpoint %s is unreadable (%s: %s); starting this run over",
                    checkpoint, type(error).__name__, str(error).splitlines()[0][:200])
        checkpoint.unlink()


def summarize(spec: RunSpec, outcome: Outcome, device: torch.device, wall_seconds: float,
              step_cost: StepCost | None = None, images_seen: int = 0, optimizer_steps: int = 0,
              labels: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """The run's one-row record: what it was (spec), how it ended, what it scored, where it ran,
    what it cost (with the measured `step_cost`) and how calibrated it is (with the `labels` of the
    val and test splits that the outcome's logits score)."""
    history = outcome.history
    last = history[-1] if history else {}
    best = next((row for row in history if row["epoch"] == outcome.best_epoch), {})
    finite = lambda x: x if isinstance(x, (int, float)) and math.isfinite(x) else None
    summary: dict[str, Any] = {
        "run_id": spec.run_id,
        "spec": spec.to_dict(),
        "status": outcome.status,
        "epochs_completed": len(history),
        "stopped_early": outcome.stopped_early,
        "best_epoch": outcome.best_epoch,
        "n_parameters": outcome.n_parameters,
        "train_seconds": outcome.train_seconds,
        "wall_seconds": wall_seconds,
        "images_per_s": sum(r["images_per_s"] * r["train_seconds"] for r in history) / max(outcome.train_seconds, 1e-9),
        "grad_evals": last.get("grad_evals", 0),
        **provenance(device),
    }
    for metric in ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc"):
        summary[f"final_{metric}"] = finite(last.get(metric))
        summary[f"best_{metric}"] = finite(best.get(metric))
    for column in extra_columns(history):  # e.g. the EMA's and SWA's scores
        summary[f"final_{column}"] = finite(last.get(column))
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
    with atomic_open(run_dir / "epochs.csv", "w") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows({k: row[k] for k in columns} for row in outcome.history)
    arrays = {"test_probs": outcome.test_probabilities, "test_logits": outcome.test_logits, "val_logits": outcome.val_logits,
              "test_probs_mc_dropout": outcome.mc_dropout_probabilities}
    for name, array in ((name, array) for name, array in arrays.items() if array is not None):
        with atomic_path(run_dir / f"{name}.npy") as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, array.numpy().astype(np.float32), allow_pickle=False)
    write_json(run_dir / "summary.json", summary)
