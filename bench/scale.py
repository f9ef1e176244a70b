"""Wall time of the default grid with 1 core and with 2 cores: the DAG's parallelism, measured.

Each run of `snakemake --cores N` starts from an empty workspace (a copy of the Snakefile and
config.yaml, a link to workflow/), so both train the same runs from scratch. Each training job uses
one torch thread (`execution.threads: 1`), so `--cores 2` trains two runs at once; the ideal
speed-up is the number of cores, less the serial tail (collect, figures, report) and whatever
else the machine is doing — the load averages before and after each pass are recorded with it.

    python bench/scale.py                      # the default grid (minutes: run on a quiet machine)
    python bench/scale.py --config "train={epochs: 3}"     # the same runs, a quarter of the epochs
    python bench/scale.py --cores 1 2 4 --configfile workflow/presets/smoke.yaml
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe_machine, package_env, workspace, write_result


def timed_workflow(cores: int, configfiles: list[str], overrides: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"trickbench-scale-{cores}-") as tmp:
        where = workspace(Path(tmp))
        command = [sys.executable, "-m", "snakemake", "--cores", str(cores)]
        command += ["--configfile", *configfiles] if configfiles else []
        command += ["--config", *overrides] if overrides else []
        load_before = [round(x, 2) for x in os.getloadavg()]
        start = time.perf_counter()
        result = subprocess.run(command, cwd=where, capture_output=True, text=True, env=package_env())
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            sys.exit(f"snakemake --cores {cores} failed:\n{result.stderr[-3000:]}")
        jobs = re.search(r"(\d+) of \1 steps \(100%\) done", result.stderr)
        train_jobs = len(list((where / "results" / "runs").iterdir()))
    return {"cores": cores, "wall_seconds": round(seconds, 1), "jobs": int(jobs.group(1)) if jobs else None,
            "train_jobs": train_jobs, "load_average_before": load_before,
            "load_average_after": [round(x, 2) for x in os.getloadavg()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, nargs="+", default=[1, 2], help="core counts to time, first is the base")
    parser.add_argument("--configfile", nargs="*", default=[], help="configs over config.yaml (default: none)")
    parser.add_argument("--config", nargs="*", default=[], metavar="KEY=VALUE",
                        help="overrides, as snakemake --config takes them (e.g. train='{epochs: 3}')")
    args = parser.parse_args()
    machine = describe_machine()
    passes = []
    for cores in args.cores:
        passes.append(timed_workflow(cores, args.configfile, args.config))
        print(f"--cores {cores}: {passes[-1]['wall_seconds']:.1f} s for {passes[-1]['jobs']} jobs "
              f"({passes[-1]['train_jobs']} training runs), load before {passes[-1]['load_average_before'][0]}")
    base = passes[0]["wall_seconds"]
    for p in passes:
        p["speedup"] = round(base / p["wall_seconds"], 2)
    best = passes[-1]
    print(f"speed-up with {best['cores']} cores over {passes[0]['cores']}: {best['speedup']:.2f}x "
          f"(ideal {best['cores'] / passes[0]['cores']:.0f}x)")
    write_result("scale", {"config": ["config.yaml", *args.configfile], "overrides": args.config, "passes": passes,
                           "speedup": best["speedup"]}, machine)


if __name__ == "__main__":
    main()
