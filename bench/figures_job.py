"""What drawing every figure in one job saves over one job per figure: the real workflow, side by side.

Snakemake runs each local `run:` job (a figure, a study, collect, the report) in a new Snakemake
process that parses the workflow again — several CPU-seconds of imports (torch, pandas, scipy,
statsmodels, seaborn) before it draws anything, while drawing one figure takes about a second. So
the shipped `rule figures` (workflow/rules/report.smk) draws all enabled figures in one job, and
this benchmark measures it against the plain reference, one rule per figure (the layout before),
which this script writes into the second workspace's copy of workflow/rules/report.smk.

Each pass is `snakemake --cores N` from an empty workspace up to the HTML report, on the smoke
preset with its studies (`--configfile` more to add; the default grid: `--configfile` nothing and
`--no-smoke`). Core-seconds: CPU time (user + system) of snakemake and every process it started
(`RUSAGE_CHILDREN`). The passes alternate reference, shipped, reference, shipped (`--repeats`) so
that a drifting load hits both. The figures must come out the same: their plotted data (CSV) are
compared byte for byte, except a figure that plots measured time (`TIMED_FIGURES`).

    python bench/figures_job.py                 # the smoke preset, 2 repeats (a few minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from machine import REPO, alternating_passes, describe_machine, mean_ratio, snakemake_pass, write_result

#: one rule per figure: the layout the shipped `rule figures` replaced (the reference)
ONE_RULE_PER_FIGURE = '''\
from trickbench.report.render import enabled_figures

FIGURES = enabled_figures(config)


localrules:
    report_html,


for fig in FIGURES:

    rule:
        name:
            f"figure_{fig.name}"
        input:
            [f"results/tables/{table}.csv" for table in fig.tables],
        output:
            png=report(f"reports/figures/{fig.name}.png", caption=str(fig.caption_path), category=fig.section),
            data=f"reports/figures/{fig.name}.csv",
        log:
            f"results/logs/figures/{fig.name}.log",
        params:
            name=fig.name,
        localrule: True
        run:
            from trickbench.logs import logging_to
            from trickbench.report.render import render

            with logging_to(log[0]):
                render(params.name, "results/tables", config, output.png, output.data)


rule report_html:
    input:
        tables="results/tables/runs.csv",
        claims="results/tables/claims.csv",
        figures=[f"reports/figures/{fig.name}.png" for fig in FIGURES],
    output:
        "reports/report.html",
    log:
        "results/logs/report.log",
    run:
        from trickbench.logs import logging_to
        from trickbench.report.html import write_report

        with logging_to(log[0]):
            write_report("results/tables", "reports/figures", config, output[0])
'''


#: figures whose plotted data hold measured wall-clock time, which no two passes share
TIMED_FIGURES = {"equal_compute.csv": "its 'equal training seconds' budget is each run's measured training time"}


def workspace(where: Path, reference: bool) -> Path:
    """A user's checkout of the workflow; for the reference, workflow/ is a copy whose report rules
    are one rule per figure."""
    for name in ("Snakefile", "config.yaml"):
        shutil.copy(REPO / name, where / name)
    if reference:
        shutil.copytree(REPO / "workflow", where / "workflow", symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        (where / "workflow/rules/report.smk").write_text(ONE_RULE_PER_FIGURE)
    else:
        (where / "workflow").symlink_to(REPO / "workflow")
    return where


def same_figures(first: Path, second: Path) -> list[str]:
    """Names of the figures whose plotted data differ between two workspaces (none: the same),
    the timed ones left out."""
    names = sorted(p.name for p in (first / "reports/figures").glob("*.csv"))
    assert names == sorted(p.name for p in (second / "reports/figures").glob("*.csv")), "different figures"
    return [name for name in names if name not in TIMED_FIGURES and not filecmp.cmp(first / "reports/figures" / name, second / "reports/figures" / name, shallow=False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=None, help="snakemake --cores (default: usable cores)")
    parser.add_argument("--configfile", nargs="*", default=["workflow/presets/smoke.yaml"],
                        help="configs over config.yaml (default: the smoke preset; none: the default grid)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    machine = describe_machine()
    cores = args.cores or machine["cores_usable"]
    options = ["--configfile", *args.configfile] if args.configfile else []
    with tempfile.TemporaryDirectory(prefix="trickbench-figures-") as tmp:
        passes = alternating_passes(Path(tmp), args.repeats, {
            label: (lambda where, reference=reference: snakemake_pass(workspace(where, reference), cores, *options))
            for label, reference in (("one_rule_per_figure", True), ("one_figures_job", False))})
        differing = same_figures(Path(tmp) / "one_rule_per_figure-0", Path(tmp) / "one_figures_job-0")
    core_ratio = mean_ratio(passes, "one_figures_job", "one_rule_per_figure", "core_seconds")
    wall_ratio = mean_ratio(passes, "one_figures_job", "one_rule_per_figure", "wall_seconds")
    print(f"one figures job / one rule per figure: {core_ratio:.2f}x the core-seconds, {wall_ratio:.2f}x the wall time; "
          f"plotted data {'identical' if not differing else 'DIFFERENT: ' + ', '.join(differing)}")
    write_result("figures_job", {"cores": cores, "configfiles": ["config.yaml", *args.configfile], "passes": passes,
                                 "core_seconds_ratio": core_ratio, "wall_ratio": wall_ratio,
                                 "figures_with_different_data": differing,
                                 "figures_not_compared": TIMED_FIGURES}, machine)
    if differing:
        sys.exit(1)


if __name__ == "__main__":
    main()
