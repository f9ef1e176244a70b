"""The self-contained HTML report: one file, figures embedded as base64 PNG, styles and the small
table script inline — it opens from disk, offline, and can be mailed as is."""

from __future__ import annotations

import base64
import datetime as dt
import html
import math
from pathlib import Path
from typing import Any, Mapping

import jinja2
import pandas as pd

from trickbench.atomic import atomic_open
from trickbench.report.figures import FIGURES, Tables, load_all
from trickbench.report.grid import effects_table, finished
from trickbench.report.stats import mean_ci

TEMPLATE = Path(__file__).with_name("template.html.j2")

#: columns of the runs table in the report, in order, with their headers
RUN_COLUMNS = {
    "run_id": "run", "status": "status", "seed": "seed", "activation": "activation", "init": "init",
    "norm": "norm", "regularizer": "regularizer", "optimizer": "optimizer", "schedule": "schedule",
    "preprocessing": "preprocessing", "final_train_acc": "train acc", "final_val_acc": "val acc",
    "final_test_acc": "test acc", "best_epoch": "val-selected epoch", "best_val_acc": "val acc @ val-selected",
    "best_test_acc": "test acc @ val-selected", "epochs_completed": "epochs", "grad_evals": "grad evals",
    "train_seconds": "train s",
}


def image_data_uri(path: str | Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def caption_html(text: str) -> str:
    """Captions are short reStructuredText paragraphs; shown as escaped paragraphs."""
    return "".join(f"<p>{html.escape(' '.join(p.split()))}</p>" for p in text.split("\n\n") if p.strip())


def pm(mean: float, half: float, scale: float = 100.0, digits: int = 1) -> str:
    """'41.2 ± 1.3' (or just '41.2' with one seed)."""
    if not math.isfinite(mean):
        return "–"
    return f"{scale * mean:.{digits}f}" + (f" ± {scale * half:.{digits}f}" if math.isfinite(half) else "")


def best_configuration(runs: pd.DataFrame) -> dict[str, Any] | None:
    """The variant with the highest mean *validation* accuracy (test never chooses), with its test score."""
    from trickbench.techniques import FAMILIES

    runs = finished(runs)
    if runs.empty:
        return None
    families = list(FAMILIES)
    scores = runs.groupby(families, sort=False)["final_val_acc"].mean()
    best = scores.idxmax()
    chosen = runs[(runs[families] == pd.Series(best, index=families)).all(axis=1)]
    return {"levels": dict(zip(families, best)), "val": pm(*mean_ci(chosen["final_val_acc"])),
            "test": pm(*mean_ci(chosen["final_test_acc"])), "seeds": len(chosen)}


def findings(runs: pd.DataFrame, config: Mapping[str, Any]) -> list[str]:
    """One sentence per factor: its best and worst level by mean validation accuracy (a choice made
    on validation), with their test accuracies and 95 % CIs."""
    effects = effects_table(runs, config)
    sentences = []
    for family, part in effects.groupby("factor", sort=False):
        top, bottom = part.iloc[0], part.iloc[-1]
        half = lambda row: (row["ci_high"] - row["mean"]) / 100
        sentences.append(
            f"{family}: {top['level']} is best on validation, {bottom['level']} worst, of {len(part)} levels; their test "
            f"accuracies: {pm(top['mean'] / 100, half(top))} % and {pm(bottom['mean'] / 100, half(bottom))} % "
            f"(a difference of {top['mean'] - bottom['mean']:.1f} points).")
    return sentences


def evidence(tables: Tables, config: Mapping[str, Any]) -> list[str]:
    """What the grid's claims rest on: the seed-to-seed noise floor, whether rankings hold at equal
    compute, and calibration after temperature scaling (`report.noise`, `report.equal_compute`,
    `report.calibration_effects`)."""
    from trickbench.report import calibration_effects, equal_compute, noise

    runs = tables["runs"]
    if finished(runs).empty:
        return []
    return (noise.summary_sentences(noise.noise_table(runs, config))
            + equal_compute.summary_sentences(equal_compute.equal_compute_table(runs, tables["epochs"], config))
            + calibration_effects.summary_sentences(calibration_effects.calibration_table(runs, config)))


def environment(runs: pd.DataFrame) -> dict[str, str]:
    keys = ["trickbench_version", "git_commit", "git_dirty", "python_version", "torch_version", "cuda_version",
            "cudnn_version", "device_name", "deterministic"]
    env = {key: ", ".join(sorted(map(str, runs[key].dropna().unique()))) for key in keys if key in runs}
    if "train_seconds" in runs:
        env["total training time"] = f"{runs['train_seconds'].sum() / 60:.1f} min over {len(runs)} runs"
        env["longest run"] = f"{runs['wall_seconds'].max():.1f} s"
    if "train_flops" in runs:
        env["total compute"] = (f"{runs['grad_evals'].sum():,.0f} gradient evaluations, "
                                f"{runs['train_flops'].sum() / 1e12:.3g} TFLOP of training (torch.utils.flop_counter)")
    return env


def runs_rows(runs: pd.DataFrame) -> list[list[str]]:
    columns = [c for c in RUN_COLUMNS if c in runs]

    def cell(column: str, value: Any) -> str:
        if isinstance(value, float):
            if not math.isfinite(value):
                return "–"
            return f"{100 * value:.1f}" if column.endswith("_acc") else f"{value:.1f}"
        return str(value)

    return [[cell(c, row[c]) for c in columns] for row in runs[columns].to_dict("records")]


def write_report(tables_folder: str | Path, figures_folder: str | Path, config: Mapping[str, Any], target: str | Path) -> None:
    load_all()
    tables = Tables(tables_folder)
    runs = tables["runs"]
    figures = [f for f in FIGURES.values() if f.enabled(config)]
    sections: dict[str, list[dict[str, str]]] = {}
    for fig in figures:
        sections.setdefault(fig.section, []).append({
            "name": fig.name, "title": fig.title, "caption": caption_html(fig.caption),
            "image": image_data_uri(Path(figures_folder) / f"{fig.name}.png"),
        })
    statuses = runs["status"].value_counts().to_dict() if not runs.empty else {}
    page = jinja2.Template(TEMPLATE.read_text(), autoescape=True).render(
        title=config["report"]["title"],
        generated=dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        grid={
            "data set": runs["data"].iloc[0] if not runs.empty else config["data"]["source"],
            "model": runs["model"].iloc[0] if not runs.empty else "–",
            "budget": f"{config['train']['epochs']} epochs, batch {config['train']['batch_size']}",
            "design": f"{config['design']['kind']}, seeds {', '.join(map(str, config['design']['seeds']))}",
            "runs": f"{len(runs)} (" + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) + ")" if statuses else "0",
        },
        best=best_configuration(runs),
        findings=findings(runs, config) + evidence(tables, config),
        sections=sections,
        run_headers=[RUN_COLUMNS[c] for c in RUN_COLUMNS if c in runs],
        run_rows=runs_rows(runs),
        environment=environment(runs),
    )
    with atomic_open(target) as handle:
        handle.write(page)
