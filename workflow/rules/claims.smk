# The claims of the lecture and the papers, judged from the result tables: reproduced, not
# reproduced, inconclusive or not run, each with its effect, interval and n (trickbench.claims).
from trickbench.claims import input_tables


localrules:
    claims,


rule claims:
    input:
        [f"results/tables/{table}.csv" for table in input_tables(config)],
    output:
        scorecard="results/tables/claims.csv",
        evidence="results/tables/claims_evidence.csv",  # the values behind each verdict
    log:
        "results/logs/claims.log",
    run:
        from trickbench.claims.scorecard import write_scorecard
        from trickbench.local_jobs import one_at_a_time

        with one_at_a_time():
            write_scorecard("results/tables", config, output.scorecard, output.evidence, log[0])
