# Data sets prepared once, before any training job: fetched (only with execution.download),
# verified, and cached as uint8 arrays that every training process memory-maps
# (trickbench.data.cache). A local rule: on a cluster it runs on the login node, which can reach
# the internet; training jobs never download. Training rules take the cache's manifest as an
# ancient input: a cache deleted after the runs finished retrains nothing.
import json
import os

from trickbench.data.cache import MANIFEST, cache_name


localrules:
    prepare_data,


DOWNLOAD_FLAG = "--download" if EXECUTION["download"] else ""


def data_inputs(run_ids):
    """The manifests of the prepared data sets the runs `run_ids` read (none for the embedded
    and synthetic sources, which the training process reads itself)."""
    names = dict.fromkeys(cache_name(RUNS[run_id].data.source) for run_id in run_ids)
    return [ancient(data_manifest(name)) for name in names if name in DATA_SETS]


def data_manifest(name):
    return os.path.join(DATA_ROOT, "cache", name, MANIFEST)


rule prepare_data:
    output:
        data_manifest("{data_set}"),
    log:
        "results/logs/prepare_data/{data_set}.log",
    params:
        source=lambda wildcards: json.dumps(DATA_SETS[wildcards.data_set].as_dict(), sort_keys=True),
    # --download is a global, not a param: Snakemake reruns a job whose params changed, and every
    # training job after it; allowing downloads changes no data set
    shell:
        "{TRICKBENCH} prepare-data --source {params.source:q} --data-root {DATA_ROOT:q} {DOWNLOAD_FLAG} > {log} 2>&1"
