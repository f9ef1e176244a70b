# One rule per enabled study: its run folders (trained by rule train) → its tables.
from trickbench.studies import STUDIES

for study_name, study_runs in PLAN.studies.items():

    rule:
        name:
            f"study_{study_name}"
        input:
            run_files(study_runs, STUDIES[study_name].run_files),
        output:
            [f"results/tables/{table}.csv" for table in STUDIES[study_name].tables],
        log:
            f"results/logs/studies/{study_name}.log",
        params:
            name=study_name,  # a param, not the loop variable: rules run after the loop has moved on
            runs=study_runs,
        localrule: True
        run:
            from trickbench.studies.run import analyze_study

            analyze_study(params.name, config, [f"results/runs/{r}" for r in params.runs], output, log[0])
