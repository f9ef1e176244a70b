"""Fault injection (issue 23): each fault a user or a cluster deals a trickbench workspace, and for
each the exit status, the one line it prints, and that every finished run survives bit for bit.

One tiny workflow (3 runs on synthetic 8×8 images, all in one training job: runs_per_job 3) is
trained once per module; every case works on a copy of it. The failing reruns of each fault come
one after another in one copy, then the one plain rerun completes it (each Snakemake start costs
~8 CPU-s); the cases that need a completed workspace work on copies of that one. The middle run uses `boom`, a plugin
optimizer that fails the way $BOOM says — `raise` (a plugin raising), `enospc` (a full disk),
`kill` (SIGKILL of the whole job: an out-of-memory kill or a cluster's time limit) — so a job
fails after one of its runs finished and before another. docs/bad-input.md lists every case.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, TINY_CONFIG
from run_helpers import subprocess_env
from trickbench.cli import main

pytestmark = pytest.mark.integration  # real Snakemake runs; the module trains its 3 runs once

BOOM = '''\
import os, signal
from trickbench.techniques.optimizers import OPTIMIZERS, Params, groups

@OPTIMIZERS.register("boom", reference="a fault injected by tests/reliability/test_fault_injection.py")
def boom(params: Params, *, lr: float = 0.05):
    fault = os.environ.get("BOOM")
    if fault == "raise":
        raise RuntimeError("boom")
    if fault == "enospc":
        raise OSError(28, "No space left on device")
    if fault == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    import torch
    return torch.optim.SGD(groups(params), lr=lr)
'''
#: the faults `boom` deals, in the order the failing reruns meet them
FAULTS = ["raise", "enospc", "kill"]
CONFIG = {**TINY_CONFIG, "plugins": ["boom.py"], "studies": "none", "execution": {"runs_per_job": 3},
          "design": {"kind": "ablation", "seeds": [0],
                     "factors": {"optimizer": [{"name": "momentum", "lr": 0.05}, "boom", "adam"]}}}


def snakemake(where: Path, *args: str, boom: str | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**subprocess_env(), **({"BOOM": boom} if boom else {})}
    return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *args], cwd=where, env=env,
                          capture_output=True, text=True, timeout=timeout)


def plan_ids(where: Path) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "trickbench", "plan", "--ids"], cwd=where, env=subprocess_env(),
                         capture_output=True, text=True, timeout=120)
    return out.stdout.split()


def run_hashes(where: Path) -> dict[str, str]:
    """sha256 over every file of every finished run folder (name and bytes), by run id."""
    hashes = {}
    for run_dir in sorted((where / "results" / "runs").iterdir()):
        if (run_dir / "summary.json").is_file():
            digest = hashlib.sha256()
            for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
                digest.update(str(path.relative_to(run_dir)).encode() + b"\0" + path.read_bytes())
            hashes[run_dir.name] = digest.hexdigest()
    return hashes


def job_log_lines(where: Path) -> list[str]:
    return [line for log in sorted((where / "results" / "logs" / "jobs").glob("*.log"))
            for line in log.read_text().splitlines() if "trickbench.multirun: job:" in line]


@pytest.fixture(scope="module")
def failed_once(tmp_path_factory):
    """The workspace after `snakemake --cores 2` (no profile, as the README says) with the middle
    run's plugin raising: the job fails after its first run finished, and trains its third. With
    the config's run ids, which no case changes (`trickbench plan --ids`, once)."""
    where = tmp_path_factory.mktemp("faults").resolve()
    shutil.copy(REPO / "Snakefile", where / "Snakefile")
    for name in ("workflow", "profiles"):  # profiles/default: the workflow profile Snakemake reads by itself
        (where / name).symlink_to(REPO / name)
    (where / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    (where / "boom.py").write_text(BOOM)
    result = snakemake(where, "results/tables/runs.csv", boom="raise")
    return where, result, plan_ids(where)


def copy_of(where: Path, to: Path) -> Path:
    """A workspace's copy (its runs' files byte for byte), without Snakemake's own records."""
    shutil.copytree(where, to, symlinks=True, ignore=shutil.ignore_patterns(".snakemake"))
    return to


@pytest.fixture
def workspace(failed_once, tmp_path) -> Path:
    """A copy of the failed workspace (2 of 3 runs finished) for one case."""
    return copy_of(failed_once[0], tmp_path / "ws")


@pytest.fixture(scope="module")
def faults_then_rerun(failed_once, tmp_path_factory) -> dict:
    """A copy of the failed workspace through a failing rerun with each fault in turn (the kill
    last: it leaves the roughest state), then the plain rerun, the one documented command. What
    each step left: its exit status, every finished run's hashes, the job's log lines."""
    where = copy_of(failed_once[0], tmp_path_factory.mktemp("completed") / "ws")
    steps = {"before": {"hashes": run_hashes(where)}}
    for fault in FAULTS:
        failed = snakemake(where, "results/tables/runs.csv", boom=fault)
        steps[fault] = {"returncode": failed.returncode, "hashes": run_hashes(where), "log": job_log_lines(where)}
    rerun = snakemake(where, "results/tables/runs.csv")
    steps["rerun"] = {"returncode": rerun.returncode, "stderr": rerun.stderr, "hashes": run_hashes(where),
                      "log": job_log_lines(where)}
    return {"where": where, "steps": steps}


@pytest.fixture(scope="module")
def completed_once(faults_then_rerun) -> Path:
    """The workspace once the plain rerun has trained the third run and collected the tables."""
    rerun = faults_then_rerun["steps"]["rerun"]
    assert rerun["returncode"] == 0, rerun["stderr"][-2000:]
    return faults_then_rerun["where"]


@pytest.fixture
def complete(completed_once, tmp_path) -> Path:
    """A copy of the completed workspace (3 runs and their tables) for one case."""
    return copy_of(completed_once, tmp_path / "ws")


def test_a_job_whose_plugin_raises_keeps_the_runs_it_finished(failed_once):
    where, result, ids = failed_once
    assert result.returncode == 1 and "Error in rule train_job_0" in result.stderr
    assert sorted(run_hashes(where)) == sorted([ids[0], ids[2]])  # before and after the failing run
    started, ended = (line.split(": job: ")[1] for line in job_log_lines(where))
    assert started == "3 run(s), 0 already finished, 3 to train" and ended.startswith("2 trained, 1 failed")


@pytest.mark.parametrize("fault", FAULTS)
def test_a_failing_rerun_loses_nothing(faults_then_rerun, fault):
    before, step = faults_then_rerun["steps"]["before"], faults_then_rerun["steps"][fault]
    assert step["returncode"] == 1
    assert step["hashes"] == before["hashes"]  # every finished run, bit for bit
    started = [line for line in step["log"] if "run(s)," in line][-1]
    assert started.endswith("job: 3 run(s), 2 already finished, 1 to train")


def test_after_the_failing_reruns_the_plain_rerun_trains_only_what_is_missing(faults_then_rerun, failed_once):
    before, rerun = faults_then_rerun["steps"]["before"], faults_then_rerun["steps"]["rerun"]
    assert rerun["returncode"] == 0, rerun["stderr"][-2000:]  # the one documented command, nothing else
    after = rerun["hashes"]
    assert sorted(after) == sorted(failed_once[2]) and {k: after[k] for k in before["hashes"]} == before["hashes"]
    assert rerun["log"][-1].split(": job: ")[1].startswith("1 trained, 0 failed")


def test_a_deleted_run_folder_is_trained_again_although_the_report_exists(complete, failed_once):
    workspace = complete
    (workspace / "reports").mkdir()
    (workspace / "reports" / "report.html").write_text("an earlier report")
    victim = failed_once[2][2]
    shutil.rmtree(workspace / "results" / "runs" / victim)
    # a process of its own: the config's plugin is loaded once per process
    plan = subprocess.run([sys.executable, "-m", "trickbench", "plan"], cwd=workspace, env=subprocess_env(),
                          capture_output=True, text=True, timeout=120).stdout
    assert "2 done, 1 to train" in plan
    dry = snakemake(workspace, "-n")
    assert dry.returncode == 0 and "Nothing to be done" not in dry.stdout
    assert f"reason: Missing output files: results/trained/{victim}" in dry.stdout


# -- bad input: one line, exit status 2, no run touched -------------------------------------------

def plan_with(where: Path, text: bytes | str) -> Path:
    path = where / "bad.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


#: case → (arguments of `trickbench`, a file's content or None, the one line)
BAD_INPUT = {
    "config with a YAML syntax error": (
        ["plan", "--configfile", "bad.yaml"], "train: {epochs: 2\nmodel: mlp\n",
        "config error at 'bad.yaml': got \"invalid YAML (line 2, column 6: expected ',' or '}', but got ':')\"; "
        "allowed: a YAML mapping of sections (data, model, train, …)"),
    "config that is a list": (
        ["plan", "--configfile", "bad.yaml"], "- train\n- model\n",
        "config error at 'bad.yaml': got 'a list at the top level'; allowed: a YAML mapping of sections (data, model, train, …)"),
    "config that is not UTF-8": (
        ["plan", "--configfile", "bad.yaml"], b"train: {epochs: 2}\n# \xe9t\xe9\n",
        "config error at 'bad.yaml': got 'byte 0xe9 at offset 21'; allowed: a UTF-8 text file"),
    "config with a key given twice": (
        ["plan", "--configfile", "bad.yaml"], "train: {epochs: 2}\ntrain: {epochs: 3}\n",
        "config error at 'bad.yaml': got \"invalid YAML (line 2, column 1: key 'train' given twice (lines 1 and 2); "
        "a mapping takes each key once)\"; allowed: a YAML mapping of sections (data, model, train, …)"),
    "--config value with bad YAML": (
        ["plan", "--config", "train={epochs: [2"], None,
        "config error at '--config': got 'train={epochs: [2'; allowed: KEY=VALUE with a YAML value "
        "(expected ',' or ']', but got '<stream end>')"),
    "--spec JSON that is a list": (
        ["train", "--spec", "[1, 2]"], None,
        "config error at '--spec': got '[1, 2]'; allowed: a JSON run spec (an object {...}, not a list)"),
    "--spec JSON that is NaN": (
        ["train", "--spec", "NaN"], None, "config error at '--spec': got 'NaN'; allowed: a JSON run spec (NaN is not JSON)"),
    "val_fraction 0": (["plan", "--config", "data={val_fraction: 0}"], None,
                       "config error at 'data.val_fraction': got 0; allowed: > 0"),
    "lr NaN": (["plan", "--config", "baseline={optimizer: {name: sgd, lr: .nan}}"], None,
               "config error at 'baseline.optimizer.lr': got nan; allowed: a finite number"),
    "lr infinite": (["plan", "--config", "baseline={optimizer: {name: sgd, lr: .inf}}"], None,
                    "config error at 'baseline.optimizer.lr': got inf; allowed: a finite number"),
    "epochs 1e9": (["plan", "--config", "train={epochs: 1000000000}"], None,
                   "config error at 'train.epochs': got 1000000000; allowed: <= 10000"),
    "a level listed twice": (
        ["plan", "--config", "design={factors: {optimizer: [adam, sgd, {name: adam}]}}"], None,
        "config error at 'design.factors.optimizer[2]': got {'name': 'adam'}; allowed: a level not listed before "
        "(it repeats design.factors.optimizer[0])"),
    "a level without a name": (
        ["plan", "--config", "design={factors: {optimizer: [{lr: 0.1}]}}"], None,
        "config error at 'design.factors.optimizer.0': got {'lr': 0.1}; allowed: a technique name, or a mapping with "
        "'name' and its parameters (e.g. {name: sgd, lr: 0.1}); this mapping has no 'name'"),
}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_gets_one_line_and_touches_no_run(workspace, case, capsys, monkeypatch):
    args, content, line = BAD_INPUT[case]
    if content is not None:
        plan_with(workspace, content)
    monkeypatch.chdir(workspace)
    before = run_hashes(workspace)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err == f"trickbench: error: {line}\n"
    assert run_hashes(workspace) == before


@pytest.mark.parametrize("command", ["report", "claims"])
def test_a_runs_table_missing_a_column_gets_one_line(complete, command):
    workspace = complete
    runs_csv = workspace / "results" / "tables" / "runs.csv"
    header, *rows = runs_csv.read_text().splitlines()
    drop = header.split(",").index("final_test_acc")
    runs_csv.write_text("\n".join(",".join(c for i, c in enumerate(r.split(",")) if i != drop)
                                  for r in [header, *rows]) + "\n")
    before = run_hashes(workspace)
    # a process of its own: the config's plugin is loaded once per process
    result = subprocess.run([sys.executable, "-m", "trickbench", command], cwd=workspace, env=subprocess_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and result.stderr == (
        "trickbench: error: runs table results/tables/runs.csv lacks column(s) final_test_acc: it was not written "
        "by this trickbench's collect step; collect it again: snakemake --cores 2 results/tables/runs.csv\n")
    assert run_hashes(workspace) == before


def test_a_reader_that_stops_early_gets_no_traceback(workspace):
    """`trickbench plan | head -1`: the reader goes away before the writer is done."""
    process = subprocess.Popen([sys.executable, "-m", "trickbench", "plan", "--limit", "1000"], cwd=workspace,
                               env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # as head does once it has its line
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0 and err == b""


def test_duplicate_keys_stop_snakemake_before_any_job_with_the_same_line(workspace):
    config = (workspace / "config.yaml").read_text()
    (workspace / "config.yaml").write_text(config + "train: {epochs: 3}\n")
    before = run_hashes(workspace)
    result = snakemake(workspace, "-n")
    assert result.returncode == 1
    assert "config error at '" in result.stderr and "key 'train' given twice" in result.stderr
    assert "Traceback" not in result.stderr and run_hashes(workspace) == before


@pytest.mark.serial  # kills a process group at a moment it waits for; keep other heavy tests off the cores
def test_after_snakemake_itself_is_killed_trickbench_resume_is_the_one_command(workspace, failed_once):
    """SIGKILL of snakemake and its job while the missing run trains (a closed login session): the
    lock stays behind, and `trickbench resume` alone finishes the work, losing no finished run."""
    import signal
    import time

    before = run_hashes(workspace)
    ids = failed_once[2]
    missing = next(run_id for run_id in ids if run_id not in before)
    process = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2", "results/tables/runs.csv"],
                               cwd=workspace, env=subprocess_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    shutil.rmtree(workspace / "results" / "runs" / missing)  # its failed try's spec.json must not count
    started = workspace / "results" / "runs" / missing / "spec.json"  # written when the run starts training
    locks = workspace / ".snakemake" / "locks"
    deadline = time.monotonic() + 300
    while not (started.exists() and locks.is_dir() and any(locks.iterdir())) and process.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "snakemake ended before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert any((workspace / ".snakemake" / "locks").iterdir())  # what a plain rerun would stop at
    resumed = subprocess.run([sys.executable, "-m", "trickbench", "resume", "--cores", "2", "results/tables/runs.csv"],
                             cwd=workspace, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "removing the lock a stopped snakemake left" in resumed.stderr
    after = run_hashes(workspace)
    assert sorted(after) == sorted(ids) and {k: after[k] for k in before} == before
