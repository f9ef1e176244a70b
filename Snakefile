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


rule all:
    input:
        "reports/report.html",
        expand("results/groups/{group}.done", group=CLUSTER_JOBS),
    default_target: True
