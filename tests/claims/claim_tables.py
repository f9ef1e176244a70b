"""Result tables built by hand for the claims' tests: only the columns the claims read, with values
chosen so that the expected verdict follows from the claim's definition. Runs fail by the report's
rule on 466 validation images of 10 classes (`CHANCE`), as on the embedded images."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from trickbench.claims import CLAIMS, Results
from trickbench.claims.registered import load_all
from trickbench.claims.verdicts import judge
from trickbench.stats import ChanceTest
from trickbench.techniques import FAMILIES

CHANCE = ChanceTest(classes=10, n_val=466)

BASELINE = {"activation": "relu", "init": "he_normal", "norm": "none", "regularizer": "none", "optimizer": "momentum",
            "schedule": "cosine", "preprocessing": "standardize"}
SEEDS = (0, 1, 2, 3)


def run_row(run_id: str, seed: int, levels: Mapping[str, str], **metrics) -> dict:
    """A runs.csv row of a finished run: the baseline with `levels` changed."""
    labels = {**BASELINE, **levels}
    changed = [f for f in FAMILIES if labels[f] != BASELINE[f]]
    varies = changed[0] if len(changed) == 1 else ("baseline" if not changed else "several")
    return {"run_id": run_id, "seed": seed, "varies": varies, "data": "cifar10-mini", "model": "mlp", "epochs": 8,
            "batch_size": 128, **labels, "role": "grid", "status": "ok", "final_test_acc": 0.4, "final_val_acc": 0.41,
            "final_train_eval_acc": 0.5, "best_test_acc": 0.4, **metrics}


def level_runs(family: str, values: Mapping[str, Sequence[float]], column: str = "best_test_acc",
               seeds: Sequence[int] = SEEDS) -> pd.DataFrame:
    """One run per level × seed, `column` set to the level's value for that seed (one per seed)."""
    rows = []
    for level, per_seed in values.items():
        for seed, value in zip(seeds, per_seed):
            rows.append(run_row(f"{family}-{level}-{seed}", seed, {family: level}, **{column: value}))
    return pd.DataFrame(rows)


def curve_rows(run_id: str, column_values: Mapping[str, Sequence[float]]) -> list[dict]:
    """epochs.csv rows of one run: epoch 1, 2, … with each column's values."""
    length = len(next(iter(column_values.values())))
    return [{"run_id": run_id, "epoch": e + 1, **{c: v[e] for c, v in column_values.items()}} for e in range(length)]


def write(folder: Path, **tables: pd.DataFrame) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def verdict(folder: Path, name: str) -> dict:
    """The scorecard row of claim `name` judged alone (a family of one test: its 95 % interval)."""
    load_all()
    scorecard, _ = judge(Results(folder, CHANCE), {name: CLAIMS[name]})
    return scorecard.iloc[0].to_dict()


def mode_connectivity_rows(dips: dict[str, float]) -> list[dict]:
    """Paths of pairs (label → the Bezier curve's dip) with endpoints at 90 % training accuracy, each
    path dipping at its middle: the line by 50 points, the curve by the pair's dip."""
    return [{"pair": pair, "path": path, "t": t, "train_loss": 0.3, "train_acc": 0.9 - (depth if t == 0.5 else 0.0),
             "test_loss": 1.0, "test_acc": 0.4}
            for pair, dip in dips.items() for path, depth in (("line", 0.5), ("bezier", dip))
            for t in (0.0, 0.25, 0.5, 0.75, 1.0)]
