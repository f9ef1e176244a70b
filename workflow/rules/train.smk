# One training run per spec: results/runs/<run_id>/ (see results/README.md for its files).


rule train:
    output:
        summary="results/runs/{run_id}/summary.json",
        epochs="results/runs/{run_id}/epochs.csv",
        probabilities="results/runs/{run_id}/test_probs.npy",
        weights="results/runs/{run_id}/model.pt",
        activations="results/runs/{run_id}/activations.csv",
        val_logits="results/runs/{run_id}/val_logits.npy",
        test_logits="results/runs/{run_id}/test_logits.npy",
    log:
        "results/logs/train/{run_id}.log",
    params:
        spec=spec_argument,
    threads: EXECUTION["threads"]
    resources:
        mem_mb=EXECUTION["mem_mb"],
        runtime=EXECUTION["runtime_min"],
        gpu=1 if PLAN.uses_gpu else 0,
        gpu_slot=1 if PLAN.uses_gpu else 0,
    group:
        lambda wildcards: GROUP_OF.get(wildcards.run_id)
    # Execution settings are globals, not params: Snakemake records the unformatted command, so
    # changing the device or the eval batch size reruns nothing (they are not part of a run's id).
    shell:
        "{TRICKBENCH} train --spec {params.spec} --run-dir results/runs/{wildcards.run_id}"
        " --threads {threads} {EXECUTION_FLAGS} > {log} 2>&1"


# Job groups: thousands of one-minute jobs overwhelm a cluster's scheduler, so with
# execution.runs_per_cluster_job = N > 1 every N runs go to the cluster as one job. Snakemake puts
# jobs of one group name into one cluster job only where the DAG connects them, so each group
# ends in this marker job that depends on its runs. Local runs ignore groups (the markers are
# then empty files made in a blink); only `all` asks for the markers, so changing N reruns nothing.
rule train_group:
    wildcard_constraints:
        group="train-[0-9]+",
    input:
        lambda wildcards: run_files(CLUSTER_JOBS[wildcards.group]),
    output:
        touch("results/groups/{group}.done"),
    group:
        lambda wildcards: wildcards.group
