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

from machine import alternating_passes, describe_machine, mean_ratio, snakemake_pass, workspace, write_result

#: outputs that hold measured wall-clock time, which no two passes share
TIMED = {
    "results/tables/runs.csv": "each run's measured training time",
    "results/tables/epochs.csv": "each epoch's measured time",
    "reports/figures/equal_compute.csv": "its 'equal training seconds' budget is each run's measured training time",
}


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
    options = ["--configfile", *args.configfile]
    with tempfile.TemporaryDirectory(prefix="trickbench-local-jobs-") as tmp:
        passes = alternating_passes(Path(tmp), args.repeats, {
            "process_per_local_job": lambda where: snakemake_pass(workspace(where), cores, *options, "--workflow-profile", "none"),
            "threads": lambda where: snakemake_pass(workspace(where), cores, *options)})
        differing = different_outputs(Path(tmp) / "process_per_local_job-0", Path(tmp) / "threads-0")
    core_ratio = mean_ratio(passes, "threads", "process_per_local_job", "core_seconds")
    wall_ratio = mean_ratio(passes, "threads", "process_per_local_job", "wall_seconds")
    print(f"local jobs in threads / a process each: {core_ratio:.2f}x the core-seconds, {wall_ratio:.2f}x the wall time; "
          f"tables and plotted data {'identical' if not differing else 'DIFFERENT: ' + ', '.join(differing)}")
    write_result("local_jobs", {"cores": cores, "configfiles": ["config.yaml", *args.configfile], "passes": passes,
                                "core_seconds_ratio": core_ratio, "wall_ratio": wall_ratio,
                                "outputs_with_different_data": differing, "outputs_not_compared": TIMED}, machine)
    if differing:
        sys.exit(1)


if __name__ == "__main__":
    main()
