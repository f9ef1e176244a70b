"""Which seeds a tuned design's trials run (`design.tuning.seeds`): the seeds that choose, never
the seeds that are compared. Below both the tuning protocol and the reference's extra seeds, which
must stay off these seeds too."""

from __future__ import annotations

from typing import Any, Mapping

from trickbench.scalars import parse_scalar
from trickbench.errors import ConfigError

KEY = "design.tuning"
#: the count form's first seed (then the next ones): the one tuning seed of earlier versions, so
#: trials trained then keep their run ids and are reused
FIRST_SEED = 100


def tuning_seeds(config: Mapping[str, Any]) -> list[int]:
    """`design.tuning.seeds` as a list: a count n is seeds FIRST_SEED … FIRST_SEED + n − 1, a list
    is itself. None may be a compared seed (design.seeds). Strings (`snakemake --config` keeps
    nested scalars as text) are read as YAML numbers."""
    given, compared = config["design"]["tuning"].get("seeds", 2), list(config["design"]["seeds"])
    allowed = (f"a count >= 1 (seeds {FIRST_SEED}, {FIRST_SEED + 1}, …) or a list of distinct integer seeds >= 0, "
               f"none of design.seeds {compared}")
    value = parse_scalar(given) if isinstance(given, str) else given
    if isinstance(value, list):
        value = [parse_scalar(v) if isinstance(v, str) else v for v in value]
        if not value or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in value) \
                or len(set(value)) != len(value):
            raise ConfigError(f"{KEY}.seeds", given, allowed)
        seeds = value
    elif isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        seeds = list(range(FIRST_SEED, FIRST_SEED + value))
    else:
        raise ConfigError(f"{KEY}.seeds", given, allowed)
    if set(seeds) & set(compared):
        counted = "" if isinstance(value, list) else f" (a count gives seeds {seeds[0]}–{seeds[-1]}; give a list instead)"
        raise ConfigError(f"{KEY}.seeds", given, f"seeds not in design.seeds {compared}{counted}: the runs that "
                                                 f"choose must not be the runs that are compared")
    return seeds
