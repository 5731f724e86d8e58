"""The watcher: as-of detection on a schedule, incidents opened, escalated and resolved, new ones
investigated, alerts sent to routes. `Watcher.tick` is one pass; `run` repeats it every N
minutes on new data; `replay` walks a finished world hour by hour on a simulated clock.

An incident is tracked once its severity reaches `min_severity` (default medium). The first
tick on a world records incidents that have already ended without alerting (history, not news);
one still open alerts. Each incident gives at most one "opened" alert, one "escalated" per
severity level it rises to, and one "resolved" (the routes' outbox dedupes by that key too).
Investigations run as of the tick's time (windows end there: nothing later is read).
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from analytics.metrics import METRICS
from tools.base import ToolContext, ToolError, WorldCache
from tools.detection import IncidentSummary
from tools.investigation import Investigation, investigate
from watching import WATCH_DIR
from watching.alert import SEVERITY_ORDER, Alert, AlertEvent, SeverityLabel
from watching.delivery import OUTBOX_FILE, DeliveryReport, Outbox
from watching.feedback import FeedbackStore
from watching.routes import Routes
from watching.similar import IncidentRecord, changes_near, cohort_filters, similar_incidents
from watching.state import Tracked, WatchState

REPLAY_DIR = "replay"


class TickReport(BaseModel):
    """One tick: the time it judged as of, what changed, what was sent."""

    as_of: dt.datetime
    seconds: float
    open_incidents: list[str] = Field(default_factory=list)
    opened: list[str] = Field(default_factory=list)
    escalated: list[str] = Field(default_factory=list)
    resolved: list[str] = Field(default_factory=list)
    alerts: list[Alert] = Field(default_factory=list)
    enqueued: int = 0
    delivery: DeliveryReport | None = None
    errors: list[str] = Field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.opened or self.escalated or self.resolved or self.errors)

    def line(self) -> str:
        """One line for a terminal."""
        parts = [f"{self.as_of:%Y-%m-%d %H:%M}", f"{len(self.open_incidents)} open"]
        for name, ids in (("opened", self.opened), ("escalated", self.escalated),
                          ("resolved", self.resolved)):  # fmt: skip
            if ids:
                parts.append(f"{name} {', '.join(ids)}")
        if self.delivery is not None:
            sent, failed = len(self.delivery.sent), len(self.delivery.failed)
            if sent or failed or self.delivery.deferred:
                parts.append(
                    f"sent {sent}, failed {failed} (retried later), "
                    f"held for quiet hours {len(self.delivery.deferred)}"
                )
        parts += [f"error: {error}" for error in self.errors]
        return " | ".join(parts) + f"  ({self.seconds:.1f} s)"


class Watcher:
    """Watches one world. `routes` None: incidents are tracked but nothing is sent.

    State and outbox live in `state_dir` (default WORLD/watch). An alert links to its brief on
    the workbench at `link_base` (the caller knows where that is served). Pass the workbench's
    WorldCache as `shared` to reuse its scans."""

    def __init__(
        self,
        world_dir: Path | str,
        routes: Routes | None = None,
        *,
        state_dir: Path | None = None,
        link_base: str,
        min_severity: SeverityLabel = "medium",
        shared: WorldCache | None = None,
    ) -> None:
        self.world_dir = Path(world_dir)
        self.routes = routes
        self.state_dir = state_dir or self.world_dir / WATCH_DIR
        self.min_severity = min_severity
        self.link_base = link_base.rstrip("/")
        self.shared = shared or WorldCache()
        self.state = WatchState(self.state_dir)
        self.outbox = Outbox(self.state_dir / OUTBOX_FILE.name)
        self.feedback = FeedbackStore.open(self.world_dir)
        self._unsent: list[Alert] = []  # alerts an outbox write failed to take

    def close(self) -> None:
        self.state.close()
        self.outbox.close()

    def tick(self, as_of: dt.datetime | None = None, now: dt.datetime | None = None) -> TickReport:
        """Detect as of `as_of` (None: all the data), update incidents, alert, deliver. `now` is
        the clock for quiet hours and retries (default: the marketplace's local time now)."""
        started = time.perf_counter()
        context = ToolContext(world_dir=self.world_dir, shared=self.shared)
        try:
            detection, _ = context.call("detect_incidents", {"grain": "auto", "as_of": as_of})
        except ToolError as error:
            context.close()
            report = TickReport(as_of=as_of or dt.datetime.now(), seconds=0.0, errors=[str(error)])
            report.seconds = time.perf_counter() - started
            return report
        report = TickReport(as_of=detection.as_of, seconds=0.0)
        try:
            self._update(context, detection.incidents, report, as_of)
        finally:
            context.close()
        if self.routes is not None:
            clock = now or self._local_now()
            try:
                report.enqueued = self.outbox.enqueue(report.alerts, self.routes, clock)
            except sqlite3.Error as error:  # kept and written at a later tick (keys dedupe)
                report.errors.append(f"outbox not written ({error}); alerts kept for retry")
                self._unsent.extend(report.alerts)
            else:
                self._requeue(clock, report)
            report.delivery = self.outbox.flush(self.routes, clock)
        report.seconds = time.perf_counter() - started
        self.state.record_tick(report.as_of, report.seconds, report.model_dump_json())
        return report

    def _requeue(self, clock: dt.datetime, report: TickReport) -> None:
        """Alerts an earlier tick could not write to the outbox, written now (keys dedupe)."""
        if not self._unsent or self.routes is None:
            return
        try:
            report.enqueued += self.outbox.enqueue(self._unsent, self.routes, clock)
        except sqlite3.Error as error:
            report.errors.append(f"outbox still not written ({error})")
        else:
            self._unsent = []

    def _local_now(self) -> dt.datetime:
        zone = self.routes.timezone if self.routes is not None else "UTC"
        return dt.datetime.now(ZoneInfo(zone)).replace(tzinfo=None)

    def _update(
        self,
        context: ToolContext,
        incidents: list[IncidentSummary],
        report: TickReport,
        as_of: dt.datetime | None,
    ) -> None:
        """Open, escalate and resolve the tracked incidents; new ones are investigated as of
        `as_of` (None on all the data: as the agent asks, so a conversation about a new
        incident reuses the watcher's results)."""
        tracked = self.state.tracked()
        first_tick = self.state.last_tick() is None
        floor = SEVERITY_ORDER[self.min_severity]
        current = {i.incident_id: i for i in incidents}
        for incident in incidents:
            known = tracked.get(incident.incident_id)
            level = SEVERITY_ORDER.get(incident.severity_label, 0)
            if known is None and level >= floor:
                if incident.end is not None and first_tick:
                    self._remember(incident, report.as_of, None, _bare_record(incident))
                    continue
                alert, record = self._opened(context, incident, report, tracked, as_of)
                self._emit(report, report.opened, alert)
                self._remember(incident, report.as_of, alert, record)
            elif known is not None and known.status == "open":
                self._follow(incident, known, report)
        for incident_id, known in tracked.items():
            if known.status == "open" and incident_id not in current:
                # Merged into another incident, or gone as data arrived: closed without an alert.
                known.status, known.closed_at = "closed", report.as_of
                self.state.save(incident_id, known)
        report.open_incidents = sorted(
            i.incident_id for i in incidents if self._is_open(i, tracked, report)
        )

    def _is_open(
        self, incident: IncidentSummary, tracked: dict[str, Tracked], report: TickReport
    ) -> bool:
        if incident.end is not None:
            return False
        return incident.incident_id in tracked or incident.incident_id in report.opened

    def _follow(self, incident: IncidentSummary, known: Tracked, report: TickReport) -> None:
        """An open incident seen again: resolved, escalated, or just still there."""
        level = SEVERITY_ORDER.get(incident.severity_label, 0)
        previous = known.alert
        known.last_seen = report.as_of
        if incident.end is not None:
            if previous is not None:
                alert = self._updated(previous, incident, report.as_of, "resolved")
                self._emit(report, report.resolved, alert)
                known.alert = alert
            known.status, known.closed_at = "closed", report.as_of
            known.record = known.record.model_copy(update={"end": incident.end})
        elif level > SEVERITY_ORDER.get(known.severity_label, 0):
            if previous is not None:
                alert = self._updated(previous, incident, report.as_of, "escalated")
                self._emit(report, report.escalated, alert)
                known.alert = alert
            known.severity_label = incident.severity_label
            known.record = known.record.model_copy(
                update={"severity_label": incident.severity_label}
            )
        self.state.save(incident.incident_id, known)

    @staticmethod
    def _emit(report: TickReport, bucket: list[str], alert: Alert) -> None:
        bucket.append(alert.incident_id)
        report.alerts.append(alert)

    def _remember(
        self,
        incident: IncidentSummary,
        as_of: dt.datetime,
        alert: Alert | None,
        record: IncidentRecord,
    ) -> None:
        ended = incident.end is not None
        self.state.save(
            incident.incident_id,
            Tracked(
                status="closed" if ended else "open",
                severity_label=incident.severity_label,
                record=record,
                alert=alert,
                first_seen=as_of,
                last_seen=as_of,
                closed_at=as_of if ended else None,
            ),
        )

    def _opened(
        self,
        context: ToolContext,
        incident: IncidentSummary,
        report: TickReport,
        tracked: dict[str, Tracked],
        as_of: dt.datetime | None,
    ) -> tuple[Alert, IncidentRecord]:
        """The "opened" alert of a new incident and its record, from its investigation as of
        the tick's time, with the similar earlier incidents."""
        alert = _base_alert(incident, report.as_of, "opened", self.link_base)
        record = _bare_record(incident)
        try:
            investigation = investigate(context, incident_id=incident.incident_id, as_of=as_of)
        except ToolError as error:
            report.errors.append(f"{incident.incident_id} not investigated: {error}")
            return alert, record
        alert = alert.model_copy(update=_findings(context, investigation))
        filters = (
            investigation.sites[0].filters
            if investigation.sites
            else cohort_filters(incident.primary_cohort)
        )
        changes = investigation.changes.changes if investigation.changes else []
        record = record.model_copy(
            update={
                "top_slice_filters": filters,
                "top_cause": alert.top_cause,
                "cause_confidence": alert.cause_confidence,
                "action": alert.action,
                "change_ids": changes_near(incident.start, filters, changes),
            }
        )
        earlier = [known.record for known in tracked.values()]
        similar = similar_incidents(record, earlier, self.feedback.latest_by_incident())
        return alert.model_copy(update={"similar": similar}), record

    @staticmethod
    def _updated(
        previous: Alert, incident: IncidentSummary, as_of: dt.datetime, event: AlertEvent
    ) -> Alert:
        return previous.model_copy(
            update={
                "event": event,
                "as_of": as_of,
                "end": incident.end,
                "severity": incident.severity,
                "severity_label": incident.severity_label,
                "expected": incident.primary_expected,
                "observed": incident.primary_observed,
            }
        )

    def replay(
        self,
        start: dt.datetime,
        end: dt.datetime | None = None,
        speed: float | None = None,
        on_tick: Callable[[TickReport], None] | None = None,
        stop: threading.Event | None = None,
    ) -> list[TickReport]:
        """Tick hour by hour from `start` to `end` (default: the end of the data) on a
        simulated clock; with `speed` N, one simulated hour takes 3600/N real seconds."""
        context = ToolContext(world_dir=self.world_dir, shared=self.shared)
        try:
            detection, _ = context.call("detect_incidents", {"grain": "auto"})
        finally:
            context.close()
        last = detection.as_of if end is None else min(end, detection.as_of)
        reports = []
        clock = start.replace(minute=0, second=0, microsecond=0)
        while clock <= last and not (stop is not None and stop.is_set()):
            began = time.perf_counter()
            report = self.tick(as_of=clock, now=clock)
            reports.append(report)
            if on_tick is not None:
                on_tick(report)
            if speed:
                time.sleep(max(0.0, 3600.0 / speed - (time.perf_counter() - began)))
            clock += dt.timedelta(hours=1)
        return reports

    def run(
        self,
        every: dt.timedelta,
        on_tick: Callable[[TickReport], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        """Tick on all the data now, then every `every`, until `stop` is set. A tick that
        fails is reported and the next one runs; it never ends the loop."""
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                report = self.tick()
            except Exception as error:  # noqa: BLE001 (a watcher must outlive any one tick)
                report = TickReport(
                    as_of=dt.datetime.now(), seconds=0.0, errors=[f"tick failed: {error}"]
                )
            if on_tick is not None:
                on_tick(report)
            stop.wait(every.total_seconds())


def replay_dir(world_dir: Path) -> Path:
    """A fresh state directory for a replay (a replay never touches the live watcher's)."""
    directory = Path(world_dir) / WATCH_DIR / REPLAY_DIR
    shutil.rmtree(directory, ignore_errors=True)
    return directory


def _base_alert(
    incident: IncidentSummary, as_of: dt.datetime, event: AlertEvent, link_base: str
) -> Alert:
    spec = METRICS.get(incident.primary_metric)
    return Alert(
        event=event,
        incident_id=incident.incident_id,
        as_of=as_of,
        start=incident.start,
        end=incident.end,
        detected_at=incident.detected_at,
        metric=incident.primary_metric,
        metric_label=spec.label if spec else incident.primary_metric,
        cohort=incident.primary_cohort,
        severity=incident.severity,
        severity_label=incident.severity_label,  # type: ignore[arg-type]
        expected=incident.primary_expected,
        observed=incident.primary_observed,
        link=f"{link_base}/api/summary/{incident.incident_id}",
    )


def _findings(context: ToolContext, investigation: Investigation) -> dict[str, Any]:
    """Top slice, top cause and the recommended action of an investigation, as alert fields."""
    found: dict[str, Any] = {}
    if investigation.slices and investigation.slices.slices:
        found["top_slice"] = investigation.slices.slices[0].description
    causes = investigation.causes.causes if investigation.causes else []
    leading = [c for c in causes if c.status in ("supported", "weak")]
    if not leading:
        return found
    top = leading[0]
    found.update(top_cause=top.kind, top_cause_title=top.title, cause_confidence=top.confidence)
    if not investigation.sites or investigation.window is None:
        return found
    try:
        output, _ = context.call(
            "recommend_actions",
            {
                "filters": investigation.sites[0].filters,
                "start": investigation.window[0],
                "end": investigation.window[1],
                "causes": [{"kind": c.kind, "confidence": c.confidence} for c in leading],
            },
        )
    except ToolError:
        return found
    if output.recommendations:
        best = output.recommendations[0]
        found.update(action=best.action, action_title=best.title, cx_gain=best.cx_gain.estimate)
    return found


def _bare_record(incident: IncidentSummary) -> IncidentRecord:
    return IncidentRecord(
        incident_id=incident.incident_id,
        start=incident.start,
        end=incident.end,
        detected_at=incident.detected_at,
        metric=incident.primary_metric,
        cohort=incident.primary_cohort,
        severity_label=incident.severity_label,  # type: ignore[arg-type]
        top_slice_filters=cohort_filters(incident.primary_cohort),
    )
