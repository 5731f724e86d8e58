"""Detection scored against the ground truth: the affected span of an intervention, detection
delay by an hour-by-hour as-of replay (no look-ahead), and false alarms."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import duckdb
import pyarrow as pa
from pydantic import BaseModel

from analytics.alarms import alarms_frame, choose_grain, data_span, scan_series
from analytics.asof import series_as_of
from analytics.detection import PERIOD_LENGTH, DetectorSettings
from analytics.incidents import SERIOUS, build_incidents, cohort_filters, cohort_name

MAX_REPLAY_HOURS = 24
TRUTH_TABLE = "eval_truth_ids"


class Timed(Protocol):
    """An incident as any layer reports it: a time window and the cohorts that alarmed."""

    start: dt.datetime
    end: dt.datetime | None
    cohorts: Sequence[str]


@dataclass(frozen=True)
class AffectedSpan:
    """Where and when an intervention touched orders: [first_hour, end) and its scope."""

    first_hour: dt.datetime  # the hour of the earliest affected order
    end: dt.datetime  # the intervention's end, or the end of the data
    scope: dict[str, list]  # the non-empty scope filters (region, category, store_ids, hours)


class DelayResult(BaseModel):
    """The first alarm on the intervention in an as-of replay, hours after the first affected
    hour (None: none within the replay)."""

    hours: float | None
    metric: str | None = None
    cohort: str | None = None
    scans: int = 0  # as-of scans run


class FalseAlarms(BaseModel):
    """Incidents of a world with no cause (all of them are false alarms)."""

    incidents: int
    serious: int  # medium or high severity
    per_30_days: float  # serious incidents per 30 days of data


def register_truth(con: duckdb.DuckDBPyConnection, order_ids: Sequence[str]) -> None:
    """Make the truly affected order ids queryable as TRUTH_TABLE on this connection."""
    con.register(TRUTH_TABLE, pa.table({"order_id": pa.array(list(order_ids), pa.string())}))


def affected_span(
    con: duckdb.DuckDBPyConnection, intervention: dict[str, Any]
) -> AffectedSpan | None:
    """The affected span of one truth.json intervention (None if it touched no order);
    TRUTH_TABLE must hold its order ids."""
    first = con.execute(
        f"SELECT min(hour_start) FROM order_facts JOIN {TRUTH_TABLE} USING (order_id)"
    ).fetchone()[0]
    if first is None:
        return None
    data_end = data_span(con).last + dt.timedelta(seconds=1)
    end = intervention.get("end")
    end_time = min(dt.datetime.fromisoformat(end), data_end) if end else data_end
    return AffectedSpan(first_hour=first, end=end_time, scope=cohort_scope(con, intervention))


def cohort_scope(con: duckdb.DuckDBPyConnection, intervention: dict[str, Any]) -> dict[str, list]:
    """An intervention's scope as cohort filters: its non-empty filters, with `store_ids` read
    as the `store` dimension and the stores' regions and categories added (so an alarm in
    another region is not on a store intervention)."""
    scope = {key: list(value) for key, value in intervention["scope"].items() if value}
    stores = scope.pop("store_ids", None)
    if stores:
        scope["store"] = stores
        rows = con.execute(
            "SELECT DISTINCT region, category FROM order_facts WHERE store_id IN "
            f"({', '.join('?' for _ in stores)})",
            stores,
        ).fetchall()
        for index, dimension in enumerate(("region", "category")):
            found = sorted({row[index] for row in rows})
            scope[dimension] = [v for v in scope.get(dimension, found) if v in found]
    return scope


def cohort_in_scope(cohort: str, scope: dict[str, list]) -> bool:
    """ "all", or a cohort whose every dimension's value the intervention's scope includes or
    does not restrict (a crossed cohort "region=south,category=convenience" names two)."""
    return all(
        not scope.get(dimension) or value in scope[dimension]
        for dimension, value in cohort_filters(cohort).items()
    )


def on_intervention(
    incident: Timed, affected: tuple[dt.datetime, dt.datetime], scope: dict[str, list]
) -> bool:
    """The incident overlaps the affected time and one of its alarm cohorts lies in the scope."""
    incident_end = incident.end or dt.datetime.max
    if not (incident.start < affected[1] and incident_end > affected[0]):
        return False
    return any(cohort_in_scope(cohort, scope) for cohort in incident.cohorts)


def detection_delay(
    con: duckdb.DuckDBPyConnection, span: AffectedSpan, max_hours: int = MAX_REPLAY_HOURS
) -> DelayResult:
    """Replay detection at the grain the data supports (choose_grain), as of each hour from the
    first affected hour (hourly) or each time a day becomes known (daily), seeing only what was
    known then; the delay is the first as-of time holding an alarm in the scope on an affected
    period (at or after the period of the first affected hour, before the end) minus the first
    affected hour. `max_hours` bounds the replay. One scan at the replay's end is cut to each
    as-of time (analytics.asof: equal to a fresh scan then)."""
    settings = DetectorSettings()
    grain = choose_grain(con, settings).grain
    length = PERIOD_LENGTH[grain]
    last_known = data_span(con).last + length + settings.maturity
    first_period = span.first_hour if grain == "hour" else span.first_hour.replace(hour=0)
    horizon = min(span.first_hour + dt.timedelta(hours=max_hours), last_known)
    final = scan_series(con, grain, horizon, settings) if span.first_hour <= horizon else []
    as_of, scans = span.first_hour, 0
    while as_of <= horizon:
        scans += 1
        alarms = alarms_frame(series_as_of(final, grain, as_of, settings), grain, settings)
        known = alarms.known_at <= as_of
        alarms = alarms[known & (alarms.period >= first_period) & (alarms.period < span.end)]
        for row in alarms.itertuples():
            cohort = cohort_name(row.dimension, row.cohort)
            if cohort_in_scope(cohort, span.scope):
                hours = (as_of - span.first_hour).total_seconds() / 3600
                return DelayResult(hours=hours, metric=row.metric, cohort=cohort, scans=scans)
        as_of = next_reading(as_of, grain, settings)
    return DelayResult(hours=None, scans=scans)


def next_reading(as_of: dt.datetime, grain: str, settings: DetectorSettings) -> dt.datetime:
    """The next time a period becomes known: the next hour, or the next day's maturity."""
    if grain == "hour":
        return as_of + dt.timedelta(hours=1)
    midnight = dt.datetime.combine(as_of.date(), dt.time())
    following = midnight + settings.maturity
    return following if following > as_of else following + dt.timedelta(days=1)


def false_alarms(con: duckdb.DuckDBPyConnection) -> FalseAlarms:
    """Every incident the detector reports on the whole of a world with no cause (at the grain
    the data supports)."""
    settings = DetectorSettings()
    grain = choose_grain(con, settings).grain
    span = data_span(con)
    as_of = span.last + PERIOD_LENGTH[grain] + settings.maturity
    results = scan_series(con, grain, as_of, settings)
    alarms = alarms_frame(results, grain, settings)
    incidents = build_incidents(results, alarms, grain, as_of, settings)
    serious = sum(incident.severity_label in SERIOUS for incident in incidents)
    days = (span.last - span.first).total_seconds() / 86400
    return FalseAlarms(
        incidents=len(incidents),
        serious=serious,
        per_30_days=serious * 30 / days if days else 0.0,
    )
