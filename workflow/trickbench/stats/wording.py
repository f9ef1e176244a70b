"""One comparison row of `compare_to_reference` as the sentence the report prints.

Every sentence names its test, its corrected interval and its n. A difference whose corrected
interval includes 0 is never written as a win or a loss: it reads "no detectable difference with
n seeds (minimum detectable effect X)", so the reader learns what the seeds could have seen.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from trickbench.stats.compare import CORRECTIONS, PAIRED


def sample_size(row: Mapping[str, Any]) -> str:
    """'3 seeds' (paired, or pooled over equal seeds), '3 runs a side', or '4 and 3 runs'."""
    n, n_reference = int(row["n"]), int(row["n_reference"])
    if row["test"] == PAIRED or (str(row["test"]).startswith("pooled t") and n == n_reference):
        return f"{n} seeds"
    return f"{n} runs a side" if n == n_reference else f"{n} and {n_reference} runs"


def interval_text(row: Mapping[str, Any], level: float = 0.95, digits: int = 1) -> str:
    """'paired t, 95 % CI −4.1 to −0.3 Holm-corrected over 13 comparisons'."""
    correction = CORRECTIONS[row["correction"]][1]
    family = int(row["family_size"])
    return (f"{row['test']}, {100 * level:g} % CI {_signed(row['diff_ci_low'], digits)} to "
            f"{_signed(row['diff_ci_high'], digits)} {correction}-corrected over {family} comparison{'s' if family != 1 else ''}")


def difference_sentence(row: Mapping[str, Any], subject: str, reference: str, *, quantity: str = "test accuracy",
                        unit: str = "points", value_unit: str = " %", verbs: tuple[str, str] = ("beats", "trails"),
                        level: float = 0.95, digits: int = 1, context: str = "") -> str:
    """The finding of one comparison. `verbs` say what a higher and a lower value mean (for a loss,
    ("is worse than", "is better than")); `context` is appended to the counts (e.g. ', averaged
    over the other factors')."""
    means = f"{row['mean']:.{digits}f} vs {row['reference_mean']:.{digits}f}{value_unit}"
    if not row["test"]:
        return (f"{subject} vs {reference}: {_signed(row['diff'], digits)} {unit} of {quantity} ({means}) from "
                f"{int(row['n'])} and {int(row['n_reference'])} runs{context} — too few to test (two or more a side are "
                f"needed), so no finding.")
    if row["detectable"]:
        verb = verbs[0] if row["diff"] > 0 else verbs[1]
        return (f"{subject} {verb} {reference} by {abs(row['diff']):.{digits}f} {unit} of {quantity} ({means}; "
                f"{sample_size(row)}{context}; {interval_text(row, level, digits)}).")
    return (f"{subject} vs {reference}: no detectable difference with {sample_size(row)} (minimum detectable effect "
            f"{_magnitude(row['mde'], digits)} {unit}; observed {_signed(row['diff'], digits)}, {means}{context}; "
            f"{interval_text(row, level, digits)}).")


def _signed(value: float, digits: int) -> str:
    return f"{value:+.{digits}f}".replace("-", "−") if math.isfinite(value) else "–"


def _magnitude(value: float, digits: int) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "–"
