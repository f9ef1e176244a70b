# design.tuning: each cell's trials (stage 1, trained by rule train) → the choice table, a
# checkpoint → the design's seeds at the chosen values (stage 2), which enter the DAG only once that
# table exists. Rule collect reads all three.
import json

from trickbench.tuning import CHOICE_TABLE, TRIALS_TABLE, tuned_runs_from


def tuned_run_files(wildcards):
    """Stage 2 of design.tuning, an input of rule collect: the tuned runs, known once the checkpoint
    has chosen (their specs join RUNS, where rule train finds them); none without tuning."""
    if not PLAN.tuning:
        return []
    tuned = [run.spec for run in tuned_runs_from(config, checkpoints.tuning.get().output.choice)]
    RUNS.update((spec.run_id, spec) for spec in tuned)
    return run_markers(dict.fromkeys(spec.run_id for spec in tuned))


if PLAN.tuning:

    checkpoint tuning:
        input:
            run_markers(PLAN.tuning),
        output:
            trials=f"results/tables/{TRIALS_TABLE}.csv",
            choice=f"results/tables/{CHOICE_TABLE}.csv",
        log:
            "results/logs/tuning.log",
        params:
            settings=json.dumps(config["design"]["tuning"], sort_keys=True),  # e.g. edge_fraction changed: choose again
        localrule: True
        run:
            from trickbench.local_jobs import one_at_a_time
            from trickbench.tuning import write_choice

            folders = run_folders(input)  # trials in plan order
            with one_at_a_time():
                write_choice(config, folders, output.trials, output.choice, log[0])
