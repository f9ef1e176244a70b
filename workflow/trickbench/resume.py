"""`trickbench resume`: the one command after any interruption (a kill, Ctrl-C, a lost session).

What the workflow itself already makes safe (issue 23): a failed or killed training job loses no
finished run (runs are no declared output; their markers are), leaves nothing "incomplete"
(markers are touched only after a job succeeded), and a deleted run folder is trained again
(rule all asks for every marker). What is left is Snakemake's lock: a snakemake killed with
SIGKILL (an out-of-memory kill of snakemake itself, a closed login session) leaves
.snakemake/locks behind, and the next run stops with "Directory cannot be locked". Removing a
lock that a live snakemake holds would let two of them write the same files, so this command
removes it only when no snakemake runs in this folder on this machine, then starts the workflow.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from trickbench.errors import DataError


def running_snakemakes(folder: Path) -> list[int]:
    """PIDs of snakemake processes whose working directory is `folder` (Linux /proc; none found
    elsewhere). A snakemake on another machine (a second login node) is not seen."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if int(proc.name) != os.getpid() and any(b"snakemake" in word for word in argv[:3]) \
                    and Path(os.readlink(proc / "cwd")).resolve() == folder.resolve():
                found.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return found


def resume(folder: Path, snakemake_args: list[str]) -> int:
    """Unlock `folder` if a dead snakemake left its lock, then run `snakemake` there with
    `snakemake_args` (default: --cores all); its exit status."""
    if pids := running_snakemakes(folder):
        raise DataError(f"snakemake is still running in {folder} (pid {', '.join(map(str, pids))}): "
                        "let it finish, or stop it (Ctrl-C) before resuming")
    snakemake = [sys.executable, "-m", "snakemake"]
    locks = folder / ".snakemake" / "locks"
    if locks.is_dir() and any(locks.iterdir()):
        print("trickbench: removing the lock a stopped snakemake left (none runs here)", file=sys.stderr)
        subprocess.run([*snakemake, "--unlock", *config_args(snakemake_args)], cwd=folder, check=True,
                       stdout=subprocess.DEVNULL)
    return subprocess.run([*snakemake, *(snakemake_args or ["--cores", "all"])], cwd=folder).returncode


def config_args(args: list[str]) -> list[str]:
    """The options of `args` that choose the Snakefile's config (--unlock parses the workflow too)."""
    keep, taking = [], False
    for word in args:
        if word in ("--configfile", "--configfiles", "--config", "--profile", "--snakefile", "-s"):
            keep.append(word)
            taking = True
        elif taking and not word.startswith("-"):
            keep.append(word)
        else:
            taking = False
    return keep
