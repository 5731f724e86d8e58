"""Incidents: alarms across metrics and cohorts merged into ranked, scored incidents.

Severity (0-100) is a heuristic from the CX lost: impact = sum over the incident's periods of
(expected - observed CX score) x orders / 100 in the cohort that loses most, i.e. size (CX
points per order) x duration (periods) x breadth (orders affected), in "order-equivalents" of
a fully broken order. severity = 100 x (1 - exp(-impact / (1% of the mean daily orders))); low < 25,
medium 25-60, high >= 60.

Without a CX score (real data lacking all its parts) the incident's lead metric stands in for it:
impact = extra bad orders (share metrics: worse rate x orders) or orders x relative excess
capped at 1 (means, e.g. delivery duration 50% over its expected value counts half an order),
in the cohort that carries most of it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.alarms import COHORT_JOIN, SeriesResult
from analytics.detection import PERIOD_LENGTH, DetectorSettings
from analytics.metrics import CX_COMPONENTS, CX_SCORE, METRICS, Grain

MERGE_GAP = {"hour": dt.timedelta(hours=36), "day": dt.timedelta(days=2)}
QUIET_BEFORE_END = {"hour": dt.timedelta(hours=24), "day": dt.timedelta(days=2)}
SEVERITY_LEVELS = (("high", 60.0), ("medium", 25.0), ("low", 0.0))
SERIOUS = ("medium", "high")  # the labels worth an investigation
# What the slice finder localizes for an incident led by a metric that is not a simple share.
SLICE_METRIC = {
    CX_SCORE: "on_time_rate",
    "eta_abs_error_min": "on_time_rate",
    "duration_min": "on_time_rate",
}
# Where the data cannot support a slice metric (no promised ETA: no on-time rate), its stand-in.
SLICE_FALLBACK = {"on_time_rate": "slow_rate"}


@dataclass(frozen=True)
class Incident:
    """One incident: when, what, where, how bad."""

    incident_id: str
    grain: Grain
    start: dt.datetime
    end: dt.datetime | None  # None: ongoing at the time of reading
    detected_at: dt.datetime
    metrics: tuple[str, ...]
    cohorts: tuple[str, ...]
    primary_metric: str
    primary_cohort: str
    impact_orders: float
    severity: float
    severity_label: str
    alarm_count: int
    peak_z: float
    cx_expected: float
    cx_observed: float
    slice_fallback: bool = False  # the slice metric is unsupported by the data: use its stand-in

    @property
    def slice_metric(self) -> str:
        """The share metric whose bad events the slice finder localizes."""
        metric = _slice_metric(self.primary_metric)
        return SLICE_FALLBACK.get(metric, metric) if self.slice_fallback else metric


def _slice_metric(primary_metric: str) -> str:
    return SLICE_METRIC.get(primary_metric, primary_metric)


def severity_label(severity: float) -> str:
    for label, floor in SEVERITY_LEVELS:
        if severity >= floor:
            return label
    return "low"


def cohort_name(dimension: str, cohort: str) -> str:
    """ "all", "region=south", or for a crossed cohort "region=south,category=convenience"."""
    if dimension == "all":
        return "all"
    pairs = zip(dimension.split(COHORT_JOIN), cohort.split(COHORT_JOIN), strict=True)
    return COHORT_JOIN.join(f"{name}={value}" for name, value in pairs)


def cohort_filters(name: str) -> dict[str, str]:
    """The {dimension: value} filters a cohort name stands for ({} for "all")."""
    if name == "all":
        return {}
    return dict(pair.split("=", 1) for pair in name.split(COHORT_JOIN))


def _cx_loss(
    result: SeriesResult, start: dt.datetime, stop: dt.datetime
) -> tuple[float, float, float]:
    """(order-equivalents lost, mean expected CX, mean observed CX) over [start, stop)."""
    series = result.residuals
    window = (series.period >= start) & (series.period < stop)
    valid = window & np.isfinite(series.value) & np.isfinite(series.expected)
    if not valid.any():
        return 0.0, float("nan"), float("nan")
    orders = series.orders[valid]
    lost = float(((series.expected[valid] - series.value[valid]) * orders).sum() / 100)
    weights = orders / orders.sum()
    return (
        max(0.0, lost),
        float((series.expected[valid] * weights).sum()),
        float((series.value[valid] * weights).sum()),
    )


def build_incidents(
    results: list[SeriesResult],
    alarms: pd.DataFrame,
    grain: Grain,
    as_of: dt.datetime,
    settings: DetectorSettings | None = None,
) -> list[Incident]:
    """Merge alarms into incidents (ranked by severity, then start)."""
    settings = settings or DetectorSettings()
    if alarms.empty:
        return []
    length = PERIOD_LENGTH[grain]
    cx_series = {(r.dimension, r.cohort): r for r in results if r.metric == CX_SCORE}
    marketplace = cx_series.get(("all", "all")) or next(
        (r for r in results if (r.dimension, r.cohort) == ("all", "all")), None
    )
    daily_orders = _mean_daily_orders(marketplace, grain)
    groups: list[pd.DataFrame] = []
    ordered = alarms.sort_values("period")
    current, last = [], None
    for _, row in ordered.iterrows():
        if last is not None and row.period - last > MERGE_GAP[grain]:
            groups.append(pd.DataFrame(current))
            current = []
        current.append(row)
        last = row.period if last is None else max(last, row.period)
    groups.append(pd.DataFrame(current))

    scanned = {r.metric for r in results}  # a metric the data cannot support is not scanned
    incidents = []
    for group in groups:
        start = group.period.min().to_pydatetime()
        last_period = group.period.max().to_pydatetime()
        ongoing = as_of - group.known_at.max().to_pydatetime() < QUIET_BEFORE_END[grain]
        stop = last_period + length
        losses = {key: _cx_loss(result, start, stop) for key, result in cx_series.items()}
        if losses:
            impact = max(loss for loss, _, _ in losses.values())
            worst = _carrier(
                {key: loss for key, (loss, _, _) in losses.items()},
                {key: float(result.residuals.orders.sum()) for key, result in cx_series.items()},
            )
            _, cx_expected, cx_observed = losses[worst]
        else:  # CX itself was not scanned: the lead metric's excess stands in for its loss
            worst, impact = _lead_metric_loss(results, group, start, stop)
            cx_expected, cx_observed = float("nan"), float("nan")
        primary_metric = _leading_component(results, worst, start, stop) or _strongest_alarm(
            group, worst
        )
        severity = 100.0 * (1.0 - np.exp(-impact / max(1.0, 0.01 * daily_orders)))
        incidents.append(
            Incident(
                incident_id=f"INC-{start:%Y%m%d-%H%M}",
                grain=grain,
                start=start,
                end=None if ongoing else stop,
                detected_at=group.known_at.min().to_pydatetime(),
                metrics=tuple(sorted(set(group.metric))),
                cohorts=tuple(
                    sorted(
                        {
                            cohort_name(d, c)
                            for d, c in zip(group.dimension, group.cohort, strict=True)
                        }
                    )
                ),
                primary_metric=primary_metric,
                primary_cohort=cohort_name(*worst),
                impact_orders=round(impact, 1),
                severity=round(float(severity), 1),
                severity_label=severity_label(severity),
                alarm_count=len(group),
                peak_z=round(float(group.z.max()), 2),
                cx_expected=round(cx_expected, 2),
                cx_observed=round(cx_observed, 2),
                slice_fallback=_slice_metric(primary_metric) not in scanned,
            )
        )
    return sorted(incidents, key=lambda incident: (-incident.severity, incident.start))


def _lead_metric_loss(
    results: list[SeriesResult], group: pd.DataFrame, start: dt.datetime, stop: dt.datetime
) -> tuple[tuple[str, str], float]:
    """Without a CX score: the most specific cohort carrying most of the strongest alarm's
    metric excess over [start, stop), and that excess in order-equivalents."""
    strongest = group.loc[group.z.idxmax()]
    lead = str(strongest.metric)
    worse = -1.0 if METRICS[lead].higher_is_better else 1.0
    losses, orders = {}, {}
    for result in results:
        if result.metric != lead:
            continue
        series = result.residuals
        window = (series.period >= start) & (series.period < stop)
        valid = window & np.isfinite(series.value) & np.isfinite(series.expected)
        excess = worse * (series.value[valid] - series.expected[valid])
        if METRICS[lead].square:  # a mean: relative excess, a fully broken order at most
            with np.errstate(invalid="ignore", divide="ignore"):
                excess = np.minimum(np.nan_to_num(excess / np.abs(series.expected[valid])), 1.0)
        key = (result.dimension, result.cohort)
        losses[key] = float((excess * series.orders[valid]).sum())
        orders[key] = float(series.orders.sum())
    if not losses or max(losses.values()) <= 0:
        return (str(strongest.dimension), str(strongest.cohort)), 0.0
    return _carrier(losses, orders), max(losses.values())


def _carrier(
    losses: dict[tuple[str, str], float], orders: dict[tuple[str, str], float]
) -> tuple[str, str]:
    """The most specific cohort that carries most of the loss (the total always does). Crossed
    cohorts raise alarms but do not lead: the primary cohort is read as one dimension's filter."""
    single = {key: loss for key, loss in losses.items() if COHORT_JOIN not in key[0]}
    top = max(single.values())
    carriers = [key for key, loss in single.items() if loss >= 0.7 * top]
    return min(carriers, key=lambda key: orders[key])


def _leading_component(
    results: list[SeriesResult], cohort: tuple[str, str], start: dt.datetime, stop: dt.datetime
) -> str | None:
    """The CX component that lost the most CX points in the cohort over [start, stop)."""
    losses = {}
    for result in results:
        if result.metric not in CX_COMPONENTS or (result.dimension, result.cohort) != cohort:
            continue
        series = result.residuals
        window = (series.period >= start) & (series.period < stop)
        valid = window & np.isfinite(series.value) & np.isfinite(series.expected)
        _, slope = METRICS[result.metric].score
        weight = METRICS[result.metric].cx_weight
        lost = weight * slope * (series.expected[valid] - series.value[valid])
        losses[result.metric] = float((lost * series.orders[valid]).sum())
    if not losses or max(losses.values()) <= 0:
        return None
    return max(losses, key=lambda name: losses[name])


def _strongest_alarm(group: pd.DataFrame, cohort: tuple[str, str]) -> str:
    in_cohort = group[(group.dimension == cohort[0]) & (group.cohort == cohort[1])]
    candidates = in_cohort if not in_cohort.empty else group
    shares = candidates[candidates.metric != CX_SCORE]
    lead = shares if not shares.empty else candidates
    return str(lead.loc[lead.z.idxmax(), "metric"])


def _mean_daily_orders(result: SeriesResult | None, grain: Grain) -> float:
    if result is None:
        return 0.0
    per_day = 24 if grain == "hour" else 1
    return float(result.residuals.orders.sum() / max(1, len(result.residuals.orders) / per_day))


def metric_direction(name: str) -> str:
    """'higher' or 'lower': which way is better for a metric."""
    if name == CX_SCORE:
        return "higher"
    return "higher" if METRICS[name].higher_is_better else "lower"
