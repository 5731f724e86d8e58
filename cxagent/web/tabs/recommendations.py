"""The Recommendations tab: the ranked actions with their what-ifs and tradeoffs, and a what-if
re-run or a parameter sweep of one action."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import pandas as pd

from cxagent.web import charts
from cxagent.web.escaping import markdown_text
from cxagent.web.tabs.page import NO_INCIDENT, NO_LATEX, Page
from cxagent.web.tabs.tables import frame
from cxagent.web.workbench import Workbench
from tools.actions import ACTIONS, ParameterSpec
from tools.base import ToolError
from tools.recommend import Recommendation

FIRST_ACTION = "revert_batching"
WHAT_IF_COLUMNS = ["change of", "unit", "estimate", "90% low", "90% high"]
# Slider steps of a what-if parameter, by its unit.
PARAMETER_STEPS = {"minutes": 0.5, "usd": 0.25, "share": 0.01}
SWEEP_POINTS = 6


def build(page: Page) -> None:
    """Lay the Recommendations tab out and make it follow the incident picker."""
    handlers = RecommendationsHandlers(page.workbench)
    with gr.Tab("Recommendations", id="recommendations") as tab:
        text = gr.Markdown(latex_delimiters=NO_LATEX)
        table = gr.Dataframe(label="What-if per action", interactive=False)
        tradeoff = gr.Plot(elem_id="recommendations-tradeoff")
        gr.Markdown("#### Re-run a what-if")
        with gr.Row():
            action = gr.Dropdown(
                list(ACTIONS), value=FIRST_ACTION, label="Action", elem_id="whatif-action"
            )
            use_value = gr.Checkbox(
                value=False, label="Set the parameter (off: the action's own default)"
            )
            value = gr.Slider(**parameter_slider(FIRST_ACTION), elem_id="whatif-value")
        with gr.Row():
            what_if_button = gr.Button("Run what-if", variant="primary")
            sweep_button = gr.Button("Sweep the parameter")
        what_if_text = gr.Markdown(elem_id="whatif-summary", latex_delimiters=NO_LATEX)
        what_if_table = gr.Dataframe(
            frame(None, WHAT_IF_COLUMNS), interactive=False, elem_id="whatif-table"
        )
        sweep_plot = gr.Plot()
    page.follow_incident(
        tab, "recommendations", handlers.recommendations_view, [page.incident_pick],
        [text, table, tradeoff],
    )  # fmt: skip
    action.change(tune, action, [value, use_value])
    what_if_button.click(
        handlers.run_what_if,
        [page.incident_pick, action, value, use_value],
        [what_if_text, what_if_table],
    )
    sweep_button.click(handlers.run_sweep, [page.incident_pick, action], sweep_plot)


def tuned_parameter(action: str) -> ParameterSpec | None:
    """The what-if parameter the tab tunes: the action's first, if any."""
    specs = ACTIONS[action].parameter_specs if action in ACTIONS else ()
    return specs[0] if specs else None


def parameter_slider(action: str) -> dict[str, Any]:
    """gr.Slider settings for an action's parameter, from its declaration in the registry."""
    spec = tuned_parameter(action)
    if spec is None:
        return dict(minimum=0.0, maximum=1.0, value=0.0, label=f"{action}: (no parameter)",
                    info="this action takes no parameter", interactive=False)  # fmt: skip
    step = PARAMETER_STEPS.get(spec.unit, 0.01)
    if spec.default is None:
        value, default = round((spec.minimum + spec.maximum) / 2 / step) * step, spec.description
    else:
        value, default = spec.default, f"default {spec.format(spec.default)}"
    return {
        "minimum": spec.minimum,
        "maximum": spec.maximum,
        "value": value,
        "step": step,
        "label": f"{action}: {spec.name}",
        "info": f"{spec.label}, {spec.range_text()}; {default}",
        "interactive": True,
    }


def tune(action: str) -> tuple[gr.Slider, gr.Checkbox]:
    """The slider for a newly chosen action, and whether its parameter is set by default."""
    spec = tuned_parameter(action)
    checked = spec is not None and spec.default is not None
    return gr.Slider(**parameter_slider(action)), gr.Checkbox(
        value=checked, interactive=spec is not None
    )


@dataclass(frozen=True)
class RecommendationsHandlers:
    """The Recommendations tab's handlers over one workbench."""

    workbench: Workbench

    def recommendations_view(self, incident_id: str | None) -> tuple[Any, ...]:
        """The summary, the what-if table of the ranked actions and their tradeoff figure."""
        if not incident_id:
            return NO_INCIDENT, frame(None), None
        analysis = self.workbench.recommendations(incident_id)
        ranked = analysis.recommendations
        if ranked is None:
            notes = markdown_text("; ".join(analysis.notes)) or "No recommendation."
            return notes, frame(None), None
        text = f"{markdown_text(ranked.summary)} [{analysis.recommendations_id}]"
        table = frame([_recommendation_row(r) for r in ranked.recommendations])
        return text, table, charts.tradeoff_figure(ranked.recommendations)

    def run_what_if(
        self, incident_id: str, action: str, value: float, use_value: bool
    ) -> tuple[str, pd.DataFrame]:
        """One action's what-if, at the slider's value when `use_value`, else its default."""
        parameters = {}
        spec = tuned_parameter(action)
        if spec is not None and use_value:
            parameters[spec.name] = float(value)
        try:
            output, evidence_id = self.workbench.what_if(incident_id, action, parameters)
        except ToolError as error:
            return f"What-if failed: {markdown_text(error)}", frame(None)
        rows = []
        for name, interval in {**output.deltas, **output.efficiency}.items():
            scale, unit = charts.change_unit(name)
            rows.append(
                {"change of": name, "unit": unit}
                | {
                    column: round(scale * getattr(interval, part), 3)
                    for column, part in (
                        ("estimate", "estimate"),
                        ("90% low", "low"),
                        ("90% high", "high"),
                    )
                }  # fmt: skip
            )
        used = ", ".join(f"{k}={v:g}" for k, v in output.parameters.items()) or "defaults"
        text = (
            f"{markdown_text(output.summary)}; ${output.cost_usd_per_order:.2f}/order "
            f"({used}) [{evidence_id}]"
        )
        return text, frame(rows)

    def run_sweep(self, incident_id: str, action: str) -> Any:
        """The what-if across the parameter's range (SWEEP_POINTS values), as a figure."""
        spec = tuned_parameter(action)
        if spec is None:
            return None
        low, high = spec.minimum, spec.maximum
        steps = SWEEP_POINTS - 1
        values = [round(low + (high - low) * k / steps, 4) for k in range(SWEEP_POINTS)]
        rows, _ = self.workbench.sweep(incident_id, action, spec.name, values)
        return charts.sweep_figure(rows, spec.name)


def _recommendation_row(recommendation: Recommendation) -> dict[str, Any]:
    cx_gain = recommendation.cx_gain
    return {
        "rank": recommendation.rank,
        "action": recommendation.action,
        "what": recommendation.title,
        "addresses": ", ".join(recommendation.addresses),
        "CX gain (90%)": f"{cx_gain.estimate:+.2f} ({cx_gain.low:+.2f} to {cx_gain.high:+.2f})",
        "on-time": f"{100 * recommendation.on_time_gain.estimate:+.1f} pp",
        "$ per order": f"{recommendation.cost_usd_per_order:.2f}",
        "Pareto": "yes" if recommendation.pareto else "no",
        "tradeoff": recommendation.tradeoff,
        "evidence": recommendation.evidence,
    }
