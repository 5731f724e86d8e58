"""The PM summary tab: a read-only brief of the incident for product managers, and its
download."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from cxagent.web.summary import pm_summary
from cxagent.web.tabs.page import NO_LATEX, Page
from cxagent.web.workbench import Workbench


def build(page: Page) -> None:
    """Lay the PM summary tab out and make it follow the incident picker."""
    handlers = PmSummaryHandlers(page.workbench)
    with gr.Tab("PM summary", id="pm") as tab:
        gr.Markdown("*Read-only brief for product managers: business terms only.*")
        download = gr.DownloadButton("Download brief (.md)", visible=False)
        text = gr.Markdown(elem_id="pm-summary", latex_delimiters=NO_LATEX)
    page.follow_incident(tab, "pm", handlers.pm_view, [page.incident_pick], [text, download])


@dataclass(frozen=True)
class PmSummaryHandlers:
    """The PM summary tab's handler over one workbench."""

    workbench: Workbench

    def pm_view(self, incident_id: str | None) -> tuple[Any, ...]:
        """The brief and its download."""
        if not incident_id:
            return "No incident detected: nothing to brief.", gr.DownloadButton(visible=False)
        text = pm_summary(self.workbench, incident_id)
        path = self.workbench.export(f"incident_brief_{incident_id}.md", text)
        return text, gr.DownloadButton(value=str(path), visible=True)
