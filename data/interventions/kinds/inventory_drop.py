"""inventory_drop: more lines go out of stock (an inventory feed or in-stock regression)."""

from __future__ import annotations

import numpy as np

from data.interventions.base import ChangeSpec, InterventionKind, OrderEffects


def oos_factor(magnitude: float) -> float:
    """Multiplier on each line's out-of-stock probability for an inventory_drop."""
    return 1.0 + 2.0 * magnitude


def _apply(effects: OrderEffects, mask: np.ndarray, magnitude: float) -> None:
    effects.oos_factor[mask] *= oos_factor(magnitude)


KIND = InterventionKind(
    name="inventory_drop",
    position=3,
    description=(
        "each line's out-of-stock probability is multiplied by 1 + 2 x magnitude, and the "
        "inventory model's in-stock estimates fall with it."
    ),
    change=ChangeSpec("merchant", "inventory_feed", "v1", "Switched the inventory feed vendor"),
    apply_to_orders=_apply,
    random_logged_share=0.6,
    random_scopes=(("region", "category"), ("category",)),
    inventory_oos_factor=oos_factor,
)
