"""The scorecard where people look: written as results/tables/claims.csv (with the values behind each
verdict in claims_evidence.csv) by the workflow's `claims` rule, printed by `trickbench claims`
(plain or Markdown) and shown at the top of the HTML report."""

from __future__ import annotations

import logging
import math
from contextlib import nullcontext
import os
import sys
import textwrap
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from trickbench.atomic import atomic_path
from trickbench.claims import INCONCLUSIVE, NOT_REPRODUCED, NOT_RUN, OUTSIDE, REPRODUCED, VERDICTS, Results
from trickbench.claims.conditions import setup_line
from trickbench.claims.verdicts import ALPHA, judge
from trickbench.logs import logging_to
from trickbench.report.grid import chance_test

log = logging.getLogger("trickbench.claims")

TABLE, EVIDENCE = "claims", "claims_evidence"


def write_scorecard(tables: str | Path, config: Mapping[str, Any], scorecard_csv: str | Path,
                    evidence_csv: str | Path, log_path: str | Path | None = None) -> pd.DataFrame:
    """The workflow's step: judge every claim from the tables in `tables` (failed runs by the
    config's chance test, as the report), write both tables atomically."""
    with logging_to(log_path) if log_path else nullcontext():
        scorecard, evidence = judge(Results(tables, chance_test(config), config))
        log.info("%s", setup_line(config))
        for frame, target in ((scorecard, scorecard_csv), (evidence, evidence_csv)):
            with atomic_path(target) as tmp:
                frame.to_csv(tmp, index=False)
        log.info("claims: %s", counts_line(scorecard))
    return scorecard


def read_scorecard(tables: str | Path) -> pd.DataFrame | None:
    """claims.csv of a tables folder, or None when the workflow has not written one."""
    return Results(tables).get(TABLE)


# -- words and numbers ---------------------------------------------------------------------------
DIGITS = {"points": 1, "nats": 3, "%": 1}


def number(value: float, unit: str) -> str:
    """A value in its unit's precision: points and % to 0.1, nats to 0.001, ratios to 3 significant
    digits (trailing zeros kept: '1.00×')."""
    if not math.isfinite(value):
        return "–"
    if unit in DIGITS:
        return f"{value:.{DIGITS[unit]}f}".replace("-", "−")
    return f"{value:#.3g}".rstrip(".").replace("-", "−")


def signed(value: float, unit: str) -> str:
    text = number(value, unit)
    return text if text.startswith("−") or not math.isfinite(value) or unit.startswith("×") else f"+{text}"


def with_unit(text: str, unit: str) -> str:
    return f"{text}×" if unit == "×" else f"{text} {unit}"


def bound(row: Mapping[str, Any]) -> str:
    """'≥ ' where the effect is a lower bound (capped by the budget or the searched range)."""
    return "≥ " if str(row.get("at_least", False)).lower() in ("true", "1") else ""


def seeds(n: float) -> str:
    return "more than 10,000" if n == math.inf else f"{int(n)}"


def result_line(row: Mapping[str, Any]) -> str:
    """The effect with its interval and n, e.g. '+8.1 points [3.2, 13.0] (99.7 % CI, Holm), 8 seeds,
    paired'; a reading's value and what was measured; what is missing for a claim that did not run."""
    unit, verdict = str(row["unit"]), row["verdict"]
    if verdict == NOT_RUN:
        return f"not run: {row['note']}"
    if not math.isfinite(row["effect"]):
        return str(row["note"] if verdict != OUTSIDE else row["sample"]) or "–"
    if isinstance(row.get("band"), str) and row["band"]:  # a reading: its mean over seeds against its band
        line = f"{bound(row)}{with_unit(number(row['effect'], unit), unit)}"
        if math.isfinite(row["ci_low"]):
            line += (f" [{number(row['ci_low'], unit)}, {number(row['ci_high'], unit)}] ({100 * row['ci_level']:.4g} % "
                     f"t interval of the mean, {int(row['n'])} seeds)")
        return f"{line} — {row['sample']} (band: {row['band']})"
    if not math.isfinite(row["ci_low"]):
        return f"{bound(row)}{with_unit(number(row['effect'], unit), unit)} — {row['sample']}"
    effect = bound(row) + with_unit(signed(row["effect"], unit), unit)
    interval = f"[{number(row['ci_low'], unit)}, {number(row['ci_high'], unit)}]"
    level = "not tested: outside this setup" if verdict == OUTSIDE else "Holm"
    test = f", {row['test']}" if isinstance(row.get("test"), str) and row["test"] else ""
    line = f"{effect} {interval} ({100 * row['ci_level']:.4g} % CI, {level}{test}), {row['sample']}"
    asserted, boundary = row.get("asserted"), row.get("boundary")
    if verdict != OUTSIDE and asserted is not None and isinstance(asserted, float) and math.isfinite(asserted):
        size = with_unit(number(asserted, unit), unit)
        line += (f"; stated size {size}, decided against {with_unit(number(boundary, unit), unit)}"
                 f" (one-sided p = {row['p_size']:.2g})")
    if verdict == INCONCLUSIVE and math.isfinite(row["minimum_detectable_effect"]):
        mde = with_unit(number(row["minimum_detectable_effect"], unit), unit)
        line += (f" — no detectable difference with {int(row['n'])} seeds (minimum detectable effect {mde}); "
                 f"{seeds(row['seeds_to_decide'])} seeds would decide it")
    if isinstance(row.get("components"), str) and row["components"]:
        line += f" — components: {row['components']}"
    return line


def counts_line(scorecard: pd.DataFrame) -> str:
    """'21 claims: 7 reproduced, 3 not reproduced, 5 inconclusive, 6 not run'."""
    counts = scorecard["verdict"].value_counts()
    return f"{len(scorecard)} claims: " + ", ".join(f"{int(counts.get(v, 0))} {v}" for v in VERDICTS)


def method_line(scorecard: pd.DataFrame) -> str:
    tests = int(scorecard["p_holm"].notna().sum())
    return (f"Verdicts over seeds: where a claim compares two cells of the grid, a contrast of one linear model over "
            "every compared cell that shares their seeds, seeds as blocks (OLS value ~ C(cell) + C(seed) on the claim's "
            "quantity), where the cells' residual variances pass Brown–Forsythe; otherwise a t test of the two arms "
            "(paired where runs share a seed, else Welch) — each claim names its test and why. Holm across the "
            f"scorecard's {tests} test{'s' if tests != 1 else ''} of direction (family-wise α = {ALPHA:g}); each interval at its "
            "test's Holm level, so it excludes 0 exactly when the test rejects. One boundary decides each verdict — "
            "0, or the size the source states (a one-sided t test against it): reproduced when the interval lies "
            "above it, not reproduced when it lies below it, so more seeds never move a verdict between the two. A "
            "claim whose source's conditions (model, schedule, initialization, training) this setup does not meet "
            "is outside this setup, with the preset that meets them. Runs that failed "
            "to train (diverged, exploded, not above chance on validation) are left out, as in the report; in a tuned "
            "design the tuned runs are compared. A single measurement is read on each seed and judged by the t interval "
            "of its mean (a ratio's on the log scale) against its band: reproduced inside it, not reproduced outside "
            "it, inconclusive across an edge or with fewer than 3 seeds.")


# -- the terminal ------------------------------------------------------------------------------
COLOURS = {REPRODUCED: "32", NOT_REPRODUCED: "31", INCONCLUSIVE: "33", OUTSIDE: "36", NOT_RUN: "90"}


def coloured(text: str, verdict: str, colour: bool) -> str:
    return f"\033[{COLOURS[verdict]}m{text}\033[0m" if colour else text


def use_colour(stream=None) -> bool:
    stream = stream or sys.stdout
    return stream.isatty() and "NO_COLOR" not in os.environ


def not_run_line(scorecard: pd.DataFrame) -> str:
    """One line naming the claims that did not run and the presets that run them, or ''."""
    rest = scorecard[scorecard["verdict"] == NOT_RUN]
    if rest.empty:
        return ""
    parts = [f"{', '.join(group['claim'])} ({preset})" for preset, group in rest.groupby("preset", sort=False)]
    return f"Not run here ({len(rest)} of {len(scorecard)}): " + "; ".join(parts) + "."


def ran(scorecard: pd.DataFrame) -> pd.DataFrame:
    return scorecard[scorecard["verdict"] != NOT_RUN]


def terminal(scorecard: pd.DataFrame, where: str, colour: bool = False, width: int = 100, setup: str = "") -> str:
    """The setup line, then one block per claim that ran — verdict and statement, whose claim it
    is, source, conditions, quantity, result, notes — then one line naming the rest."""
    lines = [f"Claims on {where} — {counts_line(scorecard)}", *textwrap.wrap(setup, width),
             *textwrap.wrap(method_line(scorecard), width), ""]
    indent = " " * 17
    for row in ran(scorecard).to_dict("records"):
        wrap = lambda text, first=indent: textwrap.wrap(text, width, initial_indent=first, subsequent_indent=indent)
        head = wrap(row["statement"], " " * 17)
        head[0] = coloured(f"{row['verdict'].upper():<16} ", row["verdict"], colour) + head[0][17:]
        lines += head + wrap(f"— {whose(row)}") + wrap(f"source: {row['source']}")
        if isinstance(row.get("conditions"), str) and row["conditions"]:
            lines += wrap(f"conditions: {row['conditions']}")
        lines += wrap(f"measured: {row['quantity']}")
        result = result_line(row)
        lines += wrap(result)
        if isinstance(row.get("why"), str) and row["why"]:
            lines += wrap(f"test: {row['test']}, because {row['why']}")
        if row["note"] and isinstance(row["note"], str) and row["note"] != result:
            lines += wrap(f"note: {row['note']}")
        lines.append("")
    lines += textwrap.wrap(not_run_line(scorecard), width)
    return "\n".join(lines).rstrip() + "\n"


def whose(row: Mapping[str, Any]) -> str:
    """'the lecture: "…"' or 'a paper's claim'."""
    lecture = row.get("lecture")
    return f"the lecture: {lecture}" if isinstance(lecture, str) and lecture else "a paper's claim (not the lecture's)"


def markdown(scorecard: pd.DataFrame, setup: str = "") -> str:
    """The scorecard as a Markdown table (docs/claims.md's), evidence named by its report figure: the
    setup line above it, the claims that ran in it, one line for the rest."""
    lines = ([setup, ""] if setup else []) + [
        "| claim | whose | verdict | effect [interval], n | evidence in the report |", "|---|---|---|---|---|"]
    for row in ran(scorecard).to_dict("records"):
        evidence = ", ".join(f"`{name}`" for name in str(row["evidence"] or "").split(";") if name) or "–"
        result = result_line(row) + (f" — {row['note']}" if row["verdict"] == OUTSIDE else "")
        cells = [row["statement"], f"{whose(row)}; {row['source']}", f"**{row['verdict']}**", result, evidence]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    rest = not_run_line(scorecard)
    return "\n".join(lines) + "\n" + (f"\n{rest}\n" if rest else "")


# -- the HTML report -----------------------------------------------------------------------------
def html_rows(scorecard: pd.DataFrame, page_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Rows of the report's scorecard; evidence links only to figures the page has (`figure-<name>`)."""
    ids = set(page_ids)
    rows = []
    for row in ran(scorecard).to_dict("records"):
        links = [{"anchor": f"figure-{name}", "label": name.replace("_", " ")}
                 for name in str(row["evidence"] or "").split(";") if name and f"figure-{name}" in ids]
        note = row["note"] if isinstance(row["note"], str) else ""
        if isinstance(row.get("why"), str) and row["why"]:
            note = "; ".join(filter(None, [f"{row['test']}, because {row['why']}", note]))
        rows.append({"id": f"claim-{row['claim']}", "statement": row["statement"], "source": row["source"],
                     "whose": whose(row), "conditions": row.get("conditions") if isinstance(row.get("conditions"), str) else "",
                     "quantity": row["quantity"], "verdict": row["verdict"], "verdict_class": row["verdict"].replace(" ", "-"),
                     "result": result_line(row), "note": note, "links": links})
    return rows
