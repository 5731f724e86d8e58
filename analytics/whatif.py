"""What-if simulator: the effect of an action on the incident's scope, from models fitted on the
baseline days of that scope, with bootstrap 90% intervals.

Method (a structural, residual-preserving counterfactual):
1. Delivery time: a gradient-boosting model of door-to-door minutes on the drivers (batched,
   prep, distance, hour, dasher load, items, category) fitted on baseline orders. An action that
   changes drivers shifts each incident order's actual duration by the model's difference
   (its own noise is kept). Batched orders in the incident window also carry the residual they
   gained over baseline batched orders (longer detours under a looser policy), which reverting
   the policy removes.
2. Outcomes given timing, fitted on baseline orders: on-time is recomputed exactly from the new
   lateness; cancellation follows a logistic curve in predicted lateness; support contacts and
   stars follow the lateness and item issues of delivered orders.
3. Quote actions (ETA buffer, model rollback, prep-time correction) change the quote, not the
   delivery. SKU suppression hides the lines whose SKU's in-stock estimate is under a threshold:
   item accuracy and refunds are recomputed exactly without them, support contacts and stars
   through the outcome models; the hidden lines' value is lost sales.
Intervals: 90% percentile bootstrap over days (baseline refits on resampled days, incident
orders resampled by day) and the random choice of which batched orders are un-batched, widened
by a structural-error allowance (5% of the estimate, or an outcome model's miscalibration on
the incident window when larger) because a fitted model's bias is not in the bootstrap.
Second-order effects (orders no longer canceled becoming deliveries) are ignored. Efficiency
uses stated assumptions (see ASSUMPTIONS).

Modules: analytics/whatif_simulator.py holds the models and the timing effects,
analytics/whatif_actions.py each action (a WhatIfAction: its move on a draw, its preparation and
assumptions); this one runs an action's draws and summarizes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analytics.metrics import METRICS
from analytics.whatif_actions import (
    ASSUMPTIONS,
    WHATIF_ACTIONS,
    Draw,
    WhatIfAction,
)
from analytics.whatif_simulator import (
    Simulator,
    WhatIfError,
    cx_from_values,
    observed_values,
    scope_orders,
    single_threaded,
    timing_effects,
)

__all__ = [
    "ASSUMPTIONS",
    "Interval",
    "Simulator",
    "WhatIfAction",
    "WhatIfError",
    "WhatIfResult",
    "cx_from_values",
    "observed_values",
    "scope_orders",
    "simulate",
]

# Structural-error allowance added to every interval (relative to the estimate), raised to an
# outcome model's measured miscalibration on the incident window when that is larger.
STRUCTURAL_ERROR_FLOOR = 0.05


@dataclass(frozen=True)
class Interval:
    """A point estimate with its 90% bootstrap interval."""

    estimate: float
    low: float
    high: float

    def widened(self, relative: float) -> Interval:
        """The interval widened on both sides by `relative` x |estimate| (structural error)."""
        margin = abs(self.estimate) * relative
        return Interval(self.estimate, self.low - margin, self.high + margin)

    @classmethod
    def of(cls, draws: np.ndarray, point: float) -> Interval:
        finite = draws[np.isfinite(draws)]
        if not len(finite):
            return cls(point, point, point)
        low, high = np.quantile(finite, [0.05, 0.95])
        return cls(float(point), float(min(low, point)), float(max(high, point)))


@dataclass(frozen=True)
class WhatIfResult:
    """Change of each metric (absolute, in metric units) if the action had been in place."""

    action: str
    parameters: dict[str, float]
    orders: int
    observed: dict[str, float]
    deltas: dict[str, Interval]
    efficiency: dict[str, Interval]
    assumptions: tuple[str, ...] = field(default_factory=tuple)


@single_threaded
def simulate(simulator: Simulator, action: WhatIfAction | str, **parameters: float) -> WhatIfResult:
    """Simulate `action` (a WhatIfAction, or its name) on the scope's incident window: one draw
    per fit of the simulator (see the module docstring)."""
    if isinstance(action, str):
        if action not in WHATIF_ACTIONS:
            raise WhatIfError(f"unknown action {action!r}")
        action = WHATIF_ACTIONS[action]
    rng = np.random.default_rng(simulator.seed + 1)
    full = simulator.incident
    observed = simulator.observed()
    draws: list[dict[str, float]] = []
    efficiency_draws: list[dict[str, float]] = []
    preparation = action.prepare(simulator, parameters)
    parameters = preparation.parameters
    for index, fitted in enumerate(simulator.fits):
        positions = simulator.incident_days.resample(rng)
        w = full.iloc[positions].reset_index(drop=True)
        duration_now = simulator.predicted(index, "duration")[positions]
        timing_rest = simulator.predicted(index, "timing")[positions]
        move = action.move(
            Draw(simulator, fitted, w, duration_now, rng, preparation.data), parameters
        )
        parameters = {**parameters, **move.parameters}
        faster = np.zeros(len(w)) if move.faster is None else move.faster
        longer_quote = np.zeros(len(w)) if move.longer_quote is None else move.longer_quote
        effects = timing_effects(fitted, w, faster, longer_quote, timing_rest)
        effects.update(move.effects)
        draws.append(effects)
        efficiency_draws.append(move.efficiency)
    efficiency_keys = efficiency_draws[0].keys() if efficiency_draws else []
    return WhatIfResult(
        action=action.name,
        parameters={k: float(v) for k, v in parameters.items()},
        orders=int(len(full)),
        observed=observed,
        deltas=_deltas(draws, observed),
        efficiency={
            key: Interval.of(
                np.asarray([e[key] for e in efficiency_draws]),
                float(np.median([e[key] for e in efficiency_draws])),
            )
            for key in efficiency_keys
        },
        assumptions=preparation.notes + action.assumptions(parameters),
    )


def _deltas(draws: list[dict[str, float]], observed: dict[str, float]) -> dict[str, Interval]:
    """Each metric's change over the draws (median, 90% interval widened by its structural-error
    allowance), and the CX score's from the sub-metrics'."""
    deltas = {name: [d[name] for d in draws] for name in draws[0]} if draws else {}
    point = {name: float(np.median(values)) for name, values in deltas.items()}
    allowance = {
        name: max(STRUCTURAL_ERROR_FLOOR, point.pop(f"_miscalibration_{name}", 0.0))
        for name in deltas
        if not name.startswith("_")
    }
    result_deltas = {
        name: Interval.of(np.asarray(values), point[name]).widened(allowance[name])
        for name, values in deltas.items()
        if not name.startswith("_")
    }
    cx_now = cx_from_values(observed)
    cx_draws = np.array(
        [cx_from_values({k: observed[k] + d.get(k, 0.0) for k in observed}) - cx_now for d in draws]
    )
    cx_point = cx_from_values({k: observed[k] + point.get(k, 0.0) for k in observed}) - cx_now
    cx_allowance = sum(
        abs(METRICS[name].cx_weight * METRICS[name].score[1] * point[name]) * allowance[name]
        for name in point
        if name in METRICS and METRICS[name].cx_weight
    )
    result_deltas["cx_score"] = Interval.of(cx_draws, cx_point).widened(
        cx_allowance / abs(cx_point) if cx_point else 0.0
    )
    return result_deltas
