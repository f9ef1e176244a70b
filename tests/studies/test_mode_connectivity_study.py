"""Mode connectivity: the paths' endpoints are the two solutions, the Bezier curve's formula, the
barrier's definition, the loss at t = 0 equal to the trained run's own test loss, and the seeds
joined in consecutive pairs (an odd count refused in one line)."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import TINY_CONFIG
from trickbench.config import validate_config
from trickbench.errors import ConfigError
from trickbench.workflow import plan_from_config
from trickbench.run import Execution, load_weights, train_run
from trickbench.studies import mode_connectivity as mc


def states():
    generator = torch.Generator().manual_seed(0)
    make = lambda: {"w": torch.randn(3, 2, generator=generator), "b": torch.randn(2, generator=generator),
                    "n": torch.tensor(7)}
    return make(), make(), make()


def test_the_line_starts_and_ends_at_the_two_solutions():
    a, b, _ = states()
    assert all(torch.equal(mc.interpolate(a, b, 0.0)[k], a[k]) for k in a)
    assert all(torch.equal(mc.interpolate(a, b, 1.0)[k], b[k]) for k in a)
    assert torch.allclose(mc.interpolate(a, b, 0.25)["w"], 0.75 * a["w"] + 0.25 * b["w"])


def test_the_bezier_curve_ends_at_the_solutions_and_passes_its_control_point_halfway():
    a, b, c = states()
    assert all(torch.equal(mc.bezier(a, c, b, 0.0)[k], a[k]) for k in a)
    assert all(torch.equal(mc.bezier(a, c, b, 1.0)[k], b[k]) for k in a)
    # at t = ½: ¼·a + ½·c + ¼·b
    assert torch.allclose(mc.bezier(a, c, b, 0.5)["w"], 0.25 * a["w"] + 0.5 * c["w"] + 0.25 * b["w"])
    assert mc.bezier(a, c, b, 0.5)["n"].item() == 7  # counters are not averaged


def test_barrier_is_the_largest_excess_over_the_line_between_the_endpoint_losses():
    t = np.linspace(0, 1, 5)
    loss = np.array([1.0, 2.0, 3.5, 2.5, 2.0])  # endpoints 1 and 2: the chord is 1 + t
    paths = pd.DataFrame({"pair": "0–1", "path": "line", "t": t, "train_loss": loss, "train_acc": 0.5, "test_loss": loss,
                          "test_acc": 0.5})
    row = mc.barriers(paths).set_index("split").loc["test"]
    assert row["barrier"] == pytest.approx(3.5 - 1.5) and row["t_max"] == 0.5
    flat = paths.assign(test_loss=1 + t)
    assert mc.barriers(flat).set_index("split").loc["test", "barrier"] == pytest.approx(0.0)


def study_config(config, **settings):
    config["studies"] = {"mode_connectivity": {"enabled": True, **settings}}
    return validate_config(config)


def test_the_seeds_are_joined_in_consecutive_pairs(tiny_config):
    config = study_config(tiny_config, seeds=[4, 0, 1, 7])
    assert mc.endpoint_pairs(config) == [(4, 0), (1, 7)]
    assert [spec.seed for spec in mc.endpoint_specs(config)] == [4, 0, 1, 7]
    assert mc.endpoint_pairs(study_config(tiny_config)) == [(0, 1)]  # the default: one pair


def test_endpoints_are_the_baseline_runs_unless_the_study_sets_a_subset_or_epochs(tiny_config):
    """Without `train_subset`/`epochs` the endpoints are the grid's baseline runs (shared, same ids);
    with them, runs of their own on that many training images for that many epochs, all else equal."""
    grid = {spec.run_id for spec in plan_from_config(study_config(copy.deepcopy(tiny_config), seeds=[0, 1])).runs.values()
            if spec.seed == 0 and spec.activation.name == "relu"}
    shared = mc.endpoint_specs(study_config(copy.deepcopy(tiny_config), seeds=[0, 1]))
    assert shared[0].run_id in grid
    own = mc.endpoint_specs(study_config(tiny_config, seeds=[0, 1], train_subset=50, epochs=7))
    assert [(s.seed, s.data.train_subset, s.train.epochs) for s in own] == [(0, 50, 7), (1, 50, 7)]
    assert own[0].run_id not in grid
    assert dataclasses.replace(own[0], data=shared[0].data, train=shared[0].train) == shared[0]


@pytest.mark.parametrize("seeds, message", [
    ([0, 1, 2], r"studies.mode_connectivity.seeds.*\[0, 1, 2\].*an even number of distinct seeds"),
    ([0, 0], r"studies.mode_connectivity.seeds"),  # the schema: distinct
    ([3], r"studies.mode_connectivity.seeds"),  # the schema: at least one pair
])
def test_seeds_that_do_not_pair_up_are_refused_in_one_line(tiny_config, seeds, message):
    with pytest.raises(ConfigError, match=message) as error:
        mc.endpoint_specs(study_config(tiny_config, seeds=seeds))
    assert "\n" not in str(error.value)


@pytest.fixture(scope="module")
def two_pairs(tmp_path_factory):
    """Four tiny endpoints (no batch norm: recomputed statistics cannot change anything), two pairs."""
    config = copy.deepcopy(TINY_CONFIG)
    config["baseline"]["norm"] = "none"
    config["train"]["epochs"] = 1
    config = study_config(config, seeds=[0, 1, 2, 3], points=2, bezier=True, bezier_epochs=1)
    root = tmp_path_factory.mktemp("endpoints")
    run_dirs = []
    for spec in mc.endpoint_specs(config):
        train_run(spec, root / spec.run_id, Execution(device="cpu"))
        run_dirs.append(root / spec.run_id)
    return config, run_dirs


def test_each_pair_s_paths_end_at_its_own_runs(two_pairs, caplog):
    """One line and one curve per pair; at t = 0 and 1 each reproduces its endpoint's own test loss.
    The curves' training, minutes in a real study, is logged epoch by epoch."""
    config, run_dirs = two_pairs
    caplog.set_level(logging.INFO, logger="trickbench")
    tables = mc.analyze(config, run_dirs)
    said = caplog.text
    assert said.count("training the Bezier curve between them (epochs: 1)") == 2
    assert said.count("Bezier curve: epoch 1/1, mean training loss along the curve ") == 2
    path = tables["mode_connectivity"]
    assert sorted(path["pair"].unique()) == ["0–1", "2–3"]
    for pair, ends in (("0–1", run_dirs[:2]), ("2–3", run_dirs[2:])):
        for run_dir, t in zip(ends, (0.0, 1.0)):
            summary = json.loads((run_dir / "summary.json").read_text())
            for name in ("line", "bezier"):
                point = path[(path.pair == pair) & (path.path == name) & (path.t == t)].iloc[0]
                assert point["test_loss"] == pytest.approx(summary["final_test_loss"], rel=1e-5)
                assert point["test_acc"] == pytest.approx(summary["final_test_acc"])
    weights = load_weights(run_dirs[0] / "model.pt")
    assert all(v.device.type == "cpu" for v in weights.values())
    barriers = tables["mode_connectivity_barriers"]
    assert set(zip(barriers["pair"], barriers["path"])) == {(p, n) for p in ("0–1", "2–3") for n in ("line", "bezier")}


def test_a_pair_with_an_unfinished_endpoint_is_left_out_and_said(two_pairs, tmp_path):
    config, run_dirs = two_pairs
    broken = tmp_path / run_dirs[3].name
    shutil.copytree(run_dirs[3], broken)
    summary = json.loads((broken / "summary.json").read_text())
    (broken / "summary.json").write_text(json.dumps({**summary, "status": "diverged"}))
    tables = mc.analyze({**config, "studies": {"mode_connectivity": {**config["studies"]["mode_connectivity"],
                                                                     "bezier": False}}}, [*run_dirs[:3], broken])
    assert set(tables["mode_connectivity"]["pair"]) == {"0–1"}
    note = tables["mode_connectivity_barriers"].dropna(subset=["note"])
    assert note["pair"].tolist() == ["2–3"] and f"{summary['run_id']} (diverged)" in note["note"].iloc[0]
