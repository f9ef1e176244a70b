"""Check that two workflow directories hold the same runs with the same results.

    python tests/cluster/compare_results.py LOCAL_DIR OTHER_DIR

Same run ids; per run the same summary, epochs and saved arrays (probabilities, logits), bit for
bit (CPU training is deterministic); the same rows in results/tables/runs.csv. Only what measures
time or the machine may differ. Exit status 0 when equal, 1 (with the differences) if not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

#: what measures the run's machine or time, not its result (everything else must be equal)
MACHINE_COLUMNS = ("train_seconds", "wall_seconds", "images_per_s", "device_name", "git_commit", "git_dirty",
                   "cumulative_train_seconds")


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
             for key in sorted(set(sa) | set(sb)) if key not in MACHINE_COLUMNS and sa.get(key) != sb.get(key)]
    ea, eb = (pd.read_csv(d / "epochs.csv").drop(columns=["train_seconds", "images_per_s"]) for d in (a, b))
    if not ea.equals(eb):
        found.append(f"{a.name}: epochs.csv differs:\n{ea.compare(eb) if ea.shape == eb.shape else (ea.shape, eb.shape)}")
    arrays = sorted({p.name for d in (a, b) for p in d.glob("*.npy")})
    for name in arrays:
        pa, pb = (np.load(d / name, allow_pickle=False) for d in (a, b))
        if pa.shape != pb.shape or not np.array_equal(pa, pb, equal_nan=True):
            found.append(f"{a.name}: {name} differs")
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
