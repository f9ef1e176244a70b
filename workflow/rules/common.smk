# The Python of the DAG: validate the config, load its plugins, expand it into run specs, name the targets.
import shlex
import sys
from pathlib import Path

from trickbench.errors import ConfigError, DataError
from trickbench.numerics import configured_mode, export as export_numerics

try:
    # before anything imports torch: this process (studies that train in it) and every job it starts
    # run in the configured numerics mode; training jobs check it against their specs
    export_numerics(configured_mode(config))
except ConfigError as error:
    sys.exit(str(error))

from trickbench.config import read_config_file, validate_config
from trickbench.data.cache import sources_to_prepare
from trickbench.plugins import load_plugins, plugins_folder
from trickbench.run_files import TRAINED_DIR, stale_markers
from trickbench.workflow import plan_from_config


def config_files_in_order():
    """The config files in the order Snakemake applies them: the Snakefile's `configfile:`, then
    each --configfile (relative plugin paths start from the one that sets `plugins:` last)."""
    given = [Path(f) for f in workflow.config_settings.configfiles]  # --configfile, absolute
    own = [] if workflow.config_settings.replace_workflow_config else [Path(f).absolute() for f in workflow.configfiles]
    return [f for f in own if f not in given] + given


try:
    for path in config_files_in_order():
        read_config_file(path)  # Snakemake's own YAML reading keeps the last of a key given twice
    validate_config(config)  # the schema first: `plugins` is then a list of names
    PLUGIN_FOLDER = plugins_folder(config_files_in_order(), workflow.config_settings.config)
    PLUGINS = load_plugins(config["plugins"], PLUGIN_FOLDER)  # before any technique is resolved
    PLAN = plan_from_config(config, tables="results/tables")
    # Data sets prepared once (data.smk), by cache folder name. A data set that an unfinished run
    # needs but that can be neither read, verified nor fetched stops the workflow here, before any job.
    DATA_SETS = sources_to_prepare(PLAN.runs.values(), Path(config["execution"]["data_root"]),
                                   config["execution"]["download"],
                                   unfinished=lambda spec: not Path("results/runs", spec.run_id, "summary.json").is_file())
except (ConfigError, DataError) as error:
    sys.exit(str(error))  # one line for the user, no traceback

RUNS = PLAN.runs  # run_id -> RunSpec of every run to train (grid and studies; second rounds join it once chosen)
EXECUTION = config["execution"]
DATA_ROOT = EXECUTION["data_root"]
# The rules call the package through this interpreter, so an un-activated venv works too.
TRICKBENCH = f"{shlex.quote(sys.executable)} -m trickbench"
# Training jobs never download: data sets are fetched by the prepare_data rule alone.
EXECUTION_FLAGS = " ".join(
    [f"--device {EXECUTION['device']}", f"--eval-batch-size {EXECUTION['eval_batch_size']}",
     f"--checkpoint-every {EXECUTION['checkpoint_every']}", f"--data-root {shlex.quote(DATA_ROOT)}",
     f"--precision {EXECUTION['precision']}", f"--seed-groups {EXECUTION['seed_groups']}"]
    + ["--deterministic"] * EXECUTION["deterministic"] + ["--compile"] * EXECUTION["compile"]
    # a training job is a new process: it loads the plugins its specs name, from the same folder
    + [f"--plugin-dir {shlex.quote(str(PLUGIN_FOLDER))}"] * bool(PLUGINS)
)

# Several small training jobs may share one GPU: each GPU job holds one `gpu_slot`, and a machine
# has (visible GPUs × execution.gpu_slots) of them, unless `--resources gpu_slot=N` said otherwise.
if PLAN.gpu_slot_limit and "gpu_slot" not in workflow.global_resources:
    workflow.register_resource("gpu_slot", PLAN.gpu_slot_limit)

# execution.runs_per_job runs share one training process (see train.smk); on a cluster,
# execution.runs_per_cluster_job runs share one submitted job (see rule train_group).
TRAINING_JOBS = PLAN.jobs  # the runs of each multi-run training job; empty: one job per run
CLUSTER_JOBS = PLAN.cluster_jobs  # group name -> its run ids; empty: one cluster job per training job
GROUP_OF = {run_id: name for name, run_ids in CLUSTER_JOBS.items() for run_id in run_ids}
WEIGHTS_KEPT = PLAN.weights_kept  # runs that write model.pt; None: every run

# A run folder deleted or damaged after its job succeeded must be trained again: its marker goes,
# so Snakemake sees a missing output (rule all asks for every marker, see the Snakefile). Markers
# are written only after a whole job succeeded, so no running job loses one here.
for marker in stale_markers(((run_id, WEIGHTS_KEPT is None or run_id in WEIGHTS_KEPT) for run_id in RUNS), "results/runs",
                            TRAINED_DIR):
    marker.unlink(missing_ok=True)


wildcard_constraints:
    run_id="[0-9a-f]{12}",


def run_markers(run_ids):
    """What a rule that reads runs takes as input: each run's marker, results/trained/<run_id>
    (train.smk), which stands only for a finished run (see the stale markers removed above)."""
    return [f"{TRAINED_DIR}/{run_id}" for run_id in run_ids]


def run_folders(markers):
    """The run folders of `markers` (a rule's input), in their order, each once."""
    return list(dict.fromkeys(f"results/runs/{Path(marker).name}" for marker in markers))
