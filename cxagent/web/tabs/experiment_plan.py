"""The Experiment plan tab: the plan to test a recommended action, and its download."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from cxagent.web.escaping import markdown_answer, markdown_text
from cxagent.web.tabs.page import NO_INCIDENT, NO_LATEX, Page
from cxagent.web.workbench import Workbench
from tools.actions import ACTIONS
from tools.base import ToolError


def build(page: Page) -> None:
    """Lay the Experiment plan tab out and make it follow the incident picker."""
    handlers = ExperimentPlanHandlers(page.workbench)
    with gr.Tab("Experiment plan", id="plan") as tab:
        action = gr.Dropdown(label="Action to test", elem_id="plan-action")
        download = gr.DownloadButton("Download plan (.md)", visible=False, elem_id="plan-download")
        text = gr.Markdown(elem_id="plan-text", latex_delimiters=NO_LATEX)
    inputs, outputs = [page.incident_pick, action], [text, download, action]
    page.follow_incident(tab, "plan", handlers.plan_view, inputs, outputs)
    action.input(handlers.plan_view, inputs, outputs)


@dataclass(frozen=True)
class ExperimentPlanHandlers:
    """The Experiment plan tab's handler over one workbench."""

    workbench: Workbench

    def plan_view(self, incident_id: str | None, action: str | None) -> tuple[Any, ...]:
        """The plan for `action` (else the top recommended one), its download and the actions
        to choose from (the recommended ones, else every action)."""
        if not incident_id:
            return NO_INCIDENT, gr.DownloadButton(visible=False), gr.skip()
        analysis = self.workbench.recommendations(incident_id)
        ranked = analysis.recommendations.recommendations if analysis.recommendations else []
        choices = [r.action for r in ranked] or list(ACTIONS)
        action = action if action in choices else (choices[0] if ranked else None)
        if action is None:
            return (
                "No recommended action to test: " + markdown_text("; ".join(analysis.notes)),
                gr.DownloadButton(visible=False),
                gr.Dropdown(choices=choices, value=None),
            )
        try:
            output, evidence_id = self.workbench.plan(incident_id, action)
        except ToolError as error:
            return f"No plan: {markdown_text(error)}", gr.DownloadButton(visible=False), gr.skip()
        path = self.workbench.export(f"experiment_plan_{incident_id}_{action}.md", output.markdown)
        return (
            markdown_answer(output.markdown)
            + f"\n\n<sub>Every number above is a figure of {evidence_id}.</sub>",
            gr.DownloadButton(value=str(path), visible=True),
            gr.Dropdown(choices=choices, value=action),
        )
