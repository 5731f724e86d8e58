"""The Gradio workbench: the header with the incident picker over the tabs of TABS, in order
(one module each in cxagent/web/tabs/: layout + handlers), over one Workbench."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from cxagent.web.escaping import code_span
from cxagent.web.tabs import (
    chat,
    dashboard,
    eval_suite,
    experiment_plan,
    incident,
    pm_summary,
    recommendations,
    root_cause,
)
from cxagent.web.tabs.page import NO_LATEX, Page
from cxagent.web.workbench import Workbench

# The tabs, in page order: each lays itself out inside the open gr.Tabs and wires its events.
TABS: tuple[Callable[[Page], None], ...] = (
    dashboard.build,
    chat.build,
    incident.build,
    root_cause.build,
    recommendations.build,
    experiment_plan.build,
    pm_summary.build,
    eval_suite.build,
)
# Answer tables in the chat: compact, headers on one line, wide tables scroll sideways.
CSS = """
#chat-answers { min-height: 560px; }
.evidence-view { max-height: 560px; overflow: auto; }
#chat-answers table { display: block; max-width: 100%; overflow-x: auto; font-size: 0.9em; }
#chat-answers th, #chat-answers td { padding: 4px 10px; white-space: nowrap; }
"""
INCIDENT_PICK_LABEL = "Incident (for the incident, cause, action, plan and PM tabs)"


def build_ui(workbench: Workbench, eval_button: bool = True) -> gr.Blocks:
    """The Blocks app over one workbench (mount it with gr.mount_gradio_app). Without
    `eval_button` the Evals tab shows the last report only: the suite (minutes of CPU) cannot
    be started from the page or its API."""
    incident_ids = [i.incident_id for i in workbench.incidents()]
    with gr.Blocks(title="cx-agent workbench") as blocks:
        active = gr.State("dashboard")
        with gr.Row():
            gr.Markdown(header(workbench), latex_delimiters=NO_LATEX)
            incident_pick = gr.Dropdown(
                incident_ids,
                value=incident_ids[0] if incident_ids else None,
                label=INCIDENT_PICK_LABEL,
                elem_id="incident-pick",
                scale=0,
                min_width=320,
            )
        page = Page(workbench, incident_pick, active, eval_button)
        with gr.Tabs():
            for build_tab in TABS:
                build_tab(page)
    blocks.queue(default_concurrency_limit=4)
    return blocks


def header(workbench: Workbench) -> str:
    """The page's title line: the world, its data range, incidents, changes and backend."""
    overview = workbench.overview()
    detection = overview.detection
    return (
        f"## cx-agent workbench · world {code_span(workbench.world_dir.name)}\n"
        f"Data {detection.data_start:%Y-%m-%d} to {detection.data_end:%Y-%m-%d} · "
        f"{len(detection.incidents)} incident(s) · {len(overview.changes)} logged change(s) · "
        f"agent backend `{workbench.agent.backend.name}` · REST API at [/docs](/docs)"
    )
