"""Plugins by config: a user's file (or module) registers techniques through the built-ins'
decorator, loads relative to the config that names it, is listed as a plugin, and its source
hash is part of the ids of exactly the runs that use its techniques — recorded in their
provenance, carried into a training job that is a new process, and checked there."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import TINY_CONFIG
from plugin_helpers import SCALED_TANH, clean_registries, copy_lion, sha256_of, write_plugin  # noqa: F401
from run_helpers import subprocess_env
from trickbench import cli
from trickbench.collect import collect
from trickbench.config import load_config
from trickbench.errors import ConfigError
from trickbench.plugins import PluginError, load_plugins, loaded, plugins_folder, spec_plugins
from trickbench.registry import PluginRef
from trickbench.run import Execution, train_run
from trickbench.techniques import FAMILIES
from trickbench.workflow import plan_from_config

OPTIMIZER_LEVELS = ["momentum", "lion", "adam"]


def config_file(folder: Path, plugins: list[str], optimizers: list = OPTIMIZER_LEVELS, name: str = "config.yaml") -> Path:
    """The tiny synthetic config, its optimizer factor at `optimizers`, naming `plugins`."""
    config = copy.deepcopy(TINY_CONFIG)
    config.update(plugins=plugins, studies="none")
    config["design"]["factors"] = {"optimizer": optimizers}
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def plan_of(path: Path):
    return plan_from_config(load_config(path))


def ids_by_optimizer(plan) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = {}
    for run_id, spec in plan.runs.items():
        ids.setdefault(spec.optimizer.name, []).append(run_id)
    return ids


# ---- loading --------------------------------------------------------------------------------------

def test_a_config_loads_its_plugins_relative_to_its_own_folder(tmp_path, monkeypatch, clean_registries):
    lion = copy_lion(tmp_path / "project" / "tricks")
    path = config_file(tmp_path / "project", ["tricks/lion.py"])
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    plan = plan_of(path)
    lion_runs = [spec for spec in plan.runs.values() if spec.optimizer.name == "lion"]
    assert len(lion_runs) == 1 and len(plan.runs) == 3
    assert lion_runs[0].optimizer.plugin == PluginRef("tricks/lion.py", sha256_of(lion))
    assert lion_runs[0].plugins == (PluginRef("tricks/lion.py", sha256_of(lion)),)
    entry = FAMILIES["optimizer"].get("lion")
    assert entry.plugin.file == "tricks/lion.py" and entry.summary.startswith("Sign of interpolated momentum")


def test_the_plugin_folder_is_that_of_the_last_config_setting_plugins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first, second, third = (tmp_path / name for name in ("a", "b", "c"))
    for folder, content in ((first, {"plugins": ["x.py"]}), (second, {"train": {"epochs": 1}}), (third, {"plugins": []})):
        folder.mkdir()
        (folder / "config.yaml").write_text(yaml.safe_dump(content))
    files = [first / "config.yaml", second / "config.yaml"]
    assert plugins_folder(files, {}) == first  # b does not set plugins: a's folder
    assert plugins_folder([*files, third / "config.yaml"], {}) == third  # c sets them last
    assert plugins_folder(files, {"plugins": ["x.py"]}) == tmp_path  # --config plugins=...: the working directory
    assert plugins_folder([second / "config.yaml"], {}) == tmp_path


def test_a_module_name_loads_by_import_and_hashes_its_file(tmp_path, monkeypatch, clean_registries):
    module = write_plugin(tmp_path / "site", "my_scaled_tanh_trick.py", SCALED_TANH)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    (plugin,) = load_plugins(["my_scaled_tanh_trick"], tmp_path / "unused")
    assert plugin.ref == PluginRef("my_scaled_tanh_trick", sha256_of(module))
    assert plugin.techniques == (("activation", "scaled_tanh"),)
    technique = FAMILIES["activation"].resolve({"name": "scaled_tanh", "scale": 2.0}, "activation")
    assert technique.plugin == plugin.ref
    import torch

    layer = FAMILIES["activation"].build(technique, 4)
    assert torch.allclose(layer(torch.tensor([0.5])), 2.0 * torch.tanh(torch.tensor([0.5])))


def test_a_module_imported_before_it_is_named_as_a_plugin_is_attributed_not_run_twice(tmp_path, monkeypatch, clean_registries):
    import importlib

    module = write_plugin(tmp_path / "site", "early_scaled_tanh_trick.py", SCALED_TANH)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.import_module("early_scaled_tanh_trick")  # e.g. by the user's own test
    assert FAMILIES["activation"].get("scaled_tanh").plugin is None
    (plugin,) = load_plugins(["early_scaled_tanh_trick"], tmp_path)
    assert plugin.techniques == (("activation", "scaled_tanh"),)
    assert FAMILIES["activation"].get("scaled_tanh").plugin == PluginRef("early_scaled_tanh_trick", sha256_of(module))


def test_a_package_plugin_is_hashed_over_all_its_files(tmp_path, monkeypatch, clean_registries):
    """A package named by module name: editing any of its .py files changes the hash."""
    write_plugin(tmp_path / "site", "my_tricks_pkg/__init__.py", "from my_tricks_pkg import activations\n")
    inner = write_plugin(tmp_path / "site", "my_tricks_pkg/activations.py", SCALED_TANH)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    (before,) = load_plugins(["my_tricks_pkg"], tmp_path)
    assert before.techniques == (("activation", "scaled_tanh"),)
    inner.write_text(inner.read_text() + "\n# a note\n")
    (after,) = load_plugins(["my_tricks_pkg"], tmp_path)
    assert after.ref.sha256 != before.ref.sha256 and after.ref.file == "my_tricks_pkg"
    assert FAMILIES["activation"].get("scaled_tanh").plugin == after.ref


def test_a_plugin_loads_once_and_an_edited_one_replaces_the_old(tmp_path, clean_registries):
    lion = copy_lion(tmp_path)
    (first,) = load_plugins(["lion.py"], tmp_path)
    assert load_plugins(["lion.py"], tmp_path)[0] is first  # a second plan in the same process
    lion.write_text(lion.read_text() + "# lr sweep notes\n")
    (edited,) = load_plugins(["lion.py"], tmp_path)
    assert edited.ref.sha256 == sha256_of(lion) != first.ref.sha256
    assert FAMILIES["optimizer"].get("lion").plugin == edited.ref and loaded() == [edited]


def test_a_plugin_failing_half_way_leaves_no_technique_behind(tmp_path, clean_registries):
    write_plugin(tmp_path, "half.py", SCALED_TANH + "\nraise RuntimeError('half way')\n")
    with pytest.raises(PluginError, match="fails at import"):
        load_plugins(["half.py"], tmp_path)
    assert "scaled_tanh" not in FAMILIES["activation"] and loaded() == []
    write_plugin(tmp_path, "whole.py", SCALED_TANH)
    assert load_plugins(["whole.py"], tmp_path)[0].techniques == (("activation", "scaled_tanh"),)


def test_techniques_lists_plugins_marked_with_their_file(tmp_path, capsys, monkeypatch, clean_registries):
    monkeypatch.setattr("trickbench.logs.configure", lambda verbose=False: None)
    copy_lion(tmp_path / "tricks")
    path = config_file(tmp_path, ["tricks/lion.py"])
    assert cli.main(["techniques", "optimizer", "--configfile", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    (row,) = [line for line in lines if line.split()[0] == "lion"]
    assert row.endswith("— Chen et al. 2023, Symbolic Discovery of Optimization Algorithms (Alg. 2) (plugin tricks/lion.py)")
    assert "[lr=0.0001, beta1=0.9, beta2=0.99, weight_decay=0.0]" in row
    assert not any("(plugin" in line for line in lines if line.split()[0] != "lion")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["techniques", "optimizer", "--markdown", "--plugin", "tricks/lion.py"]) == 0
    assert "| `lion` (plugin `tricks/lion.py`) | Sign of interpolated momentum" in capsys.readouterr().out


def test_the_lion_example_plans_the_plugin_against_the_catalogues_optimizers(clean_registries):
    """examples/lion.yaml as shipped (tests/integration/test_plugin_workflow.py trains it small)."""
    from plugin_helpers import EXAMPLES, LION

    plan = plan_of(EXAMPLES / "lion.yaml")
    ids = ids_by_optimizer(plan)
    assert set(ids) == {"lion", "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"}
    assert all(len(run_ids) == 3 for run_ids in ids.values()) and len(plan.runs) == 24
    (lion,) = {spec.optimizer for spec in plan.runs.values() if spec.optimizer.name == "lion"}
    assert lion.plugin == PluginRef("lion.py", sha256_of(LION)) and lion.kwargs["lr"] == 0.0003


# ---- run ids and provenance ----------------------------------------------------------------------

def test_editing_a_plugin_renames_exactly_the_runs_that_use_it(tmp_path, clean_registries):
    lion = copy_lion(tmp_path)
    path = config_file(tmp_path, ["lion.py"])
    before = ids_by_optimizer(plan_of(path))
    lion.write_text(lion.read_text() + "\n# an edit of the source, nothing else\n")
    after = ids_by_optimizer(plan_of(path))
    assert after["momentum"] == before["momentum"] and after["adam"] == before["adam"]
    assert set(after["lion"]).isdisjoint(before["lion"]) and len(after["lion"]) == len(before["lion"]) == 1


def test_built_in_runs_keep_their_ids_whatever_plugins_are_loaded(tmp_path, clean_registries):
    builtin_only = ["momentum", "adam"]
    without = plan_of(config_file(tmp_path / "none", [], builtin_only))
    copy_lion(tmp_path / "with")
    with_plugin = plan_of(config_file(tmp_path / "with", ["lion.py"], builtin_only))
    assert list(with_plugin.runs) == list(without.runs)
    for spec in with_plugin.runs.values():
        assert "plugin" not in spec.canonical_json() and spec.plugins == ()
    # and the same runs inside a config whose grid also uses the plugin
    mixed = ids_by_optimizer(plan_of(config_file(tmp_path / "with", ["lion.py"], ["momentum", "lion", "adam"], "mixed.yaml")))
    assert mixed["momentum"] + mixed["adam"] == list(without.runs)


def test_a_run_records_the_plugins_it_used_and_others_none(tmp_path, clean_registries):
    lion = copy_lion(tmp_path)
    plan = plan_of(config_file(tmp_path, ["lion.py"], ["momentum", "lion"]))
    dirs = []
    for run_id, spec in plan.runs.items():
        train_run(spec, tmp_path / "runs" / run_id, Execution(device="cpu"))
        dirs.append(tmp_path / "runs" / run_id)
    summaries = {json.loads((d / "summary.json").read_text())["spec"]["optimizer"]["name"]: json.loads((d / "summary.json").read_text())
                 for d in dirs}
    sha = sha256_of(lion)
    assert summaries["lion"]["spec"]["optimizer"]["plugin"] == {"file": "lion.py", "sha256": sha}
    assert summaries["lion"]["plugins"] == f"lion.py sha256:{sha}"
    assert summaries["momentum"]["plugins"] == "" and "plugin" not in summaries["momentum"]["spec"]["optimizer"]
    runs = collect(dirs).runs.set_index("optimizer")
    assert runs.loc["lion", "plugins"] == f"lion.py sha256:{sha}" and runs.loc["momentum", "plugins"] == ""
    assert spec_plugins(summaries["lion"]["spec"]) == ["lion.py"] and spec_plugins(summaries["momentum"]["spec"]) == []


# ---- a training job is a new process -------------------------------------------------------------

def test_a_training_job_loads_the_plugins_its_spec_names_from_the_plugin_dir(tmp_path, clean_registries, capsys, monkeypatch):
    """As the workflow's train rule runs it: `python -m trickbench train --spec ... --plugin-dir ...`,
    started elsewhere; then `trickbench show` finds the run's plugin the same way."""
    copy_lion(tmp_path / "project")
    plan = plan_of(config_file(tmp_path / "project", ["lion.py"], ["lion"]))
    (spec,) = [s for s in plan.runs.values() if s.optimizer.name == "lion"]
    run_dir = tmp_path / "results" / "runs" / spec.run_id
    (tmp_path / "job").mkdir()
    result = subprocess.run([sys.executable, "-m", "trickbench", "train", "--spec", spec.canonical_json(),
                             "--run-dir", str(run_dir), "--device", "cpu", "--plugin-dir", str(tmp_path / "project")],
                            cwd=tmp_path / "job", env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "optimizer=lion, " in result.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["run_id"] == spec.run_id and summary["plugins"] == f"lion.py sha256:{spec.optimizer.plugin.sha256}"
    monkeypatch.setattr("trickbench.logs.configure", lambda verbose=False: None)
    assert cli.main(["show", spec.run_id[:6], "--results", str(tmp_path / "results"),
                     "--plugin-dir", str(tmp_path / "project")]) == 0
    assert "optimizer      lion" in capsys.readouterr().out


def test_a_spec_naming_a_plugin_that_is_not_loaded_says_where_it_comes_from(tmp_path, clean_registries):
    copy_lion(tmp_path)
    plan = plan_of(config_file(tmp_path, ["lion.py"], ["lion"]))
    raw = next(s for s in plan.runs.values() if s.optimizer.name == "lion").to_dict()
    from trickbench.plugins import unload_all
    from trickbench.spec import RunSpec

    unload_all()
    with pytest.raises(ConfigError, match=r"it comes from plugin lion.py, which is not loaded"):
        RunSpec.from_dict(raw)


def test_a_failed_copy_of_a_loaded_plugin_leaves_the_first_in_place(tmp_path, clean_registries):
    """Two folders holding the same lion.py (same name, same hash): the second cannot take 'lion'
    again, and its failure must not take the first one's technique with it."""
    copy_lion(tmp_path / "a")
    copy_lion(tmp_path / "b")
    (first,) = load_plugins(["lion.py"], tmp_path / "a")
    with pytest.raises(PluginError, match="already registered"):
        load_plugins(["lion.py"], tmp_path / "b")
    assert FAMILIES["optimizer"].get("lion").plugin == first.ref and loaded() == [first]
