# Figures from the tables (one rule each, PNG + the data it plots), then the self-contained HTML.
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
            name=fig.name,  # a param, not the loop variable: rules run after the loop has moved on
        localrule: True
        run:
            from trickbench.logs import logging_to
            from trickbench.report.render import render

            with logging_to(log[0]):
                render(params.name, "results/tables", config, output.png, output.data)


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
        from trickbench.logs import logging_to
        from trickbench.report.html import write_report

        with logging_to(log[0]):
            write_report("results/tables", "reports/figures", config, output[0])
