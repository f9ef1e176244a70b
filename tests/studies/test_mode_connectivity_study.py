"""Mode connectivity: the paths' endpoints are the two solutions, the Bezier curve's formula, the
barrier's definition, and the loss at t = 0 equal to the trained run's own test loss."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from trickbench.config import validate_config
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
    paths = pd.DataFrame({"path": "line", "t": t, "train_loss": loss, "train_acc": 0.5, "test_loss": loss,
                          "test_acc": 0.5})
    row = mc.barriers(paths).set_index("split").loc["test"]
    assert row["barrier"] == pytest.approx(3.5 - 1.5) and row["t_max"] == 0.5
    flat = paths.assign(test_loss=1 + t)
    assert mc.barriers(flat).set_index("split").loc["test", "barrier"] == pytest.approx(0.0)


def test_the_path_at_its_ends_reproduces_each_run_s_own_test_loss(tiny_config, tmp_path):
    tiny_config["baseline"]["norm"] = "none"  # no batch norm: recomputed statistics cannot change anything
    tiny_config["train"]["epochs"] = 1
    tiny_config["studies"] = {"mode_connectivity": {"enabled": True, "points": 2, "bezier": True, "bezier_epochs": 1}}
    config = validate_config(tiny_config)
    run_dirs = []
    for spec in mc.endpoint_specs(config):
        train_run(spec, tmp_path / spec.run_id, Execution(device="cpu"))
        run_dirs.append(tmp_path / spec.run_id)
    tables = mc.analyze(config, run_dirs)
    path = tables["mode_connectivity"]
    for run_dir, t in zip(run_dirs, (0.0, 1.0)):
        summary = json.loads((run_dir / "summary.json").read_text())
        for name in ("line", "bezier"):
            point = path[(path.path == name) & (path.t == t)].iloc[0]
            assert point["test_loss"] == pytest.approx(summary["final_test_loss"], rel=1e-5)
            assert point["test_acc"] == pytest.approx(summary["final_test_acc"])
    weights = load_weights(run_dirs[0] / "model.pt")
    assert all(v.device.type == "cpu" for v in weights.values())
    assert set(tables["mode_connectivity_barriers"]["path"]) == {"line", "bezier"}
