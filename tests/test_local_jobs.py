"""Local jobs in Snakemake's threads take turns (trickbench.local_jobs), and the workflow's own
profile is what puts them in threads."""

from __future__ import annotations

import itertools
import threading

import yaml

from conftest import REPO
from trickbench.local_jobs import one_at_a_time


def test_a_second_local_job_waits_until_the_first_is_done():
    first_inside, release, order = threading.Event(), threading.Event(), []

    def first():
        with one_at_a_time():
            order.append("first in")
            first_inside.set()
            release.wait(timeout=10)
            order.append("first out")

    def second():
        with one_at_a_time():
            order.append("second in")

    a = threading.Thread(target=first)
    a.start()
    assert first_inside.wait(timeout=10)
    b = threading.Thread(target=second)
    b.start()
    b.join(timeout=0.3)
    assert b.is_alive() and order == ["first in"]  # waiting, not inside beside the first
    release.set()
    a.join(timeout=10)
    b.join(timeout=10)
    assert order == ["first in", "first out", "second in"]


def test_the_workflow_profile_runs_local_jobs_in_threads():
    """Snakemake reads profiles/default by itself; without force-use-threads every local job would
    be a new process that parses the workflow again (bench/local_jobs.py)."""
    profile = yaml.safe_load((REPO / "profiles/default/config.yaml").read_text())
    assert profile == {"force-use-threads": True}


def test_every_local_run_block_takes_its_turn():
    """A `run:` block is Python executed in a thread of the Snakemake process: each one enters
    one_at_a_time(), or a new rule could run beside another local job."""
    blocks = []
    for rules in sorted((REPO / "workflow/rules").glob("*.smk")):
        lines = rules.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip() == "run:":
                indent = len(line) - len(line.lstrip())
                body = list(itertools.takewhile(lambda l: not l.strip() or len(l) - len(l.lstrip()) > indent, lines[i + 1:]))
                blocks.append((f"{rules.name}:{i + 1}", "\n".join(body)))
    assert len(blocks) >= 7  # collect, tuning, a study's stage, a study, claims, figures, the page
    assert [where for where, body in blocks if "with one_at_a_time()" not in body] == []
