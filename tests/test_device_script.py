"""bench/device.sh, the one script that runs every GPU measurement, run as its CPU smoke: every
stage runs at toy sizes and writes the result file it promises, with the fields docs/performance.md reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from run_helpers import subprocess_env

pytestmark = pytest.mark.integration


def test_the_smoke_writes_every_result_file(tmp_path):
    env = {**subprocess_env(), "TRICKBENCH_BENCH_RESULTS": str(tmp_path), "PYTHON": sys.executable,
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    result = subprocess.run(["bash", str(REPO / "bench/device.sh"), "--smoke"], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    read = lambda name: json.loads((tmp_path / f"{name}.json").read_text())
    device = read("device")
    assert device["status"] == "measured" and device["smoke"] and device["machine"]["load_average_1_5_15"]
    throughput = read("throughput")["results"]["mlp"]
    assert throughput["ours_images_per_s"] > 0 and throughput["reference_images_per_s"] > 0
    assert 0 < throughput["fraction_of_ceiling"] and throughput["speedup"] > 0
    packed = read("runs_per_hour")
    assert packed["smoke"] and packed["image_size"] == 32 and packed["packed"]["runs"] == 4
    assert packed["one_at_a_time"]["runs_per_hour"] > 0 and packed["packed"]["runs_per_hour"] > 0
    grid = read("jobs_gpu")["grid"]["runs_per_process"]
    assert grid["runs"] == 7 and grid["training_jobs"] == 1 and 0 < grid["training_share"] < 1
    assert not (REPO / "bench/results/device.json").exists() or \
        json.loads((REPO / "bench/results/device.json").read_text())["smoke"] is False  # the real results untouched
