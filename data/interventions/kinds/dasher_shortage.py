"""dasher_shortage: fewer dashers online in a region's hours (a supply-side cause)."""

from __future__ import annotations

from data.interventions.base import ChangeSpec, InterventionKind


def supply_factor(magnitude: float) -> float:
    """Multiplier on online dashers for a dasher_shortage of this magnitude."""
    return max(0.25, 1.0 - 0.45 * magnitude)


KIND = InterventionKind(
    name="dasher_shortage",
    position=2,
    description=(
        "online dashers are multiplied by max(0.25, 1 - 0.45 x magnitude), which raises the time "
        "until a dasher reaches the store (and, through load, batching a little)."
    ),
    change=ChangeSpec("ops", "dasher_pay", "v1", "Peak pay incentives were reduced"),
    apply_to_orders=None,
    random_logged_share=0.3,
    random_scopes=(("region", "hours"), ("region",)),
    scope_fields=("region", "hours"),
    supply_factor=supply_factor,
)
