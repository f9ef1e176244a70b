"""Disk per run, and for 10,000 runs: what a run folder holds with and without its weights (model.pt).

One run of the default config's baseline (the MLP 2×256) is trained into a temporary folder with
its weights kept, and every file is measured: once on the embedded images (846 test images) and
once on synthetic images of the full CIFAR-10's shapes and split sizes (50,000 train + 10,000 test,
32×32×3; one epoch — a run folder's size depends on the shapes, the number of test and validation
images and the epochs, not on the pixels). A run writes model.pt only where a study reads its
weights or execution.keep_weights asks.

    python bench/footprint.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from machine import REPO, describe_machine, write_result

RUNS = 10_000
DATA = {"embedded cifar10-mini": ({"source": "cifar10-mini"}, None),
        "full CIFAR-10 shapes": ({"source": {"name": "synthetic", "n_train": 50_000, "n_test": 10_000, "size": 32}}, 1)}


def measured_run(data: dict, epochs: int | None) -> dict:
    from trickbench.config import load_config
    from trickbench.design import baseline_spec
    from trickbench.run import Execution, train_run

    overrides = {"studies": "none", "data": data}
    if epochs is not None:
        overrides["train"] = {"epochs": epochs}
    spec = baseline_spec(load_config(REPO / "config.yaml", overrides=overrides), 0)
    with tempfile.TemporaryDirectory(prefix="trickbench-footprint-") as tmp:
        run_dir = Path(tmp) / spec.run_id
        train_run(spec, run_dir, Execution(device="cpu", threads=1), keep_weights=True)
        files = {p.name: p.stat().st_size for p in sorted(run_dir.iterdir())}
    weights = files["model.pt"]
    total = sum(files.values())
    return {"model": spec.model.as_dict(), "epochs": spec.train.epochs, "files_bytes": files,
            "run_bytes_with_weights": total, "run_bytes_without_weights": total - weights, "weights_bytes": weights,
            f"gigabytes_for_{RUNS}_runs_with_weights": round(RUNS * total / 1e9, 2),
            f"gigabytes_for_{RUNS}_runs_without_weights": round(RUNS * (total - weights) / 1e9, 2)}


def main() -> None:
    machine = describe_machine()
    results = {}
    for label, (data, epochs) in DATA.items():
        results[label] = measured_run(data, epochs)
        r = results[label]
        print(f"{label}: a run folder is {r['run_bytes_without_weights'] / 1e3:,.0f} kB, {r['weights_bytes'] / 1e6:.2f} MB more "
              f"with model.pt; {RUNS:,} runs: {r[f'gigabytes_for_{RUNS}_runs_without_weights']} GB, with every model.pt "
              f"{r[f'gigabytes_for_{RUNS}_runs_with_weights']} GB")
    write_result("footprint", {"runs": RUNS, "results": results}, machine)


if __name__ == "__main__":
    main()
