"""What running the local jobs in threads of the Snakemake process saves: the real workflow, side by side.

Snakemake starts each local `run:` job (collect, the tuning choice, each study, the figures, the
report) as a new Snakemake process that parses the workflow again — several CPU-seconds of
imports (torch, pandas, scipy, statsmodels, seaborn) before it does anything. The workflow profile
(profiles/default/config.yaml, read by Snakemake by itself) sets `force-use-threads`, so they run
in threads of the planning process, one at a time (trickbench.local_jobs). The reference is the
same workflow with `--workflow-profile none`: a process per local job, as Snakemake does by
default. Training jobs are processes in both.

Each pass is `snakemake --cores N` from an empty workspace up to the HTML report, on the smoke
preset (7 runs in one training job; local jobs: collect, its two studies, the claims, the
figures, the report page; `--configfile` to choose others). Core-seconds: CPU
time (user + system) of snakemake and every process it started (`RUSAGE_CHILDREN`). The passes
alternate reference, shipped, reference, shipped (`--repeats`) so that a drifting load hits both.
Every table and every figure's plotted data must come out byte for byte the same, except those
that hold measured time (`TIMED`).

    python bench/local_jobs.py                  # 2 repeats (a few minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path

from machine import describe_machine, measured_run, workspace, write_result

#: outputs that hold measured wall-clock time, which no two passes share
TIMED = {
    "results/tables/runs.csv": "each run's measured training time",
    "results/tables/epochs.csv": "each epoch's measured time",
    "reports/figures/equal_compute.csv": "its 'equal training seconds' budget is each run's measured training time",
}


def one_pass(where: Path, cores: int, configfiles: list[str], threads: bool) -> dict:
    command = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--configfile", *configfiles,
               *([] if threads else ["--workflow-profile", "none"])]
    result, wall, cpu, load_before = measured_run(command, where)
    if result.returncode != 0:
        sys.exit(f"snakemake failed in {where}:\n{result.stderr[-3000:]}")
    jobs = sum(1 for line in result.stderr.splitlines() if line.startswith("Finished jobid"))
    return {"wall_seconds": round(wall, 1), "core_seconds": round(cpu, 1), "jobs": jobs, "load_average_before": load_before[0]}


def different_outputs(first: Path, second: Path) -> list[str]:
    """The tables and plotted data that differ between two workspaces (none: the same), the timed
    ones left out."""
    def files(root: Path) -> list[str]:
        return sorted(str(p.relative_to(root)) for folder in ("results/tables", "reports/figures") for p in (root / folder).glob("*.csv"))

    names = files(first)
    assert names == files(second), "different tables or figures"
    return [name for name in names if name not in TIMED and not filecmp.cmp(first / name, second / name, shallow=False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=None, help="snakemake --cores (default: usable cores)")
    parser.add_argument("--configfile", nargs="*", default=["workflow/presets/smoke.yaml"],
                        help="configs over config.yaml (default: the smoke preset)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    machine = describe_machine()
    cores = args.cores or machine["cores_usable"]
    passes: dict[str, list[dict]] = {"process_per_local_job": [], "threads": []}
    with tempfile.TemporaryDirectory(prefix="trickbench-local-jobs-") as tmp:
        for repeat in range(args.repeats):
            for label, threads in (("process_per_local_job", False), ("threads", True)):
                where = Path(tmp) / f"{label}-{repeat}"
                where.mkdir()
                result = one_pass(workspace(where), cores, args.configfile, threads)
                passes[label].append(result)
                print(f"{label:<22} pass {repeat + 1}: {result['wall_seconds']:7.1f} s wall, {result['core_seconds']:7.1f} "
                      f"core-s, {result['jobs']} jobs (load {result['load_average_before']})", flush=True)
        differing = different_outputs(Path(tmp) / "process_per_local_job-0", Path(tmp) / "threads-0")
    mean = lambda label, key: round(sum(p[key] for p in passes[label]) / len(passes[label]), 1)
    core_ratio = round(mean("threads", "core_seconds") / mean("process_per_local_job", "core_seconds"), 3)
    wall_ratio = round(mean("threads", "wall_seconds") / mean("process_per_local_job", "wall_seconds"), 3)
    print(f"local jobs in threads / a process each: {core_ratio:.2f}x the core-seconds, {wall_ratio:.2f}x the wall time; "
          f"tables and plotted data {'identical' if not differing else 'DIFFERENT: ' + ', '.join(differing)}")
    write_result("local_jobs", {"cores": cores, "configfiles": ["config.yaml", *args.configfile], "passes": passes,
                                "core_seconds_ratio": core_ratio, "wall_ratio": wall_ratio,
                                "outputs_with_different_data": differing, "outputs_not_compared": TIMED}, machine)
    if differing:
        sys.exit(1)


if __name__ == "__main__":
    main()
