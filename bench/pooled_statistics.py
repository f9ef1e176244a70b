"""The default grid's comparisons, per-comparison tests against the pooled model (issue 20 items 1–2).

For each comparison of the noise floor (every variant against the baseline, final test accuracy of
the returned model): the difference, its Holm-corrected interval and the minimum detectable effect
(80 % power) by the per-comparison test (`stats.compare_to_reference`: paired t on each
comparison's own seeds) and by the pooled model (`stats.pooled_compare_to_reference`: one OLS over
every cell with seeds as blocks). Where the runs table holds extra reference seeds
(`design.reference_seeds`), the pooled model is also fitted with them, and the gain per extra
core-second of training is stated: minimum detectable effects and detectable count with and
without the extra baseline runs, over their summed training seconds.

    python bench/pooled_statistics.py                              # results/ of this checkout
    python bench/pooled_statistics.py --results /tmp/pooled-grid   # a workspace that ran the grid

Not a timed test: the numbers are statistics of runs already trained; the machine and load are
recorded because the runs' accuracies come from it (bench/machine.py).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from machine import REPO, describe_machine, write_result


def comparisons(values: pd.DataFrame, baseline: str = "baseline") -> pd.DataFrame:
    """Both tests on the same runs, one row per variant."""
    from trickbench.stats import compare_to_reference, pooled_compare_to_reference

    keep = ["variant", "n", "n_reference", "diff", "test", "df", "diff_ci_low", "diff_ci_high", "detectable", "mde",
            "seeds_needed"]
    per = compare_to_reference(values, "variant", "value", baseline)[keep]
    pooled = pooled_compare_to_reference(values, "variant", "value", baseline)[[*keep, "why"]]
    return per.merge(pooled, on="variant", suffixes=("_per_comparison", "_pooled"))


def summary(table: pd.DataFrame, suffix: str) -> dict[str, float]:
    mde = table[f"mde_{suffix}"]
    return {"mde_min": float(mde.min()), "mde_median": float(mde.median()), "mde_max": float(mde.max()),
            "detectable": int(table[f"detectable_{suffix}"].sum()), "comparisons": int(len(table)),
            "test": str(table[f"test_{suffix}"].iloc[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=REPO, help="the folder holding results/ and config.yaml")
    args = parser.parse_args()
    machine = describe_machine()
    from trickbench.config import load_config
    from trickbench.report.noise import trained_variants

    config = load_config(args.results / "config.yaml")
    runs = pd.read_csv(args.results / "results" / "tables" / "runs.csv")
    trained = trained_variants(runs, config)
    values = trained.assign(value=100 * pd.to_numeric(trained["final_test_acc"], errors="coerce"))
    seeds = list(config["design"]["seeds"])
    design = values[values["seed"].isin(seeds)]
    table = comparisons(design)
    pd.set_option("display.width", 200)
    print(f"{len(design)} runs, {design['variant'].nunique()} cells, seeds {seeds}")
    print(table[["variant", "diff_pooled", "diff_ci_low_per_comparison", "diff_ci_high_per_comparison", "mde_per_comparison",
                 "diff_ci_low_pooled", "diff_ci_high_pooled", "mde_pooled"]].round(2).to_string(index=False))
    print("why:", table["why"].iloc[0])
    payload = {"results": str(args.results), "runs": int(len(design)), "cells": int(design["variant"].nunique()),
               "seeds": seeds, "per_comparison": summary(table, "per_comparison"), "pooled": summary(table, "pooled"),
               "why": str(table["why"].iloc[0]),
               "comparisons": json.loads(table.to_json(orient="records"))}
    extra = values[(values["variant"] == "baseline") & ~values["seed"].isin(seeds)]
    if len(extra):
        with_extra = comparisons(values)
        seconds = float(pd.to_numeric(extra["train_seconds"], errors="coerce").sum())
        gained = {"extra_reference_runs": int(len(extra)), "extra_seeds": sorted(map(int, extra["seed"])),
                  "extra_train_core_seconds": seconds, "pooled": summary(with_extra, "pooled"),
                  "per_comparison": summary(with_extra, "per_comparison")}
        before, after = payload["pooled"], gained["pooled"]
        gained["mde_median_gain_per_core_second"] = (before["mde_median"] - after["mde_median"]) / seconds
        gained["detectable_gain_per_core_hour"] = (after["detectable"] - before["detectable"]) / seconds * 3600
        design_seconds = float(pd.to_numeric(design["train_seconds"], errors="coerce").sum())
        gained["design_train_core_seconds"] = design_seconds
        payload["with_reference_seeds"] = gained
        print(f"with {len(extra)} extra baseline runs ({seconds:.0f} core-s, the design's {design_seconds:.0f}): pooled MDE "
              f"median {before['mde_median']:.2f} → {after['mde_median']:.2f}, detectable {before['detectable']} → "
              f"{after['detectable']} ({after['test']})")
    print(f"per-comparison MDE {payload['per_comparison']['mde_min']:.1f}–{payload['per_comparison']['mde_max']:.1f}, "
          f"pooled {payload['pooled']['mde_min']:.1f}–{payload['pooled']['mde_max']:.1f} points; detectable "
          f"{payload['per_comparison']['detectable']} → {payload['pooled']['detectable']} of {len(table)}")
    write_result("pooled_statistics", payload, machine)


if __name__ == "__main__":
    main()
