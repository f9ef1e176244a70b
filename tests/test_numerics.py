"""Portable numerics (trickbench.numerics): a tiny MLP and a tiny CNN, trained in portable mode,
give the bits committed in tests/golden/portable_numerics.json — on whatever x86-64 CPU runs the
tests, because only the pinned code paths compute them; the mode is part of the run id, is recorded
in provenance, and bad values get one line.

The golden runs are trained as the workflow trains them: `python -m trickbench train-many` in a new
process, one thread, its environment deliberately holding other values of the pinned variables
(the command must set its own). When the numbers change on purpose (a spec, model or training
change, a new torch), regenerate the file on any x86-64 machine with

    PYTHONPATH=workflow:tests python tests/test_numerics.py

and say in the commit why the bits moved.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from conftest import REPO, TINY_CONFIG
from trickbench import numerics
from trickbench.cli import main
from trickbench.config import validate_config
from trickbench.design import baseline_spec
from trickbench.errors import ConfigError
from trickbench.provenance import provenance
from trickbench.run import Execution, train_run
from trickbench.spec import RunSpec

GOLDEN = Path(__file__).with_name("golden") / "portable_numerics.json"
MODELS = {"mlp": TINY_CONFIG["model"], "cnn": {"name": "cnn", "depth": 1, "width": 8}}
#: what another CPU's libraries might choose; a portable command must replace each of them
CONTRARY = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "AUTO", "ONEDNN_MAX_CPU_ISA": "SSE41"}
x86_only = pytest.mark.skipif(not numerics.is_x86_64(), reason="the pins are x86-64 instruction sets")


def tiny_config(model: str, mode: str = "portable") -> dict:
    config = copy.deepcopy(TINY_CONFIG)
    config["model"] = copy.deepcopy(MODELS[model])
    config["execution"] = {"numerics": mode}
    return config


def tiny_spec(model: str, mode: str = "portable") -> RunSpec:
    return baseline_spec(validate_config(tiny_config(model, mode)), 0)


def child_env(**variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in numerics.PINS}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "workflow"), *filter(None, [env.get("PYTHONPATH")])])
    return {**env, **variables}


def train_many(specs: list[RunSpec], where: Path, env: dict[str, str]) -> None:
    words = [word for spec in specs for word in ("--spec", spec.canonical_json())]
    result = subprocess.run([sys.executable, "-m", "trickbench", "train-many", *words, "--runs-dir", str(where / "runs"),
                             "--logs-dir", str(where / "logs"), "--data-root", str(where / "data"), "--device", "cpu",
                             "--threads", "1"], env=env, cwd=where, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]


def bits(run_dir: Path) -> dict:
    """What a run's numbers are, bit for bit: its final losses as float.hex, its accuracy, and a
    hash of its test logits."""
    summary = json.loads((run_dir / "summary.json").read_text())
    logits = np.load(run_dir / "test_logits.npy", allow_pickle=False)
    return {"run_id": summary["run_id"],
            **{key: float(summary[key]).hex() for key in ("final_train_loss", "final_val_loss", "final_test_loss")},
            "final_test_acc": summary["final_test_acc"],
            "test_logits_sha256": hashlib.sha256(logits.tobytes()).hexdigest()}


def golden() -> dict:
    return json.loads(GOLDEN.read_text())


# ---- the golden numbers -------------------------------------------------------------------------

@x86_only
def test_portable_runs_give_the_golden_bits_whatever_the_environment_said(tmp_path):
    specs = {model: tiny_spec(model) for model in MODELS}
    train_many(list(specs.values()), tmp_path, child_env(**CONTRARY))
    expected = golden()
    for model, spec in specs.items():
        assert bits(tmp_path / "runs" / spec.run_id) == expected[model], (
            f"{model}: portable bits differ from tests/golden/portable_numerics.json (see this module's docstring)")
        summary = json.loads((tmp_path / "runs" / spec.run_id / "summary.json").read_text())
        assert (summary["numerics"], summary["cpu_capability"]) == ("portable", "AVX2")


@x86_only
def test_train_by_id_restarts_itself_into_the_mode_with_the_same_bits(tmp_path):
    """`trickbench train --run-id` reads the config (importing torch) before it knows the run's mode,
    so it re-executes itself with the mode's variables: the run still gives the golden bits."""
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(tiny_config("mlp")))
    spec = tiny_spec("mlp")
    result = subprocess.run([sys.executable, "-m", "trickbench", "train", "--run-id", spec.run_id[:8], "--device", "cpu"],
                            env=child_env(**CONTRARY), cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert bits(tmp_path / "results" / "runs" / spec.run_id) == golden()["mlp"]


@x86_only
def test_native_mode_leaves_the_libraries_to_the_cpu_and_says_so(tmp_path):
    spec = tiny_spec("mlp", "native")
    train_many([spec], tmp_path, child_env())
    summary = json.loads((tmp_path / "runs" / spec.run_id / "summary.json").read_text())
    assert summary["numerics"] == "native"
    measured = bits(tmp_path / "runs" / spec.run_id)
    assert measured["test_logits_sha256"] != golden()["mlp"]["test_logits_sha256"], (
        "native and portable gave the same bits: the pins changed nothing (MKL's COMPATIBLE branch should)")


# ---- the run id, provenance and refusals --------------------------------------------------------

def test_the_mode_is_part_of_the_run_id_and_native_ids_are_those_of_before():
    portable, native = tiny_spec("mlp", "portable"), tiny_spec("mlp", "native")
    assert portable.run_id != native.run_id
    # runs trained before the mode existed were native: their canonical form has no numerics key
    assert native.canonical_json() == portable.canonical_json().replace('"numerics":"portable",', "")
    for spec in (portable, native):
        assert spec.run_id == hashlib.sha256(spec.canonical_json().encode()).hexdigest()[:12]
        assert RunSpec.from_dict(json.loads(spec.canonical_json())) == spec


def test_the_default_mode_is_portable():
    config = validate_config(copy.deepcopy(TINY_CONFIG))
    assert config["execution"]["numerics"] == numerics.DEFAULT_MODE == "portable"
    assert baseline_spec(config, 0).numerics == "portable"


@x86_only
def test_provenance_records_the_mode_in_effect(monkeypatch):
    assert provenance(torch.device("cpu"))["numerics"] == "portable"  # conftest made the test process portable
    assert provenance(torch.device("cpu"))["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    monkeypatch.setenv("MKL_CBWR", "AUTO")
    assert provenance(torch.device("cpu"))["numerics"].startswith("custom (ATEN_CPU_CAPABILITY=avx2, MKL_CBWR=AUTO")
    for name in numerics.PINS:
        monkeypatch.delenv(name, raising=False)
    assert provenance(torch.device("cpu"))["numerics"] == "native"
    assert numerics.in_effect("cuda") == "not applicable (cuda)"


def test_the_report_says_which_numerics_made_its_numbers():
    import pandas as pd

    from trickbench.report.html import environment

    runs = pd.DataFrame({"numerics": ["portable", "portable"], "cpu_capability": ["AVX2", "AVX2"]})
    env = environment(runs, "now")
    assert env["CPU numerics (execution.numerics)"] == "portable" and env["PyTorch CPU kernels"] == "AVX2"


def test_off_x86_nothing_is_pinned_and_the_record_says_native(monkeypatch):
    monkeypatch.setattr(numerics.platform, "machine", lambda: "aarch64")
    assert numerics.environment("portable") == {}
    assert numerics.in_effect("cpu") == "native (not x86-64)"
    numerics.require("portable", "cpu")  # nothing to refuse: the mode pins nothing there


@x86_only
def test_a_process_that_is_not_portable_refuses_a_portable_run(tmp_path, monkeypatch):
    monkeypatch.setenv("MKL_CBWR", "AUTO")  # as if torch had loaded under another value
    with pytest.raises(ConfigError, match=r"^config error at 'execution.numerics': got 'portable'; allowed: a process "
                                          r"started in this mode.*this process is custom"):
        train_run(tiny_spec("mlp"), tmp_path / "run", Execution(device="cpu"))
    assert not (tmp_path / "run" / "summary.json").exists()
    with pytest.raises(ConfigError, match="torch was imported with"):
        numerics.enter("portable", restart=None)  # torch is loaded here: only a new process can enter it
    train_run(tiny_spec("mlp", "native"), tmp_path / "native", Execution(device="cpu"))  # native promises nothing
    summary = json.loads((tmp_path / "native" / "summary.json").read_text())
    assert summary["numerics"].startswith("custom (") and "MKL_CBWR=AUTO" in summary["numerics"]


@pytest.mark.parametrize("check, key", [
    (lambda: validate_config({**copy.deepcopy(TINY_CONFIG), "execution": {"numerics": "fast"}}), "execution.numerics"),
    (lambda: numerics.configured_mode({"execution": {"numerics": "AVX2"}}), "execution.numerics"),
    (lambda: RunSpec.from_dict({**tiny_spec("mlp").to_dict(), "numerics": "fast"}), "spec.numerics"),
])
def test_bad_modes_get_one_line(check, key):
    with pytest.raises(ConfigError) as error:
        check()
    message = str(error.value)
    assert "\n" not in message and f"'{key}'" in message and "portable" in message and "native" in message


def test_a_command_given_a_bad_mode_says_so_in_one_line(capsys):
    text = json.dumps({**tiny_spec("mlp").to_dict(), "numerics": "fast"})
    assert main(["train", "--spec", text]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "config error at '--spec numerics': got 'fast'; allowed: portable, native" in err


def test_one_process_trains_runs_of_one_mode(capsys, tmp_path):
    texts = [tiny_spec("mlp", mode).canonical_json() for mode in ("portable", "native")]
    assert main(["train-many", "--spec", texts[0], "--spec", texts[1], "--runs-dir", str(tmp_path)]) == 2
    assert "one mode for all runs of one process" in capsys.readouterr().err


def regenerate(where: Path) -> None:
    """Train the golden runs as the first test does and write their bits to GOLDEN."""
    specs = {model: tiny_spec(model) for model in MODELS}
    train_many(list(specs.values()), where, child_env(**CONTRARY))
    GOLDEN.write_text(json.dumps({model: bits(where / "runs" / spec.run_id) for model, spec in specs.items()},
                                 indent=1) + "\n")
    print(f"wrote {GOLDEN}")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        regenerate(Path(folder))
