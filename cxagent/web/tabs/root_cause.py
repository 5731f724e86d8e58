"""The Root cause tab: the ranked causes with their evidence, the event study, SHAP, the
drivers in the slice, the RCA report and the evidence ledger."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from cxagent.web import charts
from cxagent.web.escaping import markdown_answer
from cxagent.web.tabs.page import NO_INCIDENT, NO_LATEX, Page
from cxagent.web.tabs.tables import frame, percent
from cxagent.web.workbench import BASELINE_DAYS, DRIVER_METRICS, Analysis, Workbench, series_grain
from tools.rca import RankedCause


def build(page: Page) -> None:
    """Lay the Root cause tab out and make it follow the incident picker."""
    handlers = RootCauseHandlers(page.workbench)
    with gr.Tab("Root cause", id="rca") as tab:
        headline = gr.Markdown(elem_id="rca-headline", latex_delimiters=NO_LATEX)
        causes_table = gr.Dataframe(label="Ranked causes", interactive=False)
        with gr.Row():
            causes_plot = gr.Plot(elem_id="rca-causes")
            did_plot = gr.Plot()
        with gr.Row():
            shap_plot = gr.Plot()
            drivers_plot = gr.Plot()
        with gr.Accordion("RCA report (Markdown)", open=False):
            report = gr.Markdown(elem_id="rca-report", latex_delimiters=NO_LATEX)
        with gr.Accordion("Evidence ledger", open=False):
            ledger = gr.Dataframe(interactive=False)
    outputs = [headline, causes_table, causes_plot, did_plot, shap_plot, drivers_plot, report,
               ledger]  # fmt: skip
    page.follow_incident(tab, "rca", handlers.rca_view, [page.incident_pick], outputs)


@dataclass(frozen=True)
class RootCauseHandlers:
    """The Root cause tab's handler over one workbench."""

    workbench: Workbench

    def rca_view(self, incident_id: str | None) -> tuple[Any, ...]:
        """The headline, causes table, causes / event-study / SHAP / drivers figures, the
        report and the ledger of the incident's diagnosis."""
        if not incident_id:
            return NO_INCIDENT, frame(None), None, None, None, None, "", frame(None)
        analysis = self.workbench.analysis(incident_id)
        found = analysis.investigation
        causes = found.causes.causes if found.causes else []
        did = next(iter(found.did.values()), None)
        leading = analysis.leading_causes()
        headline = (
            f"### Most likely: **{leading[0].kind}** (confidence {leading[0].confidence:.2f}) "
            f"[{found.causes_id}]"
            if leading
            else "### No hypothesis is supported"
        )
        ledger = frame(
            [
                {"id": i.id, "tool": i.tool, "summary": i.summary, "seconds": round(i.seconds, 3)}
                for i in analysis.context.ledger.items
            ]
        )
        return (
            headline,
            _causes_table(causes),
            charts.causes_figure(causes) if causes else None,
            charts.event_study_figure(did[0]) if did else None,
            charts.shap_figure(found.shap) if found.shap else None,
            self._drivers_figure(analysis),
            markdown_answer(analysis.report),
            ledger,
        )

    def _drivers_figure(self, analysis: Analysis) -> Any:
        """The driver metrics in the slice the RCA tested first, since its baseline began."""
        start, end = analysis.window
        scope = analysis.scope
        grain = series_grain(scope)
        drivers = self.workbench.series(
            list(DRIVER_METRICS), scope, start - dt.timedelta(days=BASELINE_DAYS), end, grain
        )
        return charts.series_figure(
            drivers, list(DRIVER_METRICS), start, f"Drivers in the slice, by {grain}"
        )


def _causes_table(causes: list[RankedCause]) -> pd.DataFrame:
    return frame(
        [
            {
                "rank": rank,
                "cause": c.kind,
                "status": c.status.replace("_", " "),
                "confidence": round(c.confidence, 2),
                "share of change explained": percent(c.impact_share),
                "orders": c.orders_affected,
                "evidence": ", ".join(c.evidence),
            }
            for rank, c in enumerate(causes, start=1)
        ]
    )
