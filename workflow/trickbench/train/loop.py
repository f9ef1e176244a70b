"""The training loop of one run.

`Trainer` owns everything that changes during training (model, optimizer, schedule, random
generators, metric history, early-stopping record) and can save all of it as one state dict, so a
killed run resumes exactly where its last checkpoint was — bit-identically on CPU. Every optimizer
is stepped through a closure (see `techniques.optimizers`), and a non-finite loss ends the run
with status `diverged`: a result, not a crash. With `train.explode_factor` k > 0 a run also ends,
with status `exploded`, at the first step whose training loss exceeds k times the first step's
(the abort rule of a learning-rate search, cs231n "Neural Networks Part 3").

After every epoch the model is scored in eval mode on validation, test and a fixed sample of the
training split (`train_eval_*`, beside the running training-mode `train_*` of the epoch's
batches). With `train.evaluate_at_epoch_0` the untrained model is scored the same way before the
first step (`Outcome.epoch_0`): the point a time-to-target counts from. Evaluation draws no random
numbers, so the run trains bit for bit as it would without it. The run returns one model — the
last epoch's weights, or under early stopping the restored weights of the lowest validation
loss — and `Outcome.final` scores exactly that model: the one whose test probabilities and logits
the run saves.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
from torch import nn

from trickbench.data.device_data import DeviceData, shuffled_batches, to_unit_float
from trickbench.models import Parts, build_model
from trickbench.spec import RunSpec
from trickbench.techniques.inits import INITS, InitContext
from trickbench.techniques.optimizers import OPTIMIZERS
from trickbench.techniques.regularizers import REGULARIZERS, RegularizerSet
from trickbench.train.acceleration import Acceleration, choose_acceleration
from trickbench.train.activations import activation_statistics
from trickbench.train.averaging import preprocessed_batches, schedule_with_swa_phase, weight_averages
from trickbench.train.compute import StepCost, measure_step
from trickbench.train.evaluate import Evaluation, evaluate, evaluate_split, training_sample
from trickbench.train.mc_dropout import mc_dropout_test_probabilities

OK, DIVERGED, EXPLODED = "ok", "diverged", "exploded"
#: training images whose hidden activations are summarized at the start and the end of a run
ACTIVATION_SAMPLE = 512


@dataclass(frozen=True)
class Outcome:
    status: str
    history: list[dict[str, float]]
    #: the epoch of the highest validation accuracy (earliest on ties); what `best_*` report
    best_val_acc_epoch: int | None
    stopped_early: bool
    #: the epoch whose weights the run returns: the last one, or the one early stopping restored
    returned_epoch: int | None
    #: the returned model's {train_eval,val,test}_{loss,acc}, evaluated once more after restoration
    final: dict[str, float]
    test_probabilities: torch.Tensor
    n_parameters: int
    train_seconds: float
    #: per-layer activation statistics (see train.activations), rows tagged moment "start" / "end"
    activation_stats: list[dict[str, Any]] = field(default_factory=list)
    mc_dropout_probabilities: torch.Tensor | None = None  # passes×N×classes, when the spec asks
    # logits of the returned model (N×classes, CPU): validation fits the temperature, test reports
    val_logits: torch.Tensor | None = None
    test_logits: torch.Tensor | None = None
    #: the untrained model's row (epoch 0), when the spec asks (train.evaluate_at_epoch_0)
    epoch_0: dict[str, float] | None = None


class Trainer:
    def __init__(self, spec: RunSpec, data: DeviceData, device: torch.device, eval_batch_size: int = 1024,
                 acceleration: Acceleration | None = None):
        self.spec, self.data, self.device, self.eval_batch_size = spec, data, device, eval_batch_size
        torch.manual_seed(spec.seed)
        self.regularizer = RegularizerSet(REGULARIZERS.build(t) for t in spec.regularizer)
        self.steps_per_epoch = math.ceil(len(data.train) / spec.train.batch_size)
        total = spec.train.epochs * self.steps_per_epoch
        parts = Parts(data.input_shape, data.num_classes, spec.activation, spec.norm, self.regularizer.dropout, total)
        self.model = build_model(spec.model, parts).to(device)
        self.shuffle_generator = torch.Generator().manual_seed(spec.seed)
        self.augment_generator = torch.Generator(device=device).manual_seed(spec.seed + 1)
        first_batch = data.preprocess(to_unit_float(data.train.images[: spec.train.batch_size]))
        INITS.build(spec.init, self.model, InitContext(spec.activation, first_batch))
        # At epoch 0, before any step; a resumed run re-initializes identically, so recomputes the same rows.
        self.start_activations = self._activation_rows("start")
        self.optimizer = OPTIMIZERS.build(spec.optimizer, self.model)
        # after the init, which may run the model in float32 on a data batch (LSUV)
        self.acceleration = (acceleration or choose_acceleration(device)).for_model(self.model, self.optimizer)
        self.forward = self.acceleration.prepare(self.model)
        multiplier = schedule_with_swa_phase(spec.schedule, spec.train, self.steps_per_epoch,
                                             self.optimizer.defaults["lr"])
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, multiplier)
        self.averages = weight_averages(spec.train, self.model)  # EMA / SWA, when the spec asks
        self.criterion = nn.CrossEntropyLoss(label_smoothing=self.regularizer.label_smoothing)
        self.train_sample = training_sample(data.train, spec.train.train_eval_sample, spec.data.split_seed)
        self.history: list[dict[str, float]] = []
        self.best_val_loss, self.best_state_epoch, self.best_weights = math.inf, 0, None
        self.grad_evals = 0
        self.status = OK
        self.initial_loss: float | None = None  # the first step's loss, which explode_factor compares to
        # Like the activation rows: before any step, and recomputed identically by a resumed run.
        self.epoch_0 = self._epoch_0_row() if spec.train.evaluate_at_epoch_0 else None

    @property
    def optimizer_steps(self) -> int:
        return self.epoch * self.steps_per_epoch

    def step_cost(self) -> StepCost:
        """FLOPs and closure calls of one training step on the first training batch, measured on a
        copy of the model with this run's optimizer and loss (see `train.compute`)."""
        batch = slice(0, self.spec.train.batch_size)
        inputs = self.data.preprocess(to_unit_float(self.data.train.images[batch]))

        def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return self.criterion(model(x), y) + self.regularizer.penalty(model)

        return measure_step(self.model, lambda params: OPTIMIZERS.build(self.spec.optimizer, params), loss, inputs,
                            self.data.train.labels[batch])

    # -- state for checkpoints ---------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "history": self.history,
            "best": {"val_loss": self.best_val_loss, "epoch": self.best_state_epoch, "weights": self.best_weights},
            "grad_evals": self.grad_evals,
            "status": self.status,
            "initial_loss": self.initial_loss,
            "averages": [average.average.state_dict() for average in self.averages],
            "rng": {"torch": torch.get_rng_state(), "shuffle": self.shuffle_generator.get_state(),
                    "augment": self.augment_generator.get_state(),
                    "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else []},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.history = list(state["history"])
        best = state["best"]
        self.best_val_loss, self.best_state_epoch, self.best_weights = best["val_loss"], best["epoch"], best["weights"]
        self.grad_evals, self.status = state["grad_evals"], state["status"]
        self.initial_loss = state.get("initial_loss")
        for average, saved in zip(self.averages, state.get("averages", [])):
            average.average.load_state_dict(saved)
        torch.set_rng_state(state["rng"]["torch"])
        self.shuffle_generator.set_state(state["rng"]["shuffle"])
        self.augment_generator.set_state(state["rng"]["augment"])
        if state["rng"]["cuda"]:
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])

    @property
    def epoch(self) -> int:
        return len(self.history)

    @property
    def finished(self) -> bool:
        return self.status != OK or self.epoch >= self.spec.train.epochs or self._patience_exhausted()

    def _patience_exhausted(self) -> bool:
        """`patience` epochs in a row without a lower validation loss (Keras' rule): stop now."""
        patience = self.regularizer.patience
        return patience is not None and self.epoch - self.best_state_epoch >= patience

    # -- training ----------------------------------------------------------------------------
    def train_epoch(self, on_step: Callable[[int, int], None] | None = None) -> dict[str, float]:
        """One pass over the training split; returns the epoch's metrics row."""
        self.model.train()
        start, seen = time.perf_counter(), 0
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.int64)
        for step, index in enumerate(self.epoch_batches()):
            inputs, labels = self.batch(index)
            first: list[tuple[torch.Tensor, torch.Tensor]] = []

            def closure() -> torch.Tensor:
                self.optimizer.zero_grad(set_to_none=True)
                with self.acceleration.autocast():
                    logits = self.forward(inputs)
                loss = self.criterion(logits.float(), labels) + self.regularizer.penalty(self.model)
                loss.backward()
                self.grad_evals += 1
                if not first:
                    first.append((loss.detach(), logits.detach()))
                return loss

            lr = self.step(closure)
            loss, logits = first[0]
            loss_sum += loss * len(index)
            correct += (logits.argmax(1) == labels).sum()
            seen += len(index)
            if on_step:
                on_step(step + 1, self.steps_per_epoch)
            if self.spec.train.explode_factor and self._exploded(loss):
                self.status = EXPLODED
                break
        train_loss = loss_sum.item() / seen  # the one host sync of the epoch's training part
        row = {"epoch": self.epoch + 1, "lr": lr, "train_loss": train_loss, "train_acc": correct.item() / seen}
        row["train_seconds"] = time.perf_counter() - start
        row["images_per_s"] = seen / row["train_seconds"]
        self.record_epoch(row)
        return row

    def epoch_batches(self) -> Iterator[torch.Tensor]:
        """The index batches of the next epoch, in this run's shuffled order."""
        return shuffled_batches(len(self.data.train), self.spec.train.batch_size, self.shuffle_generator, self.device)

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A training batch as the model sees it: augmented, preprocessed, perturbed, laid out."""
        train = self.data.train
        images = self.regularizer.augment(to_unit_float(train.images[index]), self.augment_generator)
        inputs = self.acceleration.inputs(self.regularizer.perturb(self.data.preprocess(images), self.augment_generator))
        return inputs, train.labels[index]

    def step(self, closure: Callable[[], torch.Tensor]) -> float:
        """One optimizer step with the regularizers' hooks around it and the schedule after it;
        returns the learning rate the step used."""
        lr = self.optimizer.param_groups[0]["lr"]
        self.regularizer.before_step(self.model, lr)
        self.optimizer.step(closure)
        self.regularizer.after_step(self.model, lr)
        self.scheduler.step()
        for average in self.averages:
            average.after_step(self.model)
        return lr

    def record_epoch(self, row: dict[str, float]) -> None:
        """Close an epoch whose training metrics are in `row`: divergence, evaluation, history."""
        if self.status == OK and not math.isfinite(row["train_loss"]):
            self.status = DIVERGED
        self._evaluate_into(row)
        for average in self.averages:
            average.after_epoch(self.model, row["epoch"], lambda: preprocessed_batches(self.data, self.eval_batch_size))
            average.evaluate_into(row, self.data, self.eval_batch_size)
        self.history.append(row)
        self._track_best(row)

    def _exploded(self, loss: torch.Tensor) -> bool:
        """Whether this step's loss exceeds explode_factor × the first step's (a NaN loss does too).
        Costs a host sync per step, so only runs that ask for the abort pay it."""
        value = loss.item()
        if self.initial_loss is None:
            self.initial_loss = value
        return not value <= self.spec.train.explode_factor * self.initial_loss

    def _activation_rows(self, moment: str) -> list[dict[str, Any]]:
        batch = self.data.preprocess(to_unit_float(self.data.train.images[:ACTIVATION_SAMPLE]))
        return [{"moment": moment, **row} for row in activation_statistics(self.model, batch, self.spec.activation)]

    def _epoch_0_row(self) -> dict[str, float]:
        """The untrained model scored as after every epoch (eval mode: the training sample,
        validation, test, the weight averages); no training pass has run, so the training-mode
        scores, the learning rate and the throughput are NaN."""
        row = {"epoch": 0, "lr": math.nan, "train_loss": math.nan, "train_acc": math.nan, "train_seconds": 0.0,
               "images_per_s": math.nan}
        self._evaluate_into(row)
        for average in self.averages:
            average.evaluate_into(row, self.data, self.eval_batch_size)
        return row

    def _evaluate_into(self, row: dict[str, float]) -> None:
        row.update(scores({"train_eval": self._evaluate_train_sample(),
                           **{split: evaluate(self.model, self.data, split, self.eval_batch_size,
                                              acceleration=self.acceleration) for split in ("val", "test")}}))
        row["grad_evals"] = self.grad_evals

    def _evaluate_train_sample(self) -> Evaluation:
        """The model in eval mode on the run's fixed sample of training images (see `evaluate`)."""
        return evaluate_split(self.model, self.train_sample, self.data.preprocess, self.eval_batch_size,
                              acceleration=self.acceleration)

    def _track_best(self, row: dict[str, float]) -> None:
        if self.regularizer.patience is None or not row["val_loss"] < self.best_val_loss:
            return
        self.best_val_loss, self.best_state_epoch = row["val_loss"], row["epoch"]
        self.best_weights = copy.deepcopy(self.model.state_dict())

    def finish(self, train_seconds: float) -> Outcome:
        """Close the run: restore early-stopping weights if any, then score the returned model."""
        stopped_early = self.status == OK and self._patience_exhausted()
        restores = self.best_weights is not None and self.status == OK
        if restores:
            self.model.load_state_dict(self.best_weights)
        test = evaluate(self.model, self.data, "test", self.eval_batch_size, keep_probabilities=True,
                        acceleration=self.acceleration)
        passes = self.spec.train.mc_dropout_passes
        mc_dropout = (mc_dropout_test_probabilities(self.model, self.data, passes, self.spec.seed, self.eval_batch_size)
                      if passes and self.status == OK else None)
        val = evaluate(self.model, self.data, "val", self.eval_batch_size, keep_probabilities=True,
                       acceleration=self.acceleration)
        return Outcome(
            status=self.status,
            history=self.history,
            best_val_acc_epoch=best_val_acc_epoch(self.history),
            stopped_early=stopped_early,
            returned_epoch=self.best_state_epoch if restores else (self.epoch or None),
            final=scores({"train_eval": self._evaluate_train_sample(), "val": val, "test": test}),
            test_probabilities=test.probabilities,
            n_parameters=sum(p.numel() for p in self.model.parameters()),
            train_seconds=train_seconds,
            activation_stats=self.start_activations + self._activation_rows("end"),
            mc_dropout_probabilities=mc_dropout,
            val_logits=val.logits if val.logits is not None else torch.zeros(0, test.logits.shape[1]),  # no val split
            test_logits=test.logits,
            epoch_0=self.epoch_0,
        )


def scores(results: dict[str, Evaluation]) -> dict[str, float]:
    """`<name>_loss` and `<name>_acc` of each named evaluation, as epoch rows and `Outcome.final` hold them."""
    return {f"{name}_{metric}": value for name, result in results.items()
            for metric, value in (("loss", result.loss), ("acc", result.accuracy))}


def best_val_acc_epoch(history: list[dict[str, float]]) -> int | None:
    """The epoch of the highest validation accuracy, earliest on ties (never uses test)."""
    finite = [row for row in history if math.isfinite(row["val_acc"])]
    return max(finite, key=lambda row: (row["val_acc"], -row["epoch"]))["epoch"] if finite else None
