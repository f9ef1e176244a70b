# One rule per enabled study: its run folders (trained by rule train) → its tables.
# A two-round study (a Stage) first summarizes its first round in a checkpoint table; the runs of
# its second round are chosen from that table, so they enter the DAG only once it exists.
import json

from trickbench.studies import STUDIES
from trickbench.studies.run import second_round


def staged_run_files(study_name, first_round):
    """Input function of a two-round study's rule: both rounds' run files. The chosen specs join
    RUNS, where rule train looks each run's spec up by id."""

    def inputs(wildcards):
        table = getattr(checkpoints, f"study_{study_name}_stage").get().output[0]
        chosen = second_round(STUDIES[study_name], config, table)
        RUNS.update((spec.run_id, spec) for spec in chosen)
        run_ids = list(dict.fromkeys([*first_round, *(spec.run_id for spec in chosen)]))
        return run_markers(run_ids)

    return inputs


for study_name, study_runs in PLAN.studies.items():
    staged = STUDIES[study_name].stage is not None
    if staged:

        checkpoint:
            name:
                f"study_{study_name}_stage"
            input:
                run_markers(study_runs),
            output:
                f"results/tables/{STUDIES[study_name].stage.table}.csv",
            log:
                f"results/logs/studies/{study_name}_stage.log",
            params:
                name=study_name,  # a param, not the loop variable: rules run after the loop has moved on
                runs=study_runs,
            localrule: True
            run:
                from trickbench.local_jobs import one_at_a_time
                from trickbench.studies.run import summarize_stage

                with one_at_a_time():
                    summarize_stage(params.name, config, [f"results/runs/{r}" for r in params.runs], output[0], log[0])

    rule:
        name:
            f"study_{study_name}"
        input:
            runs=staged_run_files(study_name, study_runs) if staged else run_markers(study_runs),
        output:
            # update(): a failing study (a damaged member) gets its earlier tables back, so that
            # `trickbench report` can still draw them
            [update(f"results/tables/{table}.csv") for table in STUDIES[study_name].tables],
        log:
            f"results/logs/studies/{study_name}.log",
        params:
            name=study_name,  # a param, not the loop variable: rules run after the loop has moved on
            settings=json.dumps(config["studies"][study_name], sort_keys=True),  # its section changed: rerun
        localrule: True
        run:
            from trickbench.local_jobs import one_at_a_time
            from trickbench.studies.run import analyze_study

            folders = run_folders(input.runs)  # in plan order
            with one_at_a_time():
                analyze_study(params.name, config, folders, output, log[0])
