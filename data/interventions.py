"""What each intervention kind does to the world, where it applies, and its change-log row.

Magnitude 1.0 is a typical incident of its kind; 0 does nothing (a decoy when logged):
- batching_threshold: the allowed batching detour rises from 5 to 5 + 10 x magnitude minutes, so
  more orders are batched (~23% -> ~42% at 1.0) and batched orders take longer detours.
- prep_time_drift: merchant prep time is multiplied by 1 + 0.5 x magnitude.
- dasher_shortage: online dashers are multiplied by max(0.25, 1 - 0.45 x magnitude), which raises
  the time until a dasher reaches the store (and, through load, batching a little).
- inventory_drop: each line's out-of-stock probability is multiplied by 1 + 2 x magnitude, and the
  inventory model's in-stock estimates fall with it.
- eta_model_bias: a new ETA model version (eta-v42) quotes 7 x magnitude minutes too short;
  deliveries themselves are unchanged.
- demand_surge: 50% x magnitude more orders in scope (saturating at +75%) with no extra dashers;
  the congestion falls on orders in the surge's scope.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from data import world_config as cfg
from data.scenario import Intervention
from data.static_world import StaticWorld

SURGE_POOL_SHARE = 0.75  # candidate surge orders drawn per cell, as a share of expected demand
SURGE_UPLIFT_PER_MAGNITUDE = 0.5


@dataclass(frozen=True)
class ChangeSpec:
    """How a logged intervention of a kind appears in the `changes` table."""

    change_kind: str
    name: str
    old_value: str
    description: str

    def new_value(self, kind: str, magnitude: float) -> str:
        if kind == "batching_threshold":
            return f"{raised_batching_threshold(magnitude):g} min detour"
        if kind == "eta_model_bias":
            return cfg.ETA_MODEL_NEXT_VERSION
        return "updated"


CHANGE_SPECS: dict[str, ChangeSpec] = {
    "batching_threshold": ChangeSpec(
        "policy",
        "batching_threshold",
        f"{cfg.BATCHING_THRESHOLD_MIN:g} min detour",
        "Raised the maximum detour allowed when batching two orders",
    ),
    "prep_time_drift": ChangeSpec(
        "merchant", "merchant_workflow", "v1", "Stores switched to a new order-picking workflow"
    ),
    "dasher_shortage": ChangeSpec("ops", "dasher_pay", "v1", "Peak pay incentives were reduced"),
    "inventory_drop": ChangeSpec(
        "merchant", "inventory_feed", "v1", "Switched the inventory feed vendor"
    ),
    "eta_model_bias": ChangeSpec(
        "model", "eta_model", cfg.ETA_MODEL_VERSION, "Deployed a retrained ETA model"
    ),
    "demand_surge": ChangeSpec("ops", "marketing_promo", "off", "Launched a promotional campaign"),
}


def scope_mask(
    intervention: Intervention,
    when: np.ndarray,
    region: np.ndarray,
    category: np.ndarray | None,
    store: np.ndarray | None,
    hour: np.ndarray,
    world: StaticWorld,
) -> np.ndarray:
    """Rows (orders, checks, cells or region-hours) inside the scope and the active window.

    `category` None means rows that span categories (region-hours); `store` None means rows that
    span the stores of their region and category (demand cells), which match a store_ids scope
    when any of those stores is in it.
    """
    mask = when >= np.datetime64(intervention.onset)
    if intervention.end is not None:
        mask &= when < np.datetime64(intervention.end)
    scope = intervention.scope
    if scope.region:
        mask &= np.isin(region, [cfg.REGIONS.index(name) for name in scope.region])
    if scope.category and category is not None:
        mask &= np.isin(category, [cfg.CATEGORIES.index(name) for name in scope.category])
    if scope.hours:
        mask &= np.isin(hour, scope.hours)
    if scope.store_ids:
        if store is None:
            chosen = np.isin(world.store_ids, scope.store_ids)
            groups = world.store_region[chosen] * len(cfg.CATEGORIES) + world.store_category[chosen]
            mask &= np.isin(region * len(cfg.CATEGORIES) + category, groups)
        else:
            mask &= np.isin(world.store_ids[store], scope.store_ids)
    return mask


@dataclass
class OrderEffects:
    """Per-order parameters after every active intervention is applied."""

    batching_threshold_min: np.ndarray
    prep_factor: np.ndarray
    oos_factor: np.ndarray
    eta_bias_min: np.ndarray
    new_eta_model: np.ndarray
    surge_load_factor: np.ndarray
    touched: list[np.ndarray]  # per intervention: orders it changed (empty when magnitude is 0)


def order_effects(
    interventions: list[Intervention],
    when: np.ndarray,
    region: np.ndarray,
    category: np.ndarray,
    store: np.ndarray,
    hour: np.ndarray,
    world: StaticWorld,
    supply_touched: np.ndarray,
) -> OrderEffects:
    """Combine interventions into per-order effect parameters.

    `supply_touched[i]` marks, per order, whether intervention i changed its region-hour's supply.
    """
    n = len(when)
    effects = OrderEffects(
        batching_threshold_min=np.full(n, cfg.BATCHING_THRESHOLD_MIN),
        prep_factor=np.ones(n),
        oos_factor=np.ones(n),
        eta_bias_min=np.zeros(n),
        new_eta_model=np.zeros(n, dtype=bool),
        surge_load_factor=np.ones(n),
        touched=[],
    )
    for index, intervention in enumerate(interventions):
        magnitude = intervention.magnitude
        if intervention.kind == "dasher_shortage":
            effects.touched.append(supply_touched[index] if magnitude > 0 else np.zeros(n, bool))
            continue
        mask = scope_mask(intervention, when, region, category, store, hour, world)
        effects.touched.append(mask if magnitude > 0 else np.zeros(n, dtype=bool))
        if intervention.kind == "batching_threshold":
            raised = raised_batching_threshold(magnitude)
            effects.batching_threshold_min[mask] = np.maximum(
                effects.batching_threshold_min[mask], raised
            )
        elif intervention.kind == "prep_time_drift":
            effects.prep_factor[mask] *= 1.0 + 0.5 * magnitude
        elif intervention.kind == "inventory_drop":
            effects.oos_factor[mask] *= 1.0 + 2.0 * magnitude
        elif intervention.kind == "eta_model_bias":
            effects.eta_bias_min[mask] += 7.0 * magnitude
            if magnitude > 0:  # a decoy deploy (magnitude 0) changes nothing at all
                effects.new_eta_model |= mask
        elif intervention.kind == "demand_surge":
            effects.surge_load_factor[mask] *= 1.0 + SURGE_UPLIFT_PER_MAGNITUDE * magnitude
    return effects


def raised_batching_threshold(magnitude: float) -> float:
    """Allowed batching detour (minutes) under a batching_threshold intervention."""
    return cfg.BATCHING_THRESHOLD_MIN + 10.0 * magnitude


def supply_factor(magnitude: float) -> float:
    """Multiplier on online dashers for a dasher_shortage of this magnitude."""
    return max(0.25, 1.0 - 0.45 * magnitude)


def surge_acceptance(magnitude: float) -> float:
    """Share of a cell's surge candidate pool that becomes real orders."""
    return min(1.0, SURGE_UPLIFT_PER_MAGNITUDE * magnitude / SURGE_POOL_SHARE)


def change_row(intervention: Intervention) -> dict[str, object]:
    """The `changes` row of a logged intervention (without its change_id)."""
    spec = CHANGE_SPECS[intervention.kind]
    return {
        "change_time": intervention.onset,
        "kind": spec.change_kind,
        "name": intervention.name or spec.name,
        "scope": json.dumps(intervention.scope.as_filters(), sort_keys=True),
        "old_value": spec.old_value,
        "new_value": spec.new_value(intervention.kind, intervention.magnitude),
        "description": intervention.description or spec.description,
    }
