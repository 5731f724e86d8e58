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

from analytics.alarms import alarms_frame, data_span, scan_series
from analytics.detection import DetectorSettings
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
    scope = {key: value for key, value in intervention["scope"].items() if value}
    return AffectedSpan(first_hour=first, end=end_time, scope=scope)


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
    """Replay detection as of each hour from the first affected hour, seeing only what was known
    then; the delay is the first as-of hour holding an alarm in the scope on an affected period
    (at or after the first affected hour, before the end) minus the first affected hour."""
    settings = DetectorSettings()
    last_known = data_span(con).last + dt.timedelta(hours=1) + settings.maturity
    for step in range(max_hours + 1):
        as_of = span.first_hour + dt.timedelta(hours=step)
        if as_of > last_known:
            return DelayResult(hours=None, scans=step)
        alarms = alarms_frame(scan_series(con, "hour", as_of, settings), "hour", settings)
        alarms = alarms[
            (alarms.known_at <= as_of)
            & (alarms.period >= span.first_hour)
            & (alarms.period < span.end)
        ]
        for row in alarms.itertuples():
            cohort = cohort_name(row.dimension, row.cohort)
            if cohort_in_scope(cohort, span.scope):
                return DelayResult(
                    hours=float(step), metric=row.metric, cohort=cohort, scans=step + 1
                )
    return DelayResult(hours=None, scans=max_hours + 1)


def false_alarms(con: duckdb.DuckDBPyConnection) -> FalseAlarms:
    """Every incident the detector reports on the whole of a world with no cause."""
    settings = DetectorSettings()
    span = data_span(con)
    as_of = span.last + dt.timedelta(hours=1) + settings.maturity
    results = scan_series(con, "hour", as_of, settings)
    alarms = alarms_frame(results, "hour", settings)
    incidents = build_incidents(results, alarms, "hour", as_of, settings)
    serious = sum(incident.severity_label in SERIOUS for incident in incidents)
    days = (span.last - span.first).total_seconds() / 86400
    return FalseAlarms(
        incidents=len(incidents),
        serious=serious,
        per_30_days=serious * 30 / days if days else 0.0,
    )
