"""Calibration of the ensemble: its members and their average, raw and temperature-scaled.

Ensembles are often said to be better calibrated than single networks (Lakshminarayanan et al.
2017); Ashukha et al. 2020 show the comparison is only fair after temperature scaling each
predictor on validation, since a single network's over-confidence is mostly one scalar away from
fixed. This study takes the ensembles study's members (the baseline with seeds 0..K−1: no runs of
its own), fits one temperature per predictor on the validation split, and tabulates reliability
diagrams (15 bins by default) of the single member chosen on validation and of the average of all
members — raw and scaled — with their test ECE and NLL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from trickbench.calibration import reliability_table, softmax
from trickbench.report.figures import Tables, figure, placeholder
from trickbench.report.reliability import reliability_figure
from trickbench.spec import RunSpec
from trickbench.studies import Study, is_enabled, register_study
from trickbench.studies import ensembles
from trickbench.data.labels import split_labels

NAME = "calibration"
TABLE = "ensemble_reliability"


def member_specs(config: Mapping[str, Any]) -> list[RunSpec]:
    return ensembles.member_specs(config)


def analyze(config: Mapping[str, Any], run_dirs: list[Path]) -> dict[str, pd.DataFrame]:
    summaries = [json.loads((d / "summary.json").read_text()) for d in run_dirs]
    finished = [(d, s) for d, s in zip(run_dirs, summaries) if s["status"] == "ok"]
    if not finished:
        return {TABLE: reliability_table({}, np.array([]), np.array([]))}
    labels = split_labels(RunSpec.from_dict(finished[0][1]["spec"]), config)
    load = lambda d, split: softmax(np.load(d / f"{split}_logits.npy", allow_pickle=False))
    members = [(load(d, "test"), load(d, "val")) for d, _ in finished]
    chosen = int(np.argmax([s["final_val_acc"] for _, s in finished]))  # on validation, never test
    predictors = {"single member chosen on validation": members[chosen],
                  f"ensemble of {len(members)}": (np.mean([m[0] for m in members], axis=0),
                                                  np.mean([m[1] for m in members], axis=0))}
    return {TABLE: reliability_table(predictors, labels["val"], labels["test"], config["studies"][NAME]["bins"])}


register_study(Study(NAME, "Calibration of the ensemble and its members", member_specs, analyze, tables=(TABLE,),
                     run_files=("summary.json", "val_logits.npy", "test_logits.npy")))


@figure("ensemble_reliability", title="Reliability of a single member and of the ensemble, raw and temperature-scaled",
        section=ensembles.TITLE, tables=(TABLE,), enabled=lambda config: is_enabled(config, NAME))
def ensemble_reliability(tables: Tables, config: Mapping[str, Any]):
    table = tables[TABLE]
    if table.empty:
        return placeholder("No ensemble member finished."), table
    return reliability_figure(table, "Test accuracy vs confidence per bin (dotted: perfect calibration); "
                                     "temperatures fitted on validation"), table
