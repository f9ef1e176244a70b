"""The self-contained HTML report: one file, figures embedded as base64 PNG (their plotted data as
CSV beside them), styles and the small table script inline — it opens from disk, offline, and can
be mailed as is.

The page is generic over the figure registry: every enabled figure appears in its section, in
registration order, and every section gets a link in the navigation bar. What is specific to the
factor grid (the summary, the findings) is computed from the runs table in `findings`.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import math
import re
from pathlib import Path
from typing import Any, Mapping

import jinja2
import pandas as pd
from markupsafe import Markup

from trickbench.atomic import atomic_open
from trickbench.claims import scorecard as claims_scorecard
from trickbench.claims.conditions import setup_line
from trickbench.collect import compared_runs
from trickbench.progress import duration
from trickbench.report import calibration_effects, equal_compute, noise, tuning, versus
from trickbench.report.figures import FIGURES, Tables, read_table
from trickbench.report.grid import FAILED_TO_TUNE, chance_test, finished
from trickbench.report.render import load_all
from trickbench.report.findings import SELECT_ON, best_configuration, comparisons, counted, top_findings
from trickbench.stats import AT_CHANCE, failure_reasons
from trickbench.techniques import FAMILIES

TEMPLATE = Path(__file__).with_name("template.html.j2")

#: columns of the runs table in the report, in order, with their headers: how each run ended and
#: scored first (visible without scrolling), then what it was
RUN_COLUMNS = {
    "run_id": "run", "status": "status", "seed": "seed", "final_test_acc": "test acc (returned model)",
    "best_test_acc": "test acc @ val-selected epoch", "final_val_acc": "val acc", "final_train_eval_acc": "train acc (eval mode)",
    "epochs_completed": "epochs", "grad_evals": "grad evals", "train_seconds": "train s",
    "role": "role", "base_lr": "lr", **{family: family for family in FAMILIES}, "technique_notes": "notes",
}
#: rows of a figure's plotted data shown under it (all of them are in its CSV, linked beside)
DATA_PREVIEW_ROWS = 12
#: the page's own sections around the figure sections: id → title in the navigation bar
OPENING = {"claims": "Claims", "summary": "Summary"}  # claims: only when the workflow judged them
CLOSING = {"runs": "All runs", "environment": "Environment"}


def image_data_uri(path: str | Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def csv_data_uri(path: str | Path) -> str:
    return "data:text/csv;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def caption_html(text: str) -> str:
    """Captions are short reStructuredText paragraphs; shown as escaped paragraphs."""
    return "".join(f"<p>{html.escape(' '.join(p.split()))}</p>" for p in text.split("\n\n") if p.strip())


def slug(text: str) -> str:
    """An HTML id from a figure section's title: 'Factor grid' → 'factor-grid'; never one of the
    page's own ids ('Summary' → 'section-summary')."""
    anchor = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
    return f"section-{anchor}" if anchor in OPENING or anchor in CLOSING else anchor


def pm(mean: float, half: float, digits: int = 1) -> str:
    """'41.2 ± 1.3' (or just '41.2' where the half-width is unknown, e.g. one seed)."""
    if not math.isfinite(mean):
        return "–"
    return f"{mean:.{digits}f}" + (f" ± {half:.{digits}f}" if math.isfinite(half) else "")


def cell(value: Any, percent: bool = False, decimals: int | None = None) -> str:
    """A table cell: floats to 4 significant digits (or `decimals` places; fractions as % with one
    decimal), NaN as '–'."""
    if isinstance(value, bool) or value is None:
        return "–" if value is None else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        if percent:
            return f"{100 * value:.1f}"
        return f"{value:.{decimals}f}" if decimals is not None else f"{value:.4g}"
    return str(value)


def figure_entry(fig: Any, figures_folder: Path) -> dict[str, Any]:
    """What the page shows of one figure: title, caption, image, and a preview of its data."""
    data_csv = figures_folder / f"{fig.name}.csv"
    data = read_table(data_csv) if data_csv.is_file() else pd.DataFrame()
    return {
        "name": fig.name, "title": fig.title, "caption": caption_html(fig.caption),
        "image": image_data_uri(figures_folder / f"{fig.name}.png"),
        "data_uri": csv_data_uri(data_csv) if data_csv.is_file() else None,
        "data_headers": list(data.columns),
        "data_rows": [[cell(v) for v in row] for row in data.head(DATA_PREVIEW_ROWS).itertuples(index=False)],
        "data_total": len(data),
    }


def grid_summary(runs: pd.DataFrame, config: Mapping[str, Any], skipped: int = 0,
                 untuned: list[str] | None = None) -> dict[str, str]:
    """The grid that ran, from the runs table (so a re-rendered report describes what ran), how
    many run folders the collect step left out for want of a valid summary (`skipped`), and the
    configurations of a tuned design that failed to tune (`untuned`: they have no run to count)."""
    design = config["design"]
    left_out = f"; {skipped} more left out, without a valid summary (results/tables/skipped.csv says why)" if skipped else ""
    if runs.empty:
        return {"data set": str(config["data"]["source"]), "runs": "0 — nothing to report yet" + left_out}
    distinct = lambda column: ", ".join(map(str, dict.fromkeys(runs[column]))) if column in runs else "–"
    statuses = runs["status"].value_counts()
    failed = int(len(runs) - statuses.get("ok", 0))
    configurations = runs.drop_duplicates([f for f in FAMILIES if f in runs])
    return {
        "data set": distinct("data"),
        "model": distinct("model"),
        "budget": f"{distinct('epochs')} epochs of batch {distinct('batch_size')}"
                  + (f" ({int(runs['grad_evals'].max()):,} gradient evaluations per run at most)" if "grad_evals" in runs else ""),
        "design": f"{design['kind']}: {counted(len(configurations) + len(untuned or []), 'configuration')} × seeds "
                  f"{distinct('seed')}" + (f" — {len(untuned)} of them failed to tune, so never ran at those seeds: "
                                           f"{'; '.join(untuned)}" if untuned else ""),
        "runs": runs_line(len(runs), statuses.to_dict(), failed) + at_chance_line(runs, config) + left_out,
    }


def at_chance_line(runs: pd.DataFrame, config: Mapping[str, Any]) -> str:
    """'; 3 of the ok runs ended at chance on validation' (they are failures too: never averaged)."""
    at_chance = int((failure_reasons(runs, SELECT_ON, chance_test(config)) == AT_CHANCE).sum())
    return f"; {at_chance} of the ok runs ended at chance on validation, so did not train either" if at_chance else ""


def runs_line(total: int, statuses: Mapping[str, int], failed: int) -> str:
    """'28, all trained to the end' or '12: 11 ok, 1 diverged — 1 did not train to the end'."""
    if not failed:
        return f"{total}, all trained to the end" if total > 1 else "1, trained to the end"
    return f"{total}: " + ", ".join(f"{n} {status}" for status, n in statuses.items()) + f" — {failed} did not train to the end"


def evidence(tables: Tables, config: Mapping[str, Any]) -> list[str]:
    """What the grid's claims rest on: the seed-to-seed noise floor, whether rankings hold at equal
    compute, and calibration after temperature scaling (`report.noise`, `report.equal_compute`,
    `report.calibration_effects`)."""
    runs = tables["runs"]
    if finished(runs).empty:
        return []
    return (noise.summary_sentences(noise.noise_table(runs, config))
            + equal_compute.summary_sentences(runs, tables["epochs"], config)
            + calibration_effects.summary_sentences(runs, config))


def environment(runs: pd.DataFrame, generated: str) -> dict[str, str]:
    """Where the numbers came from, and what they cost."""
    keys = {"trickbench_version": "trickbench", "git_commit": "git commit", "python_version": "python",
            "git_dirty": "uncommitted changes", "torch_version": "torch", "cuda_version": "CUDA",
            "cudnn_version": "cuDNN", "device": "device", "device_name": "device name",
            "torch_threads": "torch threads per run", "deterministic": "deterministic algorithms",
            "numerics": "CPU numerics (execution.numerics)", "cpu_capability": "PyTorch CPU kernels"}
    env = {"report generated": generated}
    env.update({label: ", ".join(sorted(map(str, runs[key].dropna().unique()))) for key, label in keys.items() if key in runs})
    if "wall_seconds" in runs and len(runs):
        env["run wall time"] = (f"{duration(runs['wall_seconds'].sum())} in all over {counted(len(runs), 'run')} "
                                f"({duration(runs['train_seconds'].sum())} of it training); "
                                f"longest run {duration(runs['wall_seconds'].max())}")
    if "grad_evals" in runs and len(runs):
        env["gradient evaluations"] = f"{int(runs['grad_evals'].sum()):,} in all"
    if "train_flops" in runs and runs["train_flops"].notna().any():
        env["training FLOPs"] = f"{runs['train_flops'].sum() / 1e12:.3g} TFLOP in all (torch.utils.flop_counter)"
    if "images_per_s" in runs and runs["images_per_s"].notna().any():
        env["training speed"] = f"{runs['images_per_s'].median():,.0f} images/s (median over runs)"
    env.update(tuning.compute_by_role(runs))
    return env


def run_columns(runs: pd.DataFrame) -> tuple[list[str], dict[str, str]]:
    """The runs table's columns, less the factors every run shares (named once above the table
    instead, which keeps the metrics in view on a laptop screen) and the notes when no run has one."""
    shared = {f: str(runs[f].iloc[0]) for f in [*FAMILIES, "role"] if f in runs and len(runs) and runs[f].nunique() == 1}
    noted = "technique_notes" in runs and runs["technique_notes"].dropna().astype(str).str.len().any()
    left_out = {*shared, *([] if noted else ["technique_notes"])}
    return [c for c in RUN_COLUMNS if c in runs and c not in left_out], shared


def runs_rows(runs: pd.DataFrame, columns: list[str]) -> list[list[str]]:
    """Table cells; a run that did not train to the end (diverged, exploded) shows no scores: its
    accuracies are numbers (NaN logits argmax to class 0) but not results."""
    def scored(row: Mapping[str, Any], column: str) -> bool:
        return row.get("status", "ok") == "ok" or not column.startswith(("final_", "best_"))

    wanted = list(dict.fromkeys([*columns, *(["status"] if "status" in runs else [])]))
    return [[cell(row[c], percent=c.endswith("_acc"), decimals=1 if c.endswith("_seconds") else None)
             if scored(row, c) else "–" for c in columns]
            for row in runs[wanted].to_dict("records")]


#: rows of the runs table on one page: the page holds the first ones as HTML (readable without
#: script), the page's script shows any other page from the compact JSON of every row, so that a
#: grid of 10,000 runs stays a few megabytes and opens at once
RUNS_PAGE_SIZE = 100


def script_json(value: Any) -> Markup:
    """`value` as compact JSON that is safe inside a <script> element (no '<', '>' or '&' that
    could end it)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def signed(value: float, digits: int = 1) -> str:
    return f"{value:+.{digits}f}".replace("-", "−") if math.isfinite(value) else "–"


def verdict(row: Mapping[str, Any]) -> str:
    """'yes' / 'no' for a tested comparison; why not for the rest."""
    if row["failed"] and row["failures"] == FAILED_TO_TUNE:
        return FAILED_TO_TUNE
    if row["failed"]:
        return f"failed to train ({row['n_failed']} of {row['runs']}: {row['failures']})"
    if not row["test"] or row["test"] != row["test"]:  # empty or NaN: too few runs
        return "– (too few runs to test)"
    return "yes" if row["detectable"] == True else "no"  # noqa: E712


#: the comparisons table: header → how a row of `findings.comparisons` fills the cell
COMPARISON_COLUMNS = {
    "factor": lambda r: r["factor"], "level": lambda r: r["level"], "runs": lambda r: int(r["n"]),
    "test acc": lambda r: cell(r["mean"], decimals=1), "baseline": lambda r: r["reference"],
    "its runs": lambda r: cell(r["n_reference"], decimals=0), "baseline acc": lambda r: cell(r["reference_mean"], decimals=1),
    "difference": lambda r: signed(r["diff"]), "test": lambda r: r["test"] if isinstance(r["test"], str) and r["test"] else "–",
    "corrected 95 % CI": lambda r: f"{signed(r['diff_ci_low'])} to {signed(r['diff_ci_high'])}"
                                   if math.isfinite(r["diff_ci_low"]) else "–",
    "p (Holm)": lambda r: cell(r["p_adjusted"], decimals=3), "detectable": verdict,
    "min. detectable effect": lambda r: cell(r["mde"], decimals=1),
    "seeds needed": lambda r: "more than 10,000" if r["seeds_needed"] == math.inf else cell(r["seeds_needed"], decimals=0),
}


def comparison_rows(runs: pd.DataFrame, config: Mapping[str, Any],
                    names: Mapping[tuple[str, str], str] | None = None) -> list[list[str]]:
    """The comparisons table's cells; `names` ((factor, level) → name) names tuned levels by the
    values their runs ran."""
    names = names or {}
    found = comparisons(runs, config)
    found = found.assign(level=[names.get(key, key[1]) for key in zip(found["factor"], found["level"])],
                         reference=[names.get(key, key[1]) for key in zip(found["factor"], found["reference"])])
    return [[fill(row) for fill in COMPARISON_COLUMNS.values()] for row in found.to_dict("records")]


def scorecard_block(tables_folder: str | Path, sections: Mapping[str, list[dict[str, Any]]],
                    config: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The claims' scorecard that opens the page (`trickbench.claims`): the setup that ran it, the
    claims that ran (evidence linked to the figures on the page), one line naming the rest; None
    when the tables hold no claims.csv."""
    scorecard = claims_scorecard.read_scorecard(tables_folder)
    if scorecard is None or scorecard.empty:
        return None
    ids = {f"figure-{fig['name']}" for figures in sections.values() for fig in figures}
    evidence = Path(tables_folder) / f"{claims_scorecard.EVIDENCE}.csv"
    return {"counts": claims_scorecard.counts_line(scorecard), "method": claims_scorecard.method_line(scorecard),
            "setup": setup_line(config) if config is not None else "",
            "rows": claims_scorecard.html_rows(scorecard, ids), "rest": claims_scorecard.not_run_line(scorecard),
            "evidence_uri": csv_data_uri(evidence) if evidence.is_file() else None}


def write_report(tables_folder: str | Path, figures_folder: str | Path, config: Mapping[str, Any], target: str | Path) -> None:
    """The page, from the tables and the already drawn figures (PNG + CSV) of every enabled figure."""
    load_all()
    tables = Tables(tables_folder)
    runs = compared_runs(tables["runs"])  # the design's runs (tuned ones in a tuned design); the environment counts all
    sections: dict[str, list[dict[str, Any]]] = {}
    for fig in (f for f in FIGURES.values() if f.enabled(config)):
        sections.setdefault(fig.section, []).append(figure_entry(fig, Path(figures_folder)))
    generated = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    best = best_configuration(runs, config, lambda levels: tuning.ran_variant(tables, config, levels))
    names = tuning.ran_names(tables, config)  # tuned levels: the values their runs ran
    columns, shared = run_columns(tables["runs"])  # every run, tuning trials too (column role)
    rows = runs_rows(tables["runs"], columns)
    titles = versus.section_titles(config)  # a section named for the config's technique: it leads
    sections = {s: sections[s] for s in sorted(sections, key=lambda s: s not in titles)}
    claims = scorecard_block(tables_folder, sections, config)
    page = jinja2.Template(TEMPLATE.read_text(), autoescape=True, undefined=jinja2.StrictUndefined).render(
        title=config["report"]["title"],
        generated=generated,
        nav=[*((a, label) for a, label in OPENING.items() if a != "claims" or claims),
             *((slug(titles.get(s, s)), titles.get(s, s)) for s in sections), *CLOSING.items()],
        claims=claims,
        sections=[(slug(titles.get(s, s)), titles.get(s, s), figures) for s, figures in sections.items()],
        grid={**grid_summary(runs, config, len(tables["skipped"]) if (Path(tables_folder) / "skipped.csv").is_file() else 0,
                             tuning.failed_to_tune(tables, config)),
              **tuning.learning_rate_fact(tables, config)},
        best=best and {**best, "val": pm(*best["val"]), "test": pm(*best["test"])},
        findings=versus.summary_findings(tables, config) + tuning.summary_findings(tables, config)
                 + top_findings(runs, config, names) + evidence(tables, config),
        notes={**tuning.section_notes(tables, config), **versus.section_notes(tables, config)},
        comparison_headers=list(COMPARISON_COLUMNS), comparison_rows=comparison_rows(runs, config, names),
        run_headers=[RUN_COLUMNS[c] for c in columns],
        run_rows=rows[:RUNS_PAGE_SIZE],
        run_total=len(rows),
        run_rows_json=script_json(rows),
        run_page_size=RUNS_PAGE_SIZE,
        run_shared=shared,
        environment=environment(tables["runs"], generated),
    )
    with atomic_open(target) as handle:
        handle.write(page)
