"""Check that two workflow directories hold the same runs with the same results.

    python tests/cluster/compare_results.py LOCAL_DIR OTHER_DIR

Same run ids; per run the same status, epochs and every loss, accuracy and test-set probability,
bit for bit (CPU training is deterministic); the same rows in results/tables/runs.csv. Only what
measures time or the machine may differ. Exit status 0 when equal, 1 (with the differences) if not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

#: columns that measure the run's machine or time, not its result
MACHINE_COLUMNS = ("train_seconds", "wall_seconds", "images_per_s", "device_name", "git_commit")
RESULT_KEYS = ("status", "epochs_completed", "stopped_early", "best_epoch", "n_parameters", "grad_evals")


def differences(a: Path, b: Path) -> list[str]:
    found: list[str] = []
    runs_a = {p.name for p in (a / "results/runs").iterdir()}
    runs_b = {p.name for p in (b / "results/runs").iterdir()}
    if runs_a != runs_b:
        return [f"run ids differ: only in {a}: {sorted(runs_a - runs_b)}; only in {b}: {sorted(runs_b - runs_a)}"]
    for run_id in sorted(runs_a):
        found += run_differences(a / "results/runs" / run_id, b / "results/runs" / run_id)
    found += table_differences(a / "results/tables/runs.csv", b / "results/tables/runs.csv")
    return found


def run_differences(a: Path, b: Path) -> list[str]:
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    found = [f"{a.name}: {key} {sa.get(key)!r} != {sb.get(key)!r}"
             for key in (*RESULT_KEYS, *(k for k in sa if k.startswith(("final_", "best_"))))
             if sa.get(key) != sb.get(key)]
    ea, eb = (pd.read_csv(d / "epochs.csv").drop(columns=["train_seconds", "images_per_s"]) for d in (a, b))
    if not ea.equals(eb):
        found.append(f"{a.name}: epochs.csv differs:\n{ea.compare(eb) if ea.shape == eb.shape else (ea.shape, eb.shape)}")
    pa, pb = (np.load(d / "test_probs.npy", allow_pickle=False) for d in (a, b))
    if not np.array_equal(pa, pb):
        found.append(f"{a.name}: test_probs.npy differs (max |Δ| {np.abs(pa - pb).max():.3g})")
    return found


def table_differences(a: Path, b: Path) -> list[str]:
    ta, tb = (pd.read_csv(p).sort_values("run_id", ignore_index=True) for p in (a, b))
    ta, tb = (t.drop(columns=[c for c in MACHINE_COLUMNS if c in t]) for t in (ta, tb))
    if ta.equals(tb):
        return []
    return [f"runs.csv differs:\n{ta.compare(tb) if ta.shape == tb.shape else (ta.shape, tb.shape)}"]


def main(argv: list[str]) -> int:
    a, b = map(Path, argv)
    found = differences(a, b)
    for line in found:
        print(line, file=sys.stderr)
    n = sum(1 for _ in (a / "results/runs").iterdir())
    print(f"{n} runs compared: " + ("identical" if not found else f"{len(found)} difference(s)"))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
