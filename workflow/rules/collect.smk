# Collect every run's summary into tidy tables (one row per run; one per run × epoch), with their
# data dictionary (column, unit, meaning, schema version).


localrules:
    collect,


rule collect:
    input:
        run_files(PLAN.grid),
    output:
        runs="results/tables/runs.csv",
        epochs="results/tables/epochs.csv",
        dictionary="results/tables/dictionary.csv",
    log:
        "results/logs/collect.log",
    run:
        from trickbench.collect import collect_into

        collect_into([Path(p).parent for p in input], output.runs, output.epochs, PLAN.baseline, log[0],
                     output.dictionary)
