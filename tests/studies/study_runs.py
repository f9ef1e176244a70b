"""Hand-made run folders for study tests: a summary and an epochs table, no training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from trickbench.spec import RunSpec


def write_run(root: Path, spec: RunSpec, curves: Mapping[str, Sequence[float]], status: str = "ok",
              **summary: object) -> Path:
    """results/runs/<id>/ with epochs.csv built from `curves` (missing columns filled with 0.5)
    and a summary.json whose final_* values are the curves' last values."""
    run_dir = root / spec.run_id
    run_dir.mkdir(parents=True)
    epochs = len(next(iter(curves.values())))
    frame = pd.DataFrame({"epoch": np.arange(1, epochs + 1)})
    for column in ("train_loss", "train_acc", "train_eval_loss", "train_eval_acc", "val_loss", "val_acc", "test_loss",
                   "test_acc"):
        frame[column] = curves.get(column, [0.5] * epochs)
    for column, values in curves.items():
        frame[column] = values
    frame.to_csv(run_dir / "epochs.csv", index=False)
    last = frame.iloc[-1]
    record = {"run_id": spec.run_id, "spec": spec.to_dict(), "status": status, "epochs_completed": epochs,
              "n_parameters": 100, **{f"final_{c}": float(last[c]) for c in frame.columns if c != "epoch"}, **summary}
    (run_dir / "summary.json").write_text(json.dumps(record))
    return run_dir
