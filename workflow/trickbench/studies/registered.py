"""Every study, registered: imports each study module (each registers itself into
`trickbench.studies.STUDIES`), so it sits above all of them, and the registry below."""

from __future__ import annotations

from typing import Any, Mapping

from trickbench.studies import (  # noqa: F401  (each registers its study)
    STUDIES, Study, babysitting, calibration, checkpoint_averaging, double_descent, early_stopping, ensembles,
    factor_effects, init_stats, is_enabled, lr_search, mode_connectivity,
)


def load_all() -> dict[str, Study]:
    """The registry, every study module imported."""
    return STUDIES


def enabled_studies(config: Mapping[str, Any]) -> list[Study]:
    return [study for name, study in load_all().items() if is_enabled(config, name)]
