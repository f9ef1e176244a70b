"""Bad input gets one line naming what is wrong, never a traceback: each row of the table in
docs/bad-input.md is a case here.

Config mistakes go through `load_config` and through the `trickbench plan` command line (and two
through `snakemake -n`, in tests/integration); so do broken plugins (one through `snakemake -n` in
tests/integration/test_plugin_workflow.py), and a plugin edited under a planned run through
`trickbench train`; data files through the loader and `trickbench train`;
damaged checkpoints through a real run, which warns in one line and starts over. Where a message
lists what is allowed from a registry or the schema, the expected list is read from there, so a
newly registered technique changes the list, not the test.
"""

from __future__ import annotations

import copy
import hashlib
import io
import logging
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
import yaml

from conftest import REPO, TINY_CONFIG
from run_helpers import subprocess_env, tiny_specs, result_of
from trickbench import cli
from trickbench.config import SCHEMA_PATH, load_config
from trickbench.data.device_data import prepare
from trickbench.data.sources import MINI_PATH, SOURCES, load_npz, sha256_of
from trickbench.errors import ConfigError, DataError
from trickbench.run import Execution, train_run
from trickbench.techniques import FAMILIES
from trickbench.train.loop import Trainer

DOC = (REPO / "docs" / "bad-input.md").read_text()
SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())


def schema_keys(*path: str) -> str:
    node = SCHEMA
    for part in path:
        node = node["properties"][part]
    return "keys " + ", ".join(sorted(node["properties"]))


def message(key: str, value: Any, allowed: str) -> str:
    return str(ConfigError(key, value, allowed))


def set_in(path: str, value: Any) -> Callable[[dict], None]:
    """A change to the tiny config: set the dotted `path` to `value`."""
    def change(config: dict) -> None:
        *parents, last = path.split(".")
        node = config
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return change


def delete(key: str) -> Callable[[dict], None]:
    return lambda config: config.pop(key)


def versus_design(versus: dict | None, tuned: bool = True, seeds: list[int] = [0, 1]) -> Callable[[dict], None]:
    """A change to the tiny config: design kind versus with this `design.versus` (None: absent)."""
    def change(config: dict) -> None:
        config["design"] = {"kind": "versus", "seeds": seeds, "tuning": {"enabled": tuned, "trials": 2},
                            **({"versus": versus} if versus is not None else {})}
    return change


# (case, change to the tiny config, the exact error line)
CONFIG_CASES = [
    ("unknown key", set_in("trian", {"epochs": 2}),
     lambda: message("trian", {"epochs": 2}, schema_keys())),
    ("unknown nested key", set_in("train.epoch", 3),
     lambda: message("train.epoch", 3, schema_keys("train"))),
    ("wrong type: text for a number", set_in("train.epochs", "ten"),
     lambda: message("train.epochs", "ten", "type integer")),
    ("wrong type: fraction for an integer", set_in("train.batch_size", 12.5),
     lambda: message("train.batch_size", 12.5, "type integer")),
    ("wrong type: a list for a mapping", set_in("train", [2, 32]),
     lambda: message("train", [2, 32], "type object")),
    ("negative size: epochs", set_in("train.epochs", -3),
     lambda: message("train.epochs", -3, ">= 1")),
    ("negative size: model width", set_in("model", {"name": "mlp", "depth": 1, "width": -4}),
     lambda: message("model.width", -4, "1 <= width <= 65536")),
    ("negative size: synthetic data", set_in("data.source", {"name": "synthetic", "n_train": -5}),
     lambda: message("data.source.n_train", -5, "10 <= n_train <= inf")),
    ("negative learning rate", set_in("baseline.optimizer", {"name": "sgd", "lr": -0.1}),
     lambda: message("baseline.optimizer.lr", -0.1, "0.0 <= lr <= inf")),
    ("unknown numerics mode", set_in("execution.numerics", "fast"),
     lambda: message("execution.numerics", "fast", "portable, native")),
    ("out of range: validation share", set_in("data.val_fraction", 1.5),
     lambda: message("data.val_fraction", 1.5, "<= 0.9")),
    ("empty grid: no seeds", set_in("design.seeds", []),
     lambda: message("design.seeds", [], "at least 1 item(s)")),
    ("empty grid: a factor without levels", set_in("design.factors", {"activation": []}),
     lambda: message("design.factors.activation", [], "at least 1 item(s)")),
    ("unknown technique name", set_in("design.factors", {"activation": ["relu", "rleu"]}),
     lambda: message("design.factors.activation[1]", "rleu", ", ".join(FAMILIES["activation"].names()))),
    ("unknown technique parameter", set_in("baseline.optimizer", {"name": "sgd", "learning_rate": 0.1}),
     lambda: message("baseline.optimizer.learning_rate", 0.1, "parameters of sgd: lr")),
    ("unknown factor family", set_in("design.factors", {"activations": ["relu"]}),
     lambda: message("design.factors.activations", ["relu"], "keys " + ", ".join(FAMILIES))),
    ("unknown data source", set_in("data.source", "cifar100"),
     lambda: message("data.source", "cifar100", ", ".join(SOURCES.names()))),
    ("unknown design", set_in("design.kind", "grid"),
     lambda: message("design.kind", "grid", "full, ablation, random, versus")),
    ("versus: unknown family", versus_design({"family": "optimiser", "technique": "adam"}),
     lambda: message("design.versus.family", "optimiser", ", ".join(FAMILIES))),
    ("versus: unknown technique", versus_design({"family": "optimizer", "technique": "lino"}),
     lambda: message("design.versus.technique", "lino", "a technique of family optimizer: "
                     + ", ".join(FAMILIES["optimizer"].names()))),
    ("versus: technique of another family", versus_design({"family": "activation", "technique": "adam"}),
     lambda: message("design.versus.technique", "adam", "a technique of family activation: "
                     + ", ".join(FAMILIES["activation"].names()) + " (adam is a technique of optimizer)")),
    ("versus: a level of another family", versus_design({"family": "optimizer", "technique": "adam", "levels": ["sgd", "relu"]}),
     lambda: message("design.versus.levels[1]", "relu", ", ".join(FAMILIES["optimizer"].names()))),
    ("versus: not tuned", versus_design({"family": "optimizer", "technique": "adam"}, tuned=False),
     lambda: message("design.tuning.enabled", False, "true with design.kind versus: every level is compared at its own "
                                                     "learning rate, chosen on validation")),
    ("versus: one seed", versus_design({"family": "optimizer", "technique": "adam"}, seeds=[0]),
     lambda: message("design.seeds", [0], "at least 2 seeds with design.kind versus (a paired test needs them)")),
    ("versus: kind versus without design.versus", versus_design(None),
     lambda: message("design.versus", "nothing", "a mapping {family: ..., technique: ...} with design.kind versus")
     .replace("'nothing'", "nothing")),
    ("versus: design.versus under another kind", lambda config: config["design"].update(
        versus={"family": "optimizer", "technique": "adam"}),
     lambda: message("design.kind", "ablation", "versus when design.versus is given (or remove design.versus)")),
    ("warm-up before one-cycle", lambda config: (set_in("train.warmup_epochs", 1)(config),
                                                 set_in("baseline.schedule", "one_cycle")(config)),
     lambda: message("train.warmup_epochs", 1.0, "0 with schedule one_cycle, which has its own warm-up (its pct_start)")),
    ("tuning on a compared seed", set_in("design.tuning", {"enabled": True, "seeds": [0, 100]}),
     lambda: message("design.tuning.seeds", [0, 100], "seeds not in design.seeds [0]: the runs that choose must not be "
                                                      "the runs that are compared")),
    ("tuning seeds neither a count nor a list", set_in("design.tuning", {"enabled": True, "seeds": "two"}),
     lambda: message("design.tuning.seeds", "two", "a count >= 1 (seeds 100, 101, …) or a list of distinct integer "
                                                   "seeds >= 0, none of design.seeds [0]")),
    ("tuning: sobol trials not a power of 2", set_in("design.tuning", {"enabled": True, "search": "sobol", "trials": 6}),
     lambda: message("design.tuning.trials", 6, "a power of 2 with search sobol (its balance needs it; halton takes any count)")),
    ("tuning: unknown second technique",
     set_in("design.tuning", {"enabled": True, "second": {"technique": "dropuot", "parameter": "p", "range": [0.1, 0.5]}}),
     lambda: message("design.tuning.second.technique", "dropuot", "a technique name (`trickbench techniques` lists them)")),
    ("tuning: second parameter the technique lacks",
     set_in("design.tuning", {"enabled": True, "second": {"technique": "dropout", "parameter": "rate", "range": [0.1, 0.5]}}),
     lambda: message("design.tuning.second.parameter", "rate", "a float parameter of dropout: p")),
    ("missing section", delete("baseline"),
     lambda: message("baseline", "nothing", "a required key").replace("'nothing'", "nothing")),
]


def documented(line: str) -> None:
    """The table in docs/bad-input.md shows this error (up to its list of what is allowed, which
    grows with the registries)."""
    assert line.split("; allowed:")[0] in DOC, f"docs/bad-input.md lacks: {line}"


def bad_config(change: Callable[[dict], None]) -> dict:
    config = copy.deepcopy(TINY_CONFIG)
    change(config)
    return config


@pytest.mark.parametrize("case, change, expected", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_through_load_config(tmp_path, case, change, expected):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(bad_config(change)))
    with pytest.raises(ConfigError) as raised:
        from trickbench.workflow import plan_from_config
        plan_from_config(load_config(path))
    assert str(raised.value) == expected()
    documented(expected())


@pytest.mark.parametrize("case, change, expected", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_config_through_trickbench_plan(tmp_path, capsys, monkeypatch, case, change, expected):
    monkeypatch.setattr("trickbench.logs.configure", lambda verbose=False: None)  # keep pytest's logging
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(bad_config(change)))
    assert cli.main(["plan", "--configfile", str(path)]) == 2
    out, err = capsys.readouterr()
    assert err == f"trickbench: error: {expected()}\n" and out == ""


def test_a_bad_config_in_a_real_process_is_one_line_without_traceback(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(bad_config(set_in("design.factors", {"activation": ["rleu"]}))))
    result = subprocess.run([sys.executable, "-m", "trickbench", "plan", "--configfile", str(path)],
                            env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "trickbench: error: " + message("design.factors.activation[0]", "rleu", ", ".join(FAMILIES["activation"].names()))]


# ---- plugins ------------------------------------------------------------------------------------

#: a plugin file's start: the optimizer registry, as a user's plugin imports it
HEADER = "from trickbench.techniques.optimizers import OPTIMIZERS\n"


def optimizer_plugin(signature: str, decorator_args: str = "") -> str:
    """A plugin registering optimizer 'lion' with the builder `def lion{signature}`."""
    return (HEADER + f"\n@OPTIMIZERS.register('lion'{decorator_args})\n"
            f"def lion{signature}:\n    import torch\n    return torch.optim.SGD(params, lr=lr)\n")


# (case, plugin files under the config's folder, the `plugins:` value, the error line with <dir> for that folder)
PLUGIN_CASES = [
    ("plugin file missing", {}, ["tricks/lion.py"],
     "plugin tricks/lion.py: no such file (<dir>/tricks/lion.py)"),
    ("plugin with a syntax error", {"tricks/lion.py": HEADER + "\ndef lion(params, *, lr=1e-4:\n    pass\n"}, ["tricks/lion.py"],
     "plugin tricks/lion.py: fails at import (line 3): SyntaxError: invalid syntax"),
    ("plugin raising at import", {"tricks/lion.py": HEADER + "\nraise RuntimeError('needs a GPU')\n"}, ["tricks/lion.py"],
     "plugin tricks/lion.py: fails at import (line 3): RuntimeError: needs a GPU"),
    ("plugin importing a missing package", {"tricks/lion.py": "import lion_pytorch\n"}, ["tricks/lion.py"],
     "plugin tricks/lion.py: fails at import (line 1): ModuleNotFoundError: No module named 'lion_pytorch'"),
    ("plugin module not importable", {}, ["lion_pytorch"],
     "plugin lion_pytorch: no module of that name can be imported here (install it, or add its folder to PYTHONPATH)"),
    ("plugin neither a file nor a module", {}, ["tricks/lion"],
     "plugin tricks/lion: neither a .py file nor an importable module name (such as mypackage.tricks)"),
    ("plugin registering nothing", {"tricks/lion.py": HEADER + "\ndef lion(params, *, lr=1e-4):\n    pass\n"}, ["tricks/lion.py"],
     "plugin tricks/lion.py: registers no technique; decorate a builder with a family's registry, "
     "e.g. @OPTIMIZERS.register(\"name\", reference=...)"),
    ("plugin taking a built-in name", {"tricks/adam.py": optimizer_plugin("(params, *, lr=1e-3)").replace("'lion'", "'adam'")},
     ["tricks/adam.py"],
     "plugin tricks/adam.py: optimizer 'adam': the name is already registered (built in); a plugin must choose a new name"),
    ("plugin taking another plugin's name", {"tricks/lion.py": optimizer_plugin("(params, *, lr=1e-4)"),
                                             "tricks/lion2.py": optimizer_plugin("(params, *, lr=3e-4)")},
     ["tricks/lion.py", "tricks/lion2.py"],
     "plugin tricks/lion2.py: optimizer 'lion': the name is already registered (by plugin tricks/lion.py); "
     "a plugin must choose a new name"),
    ("plugin parameter without a default", {"tricks/lion.py": optimizer_plugin("(params, *, lr: float)")}, ["tricks/lion.py"],
     "plugin tricks/lion.py: optimizer 'lion': parameter 'lr' has no default; every parameter needs one (its type comes from it)"),
    ("plugin parameter with a tuple default", {"tricks/lion.py": optimizer_plugin("(params, *, lr=1e-4, betas=(0.9, 0.99))")},
     ["tricks/lion.py"],
     "plugin tricks/lion.py: optimizer 'lion': parameter 'betas' defaults to (0.9, 0.99), a tuple; "
     "allowed: a bool, int, float or str default"),
    ("plugin parameter not keyword-only", {"tricks/lion.py": optimizer_plugin("(params, lr=1e-4)")}, ["tricks/lion.py"],
     "plugin tricks/lion.py: optimizer 'lion': parameter 'lr' is positional with a default; make it keyword-only "
     "(after `*`) so that a config can set it"),
    ("plugin parameter with a reserved name", {"tricks/lion.py": optimizer_plugin("(params, *, lr=1e-4, name='lion')")},
     ["tricks/lion.py"],
     "plugin tricks/lion.py: optimizer 'lion': parameter name 'name' is reserved (a level's keys name and plugin)"),
    ("plugin bounds on no parameter", {"tricks/lion.py": optimizer_plugin("(params, *, lr=1e-4)", ", bounds={'learning_rate': (0.0, None)}")},
     ["tricks/lion.py"],
     "plugin tricks/lion.py: optimizer 'lion': bounds name 'learning_rate', which is not a parameter (parameters: lr)"),
    ("plugin default outside its bounds", {"tricks/lion.py": optimizer_plugin("(params, *, lr=-1e-4)", ", bounds={'lr': (0.0, None)}")},
     ["tricks/lion.py"],
     "plugin tricks/lion.py: optimizer 'lion': parameter 'lr' defaults to -0.0001, outside its bounds (0.0, None)"),
    ("plugins not a list", {}, "tricks/lion.py",
     "config error at 'plugins': got 'tricks/lion.py'; allowed: type array"),
]


@pytest.fixture
def no_plugins():
    """Registries are process-wide: each case starts and ends with the built-ins alone."""
    from trickbench.plugins import unload_all

    unload_all()
    yield
    unload_all()


def plugin_config(folder: Path, files: dict[str, str], plugins: Any) -> Path:
    """The tiny config with `plugins:`, in `folder` beside the plugin files."""
    for name, source in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(source)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump({**copy.deepcopy(TINY_CONFIG), "plugins": plugins}))
    return path


@pytest.mark.parametrize("case, files, plugins, expected", PLUGIN_CASES, ids=[c[0] for c in PLUGIN_CASES])
def test_bad_plugin_through_load_config(tmp_path, no_plugins, case, files, plugins, expected):
    with pytest.raises(ConfigError) as raised:
        load_config(plugin_config(tmp_path, files, plugins))
    assert str(raised.value) == expected.replace("<dir>", str(tmp_path))
    documented(expected)


@pytest.mark.parametrize("case, files, plugins, expected", PLUGIN_CASES[:3], ids=[c[0] for c in PLUGIN_CASES[:3]])
def test_bad_plugin_through_trickbench_plan(tmp_path, capsys, monkeypatch, no_plugins, case, files, plugins, expected):
    monkeypatch.setattr("trickbench.logs.configure", lambda verbose=False: None)
    monkeypatch.chdir(tmp_path.parent)  # relative plugin paths start from the config's folder, not here
    assert cli.main(["plan", "--configfile", str(plugin_config(tmp_path, files, plugins))]) == 2
    out, err = capsys.readouterr()
    assert err == f"trickbench: error: {expected.replace('<dir>', str(tmp_path))}\n" and out == ""


LION_SOURCE = (REPO / "examples" / "lion.py").read_text()


def test_a_training_job_refuses_a_plugin_changed_since_its_spec(tmp_path, capsys, monkeypatch, no_plugins):
    """The workflow plans a run, then the plugin is edited before the job starts: the job would train
    other code than its id names, so it stops with one line (snakemake plans the new id anew)."""
    monkeypatch.setattr("trickbench.logs.configure", lambda verbose=False: None)
    config = load_config(plugin_config(tmp_path, {"lion.py": LION_SOURCE}, ["lion.py"]))
    spec = tiny_specs(design={"kind": "ablation", "seeds": [0], "factors": {"optimizer": ["lion"]}})[-1]
    old = spec.optimizer.plugin.sha256
    (tmp_path / "lion.py").write_text(LION_SOURCE + "# tuned\n")
    assert config["plugins"] == ["lion.py"] and spec.optimizer.name == "lion"
    status = cli.main(["train", "--spec", spec.canonical_json(), "--run-dir", str(tmp_path / spec.run_id),
                       "--plugin-dir", str(tmp_path)])
    new = hashlib.sha256((tmp_path / "lion.py").read_bytes()).hexdigest()
    expected = message("spec.optimizer.plugin.sha256", old,
                       f"{new}, the sha256 of lion.py as loaded now: the plugin changed since this spec was made "
                       "(plan its runs again: they have new ids)")
    assert status == 2 and capsys.readouterr().err == f"trickbench: error: {expected}\n"
    assert not (tmp_path / spec.run_id).exists()
    documented(expected.replace(old, "<sha256 in the spec>").replace(new, "<sha256 now>"))


# ---- data files -------------------------------------------------------------------------------

def npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def cifar_arrays(**replace: np.ndarray) -> dict[str, np.ndarray]:
    arrays = {"x_train": np.zeros((4, 8, 8, 3), np.uint8), "y_train": np.array([0, 1, 0, 1]),
              "x_test": np.zeros((2, 8, 8, 3), np.uint8), "y_test": np.array([0, 1]),
              "label_names": np.array(["cat", "dog"])}
    return {**arrays, **replace}


def flip_one_bit(data: bytes, at: int = 1000) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


# (case, the file's bytes or None for no file, whether its checksum is the expected one, the error line)
NPZ_CASES = [
    ("missing data file", None, True, "data file <dir>/data.npz is missing"),
    ("data file with the wrong checksum", flip_one_bit(MINI_PATH.read_bytes()), False,
     "data file <dir>/data.npz has sha256 <actual>…, expected <expected>… (corrupt or replaced)"),
    ("truncated data file", MINI_PATH.read_bytes()[:100_000], True,
     "data file <dir>/data.npz is not a valid CIFAR npz (BadZipFile: File is not a zip file)"),
    ("data file that is no archive", b"x_train,y_train\n1,2\n", True,
     "data file <dir>/data.npz is not an npz (zip) archive"),
    ("data file holding pickled objects", npz_bytes(**cifar_arrays(y_train=np.array([{"a": 1}] * 4, dtype=object))), True,
     "data file <dir>/data.npz is not a valid CIFAR npz (ValueError: Object arrays cannot be loaded when allow_pickle=False)"),
    ("data file without an array", npz_bytes(**{k: v for k, v in cifar_arrays().items() if k != "y_test"}), True,
     "data file <dir>/data.npz lacks array 'y_test'; a CIFAR npz has x_train, y_train, x_test, y_test, label_names"),
    ("data file with images of the wrong shape", npz_bytes(**cifar_arrays(x_train=np.zeros((4, 8, 8), np.uint8))), True,
     "data file <dir>/data.npz: x_train is uint8 (4, 8, 8); expected uint8 N×H×W×3"),
    ("data file with labels out of range", npz_bytes(**cifar_arrays(y_test=np.array([0, 7]))), True,
     "data file <dir>/data.npz: y_test is int64 (2,); expected 2 integer labels in 0..1"),
]


@pytest.mark.parametrize("case, content, checksum_ok, expected", NPZ_CASES, ids=[c[0] for c in NPZ_CASES])
def test_bad_data_file(tmp_path, case, content, checksum_ok, expected):
    path = tmp_path / "data.npz"
    if content is not None:
        path.write_bytes(content)
    expected_sha = sha256_of(path) if content is not None and checksum_ok else sha256_of(MINI_PATH)
    with pytest.raises(DataError) as raised:
        load_npz(path, expected_sha)
    documented(expected)
    if content is not None and not checksum_ok:
        expected = expected.replace("<actual>", sha256_of(path)[:16]).replace("<expected>", expected_sha[:16])
    assert str(raised.value).replace(str(tmp_path), "<dir>") == expected


def test_the_shipped_data_file_passes_the_same_checks():
    images = SOURCES.build(SOURCES.resolve("cifar10-mini", "data.source"), Path("unused"), False)
    assert images.x_train.shape == (4660, 3, 32, 32) and images.x_test.shape == (846, 3, 32, 32)


@pytest.mark.parametrize("case", ["missing", "wrong checksum"])
def test_bad_cifar10_files_through_trickbench_train(tmp_path, capsys, monkeypatch, case):
    """The full data set goes through torchvision, which checks every file's MD5. Missing files
    in a real process (one line, no traceback, exit 2), wrong ones through the same command in
    this one (a process start is 7 CPU-s of imports)."""
    root = tmp_path / "data"
    if case == "wrong checksum":
        batches = root / "cifar-10-batches-py"
        batches.mkdir(parents=True)
        for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"]:
            (batches / name).write_bytes(b"not the real file")
    spec = tiny_specs(data={"source": "cifar10", "val_fraction": 0.1})[0]
    arguments = ["train", "--spec", spec.canonical_json(), "--run-dir", str(tmp_path / spec.run_id),
                 "--data-root", str(root), "--device", "cpu"]
    if case == "missing":
        result = subprocess.run([sys.executable, "-m", "trickbench", *arguments], env=subprocess_env(),
                                capture_output=True, text=True, timeout=120)
        code, stderr = result.returncode, result.stderr
    else:
        monkeypatch.setattr("trickbench.logs.configure", lambda verbose=False: None)  # keep pytest's logging
        code, stderr = cli.main(arguments), capsys.readouterr().err
    assert code == 2
    expected = (f"trickbench: error: cifar10 at {root}: Dataset not found or corrupted. You can use "
                "download=True to download it (set execution.download: true to fetch it)")
    assert stderr.splitlines()[-1] == expected and "Traceback" not in stderr
    documented(expected.replace(str(root), "<data_root>"))


# ---- checkpoints ------------------------------------------------------------------------------

#: the file a planted checkpoint's code would create if loading ran it
PLANTED_MARK = Path(tempfile.gettempdir()) / "trickbench-planted-checkpoint-ran"


class Planted:
    """An object whose unpickling would run code: loading must refuse it, not call it."""

    def __reduce__(self):
        return (PLANTED_MARK.touch, ())


def saved(state: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def half_fitting_state(spec) -> dict:
    """This run's state after one epoch, with an optimizer state that cannot load: the model part
    loads first, so only a trainer built anew starts the run over cleanly."""
    data = prepare(SOURCES.build(spec.data.source, Path("unused"), False), spec.data, spec.preprocessing, torch.device("cpu"))
    trainer = Trainer(spec, data, torch.device("cpu"))
    trainer.train_epoch()
    return {"run_id": spec.run_id, **trainer.state_dict(), "optimizer": {"state": {}, "param_groups": []}}


UNREADABLE = "is not a readable checkpoint: truncated, damaged or holding more than tensors"
CHECKPOINT_CASES = [
    ("empty checkpoint", lambda spec: b"", f"{UNREADABLE} (EOFError)"),
    ("truncated checkpoint", lambda spec: saved({"run_id": spec.run_id, "model": torch.zeros(1000)})[:300],
     f"{UNREADABLE} (RuntimeError)"),
    ("checkpoint of random bytes", lambda spec: bytes(range(256)) * 4, f"{UNREADABLE} (UnpicklingError)"),
    ("checkpoint with a planted object", lambda spec: saved({"run_id": spec.run_id, "model": Planted()}),
     f"{UNREADABLE} (UnpicklingError)"),
    ("checkpoint of another run", lambda spec: saved({"run_id": "0123456789ab", "model": {}}),
     "belongs to run 0123456789ab, not <run_id>"),
    ("checkpoint without a run id", lambda spec: saved({"model": {}}), "carries no run id"),
    ("checkpoint that half fits", lambda spec: saved(half_fitting_state(spec)),
     "does not fit this run (ValueError: loaded state dict has a different number of parameter groups)"),
]


@pytest.fixture(scope="module")
def clean_result(tmp_path_factory):
    spec = tiny_specs()[0]
    run_dir = tmp_path_factory.mktemp("clean") / spec.run_id
    train_run(spec, run_dir, Execution(device="cpu"))
    return result_of(run_dir)


@pytest.mark.parametrize("case, content, problem", CHECKPOINT_CASES, ids=[c[0] for c in CHECKPOINT_CASES])
def test_a_bad_checkpoint_costs_one_warning_and_a_fresh_start(tmp_path, caplog, clean_result, case, content, problem):
    spec = tiny_specs()[0]
    run_dir = tmp_path / spec.run_id
    run_dir.mkdir()
    (run_dir / "checkpoint.pt").write_bytes(content(spec))
    PLANTED_MARK.unlink(missing_ok=True)
    with caplog.at_level(logging.INFO, logger="trickbench"):
        train_run(spec, run_dir, Execution(device="cpu"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    expected = f"checkpoint {run_dir / 'checkpoint.pt'} {problem.replace('<run_id>', spec.run_id)}; starting this run over"
    assert warnings == [expected]
    assert result_of(run_dir) == clean_result  # started over from scratch, as if no checkpoint had been there
    assert not PLANTED_MARK.exists()
    documented(expected.replace(str(run_dir / "checkpoint.pt"), "<run>/checkpoint.pt").replace(spec.run_id, "<run_id>"))


# ---- the command line's own arguments ----------------------------------------------------------

def test_a_spec_that_is_not_json(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr("trickbench.logs.configure", lambda verbose=False: None)
    assert cli.main(["train", "--spec", "{epochs: 2", "--run-dir", str(tmp_path / "x")]) == 2
    expected = message("--spec", "{epochs: 2", "a JSON run spec (Expecting property name enclosed in double quotes)")
    assert capsys.readouterr().err == f"trickbench: error: {expected}\n"
    documented(expected)


def test_a_run_folder_not_named_by_the_spec(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr("trickbench.logs.configure", lambda verbose=False: None)
    spec = tiny_specs()[0]
    assert cli.main(["train", "--spec", spec.canonical_json(), "--run-dir", str(tmp_path / "mine")]) == 2
    expected = message("--run-dir", str(tmp_path / "mine"), f"a folder named by the spec's id {spec.run_id}")
    assert capsys.readouterr().err == f"trickbench: error: {expected}\n"
    documented(expected.replace(str(tmp_path), "<dir>").replace(spec.run_id, "<run_id>"))
