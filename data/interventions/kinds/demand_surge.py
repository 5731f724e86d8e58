"""demand_surge: more orders than forecast with no extra dashers (an external confounder)."""

from __future__ import annotations

import numpy as np

from data.interventions.base import (
    CANDIDATE_POOL_SHARE,
    ChangeSpec,
    InterventionKind,
    OrderEffects,
)

SURGE_UPLIFT_PER_MAGNITUDE = 0.5


def surge_acceptance(magnitude: float) -> float:
    """Share of a cell's surge candidate pool that becomes real orders."""
    return min(1.0, SURGE_UPLIFT_PER_MAGNITUDE * magnitude / CANDIDATE_POOL_SHARE)


def _apply(effects: OrderEffects, mask: np.ndarray, magnitude: float) -> None:
    effects.surge_load_factor[mask] *= 1.0 + SURGE_UPLIFT_PER_MAGNITUDE * magnitude


KIND = InterventionKind(
    name="demand_surge",
    position=5,
    description=(
        "50% x magnitude more orders in scope (saturating at +75%) with no extra dashers; the "
        "congestion falls on orders in the surge's scope."
    ),
    change=ChangeSpec("ops", "marketing_promo", "off", "Launched a promotional campaign"),
    apply_to_orders=_apply,
    random_logged_share=0.1,
    random_scopes=(("region", "hours"),),
    random_duration_days=(1, 4),
    order_acceptance=surge_acceptance,
)
