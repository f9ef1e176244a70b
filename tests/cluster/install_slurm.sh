#!/usr/bin/env bash
# Installs slurm-wlm and munge with apt-get (root, Debian or Ubuntu) unless their daemons are
# already there, without letting the packages start their services: tests/cluster/slurm_smoke.sh
# starts (and stops) its own. Called by slurm_smoke.sh, and by .ci/run in the background while
# the test suite's dependencies install.
set -euo pipefail

if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
    exit 0
fi
echo "[install-slurm] installing slurm-wlm and munge"
POLICY=/usr/sbin/policy-rc.d
OWN_POLICY=""
if [[ ! -e $POLICY ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY" && chmod +x "$POLICY" && OWN_POLICY=1
fi
trap '[[ -n $OWN_POLICY ]] && rm -f "$POLICY"' EXIT
apt-get update -qq >/dev/null || echo "[install-slurm] apt-get update failed; trying the package lists there are"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
