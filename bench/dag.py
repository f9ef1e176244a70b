"""How the workflow's own overhead grows with the number of runs: planning, collecting, reading, reporting.

1. `snakemake -n` (dry run: parse, validate, expand the design, build the DAG of every job) on
   designs of 100 to 10,000 runs, drawn from one 1,000-combination factor space × 10 seeds, with
   one run per training job and with `--runs-per-job` runs per job (a rule per job).
   Target: < 60 s at 10,000 runs.
2. Collecting 10,000 finished runs into the tables (`trickbench.collect`): synthetic run folders
   (a real spec per run, a summary with every field a real run writes, 12 epoch rows, accuracies
   that vary by configuration and seed) in a temporary directory. Target: < 30 s at 10,000 runs.
3. Reading the tables back (`pandas.read_csv` of runs.csv and epochs.csv, what every figure and
   study does), to see whether CSV is a bottleneck worth a columnar format.
4. The report of those runs: every enabled figure and the HTML page (`trickbench report`).
   Targets at 10,000 runs: < 60 s and < 10 MB.

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
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas
import yaml

from machine import REPO, describe_machine, package_env, workspace, write_result

FACTORS = ("{activation: [relu, tanh, sigmoid, gelu, elu], init: [he_normal, xavier_normal, orthogonal, default, "
           "small_gaussian], norm: [batch, none], regularizer: [none, l2, dropout, augment], "
           "optimizer: [sgd, momentum, nesterov, adam, {name: sgd, lr: 0.1}]}")  # 5·5·2·4·5 = 1,000
SEEDS = 10
TARGETS = {"dry_run_seconds": 60.0, "collect_seconds": 30.0, "report_seconds": 60.0, "report_megabytes": 10.0}


def design_override(runs: int) -> str:
    """A random design of runs/10 combinations of the 1,000, each with 10 seeds."""
    return (f"design={{kind: random, samples: {runs // SEEDS}, sample_seed: 0, "
            f"seeds: [{', '.join(map(str, range(SEEDS)))}], factors: {FACTORS}}}")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_dry_run(runs: int, runs_per_job: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="trickbench-dag-") as tmp:
        where = workspace(Path(tmp))
        command = [sys.executable, "-m", "snakemake", "-n", "--quiet", "rules", "--config", "studies=none",
                   design_override(runs), f"execution={{runs_per_job: {runs_per_job}}}"]
        cpu, start = children_cpu_seconds(), time.perf_counter()
        result = subprocess.run(command, cwd=where, capture_output=True, text=True, env=package_env())
        wall, cpu = time.perf_counter() - start, children_cpu_seconds() - cpu
    if result.returncode != 0:
        sys.exit(f"dry run of {runs} runs failed:\n{result.stderr[-3000:]}")
    stats = (result.stdout + result.stderr).split("Job stats:")[1]  # (snakemake may print the table twice)
    jobs = sum(int(n) for n in re.findall(r"^train\w*\s+(\d+)$", stats.split("total")[0], re.MULTILINE))
    return {"runs": runs, "runs_per_job": runs_per_job, "training_jobs": jobs, "wall_seconds": round(wall, 2),
            "cpu_seconds": round(cpu, 2)}


def synthetic_run_folders(root: Path, runs: int, epochs: int = 12) -> list[Path]:
    """Run folders as finished runs leave them (summary.json, epochs.csv), with real specs."""
    from trickbench.config import load_config
    from trickbench.provenance import provenance
    from trickbench.run import EPOCH_COLUMNS, METRICS
    from trickbench.atomic import write_json
    from trickbench.workflow import plan_from_config
    import torch

    config = load_config(REPO / "config.yaml", overrides={
        "studies": "none", "design": yaml.safe_load(design_override(runs).split("=", 1)[1])})
    config["train"]["epochs"] = epochs
    plan = plan_from_config(config)
    stamp = provenance(torch.device("cpu"))
    rng = random.Random(0)
    folders = []
    for index, (run_id, spec) in enumerate(plan.runs.items()):
        folder = root / run_id
        folder.mkdir(parents=True)
        level = 0.25 + 0.2 * (int(run_id[:4], 16) / 0xFFFF)  # each run its own accuracy: the figures have spread to draw
        noise = [rng.gauss(0, 0.01) for _ in range(epochs)]
        history = [{"epoch": e, "lr": 0.05 * math.cos(e / epochs), "train_loss": 2.0 / e, "train_acc": level + e / 40,
                    "train_eval_loss": 1.9 / e, "train_eval_acc": level + 0.02 + e / 40,
                    "val_loss": 2.1 / e, "val_acc": level + e / 45 + noise[e - 1], "test_loss": 2.2 / e,
                    "test_acc": level + e / 46 + noise[e - 1], "grad_evals": 33 * e, "train_seconds": 1.5,
                    "images_per_s": 2800.0} for e in range(1, epochs + 1)]
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


def time_collect_read_and_report(runs: int) -> tuple[dict, dict, dict]:
    """Collect synthetic run folders into the tables, read the tables back, render the report."""
    from trickbench.collect import collect, write_tables
    from trickbench.config import load_config
    from trickbench.report.render import render_all
    from trickbench.report.html import write_report

    with tempfile.TemporaryDirectory(prefix="trickbench-collect-") as tmp:
        tables_folder = Path(tmp) / "tables"
        tables_folder.mkdir()
        folders, baseline = synthetic_run_folders(Path(tmp) / "runs", runs)
        cpu, start = time.process_time(), time.perf_counter()
        tables = collect(folders, baseline)
        write_tables(tables, tables_folder / "runs.csv", tables_folder / "epochs.csv")
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert len(tables.runs) == runs and not tables.skipped
        collected = {"runs": runs, "epoch_rows": len(tables.epochs), "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2)}
        read = {"runs": runs}
        for name in ("runs", "epochs"):
            path = tables_folder / f"{name}.csv"
            start = time.perf_counter()
            pandas.read_csv(path)
            read[f"{name}_csv_megabytes"] = round(path.stat().st_size / 1e6, 2)
            read[f"{name}_csv_read_seconds"] = round(time.perf_counter() - start, 3)
        config = load_config(REPO / "config.yaml", overrides={
            "studies": "none", "design": yaml.safe_load(design_override(runs).split("=", 1)[1])})
        cpu, start = time.process_time(), time.perf_counter()
        figures = render_all(tables_folder, config, Path(tmp) / "figures")
        write_report(tables_folder, Path(tmp) / "figures", config, Path(tmp) / "report.html")
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        reported = {"runs": runs, "figures": len(figures), "wall_seconds": round(wall, 1), "cpu_seconds": round(cpu, 1),
                    "megabytes": round((Path(tmp) / "report.html").stat().st_size / 1e6, 2)}
    return collected, read, reported


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000], help="numbers of runs (multiples of 10)")
    parser.add_argument("--runs-per-job", type=int, default=8, help="runs per training job of the second dry run (default 8)")
    args = parser.parse_args()
    machine = describe_machine()
    dry_runs, collects, reads, reports = [], [], [], []
    for runs in args.sizes:
        for runs_per_job in (1, args.runs_per_job):
            dry_runs.append(time_dry_run(runs, runs_per_job))
            print(f"snakemake -n, {runs:>6} runs, {runs_per_job} per job ({dry_runs[-1]['training_jobs']} training jobs): "
                  f"{dry_runs[-1]['wall_seconds']:7.2f} s wall, {dry_runs[-1]['cpu_seconds']:7.2f} s CPU", flush=True)
    for runs in args.sizes:
        collected, read, reported = time_collect_read_and_report(runs)
        collects.append(collected)
        reads.append(read)
        reports.append(reported)
        print(f"collect,      {runs:>6} runs: {collected['wall_seconds']:7.2f} s wall, {collected['cpu_seconds']:7.2f} s CPU")
        print(f"read tables,  {runs:>6} runs: runs.csv {read['runs_csv_megabytes']} MB in {read['runs_csv_read_seconds']} s, "
              f"epochs.csv {read['epochs_csv_megabytes']} MB in {read['epochs_csv_read_seconds']} s")
        print(f"report,       {runs:>6} runs: {reported['wall_seconds']:7.1f} s wall, {reported['cpu_seconds']:7.1f} s CPU, "
              f"{reported['megabytes']} MB", flush=True)
    largest = args.sizes[-1]
    pick = lambda rows, **where: next(r for r in rows if all(r[k] == v for k, v in where.items()))
    worst_dry = max((r for r in dry_runs if r["runs"] == largest), key=lambda r: r["wall_seconds"])
    largest_collect, largest_report = pick(collects, runs=largest), pick(reports, runs=largest)
    ratios = {"dry_run_target_over_time": round(TARGETS["dry_run_seconds"] / worst_dry["wall_seconds"], 2),
              "collect_target_over_time": round(TARGETS["collect_seconds"] / largest_collect["wall_seconds"], 2),
              "report_target_over_time": round(TARGETS["report_seconds"] / largest_report["wall_seconds"], 2),
              "report_size_target_over_size": round(TARGETS["report_megabytes"] / largest_report["megabytes"], 2)}
    print(f"at {largest} runs: dry run {worst_dry['wall_seconds']:.1f} s at worst (target < 60 s); collect "
          f"{largest_collect['wall_seconds']:.1f} s (target < 30 s); report {largest_report['wall_seconds']:.1f} s, "
          f"{largest_report['megabytes']} MB (targets < 60 s, < 10 MB)")
    write_result("dag", {"targets": TARGETS, "dry_run": dry_runs, "collect": collects, "read_tables": reads,
                         "report": reports, **ratios}, machine)


if __name__ == "__main__":
    main()
