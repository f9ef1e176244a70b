"""Local jobs in the Snakemake process that planned them, one at a time.

Snakemake starts each local `run:` job (collect, the tuning choice, each study, the report) as a
new Snakemake process that parses the whole workflow again: several CPU-seconds of imports (torch,
pandas, scipy, statsmodels, seaborn) before a job that often takes less. The workflow's own profile
(profiles/default/config.yaml, which Snakemake reads by itself) sets `force-use-threads`, so these
jobs run in threads of the process that already holds every import. Here they take turns, which
keeps what a process per job gave for free: a job's log file gets its own records only (`logging_to`
attaches to the process-wide trickbench logger), a study that trains in its job draws from torch's
global generator alone, and pyplot draws one figure at a time. Training jobs are shell commands,
processes of their own, and run beside them as before.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

_TURN = threading.Lock()


@contextmanager
def one_at_a_time() -> Iterator[None]:
    """The body of a local job: waits while another local job of this process runs."""
    with _TURN:
        yield
