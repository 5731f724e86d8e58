"""Incidents: alarms across metrics and cohorts merged into ranked, scored incidents.

Alarms merge when they are on the same metric in nested cohorts ("region=south" holds
"region=south,category=convenience"; "all" holds every cohort) at most MERGE_GAP apart, or on any
metrics in overlapping cohorts (no dimension set to two different values: "region=south"
overlaps "category=convenience", not "region=west,category=retail") at most NEAR_GAP apart,
so noise in one corner does not join an incident in another, nor pull its start back by a day.
An incident ends where its primary metric recovers to the level expected when it began (see
`_recovered_end`), so a drop that lasts weeks stays one open incident even after the seasonal
baseline has learned it and the alarms stop.

Severity (0-100) is a heuristic in one unit for every metric, order-equivalents of a fully
broken order (a heuristic scale): impact = sum over the incident's periods of (expected -
observed CX score) x orders / 100 in the cohort that loses most (size x duration x breadth);
and, so that a metric the CX score cannot see (delivery duration or ETA error on data with no
on-time rate) weighs the same, at least the primary metric's own loss: extra bad orders for
a share, orders x relative excess capped at 1 for a mean (a delivery 50% slower than expected
counts half an order), times the CX weight of the component it is or stands in for.
severity = 100 x (1 - exp(-impact / scale)), scale = 1% of the mean daily orders but at least
MIN_SEVERITY_SCALE order-equivalents (so in a marketplace of a few hundred orders a day, where
one region's bad day loses a few orders by chance, that is not an incident worth a page);
low < 25, medium 25-60, high >= 60.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analytics.alarms import (
    COHORT_JOIN,
    CORROBORATION_JOIN,
    JUDGED_SHARE,
    SINGLE_PERIOD,
    SeriesResult,
)
from analytics.detection import PERIOD_LENGTH, WINDOW_NAMES, ZSCORE, DetectorSettings
from analytics.metrics import CX_COMPONENTS, CX_SCORE, METRICS, Grain, higher_is_better

MERGE_GAP = {"hour": dt.timedelta(hours=36), "day": dt.timedelta(days=2)}
CROSSED_GAP = {"hour": dt.timedelta(hours=3), "day": dt.timedelta(days=1)}
# Alarms of one crossed cohort and metric that read this many periods bad on their own (enough
# detector votes, or corroborated) are a run, not a lone noise alarm: the run merges over
# MERGE_GAP like a single cohort's.
PERSISTENT_RUN = 6
# Alarms of other metrics, or in cohorts that merely overlap, join within this gap: an incident's
# metrics and cohorts move within hours of each other. By day the merge gap (a low-volume
# marketplace's days are each one reading of every metric).
NEAR_GAP = {"hour": dt.timedelta(hours=3), "day": dt.timedelta(days=2)}
QUIET_BEFORE_END = {"hour": dt.timedelta(hours=24), "day": dt.timedelta(days=2)}
MIN_SEVERITY_SCALE = 30.0  # order-equivalents; a heuristic floor, binding below 3,000 orders/day
RECOVERED_SHARE = 0.5  # back within half of the incident's gap to the level before it
RECOVERED_Z = 2.0  # ... or within 2 sds of the reading's noise in the week before, if more
SEVERITY_LEVELS = (("high", 60.0), ("medium", 25.0), ("low", 0.0))
SERIOUS = ("medium", "high")  # the labels worth an investigation
# What the slice finder localizes for an incident led by a metric that is not a simple share.
SLICE_METRIC = {
    CX_SCORE: "on_time_rate",
    "eta_abs_error_min": "on_time_rate",
    "duration_min": "on_time_rate",
}
# Where the data cannot support a slice metric (no promised ETA: no on-time rate), its stand-in.
SLICE_FALLBACK = {
    name: next(m for m in metric.stand_in if not METRICS[m].square)  # a share: slices need one
    for name, metric in METRICS.items()
    if metric.stand_in
}


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


def severity_of(impact: float, daily_orders: float) -> float:
    """Severity 0-100 of a loss of `impact` order-equivalents in a marketplace of
    `daily_orders` a day (the module docstring's formula)."""
    return float(100.0 * (1.0 - np.exp(-impact / max(MIN_SEVERITY_SCALE, 0.01 * daily_orders))))


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


def cohort_slice(name: str) -> dict[str, list[str | int]]:
    """A cohort name as a slice's filters: "region=east" -> {"region": ["east"]}; "all" -> {}."""
    return {dimension: [value] for dimension, value in cohort_filters(name).items()}


def _cx_loss(
    result: SeriesResult, start: dt.datetime, stop: dt.datetime, grain: Grain = "hour"
) -> tuple[float, float, float]:
    """(order-equivalents lost, mean expected CX, mean observed CX) over [start, stop). Hourly,
    from the hours; daily (a low-volume marketplace, whose days often lack a verdict on a part
    of the CX score), from the day or trailing-window reading that shows most loss, a window's
    overlapping sums divided by its length."""
    best = (0.0, float("nan"), float("nan"))
    readings = [(1, result.residuals)]
    if grain == "day":
        readings += sorted(result.windows.items())
    for window, series in readings:
        inside = (series.period >= start) & (series.period < stop)
        valid = inside & np.isfinite(series.value) & np.isfinite(series.expected)
        if not valid.any():
            continue
        orders = series.orders[valid]
        gap = series.expected[valid] - series.value[valid]
        lost = max(0.0, float((gap * orders).sum() / 100 / window))
        weights = orders / orders.sum()
        if lost > best[0] or not np.isfinite(best[1]):
            best = (
                lost,
                float((series.expected[valid] * weights).sum()),
                float((series.value[valid] * weights).sum()),
            )
    return best


def overlapping(first: str, second: str) -> bool:
    """Whether two cohort names can hold the same orders (no dimension with two values)."""
    a, b = cohort_filters(first), cohort_filters(second)
    return all(b.get(name, value) == value for name, value in a.items())


def nested(first: str, second: str) -> bool:
    """Whether one cohort holds the other ("region=east" holds "region=east,category=retail";
    "all" holds every cohort)."""
    a, b = cohort_filters(first), cohort_filters(second)
    return a.items() <= b.items() or b.items() <= a.items()


@dataclass(eq=False)  # groups are told apart by identity
class _Group:
    """Alarms grouped so far: their rows, and per (cohort, metric) the last alarmed period and
    how many periods were read bad on their own."""

    rows: list[int] = field(default_factory=list)
    last: dict[tuple[str, str], dt.datetime] = field(default_factory=dict)
    confirmed: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, index: int, key: tuple[str, str], period: dt.datetime, confirmed: bool) -> None:
        self.rows.append(index)
        self.last[key] = max(self.last.get(key, period), period)
        self.confirmed[key] += confirmed

    def absorb(self, other: _Group) -> None:
        self.rows.extend(other.rows)
        for key, last in other.last.items():
            self.last[key] = max(self.last.get(key, last), last)
        self.confirmed.update(other.confirmed)


def group_alarms(
    alarms: pd.DataFrame, grain: Grain, settings: DetectorSettings | None = None
) -> list[pd.DataFrame]:
    """Alarms in groups: an alarm joins every open group that holds an alarm related to it,
    merging them; otherwise it opens a group. Related: on the same metric in a cohort that
    holds or is held by its own, within MERGE_GAP of that alarm (CROSSED_GAP while the group
    holds crossed cohorts alone: there are many of them, so a lone noise alarm in one is
    likely; unless the group holds a run of PERSISTENT_RUN periods of that alarm's cohort and
    metric read bad on their own, `_single_period`); or on any metric in an overlapping
    cohort ("region=east" and "category=retail"), within NEAR_GAP of it (and that gap if
    shorter). So an incident's metrics and cohorts that move together join, a problem that
    comes back each evening stays one incident, and noise a day before in another metric or
    corner does not pull the incident's start back."""
    groups: list[_Group] = []
    ordered = alarms.sort_values(["period", "known_at"])
    confirmed = _single_period(ordered, settings or DetectorSettings())
    names = [cohort_name(d, c) for d, c in zip(ordered.dimension, ordered.cohort, strict=True)]
    near = NEAR_GAP[grain]

    def related(group: _Group, name: str, metric: str, period: dt.datetime) -> bool:
        crossed_only = all(COHORT_JOIN in other for other, _ in group.last)

        def gap(other: tuple[str, str]) -> dt.timedelta:
            run = group.confirmed[other] >= PERSISTENT_RUN
            allowed = CROSSED_GAP[grain] if crossed_only and not run else MERGE_GAP[grain]
            same = other[1] == metric and nested(name, other[0])
            return allowed if same else min(near, allowed)

        return any(
            overlapping(name, other[0]) and period - last <= gap(other)
            for other, last in group.last.items()
        )

    for position, (index, metric, period, alone) in enumerate(
        zip(ordered.index, ordered.metric, ordered.period, confirmed, strict=True)
    ):
        key = (names[position], metric)
        joined = [group for group in groups if related(group, *key, period)]
        if not joined:
            joined = [_Group()]
            groups.append(joined[0])
        for other in joined[1:]:
            joined[0].absorb(other)
            groups.remove(other)
        joined[0].add(index, key, period, bool(alone))
    return [alarms.loc[sorted(group.rows)] for group in groups]


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
    cx_series = {(r.dimension, r.cohort): r for r in results if r.metric == CX_SCORE}
    marketplace = cx_series.get(("all", "all")) or next(
        (r for r in results if (r.dimension, r.cohort) == ("all", "all")), None
    )
    daily_orders = _mean_daily_orders(marketplace, grain)
    scanned = {r.metric for r in results}  # a metric the data cannot support is not scanned
    incidents = [
        _incident(results, group, cx_series, grain, as_of, settings, daily_orders, scanned)
        for group in group_alarms(alarms, grain, settings)
    ]
    return sorted(incidents, key=lambda incident: (-incident.severity, incident.start))


def _incident(
    results: list[SeriesResult],
    group: pd.DataFrame,
    cx_series: dict[tuple[str, str], SeriesResult],
    grain: Grain,
    as_of: dt.datetime,
    settings: DetectorSettings,
    daily_orders: float,
    scanned: set[str],
) -> Incident:
    """One group of alarms as an incident: its window, primary metric and cohort, severity."""
    length = PERIOD_LENGTH[grain]
    # Only trailing windows alarmed (hourly): the incident starts where the window that first
    # read the drop began, at most the shortest window's length before its alarm.
    shortest = _shortest_window(group, grain, settings)
    lead = pd.concat([group.run_start, group.period - (shortest - 1) * length], axis=1).max(axis=1)
    start = min(group.period.min(), lead.min()).to_pydatetime()
    stop = group.period.max().to_pydatetime() + length
    cohorts = {cohort_name(d, c) for d, c in zip(group.dimension, group.cohort, strict=True)}
    # The CX series of cohorts that may hold the alarms' orders: another corner's bad hour
    # must not be named the incident's cohort.
    related = {
        key: result
        for key, result in cx_series.items()
        if any(overlapping(cohort_name(*key), cohort) for cohort in cohorts)
    } or cx_series
    losses = {key: _cx_loss(result, start, stop, grain) for key, result in related.items()}
    orders = {key: float(result.residuals.orders.sum()) for key, result in related.items()}
    if losses:
        impact = max(loss for loss, _, _ in losses.values())
        worst = _carrier({key: loss for key, (loss, _, _) in losses.items()}, orders, cohorts)
    else:  # CX itself was not scanned: the lead metric's excess stands in for its loss
        worst, impact = _lead_metric_loss(results, group, start, stop)
    primary_metric = _primary_metric(results, group, worst, start, stop)
    primary = _series(results, primary_metric, worst)
    if primary is not None:
        followed = _followed_series(results, group, primary)
        floor = _last_period_alarm(group, grain, followed, settings, shortest > 1)
        alarmed_stop, stop = stop, _recovered_end(followed, start, stop, grain, floor)
        if stop != alarmed_stop and losses:  # the losses over the window up to the recovery
            losses = {key: _cx_loss(r, start, stop, grain) for key, r in related.items()}
            # Window alarms re-read a drop for a day: the cohort that carried the loss over
            # that day may not be the one that carries it up to the recovery.
            carrier = _carrier({key: loss for key, (loss, _, _) in losses.items()}, orders, cohorts)
            if carrier != worst and losses[carrier][0] > 0:
                metric = _primary_metric(results, group, carrier, start, stop)
                series = _series(results, metric, carrier)
                if series is not None:
                    worst, primary_metric, primary = carrier, metric, series
        if _slice_metric(primary_metric) not in scanned:  # a loss the CX score cannot see
            impact = max(impact, _metric_loss(primary, start, stop))
    if losses:
        impact = max(impact, *(loss for loss, _, _ in losses.values()))
        _, cx_expected, cx_observed = losses[worst]
    else:
        cx_expected, cx_observed = float("nan"), float("nan")
    ongoing = as_of - (stop + settings.maturity) < QUIET_BEFORE_END[grain]
    severity = severity_of(impact, daily_orders)
    return Incident(
        incident_id=f"INC-{start:%Y%m%d-%H%M}",
        grain=grain,
        start=start,
        end=None if ongoing else stop,
        detected_at=group.known_at.min().to_pydatetime(),
        metrics=tuple(sorted(set(group.metric))),
        cohorts=tuple(sorted(cohorts)),
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


def _series(results: list[SeriesResult], metric: str, key: tuple[str, str]) -> SeriesResult | None:
    return next((r for r in results if r.metric == metric and (r.dimension, r.cohort) == key), None)


def _primary_metric(
    results: list[SeriesResult],
    group: pd.DataFrame,
    cohort: tuple[str, str],
    start: dt.datetime,
    stop: dt.datetime,
) -> str:
    """The metric that moved most: among the group's alarmed metrics (the CX score only when
    nothing else alarmed), the CX component that lost most CX points in the cohort, else the
    strongest alarm's metric."""
    alarmed = set(group.metric) - {CX_SCORE}
    leading = _leading_component(results, cohort, start, stop, alarmed)
    return leading or _strongest_alarm(group, cohort)


def _shortest_window(group: pd.DataFrame, grain: Grain, settings: DetectorSettings) -> int:
    """1, or for an hourly group only trailing windows alarmed in, the shortest window (in
    periods): a 6-hour window alarming at 21:00 read the hours from 16:00, so the incident may
    start there (a surge at 18:00-20:00 was dated 21:00, and its window held none of its hours)
    and lasts through that window's last alarm."""
    if grain != "hour" or _single_period(group, settings).any():
        return 1
    return min(settings.windows(grain))


def _single_period(group: pd.DataFrame, settings: DetectorSettings) -> pd.Series:
    """The alarms that read their period on its own: enough single-period detectors voted, or
    the period's own reading passed the corroborated bar (analytics/alarms.py)."""
    return (group.votes >= settings.min_votes) | _fired(group, _corroborated_period)


def _read_alone(group: pd.DataFrame) -> pd.Series:
    """The alarms whose period's own reading passed a limit: the z-score detector fired, or the
    period's reading passed the corroborated bar."""
    return _fired(group, lambda name: name == ZSCORE or _corroborated_period(name))


def _corroborated_period(detector: str) -> bool:
    """Whether a fired detector's name is the corroborated reading of the period alone."""
    reading, joined, _ = detector.partition(CORROBORATION_JOIN)
    return bool(joined) and reading == SINGLE_PERIOD


def _fired(group: pd.DataFrame, wanted: Callable[[str], bool]) -> pd.Series:
    """Per alarm, whether any detector it fired is `wanted`."""
    return group.detectors.map(lambda fired: any(map(wanted, fired.split(",")))).astype(bool)


def _followed_series(
    results: list[SeriesResult], group: pd.DataFrame, primary: SeriesResult
) -> SeriesResult:
    """The series whose recovery ends the incident: the primary metric in the primary cohort
    if it alarmed, else in the cohort where it alarmed most strongly (a drop in one region x
    category is diluted in its region's series, which may read recovered after an hour)."""
    own = group[group.metric == primary.metric]
    if own.empty or ((own.dimension == primary.dimension) & (own.cohort == primary.cohort)).any():
        return primary
    strongest = own.loc[own.z.idxmax()]
    return _series(results, primary.metric, (strongest.dimension, strongest.cohort)) or primary


def _last_period_alarm(
    group: pd.DataFrame,
    grain: Grain,
    primary: SeriesResult,
    settings: DetectorSettings,
    windows_only: bool = False,
) -> dt.datetime | None:
    """The end of the last period the incident must hold, in the primary metric: the last one
    read bad on its own (`_single_period`) in the followed series (window alarms lag); with
    `windows_only` (no such alarm in the group), the last period the shortest window alarmed on
    (it read those hours bad; longer windows re-read a drop for days), else the first a longer
    window alarmed on (its last hours tipped it over its bar). And at least the last period
    whose own reading passed a limit (`_read_alone`) in the followed cohort or one it holds (a
    surge read at 20:00 in its region, after one weak hour at 17:00, lasts past 20:00); wider
    cohorts' alarms may be another corner's noise, and EWMA and CUSUM alarms carry a drop's
    memory for hours after it."""
    metric = group[group.metric == primary.metric]
    own = metric[(metric.dimension == primary.dimension) & (metric.cohort == primary.cohort)]
    held = cohort_filters(cohort_name(primary.dimension, primary.cohort)).items()
    within = metric.dimension.combine(
        metric.cohort,
        lambda dimension, cohort: held <= cohort_filters(cohort_name(dimension, cohort)).items(),
    )
    periods = [metric.period[within & _read_alone(metric)]]
    if windows_only:
        shortest = WINDOW_NAMES[min(settings.windows(grain))]
        periods.append(own.period[own.detectors.str.contains(shortest, regex=False)])
        if periods[-1].empty:  # only longer windows alarmed: the first was tipped by its last hours
            periods.append(pd.Series([(own if not own.empty else group).period.min()]))
    else:
        periods.append(own.period[_single_period(own, settings)])
    last = pd.concat(periods)
    if last.empty:
        return None
    return last.max().to_pydatetime() + PERIOD_LENGTH[grain]


def _recovered_end(
    result: SeriesResult,
    start: dt.datetime,
    stop: dt.datetime,
    grain: Grain,
    floor: dt.datetime | None = None,
) -> dt.datetime:
    """Where the primary metric recovers, read over a day or more (a day, else the shortest
    trailing window with a verdict: single hours are too noisy to say when a metric is back).

    The level to recover to is the detector's expectation when the incident began, held fixed
    (the seasonal baseline learns a drop that lasts weeks; the incident must not end because of
    it). The incident lasts through the last period whose value is still worse than that level
    by more than RECOVERED_SHARE of the gap over its alarmed periods [start, stop) (to `floor`
    when given: later window alarms re-read the drop), until a whole window (at least a day)
    reads it recovered; past `stop` when the metric stays down.
    A gap within RECOVERED_Z sds of the reading's noise over the week before counts as
    recovered, and only a drop whose half is above that is followed past its last alarm, so
    an incident made of noise does not stretch over later noise or a later incident.
    A window of w periods that reads the drop at t says the drop reached t - w + 1, so the end
    is the last such window's first period plus one (an early rather than a late estimate), or
    `floor` (the end of the last period a single-period detector alarmed on) if later.
    `stop` when no reading has a verdict on most of [start, stop) (a heuristic rule)."""
    length = PERIOD_LENGTH[grain]
    readings = [(1, result.residuals), *sorted(result.windows.items())]
    worse = 1.0 if metric_direction(result.metric) == "lower" else -1.0
    for window, series in [(w, r) for w, r in readings if w * length >= dt.timedelta(days=1)]:
        verdict = np.isfinite(series.expected) & np.isfinite(series.value)
        judged = np.flatnonzero((series.period >= start) & verdict)
        during = (series.period >= start) & (series.period < stop)
        if judged.size == 0 or verdict[during].mean() < JUDGED_SHARE:
            continue
        level = series.expected[judged[0]]
        gap = worse * (series.value - level)
        alarmed = judged[series.period[judged] < stop]
        before = (series.period < start) & (series.period >= start - dt.timedelta(days=7))
        noise = np.nanstd(series.value[before & verdict] - series.expected[before & verdict])
        # The drop's size is read where the single-period detectors still saw it (to `floor`):
        # long windows re-read a short drop for days, and averaging the gap over those days
        # would make the drop look small and any later noise look like it going on.
        sized = alarmed[series.period[alarmed] < floor] if floor is not None else alarmed
        half_gap = RECOVERED_SHARE * float(np.mean(gap[sized if sized.size else alarmed]))
        noise_gap = RECOVERED_Z * float(noise) if np.isfinite(noise) else 0.0
        threshold = max(half_gap, noise_gap)
        if threshold <= 0:
            return stop
        # Only a drop well above the noise (its half still over RECOVERED_Z sds) is followed
        # past its last alarm: a noise alarm's gap must not chain into a later incident.
        walk = judged if half_gap >= noise_gap else alarmed
        last, calm = alarmed[0], 0
        for index in walk:
            if gap[index] > threshold:
                last, calm = index, 0
            else:
                calm += 1
                if calm >= max(window, round(dt.timedelta(days=1) / length)) and (
                    series.period[index] >= stop
                ):
                    break
        # A window ending at `last` still read the drop, so the drop reached its first period
        # at least: the end read no later than the data shows it.
        end = series.period[last].to_pydatetime() + length - (window - 1) * length
        return max(start + length, end, floor or start)
    return stop


def _metric_loss(result: SeriesResult, start: dt.datetime, stop: dt.datetime) -> float:
    """A metric's loss over [start, stop) in CX-weighted order-equivalents (module docstring):
    0 for the CX score, whose loss is counted as such."""
    if result.metric == CX_SCORE:
        return 0.0
    series = result.residuals
    window = (series.period >= start) & (series.period < stop)
    valid = window & np.isfinite(series.value) & np.isfinite(series.expected)
    worse = -1.0 if METRICS[result.metric].higher_is_better else 1.0
    excess = worse * (series.value[valid] - series.expected[valid])
    if METRICS[result.metric].square:
        with np.errstate(invalid="ignore", divide="ignore"):
            excess = np.minimum(np.nan_to_num(excess / np.abs(series.expected[valid])), 1.0)
    weight = (
        METRICS[result.metric].cx_weight
        or METRICS.get(SLICE_METRIC.get(result.metric, ""), METRICS["on_time_rate"]).cx_weight
    )
    return max(0.0, float((excess * series.orders[valid]).sum()) * weight)


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
    losses: dict[tuple[str, str], float],
    orders: dict[tuple[str, str], float],
    alarmed: set[str] | frozenset[str] = frozenset(),
) -> tuple[str, str]:
    """The most specific cohort that carries most of the loss (the total always does). Crossed
    cohorts raise alarms but do not lead: the primary cohort is read as one dimension's filter.
    When one of the cohorts raised an alarm (`alarmed`, by name), only those and the total may
    lead: a cohort that merely overlaps an alarm's (all grocery, for an alarm in the north) sums
    the noise of its other corners, and a large one's noise can outweigh the real loss."""
    single = {key: loss for key, loss in losses.items() if COHORT_JOIN not in key[0]}
    raised = {key: loss for key, loss in single.items() if cohort_name(*key) in alarmed | {"all"}}
    if any(cohort_name(*key) != "all" for key in raised):
        single = raised
    top = max(single.values())
    carriers = [key for key, loss in single.items() if loss >= 0.7 * top]
    return min(carriers, key=lambda key: orders[key])


def _leading_component(
    results: list[SeriesResult],
    cohort: tuple[str, str],
    start: dt.datetime,
    stop: dt.datetime,
    among: set[str],
) -> str | None:
    """The CX component among `among` that lost the most CX points in the cohort over
    [start, stop)."""
    losses = {}
    for result in results:
        if result.metric not in CX_COMPONENTS or result.metric not in among:
            continue
        if (result.dimension, result.cohort) != cohort:
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
    return "higher" if higher_is_better(name) else "lower"
