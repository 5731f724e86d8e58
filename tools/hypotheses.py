"""The hypothesis library: one entry per root-cause kind, in the registry's order.

Each kind's hypothesis is declared in its module in `tools/causes/` (with what else the analysis
knows of the kind); `LIBRARY` collects them. Adding a hypothesis is adding a module there.
"""

from __future__ import annotations

from tools.causes import CAUSES
from tools.causes.base import DriverCheck, Fallback, Hypothesis

__all__ = ["LIBRARY", "DriverCheck", "Fallback", "Hypothesis"]

LIBRARY: dict[str, Hypothesis] = {kind: spec.hypothesis for kind, spec in CAUSES.items()}
