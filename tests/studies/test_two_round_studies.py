"""Two-round studies in the plan: the second round exists only once the first round's table does,
and is then known by id to any process that plans the workflow (a cluster job, `trickbench plan`)."""

from __future__ import annotations

import pandas as pd

from trickbench.studies import STUDIES
from trickbench.studies.registered import load_all
from trickbench.studies.lr_search import RUN_COLUMNS
from trickbench.studies.run import second_round
from trickbench.workflow import plan_from_config


def lr_config(tiny_config):
    tiny_config["studies"] = {"lr_search": {"enabled": True, "regularizer": "none", "coarse": {"samples": 3, "epochs": 1},
                                            "fine": {"samples": 2, "epochs": 1}}}
    return tiny_config


def test_the_second_round_joins_the_plan_once_the_stage_table_exists(tiny_config, tmp_path):
    load_all()
    plan = plan_from_config(lr_config(tiny_config), tables=tmp_path)
    first_round = plan.studies["lr_search"]
    assert len(first_round) == 3 and len(plan.runs) == len(plan.grid) + 3
    assert second_round(STUDIES["lr_search"], plan.config, tmp_path / "lr_search_coarse.csv") == []

    best = plan.runs[first_round[1]]
    rows = [["coarse", run_id, plan.runs[run_id].optimizer.kwargs["lr"], float("nan"), "ok",
             0.9 if run_id == best.run_id else 0.1, 0.5, 1] for run_id in first_round]
    pd.DataFrame(rows, columns=RUN_COLUMNS).to_csv(tmp_path / "lr_search_coarse.csv", index=False)

    replanned = plan_from_config(lr_config(tiny_config), tables=tmp_path)
    chosen = second_round(STUDIES["lr_search"], replanned.config, tmp_path / "lr_search_coarse.csv")
    assert len(chosen) == 2 and all(spec.run_id in replanned.runs for spec in chosen)
    assert replanned.studies["lr_search"] == first_round  # the study's own list stays its first round
    assert plan_from_config(lr_config(tiny_config)).runs.keys() == plan.runs.keys()  # no tables: first round only
