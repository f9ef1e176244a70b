# Every enabled figure from the tables (a PNG + the data it plots each), in one job, then the
# self-contained HTML. One job, not one per figure: where a local job is a Snakemake process of its
# own (`--workflow-profile none`), it parses the workflow again, several CPU-seconds of imports, far
# more than drawing a figure takes (bench/results/figures_job.json); in threads (profiles/default,
# trickbench.local_jobs) one job costs no more than many.
from trickbench.report.render import enabled_figures

FIGURES = enabled_figures(config)


localrules:
    figures,
    report_html,


rule figures:
    input:
        sorted({f"results/tables/{table}.csv" for fig in FIGURES for table in fig.tables}),
    output:
        png=[report(f"reports/figures/{fig.name}.png", caption=str(fig.caption_path), category=fig.section)
             for fig in FIGURES],
        data=[f"reports/figures/{fig.name}.csv" for fig in FIGURES],
    log:
        "results/logs/figures.log",
    params:
        names=[fig.name for fig in FIGURES],
    run:
        from trickbench.local_jobs import one_at_a_time
        from trickbench.logs import logging_to
        from trickbench.report.render import render

        with one_at_a_time(), logging_to(log[0]):
            for name, png, data in zip(params.names, output.png, output.data):
                render(name, "results/tables", config, png, data)


rule report_html:
    input:
        tables="results/tables/runs.csv",
        claims="results/tables/claims.csv",  # the scorecard that opens the page
        figures=[f"reports/figures/{fig.name}.png" for fig in FIGURES],
    output:
        "reports/report.html",
    log:
        "results/logs/report.log",
    run:
        from trickbench.local_jobs import one_at_a_time
        from trickbench.logs import logging_to
        from trickbench.report.html import write_report

        with one_at_a_time(), logging_to(log[0]):
            write_report("results/tables", "reports/figures", config, output[0])
