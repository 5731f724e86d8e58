"""The what-if's simulator: models of delivery timing and customer outcomes fitted on a scope's
baseline days, and the metric changes when incident orders arrive sooner or are quoted longer
(the method is in analytics/whatif.py's docstring; the actions are in analytics/whatif_actions.py).
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
from analytics.sampling import WindowSample, sampled_predicate, window_samples
from analytics.sku_suppression import MissingTables, scope_sku_lines

if TYPE_CHECKING:  # model libraries are imported where models are fitted (a what-if), not here
    from sklearn.linear_model import LinearRegression, LogisticRegression

    from analytics.boosting import BoostedTrees

DURATION_FEATURES = (
    "batched", "prep_min", "distance_miles", "hour", "busy_share", "orders_per_dasher",
    "item_lines", "category_code",
)  # fmt: skip
# Everything known about an order even if it was canceled: predicts its lateness sharply, for
# the cancellation curve (pickup = prep + dasher wait in the data).
TIMING_FEATURES = (*DURATION_FEATURES, "dasher_wait_min")
GRACE_MIN = 5.0


# Model fits and predictions run with one thread, OpenMP and BLAS alike: the gradient-boosting
# predictions are many small calls, where OpenMP's thread start-up and spinning cost more than
# they save (the batching what-if took 1.4-2.0 s with two threads and 0.75-0.86 s with one on a
# busy 2-core machine), and the logistic outcome fits are small matrix products, where two BLAS
# threads made each fit 15-20x slower (0.2-0.33 s instead of 0.01-0.02 s). Results are identical.
single_threaded = threadpool_limits.wrap(limits=1)


class WhatIfError(ValueError):
    """A what-if that cannot be simulated (no orders, missing data, unknown action)."""


_ORDER_COLUMNS = (
    "order_id, store_id, region, category, hour, hour_start, order_time, delivered, canceled, "
    "CAST(batched AS INTEGER) AS batched, prep_min, dasher_wait_min, distance_miles, quoted_min, "
    "duration_min, eta_error_min, CAST(on_time AS INTEGER) AS on_time, "
    "CAST(support_contact AS INTEGER) AS support_contact, stars, "
    "CAST(refunded AS INTEGER) AS refunded, item_lines, substituted_lines, missing_lines, "
    "basket_value, busy_dashers / nullif(onshift_dashers, 0) AS busy_share, "
    "outstanding_orders / nullif(onshift_dashers, 0) AS orders_per_dasher, onshift_dashers"
)

# Orders per window read out of the engine (a sample beyond): every order of a scope up to
# hundreds of thousands, a bounded sample of a whole marketplace at warehouse scale.
MAX_ROWS_PER_WINDOW = 500_000


def scope_orders(
    con: duckdb.DuckDBPyConnection,
    filters: Mapping[str, FilterValue],
    baseline: tuple[dt.datetime, dt.datetime],
    incident: tuple[dt.datetime, dt.datetime],
    cap: int | None = None,
) -> tuple[pd.DataFrame, tuple[WindowSample, WindowSample]]:
    """Orders of the scope in the baseline and incident windows, with a `window` label: a
    sample drawn in the engine of at most about `cap` orders per window; and the samples."""
    condition, parameters = where_clause(filters, world_dimensions(con))
    samples = window_samples(
        con, condition, parameters, (baseline, incident), cap or MAX_ROWS_PER_WINDOW
    )
    sampled, sample_parameters = sampled_predicate(samples)
    frame = con.execute(
        f"SELECT CASE WHEN order_time >= ? THEN 'incident' ELSE 'baseline' END AS window, "
        f"{_ORDER_COLUMNS} FROM order_facts WHERE {condition} AND "
        "((order_time >= ? AND order_time < ?) OR (order_time >= ? AND order_time < ?)) "
        f"AND {sampled} "
        # A fixed row order: the bootstrap draws days and rows by position, and DuckDB's
        # parallel scan returns rows in an order that changes from run to run.
        "ORDER BY order_id",
        [incident[0], *parameters, *baseline, *incident, *sample_parameters],
    ).df()
    frame["category_code"] = frame["category"].astype("category").cat.codes
    for column in ("busy_share", "orders_per_dasher", "prep_min", "distance_miles", "item_lines"):
        if column in frame and frame[column].isna().all():
            frame[column] = 0.0
    return frame, (samples[0], samples[1])


@dataclass
class Fitted:
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


def outcome_basis(lateness: np.ndarray, frame: pd.DataFrame) -> np.ndarray:
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
) -> tuple[Fitted, np.ndarray]:
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
        outcome_basis(outcomes["eta_error_min"].to_numpy(float), outcomes),
        outcomes["support_contact"].fillna(0).astype(int).to_numpy(),
    )
    rated = outcomes[outcomes["stars"].notna()]
    stars = _Stars().fit(
        outcome_basis(rated["eta_error_min"].to_numpy(float), rated),
        rated["stars"].to_numpy(float),
    )
    fitted = Fitted(
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
    fits: list[Fitted]
    seed: int = 0
    filters: Mapping[str, FilterValue] = field(default_factory=dict)
    windows: tuple[tuple[dt.datetime, dt.datetime], tuple[dt.datetime, dt.datetime]] | None = None
    # The incident orders' item lines with in-stock estimates (suppress_skus), see with_sku_lines.
    sku_lines: pd.DataFrame | None = None
    # The baseline's and the incident's orders and how many of them `frame` holds (a sample
    # drawn in the engine beyond MAX_ROWS_PER_WINDOW); empty for a frame given directly.
    samples: tuple[WindowSample, ...] = ()
    # Each fit's duration and timing models on every incident order (see predicted).
    _predictions: dict[tuple[int, str], np.ndarray] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    @single_threaded
    def build(
        cls,
        con: duckdb.DuckDBPyConnection,
        filters: Mapping[str, FilterValue],
        baseline: tuple[dt.datetime, dt.datetime],
        incident: tuple[dt.datetime, dt.datetime],
        replicates: int = 8,
        seed: int = 0,
    ) -> Simulator:
        frame, samples = scope_orders(con, filters, baseline, incident)
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
        simulator = cls(frame, [], seed, filters, windows=(baseline, incident), samples=samples)
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
            lines = scope_sku_lines(con, self.filters, *self.windows, samples=self.samples)
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
        frame, _ = scope_orders(con, filters, baseline, incident)
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


def timing_effects(
    fitted: Fitted,
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
    support_now = fitted.support.predict_proba(outcome_basis(lateness[delivered], d))[:, 1]
    support_new = fitted.support.predict_proba(outcome_basis(new_lateness[delivered], d))[:, 1]
    rated = d["stars"].notna().to_numpy()
    if rated.any():
        rated_rows = d[rated]
        stars_delta = (
            fitted.stars.predict(outcome_basis(new_lateness[delivered][rated], rated_rows))
            - fitted.stars.predict(outcome_basis(lateness[delivered][rated], rated_rows))
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


def duration_change(
    fitted: Fitted, w: pd.DataFrame, changed: pd.DataFrame, now: np.ndarray | None = None
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
