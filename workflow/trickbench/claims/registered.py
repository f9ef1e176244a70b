"""Every claim, registered: imports each module of claims (each registers its own into
`trickbench.claims.CLAIMS`), so it sits above them, and the registry below."""

from __future__ import annotations

from trickbench.claims import CLAIMS, Claim
from trickbench.claims import techniques  # noqa: F401  (the families first, then two factors together, then the phenomena)
from trickbench.claims import interactions  # noqa: F401
from trickbench.claims import phenomena  # noqa: F401


def load_all() -> dict[str, Claim]:
    """The registry, every module of claims imported."""
    return CLAIMS
