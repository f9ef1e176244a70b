"""How the workflow's own overhead grows with the number of runs: planning the DAG and collecting.

1. `snakemake -n` (dry run: parse, validate, expand the design, build the DAG of every job) on
   designs of 100 to 10,000 runs, drawn from one 1,000-combination factor space × 10 seeds.
   Target: < 60 s at 10,000 runs.
2. Collecting 10,000 finished runs into the tables (`trickbench.collect`): synthetic run folders
   (a real spec per run, a summary with every field a real run writes, 12 epoch rows) in a
   temporary directory. Target: < 30 s at 10,000 runs.

Wall time is what a user waits; CPU time is what the work costs and what a busy machine's load
cannot inflate — both are recorded, with the load averages.

    python bench/dag.py                      # sizes 100, 1000, 10000
    python bench/dag.py --sizes 100 1000     # quicker
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import REPO, describe_machine, package_env, workspace, write_result

FACTORS = ("{activation: [relu, tanh, sigmoid, gelu, elu], init: [he_normal, xavier_normal, orthogonal, default, "
           "small_gaussian], norm: [batch, none], regularizer: [none, l2, dropout, augment], "
           "optimizer: [sgd, momentum, nesterov, adam, {name: sgd, lr: 0.1}]}")  # 5·5·2·4·5 = 1,000
SEEDS = 10
TARGETS = {"dry_run_seconds": 60.0, "collect_seconds": 30.0}


def design_override(runs: int) -> str:
    """A random design of runs/10 combinations of the 1,000, each with 10 seeds."""
    return (f"design={{kind: random, samples: {runs // SEEDS}, sample_seed: 0, "
            f"seeds: [{', '.join(map(str, range(SEEDS)))}], factors: {FACTORS}}}")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_dry_run(runs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="trickbench-dag-") as tmp:
        where = workspace(Path(tmp))
        command = [sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", "--config", "studies=none",
                   design_override(runs)]
        cpu, start = children_cpu_seconds(), time.perf_counter()
        result = subprocess.run(command, cwd=where, capture_output=True, text=True, env=package_env())
        wall, cpu = time.perf_counter() - start, children_cpu_seconds() - cpu
    if result.returncode != 0:
        sys.exit(f"dry run of {runs} runs failed:\n{result.stderr[-3000:]}")
    planned = re.search(r"train\s+(\d+)\b", result.stdout + result.stderr)
    return {"runs": runs, "train_jobs": int(planned.group(1)) if planned else None,
            "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2)}


def synthetic_run_folders(root: Path, runs: int, epochs: int = 12) -> list[Path]:
    """Run folders as finished runs leave them (summary.json, epochs.csv), with real specs."""
    from trickbench.config import load_config
    from trickbench.provenance import provenance
    from trickbench.run import EPOCH_COLUMNS, METRICS
    from trickbench.atomic import write_json
    from trickbench.workflow import plan_from_config
    import torch
    import yaml

    config = load_config(REPO / "config.yaml", overrides={
        "studies": "none", "design": yaml.safe_load(design_override(runs).split("=", 1)[1])})
    config["train"]["epochs"] = epochs
    plan = plan_from_config(config)
    stamp = provenance(torch.device("cpu"))
    folders = []
    for index, (run_id, spec) in enumerate(plan.runs.items()):
        folder = root / run_id
        folder.mkdir(parents=True)
        history = [{"epoch": e, "lr": 0.05 * math.cos(e / epochs), "train_loss": 2.0 / e, "train_acc": 0.3 + e / 40,
                    "train_eval_loss": 1.9 / e, "train_eval_acc": 0.32 + e / 40,
                    "val_loss": 2.1 / e, "val_acc": 0.28 + e / 45, "test_loss": 2.2 / e, "test_acc": 0.27 + e / 46,
                    "grad_evals": 33 * e, "train_seconds": 1.5, "images_per_s": 2800.0} for e in range(1, epochs + 1)]
        with open(folder / "epochs.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=EPOCH_COLUMNS)
            writer.writeheader()
            writer.writerows(history)
        last = history[-1]
        summary = {"run_id": run_id, "spec": spec.to_dict(), "status": "ok", "epochs_completed": epochs,
                   "stopped_early": False, "returned_epoch": epochs, "best_val_acc_epoch": epochs, "n_parameters": 790_000 + index,
                   "train_seconds": 18.0, "wall_seconds": 21.0, "images_per_s": 2800.0,
                   "grad_evals": last["grad_evals"], **stamp}
        for metric in METRICS:
            summary[f"final_{metric}"] = summary[f"last_epoch_{metric}"] = summary[f"best_{metric}"] = last[metric]
        write_json(folder / "summary.json", summary)
        folders.append(folder)
    return folders, plan.baseline


def time_collect(runs: int) -> dict:
    from trickbench.collect import collect, write_tables

    with tempfile.TemporaryDirectory(prefix="trickbench-collect-") as tmp:
        folders, baseline = synthetic_run_folders(Path(tmp) / "runs", runs)
        cpu, start = time.process_time(), time.perf_counter()
        tables = collect(folders, baseline)
        write_tables(tables, Path(tmp) / "runs.csv", Path(tmp) / "epochs.csv")
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert len(tables.runs) == runs and not tables.skipped
    return {"runs": runs, "epoch_rows": len(tables.epochs), "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000], help="numbers of runs (multiples of 10)")
    args = parser.parse_args()
    machine = describe_machine()
    dry_runs, collects = [], []
    for runs in args.sizes:
        dry_runs.append(time_dry_run(runs))
        print(f"snakemake -n, {runs:>6} runs: {dry_runs[-1]['wall_seconds']:7.2f} s wall, {dry_runs[-1]['cpu_seconds']:7.2f} s CPU")
    for runs in args.sizes:
        collects.append(time_collect(runs))
        print(f"collect,      {runs:>6} runs: {collects[-1]['wall_seconds']:7.2f} s wall, {collects[-1]['cpu_seconds']:7.2f} s CPU")
    largest_dry, largest_collect = dry_runs[-1], collects[-1]
    ratios = {"dry_run_target_over_time": round(TARGETS["dry_run_seconds"] / largest_dry["wall_seconds"], 2),
              "collect_target_over_time": round(TARGETS["collect_seconds"] / largest_collect["wall_seconds"], 2)}
    print(f"at {largest_dry['runs']} runs: dry run {largest_dry['wall_seconds']:.1f} s (target < 60 s, "
          f"{ratios['dry_run_target_over_time']}x under it); collect {largest_collect['wall_seconds']:.1f} s "
          f"(target < 30 s, {ratios['collect_target_over_time']}x under it)")
    write_result("dag", {"targets_seconds": TARGETS, "dry_run": dry_runs, "collect": collects, **ratios}, machine)


if __name__ == "__main__":
    main()
