"""Training images per second: trickbench's training step against the loop most users write.

Three measurements of the same model, batch size, optimizer, schedule and epochs, on the same
machine, in one process (seeds interleaved, so a change of machine load hits both alike):
- **ours**: `trickbench.train.loop.Trainer` — uint8 images resident on the device, each batch
  gathered by index, cropped, flipped and standardized as whole tensors, metrics summed on the
  device and read once per epoch, under the device's `Acceleration` (bf16 + channels_last on CUDA).
- **reference**: a torchvision-style `Dataset` of PIL images made from the same embedded npz,
  `RandomCrop(32, padding=4)`, `RandomHorizontalFlip`, `ToTensor`, `Normalize` (training-split
  statistics), a `DataLoader(shuffle=True, num_workers=<cores>)`, and a plain float32 loop that
  reads the loss with `.item()` each step — as in the PyTorch CIFAR-10 tutorial.
- **ceiling**: forward + backward + optimizer step on one batch already on the device, with our
  acceleration: what the model costs with no data work at all.

Wall-clock images/s is the target's measure; images per CPU second (this process's threads plus
the DataLoader workers, evaluation excluded) is recorded beside it, because on a shared machine
the scheduler gives a loader's three processes more of the cores than one process gets.

Correctness: both paths train `--seeds` seeds from the same initialization; their test accuracies
(mean ± std) must agree within seed noise (|difference| ≤ 2 standard errors of the difference).
Targets on a 2-core CPU: ≥ 3× for the MLP, ≥ 1.6× for the small CNN; on a GPU ≥ 5× and ≥ 85 % of
the ceiling.

    python bench/throughput.py                          # mlp and cnn, 3 seeds, CPU (or CUDA if present)
    python bench/throughput.py --models cnn --epochs 3 --seeds 1
"""

from __future__ import annotations

import argparse
import math
import resource
import statistics
import time
from dataclasses import replace
from pathlib import Path

from machine import REPO, describe_machine, write_result

import torch
from torch import nn

from trickbench.config import load_config
from trickbench.data.device_data import DeviceData, prepare, to_unit_float
from trickbench.data.sources import SOURCES
from trickbench.design import baseline_spec, resolve_level
from trickbench.models import MODELS, Parts, build_model
from trickbench.spec import RunSpec
from trickbench.techniques.inits import INITS, InitContext
from trickbench.techniques.optimizers import OPTIMIZERS
from trickbench.techniques.schedules import lr_multiplier
from trickbench.train.acceleration import choose_acceleration
from trickbench.train.evaluate import evaluate
from trickbench.train.loop import Trainer

MODEL_LEVELS = {"mlp": {"name": "mlp", "depth": 2, "width": 256}, "cnn": {"name": "cnn", "depth": 3, "width": 32}}
TARGETS = {"cpu": {"mlp": 3.0, "cnn": 1.6}, "cuda": {"mlp": 5.0, "cnn": 5.0}}


def bench_spec(model: str, epochs: int, seed: int) -> RunSpec:
    """The default config's baseline with batch norm (so a few epochs train stably and seed noise
    stays small enough to compare accuracies) and crop + flip augmentation (what the reference does)."""
    config = load_config(REPO / "config.yaml", overrides={"model": MODEL_LEVELS[model], "studies": "none",
                                                          "baseline": {"norm": "batch"}})
    config["train"]["epochs"] = epochs
    spec = baseline_spec(config, seed)
    return replace(spec, regularizer=resolve_level("regularizer", "augment", "regularizer"))


# -- ours ------------------------------------------------------------------------------------
def cpu_seconds() -> float:
    """CPU time of this process's threads and of its finished children (DataLoader workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def train_ours(spec: RunSpec, data: DeviceData, device: torch.device, precision: str) -> dict:
    trainer = Trainer(spec, data, device, acceleration=choose_acceleration(device, precision))
    images = seconds = cpu = 0.0
    while not trainer.finished:
        start = cpu_seconds()
        row = trainer.train_epoch()
        epoch_cpu = cpu_seconds() - start
        start = cpu_seconds()  # the epoch's CPU time included its evaluation: measure it again to take it out
        for split in ("val", "test"):
            evaluate(trainer.model, data, split, trainer.eval_batch_size, acceleration=trainer.acceleration)
        cpu += epoch_cpu - (cpu_seconds() - start)
        images += len(data.train)
        seconds += row["train_seconds"]
    return {"images_per_s": images / seconds, "images_per_cpu_s": images / cpu,
            "test_acc": trainer.history[-1]["test_acc"], "acceleration": trainer.acceleration.describe()}


# -- the reference: how most people write it ---------------------------------------------------
class PILImages(torch.utils.data.Dataset):
    """A torchvision-style data set: one PIL image per item, transformed one at a time."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform):
        self.images = images.permute(0, 2, 3, 1).contiguous().numpy()  # N×H×W×C uint8, as CIFAR10 keeps it
        self.labels = labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[index])), self.labels[index]


def reference_model(spec: RunSpec, data: DeviceData, device: torch.device) -> nn.Module:
    """The same network with the same initialization as ours (same seed, same init technique)."""
    torch.manual_seed(spec.seed)
    parts = Parts(data.input_shape, data.num_classes, spec.activation, spec.norm)
    model = build_model(spec.model, parts).to(device)
    first = data.preprocess(to_unit_float(data.train.images[: spec.train.batch_size]))
    INITS.build(spec.init, model, InitContext(spec.activation, first))
    return model


def train_reference(spec: RunSpec, data: DeviceData, device: torch.device, workers: int) -> dict:
    from torchvision import transforms

    train_float = to_unit_float(data.train.images.cpu())
    mean, std = train_float.mean(dim=(0, 2, 3)).tolist(), train_float.std(dim=(0, 2, 3)).tolist()
    transform = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                                    transforms.ToTensor(), transforms.Normalize(mean, std)])
    dataset = PILImages(data.train.images.cpu(), data.train.labels.cpu(), transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size=spec.train.batch_size, shuffle=True,
                                         num_workers=workers, pin_memory=device.type == "cuda")
    model = reference_model(spec, data, device)
    optimizer = OPTIMIZERS.build(spec.optimizer, model)
    steps = spec.train.epochs * len(loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_multiplier(spec.schedule, steps, 0))
    criterion = nn.CrossEntropyLoss()
    images, seconds, cpu = 0, 0.0, 0.0
    for _ in range(spec.train.epochs):
        model.train()
        start, start_cpu, running_loss, correct = time.perf_counter(), cpu_seconds(), 0.0, 0
        for inputs, labels in loader:
            inputs, labels = inputs.to(device), labels.to(device)
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            scheduler.step()
            running_loss += loss.item() * len(labels)
            correct += (outputs.argmax(1) == labels).sum().item()
            images += len(labels)
        seconds += time.perf_counter() - start
        cpu += cpu_seconds() - start_cpu  # the workers of this epoch have exited and been reaped
    test = evaluate(model, data, "test", 1024)
    return {"images_per_s": images / seconds, "images_per_cpu_s": images / cpu, "test_acc": test.accuracy}


# -- the ceiling ---------------------------------------------------------------------------------
def ceiling(spec: RunSpec, data: DeviceData, device: torch.device, precision: str, steps: int) -> tuple[float, float]:
    """Images per second and per CPU second of forward + backward + step alone, on one
    preprocessed batch on the device."""
    model = reference_model(spec, data, device)
    acceleration = choose_acceleration(device, precision).for_model(model)
    forward = acceleration.prepare(model)
    optimizer = OPTIMIZERS.build(spec.optimizer, model)
    criterion = nn.CrossEntropyLoss()
    batch = acceleration.inputs(data.preprocess(to_unit_float(data.train.images[: spec.train.batch_size])))
    labels = data.train.labels[: spec.train.batch_size]

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with acceleration.autocast():
            logits = forward(batch)
        criterion(logits.float(), labels).backward()
        optimizer.step()

    for _ in range(max(3, steps // 10)):  # warm-up: allocator, cuDNN autotuning
        step()
    synchronize(device)
    start, start_cpu = time.perf_counter(), cpu_seconds()
    for _ in range(steps):
        step()
    synchronize(device)
    return steps * len(labels) / (time.perf_counter() - start), steps * len(labels) / (cpu_seconds() - start_cpu)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def within_noise(a: list[float], b: list[float]) -> tuple[float, float, bool]:
    """Difference of means, its standard error, and whether |difference| ≤ 2 standard errors."""
    difference = statistics.mean(a) - statistics.mean(b)
    if len(a) < 2:
        return difference, math.nan, True
    error = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
    return difference, error, abs(difference) <= 2 * error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=list(MODEL_LEVELS), default=["mlp", "cnn"])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto", help="of ours and the ceiling")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: usable cores)")
    parser.add_argument("--workers", type=int, default=None, help="reference DataLoader workers (default: usable cores)")
    parser.add_argument("--ceiling-steps", type=int, default=50)
    args = parser.parse_args()
    machine = describe_machine()
    cores = machine["cores_usable"]
    threads, workers = args.threads or cores, args.workers if args.workers is not None else cores
    torch.set_num_threads(threads)
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu")
    images = SOURCES.build(SOURCES.resolve("cifar10-mini", "data.source"), Path("data"), False)
    results = {}
    for model in args.models:
        spec0 = bench_spec(model, args.epochs, 0)
        data = prepare(images, spec0.data, spec0.preprocessing, device)
        ours, reference = [], []
        for seed in range(args.seeds):
            spec = replace(spec0, seed=seed)
            ours.append(train_ours(spec, data, device, args.precision))
            reference.append(train_reference(spec, data, device, workers))
            print(f"{model} seed {seed}: ours {ours[-1]['images_per_s']:8.0f} img/s, test acc {ours[-1]['test_acc']:.3f}; "
                  f"reference {reference[-1]['images_per_s']:8.0f} img/s, test acc {reference[-1]['test_acc']:.3f}")
        top, top_cpu = ceiling(spec0, data, device, args.precision, args.ceiling_steps)
        ours_ips = statistics.median(r["images_per_s"] for r in ours)
        ref_ips = statistics.median(r["images_per_s"] for r in reference)
        ours_cpu = statistics.median(r["images_per_cpu_s"] for r in ours)
        ref_cpu = statistics.median(r["images_per_cpu_s"] for r in reference)
        ours_acc, ref_acc = [r["test_acc"] for r in ours], [r["test_acc"] for r in reference]
        difference, error, agree = within_noise(ours_acc, ref_acc)
        target = TARGETS[device.type][model]
        results[model] = {
            "model": MODEL_LEVELS[model], "epochs": args.epochs, "batch_size": spec0.train.batch_size,
            "seeds": args.seeds, "acceleration": ours[0]["acceleration"], "threads": threads, "reference_workers": workers,
            "ours_images_per_s": round(ours_ips, 1), "reference_images_per_s": round(ref_ips, 1),
            "ceiling_images_per_s": round(top, 1), "speedup": round(ours_ips / ref_ips, 2), "target_speedup": target,
            "fraction_of_ceiling": round(ours_ips / top, 3),
            "ours_images_per_cpu_s": round(ours_cpu, 1), "reference_images_per_cpu_s": round(ref_cpu, 1),
            "ceiling_images_per_cpu_s": round(top_cpu, 1), "speedup_per_cpu_second": round(ours_cpu / ref_cpu, 2),
            "fraction_of_ceiling_per_cpu_second": round(ours_cpu / top_cpu, 3),
            "ours_test_acc": ours_acc, "reference_test_acc": ref_acc,
            "test_acc_difference": round(difference, 4), "difference_standard_error": round(error, 4),
            "same_accuracy_within_noise": agree,
        }
        print(f"{model}: {results[model]['speedup']:.2f}x the reference (target {target}x); "
              f"{100 * results[model]['fraction_of_ceiling']:.0f}% of the ceiling ({top:.0f} img/s); per CPU second "
              f"{results[model]['speedup_per_cpu_second']:.2f}x and {100 * ours_cpu / top_cpu:.0f}% of the ceiling; "
              f"test acc {statistics.mean(ours_acc):.3f} vs {statistics.mean(ref_acc):.3f} "
              f"(difference {difference:+.3f} ± {error:.3f}: {'within' if agree else 'OUTSIDE'} seed noise)")
    write_result("throughput", {"device": str(device), "results": results}, machine)


if __name__ == "__main__":
    main()
