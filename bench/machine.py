"""What every benchmark records beside its numbers: the machine, its load, the software, the code.

A ratio is only comparable to another measured on the same machine under the same load, so each
result file carries the CPU model, the cores this process may use, the load averages before and
after, torch's version and device, and the git commit. Shared by every script in bench/.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
#: where results go: bench/results, or $TRICKBENCH_BENCH_RESULTS (a smoke run writes elsewhere)
RESULTS = Path(os.environ.get("TRICKBENCH_BENCH_RESULTS") or Path(__file__).resolve().parent / "results")
sys.path.insert(0, str(REPO / "workflow"))  # the checkout's package, installed or not


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def describe_machine() -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available()
    return {
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "cuda": torch.version.cuda if cuda else None,
        "git_commit": git_commit(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_result(name: str, payload: dict[str, Any], machine_before: dict[str, Any]) -> Path:
    """Write bench/results/<name>.json: the numbers, the machine as it was at the start, and the
    load at the end (a benchmark that shared its cores says so)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    record = {"benchmark": name, "machine": machine_before,
              "load_average_at_end": [round(x, 2) for x in os.getloadavg()], **payload}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")
    return path


def package_env() -> dict[str, str]:
    """The environment for processes a benchmark starts: this checkout's package first on the path
    (an installed trickbench elsewhere must not answer instead)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "workflow"), os.environ.get("PYTHONPATH", "")])}


def workspace(where: Path) -> Path:
    """A directory holding the workflow as a user's checkout has it (the Snakefile, config.yaml and
    links to workflow/ and profiles/, whose default profile Snakemake reads by itself), so a
    benchmark's results never touch the repository's own."""
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(REPO / name, where / name)
    for name in ("workflow", "profiles"):
        (where / name).symlink_to(REPO / name)
    return where


def measured_run(command: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, float, float, list[float]]:
    """Run `command` in `cwd` with this checkout's package (`package_env`): its result, wall
    seconds, core-seconds (user + system of it and every process it waited for, from
    RUSAGE_CHILDREN) and the load averages just before."""
    load_before = [round(x, 2) for x in os.getloadavg()]
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=package_env())
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    return result, wall, cpu, load_before


def snakemake_pass(where: Path, cores: int, *options: str) -> dict[str, Any]:
    """One `snakemake --cores N <options>` in `where`, measured (`measured_run`); a failure ends the
    benchmark with Snakemake's last words."""
    result, wall, cpu, load_before = measured_run([sys.executable, "-m", "snakemake", "--cores", str(cores), *options], where)
    if result.returncode != 0:
        sys.exit(f"snakemake failed in {where}:\n{result.stderr[-3000:]}")
    jobs = sum(1 for line in result.stderr.splitlines() if line.startswith("Finished jobid"))
    return {"wall_seconds": round(wall, 1), "core_seconds": round(cpu, 1), "jobs": jobs, "load_average_before": load_before[0]}


def alternating_passes(folder: Path, repeats: int, variants: dict[str, Callable[[Path], dict[str, Any]]]) -> dict[str, list[dict]]:
    """Each variant's passes (`snakemake_pass` results), the variants taking turns within every
    repeat so that a drifting load hits all of them; each pass in a new folder <label>-<repeat> of
    `folder`, printed as it ends."""
    passes: dict[str, list[dict]] = {label: [] for label in variants}
    width = max(map(len, variants)) + 1
    for repeat in range(repeats):
        for label, run in variants.items():
            where = folder / f"{label}-{repeat}"
            where.mkdir()
            result = run(where)
            passes[label].append(result)
            print(f"{label:<{width}} pass {repeat + 1}: {result['wall_seconds']:7.1f} s wall, {result['core_seconds']:7.1f} "
                  f"core-s, {result['jobs']} jobs (load {result['load_average_before']})", flush=True)
    return passes


def mean_ratio(passes: dict[str, list[dict]], ours: str, reference: str, key: str) -> float:
    """ours ÷ reference of the mean of `key` over their passes (each mean to 0.1 first)."""
    mean = lambda label: round(sum(p[key] for p in passes[label]) / len(passes[label]), 1)
    return round(mean(ours) / mean(reference), 3)
