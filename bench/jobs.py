"""What a process per run costs, and what many runs per process save: the real workflow, side by side.

1. **Tiny runs per hour.** `--runs` smoke-sized runs (the smoke preset's MLP, 2 epochs, on the
   embedded images) through `snakemake --cores N` up to the tables, twice from an empty workspace:
   one process per run (`execution.runs_per_job: 1`) and several runs per process (`--runs-per-job`,
   the shipped default). Wall time includes what a user waits for: parsing, scheduling, collecting.
   Target: ≥ 3× the runs per hour of one process per run.
2. **Where the default grid's core-seconds go.** The default grid (config.yaml, studies as shipped,
   figures and report included) from an empty workspace, with the shipped runs_per_job and with 1.
   Core-seconds of the whole workflow: CPU time (user + system) of snakemake and every process it
   started (`RUSAGE_CHILDREN` of the snakemake process: jobs, their Python interpreters, the
   in-process rules). Core-seconds training and evaluating: the sum of the `accounting:` lines every
   training job logs (CPU time of the job's process from building a run's model to writing its
   results: training, per-epoch validation and test evaluation, the final evaluation; not the
   process's start-up or its reading of the data). Target: ≥ 60 % training and evaluating.

The passes alternate (one process per run first, then several) so that a machine whose load
drifts hits both; the load averages before and after each pass are recorded. A busy machine
inflates wall time more than CPU time: the core-second figures are the steadier ones.

    python bench/jobs.py                          # both parts (the grid: tens of minutes on 2 cores)
    python bench/jobs.py --skip-grid              # the tiny runs only (minutes)
    python bench/jobs.py --device cuda --cores 16 --execution "{gpu_slots: 4}" --skip-tiny   # on a GPU
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

import yaml

from machine import describe_machine, measured_run, workspace, write_result

TARGETS = {"tiny_runs_per_hour_ratio": 3.0, "grid_training_share": 0.60}
#: what a training job's log says of each run it trained (trickbench.multirun.ACCOUNTING)
ACCOUNTING = re.compile(r"accounting: runs (.+?): ([0-9.]+) s wall, ([0-9.]+) CPU-s training and evaluating")
TINY_DESIGN = ("design={kind: full, seeds: [0, 1, 2, 3], factors: {activation: [relu, tanh, sigmoid, gelu], "
               "init: [he_normal, xavier_normal, orthogonal, default], norm: [batch], regularizer: [none], "
               "optimizer: [{name: momentum, lr: 0.05}]}}")  # 4 × 4 × 4 seeds = 64 runs


def snakemake_pass(cores: int, configfiles: list[str], overrides: list[str], execution: dict, targets: list[str]) -> dict:
    """One `snakemake --cores N` from an empty workspace: wall and core-seconds of everything it
    ran, and the training jobs' own accounting."""
    with tempfile.TemporaryDirectory(prefix="trickbench-jobs-") as tmp:
        where = workspace(Path(tmp))
        command = [sys.executable, "-m", "snakemake", "--cores", str(cores), *targets]
        command += ["--configfile", *configfiles] if configfiles else []
        command += ["--config", *overrides, "execution=" + yaml.safe_dump(execution, default_flow_style=True).strip()]
        result, wall, cpu, load_before = measured_run(command, where)
        if result.returncode != 0:
            sys.exit(f"snakemake failed:\n{result.stderr[-3000:]}")
        accounted = [m for log in (where / "results/logs/jobs").glob("*.log") for m in ACCOUNTING.finditer(log.read_text())]
        runs = sum(len(m.group(1).split(", ")) for m in accounted)
        jobs = len(list((where / "results/logs/jobs").glob("*.log")))
    training_cpu = sum(float(m.group(3)) for m in accounted)
    return {"execution": execution, "runs": runs, "training_jobs": jobs, "wall_seconds": round(wall, 1),
            "core_seconds": round(cpu, 1), "training_core_seconds": round(training_cpu, 1),
            "training_share": round(training_cpu / cpu, 3), "runs_per_hour": round(3600 * runs / wall, 1),
            "runs_per_core_hour": round(3600 * runs / cpu, 1),
            "load_average_before": load_before, "load_average_after": [round(x, 2) for x in os.getloadavg()]}


def report(label: str, result: dict) -> None:
    print(f"{label:<34} {result['runs']:>4} runs in {result['training_jobs']:>3} jobs: {result['wall_seconds']:7.1f} s wall "
          f"({result['runs_per_hour']:8.1f} runs/h), {result['core_seconds']:7.1f} core-s, of them training and "
          f"evaluating {result['training_core_seconds']:6.1f} ({100 * result['training_share']:.0f} %); "
          f"load {result['load_average_before'][0]}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=None, help="snakemake --cores (default: usable cores)")
    parser.add_argument("--runs-per-job", type=int, default=8, help="runs per process of the multi-run passes (default 8)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    parser.add_argument("--execution", default="{}", help="more execution settings, a YAML mapping (e.g. '{gpu_slots: 4}')")
    parser.add_argument("--skip-tiny", action="store_true")
    parser.add_argument("--skip-grid", action="store_true")
    parser.add_argument("--grid-only-packed", action="store_true", help="the grid with --runs-per-job only, not also with 1")
    parser.add_argument("--grid-configfile", nargs="*", default=[], help="configs over config.yaml for the grid (default: none)")
    parser.add_argument("--grid-target", nargs="*", default=[], help="targets of the grid pass (default: everything)")
    parser.add_argument("--name", default="jobs", help="result file bench/results/<name>.json (default: jobs)")
    args = parser.parse_args()
    machine = describe_machine()
    cores = args.cores or machine["cores_usable"]
    base = {**yaml.safe_load(args.execution), "device": args.device}
    one_per_run, several = {**base, "runs_per_job": 1}, {**base, "runs_per_job": args.runs_per_job}
    payload: dict = {"cores": cores, "device": args.device, "targets": TARGETS}
    if not args.skip_tiny:
        tiny = (["workflow/presets/smoke.yaml"], ["studies=none", TINY_DESIGN], ["results/tables/runs.csv"])
        one = snakemake_pass(cores, tiny[0], tiny[1], one_per_run, tiny[2])
        report("tiny runs, one process per run", one)
        many = snakemake_pass(cores, tiny[0], tiny[1], several, tiny[2])
        report(f"tiny runs, {args.runs_per_job} runs per process", many)
        ratio = round(many["runs_per_hour"] / one["runs_per_hour"], 2)
        core_ratio = round(many["runs_per_core_hour"] / one["runs_per_core_hour"], 2)
        print(f"tiny runs per hour: {ratio:.2f}x one process per run (target ≥ {TARGETS['tiny_runs_per_hour_ratio']}x); "
              f"per core-hour {core_ratio:.2f}x")
        payload["tiny"] = {"one_process_per_run": one, "runs_per_process": many, "runs_per_hour_ratio": ratio,
                           "runs_per_core_hour_ratio": core_ratio}
    if not args.skip_grid:
        payload["grid"] = {"configfiles": ["config.yaml", *args.grid_configfile], "targets": args.grid_target or ["all"]}
        if not args.grid_only_packed:
            one = snakemake_pass(cores, args.grid_configfile, [], one_per_run, args.grid_target)
            report("default grid, one process per run", one)
            payload["grid"]["one_process_per_run"] = one
        many = snakemake_pass(cores, args.grid_configfile, [], several, args.grid_target)
        report(f"default grid, {args.runs_per_job} runs per process", many)
        payload["grid"]["runs_per_process"] = many
        print(f"default grid: {100 * many['training_share']:.0f} % of its core-seconds training and evaluating "
              f"(target ≥ {100 * TARGETS['grid_training_share']:.0f} %)")
    write_result(args.name, payload, machine)


if __name__ == "__main__":
    main()
