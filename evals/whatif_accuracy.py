"""What-if estimates checked against the exact counterfactual: the same world regenerated
without the cause the simulated action undoes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import BaseModel, Field, computed_field

from evals.counterfactual import scope_values


class WhatIfScope(BaseModel):
    """The scope a what_if call simulated (its evidence item's arguments)."""

    filters: dict[str, list[str | int]] = Field(default_factory=dict)
    start: dt.datetime
    end: dt.datetime
    baseline_days: int = 14


class WhatIfCheck(BaseModel):
    """A simulated CX change (90% interval) against the exact counterfactual change."""

    action: str
    undoes: list[str]  # the causes removed from the counterfactual world
    estimate: float  # CX points gained, simulated
    low: float
    high: float
    exact: float  # CX points gained, counterfactual world minus factual world
    on_time_estimate: float | None = None  # share gained (0.05 = +5 pp)
    on_time_exact: float | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def error(self) -> float:
        """Simulated minus exact CX change (points)."""
        return self.estimate - self.exact

    @computed_field  # type: ignore[prop-decorator]
    @property
    def covered(self) -> bool:
        """The 90% interval holds the exact change."""
        return self.low <= self.exact <= self.high


def exact_gain(factual_world: Path, counterfactual_world: Path, scope: WhatIfScope) -> dict:
    """Metric changes in the scope's window had the causes never happened (counterfactual minus
    factual, per metric, CX score included)."""
    factual = scope_values(
        factual_world, scope.filters, scope.start, scope.end, scope.baseline_days
    )
    counterfactual = scope_values(
        counterfactual_world, scope.filters, scope.start, scope.end, scope.baseline_days
    )
    return {name: counterfactual[name] - factual[name] for name in factual}
