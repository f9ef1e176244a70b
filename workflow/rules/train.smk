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
    # Execution settings are globals, not params: Snakemake records the unformatted command, so
    # changing the device or the eval batch size reruns nothing (they are not part of a run's id).
    shell:
        "{TRICKBENCH} train --spec {params.spec} --run-dir results/runs/{wildcards.run_id}"
        " --threads {threads} {EXECUTION_FLAGS} > {log} 2>&1"
