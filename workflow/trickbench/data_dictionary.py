"""The data dictionary of the result tables: every column of runs.csv and epochs.csv with its unit
and meaning, and the schema version of that layout.

Tables are only data if a reader can tell what a column means without reading the code that wrote
it, and can trust that the columns of version N stay the columns of version N. So the columns are
defined once, here; the collect step orders the tables by this definition and ships it beside them
as `results/tables/dictionary.csv`; and a test compares the columns collect really writes with
this definition and with a committed golden list per version (tests/golden/table_columns_v<N>.json).
Adding, renaming or removing a column therefore means: change it here, bump SCHEMA_VERSION, commit
the new golden list (the test says how) — and the tables say which layout they follow.

Conventions: accuracies are fractions in [0, 1]; losses, NLL in nats (natural log); times in
seconds of wall clock; FLOPs as counted by torch.utils.flop_counter (2 per multiply-add).
"`final_*`" scores the model the run returns — the weights of `returned_epoch`: the last epoch,
or the epoch early stopping restored — the same model as its test_probs.npy, logits, NLL and ECE;
"`last_epoch_*`" the last trained epoch; "`best_*`" the epoch chosen on *validation* (highest
val_acc, earliest on ties: `best_val_acc_epoch`) — never a test-selected number. `train_*` are
running training-mode numbers (dropout, augmentation, input noise on; weights moving during the
epoch); `train_eval_*` score a fixed sample of the training split in eval mode, like val and test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from trickbench.techniques import FAMILIES

#: bump whenever a column of runs.csv or epochs.csv is added, removed, renamed or changes meaning
SCHEMA_VERSION = 5  # 1: the foundation's tables (no dictionary); 2: compute, calibration, provenance;
# 3: final_* score the returned model (last_epoch_* the last epoch), train_eval_*, returned_epoch,
#    best_epoch renamed best_val_acc_epoch, the EMA's and SWA's columns, technique_notes, plugins,
#    role, base_lr, tuned_parameter, tuned_value (design.tuning); 4: numerics, cpu_capability;
#    5: epochs.csv may start at epoch 0, the untrained model (train.evaluate_at_epoch_0)


@dataclass(frozen=True)
class Column:
    name: str
    unit: str
    meaning: str


FRACTION, NATS, SECONDS, COUNT, TEXT, FLAG, FLOP = "fraction (0-1)", "nats", "s", "count", "text", "bool", "FLOP"

_SPLIT = {"train": "the training split (running mean over the epoch's batches, in train mode)",
          "train_eval": "a fixed sample of the training split in eval mode (train.train_eval_sample images)",
          "val": "the validation split (held out of the training images; chooses everything)",
          "test": "the test split (reported, never used for a choice)"}
#: weight averages a spec can ask for (train.averaging), scored like the model itself
_AVERAGES = {"ema": "the EMA of the weights (train.ema_decay)",
             "swa": "the SWA average of the weights, batch-norm statistics recomputed (train.swa_start_epoch)"}


def _metrics(prefix: str, when: str, splits: dict[str, str] = _SPLIT, of: str = "") -> list[Column]:
    return [Column(f"{prefix}_{split}_{metric}", unit, f"{label}{of} on {meaning}, {when}")
            for split, meaning in splits.items()
            for metric, unit, label in (("loss", NATS, "cross-entropy"), ("acc", FRACTION, "accuracy"))]


def _average_metrics(prefix: str, when: str) -> list[Column]:
    """The val and test scores of each weight average (empty for runs that keep none)."""
    evaluated = {split: meaning for split, meaning in _SPLIT.items() if split in ("val", "test")}
    return [column for name, average in _AVERAGES.items()
            for column in _metrics(f"{prefix}{name}" if prefix else name, when, evaluated, f" of {average}")]


PROVENANCE = [
    Column("trickbench_version", TEXT, "version of the installed trickbench package"),
    Column("git_commit", TEXT, "commit of the trickbench checkout that ran (12 hex digits; 'unknown' outside git)"),
    Column("git_dirty", FLAG, "tracked files differed from git_commit when the run ran (empty outside git)"),
    Column("plugins", TEXT, "plugins whose techniques the run used, as '<file> sha256:<hex>' joined by '; ' "
                            "(empty: built-in techniques only)"),
    Column("python_version", TEXT, "Python version"),
    Column("torch_version", TEXT, "PyTorch version (with its build tag)"),
    Column("cuda_version", TEXT, "CUDA version PyTorch was built with ('none' for a CPU build)"),
    Column("device", TEXT, "device type the run trained on: cpu | cuda"),
    Column("device_name", TEXT, "the GPU's name, or the CPU's model name"),
    Column("torch_threads", COUNT, "torch intra-op threads of the training job"),
    Column("numerics", TEXT, "the CPU numerics the run trained with (execution.numerics): portable (the same bits on "
                             "any x86-64 CPU), native, 'native (not x86-64)', 'not applicable (cuda)', or custom (...)"),
    Column("cpu_capability", TEXT, "instruction set of PyTorch's CPU kernels in the training process (AVX2, AVX512, ...)"),
    Column("deterministic", FLAG, "torch.use_deterministic_algorithms was on"),
    Column("cudnn_version", TEXT, "cuDNN version PyTorch loaded ('none' without cuDNN)"),
    Column("cudnn_deterministic", FLAG, "torch.backends.cudnn.deterministic"),
    Column("cudnn_benchmark", FLAG, "torch.backends.cudnn.benchmark (autotuning; may change numerics)"),
]

RUNS = [
    Column("run_id", TEXT, "the run's id: 12 hex digits of the SHA-256 of its canonical spec"),
    Column("seed", COUNT, "random seed of the run (initialization, shuffling, augmentation)"),
    Column("varies", TEXT, "the factor this run changes relative to the baseline: a family name, 'baseline' or 'several'"),
    Column("data", TEXT, "data source"),
    Column("model", TEXT, "model family with its non-default sizes"),
    *[Column(family, TEXT, f"level of the {family} factor (name and non-default parameters)") for family in FAMILIES],
    Column("epochs", COUNT, "epochs the spec asked for"),
    Column("batch_size", COUNT, "images per optimizer step"),
    Column("role", TEXT, "what the run is for: grid (a design run at the config's values), tuning (a trial of design.tuning), tuned (a design run at its cell's tuned values), grid+tuned (both)"),
    Column("base_lr", "ratio", "the optimizer's learning rate, before schedule and warm-up (a tuning or tuned run's own; its factor columns name its design cell)"),
    Column("tuned_parameter", TEXT, "the hyperparameter searched beside the lr, as technique.parameter (empty where none was)"),
    Column("tuned_value", "ratio", "this run's value of tuned_parameter"),
    Column("status", TEXT, "how the run ended: ok, or the failure kept as a result (e.g. diverged: non-finite training loss)"),
    Column("technique_notes", TEXT, "techniques this run pairs otherwise than they are meant to be used (e.g. SELU without "
           "LeCun init; trickbench.techniques.pairings), '; '-separated; empty when none"),
    Column("epochs_completed", COUNT, "epochs actually trained (fewer after early stopping or divergence)"),
    Column("stopped_early", FLAG, "early stopping ended the run before `epochs`"),
    Column("returned_epoch", COUNT, "the epoch whose weights the run returns and final_* score: the last epoch, or under early stopping the epoch of lowest val_loss it restored"),
    Column("best_val_acc_epoch", COUNT, "the validation-selected epoch of best_*: highest val_acc, earliest on ties (empty without a validation split)"),
    Column("n_parameters", COUNT, "trainable parameters of the model"),
    Column("train_seconds", SECONDS, "wall clock of the training passes (evaluation excluded)"),
    Column("wall_seconds", SECONDS, "wall clock of the whole job: data, training, evaluation, files"),
    Column("images_per_s", "images/s", "training throughput, averaged over epochs by time"),
    Column("grad_evals", COUNT, "gradient evaluations: optimizer closure calls (forward + backward over a batch); SAM makes 2 per step"),
    *PROVENANCE,
    *_metrics("final", "of the model the run returns (the weights of returned_epoch, as in test_probs.npy); train: that epoch's running numbers"),
    *_metrics("last_epoch", "at the last trained epoch"),
    *_metrics("best", "at the validation-selected epoch best_val_acc_epoch"),
    *_average_metrics("last_epoch_", "at the last trained epoch"),
    Column("optimizer_steps", COUNT, "optimizer steps taken"),
    Column("images_seen", COUNT, "training images drawn: epochs_completed × training-split size"),
    Column("grad_evals_per_step", COUNT, "grad_evals / optimizer_steps"),
    Column("forward_flops_per_step", FLOP, "forward FLOPs of one measured optimizer step on a batch of flops_batch_size, summed over its closure calls"),
    Column("backward_flops_per_step", FLOP, "backward FLOPs of that step (weight and input gradients)"),
    Column("flops_per_step", FLOP, "all FLOPs counted in that step (forward + backward + the optimizer's own, usually 0)"),
    Column("flops_batch_size", COUNT, "images in the batch the step was measured on"),
    Column("flops_per_grad_eval", FLOP, "forward + backward FLOPs of one gradient evaluation at the run's mean batch size"),
    Column("train_flops", FLOP, "training FLOPs of the run: flops_per_grad_eval × grad_evals"),
    Column("test_nll", NATS, "test negative log-likelihood of the returned model (final weights, or the early-stopping weights it restored: the predictions of test_probs.npy)"),
    Column("test_ece", FRACTION, "test expected calibration error of the returned model (15 equal-width confidence bins)"),
    Column("temperature", "ratio", "temperature T fitted on the validation split by minimizing NLL (logits / T); empty without a validation split"),
    Column("test_nll_temperature_scaled", NATS, "test NLL of the returned model after temperature scaling with `temperature`"),
    Column("test_ece_temperature_scaled", FRACTION, "test ECE (15 bins) of the returned model after temperature scaling"),
    Column("spec_json", TEXT, "the run's complete canonical spec (JSON), from which run_id is hashed"),
    Column("schema_version", COUNT, "version of this table layout (see dictionary.csv)"),
]

EPOCHS = [
    Column("run_id", TEXT, "the run (join key to runs.csv)"),
    Column("epoch", COUNT, "epoch number, from 1; 0 is the untrained model scored before the first step, where "
                           "train.evaluate_at_epoch_0 asks (its lr, train_loss, train_acc and images_per_s are NaN, "
                           "train_seconds 0)"),
    Column("lr", "ratio", "learning rate at the epoch's last step"),
    Column("train_loss", NATS, "mean training loss over the epoch's batches (train mode, regularized inputs)"),
    Column("train_acc", FRACTION, "training accuracy over the epoch's batches (train mode, regularized inputs, moving weights)"),
    Column("train_eval_loss", NATS, "training cross-entropy after the epoch in eval mode on a fixed sample of train.train_eval_sample training images (no dropout, augmentation or input noise; batch norm on running statistics)"),
    Column("train_eval_acc", FRACTION, "training accuracy after the epoch, in eval mode on the same fixed sample"),
    Column("val_loss", NATS, "validation cross-entropy after the epoch"),
    Column("val_acc", FRACTION, "validation accuracy after the epoch"),
    Column("test_loss", NATS, "test cross-entropy after the epoch (reported, never used for a choice)"),
    Column("test_acc", FRACTION, "test accuracy after the epoch (reported, never used for a choice)"),
    Column("grad_evals", COUNT, "cumulative gradient evaluations up to the end of this epoch"),
    Column("train_seconds", SECONDS, "wall clock of this epoch's training pass"),
    Column("images_per_s", "images/s", "this epoch's training throughput"),
    *_average_metrics("", "after the epoch (empty before SWA starts and for runs that keep no average)"),
    Column("cumulative_train_seconds", SECONDS, "wall clock of training up to the end of this epoch"),
    Column("images_seen", COUNT, "cumulative training images drawn up to the end of this epoch"),
    Column("cumulative_flops", FLOP, "cumulative training FLOPs: the run's flops_per_grad_eval × grad_evals"),
    *[column for column in PROVENANCE
      if column.name in ("git_commit", "torch_version", "cuda_version", "device_name", "deterministic", "numerics")],
    Column("seed", COUNT, "random seed of the run"),
    Column("schema_version", COUNT, "version of this table layout (see dictionary.csv)"),
]

TABLES: dict[str, list[Column]] = {"runs": RUNS, "epochs": EPOCHS}


def column_names(table: str) -> list[str]:
    return [column.name for column in TABLES[table]]


def dictionary_frame() -> pd.DataFrame:
    """The dictionary as a table: one row per (table, column), with unit, meaning, schema version."""
    return pd.DataFrame([{"table": table, "column": c.name, "unit": c.unit, "meaning": c.meaning,
                          "schema_version": SCHEMA_VERSION} for table, columns in TABLES.items() for c in columns])


def conform(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """`frame` with the dictionary's columns in the dictionary's order and the schema version.

    A column the dictionary lacks is kept, after the defined ones, so no data is lost; the
    dictionary test fails on it until it is defined. A defined column a run did not write (e.g.
    an older run folder) is added empty."""
    if frame.empty:
        return pd.DataFrame(columns=column_names(table))
    frame = frame.assign(schema_version=SCHEMA_VERSION)
    defined = column_names(table)
    extra = [c for c in frame.columns if c not in defined]
    return frame.reindex(columns=defined + extra)


def undefined_columns(frame: pd.DataFrame, table: str) -> list[str]:
    return [c for c in frame.columns if c not in column_names(table)]


def missing_columns(path: Path | str, table: str) -> list[str]:
    """The dictionary's columns that the CSV at `path` lacks (its header alone is read). The collect
    step writes every defined column (`conform`), so a table missing one was cut, edited by hand,
    or written by another version of trickbench."""
    header = pd.read_csv(path, nrows=0).columns
    return [name for name in column_names(table) if name not in header]
