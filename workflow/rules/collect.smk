# Collect every run's summary into tidy tables (one row per run; one per run × epoch), with their
# data dictionary (column, unit, meaning, schema version).


localrules:
    collect,


rule collect:
    input:
        runs=run_markers([*PLAN.grid, *PLAN.tuning]),  # the grid's runs and design.tuning's trials
        tuned=tuned_run_files,  # design.tuning's runs at the chosen values, once chosen (tuning.smk)
    output:
        runs="results/tables/runs.csv",
        epochs="results/tables/epochs.csv",
        dictionary="results/tables/dictionary.csv",
        skipped="results/tables/skipped.csv",  # runs without a valid summary, and why (usually empty)
    log:
        "results/logs/collect.log",
    run:
        from trickbench.collect import collect_into
        from trickbench.local_jobs import one_at_a_time
        from trickbench.tuning import run_roles

        with one_at_a_time():
            collect_into([Path(f) for f in run_folders([*input.runs, *input.tuned])], output.runs, output.epochs, PLAN.baseline,
                         log[0], output.dictionary, skipped_csv=output.skipped, roles=run_roles(config, "results/tables"))
