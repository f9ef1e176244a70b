"""What portable numerics cost, and what they make equal: the same small MLP and CNN runs trained
in portable and in native mode (trickbench.numerics).

Each setting trains both runs in its own process, as a workflow job does (`python -m trickbench
train-many`, one thread): the mode's variables must be in a process's environment before it imports
torch, so no two settings can share one. Settings, interleaved within each repeat so that a change
of the machine's load hits all alike:

- **portable**: the default — ATen's AVX2 kernels, MKL's COMPATIBLE branch, oneDNN capped at AVX2;
- **native**: each library's own choice for this CPU;
- **mkl_avx2**: portable's ATen and oneDNN pins with MKL's AVX2 branch instead of COMPATIBLE (a
  native spec with the variables set by hand): what choosing COMPATIBLE costs.

Then, once each, the bits of two "other CPUs" emulated on this one with the instruction-set caps
the libraries offer (ATen DEFAULT, MKL SSE4_2, oneDNN SSE41: a CPU older than AVX2):
- **native_older_cpu**: native mode there — do native bits depend on the CPU?
- **portable_older_cpu**: portable mode with the same caps in its environment (the command replaces
  the pinned ones; MKL_ENABLE_INSTRUCTIONS, which it does not pin, stays) — do portable bits not?

The cost is the ratio of median training seconds (training passes only; evaluation and start-up
excluded), portable over native, per model. Run it niced on a shared machine; the result file
records the load.

    nice python bench/numerics.py                  # 3 repeats → bench/results/numerics.json
    nice python bench/numerics.py --repeats 1 --epochs 1
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import describe_machine, package_env, write_result

from trickbench.config import validate_config
from trickbench.design import baseline_spec
from trickbench.numerics import PINS

MODELS = {"mlp": {"name": "mlp", "depth": 2, "width": 256}, "cnn": {"name": "cnn", "depth": 2, "width": 16}}
OLDER_CPU = {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "ONEDNN_MAX_CPU_ISA": "SSE41"}
#: setting → (the specs' execution.numerics, variables put into the process's environment)
SETTINGS = {
    "portable": ("portable", {}),
    "native": ("native", {}),
    "mkl_avx2": ("native", {**PINS, "MKL_CBWR": "AVX2"}),
}
EMULATED = {
    "native_older_cpu": ("native", OLDER_CPU),
    "portable_older_cpu": ("portable", OLDER_CPU),
}


def config(model: str, mode: str, epochs: int) -> dict:
    return validate_config({
        "data": {"source": "cifar10-mini", "val_fraction": 0.1},
        "model": copy.deepcopy(MODELS[model]),
        "train": {"epochs": epochs, "batch_size": 128},
        "baseline": {"activation": "relu", "init": "he_normal", "norm": "batch", "regularizer": "none",
                     "optimizer": {"name": "momentum", "lr": 0.05}, "schedule": "cosine", "preprocessing": "standardize"},
        "design": {"kind": "ablation", "seeds": [0], "factors": {"activation": ["relu"]}},
        "execution": {"numerics": mode},
    })


def train(mode: str, variables: dict[str, str], epochs: int, where: Path) -> dict[str, dict]:
    """Both models in one process of `mode` with `variables`; per model its training seconds,
    the numerics its provenance recorded, and its bits (final test loss, test-logits hash)."""
    specs = {model: baseline_spec(config(model, mode, epochs), 0) for model in MODELS}
    env = {k: v for k, v in package_env().items() if k not in (*PINS, *OLDER_CPU)}
    words = [word for spec in specs.values() for word in ("--spec", spec.canonical_json())]
    result = subprocess.run([sys.executable, "-m", "trickbench", "train-many", *words, "--runs-dir", str(where / "runs"),
                             "--logs-dir", str(where / "logs"), "--data-root", str(where / "data"), "--device", "cpu",
                             "--threads", "1"], env={**env, **variables}, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(result.stderr[-2000:])
    out = {}
    for model, spec in specs.items():
        run_dir = where / "runs" / spec.run_id
        summary = json.loads((run_dir / "summary.json").read_text())
        out[model] = {"train_seconds": summary["train_seconds"], "numerics": summary["numerics"],
                      "cpu_capability": summary["cpu_capability"], "final_test_loss": float(summary["final_test_loss"]).hex(),
                      "final_test_acc": summary["final_test_acc"],
                      "test_logits_sha256": hashlib.sha256((run_dir / "test_logits.npy").read_bytes()).hexdigest()[:16]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="processes per setting for the timings (default 3)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each run (default 2)")
    args = parser.parse_args()
    machine = describe_machine()
    machine["niceness"] = os.nice(0)
    timed: dict[str, list[dict]] = {name: [] for name in SETTINGS}
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            for name, (mode, variables) in SETTINGS.items():
                timed[name].append(train(mode, variables, args.epochs, Path(folder) / f"{name}-{repeat}"))
                print(name, repeat, {m: round(r["train_seconds"], 2) for m, r in timed[name][-1].items()}, flush=True)
        emulated = {name: train(mode, variables, args.epochs, Path(folder) / name) for name, (mode, variables) in EMULATED.items()}
    median = {name: {model: statistics.median(r[model]["train_seconds"] for r in runs) for model in MODELS}
              for name, runs in timed.items()}
    first = {name: runs[0] for name, runs in timed.items()}
    same = lambda a, b, model: a[model]["test_logits_sha256"] == b[model]["test_logits_sha256"]
    payload = {
        "models": MODELS, "epochs": args.epochs, "repeats": args.repeats, "threads": 1,
        "data": "cifar10-mini (4,194 training images of 32×32), batch 128",
        "median_train_seconds": median,
        "portable_over_native": {model: median["portable"][model] / median["native"][model] for model in MODELS},
        "mkl_avx2_over_native": {model: median["mkl_avx2"][model] / median["native"][model] for model in MODELS},
        "bits": {**first, **emulated},
        "portable_repeats_identical": {model: len({r[model]["test_logits_sha256"] for r in timed["portable"]}) == 1
                                       for model in MODELS},
        "portable_equals_native_here": {model: same(first["portable"], first["native"], model) for model in MODELS},
        "portable_equals_portable_older_cpu": {model: same(first["portable"], emulated["portable_older_cpu"], model)
                                               for model in MODELS},
        "native_equals_native_older_cpu": {model: same(first["native"], emulated["native_older_cpu"], model)
                                           for model in MODELS},
        "note": "machine shared with other engineers' jobs (see load averages); run niced; medians over repeats",
    }
    for model in MODELS:
        print(f"{model}: portable/native training time {payload['portable_over_native'][model]:.2f}x, "
              f"MKL AVX2 branch/native {payload['mkl_avx2_over_native'][model]:.2f}x; portable = portable on an emulated "
              f"older CPU: {payload['portable_equals_portable_older_cpu'][model]}; native = native there: "
              f"{payload['native_equals_native_older_cpu'][model]}")
    write_result("numerics", payload, machine)


if __name__ == "__main__":
    main()
