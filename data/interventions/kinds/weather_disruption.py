"""weather_disruption: a storm over a region's hours (external: slower drives, more orders)."""

from __future__ import annotations

import numpy as np

from data.interventions.base import (
    CANDIDATE_POOL_SHARE,
    ChangeSpec,
    InterventionKind,
    OrderEffects,
    Weather,
)

DRIVE_SLOWDOWN_PER_MAGNITUDE = 0.4  # wet roads and low visibility: drives 40% longer
ORDER_UPLIFT_PER_MAGNITUDE = 0.3  # people stay in and order: 30% more orders


def storm_acceptance(magnitude: float) -> float:
    """Share of a cell's candidate pool that becomes real orders during the storm."""
    return min(1.0, ORDER_UPLIFT_PER_MAGNITUDE * magnitude / CANDIDATE_POOL_SHARE)


def storm_weather(magnitude: float) -> Weather:
    """The storm's hourly conditions: heavier rain and stronger wind with the magnitude."""
    return Weather("storm", round(8.0 * magnitude, 1), round(30.0 + 25.0 * magnitude, 1))


def _apply(effects: OrderEffects, mask: np.ndarray, magnitude: float) -> None:
    effects.drive_factor[mask] *= 1.0 + DRIVE_SLOWDOWN_PER_MAGNITUDE * magnitude
    effects.surge_load_factor[mask] *= 1.0 + ORDER_UPLIFT_PER_MAGNITUDE * magnitude


KIND = InterventionKind(
    name="weather_disruption",
    position=6,
    description=(
        "a storm in scope: drive times x (1 + 0.4 x magnitude), 30% x magnitude more orders "
        "with no extra dashers (the congestion falls on the storm's orders); lateness then "
        "raises cancellations, tickets and low ratings. The `weather` table shows the storm "
        "(8 mm/h x magnitude of rain) in its region-hours."
    ),
    change=ChangeSpec("ops", "storm_alert", "off", "A storm alert was issued for the region"),
    apply_to_orders=_apply,
    random_logged_share=0.0,
    random_scopes=(("region", "hours"), ("region",)),
    random_duration_days=(1, 3),
    scope_fields=("region", "hours"),
    order_acceptance=storm_acceptance,
    weather=storm_weather,
    random_draw=False,
)
