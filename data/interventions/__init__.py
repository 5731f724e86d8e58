"""Intervention kinds (root causes the generator injects): one module each in `kinds/`.

Each kind module declares `KIND = InterventionKind(...)` (see `base.py`): what magnitude 1.0
means, its `changes` row, how it sets per-order effect parameters, its scope rule, how random
scenarios draw it, and hooks for kinds that change supply, add orders or change inventory.
`registry.py` discovers the modules; `effects.py` applies a scenario's interventions.
"""

from data.interventions.base import ChangeSpec, InterventionKind, OrderEffects
from data.interventions.effects import change_row, order_effects, scope_mask
from data.interventions.registry import CHANGE_SPECS, KIND_NAMES, KINDS, kind_spec

__all__ = [
    "CHANGE_SPECS",
    "KINDS",
    "KIND_NAMES",
    "ChangeSpec",
    "InterventionKind",
    "OrderEffects",
    "change_row",
    "kind_spec",
    "order_effects",
    "scope_mask",
]
