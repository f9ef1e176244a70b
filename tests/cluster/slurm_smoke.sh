#!/usr/bin/env bash
# The smoke preset on a real, single-node SLURM cluster, compared with a local run.
#
#   sudo tests/cluster/slurm_smoke.sh          # from the repository root, with the venv active
#
# Needs root on Debian (or Ubuntu) and package registries: it installs `slurm-wlm` and `munge`
# with apt-get, writes a one-node slurm.conf into a private directory, starts munged, slurmctld
# and slurmd from their binaries (no systemd; slurmd "configless", as many sites run it), runs
#   snakemake --profile profiles/slurm --configfile workflow/presets/smoke.yaml
# in a scratch copy of the workflow (3 runs per training job, so 3 jobs train the 7 runs), runs the
# same preset locally in another copy, and checks that both made the same runs with the same
# metrics (CPU training is deterministic). On exit it
# stops exactly the daemons it started and removes its directories (kept on failure, for the logs).
#
# The profile is used unchanged; only what a test cluster without accounting needs is passed on
# the command line: squeue for job states (no sacct here), no account, a short first status check.
#
# Environment: PYTHON (default: python), SLURM_SMOKE_TIMEOUT seconds for the SLURM run (default 1200).
set -euo pipefail

cd "$(dirname "$0")/../.."
REPO=$PWD
PYTHON=${PYTHON:-python}
TIMEOUT=${SLURM_SMOKE_TIMEOUT:-1200}
START=$SECONDS
say() { printf '[slurm-smoke %4ds] %s\n' "$((SECONDS - START))" "$*"; }
fail() { say "FAIL: $*"; exit 1; }

[[ $(id -u) == 0 ]] || fail "needs root (apt-get, daemons as root)"
command -v apt-get >/dev/null || fail "needs apt-get (Debian or Ubuntu)"
"$PYTHON" -c "import snakemake_executor_plugin_slurm" 2>/dev/null \
    || fail "the SLURM executor plugin is missing: pip install -e '.[slurm]'"

# ---- install ----------------------------------------------------------------------------------
tests/cluster/install_slurm.sh
say "$(slurmctld -V), munge $(dpkg-query -W -f='${Version}' munge 2>/dev/null || echo '?')"

# ---- private cluster --------------------------------------------------------------------------
# Inside a job the plugin's jobstep runs `srun` with every SLURM_* variable removed, SLURM_CONF
# included (snakemake-executor-plugin-slurm-jobstep 0.6), so that srun finds the configuration
# only where a compute node keeps it: /etc/slurm/slurm.conf, or /run/slurm/conf, which a
# configless slurmd links to its copy. This script uses the second and refuses to run beside a
# SLURM that already uses either.
[[ ! -e /etc/slurm/slurm.conf && ! -e /run/slurm/conf ]] \
    || fail "this machine has a SLURM of its own (/etc/slurm/slurm.conf or /run/slurm/conf): not touching it"
OWN_RUN_SLURM=""
[[ -d /run/slurm ]] || OWN_RUN_SLURM=1
WORK=$(mktemp -d -t trickbench-slurm.XXXXXX)
mkdir -p "$WORK"/{state,spool,log,run}
PIDS=()           # the daemons this script started, stopped in reverse order on exit
OK=""

cleanup() {
    set +e
    if [[ -n ${SLURM_CONF:-} ]] && command -v scancel >/dev/null; then
        scancel --user root --quiet 2>/dev/null  # our private cluster only (SLURM_CONF)
    fi
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill -TERM "${PIDS[i]}" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [[ $(readlink /run/slurm/conf 2>/dev/null) == "$WORK"/* ]]; then
        rm -f /run/slurm/conf  # slurmd's link to its configuration copy
        [[ -n $OWN_RUN_SLURM ]] && rmdir /run/slurm 2>/dev/null
    fi
    if [[ -n $OK ]]; then
        rm -rf "$WORK"
    else
        say "kept $WORK (slurm.conf, log/, local/, slurm/) for a look"
    fi
}
trap cleanup EXIT

# munge: reuse a running munged (its socket answers), else start one as the munge user.
if ! (munge -n | unmunge) >/dev/null 2>&1; then
    mkdir -p /etc/munge /var/log/munge /var/lib/munge /run/munge
    if [[ ! -s /etc/munge/munge.key ]]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chmod 0400 /etc/munge/munge.key
    chown -R munge:munge /etc/munge /var/log/munge /var/lib/munge /run/munge
    setpriv --reuid=munge --regid=munge --init-groups munged --foreground >"$WORK/log/munged.out" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 50); do (munge -n | unmunge) >/dev/null 2>&1 && break; sleep 0.2; done
    (munge -n | unmunge) >/dev/null 2>&1 || fail "munged did not start (see $WORK/log/munged.out)"
    say "munged started (pid ${PIDS[-1]})"
else
    say "reusing the running munged"
fi

# A node as big as slurmd sees this machine (a node claiming more memory is drained), on ports
# of its own so a system SLURM, if any, is untouched.
HOST=$(hostname -s)
CPUS=$(nproc)
MEM=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
PORT=$((20000 + RANDOM % 20000))
cat >"$WORK/slurm.conf" <<EOF
ClusterName=trickbench
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/run/slurmctld.pid
SlurmdPidFile=$WORK/run/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MinJobAge=300
ReturnToService=2
SlurmctldParameters=enable_configless
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$WORK/slurm.conf

slurmctld -D -f "$SLURM_CONF" >"$WORK/log/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D --conf-server "127.0.0.1:$PORT" >"$WORK/log/slurmd.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 150); do
    [[ $(sinfo -h -N -o '%T' 2>/dev/null) == idle ]] && break
    sleep 0.2
done
[[ $(sinfo -h -N -o '%T' 2>/dev/null) == idle ]] || fail "node not idle: $(sinfo -N 2>&1) (see $WORK/log)"
say "slurmctld (pid ${PIDS[-2]}) and slurmd (pid ${PIDS[-1]}) up: node $HOST, $CPUS CPUs, $MEM MB"

# ---- the smoke preset, locally and through SLURM ------------------------------------------------
workspace() {  # a scratch copy of the workflow as a user's checkout has it
    mkdir -p "$1"
    cp "$REPO/Snakefile" "$REPO/config.yaml" "$1/"
    cp -r "$REPO/workflow" "$REPO/profiles" "$1/"
}
SMOKE=(--configfile workflow/presets/smoke.yaml)
# Each training job declares execution.mem_mb; on a small machine ask for less, so that one job
# per core fits in the node's memory (SLURM would otherwise leave jobs pending for good). An
# execution setting, so both runs make the same runs.
JOB_MEM=$((MEM / CPUS < 2000 ? MEM / CPUS : 2000))
EXECUTION="execution={runs_per_job: 3, mem_mb: $JOB_MEM}"

# The local run and the SLURM run go side by side: the SLURM run spends most of its time waiting on
# the scheduler's status checks, so the two together take little longer than the SLURM run alone.
workspace "$WORK/local"
workspace "$WORK/slurm"
T0=$SECONDS
(cd "$WORK/local" && "$PYTHON" -m snakemake --profile profiles/local --cores "$CPUS" "${SMOKE[@]}" \
    --config "$EXECUTION" >"$WORK/log/local.out" 2>&1; echo "$? $((SECONDS - T0))" >"$WORK/log/local.status") &
LOCAL_PID=$!
(cd "$WORK/slurm" && TRICKBENCH_SLURM_ACCOUNT="" TRICKBENCH_SLURM_PARTITION=debug \
    timeout -s KILL "$TIMEOUT" "$PYTHON" -m snakemake --profile profiles/slurm "${SMOKE[@]}" \
    --slurm-status-command squeue --slurm-no-account --slurm-init-seconds-before-status-checks 2 \
    --slurm-keep-successful-logs --config "$EXECUTION" \
    >"$WORK/log/slurm.out" 2>&1) || { wait "$LOCAL_PID"; fail "SLURM run failed or timed out (see $WORK/log/slurm.out)"; }
SLURM_S=$((SECONDS - T0))
say "SLURM run: ${SLURM_S} s"
wait "$LOCAL_PID"
read -r LOCAL_RC LOCAL_S <"$WORK/log/local.status"
((LOCAL_RC == 0)) || fail "local run failed (see $WORK/log/local.out)"
say "local run, beside it: ${LOCAL_S} s"

# ---- the same results, and they really went through SLURM -------------------------------------
# slurmctld's log: every job it accepted, and every one that ended with exit status 0
SUBMITTED=$(grep -c "_slurm_rpc_submit_batch_job: JobId=" "$WORK/log/slurmctld.log" || true)
SUCCEEDED=$(grep -c "_job_complete: JobId=[0-9]* WEXITSTATUS 0" "$WORK/log/slurmctld.log" || true)
RUNS=$(find "$WORK/slurm/results/runs" -name summary.json | wc -l)
TRAINING_JOBS=$(find "$WORK/slurm/results/logs/jobs" -name '*.log' | wc -l)  # one log per training job
[[ $RUNS -gt $TRAINING_JOBS && $TRAINING_JOBS -gt 1 && $SUCCEEDED -ge $TRAINING_JOBS ]] \
    || fail "$RUNS runs in $TRAINING_JOBS training jobs, but $SUCCEEDED successful SLURM jobs ($SUBMITTED submitted)"
"$PYTHON" "$REPO/tests/cluster/compare_results.py" "$WORK/local" "$WORK/slurm" \
    || fail "SLURM results differ from the local run's"
[[ -s $WORK/slurm/reports/report.html ]] || fail "no report from the SLURM run"

OK=1
say "PASS: $RUNS runs in $TRAINING_JOBS training jobs, $SUBMITTED SLURM jobs ($SUCCEEDED succeeded), identical to the local run (local ${LOCAL_S} s, SLURM ${SLURM_S} s)"
