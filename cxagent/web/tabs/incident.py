"""The Incident tab: the incident's top slices, a heatmap, a drill-down into a chosen slice
with its breakdown, and the feedback form on the top cause with similar past incidents."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from analytics.incidents import cohort_slice
from cxagent.web import charts
from cxagent.web.escaping import markdown_text
from cxagent.web.feedback_view import (
    VERDICT_CHOICES,
    feedback_markdown,
    similar_markdown,
    submit_feedback,
)
from cxagent.web.tabs.page import NO_INCIDENT, NO_LATEX, Page
from cxagent.web.tabs.tables import frame, percent
from cxagent.web.workbench import BASELINE_DAYS, Workbench, series_grain
from watching.feedback import CAUSE_CHOICES, MAX_AUTHOR_CHARS, MAX_COMMENT_CHARS

SLICE_COLUMNS = ["rank", "slice", "baseline", "incident", "orders", "share of change"]


def build(page: Page) -> None:
    """Lay the Incident tab out and make it follow the incident picker."""
    handlers = IncidentHandlers(page.workbench)
    with gr.Tab("Incident", id="incident") as tab:
        slice_filters = gr.State([])  # the top slices' filters, by table row
        chosen_slice = gr.State({})  # the filters of the slice drilled into
        text = gr.Markdown(latex_delimiters=NO_LATEX)
        slices_table = gr.Dataframe(label="Top slices", interactive=False)
        pair = gr.Dropdown(
            list(page.workbench.heatmap_pairs()), value="category x hour", label="Heatmap"
        )
        heatmap = gr.Plot(elem_id="incident-heatmap")
        breakdown_by = gr.Dropdown(
            list(page.workbench.dimensions()), value="region", label="Break the slice down by"
        )
        drill_plot = gr.Plot()
        breakdown_table = gr.Dataframe(label="Breakdown", interactive=False)
        feedback_text, similar_text = _feedback_form(page, handlers)
    inputs = [page.incident_pick, pair, breakdown_by]
    outputs = [text, slices_table, heatmap, slice_filters, chosen_slice, drill_plot,
               breakdown_table, feedback_text, similar_text]  # fmt: skip
    page.follow_incident(tab, "incident", handlers.incident_view, inputs, outputs)
    pair.change(handlers.incident_view, inputs, outputs)
    slices_table.select(
        handlers.pick_slice,
        [page.incident_pick, slice_filters, breakdown_by],
        [chosen_slice, drill_plot, breakdown_table],
    )
    breakdown_by.change(
        handlers.drill, [page.incident_pick, chosen_slice, breakdown_by],
        [drill_plot, breakdown_table],
    )  # fmt: skip


def _feedback_form(page: Page, handlers: IncidentHandlers) -> tuple[gr.Markdown, gr.Markdown]:
    """Lay out the feedback form on the top cause; returns the views of the incident's
    feedback and of similar past incidents (the incident view fills them)."""
    gr.Markdown("#### Was the top cause (Root cause tab) right?")
    with gr.Row():
        verdict = gr.Radio(VERDICT_CHOICES, label="The top cause is", elem_id="feedback-verdict")
        right_cause = gr.Dropdown(
            list(CAUSE_CHOICES),
            value=None,
            label="The right cause (when wrong or not quite)",
            elem_id="feedback-cause",
        )
    with gr.Row():
        comment = gr.Textbox(label="Comment", lines=2, max_length=MAX_COMMENT_CHARS, scale=3,
                             elem_id="feedback-comment")  # fmt: skip
        author = gr.Textbox(label="Your name (optional)", max_length=MAX_AUTHOR_CHARS, scale=1,
                            elem_id="feedback-author")  # fmt: skip
    send = gr.Button("Send feedback", elem_id="feedback-send")
    status = gr.Markdown(elem_id="feedback-status", latex_delimiters=NO_LATEX)
    feedback_text = gr.Markdown(elem_id="feedback-view", latex_delimiters=NO_LATEX)
    similar_text = gr.Markdown(elem_id="similar-incidents", latex_delimiters=NO_LATEX)
    send.click(
        handlers.send_feedback,
        [page.incident_pick, verdict, right_cause, comment, author],
        [status, feedback_text],
    )
    return feedback_text, similar_text


@dataclass(frozen=True)
class IncidentHandlers:
    """The Incident tab's handlers over one workbench."""

    workbench: Workbench

    def incident_view(self, incident_id: str | None, pair: str, dimension: str) -> tuple[Any, ...]:
        """The incident's summary, top slices, heatmap, the top slice's drill-down, its
        feedback and similar past incidents."""
        if not incident_id:
            return NO_INCIDENT, frame(None), None, [], {}, None, frame(None), "", ""
        wb = self.workbench
        incident = wb.incident(incident_id)
        slices, item = wb.slices(incident_id)
        start, end = wb.window(incident)
        table = frame(
            [
                {
                    "rank": s.rank,
                    "slice": s.description,
                    "baseline": percent(s.baseline_value),
                    "incident": percent(s.current_value),
                    "orders": s.orders,
                    "share of change": percent(s.share_of_change),
                }
                for s in slices.slices
            ],
            SLICE_COLUMNS,
        )
        first, second = wb.heatmap_pairs()[pair]
        heatmap = charts.heatmap_figure(
            wb.heatmap(incident_id, pair), first, second, incident.slice_metric
        )
        filters = [s.filters for s in slices.slices]
        chosen = filters[0] if filters else cohort_slice(incident.primary_cohort)
        drill_figure, breakdown = self.drill(incident_id, chosen, dimension)
        text = (
            f"### {incident_id}: {incident.primary_metric} @ "
            f"{markdown_text(incident.primary_cohort)}\n"
            f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}; {markdown_text(slices.summary)} "
            f"[{item.id}]. Click a slice row to drill into it."
        )
        return (
            text, table, heatmap, filters, chosen, drill_figure, breakdown,
            feedback_markdown(wb, incident_id), similar_markdown(wb, incident_id, chosen),
        )  # fmt: skip

    def drill(
        self, incident_id: str, filters: dict[str, list[Any]], dimension: str
    ) -> tuple[Any, pd.DataFrame]:
        """A slice's series since its baseline began, and its breakdown by `dimension`."""
        wb = self.workbench
        incident = wb.incident(incident_id)
        start, end = wb.window(incident)
        metrics = [incident.slice_metric, "cancellation_rate", "batched_rate"]
        grain = series_grain(filters)
        series = wb.series(metrics, filters, start - dt.timedelta(days=BASELINE_DAYS), end, grain)
        where = ", ".join(f"{k}={'/'.join(map(str, v))}" for k, v in filters.items()) or "all"
        figure = charts.series_figure(series, metrics, start, f"{where}, by {grain}")
        breakdown = wb.breakdown(incident_id, filters, dimension)
        if not breakdown.empty:
            for column in ("baseline", "incident"):
                breakdown[column] = breakdown[column].map(percent)
            breakdown["delta"] = breakdown["delta"].map(lambda d: f"{100 * d:+.1f} pp")
        return figure, breakdown

    def pick_slice(
        self, incident_id: str, filters: list[dict[str, Any]], dimension: str,
        event: gr.SelectData,
    ) -> tuple[Any, ...]:  # fmt: skip
        """Drill into the slice of the clicked table row."""
        row = event.index[0] if isinstance(event.index, list | tuple) else event.index
        chosen = filters[row] if filters and row < len(filters) else {}
        return (chosen, *self.drill(incident_id, chosen, dimension))

    def send_feedback(
        self, incident_id: str | None, verdict: str | None, cause: str | None, comment: str,
        author: str,
    ) -> tuple[str, str]:  # fmt: skip
        """Record a verdict on the top cause; returns the status and the incident's feedback."""
        wb = self.workbench
        status = submit_feedback(wb, incident_id, verdict, cause, comment, author)
        return status, feedback_markdown(wb, incident_id) if incident_id else ""
