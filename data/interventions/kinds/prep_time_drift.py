"""prep_time_drift: merchants take longer to prepare orders (a merchant-side change)."""

from __future__ import annotations

import numpy as np

from data.interventions.base import ChangeSpec, InterventionKind, OrderEffects


def _apply(effects: OrderEffects, mask: np.ndarray, magnitude: float) -> None:
    effects.prep_factor[mask] *= 1.0 + 0.5 * magnitude


KIND = InterventionKind(
    name="prep_time_drift",
    position=1,
    description="merchant prep time is multiplied by 1 + 0.5 x magnitude.",
    change=ChangeSpec(
        "merchant", "merchant_workflow", "v1", "Stores switched to a new order-picking workflow"
    ),
    apply_to_orders=_apply,
    random_logged_share=0.2,
    random_scopes=(("region", "category"), ("category", "hours")),
)
