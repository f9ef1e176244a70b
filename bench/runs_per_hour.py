"""Runs per hour on one device, packed: the goal is 1,000 runs an hour of the small CNN on one GPU.

Each run: 50,000 CIFAR-shaped images (32×32×3, synthetic: class patterns plus noise — the shape,
not the content, sets the cost), 10 epochs of the small CNN of bench/throughput.py, batch 128,
validation and test evaluated every epoch — through `trickbench train-many`, the command every
workflow job runs, so process start-up, CUDA initialization and data generation are paid as in
the workflow. Two ways, timed from the first process start to the last process end:
- **one run per process, one process at a time** (execution.runs_per_job 1, gpu_slots 1): the
  plain workflow;
- **packed**: `--slots` processes side by side on the device (gpu_slots), each training `--seeds`
  runs (runs_per_job) that differ only in their seed as one seed group (one batched pass per step;
  seed_groups auto: on a GPU).

    python bench/runs_per_hour.py                       # on a GPU (minutes)
    python bench/runs_per_hour.py --smoke               # toy sizes on the CPU (seconds): does it work
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe_machine, package_env, write_result

GOAL_RUNS_PER_HOUR = 1000.0
SIZES = {"full": {"n_train": 50_000, "n_test": 10_000, "epochs": 10},
         "smoke": {"n_train": 512, "n_test": 128, "epochs": 1}}
SMALL_CNN = {"name": "cnn", "depth": 3, "width": 32}  # bench/throughput.py's small CNN


def seed_specs(seeds: list[int], size: dict) -> list:
    """The default config's baseline with batch norm on synthetic CIFAR-shaped images, small CNN."""
    from trickbench.config import load_config
    from trickbench.design import baseline_spec
    from machine import REPO

    config = load_config(REPO / "config.yaml", overrides={
        "studies": "none", "model": SMALL_CNN, "baseline": {"norm": "batch"},
        "data": {"source": {"name": "synthetic", "n_train": size["n_train"], "n_test": size["n_test"], "size": 32},
                 "val_fraction": 0.1},
        "train": {"epochs": size["epochs"], "batch_size": 128}})
    return [baseline_spec(config, seed) for seed in seeds]


def job(specs, root: Path, device: str, threads: int) -> list[str]:
    words = [sys.executable, "-m", "trickbench", "train-many", "--runs-dir", str(root / "runs"), "--logs-dir",
             str(root / "logs"), "--device", device, "--threads", str(threads), "--seed-groups", "auto"]
    for spec in specs:
        words += ["--spec", spec.canonical_json()]
    return words


def timed(jobs: list[list[str]], concurrent: int, root: Path) -> float:
    """Wall seconds for every job, `concurrent` at a time."""
    pending, running = list(jobs), []
    start = time.perf_counter()
    while pending or running:
        while pending and len(running) < concurrent:
            log = open(root / f"job-{len(jobs) - len(pending)}.log", "w")
            running.append((subprocess.Popen(pending.pop(0), env=package_env(), stdout=log, stderr=subprocess.STDOUT), log))
        process, log = running.pop(0)
        code = process.wait()
        log.close()
        if code != 0:
            sys.exit(f"a training job failed:\n{Path(log.name).read_text()[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=4, help="processes side by side on the device (gpu_slots)")
    parser.add_argument("--seeds", type=int, default=8, help="runs per process, one seed group (runs_per_job)")
    parser.add_argument("--alone", type=int, default=2, help="runs timed one process each, one at a time")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--smoke", action="store_true", help="toy sizes, 2 slots × 2 seeds, 1 run alone")
    parser.add_argument("--name", default="runs_per_hour")
    args = parser.parse_args()
    machine = describe_machine()
    size = SIZES["smoke" if args.smoke else "full"]
    slots, seeds, alone = (2, 2, 1) if args.smoke else (args.slots, args.seeds, args.alone)
    device = args.device if args.device != "auto" else ("cuda" if machine["device"] != "cpu" else "cpu")
    threads = 1 if device == "cuda" else max(1, machine["cores_usable"] // slots)
    with tempfile.TemporaryDirectory(prefix="trickbench-runs-per-hour-") as tmp:
        root = Path(tmp)
        singles = [job([spec], root / "alone", device, machine["cores_usable"] if device == "cpu" else 1)
                   for spec in seed_specs(list(range(alone)), size)]
        (root / "alone").mkdir()
        one_at_a_time = timed(singles, 1, root / "alone")
        packed_specs = seed_specs(list(range(100, 100 + slots * seeds)), size)
        packed_jobs = [job(packed_specs[k * seeds:(k + 1) * seeds], root / "packed", device, threads) for k in range(slots)]
        (root / "packed").mkdir()
        packed = timed(packed_jobs, slots, root / "packed")
        grouped = "seed group of" in "".join(p.read_text() for p in (root / "packed").glob("job-*.log"))
    per_hour = lambda runs, seconds: round(3600 * runs / seconds, 1)
    result = {
        "device": device, "smoke": args.smoke, "model": SMALL_CNN, **size, "image_size": 32, "batch_size": 128,
        "one_at_a_time": {"runs": alone, "seconds": round(one_at_a_time, 1), "runs_per_hour": per_hour(alone, one_at_a_time)},
        "packed": {"slots": slots, "runs_per_process": seeds, "runs": slots * seeds, "seed_groups": grouped,
                   "seconds": round(packed, 1), "runs_per_hour": per_hour(slots * seeds, packed)},
        "goal_runs_per_hour": GOAL_RUNS_PER_HOUR,
    }
    result["speedup"] = round(result["packed"]["runs_per_hour"] / result["one_at_a_time"]["runs_per_hour"], 2)
    print(f"one run per process, one at a time: {result['one_at_a_time']['runs_per_hour']:8.1f} runs/h; packed "
          f"({slots} processes × {seeds} seeds{', seed groups' if grouped else ''}): {result['packed']['runs_per_hour']:8.1f} "
          f"runs/h ({result['speedup']}x; goal {GOAL_RUNS_PER_HOUR:.0f} runs/h on one GPU)")
    write_result(args.name, result, machine)


if __name__ == "__main__":
    main()
