"""Scan the warehouse for alarms: every detection target, for the marketplace and each cohort.

Targets are the CX score and its key sub-metrics, for the whole marketplace, per region, per
category and per crossed cohort (region x category, category x daypart), so an incident confined
to one corner is not diluted away in the total. A crossed cohort is named by its dimensions and
values joined with COHORT_JOIN ("region,category" / "south,convenience"). Each series is read
per period and over trailing windows (analytics.detection); a cohort's grain is the shortest
window its volume supports. Crossed cohorts' alarms join an incident only with alarms of
cohorts they overlap (analytics.incidents), so their noise does not widen a real incident.
Drivers that corroborate (dasher wait) are read beside the targets and lend their strong moves
to a target's weaker one in the same cohort and window (analytics.detection); they never alarm.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from analytics.detection import (
    PERIOD_LENGTH,
    PERIODS_PER_WEEK,
    WINDOW_NAMES,
    DetectorSettings,
    DetectorVotes,
    PeriodColumns,
    Residuals,
    SeriesInput,
    residuals_many,
    rolled,
    run_detectors_many,
    window_alarms,
)
from analytics.metrics import CX_SCORE, METRICS, Grain, metric_frame, usable_metrics
from analytics.rows import one_row
from data.quality import latest_present

# The scanned metrics: the CX score, then the registry's in their scan_rank order.
DETECTION_METRICS: tuple[str, ...] = (
    CX_SCORE,
    *sorted(
        (name for name, m in METRICS.items() if m.scan_rank), key=lambda n: METRICS[n].scan_rank
    ),
)
# Drivers read beside the targets to corroborate them, never alarming themselves.
CORROBORATING_METRICS: tuple[str, ...] = tuple(n for n, m in METRICS.items() if m.corroborates)
# A corroborated alarm's detector: the reading it fired in, then the driver ("6h_window+...").
CORROBORATION_JOIN = "+"
SINGLE_PERIOD = "period"  # the reading of single periods, as a corroborated detector names it
COHORT_JOIN = ","
# Stores are not scanned (see benchmarks/README.md, detection: per-store windows did not see
# five drifting stores sooner than their region x category cohort, at ten times the scan's cost).
CROSSED_DIMENSIONS: tuple[str, ...] = ("region,category", "category,daypart")
COHORT_DIMENSIONS: tuple[str, ...] = ("region", "category", *CROSSED_DIMENSIONS)
# The scanned cohorts as an answer names them.
SCANNED_COHORTS = "marketplace, " + ", ".join(
    f"each {dimension.replace(',', ' x ')}" for dimension in COHORT_DIMENSIONS
)


def scanned_series(count: object, outcome: str = "were scanned against") -> str:
    """'252 metric series (marketplace, each region, ...) were scanned against their seasonal
    baselines'; one series (one metric, and data with no region or category) is said in the
    singular. `outcome`: the verb phrase for many series, ending before 'their'."""
    if str(count) == "1":
        single = outcome.replace("were ", "was ", 1)
        return (
            f"1 metric series (the whole marketplace's: the data has no region or category) "
            f"{single} its seasonal baseline"
        )
    return f"{count} metric series ({SCANNED_COHORTS}) {outcome} their seasonal baselines"


# How a window of periods is named in the grain a cohort is read at.
WINDOW_GRAIN = {("hour", 1): "hourly", ("hour", 6): "6-hourly", ("hour", 24): "daily",
                ("hour", 168): "weekly",
                ("day", 1): "daily", ("day", 7): "weekly"}  # fmt: skip
# Cohorts are summed from one query at the finest grouping they need up to this many groups.
MAX_FINEST_GROUPS = 2000
COUNT_SUFFIXES = ("_num", "_den", "_sq")  # the additive columns of a metric frame
JUDGED_SHARE = 0.5  # a window is a cohort's grain when at least this share of its periods is judged
ALARM_COLUMNS = [
    "metric", "dimension", "cohort", "period", "known_at", "detectors", "votes", "z", "value",
    "expected", "orders", "run_start",
]  # fmt: skip


class DetectionError(ValueError):
    """Detection asked for something the data cannot answer (e.g. a time outside the data)."""


@dataclass(frozen=True)
class DataSpan:
    """First and last order time in the warehouse."""

    first: dt.datetime
    last: dt.datetime


def data_span(con: duckdb.DuckDBPyConnection, now: dt.datetime | None = None) -> DataSpan:
    """The time range the warehouse's orders cover, up to the present: orders dated in the
    future (which the data-quality report flags) do not extend it, so relative dates and "the
    last N days" count from the last real day. `now` is local time (default: UTC now plus
    14 hours, see `latest_present`); when every order is in the future, all of them count."""
    first, last, last_present = one_row(
        con.execute(
            "SELECT min(order_time), max(order_time), "
            "max(order_time) FILTER (WHERE order_time <= ?) FROM order_facts",
            [latest_present(now)],
        )
    )
    if first is None:
        raise DetectionError("the warehouse holds no orders")
    return DataSpan(first=first, last=last_present or last)


def latest_mature_period_end(
    as_of: dt.datetime, grain: Grain, maturity: dt.timedelta
) -> dt.datetime:
    """End of the last period fully known at `as_of` (periods end on the hour or at midnight)."""
    readable = as_of - maturity
    if grain == "hour":
        return readable.replace(minute=0, second=0, microsecond=0)
    return dt.datetime.combine(readable.date(), dt.time())


@dataclass(frozen=True)
class GrainChoice:
    """The detection grain the order volume supports, and why."""

    grain: Grain
    reason: str
    busy_hour_share: float  # share of the data's hours holding at least `min_orders` orders


def choose_grain(
    con: duckdb.DuckDBPyConnection, settings: DetectorSettings | None = None
) -> GrainChoice:
    """Hourly detection where at least half the hours of the data hold enough orders for a
    verdict (the detectors' `min_units`), daily otherwise."""
    settings = settings or DetectorSettings()
    span = data_span(con)
    hours = max(1.0, (span.last - span.first).total_seconds() / 3600)
    busy = one_row(
        con.execute(
            "SELECT count(*) FROM (SELECT hour_start FROM order_facts GROUP BY hour_start "
            "HAVING count(*) >= ?)",
            [settings.min_units],
        )
    )[0]
    share = min(1.0, busy / hours)
    grain: Grain = "hour" if share >= 0.5 else "day"
    reason = f"{share:.0%} of the data's hours hold at least {settings.min_units} orders, " + (
        "enough for hourly detection" if grain == "hour" else "too few for hourly detection"
    )
    return GrainChoice(grain=grain, reason=reason, busy_hour_share=round(share, 4))


@dataclass
class SeriesResult:
    """One target series: its residuals and detector votes (kept for charts and evidence), and
    its trailing windows' residuals (by window length in periods)."""

    metric: str
    dimension: str
    cohort: str
    residuals: Residuals
    votes: np.ndarray
    fired: dict[str, np.ndarray] = field(default_factory=dict)
    run_start: np.ndarray = field(default_factory=lambda: np.array([]))
    windows: dict[int, Residuals] = field(default_factory=dict)
    alarm: np.ndarray = field(default_factory=lambda: np.array([], dtype=bool))
    grain: str = ""  # the shortest window judged on most periods: "hourly", "daily", "weekly"


def judged_grain(
    base: Residuals, windows: dict[int, Residuals], grain: Grain, settings: DetectorSettings
) -> str:
    """The shortest window (a period, or a trailing window) whose volume gives a verdict on at
    least JUDGED_SHARE of the periods after the first two weeks ("" when none does)."""
    skip = 2 * PERIODS_PER_WEEK[grain]
    for window, series in ((1, base), *sorted(windows.items())):
        judged = np.isfinite(series.z[skip:])
        if judged.size and judged.mean() >= JUDGED_SHARE:
            return WINDOW_GRAIN[(grain, window)]
    return ""


def cohort_grains(results: list[SeriesResult]) -> dict[str, str]:
    """Each scanned cohort ("all", "region=south", ...) and the finest grain at which any of its
    metrics gets a verdict ("hourly", "6-hourly", "daily", "weekly"; "" when none does)."""
    order = ("hourly", "6-hourly", "daily", "weekly", "")
    grains: dict[str, str] = {}
    for result in results:
        name = (
            "all"
            if result.dimension == "all"
            else COHORT_JOIN.join(
                f"{d}={v}"
                for d, v in zip(
                    result.dimension.split(COHORT_JOIN), result.cohort.split(COHORT_JOIN),
                    strict=True,
                )
            )
        )  # fmt: skip
        known = grains.get(name, "")
        grains[name] = min(known, result.grain, key=order.index) if name in grains else result.grain
    return grains


def _series_result(
    key: tuple[str, str],
    name: str,
    series: Residuals,
    windows: dict[int, Residuals],
    votes: DetectorVotes,
    grain: Grain,
    settings: DetectorSettings,
) -> SeriesResult:
    """One series' result: its detector votes and its trailing windows' alarms."""
    fired = dict(votes.fired)
    alarm = votes.alarm.copy()
    for window, found in windows.items():
        fired[WINDOW_NAMES[window]] = window_alarms(found.z, settings)
        alarm |= fired[WINDOW_NAMES[window]]
    return SeriesResult(
        metric=name,
        dimension=key[0],
        cohort=key[1],
        residuals=series,
        votes=votes.votes,
        fired=fired,
        run_start=votes.run_start,
        windows=windows,
        alarm=alarm,
        grain=judged_grain(series, windows, grain, settings),
    )


def _summed(
    frame: pd.DataFrame, columns: list[str], index: pd.DatetimeIndex
) -> dict[str, PeriodColumns]:
    """A metric frame's counts and sums added up per value of `columns` over every period of
    `index` (0 where a cohort had no orders), by cohort name (the values joined with
    COHORT_JOIN; "all" without columns). Rows missing a value of `columns` are left out, as a
    query grouped by them leaves them out of every cohort."""
    counts = [c for c in frame.columns if c.endswith(COUNT_SUFFIXES) or c == "orders"]
    positions = index.get_indexer(pd.DatetimeIndex(frame["period"]))
    keep = positions >= 0
    if columns:
        keep &= frame[columns].notna().all(axis=1).to_numpy()
    rows = frame[keep]
    names = ["all"]
    codes = np.zeros(len(rows), dtype=int)
    if columns:
        groups = rows.groupby(columns, sort=True)
        codes = groups.ngroup().to_numpy()
        names = [
            COHORT_JOIN.join(str(value) for value in (key if isinstance(key, tuple) else (key,)))
            for key in groups.size().index
        ]
    cell = codes * len(index) + positions[keep]
    shape = (len(names), len(index))
    sums = {
        column: np.bincount(
            cell,
            weights=np.nan_to_num(rows[column].to_numpy(dtype=float, na_value=np.nan)),
            minlength=shape[0] * shape[1],
        ).reshape(shape)
        for column in counts
    }
    period = index.to_numpy()
    return {
        name: {"period": period} | {column: sums[column][row] for column in counts}
        for row, name in enumerate(names)
    }


def _cohort_columns(
    con: duckdb.DuckDBPyConnection,
    metrics: tuple[str, ...],
    grain: Grain,
    start: dt.datetime,
    end: dt.datetime,
    maturity: dt.timedelta,
    dimensions: tuple[str, ...],
) -> dict[tuple[str, str], PeriodColumns]:
    """Each scanned cohort's counts and sums over every period in [start, end), keyed by
    (dimension, cohort), the whole marketplace first.

    Every count and sum of a metric frame adds up across groups, so the cohorts are summed
    from one query at the finest grouping they need (e.g. region x category x daypart), or from
    a query per dimension when that grouping has more than MAX_FINEST_GROUPS combinations."""
    index = pd.date_range(start, end - PERIOD_LENGTH[grain], freq="h" if grain == "hour" else "D")
    keys = list(dict.fromkeys(c for d in dimensions for c in d.split(COHORT_JOIN)))
    combinations = 0
    if keys:
        distinct = f"SELECT DISTINCT {', '.join(keys)} FROM order_facts"
        combinations = one_row(con.execute(f"SELECT count(*) FROM ({distinct})"))[0]

    def query(group_by: list[str]) -> pd.DataFrame:
        return metric_frame(con, metrics, grain, group_by=group_by, end=end, maturity=maturity)

    finest = query(keys) if combinations <= MAX_FINEST_GROUPS else None
    found = {("all", "all"): _summed(query([]) if finest is None else finest, [], index)["all"]}
    for dimension in dimensions:
        columns = dimension.split(COHORT_JOIN)
        summed = _summed(query(columns) if finest is None else finest, columns, index)
        found.update(((dimension, name), cohort) for name, cohort in summed.items())
    return found


def scan_series(
    con: duckdb.DuckDBPyConnection,
    grain: Grain = "hour",
    as_of: dt.datetime | None = None,
    settings: DetectorSettings | None = None,
    metrics: tuple[str, ...] = DETECTION_METRICS,
    dimensions: tuple[str, ...] = COHORT_DIMENSIONS,
) -> list[SeriesResult]:
    """Residuals and detector votes for every target series, as known at `as_of`."""
    settings = settings or DetectorSettings()
    metrics = usable_metrics(con, metrics)  # series the data cannot support are not scanned
    span = data_span(con)
    start = dt.datetime.combine(span.first.date(), dt.time())
    data_end = span.last + PERIOD_LENGTH[grain] + settings.maturity
    as_of = min(as_of or data_end, data_end)
    if as_of <= start:
        raise DetectionError(
            f"as-of time {as_of:%Y-%m-%d %H:%M} is before the data starts ({start:%Y-%m-%d})"
        )
    end = latest_mature_period_end(as_of, grain, settings.maturity)
    if end <= start:
        return []
    drivers = usable_metrics(con, tuple(m for m in CORROBORATING_METRICS if m not in metrics))
    metrics = (*metrics, *drivers)
    cohorts = _cohort_columns(con, metrics, grain, start, end, settings.maturity, dimensions)
    frames = {
        key: {1: complete} | {w: rolled(complete, w) for w in settings.windows(grain)}
        for key, complete in cohorts.items()
    }
    # Each metric's expectation per cohort and window, computed once for the cohort's series.
    components: dict[tuple[str, str], dict[int, dict[str, dict[str, np.ndarray]]]] = {
        key: {w: {} for w in windows} for key, windows in frames.items()
    }
    series_keys = [(key, name) for key in frames for name in metrics]
    base = residuals_many(
        [SeriesInput(frames[key][1], name, components[key][1]) for key, name in series_keys],
        grain,
        settings,
    )
    # A window's overdispersion is at least its single periods' (analytics.detection).
    windows = {
        w: residuals_many(
            [
                SeriesInput(frames[key][w], name, components[key][w], series.dispersion)
                for (key, name), series in zip(series_keys, base, strict=True)
            ],
            grain,
            settings,
            w,
        )
        for w in settings.windows(grain)
    }
    # Drivers are only read (their z per reading), never charted: the detectors run on targets.
    readings: DriverReadings = {}
    targets = []
    for index, (key, name) in enumerate(series_keys):
        if name in drivers:
            read = [(1, base[index].z), *((w, found[index].z) for w, found in windows.items())]
            readings.setdefault(key, []).extend((name, w, z) for w, z in read)
        else:
            targets.append(index)
    # Every series runs over the same periods: the detectors chart them all together.
    votes = run_detectors_many(np.array([base[index].z for index in targets]), settings)
    results = [
        _series_result(
            *series_keys[index], base[index], {w: found[index] for w, found in windows.items()},
            vote, grain, settings,
        )
        for index, vote in zip(targets, votes, strict=True)
    ]  # fmt: skip
    corroborate(results, readings, grain, settings)
    return results


# Per cohort (dimension, cohort): each corroborating driver's readings as (driver, reading, z
# per period), the reading 1 for single periods, else a trailing window's length in periods.
DriverReadings = dict[tuple[str, str], list[tuple[str, int, np.ndarray]]]


def _record(z: np.ndarray, history: int) -> np.ndarray:
    """Whether each period's z is above every z of the `history` periods before it (False
    with less than half that history known)."""
    before = pd.Series(z).shift(1).rolling(history, min_periods=history // 2).max().to_numpy()
    with np.errstate(invalid="ignore"):
        return z > before


def corroborate(
    results: list[SeriesResult], readings: DriverReadings, grain: Grain, settings: DetectorSettings
) -> None:
    """Add to each target series the alarms its cohort's corroborating drivers lend it: a
    driver past `corroboration_z` and above its own readings of the last `dispersion_days`, the
    target past `corroborated_z`, in the same period or trailing window (analytics.detection)."""
    history = settings.dispersion_days * PERIODS_PER_WEEK[grain] // 7
    # Per cohort, by detector name: the reading (window) and the periods a driver moved far in.
    moved: dict[tuple[str, str], dict[str, tuple[int, np.ndarray]]] = {}
    for key, driver_readings in readings.items():
        for driver, window, lead in driver_readings:
            with np.errstate(invalid="ignore"):
                far = lead >= settings.corroboration_z
            if not far.any():  # the 14-day record is read only where the driver moved far
                continue
            far &= _record(lead, history)
            reading = WINDOW_NAMES[window] if window > 1 else SINGLE_PERIOD
            moved.setdefault(key, {})[f"{reading}{CORROBORATION_JOIN}{driver}"] = (window, far)
    for result in results:
        for name, (window, far) in moved.get((result.dimension, result.cohort), {}).items():
            target = result.windows.get(window, result.residuals).z  # window 1: single periods
            with np.errstate(invalid="ignore"):
                fired = far & (target >= settings.corroborated_z)
            if fired.any():
                result.fired[name] = fired
                result.alarm = result.alarm | fired


def alarms_frame(
    results: list[SeriesResult], grain: Grain, settings: DetectorSettings
) -> pd.DataFrame:
    """One row per alarming period of any series, ordered by when it became known."""
    rows = []
    length = PERIOD_LENGTH[grain]
    for result in results:
        series = result.residuals
        for index in np.flatnonzero(result.alarm):
            period = series.period[index].to_pydatetime()
            run_start = result.run_start[index]
            fired = [d for d in result.fired if result.fired[d][index]]
            readings = {detector.split(CORROBORATION_JOIN)[0] for detector in fired}
            # A window alarm reads the window's own values; its change began at the window start.
            window = max((w for w in result.windows if WINDOW_NAMES[w] in readings), default=1)
            read = result.windows.get(window, series)
            first = series.period[max(0, index - window + 1)].to_pydatetime()
            rows.append(
                {
                    "metric": result.metric,
                    "dimension": result.dimension,
                    "cohort": result.cohort,
                    "period": period,
                    "known_at": period + length + settings.maturity,
                    "detectors": ",".join(fired),
                    "votes": int(result.votes[index]),
                    "z": float(np.nanmax([s.z[index] for s in (series, read)])),
                    "value": float(read.value[index]),
                    "expected": float(read.expected[index]),
                    "orders": float(read.orders[index]),
                    "run_start": series.period[run_start].to_pydatetime()
                    if run_start >= 0 and window == 1
                    else first,
                }
            )
    frame = pd.DataFrame(rows, columns=ALARM_COLUMNS)
    return frame.sort_values(["known_at", "metric", "dimension", "cohort"], ignore_index=True)


def scan(
    con: duckdb.DuckDBPyConnection,
    grain: Grain = "hour",
    as_of: dt.datetime | None = None,
    settings: DetectorSettings | None = None,
) -> pd.DataFrame:
    """Every alarm known at `as_of` (default: when all the data is known)."""
    settings = settings or DetectorSettings()
    return alarms_frame(scan_series(con, grain, as_of, settings), grain, settings)
