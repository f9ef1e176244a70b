"""Is a run folder what its name says? The checks collect (and the studies) make before a folder's
files are taken for a result.

A summary.json copied from another run, an epochs.csv cut short or edited, a metric written as
text: each would otherwise enter the tables as a result — one run twice and another missing, or a
figure rule that crashes on a string. Every check raises `InvalidSummary` with one line saying
what is wrong, so the folder goes to skipped.csv with that reason, as an unfinished run does.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Mapping

from trickbench.data_dictionary import FLAG, TEXT, TABLES
from trickbench.errors import ConfigError, one_line
from trickbench.run import InvalidSummary, load_summary
from trickbench.spec import RunSpec

#: epochs.csv columns every run writes, whatever its techniques (weight averages add more)
EPOCH_COLUMNS = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
                 "grad_evals", "train_seconds")
#: unit of each runs.csv column a summary may carry (text, flag, or a number of some unit)
UNITS = {column.name: column.unit for column in TABLES["runs"]}


def checked_summary(run_dir: Path) -> tuple[dict[str, Any], RunSpec]:
    """The folder's summary and its spec, once both are this folder's run and every value has
    its column's type."""
    run_dir = Path(run_dir)
    summary = load_summary(run_dir)
    try:
        spec = RunSpec.from_dict(summary["spec"])
    except (ConfigError, KeyError, TypeError, AttributeError) as error:  # an older trickbench's spec, or damage
        raise InvalidSummary(f"summary.json has an invalid spec ({one_line(error)})") from None
    if summary["run_id"] != run_dir.name:
        raise InvalidSummary(f"summary.json names run {summary['run_id']!r}, not this folder's {run_dir.name} "
                             "(copied from another run?)")
    if spec.run_id != run_dir.name:
        raise InvalidSummary(f"summary.json's spec has id {spec.run_id}, not this folder's {run_dir.name} "
                             "(its spec was changed or copied)")
    for key, value in summary.items():
        if (problem := type_problem(UNITS.get(key), value)) is not None:
            raise InvalidSummary(f"summary.json: {key} is {value!r}; {problem}")
    return summary, spec


def type_problem(unit: str | None, value: Any) -> str | None:
    """Why `value` cannot be a value of a column of `unit` (None: it can, or the key is no column)."""
    if unit is None or value is None:
        return None
    if unit == TEXT:  # labels and versions; some (cudnn_version) are written as numbers
        return None if isinstance(value, (str, int, float)) else "expected text"
    if unit == FLAG:
        return None if isinstance(value, bool) else "expected true or false"
    return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "expected a number"


def checked_epochs(run_dir: Path, summary: Mapping[str, Any], spec: RunSpec) -> list[dict[str, Any]]:
    """The rows of the folder's epochs.csv as numbers, once they agree with its summary: the
    columns every run writes, one whole row per completed epoch (epochs 1…n, after the untrained
    model's epoch 0 where the spec asks for it), every cell a number (NaN allowed: a diverged run's
    losses, epoch 0's training-mode scores)."""
    path = Path(run_dir) / "epochs.csv"
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            raw_rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise InvalidSummary(f"epochs.csv unreadable ({one_line(error, 120)})") from None
    if missing := [name for name in EPOCH_COLUMNS if name not in header]:
        raise InvalidSummary(f"epochs.csv lacks column(s) {', '.join(missing)}")
    rows = []
    for number, raw in enumerate(raw_rows, start=1):
        if None in raw or any(value is None or value == "" for value in raw.values()):
            raise InvalidSummary(f"epochs.csv row {number} is cut short or has extra cells")
        try:
            rows.append({"run_id": summary["run_id"], **{k: float(v) for k, v in raw.items()}})
        except ValueError:
            bad = next(k for k, v in raw.items() if not is_number(v))
            raise InvalidSummary(f"epochs.csv row {number}: {bad} is {raw[bad]!r}, not a number") from None
    completed = summary.get("epochs_completed")
    first = 0 if spec.train.evaluate_at_epoch_0 else 1
    if len(rows) != (completed + 1 - first if isinstance(completed, (int, float)) else None):
        also = " and the epoch-0 row its spec asks for" if first == 0 else ""
        raise InvalidSummary(f"epochs.csv has {len(rows)} row(s); summary.json says epochs_completed {completed}{also}")
    if [row["epoch"] for row in rows] != list(range(first, first + len(rows))):
        raise InvalidSummary(f"epochs.csv's epochs are not {first}, {first + 1}, … in order")
    return rows


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def checked_run(run_dir: Path) -> tuple[dict[str, Any], RunSpec, list[dict[str, Any]]]:
    """Summary, spec and epoch rows of a run folder that passed every check."""
    summary, spec = checked_summary(run_dir)
    return summary, spec, checked_epochs(run_dir, summary, spec)

