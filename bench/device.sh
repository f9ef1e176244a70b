#!/usr/bin/env bash
# Every GPU measurement of trickbench in one go, at most 8 minutes on one GPU, results in bench/results/:
#   throughput.json       training images/s: ours vs the usual DataLoader loop, and vs the model's own
#                         forward+backward+step ceiling (targets on a GPU: >= 5x and >= 85 %)
#   runs_per_hour.json    runs per hour packed on one device: 50,000 CIFAR-shaped images, the small CNN,
#                         10 epochs, 4 processes x 8 seeds as seed groups (goal: 1,000 runs/h)
#   jobs_gpu.json         the default grid on the GPU, 8 runs per job and 4 jobs per GPU (gpu_slots):
#                         wall time, core-seconds and the share of them training and evaluating
#   device.json           what ran, on what, for how long — or why nothing was measured
#
#   bench/device.sh             on a machine with a CUDA GPU, from the repository root, with the venv
#   bench/device.sh --smoke     the same steps at toy sizes on the CPU (what tests/test_device_script.py runs);
#                               results go to $TRICKBENCH_BENCH_RESULTS (default: a temporary folder)
#
# Environment: PYTHON (default: python), TRICKBENCH_BENCH_RESULTS (where the JSON files go).
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
SMOKE=""
[[ ${1:-} == --smoke ]] && SMOKE=1
if [[ -n $SMOKE && -z ${TRICKBENCH_BENCH_RESULTS:-} ]]; then
    export TRICKBENCH_BENCH_RESULTS=$(mktemp -d -t trickbench-device-smoke.XXXXXX)  # never over the real results
fi
RESULTS=${TRICKBENCH_BENCH_RESULTS:-bench/results}
mkdir -p "$RESULTS"
START=$SECONDS
say() { printf '[device %4ds] %s\n' "$((SECONDS - START))" "$*"; }

record() {  # device.json: what this script did; $1 status, $2 reason or stage list
    "$PYTHON" - "$RESULTS/device.json" "$1" "$2" "$((SECONDS - START))" "$SMOKE" <<'PY'
import json, sys, time
sys.path.insert(0, "bench")
from machine import describe_machine
path, status, detail, seconds, smoke = sys.argv[1:]
json.dump({"benchmark": "device", "machine": describe_machine(), "status": status, "detail": detail,
           "seconds": int(seconds), "smoke": bool(smoke), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
          open(path, "w"), indent=2)
print(f"wrote {path}")
PY
}

DEVICE=cuda
if [[ -n $SMOKE ]]; then
    DEVICE=cpu
elif ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    record "not measured" "no CUDA device is visible here: run bench/device.sh on a machine with a GPU"
    say "no CUDA device: nothing measured (bench/device.sh --smoke checks the steps on the CPU)"
    exit 1
fi

# Each stage has its share of the 8 minutes; a stage past its share is stopped and the script fails.
stage() {  # $1 seconds, $2... the command
    local limit=$1; shift
    say "$*"
    timeout -s KILL "$limit" "$@" || { record "failed" "stage over its ${limit} s or failed: $*"; exit 1; }
}

if [[ -n $SMOKE ]]; then
    stage 300 "$PYTHON" bench/throughput.py --device cpu --models mlp --epochs 1 --seeds 1 --workers 0 --ceiling-steps 3
    stage 300 "$PYTHON" bench/runs_per_hour.py --smoke --device cpu
    stage 300 "$PYTHON" bench/jobs.py --skip-tiny --grid-only-packed --device cpu --name jobs_gpu \
        --grid-configfile workflow/presets/smoke.yaml --grid-target results/tables/runs.csv
else
    stage 120 "$PYTHON" bench/throughput.py --device cuda --epochs 5 --seeds 2
    stage 150 "$PYTHON" bench/runs_per_hour.py --device cuda --slots 4 --seeds 8
    stage 180 "$PYTHON" bench/jobs.py --skip-tiny --grid-only-packed --device cuda --cores 16 \
        --execution "{gpu_slots: 4}" --name jobs_gpu
fi
record "measured" "throughput.json runs_per_hour.json jobs_gpu.json"
say "done: results in $RESULTS"
