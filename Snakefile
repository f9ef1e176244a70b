# trickbench: what each training trick does, on real CIFAR-10 images.
#
#   snakemake --cores 2                      # the default grid → reports/report.html
#   snakemake --cores 2 --configfile workflow/presets/smoke.yaml
#   snakemake -n                             # what would run
# The DAG: prepare data sets that need it (data/cache/) → train the runs, several per process
# (results/runs/<id>/) → collect tables (results/tables/) → figures (reports/figures/) → the
# self-contained HTML report.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/tuning.smk"
include: "workflow/rules/collect.smk"
include: "workflow/rules/studies.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/report.smk"


# Every planned run's marker too: Snakemake reruns a job whose outputs exist for a newer input,
# not for a missing one, so with reports/report.html in place a deleted run folder would never be
# trained again ("Nothing to be done"). Asked for here, a missing marker makes its training job
# due, and with it every table, figure and the report made from that run.
rule all:
    input:
        "reports/report.html",
        expand("results/groups/{group}.done", group=CLUSTER_JOBS),
        run_markers(RUNS),
    default_target: True
