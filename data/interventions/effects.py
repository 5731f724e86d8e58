"""Apply a scenario's interventions: which rows each one covers, per-order effects, change rows."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np

from data import world_config as cfg
from data.interventions.base import OrderEffects
from data.interventions.registry import kind_spec
from data.static_world import StaticWorld

if TYPE_CHECKING:  # data.scenario reads the registry, so this module reads it only for types
    from data.scenario import Intervention


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


def order_effects(
    interventions: list[Intervention],
    when: np.ndarray,
    region: np.ndarray,
    category: np.ndarray,
    store: np.ndarray,
    hour: np.ndarray,
    world: StaticWorld,
    supply_touched: list[np.ndarray],
) -> OrderEffects:
    """Combine interventions into per-order effect parameters.

    `supply_touched[i]` marks, per order, whether intervention i changed its region-hour's supply.
    """
    n = len(when)
    effects = OrderEffects.neutral(n)
    for index, intervention in enumerate(interventions):
        magnitude = intervention.magnitude
        spec = kind_spec(intervention.kind)
        if spec.supply_factor is not None:  # it reaches orders through their region-hour's supply
            effects.touched.append(supply_touched[index] if magnitude > 0 else np.zeros(n, bool))
            continue
        mask = scope_mask(intervention, when, region, category, store, hour, world)
        effects.touched.append(mask if magnitude > 0 else np.zeros(n, dtype=bool))
        if spec.apply_to_orders is not None:
            spec.apply_to_orders(effects, mask, magnitude)
    return effects


def change_row(intervention: Intervention) -> dict[str, object]:
    """The `changes` row of a logged intervention (without its change_id)."""
    spec = kind_spec(intervention.kind).change
    return {
        "change_time": intervention.onset,
        "kind": spec.change_kind,
        "name": intervention.name or spec.name,
        "scope": json.dumps(intervention.scope.as_filters(), sort_keys=True),
        "old_value": spec.old_value,
        "new_value": spec.new_value(intervention.magnitude),
        "description": intervention.description or spec.description,
    }
