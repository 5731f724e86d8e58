"""The world's mechanics: turn one day's draws, supply and intervention effects into table rows.

Everything here is deterministic given the draws; randomness lives in `data/draws.py`.
Causal chain: load -> time to reach the store; prep time; batching -> extra wait and detour;
distance -> drive time; the ETA model's quote; lateness -> cancellations, tickets, low stars;
out-of-stock lines -> substitutions and missing items -> refunds -> tickets -> low stars.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from data import world_config as cfg
from data.draws import OrderDraws
from data.interventions import OrderEffects
from data.schema import ON_TIME_GRACE_MINUTES
from data.static_world import StaticWorld, prefixed_ids

_LOGNORMAL_MEAN_PREP = float(np.exp(0.3**2 / 2))
_LOGNORMAL_MEAN_DRIVE = float(np.exp(0.15**2 / 2))
_LOGNORMAL_MEAN_ASSIGN = float(np.exp(0.25**2 / 2))

LOW_STAR_TEXT = {
    "late": (
        "Order arrived way later than promised.",
        "Took forever. The ETA kept slipping.",
        "Dasher showed up very late, everything cold.",
    ),
    "missing": (
        "Items were missing from my order.",
        "Half of what I ordered never showed up.",
        "Missing items again, had to ask for a refund.",
    ),
    "substitution": (
        "Got substitutions I did not ask for.",
        "Wrong brand substituted for most items.",
    ),
    "other": ("Not great.", "Packaging was damaged.", "Meh."),
}
HIGH_STAR_TEXT = ("Fast and friendly!", "Everything arrived as ordered.", "Great dasher, thanks!")


def _timestamps(
    day_start_us: int, minutes: np.ndarray, valid: np.ndarray | None = None
) -> pa.Array:
    micros = day_start_us + np.round(minutes * 60e6).astype(np.int64)
    mask = None if valid is None else ~valid
    return pa.array(micros, type=pa.timestamp("us"), mask=mask)


def _pick_text(templates: tuple[str, ...], u: np.ndarray) -> np.ndarray:
    return np.asarray(templates, dtype=object)[
        np.minimum((u * len(templates)).astype(int), len(templates) - 1)
    ]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def expected_assign_minutes(load: np.ndarray | float) -> np.ndarray | float:
    """Median minutes until a dasher accepts, as a convex function of load (orders / capacity)
    that saturates at MAX_ASSIGN_MEDIAN_MIN."""
    return np.minimum(1.0 + 2.0 * np.exp(6.0 * (np.asarray(load) - 1.0)), cfg.MAX_ASSIGN_MEDIAN_MIN)


def simulate_day(
    day: dt.date,
    draws: OrderDraws,
    order_ids: pa.Array,
    effects: OrderEffects,
    load: np.ndarray,
    onshift: np.ndarray,
    outstanding: np.ndarray,
    world: StaticWorld,
) -> dict[str, pa.Table]:
    """Rows of orders, deliveries, items, support_events and ratings for one day's orders."""
    n = len(draws)
    day_start_us = int(np.datetime64(day, "us").astype(np.int64))
    category, hour, store = draws.category, draws.hour, draws.store
    order_min = hour * 60.0 + draws.second_of_hour / 60.0

    rush = np.isin(hour, cfg.RUSH_HOURS)
    speed_mph = cfg.REGION_SPEED_MPH[draws.region] * np.where(rush, cfg.RUSH_SPEED_FACTOR, 1.0)
    base_drive = draws.distance / speed_mph * 60.0
    drive_min = (base_drive * np.exp(0.15 * draws.z_drive) + 2.0) * effects.drive_factor

    kitchen_busy = np.where((hour >= 17) & (hour <= 20), 1.08, 1.0)
    prep_median = cfg.PREP_MEDIAN_MIN[category] * world.store_prep_factor[store] * kitchen_busy
    prep_min = prep_median * np.exp(0.3 * draws.z_prep) * effects.prep_factor

    assign_min = expected_assign_minutes(load) * np.exp(0.25 * draws.z_assign)
    travel_min = cfg.TRAVEL_TO_STORE_MEDIAN_MIN * np.exp(0.3 * draws.z_travel)
    dasher_at_store = assign_min + travel_min

    # A looser threshold also matches orders that had no acceptable partner before.
    looser = (
        effects.batching_threshold_min / cfg.BATCHING_THRESHOLD_MIN
    ) ** cfg.BATCH_MATCH_ELASTICITY
    partner_prob = (
        cfg.BATCH_PARTNER_PROB[category]
        * np.sqrt(np.clip(load / cfg.TARGET_LOAD, 0.6, 1.5))
        * looser
    )
    batched = (draws.u_partner < partner_prob) & (
        draws.detour_min <= effects.batching_threshold_min
    )
    # A batched order rides the detour and waits while the partner is picked up and handed off.
    detour_min = np.where(batched, draws.detour_min + cfg.BATCH_PARTNER_HANDOFF_MIN, 0.0)
    partner_wait = np.where(batched, draws.u_pickup_wait * cfg.BATCH_PICKUP_WAIT_MAX_MIN, 0.0)

    pickup_min = np.maximum(prep_min, dasher_at_store) + partner_wait
    dasher_wait_min = np.maximum(0.0, dasher_at_store - prep_min) + partner_wait
    duration_min = pickup_min + drive_min + detour_min

    # The ETA model knows each store's prep median, the route, and the usual batching; it does
    # not know about any intervention. Its quote is the expected duration plus a small buffer.
    expected_at_store = (
        expected_assign_minutes(cfg.TARGET_LOAD) * _LOGNORMAL_MEAN_ASSIGN
        + cfg.TRAVEL_TO_STORE_MEDIAN_MIN * _LOGNORMAL_MEAN_PREP
    )
    threshold = cfg.BATCHING_THRESHOLD_MIN
    detour_mean = cfg.BATCH_DETOUR_MEAN_MIN
    p_detour_ok = 1.0 - np.exp(-threshold / detour_mean)
    mean_ok_detour = detour_mean - threshold * np.exp(-threshold / detour_mean) / p_detour_ok
    expected_batch = (
        cfg.BATCH_PARTNER_PROB[category]
        * p_detour_ok
        * (mean_ok_detour + cfg.BATCH_PARTNER_HANDOFF_MIN + cfg.BATCH_PICKUP_WAIT_MAX_MIN / 2)
    )
    expected_pickup = np.maximum(prep_median * _LOGNORMAL_MEAN_PREP, expected_at_store) + 1.0
    expected_drive = base_drive * _LOGNORMAL_MEAN_DRIVE + 2.0
    quote_min = (expected_pickup + expected_drive + expected_batch) * np.exp(
        cfg.ETA_MODEL_LOG_SD * draws.z_eta
    ) + cfg.ETA_BUFFER_MIN
    quote_min = np.maximum(10.0, quote_min - effects.eta_bias_min)
    lateness_min = duration_min - quote_min

    cancel_prob = cfg.CANCEL_BASE + cfg.CANCEL_LATE_MAX * _sigmoid(
        (lateness_min - cfg.CANCEL_LATE_MIDPOINT_MIN) / cfg.CANCEL_LATE_SCALE_MIN
    )
    canceled = draws.u_cancel < cancel_prob
    delivered = ~canceled

    # Items: out-of-stock lines are substituted or missing; missing and rejected lines refunded.
    line_order = draws.line_order
    line_category = category[line_order]
    price = np.empty(len(line_order))
    sku_oos = np.empty(len(line_order))
    for index in range(len(cfg.CATEGORIES)):
        mask = line_category == index
        price[mask] = world.sku_price[index][draws.sku[mask]]
        sku_oos[mask] = world.sku_oos[index][draws.sku[mask]]
    oos_prob = np.minimum(
        0.95, sku_oos * world.store_oos_factor[store[line_order]] * effects.oos_factor[line_order]
    )
    line_delivered = delivered[line_order]
    out_of_stock = line_delivered & (draws.u_oos < oos_prob)
    substituted = out_of_stock & (draws.u_substitute < cfg.SUBSTITUTE_SHARE)
    missing = out_of_stock & ~substituted
    rejected = substituted & (draws.u_reject < cfg.SUBSTITUTION_REJECTED)
    line_value = price * draws.qty
    refund = np.where(missing | rejected, line_value, 0.0)
    basket_value = np.round(np.bincount(line_order, weights=line_value, minlength=n), 2)
    any_missing = np.bincount(line_order, weights=missing, minlength=n) > 0
    any_substituted = np.bincount(line_order, weights=substituted, minlength=n) > 0

    late_5 = delivered & (lateness_min > ON_TIME_GRACE_MINUTES) & (lateness_min <= 15)
    late_15 = delivered & (lateness_min > 15)
    ticket_prob = np.minimum(
        0.95,
        cfg.TICKET_BASE
        + cfg.TICKET_IF_MISSING * any_missing
        + cfg.TICKET_IF_SUBSTITUTED * any_substituted
        + cfg.TICKET_IF_LATE_5 * late_5
        + cfg.TICKET_IF_LATE_15 * late_15
        + cfg.TICKET_IF_CANCELED * canceled,
    )
    ticket = draws.u_ticket < ticket_prob
    issue_type = np.select(
        [canceled, any_missing, late_5 | late_15, any_substituted],
        ["order_canceled", "missing_item", "late_delivery", "substitution"],
        "other",
    )

    rated = delivered & (draws.u_rated < cfg.RATING_SHARE)
    latent_stars = (
        cfg.STARS_BASE
        - cfg.STARS_PENALTY_LATE_5 * late_5
        - cfg.STARS_PENALTY_LATE_15 * late_15
        - 0.03 * np.clip(lateness_min - 15, 0, 30)
        - cfg.STARS_PENALTY_MISSING * any_missing
        - cfg.STARS_PENALTY_SUBSTITUTED * any_substituted
        + draws.stars_noise
    )
    stars = np.clip(np.rint(latent_stars), 1, 5).astype(np.int32)
    reason = np.select(
        [late_5 | late_15, any_missing, any_substituted],
        ["late", "missing", "substitution"],
        "other",
    )
    text = np.full(n, None, dtype=object)
    low = rated & (stars <= 3) & (draws.u_text < 0.7)
    for key, templates in LOW_STAR_TEXT.items():
        mask = low & (reason == key)
        text[mask] = _pick_text(templates, draws.u_text[mask] / 0.7)
    high = rated & (stars == 5) & (draws.u_text < 0.15)
    text[high] = _pick_text(HIGH_STAR_TEXT, draws.u_text[high] / 0.15)

    arrival_min = order_min + duration_min
    handoff_done_min = arrival_min + 1.0 + 2.0 * draws.u_handoff
    busy = np.minimum(onshift, np.round(onshift * np.minimum(1.0, load))).astype(np.int32)
    order_table = pa.table(
        {
            "order_id": order_ids,
            "user_id": prefixed_ids("U", draws.user, 7),
            "store_id": pa.array(world.store_ids[store], pa.string()),
            "category": pa.array(np.asarray(cfg.CATEGORIES)[category], pa.string()),
            "region": pa.array(np.asarray(cfg.REGIONS)[draws.region], pa.string()),
            "basket_value": basket_value,
            "order_time": _timestamps(day_start_us, order_min),
            "promised_eta": _timestamps(day_start_us, order_min + quote_min),
            "eta_model_version": pa.array(
                np.where(effects.new_eta_model, cfg.ETA_MODEL_NEXT_VERSION, cfg.ETA_MODEL_VERSION),
                pa.string(),
            ),
        }
    )
    delivery_table = pa.table(
        {
            "order_id": order_ids,
            "actual_eta": _timestamps(day_start_us, arrival_min, delivered),
            "dasher_wait": np.round(dasher_wait_min * 60).astype(np.int32),
            "merchant_prep_time": np.round(prep_min * 60).astype(np.int32),
            "distance": np.round(draws.distance, 2),
            "batched_flag": batched,
            "canceled_flag": canceled,
            "pickup_time": _timestamps(day_start_us, order_min + pickup_min, delivered),
            "delivery_time": _timestamps(day_start_us, handoff_done_min, delivered),
            "onshift_dashers": onshift.astype(np.int32),
            "busy_dashers": busy,
            "outstanding_orders": outstanding.astype(np.int32),
        }
    )
    line_ids = pc.binary_join_element_wise(
        pc.take(order_ids, pa.array(line_order)),
        pc.cast(pa.array(draws.line_number, pa.int64()), pa.string()),
        "-",
    )
    sku_id = world.sku_ids(line_category, draws.sku)
    item_table = pa.table(
        {
            "item_id": line_ids,
            "order_id": pc.take(order_ids, pa.array(line_order)),
            "sku_id": sku_id,
            "ordered_qty": draws.qty.astype(np.int32),
            "unit_price": price,
            "substituted_flag": substituted,
            "missing_flag": missing,
            "refund_amount": np.round(refund, 2),
        }
    )
    ticket_index = np.flatnonzero(ticket)
    reference_min = np.where(delivered, handoff_done_min, order_min + quote_min)
    support_table = pa.table(
        {
            "ticket_id": pc.binary_join_element_wise(
                pa.scalar("T"), pc.take(order_ids, pa.array(ticket_index)), ""
            ),
            "order_id": pc.take(order_ids, pa.array(ticket_index)),
            "issue_type": pa.array(issue_type[ticket_index], pa.string()),
            "ticket_created": _timestamps(
                day_start_us, (reference_min + 5.0 + 115.0 * draws.u_ticket_delay)[ticket_index]
            ),
        }
    )
    rated_index = np.flatnonzero(rated)
    rating_table = pa.table(
        {
            "rating_id": pc.binary_join_element_wise(
                pa.scalar("R"), pc.take(order_ids, pa.array(rated_index)), ""
            ),
            "order_id": pc.take(order_ids, pa.array(rated_index)),
            "stars": stars[rated_index],
            "free_text": pa.array(text[rated_index], pa.string()),
            "rating_time": _timestamps(
                day_start_us,
                (handoff_done_min + 10.0 + 600.0 * draws.u_rating_delay)[rated_index],
            ),
        }
    )
    return {
        "orders": order_table,
        "deliveries": delivery_table,
        "items": item_table,
        "support_events": support_table,
        "ratings": rating_table,
    }
