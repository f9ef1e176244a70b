# Training: each run's folder results/runs/<run_id>/ (see results/README.md for its files).
#
# One process trains execution.runs_per_job runs (trickbench.multirun): imports, the device's
# start-up and the data are paid once per job, not once per run. Each multi-run job is a rule of
# its own, train_job_<k>, whose outputs are its runs' files; its runs are consecutive in plan order
# (trickbench.workflow.Plan.jobs), cut from the config alone, so every parse of the workflow — the
# login node's and each cluster job's — makes the same jobs. Every other run (all of them with
# runs_per_job 1; a study's second round, chosen after the DAG was built) is trained by the
# wildcard rule `train`. Where both could make a file Snakemake prefers the rule without wildcards,
# so each run has exactly one producer.
#
# Changing runs_per_job moves runs between rules and retrains nothing, because nothing Snakemake
# records of a finished run changes: every training rule has the same shell command (recorded
# unformatted), the same kind of input (the data cache, marked ancient), and the runs travel in a
# param that Snakemake does not record (`JobArguments`: not a plain type).
#
# A rule's only outputs are its runs' markers, results/trained/<run_id>, touched by Snakemake
# after the whole job succeeded; the run's files (summary.json, …) are written by `train-many`
# itself, each atomically, summary.json last, and are no declared output. Snakemake removes a
# failed job's outputs (unless --keep-incomplete) — with runs as outputs, a job killed after 3 of
# its 7 runs lost those 3. Now it removes markers only: the finished runs stay, and the rerun job
# skips them and trains the rest. A killed job leaves no marker behind, so nothing is "incomplete"
# and a rerun needs no --rerun-incomplete; common.smk removes the marker of a run whose folder was
# deleted or damaged since, so that run is trained again.

TRAIN_COMMAND = (
    "{TRICKBENCH} train-many {params.runs} --runs-dir results/runs --logs-dir results/logs/train"
    " --threads {threads} {EXECUTION_FLAGS} > {log} 2>&1"
)


class JobArguments:
    """The runs of a training job as command-line words: `--spec <canonical JSON>` each (the spec
    itself travels to the job), `--keep-weights <id>` for a run whose weights are kept. Not a str
    on purpose: Snakemake records params of plain types and reruns a job whose params changed —
    the runs of a job change with runs_per_job, the runs themselves do not."""

    def __init__(self, run_ids):
        self.run_ids = list(run_ids)

    def __str__(self):
        words = []
        for run_id in self.run_ids:
            words += ["--spec", shlex.quote(RUNS[run_id].canonical_json())]
            words += ["--keep-weights", run_id] if keeps_weights(run_id) else []
        return " ".join(words)


def keeps_weights(run_id):
    return WEIGHTS_KEPT is None or run_id in WEIGHTS_KEPT


def run_outputs(run_id):
    return [touch(marker) for marker in run_markers([run_id])]


def training_resources(runs):
    """What a job of `runs` runs asks the scheduler for: one process's threads and memory, the
    wall time of its runs, and a GPU (slot) where runs go to a GPU."""
    return dict(mem_mb=EXECUTION["mem_mb"], runtime=EXECUTION["runtime_min"] * runs,
                gpu=1 if PLAN.uses_gpu else 0, gpu_slot=1 if PLAN.uses_gpu else 0)


# One run per job (every run with runs_per_job 1; a study's second round, a tuned run). Whether a
# run keeps its weights travels in its arguments (`--keep-weights`), not in its outputs.
rule train:
    input:
        lambda wildcards: data_inputs([wildcards.run_id]),
    output:
        run_outputs("{run_id}"),
    log:
        "results/logs/jobs/{run_id}.log",
    params:
        runs=lambda wildcards: JobArguments([wildcards.run_id]),
    threads: EXECUTION["threads"]
    resources:
        **training_resources(1),
    group:
        lambda wildcards: GROUP_OF.get(wildcards.run_id)
    # Execution settings are globals, not params: Snakemake records the unformatted command, so
    # changing the device or the eval batch size reruns nothing (they are not part of a run's id).
    shell:
        TRAIN_COMMAND


# Several runs per job (execution.runs_per_job > 1).
for index, job_runs in enumerate(TRAINING_JOBS):

    rule:
        name:
            f"train_job_{index}"
        input:
            data_inputs(job_runs),
        output:
            [path for run_id in job_runs for path in run_outputs(run_id)],
        log:
            f"results/logs/jobs/{job_runs[0]}+{len(job_runs) - 1}.log",
        params:
            runs=JobArguments(job_runs),
        threads: EXECUTION["threads"]
        resources:
            **training_resources(len(job_runs)),
        group:
            GROUP_OF.get(job_runs[0])
        shell:
            TRAIN_COMMAND


# Job groups: thousands of short jobs overwhelm a cluster's scheduler, so with
# execution.runs_per_cluster_job = N > 1 every N runs (whole training jobs) go to the cluster as
# one job. Snakemake puts jobs of one group name into one cluster job only where the DAG connects
# them, so each group ends in this marker job that depends on its runs. Local runs ignore groups
# (the markers are then empty files made in a blink); only `all` asks for the markers, so changing
# N reruns nothing.
rule train_group:
    wildcard_constraints:
        group="train-[0-9]+",
    input:
        lambda wildcards: run_markers(CLUSTER_JOBS[wildcards.group]),
    output:
        touch("results/groups/{group}.done"),
    group:
        lambda wildcards: wildcards.group
