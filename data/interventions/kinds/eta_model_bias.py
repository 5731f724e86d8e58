"""eta_model_bias: a new ETA model version quotes too short (a model regression)."""

from __future__ import annotations

import numpy as np

from data import world_config as cfg
from data.interventions.base import ChangeSpec, InterventionKind, OrderEffects


def _apply(effects: OrderEffects, mask: np.ndarray, magnitude: float) -> None:
    effects.eta_bias_min[mask] += 7.0 * magnitude
    if magnitude > 0:  # a decoy deploy (magnitude 0) changes nothing at all
        effects.new_eta_model |= mask


KIND = InterventionKind(
    name="eta_model_bias",
    position=4,
    description=(
        f"a new ETA model version ({cfg.ETA_MODEL_NEXT_VERSION}) quotes 7 x magnitude minutes too "
        "short; deliveries themselves are unchanged."
    ),
    change=ChangeSpec(
        "model",
        "eta_model",
        cfg.ETA_MODEL_VERSION,
        "Deployed a retrained ETA model",
        new_value=lambda magnitude: cfg.ETA_MODEL_NEXT_VERSION,
    ),
    apply_to_orders=_apply,
    random_logged_share=0.9,
    random_scopes=(("region",), ("category",)),
)
