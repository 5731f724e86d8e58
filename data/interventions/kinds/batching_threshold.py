"""batching_threshold: a policy change that lets batched orders take longer detours."""

from __future__ import annotations

import numpy as np

from data import world_config as cfg
from data.interventions.base import ChangeSpec, InterventionKind, OrderEffects


def raised_batching_threshold(magnitude: float) -> float:
    """Allowed batching detour (minutes) under a batching_threshold intervention."""
    return cfg.BATCHING_THRESHOLD_MIN + 10.0 * magnitude


def _apply(effects: OrderEffects, mask: np.ndarray, magnitude: float) -> None:
    raised = raised_batching_threshold(magnitude)
    effects.batching_threshold_min[mask] = np.maximum(effects.batching_threshold_min[mask], raised)


KIND = InterventionKind(
    name="batching_threshold",
    position=0,
    description=(
        "the allowed batching detour rises from 5 to 5 + 10 x magnitude minutes, so more orders "
        "are batched (~23% -> ~42% at 1.0) and batched orders take longer detours."
    ),
    change=ChangeSpec(
        "policy",
        "batching_threshold",
        f"{cfg.BATCHING_THRESHOLD_MIN:g} min detour",
        "Raised the maximum detour allowed when batching two orders",
        new_value=lambda magnitude: f"{raised_batching_threshold(magnitude):g} min detour",
    ),
    apply_to_orders=_apply,
    random_logged_share=0.8,
    random_scopes=(("region", "hours"), ("category", "hours")),
)
