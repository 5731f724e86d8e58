"""The Dashboard tab: the CX trend with incidents and changes marked, the incidents table and
the change log. The world is read-only, so the first view is drawn once, into the page config,
and a first visit needs no round trip to the server."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import gradio as gr

from cxagent.web import charts
from cxagent.web.tabs.page import Page
from cxagent.web.tabs.tables import frame
from cxagent.web.workbench import CX_SUBMETRICS, Workbench
from tools.detection import IncidentSummary
from tools.report import expected_vs_observed

DEFAULT_METRICS = ("on_time_rate", "cancellation_rate")
INCIDENT_COLUMNS = ["incident", "start", "detected", "end", "severity", "worst",
                    "expected -> observed"]  # fmt: skip


def build(page: Page) -> None:
    """Lay the Dashboard tab out, drawn at the default grain and metrics."""
    handlers = DashboardHandlers(page.workbench)
    first_trend, first_incidents, first_changes = handlers.dashboard("day", list(DEFAULT_METRICS))
    with gr.Tab("Dashboard", id="dashboard") as tab:
        with gr.Row():
            grain = gr.Radio(["day", "hour"], value="day", label="Grain")
            metrics = gr.CheckboxGroup(
                list(CX_SUBMETRICS), value=list(DEFAULT_METRICS), label="Sub-metrics"
            )
        trend = gr.Plot(first_trend, label="CX trend", elem_id="dashboard-trend")
        incidents_table = gr.Dataframe(
            first_incidents, label="Incidents", interactive=False, elem_id="dashboard-incidents"
        )
        changes_table = gr.Dataframe(first_changes, label="Change log", interactive=False)
    outputs = [trend, incidents_table, changes_table]
    grain.change(handlers.dashboard, [grain, metrics], outputs)
    metrics.change(handlers.dashboard, [grain, metrics], outputs)
    page.track(tab, "dashboard")


@dataclass(frozen=True)
class DashboardHandlers:
    """The Dashboard tab's handler over one workbench."""

    workbench: Workbench

    def dashboard(self, grain: str, metrics: list[str]) -> tuple[Any, ...]:
        """The trend figure (CX score and `metrics` by `grain`), the incidents and the changes."""
        overview = self.workbench.overview()
        detection = overview.detection
        rows = overview.daily if grain == "day" else overview.hourly
        figure = charts.trend_figure(
            rows,
            ["cx_score", *metrics],
            grain,
            detection.incidents,
            overview.changes,
            detection.data_end,
        )
        incidents = frame([_incident_row(i) for i in detection.incidents], INCIDENT_COLUMNS)
        changes = frame(
            [
                {
                    "change": c.change_id,
                    "time": f"{c.change_time:%Y-%m-%d %H:%M}",
                    "kind": c.kind,
                    "name": c.name,
                    "old -> new": f"{c.old_value} -> {c.new_value}",
                    "scope": json.dumps(c.scope) if c.scope else "marketplace",
                }
                for c in overview.changes
            ]
        )
        return figure, incidents, changes


def _incident_row(incident: IncidentSummary) -> dict[str, str]:
    return {
        "incident": incident.incident_id,
        "start": f"{incident.start:%Y-%m-%d %H:%M}",
        "detected": f"{incident.detected_at:%Y-%m-%d %H:%M}",
        "end": f"{incident.end:%Y-%m-%d %H:%M}" if incident.end else "ongoing",
        "severity": f"{incident.severity:g} ({incident.severity_label})",
        "worst": f"{incident.primary_metric} @ {incident.primary_cohort}",
        "expected -> observed": _expected_observed(incident),
    }


def _expected_observed(incident: IncidentSummary) -> str:
    """'92.33 -> 89.84 CX score', or where the data has no CX score the lead metric's."""
    found = expected_vs_observed(incident)
    return f"{found[1]} -> {found[2]} {found[0]}" if found else ""
