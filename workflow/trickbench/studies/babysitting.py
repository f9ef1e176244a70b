"""Babysitting checks: the sanity checks a careful practitioner runs before a long training run.

From the cs231n notes ("Neural Networks Part 3: before learning: sanity checks") and Karpathy's
"A Recipe for Training Neural Networks" (2019), each reported pass/fail with its number:

1. with regularization off, the initial loss is close to ln(classes) — the loss of a uniform guess;
2. raising the regularization strength raises the initial loss (the penalty is wired in);
3. the baseline can overfit a tiny training subset (20 examples) to 100 % training accuracy;
   (checks 1–3 run once per seed of studies.babysitting.seeds, so that a claim reads them with an
   interval over seeds)
4. the gradients of every custom layer match finite differences (torch.autograd.gradcheck, float64).
   "Custom" means any module the registries build that is not a torch.nn layer, found by building
   every registered activation, normalization and model, so a newly registered one is checked too.
   Every regularizer's penalty term is checked the same way.

The checks train nothing through the workflow (they run on the baseline in the study's own step).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import matplotlib.pyplot as plt
import pandas as pd
import torch
from torch import nn

from trickbench.data.device_data import DeviceData, Split, prepare, to_unit_float
from trickbench.data.cache import read_images
from trickbench.design import baseline_spec
from trickbench.errors import ConfigError
from trickbench.models import MODELS, Parts
from trickbench.registry import Registry, Technique
from trickbench.report.figures import Tables, figure
from trickbench.report.style import apply_theme
from trickbench.run import resolve_device
from trickbench.spec import RunSpec
from trickbench.studies import Study, is_enabled, register_study
from trickbench.techniques.activations import ACTIVATIONS
from trickbench.techniques.inits import INITS
from trickbench.techniques.norms import NORMS
from trickbench.techniques.regularizers import REGULARIZERS, Regularizer
from trickbench.train.loop import Trainer

NAME = "babysitting"
TITLE = "Babysitting checks"
COLUMNS = ["check", "subject", "seed", "measured", "expected", "passed", "detail"]
#: finite-difference step and tolerances of the gradient checks (float64)
GRADCHECK = {"eps": 1e-6, "atol": 1e-5, "rtol": 1e-3}


def settings(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config["studies"][NAME]


def check_row(check: str, subject: str, measured: float, expected: str, passed: bool, detail: str = "") -> dict[str, Any]:
    """One check's row; its seed (of the model and the subset) is set by `run_checks`, and stays
    empty for the seed-free gradient checks."""
    return dict(zip(COLUMNS, [check, subject, None, measured, expected, bool(passed), detail]))


# -- 1 and 2: the initial loss -------------------------------------------------------------------
def unregularized(spec: RunSpec) -> RunSpec:
    return dataclasses.replace(spec, regularizer=())


@torch.no_grad()
def initial_loss(trainer: Trainer, images: torch.Tensor, labels: torch.Tensor) -> float:
    """The training loss (data term + penalty) of the untrained model on one batch, in training mode."""
    trainer.model.train()
    logits = trainer.model(trainer.data.preprocess(to_unit_float(images)))
    return float(trainer.criterion(logits, labels) + trainer.regularizer.penalty(trainer.model))


def initial_loss_check(spec: RunSpec, data: DeviceData, tolerance: float, init: Any = None) -> dict[str, Any]:
    """Initial loss vs ln C: with random weights a network should not yet prefer any class. `init`
    (a level; None: the baseline's) is the check's own initialization — the lecture's check is for
    small weights, 0.0001·randn, at which the logits are near 0 whatever the network."""
    if init is not None:
        spec = dataclasses.replace(spec, init=INITS.resolve(init, f"studies.{NAME}.init"))
    trainer = Trainer(unregularized(spec), data, data.train.images.device)
    batch = slice(0, spec.train.batch_size)
    measured, expected = initial_loss(trainer, data.train.images[batch], data.train.labels[batch]), math.log(data.num_classes)
    subject = "baseline, regularization off" + ("" if init is None else f", init {INITS.label(spec.init)}")
    return check_row("initial loss ≈ ln(classes)", subject, measured,
                     f"{expected:.4f} ± {100 * tolerance:g} %", abs(measured - expected) <= tolerance * expected,
                     f"ln({data.num_classes}) = {expected:.4f}; relative deviation {abs(measured - expected) / expected:.3f}")


def regularization_check(spec: RunSpec, data: DeviceData, regularizer: str, strengths: list[float]) -> list[dict[str, Any]]:
    """The initial loss at increasing strengths of one regularizer, same weights and batch: it must rise."""
    batch = slice(0, spec.train.batch_size)
    losses = []
    for strength in sorted(strengths):
        level = REGULARIZERS.resolve({"name": regularizer, "strength": float(strength)}, f"studies.{NAME}.regularizer")
        trainer = Trainer(dataclasses.replace(spec, regularizer=(level,)), data, data.train.images.device)
        losses.append((strength, initial_loss(trainer, data.train.images[batch], data.train.labels[batch])))
    return [check_row("loss rises with regularization", f"{regularizer} strength {low:g} → {high:g}", after,
                      f"> {before:.4f}", after > before, f"initial loss {before:.4f} at {low:g}, {after:.4f} at {high:g}")
            for (low, before), (high, after) in zip(losses, losses[1:])]


# -- 3: overfit a tiny subset --------------------------------------------------------------------
def tiny_subset(data: DeviceData, size: int, seed: int) -> DeviceData:
    """`size` random training examples as the whole training split; no validation or test."""
    chosen = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(seed))[:size].to(data.train.images.device)
    empty = Split(data.train.images[:0], data.train.labels[:0])
    return dataclasses.replace(data, train=Split(data.train.images[chosen], data.train.labels[chosen]), val=empty, test=empty)


def overfit_check(spec: RunSpec, data: DeviceData, size: int, max_steps: int, seed: int) -> dict[str, Any]:
    """Full-batch training of the unregularized baseline on `size` examples until they are all right."""
    subset = tiny_subset(data, size, seed)
    train = dataclasses.replace(spec.train, epochs=max_steps, batch_size=len(subset.train), explode_factor=0.0)
    trainer = Trainer(dataclasses.replace(unregularized(spec), train=train), subset, subset.train.images.device)
    row = {"train_acc": 0.0, "train_loss": math.nan}
    while not trainer.finished and row["train_acc"] < 1.0:
        row = trainer.train_epoch()  # one step; accuracy of the batch as that step saw it
    steps = trainer.epoch
    return check_row(f"overfit {len(subset.train)} examples", f"baseline, regularization off, ≤ {max_steps} steps",
                     row["train_acc"], "1.0", row["train_acc"] == 1.0,
                     f"{'reached' if row['train_acc'] == 1.0 else 'not reached'} after {steps} full-batch steps; "
                     f"loss {row['train_loss']:.4f}; status {trainer.status}")


# -- 4: gradients of custom layers ---------------------------------------------------------------
def is_custom(module: nn.Module) -> bool:
    """A module class defined outside torch (torch's own layers are trusted)."""
    return not type(module).__module__.startswith("torch.")


def custom_classes(module: nn.Module) -> list[str]:
    return sorted({type(m).__name__ for m in module.modules() if is_custom(m)})


@dataclasses.dataclass(frozen=True)
class Subject:
    """One built instance to check: what it is, the module, and an input for it."""

    name: str
    module: nn.Module
    inputs: torch.Tensor


def small(technique: Technique, registry: Registry) -> Technique:
    """The technique with each integer size at most 2 (within its bounds): cheap to check, not degenerate."""
    entry = registry.get(technique.name)
    sizes = {}
    for name, value in technique.params:
        if isinstance(value, int) and not isinstance(value, bool):
            low = entry.bounds.get(name, (None, None))[0]
            sizes[name] = min(value, max(2, low if low is not None else 2))
    return registry.resolve({**technique.as_dict(), **sizes}, registry.family)


Variant = tuple[str, Callable[[], nn.Module], Callable[[nn.Module], tuple[int, ...]]]  # suffix, build, input shape


def _instances(registry: Registry, variants: Callable[[Technique], list[Variant]]) -> Iterator[Subject]:
    """Each entry built with its default parameters in each variant; a variant the technique itself
    refuses (a ConfigError, e.g. instance norm on a dense layer) does not apply and is skipped."""
    generator = torch.Generator().manual_seed(0)
    for entry in registry:
        for suffix, build, shape in variants(Technique(entry.name, tuple(sorted(entry.defaults.items())))):
            try:
                module = build()
            except ConfigError:
                continue
            yield Subject(f"{registry.family} {entry.name}{suffix}", module,
                          torch.randn(shape(module), generator=generator, dtype=torch.float64))


#: channels of the layers the normalizations wrap: divisible by small group counts (group norm's 8)
NORM_WIDTH = 8


def module_subjects() -> Iterator[Subject]:
    """Every activation, normalization and model the registries build, with a small input each."""

    def activation(t: Technique) -> list[Variant]:
        return [("", lambda: ACTIVATIONS.build(t, 4), lambda m: (3, 4 * getattr(m, "expansion", 1)))]

    def norm(t: Technique) -> list[Variant]:
        w = NORM_WIDTH
        return [(" (dense)", lambda: NORMS.build(t, nn.Linear(w, w), w, False, 0), lambda m: (3, w)),
                (" (conv)", lambda: NORMS.build(t, nn.Conv2d(w, w, 3, padding=1), w, True, 0), lambda m: (3, w, 4, 4))]

    def model(t: Technique) -> list[Variant]:
        # tanh: smooth everywhere, so finite differences never straddle a kink; 16×16 images keep
        # a few positions per channel for batch norm even after four halvings
        parts = Parts((3, 16, 16), 3, ACTIVATIONS.resolve("tanh", "activation"), NORMS.resolve("batch", "norm"))
        return [("", lambda: MODELS.build(small(t, MODELS), parts), lambda m: (4, 3, 16, 16))]

    yield from _instances(ACTIVATIONS, activation)
    yield from _instances(NORMS, norm)
    yield from _instances(MODELS, model)


def directional_error(fn: Callable[..., torch.Tensor], inputs: tuple[torch.Tensor, ...], eps: float = 1e-6) -> float:
    """|analytic − central-difference| / scale of one random directional derivative of a random
    projection of fn's output: the margin behind gradcheck's verdict, as a number."""
    generator = torch.Generator().manual_seed(1)
    directions = [torch.randn(x.shape, generator=generator, dtype=x.dtype) for x in inputs]
    output = fn(*inputs)
    weights = torch.randn(output.shape, generator=generator, dtype=output.dtype)
    grads = torch.autograd.grad((output * weights).sum(), inputs, allow_unused=True)
    analytic = sum(float((g * d).sum()) for g, d in zip(grads, directions) if g is not None)
    with torch.no_grad():
        shifted = lambda sign: float((fn(*[x + sign * eps * d for x, d in zip(inputs, directions)]) * weights).sum())
        numeric = (shifted(1) - shifted(-1)) / (2 * eps)
    return abs(analytic - numeric) / max(abs(analytic), abs(numeric), 1e-12)


def gradient_check(fn: Callable[..., torch.Tensor], inputs: tuple[torch.Tensor, ...]) -> tuple[bool, float]:
    """(torch.autograd.gradcheck's verdict, directional relative error) of fn at `inputs` (float64)."""
    passed = torch.autograd.gradcheck(fn, inputs, fast_mode=True, raise_exception=False, **GRADCHECK)
    return passed, directional_error(fn, inputs, GRADCHECK["eps"])


def flat_parameters(module: nn.Module) -> tuple[torch.Tensor, Callable[[torch.Tensor], dict[str, torch.Tensor]]]:
    """The module's parameters as one float64 vector (gradcheck's cost grows with the number of
    input tensors, not their size), and the map from such a vector back to named tensors."""
    named = list(module.named_parameters())
    flat = torch.cat([p.detach().double().flatten() for _, p in named] or [torch.zeros(0, dtype=torch.float64)])
    flat.requires_grad_()

    def unflatten(vector: torch.Tensor) -> dict[str, torch.Tensor]:
        pieces = vector.split([p.numel() for _, p in named])
        return {name: piece.view(p.shape) for (name, p), piece in zip(named, pieces)}

    return flat, unflatten


def approximate_in_training(module: nn.Module) -> list[str]:
    """Classes inside `module` whose training-mode backward is deliberately not the exact derivative
    of their forward (they say so with `exact_training_gradient = False`, e.g. batch renorm's
    stop-gradient r and d): finite differences cannot confirm those, so they are checked in eval mode."""
    return sorted({type(m).__name__ for m in module.modules() if getattr(m, "exact_training_gradient", True) is False})


def module_gradient_row(subject: Subject) -> dict[str, Any]:
    """Check a module's gradients with respect to its input and every parameter at once: in
    training mode (batch norm normalizes with the batch's statistics, as in training) unless a part
    declares its training gradient approximate by design, then in eval mode."""
    approximate = approximate_in_training(subject.module)
    module = subject.module.double().train(not approximate)
    flat, unflatten = flat_parameters(module)
    buffers = dict(module.named_buffers())

    def forward(x, vector=torch.zeros(0, dtype=torch.float64)):
        return torch.func.functional_call(module, {**buffers, **unflatten(vector)}, (x,))

    inputs = (subject.inputs.requires_grad_(), flat) if flat.numel() else (subject.inputs.requires_grad_(),)
    passed, error = gradient_check(forward, inputs)
    return check_row("gradients vs finite differences", f"{subject.name} [{', '.join(custom_classes(subject.module))}]",
                     error, "gradcheck passes", passed,
                     f"float64, eps {GRADCHECK['eps']:g}, atol {GRADCHECK['atol']:g}, rtol {GRADCHECK['rtol']:g}; "
                     f"{flat.numel()} parameters and a {tuple(subject.inputs.shape)} input; "
                     + (f"eval mode ({', '.join(approximate)}: training gradient approximate by design); " if approximate
                        else "training mode; ")
                     + "measured: relative error of a random directional derivative")


class PenaltyOf(nn.Module):
    """A regularizer's penalty term as a module of the network it penalizes, so that
    `functional_call` can differentiate it with respect to that network's parameters."""

    def __init__(self, regularizer: Regularizer, network: nn.Module):
        super().__init__()
        self.regularizer, self.network = regularizer, network

    def forward(self) -> torch.Tensor:
        return torch.as_tensor(self.regularizer.penalty(self.network), dtype=torch.float64)


def penalty_rows() -> list[dict[str, Any]]:
    """Every regularizer that adds a penalty term, checked w.r.t. a small network's parameters."""
    rows = []
    for entry in REGULARIZERS:
        regularizer = REGULARIZERS.build(Technique(entry.name, tuple(sorted(entry.defaults.items()))))
        module = PenaltyOf(regularizer, nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)).double())
        flat, unflatten = flat_parameters(module)

        def penalty(vector, module=module, unflatten=unflatten):
            return torch.func.functional_call(module, unflatten(vector), ())

        if not penalty(flat).requires_grad:
            continue  # this regularizer acts elsewhere (inputs, targets, updates): no penalty term
        passed, error = gradient_check(penalty, (flat,))
        rows.append(check_row("gradients vs finite differences", f"regularizer {entry.name} (penalty term)", error,
                              "gradcheck passes", passed,
                              f"float64, eps {GRADCHECK['eps']:g}, atol {GRADCHECK['atol']:g}, rtol {GRADCHECK['rtol']:g}; "
                              "w.r.t. the parameters of a 4-3-2 network"))
    return rows


def gradient_rows() -> list[dict[str, Any]]:
    rows = [module_gradient_row(s) for s in module_subjects() if custom_classes(s.module)]
    return rows + penalty_rows()


# -- the study -----------------------------------------------------------------------------------
def run_checks(config: Mapping[str, Any]) -> pd.DataFrame:
    study = settings(config)
    spec = baseline_spec(config, study["seeds"][0])
    if study["regularizer"] not in REGULARIZERS or "strength" not in REGULARIZERS.get(study["regularizer"]).defaults:
        allowed = ", ".join(e.name for e in REGULARIZERS if "strength" in e.defaults)
        raise ConfigError(f"studies.{NAME}.regularizer", study["regularizer"], f"a regularizer with a strength: {allowed}")
    execution = config["execution"]
    images = read_images(spec.data.source, Path(execution["data_root"]), execution["download"])
    data = prepare(images, spec.data, spec.preprocessing, resolve_device(execution["device"]))
    rows = []
    for seed in study["seeds"]:  # the checks a claim reads, once per seed: the model, the batch and the subset
        seeded = baseline_spec(config, seed)
        checks = [initial_loss_check(seeded, data, study["loss_tolerance"], study.get("init")),
                  *regularization_check(seeded, data, study["regularizer"], study["strengths"]),
                  overfit_check(seeded, data, study["subset"], study["max_steps"], seed)]
        rows += [{**row, "seed": seed} for row in checks]
    rows += gradient_rows()
    return pd.DataFrame(rows, columns=COLUMNS).astype({"seed": "Int64"})


def analyze(config: Mapping[str, Any], run_dirs: list[Path]) -> dict[str, pd.DataFrame]:
    return {NAME: run_checks(config)}


register_study(Study(NAME, TITLE, lambda config: [], analyze, tables=(NAME,)))


@figure("babysitting_checks", title="Sanity checks: pass/fail with the number behind each", section=TITLE,
        tables=(NAME,), enabled=lambda config: is_enabled(config, NAME))
def babysitting_checks(tables: Tables, config: Mapping[str, Any]):
    apply_theme()
    checks = tables[NAME]
    cells = [[row["check"], row["subject"] + ("" if pd.isna(row["seed"]) else f", seed {int(row['seed'])}"),
              f"{row['measured']:.4g}", str(row["expected"]), "PASS" if row["passed"] else "FAIL"]
             for row in checks.to_dict("records")]
    fig, ax = plt.subplots(figsize=(13, 0.5 + 0.34 * (len(cells) + 1)))
    ax.set_axis_off()
    table = ax.table(cellText=cells, colLabels=["check", "subject", "measured", "expected", "verdict"],
                     loc="upper left", cellLoc="left", colWidths=[0.22, 0.38, 0.1, 0.22, 0.08])
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.35)
    for r, row in enumerate(checks.to_dict("records"), start=1):
        table[r, 4].set_facecolor("#cdebd3" if row["passed"] else "#f6c8c0")
    for c in range(5):
        table[0, c].set_facecolor("#eef1f4")
    passed = int(checks["passed"].sum())
    ax.set_title(f"{passed} of {len(checks)} checks pass", loc="left", fontsize=11)
    return fig, checks
