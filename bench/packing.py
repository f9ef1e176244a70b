"""Runs per hour when many small runs share one device: one at a time, side by side, or as a group.

K seeds of one small run (the default config's baseline MLP), trained three ways on this machine,
each way timed from the first process start to the last process end (so the start-up of Python,
torch and the data — paid by every Snakemake job — counts):
- **one at a time**: K `trickbench train` jobs in sequence, each with every core (torch threads).
- **side by side**: the same K jobs, `--concurrent` at a time with threads split between them —
  what `snakemake --cores N` does with `execution.threads`, and on a GPU what `execution.gpu_slots`
  allows.
- **seed group**: one process training the K seeds together (`trickbench.train.seed_group`:
  stacked weights, one vmapped forward and backward per step).
Also the in-process training time of one run alone vs the group (no start-up), to separate the
batched computation's gain from the start-up saved. Results must agree: the group's members'
test accuracies equal the jobs' within 0.01 (float rounding flips a few borderline images).

    python bench/packing.py                        # K = 4 seeds, 3 epochs, CPU (or CUDA if present)
    python bench/packing.py --runs 8 --concurrent 4 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import REPO, describe_machine, package_env, write_result

EPOCHS = 3
#: members and jobs differ by float rounding only: a few of 846 borderline test images may flip
AGREEMENT = 0.01


def specs(runs: int, epochs: int, model: str):
    """K seeds of the default config's baseline (or of a small CNN), `epochs` long."""
    from trickbench.config import load_config
    from trickbench.design import baseline_spec

    overrides = {"studies": "none", "train": {"epochs": epochs}}
    if model == "small-cnn":
        overrides["model"] = {"name": "cnn", "depth": 2, "width": 16}
    config = load_config(REPO / "config.yaml", overrides=overrides)
    return [baseline_spec(config, seed) for seed in range(runs)]


def job(spec, root: Path, threads: int, device: str) -> list[str]:
    return [sys.executable, "-m", "trickbench", "train", "--spec", spec.canonical_json(),
            "--run-dir", str(root / spec.run_id), "--threads", str(threads), "--device", device]


def run_jobs(all_specs, concurrent: int, threads: int, device: str) -> tuple[float, list[float]]:
    """Wall seconds for every job, `concurrent` at a time; their final test accuracies."""
    with tempfile.TemporaryDirectory(prefix="trickbench-packing-") as tmp:
        root, pending, running = Path(tmp), list(all_specs), []
        start = time.perf_counter()
        while pending or running:
            while pending and len(running) < concurrent:
                spec = pending.pop(0)
                log = open(root / f"{spec.run_id}.log", "w")
                running.append((subprocess.Popen(job(spec, root, threads, device), env=package_env(), stdout=log,
                                                 stderr=subprocess.STDOUT), log))
            finished, log = running.pop(0)
            log.close()
            if finished.wait() != 0:
                sys.exit(f"a training job failed:\n{Path(log.name).read_text()[-2000:]}")
        seconds = time.perf_counter() - start
        accuracies = [json.loads((root / s.run_id / "summary.json").read_text())["final_test_acc"] for s in all_specs]
    return seconds, accuracies


def run_group(runs: int, epochs: int, model: str, threads: int, device: str) -> tuple[float, dict]:
    """Wall seconds of one process training the K seeds as a group (start-up included)."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, __file__, "--group-worker", "--runs", str(runs), "--epochs", str(epochs),
                             "--model", model, "--threads", str(threads), "--device", device],
                            env=package_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"the seed group failed:\n{result.stderr[-2000:]}")
    return seconds, json.loads(result.stdout.strip().splitlines()[-1])


def group_worker(runs: int, epochs: int, model: str, threads: int, device_name: str) -> None:
    """In the child process: train alone once (in-process time) and the group; print JSON."""
    import torch

    from trickbench.data.device_data import prepare
    from trickbench.data.sources import SOURCES
    from trickbench.run import resolve_device
    from trickbench.train.loop import Trainer
    from trickbench.train.seed_group import train_seed_group

    torch.set_num_threads(threads)
    device = resolve_device(device_name)
    group_specs = specs(runs, epochs, model)
    images = SOURCES.build(group_specs[0].data.source, Path("data"), False)
    data = prepare(images, group_specs[0].data, group_specs[0].preprocessing, device)
    start = time.perf_counter()
    outcomes = train_seed_group(group_specs, data, device)
    group_seconds = time.perf_counter() - start
    start = time.perf_counter()
    single = Trainer(group_specs[0], data, device)
    while not single.finished:
        single.train_epoch()
    single_seconds = time.perf_counter() - start
    print(json.dumps({"group_in_process_seconds": group_seconds, "single_in_process_seconds": single_seconds,
                      "test_acc": [o.history[-1]["test_acc"] for o in outcomes]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4, help="K: seeds of the run")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--model", choices=["mlp", "small-cnn"], default="mlp")
    parser.add_argument("--concurrent", type=int, default=None, help="jobs side by side (default: usable cores)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--group-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    machine = describe_machine()
    cores = machine["cores_usable"]
    if args.group_worker:
        return group_worker(args.runs, args.epochs, args.model, args.threads, args.device)
    concurrent = args.concurrent or cores
    all_specs = specs(args.runs, args.epochs, args.model)
    per_hour = lambda seconds: round(3600 * args.runs / seconds, 1)

    sequential, accuracies = run_jobs(all_specs, 1, cores, args.device)
    print(f"one at a time ({cores} threads each):        {sequential:7.1f} s  {per_hour(sequential):8.1f} runs/hour")
    side, _ = run_jobs(all_specs, concurrent, max(1, cores // concurrent), args.device)
    print(f"{concurrent} side by side ({max(1, cores // concurrent)} thread(s) each):  {side:7.1f} s  {per_hour(side):8.1f} runs/hour")
    grouped, inside = run_group(args.runs, args.epochs, args.model, cores, args.device)
    print(f"seed group of {args.runs} in one process:         {grouped:7.1f} s  {per_hour(grouped):8.1f} runs/hour")
    print(f"in-process training only: {args.runs} runs alone ≈ {args.runs * inside['single_in_process_seconds']:.1f} s, "
          f"as a group {inside['group_in_process_seconds']:.1f} s")
    difference = max(abs(a - b) for a, b in zip(accuracies, inside["test_acc"]))
    agree = difference <= AGREEMENT
    best = min(("side_by_side", side), ("seed_group", grouped), key=lambda item: item[1])
    print(f"best: {best[0]}, {sequential / best[1]:.2f}x the runs/hour of one at a time; "
          f"members' test accuracies within {difference:.4f} of the jobs' "
          f"({'agree' if agree else 'DISAGREE'}, limit {AGREEMENT})")
    write_result("packing", {
        "device": args.device if args.device != "auto" else machine["device"], "runs": args.runs, "epochs": args.epochs,
        "model": args.model, "concurrent": concurrent,
        "one_at_a_time": {"seconds": round(sequential, 1), "runs_per_hour": per_hour(sequential), "threads": cores},
        "side_by_side": {"seconds": round(side, 1), "runs_per_hour": per_hour(side), "threads": max(1, cores // concurrent)},
        "seed_group": {"seconds": round(grouped, 1), "runs_per_hour": per_hour(grouped), "threads": cores},
        "in_process": {"single_seconds": round(inside["single_in_process_seconds"], 2),
                       "group_seconds": round(inside["group_in_process_seconds"], 2),
                       "group_speedup": round(args.runs * inside["single_in_process_seconds"] / inside["group_in_process_seconds"], 2)},
        "speedup_side_by_side": round(sequential / side, 2), "speedup_seed_group": round(sequential / grouped, 2),
        "job_test_acc": accuracies, "group_test_acc": inside["test_acc"],
        "max_test_acc_difference": round(difference, 4), "same_results_within": AGREEMENT, "same_results": agree,
    }, machine)


if __name__ == "__main__":
    main()
