"""Logging set-up shared by the command line and the workflow's in-process steps."""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure(verbose: bool = False) -> None:
    """Plain timestamped lines on stderr: readable in a terminal, a job log and a cluster log."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=FORMAT,
                        datefmt="%H:%M:%S", stream=sys.stderr, force=True)


@contextmanager
def logging_to(path: str | Path) -> Iterator[None]:
    """Send trickbench's log records to `path` for the duration (a Snakemake rule's log file)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, mode="w")
    handler.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))
    logger = logging.getLogger("trickbench")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
        handler.close()
