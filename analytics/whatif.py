"""What-if simulator: the effect of an action on the incident's scope, from models fitted on the
baseline days of that scope, with bootstrap 90% intervals.

Method (a structural, residual-preserving counterfactual):
1. Delivery time: a gradient-boosting model of door-to-door minutes on the drivers (batched,
   prep, distance, hour, dasher load, items, category) fitted on baseline orders. An action that
   changes drivers shifts each incident order's actual duration by the model's difference
   (its own noise is kept). Batched orders in the incident window also carry the residual they
   gained over baseline batched orders (longer detours under a looser policy), which reverting
   the policy removes.
2. Outcomes given timing, fitted on baseline orders: on-time is recomputed exactly from the new
   lateness; cancellation follows a logistic curve in predicted lateness; support contacts and
   stars follow the lateness and item issues of delivered orders.
3. Quote actions (ETA buffer, model rollback, prep-time correction) change the quote, not the
   delivery. SKU suppression hides the lines whose SKU's in-stock estimate is under a threshold:
   item accuracy and refunds are recomputed exactly without them, support contacts and stars
   through the outcome models; the hidden lines' value is lost sales.
Intervals: 90% percentile bootstrap over days (baseline refits on resampled days, incident
orders resampled by day) and the random choice of which batched orders are un-batched, widened
by a structural-error allowance (5% of the estimate, or an outcome model's miscalibration on
the incident window when larger) because a fitted model's bias is not in the bootstrap.
Second-order effects (orders no longer canceled becoming deliveries) are ignored. Efficiency
uses stated assumptions (see ASSUMPTIONS).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal

import duckdb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from analytics.cohorts import FilterValue, where_clause, world_dimensions
from analytics.metrics import METRICS
from analytics.sku_suppression import MissingTables, hidden_by_order, scope_sku_lines

if TYPE_CHECKING:  # model libraries are imported where models are fitted (a what-if), not here
    from sklearn.linear_model import LinearRegression, LogisticRegression

    from analytics.boosting import BoostedTrees

Action = Literal[
    "revert_batching",
    "eta_buffer",
    "eta_rollback",
    "prep_quote_fix",
    "merchant_prep_fix",
    "peak_pay",
    "throttle_demand",
    "inventory_rollback",
    "suppress_skus",
]
DURATION_FEATURES = (
    "batched", "prep_min", "distance_miles", "hour", "busy_share", "orders_per_dasher",
    "item_lines", "category_code",
)  # fmt: skip
# Everything known about an order even if it was canceled: predicts its lateness sharply, for
# the cancellation curve (pickup = prep + dasher wait in the data).
TIMING_FEATURES = (*DURATION_FEATURES, "dasher_wait_min")
GRACE_MIN = 5.0
# Structural-error allowance added to every interval (relative to the estimate), raised to an
# outcome model's measured miscalibration on the incident window when that is larger.
STRUCTURAL_ERROR_FLOOR = 0.05
ASSUMPTIONS = {
    "dasher_pay_per_hour": 25.0,  # USD per engaged dasher hour
    "batched_dasher_time_share": 0.6,  # a batched order costs 60% of a solo trip's dasher time
    "conversion_loss_per_quote_minute": 0.005,  # 0.5% fewer orders per extra quoted minute
    # Contribution margin of a line's value: what the marketplace loses when a hidden SKU's
    # sale is lost (customers are assumed not to buy something else instead).
    "line_contribution_margin": 0.25,
}


# Model fits and predictions run with one thread, OpenMP and BLAS alike: the gradient-boosting
# predictions are many small calls, where OpenMP's thread start-up and spinning cost more than
# they save (the batching what-if took 1.4-2.0 s with two threads and 0.75-0.86 s with one on a
# busy 2-core machine), and the logistic outcome fits are small matrix products, where two BLAS
# threads made each fit 15-20x slower (0.2-0.33 s instead of 0.01-0.02 s). Results are identical.
_single_threaded = threadpool_limits.wrap(limits=1)


class WhatIfError(ValueError):
    """A what-if that cannot be simulated (no orders, missing data, unknown action)."""


@dataclass(frozen=True)
class Interval:
    """A point estimate with its 90% bootstrap interval."""

    estimate: float
    low: float
    high: float

    def widened(self, relative: float) -> Interval:
        """The interval widened on both sides by `relative` x |estimate| (structural error)."""
        margin = abs(self.estimate) * relative
        return Interval(self.estimate, self.low - margin, self.high + margin)

    @classmethod
    def of(cls, draws: np.ndarray, point: float) -> Interval:
        finite = draws[np.isfinite(draws)]
        if not len(finite):
            return cls(point, point, point)
        low, high = np.quantile(finite, [0.05, 0.95])
        return cls(float(point), float(min(low, point)), float(max(high, point)))


@dataclass(frozen=True)
class WhatIfResult:
    """Change of each metric (absolute, in metric units) if the action had been in place."""

    action: str
    parameters: dict[str, float]
    orders: int
    observed: dict[str, float]
    deltas: dict[str, Interval]
    efficiency: dict[str, Interval]
    assumptions: tuple[str, ...] = field(default_factory=tuple)


_ORDER_COLUMNS = (
    "order_id, store_id, region, category, hour, hour_start, order_time, delivered, canceled, "
    "CAST(batched AS INTEGER) AS batched, prep_min, dasher_wait_min, distance_miles, quoted_min, "
    "duration_min, eta_error_min, CAST(on_time AS INTEGER) AS on_time, "
    "CAST(support_contact AS INTEGER) AS support_contact, stars, "
    "CAST(refunded AS INTEGER) AS refunded, item_lines, substituted_lines, missing_lines, "
    "basket_value, busy_dashers / nullif(onshift_dashers, 0) AS busy_share, "
    "outstanding_orders / nullif(onshift_dashers, 0) AS orders_per_dasher, onshift_dashers"
)


def scope_orders(
    con: duckdb.DuckDBPyConnection,
    filters: Mapping[str, FilterValue],
    baseline: tuple[dt.datetime, dt.datetime],
    incident: tuple[dt.datetime, dt.datetime],
) -> pd.DataFrame:
    """Orders of the scope in the baseline and incident windows, with a `window` label."""
    condition, parameters = where_clause(filters, world_dimensions(con))
    frame = con.execute(
        f"SELECT CASE WHEN order_time >= ? THEN 'incident' ELSE 'baseline' END AS window, "
        f"{_ORDER_COLUMNS} FROM order_facts WHERE {condition} AND "
        "((order_time >= ? AND order_time < ?) OR (order_time >= ? AND order_time < ?)) "
        # A fixed row order: the bootstrap draws days and rows by position, and DuckDB's
        # parallel scan returns rows in an order that changes from run to run.
        "ORDER BY order_id",
        [incident[0], *parameters, *baseline, *incident],
    ).df()
    frame["category_code"] = frame["category"].astype("category").cat.codes
    for column in ("busy_share", "orders_per_dasher", "prep_min", "distance_miles", "item_lines"):
        if column in frame and frame[column].isna().all():
            frame[column] = 0.0
    return frame


@dataclass
class _Fitted:
    """Models fitted on one bootstrap sample of the baseline."""

    duration: BoostedTrees
    timing: BoostedTrees
    cancel: LogisticRegression
    support: LogisticRegression
    stars: _Stars
    batched_residual: float  # mean duration residual of batched baseline orders
    ticket_if_canceled: float  # baseline support-contact rate of canceled minus delivered orders


class _Stars:
    """Linear stars model whose predictions stay on the 1-5 scale."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> _Stars:  # noqa: N803 (scikit-learn's name)
        from sklearn.linear_model import LinearRegression

        self.linear: LinearRegression = LinearRegression().fit(X, y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        return np.clip(self.linear.predict(X), 1.0, 5.0)


def _lateness_basis(lateness: np.ndarray) -> np.ndarray:
    """Piecewise-linear basis of lateness (minutes) for the outcome curves."""
    late = np.asarray(lateness, dtype=float)
    return np.column_stack(
        [late, np.maximum(late - GRACE_MIN, 0), np.maximum(late - 15, 0), np.maximum(late - 25, 0)]
    )


def _outcome_basis(lateness: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
    issues = np.column_stack(
        [
            (frame["missing_lines"].fillna(0).to_numpy() > 0).astype(float),
            (frame["substituted_lines"].fillna(0).to_numpy() > 0).astype(float),
        ]
    )
    return np.column_stack([_lateness_basis(lateness), issues])


def _time_to_pickup(frame: pd.DataFrame) -> np.ndarray:
    """Prep time plus the wait for a dasher (minutes): the part of an order's time that the
    timing model takes as given, so it extrapolates to waits the baseline never saw."""
    return (frame["prep_min"].fillna(0) + frame["dasher_wait_min"].fillna(0)).to_numpy(float)


def _predicted_lateness(
    timing: BoostedTrees, frame: pd.DataFrame, rest: np.ndarray | None = None
) -> np.ndarray:
    """Predicted minutes late of each order; `rest` is the timing model's prediction for the
    rows when it is known already (see Simulator.predicted)."""
    if rest is None:
        rest = timing.predict(_features(frame, TIMING_FEATURES))  # minutes after pickup
    return rest + _time_to_pickup(frame) - frame["quoted_min"].fillna(0).to_numpy(float)


def _features(frame: pd.DataFrame, names: tuple[str, ...]) -> np.ndarray:
    return frame[list(names)].fillna(0).to_numpy(float)


class _Days:
    """The rows of each day of a frame, found once: a bootstrap resamples whole days with
    replacement (orders of a day share supply and demand shocks)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        days = frame["order_time"].dt.floor("D")
        self.days = days.unique()
        positions = frame.groupby(days).indices
        self.rows = [positions[day] for day in self.days]

    def resample(self, rng: np.random.Generator) -> np.ndarray:
        """Row positions of a resample of whole days, in the order the days were drawn."""
        chosen = rng.choice(len(self.days), size=len(self.days), replace=True)
        return np.concatenate([self.rows[day] for day in chosen])


def _subsample(positions: np.ndarray, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    """At most `max_rows` of `positions`, drawn without replacement (as DataFrame.sample draws
    rows, seeded from `rng`)."""
    drawn = pd.Series(positions).sample(
        n=min(len(positions), max_rows), replace=False, random_state=int(rng.integers(2**31))
    )
    return drawn.to_numpy()


# The columns _fit reads.
_FIT_COLUMNS = (
    *TIMING_FEATURES, "delivered", "duration_min", "quoted_min", "canceled", "support_contact",
    "eta_error_min", "missing_lines", "substituted_lines", "stars",
)  # fmt: skip


def _fit(
    baseline: pd.DataFrame,
    incident: pd.DataFrame,
    days: tuple[_Days, _Days],
    rng: np.random.Generator,
    max_rows: int = 6000,
) -> tuple[_Fitted, np.ndarray]:
    """Timing models on resampled baseline days (how orders move when nothing is wrong); the
    customer's response to timing and item issues (cancellations, tickets, stars) on baseline
    and incident days pooled, so the curves are known over the lateness the incident reached.
    Assumption: a cause acts on customers only through timing and item issues. `days` are the
    baseline's and the incident's (_Days). Returns the fit and its timing model's prediction for
    every incident order (the resampled incident rows take theirs from it: a gradient-boosting
    prediction of a row does not depend on the other rows)."""
    from sklearn.linear_model import LogisticRegression

    from analytics.boosting import BoostedTrees, BoostingParameters, bin_features

    trees = BoostingParameters(max_iter=60, max_depth=6)  # scikit-learn's defaults otherwise
    baseline_days, incident_days = days
    sample = baseline.iloc[_subsample(baseline_days.resample(rng), max_rows, rng)]
    trained = (sample["delivered"] & sample["duration_min"].notna()).to_numpy()
    delivered = sample[trained]
    durations = delivered["duration_min"].to_numpy(float)
    # The timing model's features are the duration model's and one more, on the same rows: one
    # binning serves both (a feature's bins do not depend on the other features).
    timing_features = _features(delivered, TIMING_FEATURES)
    binned = bin_features(timing_features)
    duration = BoostedTrees("squared_error", trees).fit(
        timing_features[:, : len(DURATION_FEATURES)],
        durations,
        binned=binned.first(len(DURATION_FEATURES)),
    )
    batched = delivered["batched"].fillna(0).to_numpy() > 0
    batched_residual = 0.0  # mean duration residual of batched orders (the only ones predicted)
    if batched.any():
        batched_residual = float((durations[batched] - duration.fitted_prediction[batched]).mean())
    timing = BoostedTrees("squared_error", trees).fit(
        timing_features,
        durations - _time_to_pickup(delivered),
        binned=binned,
    )
    timing_incident = timing.predict(_features(incident, TIMING_FEATURES))
    recent_rows = _subsample(incident_days.resample(rng), max_rows, rng)
    pooled = pd.concat([sample, incident.iloc[recent_rows]], ignore_index=True)
    timing_sample = np.empty(len(sample))  # the delivered rows' are the fit's own
    timing_sample[trained] = timing.fitted_prediction
    timing_sample[~trained] = timing.predict(_features(sample[~trained], TIMING_FEATURES))
    timing_pooled = np.concatenate([timing_sample, timing_incident[recent_rows]])
    outcomes = pooled[pooled["delivered"] & pooled["duration_min"].notna()]
    cancel = LogisticRegression(max_iter=1000).fit(
        _lateness_basis(_predicted_lateness(timing, pooled, timing_pooled)),
        pooled["canceled"].astype(int).to_numpy(),
    )
    support = LogisticRegression(max_iter=1000).fit(
        _outcome_basis(outcomes["eta_error_min"].to_numpy(float), outcomes),
        outcomes["support_contact"].fillna(0).astype(int).to_numpy(),
    )
    rated = outcomes[outcomes["stars"].notna()]
    stars = _Stars().fit(
        _outcome_basis(rated["eta_error_min"].to_numpy(float), rated),
        rated["stars"].to_numpy(float),
    )
    fitted = _Fitted(
        duration=duration,
        timing=timing,
        cancel=cancel,
        support=support,
        stars=stars,
        batched_residual=batched_residual,
        ticket_if_canceled=float(
            pooled.loc[pooled["canceled"], "support_contact"].mean()
            - pooled.loc[pooled["delivered"], "support_contact"].mean()
        )
        if pooled["canceled"].any()
        else 0.0,
    )
    return fitted, timing_incident


@dataclass
class Simulator:
    """Baseline-fitted models for one scope, reused by every action."""

    frame: pd.DataFrame
    fits: list[_Fitted]
    seed: int = 0
    filters: Mapping[str, FilterValue] = field(default_factory=dict)
    windows: tuple[tuple[dt.datetime, dt.datetime], tuple[dt.datetime, dt.datetime]] | None = None
    # The incident orders' item lines with in-stock estimates (suppress_skus), see with_sku_lines.
    sku_lines: pd.DataFrame | None = None
    # Each fit's duration and timing models on every incident order (see predicted).
    _predictions: dict[tuple[int, str], np.ndarray] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    @_single_threaded
    def build(
        cls,
        con: duckdb.DuckDBPyConnection,
        filters: Mapping[str, FilterValue],
        baseline: tuple[dt.datetime, dt.datetime],
        incident: tuple[dt.datetime, dt.datetime],
        replicates: int = 8,
        seed: int = 0,
    ) -> Simulator:
        frame = scope_orders(con, filters, baseline, incident)
        windows = frame["window"].value_counts()
        if windows.get("incident", 0) < 50 or windows.get("baseline", 0) < 200:
            raise WhatIfError(
                f"too few orders to simulate (baseline {windows.get('baseline', 0)}, "
                f"incident {windows.get('incident', 0)})"
            )
        if frame["duration_min"].notna().sum() == 0 or frame["quoted_min"].isna().all():
            raise WhatIfError("what-if needs delivery times and quoted ETAs")
        outcomes = {  # the outcome models need data with both classes (real data may lack it)
            "cancellations": frame["canceled"].nunique() == 2,
            "support tickets": frame["support_contact"].nunique() == 2,
            "ratings": frame["stars"].notna().any(),
        }
        if not all(outcomes.values()):
            lacking = ", ".join(name for name, present in outcomes.items() if not present)
            raise WhatIfError(f"what-if needs {lacking} in the data")
        rng = np.random.default_rng(seed)
        simulator = cls(frame, [], seed, filters, windows=(baseline, incident))
        days = (_Days(simulator.baseline), simulator.incident_days)
        # The fits read these columns only: resampling the others (order ids, store and region
        # names) would copy strings for nothing.
        columns = list(_FIT_COLUMNS)
        fit_baseline, fit_incident = simulator.baseline[columns], simulator.incident[columns]
        for index in range(replicates):
            fitted, timing = _fit(fit_baseline, fit_incident, days, rng)
            simulator.fits.append(fitted)
            simulator._predictions[(index, "timing")] = timing
        return simulator

    def with_sku_lines(self, con: duckdb.DuckDBPyConnection) -> Simulator:
        """This simulator (same fits) with its incident orders' item lines and the inventory
        model's in-stock estimates, which suppress_skus needs (see sku_suppression)."""
        if self.windows is None:
            raise WhatIfError("suppress_skus needs a simulator built on a scope (Simulator.build)")
        try:
            lines = scope_sku_lines(con, self.filters, *self.windows)
        except MissingTables as error:
            raise WhatIfError(f"suppress_skus needs items and inventory_events: {error}") from None
        return replace(self, sku_lines=lines)

    def predicted(self, fit: int, model: Literal["duration", "timing"]) -> np.ndarray:
        """Fit `fit`'s duration or timing model on every incident order (rows of `incident`),
        computed once (the timing model's by build): every action's bootstrap draws rows of it,
        and a gradient-boosting prediction of a row does not depend on the other rows predicted
        with it."""
        key = (fit, model)
        if key not in self._predictions:
            names = DURATION_FEATURES if model == "duration" else TIMING_FEATURES
            estimator = getattr(self.fits[fit], model)
            self._predictions[key] = estimator.predict(_features(self.incident, names))
        return self._predictions[key]

    @functools.cached_property
    def incident(self) -> pd.DataFrame:
        return self.frame[self.frame["window"] == "incident"]

    @functools.cached_property
    def baseline(self) -> pd.DataFrame:
        return self.frame[self.frame["window"] == "baseline"]

    @functools.cached_property
    def store_prep(self) -> pd.Series:
        """The baseline's mean prep time per store (minutes), which the prep actions compare
        every resample of the incident with."""
        return self.baseline.groupby("store_id")["prep_min"].mean()

    @functools.cached_property
    def incident_days(self) -> _Days:
        """The incident window's rows of each day, which every action's bootstrap resamples."""
        return _Days(self.incident)

    def observed(self) -> dict[str, float]:
        """Current metric values in the scope's incident window."""
        return observed_values(self.incident)

    @staticmethod
    def observe(
        con: duckdb.DuckDBPyConnection,
        filters: Mapping[str, FilterValue],
        baseline: tuple[dt.datetime, dt.datetime],
        incident: tuple[dt.datetime, dt.datetime],
    ) -> dict[str, float]:
        """Metric values of the scope's incident window, without fitting anything."""
        frame = scope_orders(con, filters, baseline, incident)
        return observed_values(frame[frame["window"] == "incident"])


def observed_values(w: pd.DataFrame) -> dict[str, float]:
    """Metric values of a set of orders (the what-if's view of a scope and window)."""
    delivered = w[w["delivered"]]
    lines = delivered["item_lines"].sum()
    issues = (delivered["substituted_lines"] + delivered["missing_lines"]).sum()
    return {
        **_lateness_rates(delivered["eta_error_min"].to_numpy(float)),
        "cancellation_rate": float(w["canceled"].mean()),
        "support_rate": float(w["support_contact"].mean()),
        "rating": float(w["stars"].mean()),
        "refund_rate": float(w["refunded"].mean()),
        "item_accuracy": float(1 - issues / lines) if lines else float("nan"),
        "duration_min": float(delivered["duration_min"].mean()),
        "quoted_min": float(w["quoted_min"].mean()),
        "batched_rate": float(w["batched"].mean()),
        "orders": float(len(w)),
    }


def _lateness_rates(lateness: np.ndarray) -> dict[str, float]:
    """The registry's lateness rates (on-time, ...) of delivered orders with these lateness
    minutes (orders without a promised time left out)."""
    known = lateness[~np.isnan(lateness)]
    return {
        name: float(m.lateness.counts(known).mean()) if len(known) else float("nan")
        for name, m in METRICS.items()
        if m.lateness is not None
    }


def cx_from_values(values: Mapping[str, float]) -> float:
    """CX score from sub-metric values (renormalized over those present)."""
    total = weight = 0.0
    for name in ("on_time_rate", "item_accuracy", "cancellation_rate", "refund_rate",
                 "support_rate", "rating"):  # fmt: skip
        value = values.get(name)
        if value is None or not np.isfinite(value):
            continue
        intercept, slope = METRICS[name].score
        total += METRICS[name].cx_weight * (intercept + slope * value)
        weight += METRICS[name].cx_weight
    return total / weight if weight else float("nan")


def _timing_effects(
    fitted: _Fitted,
    w: pd.DataFrame,
    faster: np.ndarray,
    longer_quote: np.ndarray,
    timing_rest: np.ndarray | None = None,
) -> dict[str, float]:
    """Metric deltas when each incident order arrives `faster` minutes sooner and is quoted
    `longer_quote` minutes more (`timing_rest`: the timing model on `w`, when known)."""
    delivered = w["delivered"].to_numpy()
    lateness = w["eta_error_min"].to_numpy(float)
    new_lateness = lateness - faster - longer_quote
    lateness_moves = {
        name: float(m.lateness.counts(new_lateness[delivered]).mean())
        - float(m.lateness.counts(lateness[delivered]).mean())
        for name, m in METRICS.items()
        if m.lateness is not None
    }
    predicted_late = _predicted_lateness(fitted.timing, w, timing_rest)
    # Calibrate to the incident regime: the baseline model misses what changed (e.g. longer
    # detours); delivered orders show by how much, per batched group, and canceled orders share it.
    batched = w["batched"].fillna(0).to_numpy() > 0
    for group in (batched, ~batched):
        known = group & delivered
        if known.any():
            predicted_late[group] += np.mean(lateness[known] - predicted_late[known])
    cancel_now = fitted.cancel.predict_proba(_lateness_basis(predicted_late))[:, 1]
    cancel_new = fitted.cancel.predict_proba(
        _lateness_basis(predicted_late - faster - longer_quote)
    )[:, 1]
    # The delivered orders' columns the outcome models read (not a copy of every column).
    d = w.loc[delivered, ["missing_lines", "substituted_lines", "stars", "support_contact"]]
    support_now = fitted.support.predict_proba(_outcome_basis(lateness[delivered], d))[:, 1]
    support_new = fitted.support.predict_proba(_outcome_basis(new_lateness[delivered], d))[:, 1]
    rated = d["stars"].notna().to_numpy()
    if rated.any():
        rated_rows = d[rated]
        stars_delta = (
            fitted.stars.predict(_outcome_basis(new_lateness[delivered][rated], rated_rows))
            - fitted.stars.predict(_outcome_basis(lateness[delivered][rated], rated_rows))
        ).mean()
    else:
        stars_delta = 0.0
    share_delivered = delivered.mean()
    observed_cancel, observed_support = w["canceled"].mean(), d["support_contact"].mean()
    return {
        "_miscalibration_cancellation_rate": _relative_gap(cancel_now.mean(), observed_cancel),
        "_miscalibration_support_rate": _relative_gap(support_now.mean(), observed_support),
        **lateness_moves,
        "cancellation_rate": float((cancel_new - cancel_now).mean()),
        "support_rate": float(
            (support_new - support_now).mean() * share_delivered
            + (cancel_new - cancel_now).mean() * fitted.ticket_if_canceled
        ),
        "rating": float(stars_delta),
        "duration_min": float(-faster[delivered].mean()),
        "quoted_min": float(longer_quote.mean()),
    }


def _relative_gap(predicted: float, observed: float) -> float:
    """|predicted / observed - 1|: how far a baseline-fitted model misses the incident window."""
    return float(abs(predicted / observed - 1.0)) if observed > 0 else 0.0


def _duration_change(
    fitted: _Fitted, w: pd.DataFrame, changed: pd.DataFrame, now: np.ndarray | None = None
) -> np.ndarray:
    """Model minutes saved per order when drivers change from `w` to `changed` (`now`: the
    duration model on `w`, when known). Only the rows whose drivers changed are predicted again:
    the others' prediction is `now`'s."""
    features = _features(w, DURATION_FEATURES)
    if now is None:
        now = fitted.duration.predict(features)
    changed_features = _features(changed, DURATION_FEATURES)
    moved = (changed_features != features).any(axis=1)
    then = now.copy()
    if moved.any():
        then[moved] = fitted.duration.predict(changed_features[moved])
    return now - then


@_single_threaded
def simulate(simulator: Simulator, action: Action, **parameters: float) -> WhatIfResult:
    """Simulate `action` on the scope's incident window (see the module docstring)."""
    rng = np.random.default_rng(simulator.seed + 1)
    base, full = simulator.baseline, simulator.incident
    observed = simulator.observed()
    draws: list[dict[str, float]] = []
    efficiency_draws: list[dict[str, float]] = []
    notes: list[str] = []
    supply = _region_hour_supply(base, full) if action == "peak_pay" else None
    if supply is None and action == "peak_pay" and "usd_per_order" in parameters:
        raise WhatIfError("peak pay per order needs on-shift dasher counts (dasher_supply)")
    hidden = None
    if action == "suppress_skus":
        parameters = {"threshold": 0.5, **parameters}
        hidden = _hidden_lines(simulator, parameters["threshold"])
        unchecked = hidden["unchecked_lines"].sum() / hidden["lines"].sum()
        notes.append(
            f"{unchecked:.0%} of the scope's lines have no in-stock estimate (their SKU was never "
            "checked at their store) and are kept"
        )
    for index, fitted in enumerate(simulator.fits):
        positions = simulator.incident_days.resample(rng)
        w = full.iloc[positions].reset_index(drop=True)
        duration_now = simulator.predicted(index, "duration")[positions]
        timing_rest = simulator.predicted(index, "timing")[positions]
        faster = np.zeros(len(w))
        longer_quote = np.zeros(len(w))
        efficiency: dict[str, float] = {}
        if action == "revert_batching":
            target = parameters.get("target_share", float(base["batched"].mean()))
            current = max(float(w["batched"].mean()), 1e-9)
            keep = min(1.0, target / current)
            batched = w["batched"].to_numpy() > 0
            unbatch = batched & (rng.random(len(w)) > keep)
            changed = w.copy()
            changed.loc[unbatch, "batched"] = 0
            residual = w["duration_min"].to_numpy(float) - duration_now
            delivered_batched = batched & w["delivered"].to_numpy()
            extra = max(0.0, np.nanmean(residual[delivered_batched]) - fitted.batched_residual)
            # The longer detours shrink as far as the threshold goes back (linear in the share).
            old_share = float(base["batched"].mean())
            reverted = (current - target) / (current - old_share) if current > old_share else 1.0
            extra *= min(1.0, max(0.0, reverted))
            faster = _duration_change(fitted, w, changed, duration_now) + np.where(
                batched, extra, 0.0
            )
            solo_minutes = float(w.loc[~batched & w["delivered"], "duration_min"].mean())
            share = ASSUMPTIONS["batched_dasher_time_share"]
            minutes_now = solo_minutes * (1 - (1 - share) * batched.mean())
            minutes_new = solo_minutes * (1 - (1 - share) * (batched & ~unbatch).mean())
            efficiency = _dasher_efficiency(minutes_now, minutes_new)
            parameters = {**parameters, "target_share": target}
        elif action == "eta_buffer":
            minutes = parameters.get("minutes", 5.0)
            longer_quote = np.full(len(w), minutes)
            efficiency = _quote_efficiency(minutes)
        elif action == "eta_rollback":
            shift = _quote_shift_to_baseline(base, w)
            longer_quote = np.full(len(w), shift)
            efficiency = _quote_efficiency(shift)
            parameters = {**parameters, "quote_minutes_added": shift}
        elif action == "prep_quote_fix":
            drift = _store_prep_drift(simulator.store_prep, w)
            longer_quote = drift
            efficiency = _quote_efficiency(float(drift.mean()))
            parameters = {**parameters, "mean_quote_minutes_added": float(drift.mean())}
        elif action == "merchant_prep_fix":
            changed = w.copy()
            changed["prep_min"] = w["prep_min"] * _store_prep_ratio(simulator.store_prep, w)
            faster = np.maximum(_duration_change(fitted, w, changed, duration_now), 0.0)
        elif action == "inventory_rollback":
            faster = np.zeros(len(w))
        elif action == "peak_pay":
            faster = _restored_dasher_wait(base, w)
            pay = parameters.get("usd_per_order")
            if supply is not None:
                per_order = _per_order(supply, w)
                if pay is not None:
                    faster = faster * _gap_closed(per_order, pay)
                efficiency = _supply_cost(per_order, pay)
        elif action == "suppress_skus":
            faster = np.zeros(len(w))  # timings are untouched; item effects below
        elif action == "throttle_demand":
            changed = w.copy()
            share = parameters.get("share", 0.15)
            changed["orders_per_dasher"] = w["orders_per_dasher"] * (1 - share)
            changed["busy_share"] = np.minimum(1.0, w["busy_share"] * (1 - share))
            efficiency = {"order_volume_share": -share}
            parameters = {**parameters, "share": share}
            faster = np.maximum(_duration_change(fitted, w, changed, duration_now), 0.0)
        else:
            raise WhatIfError(f"unknown action {action!r}")
        effects = _timing_effects(fitted, w, faster, longer_quote, timing_rest)
        if action == "inventory_rollback":
            effects.update(_inventory_rollback(fitted, base, w))
        if hidden is not None:
            per_order = hidden.reindex(w["order_id"].to_numpy())
            effects.update(_suppressed_skus(fitted, w, per_order))
            efficiency = _suppression_efficiency(per_order)
        draws.append(effects)
        efficiency_draws.append(efficiency)
    deltas = {name: [d[name] for d in draws] for name in draws[0]} if draws else {}
    point = {name: float(np.median(values)) for name, values in deltas.items()}
    allowance = {
        name: max(STRUCTURAL_ERROR_FLOOR, point.pop(f"_miscalibration_{name}", 0.0))
        for name in deltas
        if not name.startswith("_")
    }
    result_deltas = {
        name: Interval.of(np.asarray(values), point[name]).widened(allowance[name])
        for name, values in deltas.items()
        if not name.startswith("_")
    }
    cx_now = cx_from_values(observed)
    cx_draws = np.array(
        [cx_from_values({k: observed[k] + d.get(k, 0.0) for k in observed}) - cx_now for d in draws]
    )
    cx_point = cx_from_values({k: observed[k] + point.get(k, 0.0) for k in observed}) - cx_now
    cx_allowance = sum(
        abs(METRICS[name].cx_weight * METRICS[name].score[1] * point[name]) * allowance[name]
        for name in point
        if name in METRICS and METRICS[name].cx_weight
    )
    result_deltas["cx_score"] = Interval.of(cx_draws, cx_point).widened(
        cx_allowance / abs(cx_point) if cx_point else 0.0
    )
    efficiency_keys = efficiency_draws[0].keys() if efficiency_draws else []
    result_efficiency = {
        key: Interval.of(
            np.asarray([e[key] for e in efficiency_draws]),
            float(np.median([e[key] for e in efficiency_draws])),
        )
        for key in efficiency_keys
    }
    return WhatIfResult(
        action=action,
        parameters={k: float(v) for k, v in parameters.items()},
        orders=int(len(full)),
        observed=observed,
        deltas=result_deltas,
        efficiency=result_efficiency,
        assumptions=tuple(notes) + _assumption_notes(action, parameters),
    )


def _inventory_rollback(fitted: _Fitted, base: pd.DataFrame, w: pd.DataFrame) -> dict[str, float]:
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
    basis_now = _outcome_basis(lateness, delivered)
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


def _suppressed_skus(fitted: _Fitted, w: pd.DataFrame, hidden: pd.DataFrame) -> dict[str, float]:
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
    basis_now = _outcome_basis(lateness, d)
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


def _quote_efficiency(minutes: float) -> dict[str, float]:
    return {
        "quoted_min": minutes,
        "order_volume_share": -ASSUMPTIONS["conversion_loss_per_quote_minute"] * minutes,
    }


def _quote_shift_to_baseline(base: pd.DataFrame, w: pd.DataFrame) -> float:
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


def _assumption_notes(action: str, parameters: Mapping[str, float]) -> tuple[str, ...]:
    pay = ASSUMPTIONS["dasher_pay_per_hour"]
    if action == "peak_pay" and "usd_per_order" in parameters:
        return (
            f"${parameters['usd_per_order']:.2f} per order buys dasher hours at ${pay:.0f}/hour "
            "in each region-hour of the scope; the wait for a dasher moves toward the baseline's "
            "in proportion to the share of the on-shift-dasher gap those hours close (heuristic)",
        )
    notes = {
        "revert_batching": (
            f"a batched order costs {ASSUMPTIONS['batched_dasher_time_share']:.0%} of a solo "
            f"trip's dasher time; dashers cost ${ASSUMPTIONS['dasher_pay_per_hour']:.0f}/hour",
        ),
        "eta_buffer": (
            f"each quoted minute costs {ASSUMPTIONS['conversion_loss_per_quote_minute']:.1%} "
            "of orders (conversion assumption)",
        ),
        "eta_rollback": ("the old model's quotes sit as far above delivery times as before",),
        "prep_quote_fix": ("quotes absorb each store's measured prep-time increase",),
        "peak_pay": (
            "incentives bring on-shift dashers, and so the wait for a dasher, back to the "
            "baseline for the same hour (heuristic); "
            f"added dasher hours cost ${ASSUMPTIONS['dasher_pay_per_hour']:.0f}/hour, charged "
            "to the scope's orders",
        ),
        "throttle_demand": ("the orders turned away (narrower radius) are lost volume",),
        "merchant_prep_fix": ("stores return to their baseline prep times (a merchant fix)",),
        "inventory_rollback": (
            "item issues return to each store's baseline rate; refunds follow issues",
        ),
        "suppress_skus": (
            "hidden lines' substitutions, missing items and refunds disappear; their sales are "
            f"lost at a {ASSUMPTIONS['line_contribution_margin']:.0%} contribution margin",
        ),
    }
    return notes.get(action, ())
