"""The exact impact of a scenario's causes: the CX points their scope lost against the world
regenerated without them (its exact counterfactual), in order-equivalents and on the incidents'
severity scale, so a detection miss can be told apart from a cause too small to be an incident
worth a page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from analytics.changes import scope_filters
from analytics.incidents import severity_label, severity_of
from evals.counterfactual import scope_values


@dataclass(frozen=True)
class CauseSpan:
    """Where and when one cause touched orders: its truth.json scope and [start, end)."""

    scope: dict[str, list]
    start: dt.datetime
    end: dt.datetime


class ExactImpact(BaseModel):
    """CX points lost x orders / 100 over the causes' spans (counterfactual minus factual), and
    the severity the incidents' formula gives that loss."""

    impact_orders: float
    severity: float
    severity_label: str


def exact_impact(
    world: Path, counterfactual: Path, spans: Sequence[CauseSpan], daily_orders: float
) -> ExactImpact:
    """The causes' exact impact: per span, (counterfactual CX - factual CX) x factual orders /
    100, summed (a span whose CX the causes did not lower adds nothing)."""
    impact = 0.0
    for span in spans:
        filters = scope_filters(span.scope)
        factual = scope_values(world, filters, span.start, span.end)
        without = scope_values(counterfactual, filters, span.start, span.end)
        lost = without["cx_score"] - factual["cx_score"]
        if lost > 0:  # False for NaN (no orders on one side): it adds nothing
            impact += lost * factual["orders"] / 100.0
    severity = severity_of(impact, daily_orders)
    return ExactImpact(
        impact_orders=round(impact, 1),
        severity=round(severity, 1),
        severity_label=severity_label(severity),
    )
