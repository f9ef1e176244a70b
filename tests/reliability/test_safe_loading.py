"""Safe loading: nothing trickbench reads can run code. Checkpoints are read with
`torch.load(weights_only=True)`, arrays with `numpy.load(allow_pickle=False)`, YAML with the safe
loader; the one pickle ever read is the official CIFAR-10 format, by torchvision, after its MD5
check. Checked on the source (every call, so a new one cannot slip in) and on planted files."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO
from run_helpers import tiny_specs
from trickbench.run import Execution, train_run

PACKAGE = REPO / "workflow" / "trickbench"
SOURCES = sorted(PACKAGE.rglob("*.py"))
WORKFLOW_FILES = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]


def calls(tree: ast.AST, module_names: set[str], function: str):
    """Calls `<module>.function(...)` for any alias of the module (torch.load, np.load, numpy.load)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == function \
                and isinstance(node.func.value, ast.Name) and node.func.value.id in module_names:
            yield node


def keyword(call: ast.Call, name: str):
    return next((ast.literal_eval(k.value) for k in call.keywords if k.arg == name), "absent")


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(REPO)}:{node.lineno}"


@pytest.fixture(scope="module")
def trees():
    return {path: ast.parse(path.read_text(), str(path)) for path in SOURCES}


def test_every_torch_load_is_weights_only(trees):
    found = [(where(p, c), keyword(c, "weights_only")) for p, t in trees.items() for c in calls(t, {"torch"}, "load")]
    assert found, "expected at least the checkpoint loader"
    assert all(value is True for _, value in found), found


def test_every_numpy_load_refuses_pickles(trees):
    found = [(where(p, c), keyword(c, "allow_pickle")) for p, t in trees.items() for c in calls(t, {"np", "numpy"}, "load")]
    assert found, "expected at least the npz data loader"
    assert all(value is False for _, value in found), found


def test_no_pickle_or_unsafe_yaml_anywhere(trees):
    unsafe = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                unsafe += [where(path, node) for n in names if n and n.split(".")[0] in ("pickle", "dill", "cloudpickle", "joblib", "shelve", "marshal")]
        unsafe += [where(path, c) for c in calls(tree, {"yaml"}, "load")]  # yaml.safe_load only
        unsafe += [where(path, c) for c in calls(tree, {"pd", "pandas"}, "read_pickle")]
        unsafe += [where(path, c) for c in calls(tree, {"torch"}, "load") if keyword(c, "weights_only") is not True]
    for path in WORKFLOW_FILES:
        text = path.read_text()
        unsafe += [f"{path.name}: {word}" for word in ("pickle", "torch.load", "np.load", "yaml.load(") if word in text]
    assert not unsafe, unsafe


def test_a_planted_checkpoint_cannot_run_code(tmp_path):
    marker = tmp_path / "code-ran"

    class Planted:
        def __reduce__(self):
            return (marker.touch, ())

    spec = tiny_specs()[0]
    run_dir = tmp_path / spec.run_id
    run_dir.mkdir()
    buffer = io.BytesIO()
    torch.save({"run_id": spec.run_id, "model": Planted()}, buffer)
    (run_dir / "checkpoint.pt").write_bytes(buffer.getvalue())
    summary = train_run(spec, run_dir, Execution(device="cpu"))
    assert summary["status"] == "ok" and not marker.exists()


def test_a_planted_array_cannot_be_read(tmp_path):
    """What the studies read back (test_probs.npy) cannot carry objects either."""
    path = tmp_path / "test_probs.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle=False"):
        np.load(path, allow_pickle=False)
