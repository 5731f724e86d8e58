"""The what-if's actions: what each one changes on a bootstrap draw of the incident window (the
simulator in analytics/whatif_simulator.py turns that into metric changes; analytics/whatif.py's
`simulate` runs the draws). An action is one WhatIfAction declaration: its move, its optional
preparation and its stated assumptions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics.sku_suppression import hidden_by_order
from analytics.whatif_simulator import (
    Fitted,
    Simulator,
    WhatIfError,
    duration_change,
    outcome_basis,
)

ASSUMPTIONS = {
    "dasher_pay_per_hour": 25.0,  # USD per engaged dasher hour
    "batched_dasher_time_share": 0.6,  # a batched order costs 60% of a solo trip's dasher time
    "conversion_loss_per_quote_minute": 0.005,  # 0.5% fewer orders per extra quoted minute
    # Contribution margin of a line's value: what the marketplace loses when a hidden SKU's
    # sale is lost (customers are assumed not to buy something else instead).
    "line_contribution_margin": 0.25,
}


@dataclass(frozen=True)
class Draw:
    """One bootstrap draw of the incident window, as an action's move reads it."""

    simulator: Simulator
    fitted: Fitted  # the models of this draw's baseline resample
    w: pd.DataFrame  # the resampled incident orders (index 0..n-1)
    duration_now: np.ndarray  # the fit's duration model on the rows of `w` (minutes)
    rng: np.random.Generator  # the simulation's generator: a move may draw from it
    prepared: pd.DataFrame | None  # what the action's preparation computed (Preparation.data)


@dataclass(frozen=True)
class Move:
    """What an action changes on one draw: per order, minutes arriving sooner and minutes quoted
    longer (None: no change); its efficiency figures; derived parameters to report; and metric
    changes the timing models do not give (item issues), which replace theirs."""

    faster: np.ndarray | None = None
    longer_quote: np.ndarray | None = None
    efficiency: dict[str, float] = field(default_factory=dict)
    parameters: dict[str, float] = field(default_factory=dict)
    effects: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Preparation:
    """What an action computes once before the draws: its parameters (with defaults filled in),
    data every draw reads (Draw.prepared) and notes for the result's assumptions."""

    parameters: dict[str, float]
    data: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()


def _unprepared(simulator: Simulator, parameters: dict[str, float]) -> Preparation:
    return Preparation(parameters)


@dataclass(frozen=True)
class WhatIfAction:
    """An action the what-if simulates: `move` gives its change on each draw, `prepare` runs once
    before the draws, `assumptions` states what its estimate assumes (given the parameters)."""

    name: str
    move: Callable[[Draw, Mapping[str, float]], Move]
    assumptions: Callable[[Mapping[str, float]], tuple[str, ...]]
    prepare: Callable[[Simulator, dict[str, float]], Preparation] = _unprepared
    needs_sku_lines: bool = False  # the simulator must carry SKU lines (Simulator.with_sku_lines)


def _revert_batching(draw: Draw, parameters: Mapping[str, float]) -> Move:
    """Un-batch a random share of batched orders down to `target_share` (default: the baseline's
    share); batched orders also lose the extra detour residual as far as the share goes back."""
    base, w, fitted = draw.simulator.baseline, draw.w, draw.fitted
    target = parameters.get("target_share", float(base["batched"].mean()))
    current = max(float(w["batched"].mean()), 1e-9)
    keep = min(1.0, target / current)
    batched = w["batched"].to_numpy() > 0
    unbatch = batched & (draw.rng.random(len(w)) > keep)
    changed = w.copy()
    changed.loc[unbatch, "batched"] = 0
    residual = w["duration_min"].to_numpy(float) - draw.duration_now
    delivered_batched = batched & w["delivered"].to_numpy()
    extra = max(0.0, np.nanmean(residual[delivered_batched]) - fitted.batched_residual)
    # The longer detours shrink as far as the threshold goes back (linear in the share).
    old_share = float(base["batched"].mean())
    reverted = (current - target) / (current - old_share) if current > old_share else 1.0
    extra *= min(1.0, max(0.0, reverted))
    faster = duration_change(fitted, w, changed, draw.duration_now) + np.where(batched, extra, 0.0)
    solo_minutes = float(w.loc[~batched & w["delivered"], "duration_min"].mean())
    share = ASSUMPTIONS["batched_dasher_time_share"]
    minutes_now = solo_minutes * (1 - (1 - share) * batched.mean())
    minutes_new = solo_minutes * (1 - (1 - share) * (batched & ~unbatch).mean())
    return Move(
        faster=faster,
        efficiency=_dasher_efficiency(minutes_now, minutes_new),
        parameters={"target_share": target},
    )


def _eta_buffer(draw: Draw, parameters: Mapping[str, float]) -> Move:
    """`minutes` (default 5) more on every quote."""
    minutes = parameters.get("minutes", 5.0)
    return Move(longer_quote=np.full(len(draw.w), minutes), efficiency=quote_efficiency(minutes))


def _eta_rollback(draw: Draw, parameters: Mapping[str, float]) -> Move:
    """Quotes as far above delivery times as in the baseline (the old model's margin)."""
    shift = quote_shift_to_baseline(draw.simulator.baseline, draw.w)
    return Move(
        longer_quote=np.full(len(draw.w), shift),
        efficiency=quote_efficiency(shift),
        parameters={"quote_minutes_added": shift},
    )


def _prep_quote_fix(draw: Draw, parameters: Mapping[str, float]) -> Move:
    """Each order's quote absorbs its store's prep-time increase."""
    drift = _store_prep_drift(draw.simulator.store_prep, draw.w)
    return Move(
        longer_quote=drift,
        efficiency=quote_efficiency(float(drift.mean())),
        parameters={"mean_quote_minutes_added": float(drift.mean())},
    )


def _merchant_prep_fix(draw: Draw, parameters: Mapping[str, float]) -> Move:
    """Each order's prep scaled back by its store's baseline/incident ratio."""
    w = draw.w
    changed = w.copy()
    changed["prep_min"] = w["prep_min"] * _store_prep_ratio(draw.simulator.store_prep, w)
    saved = duration_change(draw.fitted, w, changed, draw.duration_now)
    return Move(faster=np.maximum(saved, 0.0))


def _inventory_rollback_move(draw: Draw, parameters: Mapping[str, float]) -> Move:
    """Item issues back to each store's baseline rate; timings untouched."""
    return Move(effects=_inventory_rollback(draw.fitted, draw.simulator.baseline, draw.w))


def _peak_pay_supply(simulator: Simulator, parameters: dict[str, float]) -> Preparation:
    """The incident's region-hour supply table (_region_hour_supply), which a pay per order
    needs."""
    supply = _region_hour_supply(simulator.baseline, simulator.incident)
    if supply is None and "usd_per_order" in parameters:
        raise WhatIfError("peak pay per order needs on-shift dasher counts (dasher_supply)")
    return Preparation(parameters, data=supply)


def _peak_pay(draw: Draw, parameters: Mapping[str, float]) -> Move:
    """The wait for a dasher back to the baseline's for the hour, scaled by the share of the
    on-shift gap a `usd_per_order` pay closes (default: all of it)."""
    faster = _restored_dasher_wait(draw.simulator.baseline, draw.w)
    pay = parameters.get("usd_per_order")
    efficiency: dict[str, float] = {}
    if draw.prepared is not None:
        per_order = _per_order(draw.prepared, draw.w)
        if pay is not None:
            faster = faster * _gap_closed(per_order, pay)
        efficiency = _supply_cost(per_order, pay)
    return Move(faster=faster, efficiency=efficiency)


def _peak_pay_notes(parameters: Mapping[str, float]) -> tuple[str, ...]:
    pay = ASSUMPTIONS["dasher_pay_per_hour"]
    if "usd_per_order" in parameters:
        return (
            f"${parameters['usd_per_order']:.2f} per order buys dasher hours at ${pay:.0f}/hour "
            "in each region-hour of the scope; the wait for a dasher moves toward the baseline's "
            "in proportion to the share of the on-shift-dasher gap those hours close (heuristic)",
        )
    return (
        "incentives bring on-shift dashers, and so the wait for a dasher, back to the "
        "baseline for the same hour (heuristic); "
        f"added dasher hours cost ${pay:.0f}/hour, charged to the scope's orders",
    )


def _throttle_demand(draw: Draw, parameters: Mapping[str, float]) -> Move:
    """`share` (default 15%) of orders turned away: dasher load falls in proportion."""
    w = draw.w
    changed = w.copy()
    share = parameters.get("share", 0.15)
    changed["orders_per_dasher"] = w["orders_per_dasher"] * (1 - share)
    changed["busy_share"] = np.minimum(1.0, w["busy_share"] * (1 - share))
    saved = duration_change(draw.fitted, w, changed, draw.duration_now)
    return Move(
        faster=np.maximum(saved, 0.0),
        efficiency={"order_volume_share": -share},
        parameters={"share": share},
    )


def _hidden_skus(simulator: Simulator, parameters: dict[str, float]) -> Preparation:
    """The lines hiding the SKUs under `threshold` (default 0.5) removes, per incident order."""
    parameters = {"threshold": 0.5, **parameters}
    hidden = _hidden_lines(simulator, parameters["threshold"])
    unchecked = hidden["unchecked_lines"].sum() / hidden["lines"].sum()
    note = (
        f"{unchecked:.0%} of the scope's lines have no in-stock estimate (their SKU was never "
        "checked at their store) and are kept"
    )
    return Preparation(parameters, data=hidden, notes=(note,))


def _suppress_skus(draw: Draw, parameters: Mapping[str, float]) -> Move:
    """The hidden lines (Draw.prepared) gone: item issues, refunds and lost sales; timings
    untouched."""
    assert draw.prepared is not None  # _hidden_skus prepared it
    per_order = draw.prepared.reindex(draw.w["order_id"].to_numpy())
    return Move(
        efficiency=_suppression_efficiency(per_order),
        effects=_suppressed_skus(draw.fitted, draw.w, per_order),
    )


REVERT_BATCHING = WhatIfAction(
    "revert_batching",
    _revert_batching,
    assumptions=lambda parameters: (
        f"a batched order costs {ASSUMPTIONS['batched_dasher_time_share']:.0%} of a solo "
        f"trip's dasher time; dashers cost ${ASSUMPTIONS['dasher_pay_per_hour']:.0f}/hour",
    ),
)
ETA_BUFFER = WhatIfAction(
    "eta_buffer",
    _eta_buffer,
    assumptions=lambda parameters: (
        f"each quoted minute costs {ASSUMPTIONS['conversion_loss_per_quote_minute']:.1%} "
        "of orders (conversion assumption)",
    ),
)
ETA_ROLLBACK = WhatIfAction(
    "eta_rollback",
    _eta_rollback,
    assumptions=lambda parameters: (
        "the old model's quotes sit as far above delivery times as before",
    ),
)
PREP_QUOTE_FIX = WhatIfAction(
    "prep_quote_fix",
    _prep_quote_fix,
    assumptions=lambda parameters: ("quotes absorb each store's measured prep-time increase",),
)
MERCHANT_PREP_FIX = WhatIfAction(
    "merchant_prep_fix",
    _merchant_prep_fix,
    assumptions=lambda parameters: ("stores return to their baseline prep times (a merchant fix)",),
)
PEAK_PAY = WhatIfAction("peak_pay", _peak_pay, _peak_pay_notes, prepare=_peak_pay_supply)
THROTTLE_DEMAND = WhatIfAction(
    "throttle_demand",
    _throttle_demand,
    assumptions=lambda parameters: ("the orders turned away (narrower radius) are lost volume",),
)
INVENTORY_ROLLBACK = WhatIfAction(
    "inventory_rollback",
    _inventory_rollback_move,
    assumptions=lambda parameters: (
        "item issues return to each store's baseline rate; refunds follow issues",
    ),
)
SUPPRESS_SKUS = WhatIfAction(
    "suppress_skus",
    _suppress_skus,
    assumptions=lambda parameters: (
        "hidden lines' substitutions, missing items and refunds disappear; their sales are "
        f"lost at a {ASSUMPTIONS['line_contribution_margin']:.0%} contribution margin",
    ),
    prepare=_hidden_skus,
    needs_sku_lines=True,
)
# By name, for callers that only have one (tests, simulate("revert_batching")); the action
# library (tools/actions.py) passes the declarations themselves.
WHATIF_ACTIONS: dict[str, WhatIfAction] = {
    action.name: action
    for action in (
        REVERT_BATCHING, ETA_BUFFER, ETA_ROLLBACK, PREP_QUOTE_FIX, MERCHANT_PREP_FIX, PEAK_PAY,
        THROTTLE_DEMAND, INVENTORY_ROLLBACK, SUPPRESS_SKUS,
    )
}  # fmt: skip


def _inventory_rollback(fitted: Fitted, base: pd.DataFrame, w: pd.DataFrame) -> dict[str, float]:
    """Item issues back to each store's baseline rate: expected changes of item accuracy,
    refunds, support contacts and stars (issues scaled per store; refunds in proportion)."""

    def issue_rate(frame: pd.DataFrame) -> pd.Series:
        delivered = frame[frame["delivered"]]
        grouped = delivered.groupby("store_id")
        lines = grouped["item_lines"].sum()
        return (grouped["substituted_lines"].sum() + grouped["missing_lines"].sum()) / lines

    before, now = issue_rate(base), issue_rate(w)
    scale = (before / now).clip(upper=1.0).replace([np.inf], 1.0).fillna(1.0)
    delivered = w[w["delivered"]]
    order_scale = delivered["store_id"].map(scale).fillna(1.0).to_numpy(float)
    lines = delivered["item_lines"].to_numpy(float)
    issues = (delivered["substituted_lines"] + delivered["missing_lines"]).to_numpy(float)
    accuracy_now = 1 - issues.sum() / lines.sum()
    accuracy_new = 1 - (issues * order_scale).sum() / lines.sum()
    refunded = delivered["refunded"].fillna(0).to_numpy(float)
    share = len(delivered) / len(w)
    lateness = delivered["eta_error_min"].to_numpy(float)
    basis_now = outcome_basis(lateness, delivered)
    basis_new = basis_now.copy()
    # With each issue line kept with probability `scale`, an order with k such lines still has
    # one with probability 1 - (1 - scale)^k.
    for column, name in ((-2, "missing_lines"), (-1, "substituted_lines")):
        count = delivered[name].fillna(0).to_numpy(float)
        basis_new[:, column] = 1 - (1 - order_scale) ** count
    support_delta = (
        fitted.support.predict_proba(basis_new)[:, 1]
        - fitted.support.predict_proba(basis_now)[:, 1]
    ).mean() * share
    rated = delivered["stars"].notna().to_numpy()
    stars_delta = (
        (fitted.stars.predict(basis_new[rated]) - fitted.stars.predict(basis_now[rated])).mean()
        if rated.any()
        else 0.0
    )
    return {
        "item_accuracy": float(accuracy_new - accuracy_now),
        "refund_rate": float(((1 - (1 - order_scale) ** issues - 1) * refunded).mean() * share),
        "support_rate": float(support_delta),
        "rating": float(stars_delta),
    }


def _hidden_lines(simulator: Simulator, threshold: float) -> pd.DataFrame:
    """Per incident order: what hiding the SKUs under `threshold` removes (hidden_by_order)."""
    if simulator.sku_lines is None:
        raise WhatIfError("suppress_skus needs the scope's item lines: Simulator.with_sku_lines")
    return hidden_by_order(simulator.sku_lines, threshold)


def _suppressed_skus(fitted: Fitted, w: pd.DataFrame, hidden: pd.DataFrame) -> dict[str, float]:
    """Changes of item accuracy and refunds (exact: the hidden lines and their issues and refunds
    are gone) and of support contacts and stars (the outcome models, with each delivered order's
    remaining missing and substituted lines) when the lines in `hidden` (aligned with `w`) are
    hidden. Orders whose every line is hidden still count as orders."""
    delivered = w["delivered"].to_numpy()
    d, gone = w[delivered], hidden[delivered].fillna(0)
    lines = d["item_lines"].to_numpy(float)
    issues = (d["substituted_lines"] + d["missing_lines"]).to_numpy(float)
    hidden_issues = (gone["hidden_substituted"] + gone["hidden_missing"]).to_numpy(float)
    kept_lines = (lines - gone["hidden_lines"].to_numpy(float)).sum()
    accuracy_now = 1 - issues.sum() / lines.sum()
    accuracy_new = 1 - (issues - hidden_issues).sum() / kept_lines if kept_lines else accuracy_now
    refunded = w["refunded"].fillna(0).to_numpy(bool)
    refunded_new = hidden["refunded_kept"].eq(True).to_numpy()  # orders without lines: no refund
    lateness = d["eta_error_min"].to_numpy(float)
    basis_now = outcome_basis(lateness, d)
    basis_new = basis_now.copy()
    for column, name in ((-2, "missing"), (-1, "substituted")):
        left = d[f"{name}_lines"].fillna(0).to_numpy(float) - gone[f"hidden_{name}"].to_numpy(float)
        basis_new[:, column] = (left > 0).astype(float)
    support_delta = (
        fitted.support.predict_proba(basis_new)[:, 1]
        - fitted.support.predict_proba(basis_now)[:, 1]
    ).sum() / len(w)
    rated = d["stars"].notna().to_numpy()
    stars_delta = (
        (fitted.stars.predict(basis_new[rated]) - fitted.stars.predict(basis_now[rated])).mean()
        if rated.any()
        else 0.0
    )
    return {
        "item_accuracy": float(accuracy_new - accuracy_now),
        "refund_rate": float(refunded_new.mean() - refunded.mean()),
        "support_rate": float(support_delta),
        "rating": float(stars_delta),
    }


def _suppression_efficiency(hidden: pd.DataFrame) -> dict[str, float]:
    """Lines hidden and order value lost (shares of all lines and value ordered in the scope) and
    the lost value's contribution margin per order in USD (value terms only with prices)."""
    lines = hidden["lines"].sum()
    efficiency = {"lines_hidden_share": float(hidden["hidden_lines"].sum() / lines if lines else 0)}
    value = hidden["value"].sum()
    if value > 0:
        efficiency["order_value_lost_share"] = float(hidden["hidden_value"].sum() / value)
        efficiency["cost_per_delivery_usd"] = float(
            hidden["hidden_value"].fillna(0).mean() * ASSUMPTIONS["line_contribution_margin"]
        )
    return efficiency


def _restored_dasher_wait(base: pd.DataFrame, w: pd.DataFrame) -> np.ndarray:
    """Minutes each incident order saves when the wait for a dasher returns to the baseline's
    distribution for the same hour of day (a rank-preserving quantile map, in the hours whose
    mean wait rose). Orders with no recorded wait (canceled) save their hour's mean change.

    Heuristic: a shortage delays orders through the wait for a dasher (pickup = prep + wait), and
    incentives bring supply, hence that wait, back to the usual level for the hour. With a peak
    pay of u USD per order (simulate's `usd_per_order`), the money buys u x (the region-hour's
    scope orders) / hourly pay dasher hours in each region-hour of the scope, and each order's
    saving is scaled by the share of its region-hour's on-shift-dasher gap those hours close
    (capped at 1, the full restoration): more pay never saves less."""
    faster = np.zeros(len(w))
    waits = w["dasher_wait_min"].to_numpy(float)
    for hour, index in w.groupby("hour").indices.items():
        usual = base.loc[base["hour"] == hour, "dasher_wait_min"].dropna().to_numpy(float)
        now = waits[index]
        known = np.isfinite(now)
        if len(usual) < 30 or not known.any() or now[known].mean() <= usual.mean():
            continue
        ranks = (pd.Series(now[known]).rank(method="average").to_numpy() - 0.5) / known.sum()
        saved = np.zeros(len(index))
        saved[known] = now[known] - np.quantile(usual, ranks)
        saved[~known] = now[known].mean() - usual.mean()
        faster[index] = saved
    return faster


def _region_hour_supply(base: pd.DataFrame, incident: pd.DataFrame) -> pd.DataFrame | None:
    """Per region and hour (index region, hour_start) of the incident window: its scope orders,
    its mean on-shift dashers, the gap to the baseline's mean for that region and hour of day
    (dashers, >= 0), and `restoring_usd`, the pay per scope order that buys the gap's hours.
    None when the data has no on-shift counts."""
    if incident["onshift_dashers"].isna().all():
        return None
    usual = base.groupby(["region", "hour"])["onshift_dashers"].mean().rename("usual")
    table = (
        incident.groupby(["region", "hour_start", "hour"])
        .agg(orders=("order_id", "size"), onshift=("onshift_dashers", "mean"))
        .reset_index()
        .join(usual, on=["region", "hour"])
    )
    table["gap"] = (table["usual"] - table["onshift"]).clip(lower=0).fillna(0.0)
    table["onshift"] = table["onshift"].fillna(0.0)
    table["restoring_usd"] = ASSUMPTIONS["dasher_pay_per_hour"] * table["gap"] / table["orders"]
    return table.set_index(["region", "hour_start"])


def _per_order(supply: pd.DataFrame, w: pd.DataFrame) -> pd.DataFrame:
    """Each order's region-hour row of `supply`, aligned with the rows of `w`. Dasher hours are
    spread over a region-hour's orders, so a day the bootstrap draws twice counts twice."""
    keys = pd.MultiIndex.from_arrays([w["region"], w["hour_start"]])
    return supply.reindex(keys).reset_index(drop=True)


def _gap_closed(per_order: pd.DataFrame, usd_per_order: float) -> np.ndarray:
    """Per order: the share of its region-hour's on-shift-dasher gap that `usd_per_order` closes
    (hours bought = usd x the region-hour's scope orders / hourly pay; 1 with no gap)."""
    restoring = per_order["restoring_usd"].fillna(0.0).to_numpy(float)
    with np.errstate(divide="ignore"):
        return np.where(restoring > 0, np.minimum(1.0, usd_per_order / restoring), 1.0)


def _supply_cost(per_order: pd.DataFrame, usd_per_order: float | None) -> dict[str, float]:
    """Dasher hours added (a share of today's on-shift hours), the share of the on-shift gap
    they close, and the cost per order of the scope in USD: `usd_per_order` when given, else the
    pay for the hours that bring each region-hour back to the baseline's mean on-shift dashers
    (an upper bound when the scope is narrower than its regions: they serve other orders)."""
    pay = ASSUMPTIONS["dasher_pay_per_hour"]
    orders = per_order["orders"].to_numpy(float)
    gap_hours = per_order["gap"].fillna(0.0).to_numpy(float) / orders
    present = float((per_order["onshift"].to_numpy(float) / orders).sum())
    if usd_per_order is None:
        added, closed = gap_hours, gap_hours
    else:
        added = np.full(len(per_order), usd_per_order / pay)
        closed = np.minimum(added, gap_hours)
    return {
        "dasher_hours_added_share": float(added.sum() / present) if present else 0.0,
        "dasher_gap_closed_share": float(closed.sum() / gap_hours.sum() if gap_hours.any() else 1),
        "cost_per_delivery_usd": float(pay * added.mean())
        if usd_per_order is None
        else float(usd_per_order),
    }


def _dasher_efficiency(minutes_now: float, minutes_new: float) -> dict[str, float]:
    pay = ASSUMPTIONS["dasher_pay_per_hour"]
    return {
        "deliveries_per_dasher_hour": 60 / minutes_new - 60 / minutes_now,
        "cost_per_delivery_usd": pay * (minutes_new - minutes_now) / 60,
    }


def quote_efficiency(minutes: float) -> dict[str, float]:
    """A move's efficiency figures for `minutes` more on every quote (the conversion cost)."""
    return {
        "quoted_min": minutes,
        "order_volume_share": -ASSUMPTIONS["conversion_loss_per_quote_minute"] * minutes,
    }


def quote_shift_to_baseline(base: pd.DataFrame, w: pd.DataFrame) -> float:
    """Minutes to add to incident quotes so quote - expected duration matches the baseline's."""
    base_gap = (base["quoted_min"] - base["duration_min"]).median()
    current_gap = (w["quoted_min"] - w["duration_min"]).median()
    return float(max(0.0, base_gap - current_gap))


def _store_prep_drift(before: pd.Series, w: pd.DataFrame) -> np.ndarray:
    """Per incident order: its store's prep-time increase over the baseline (minutes, >= 0);
    `before`: the baseline's mean prep time per store (Simulator.store_prep)."""
    after = w.groupby("store_id")["prep_min"].mean()
    drift = (after - before).clip(lower=0).fillna(0)
    return w["store_id"].map(drift).fillna(0).to_numpy(float)


def _store_prep_ratio(before: pd.Series, w: pd.DataFrame) -> np.ndarray:
    """Per incident order: its store's baseline (`before`, Simulator.store_prep) over incident
    mean prep time (<= 1). A merchant fix scales each order's prep back by it: a slower workflow
    stretches long preps most."""
    after = w.groupby("store_id")["prep_min"].mean()
    ratio = (before / after).clip(upper=1.0).fillna(1.0)
    return w["store_id"].map(ratio).fillna(1.0).to_numpy(float)
