"""The Gradio workbench: chat with tool-call steps, dashboard, incident, root cause,
recommendations, experiment plan, product-manager brief and evals, over one Workbench."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from cxagent.web import charts
from cxagent.web.chat import (
    answer_messages,
    evidence_markdown,
    example_questions,
    progress_messages,
)
from cxagent.web.escaping import code_block, code_span, markdown_answer, markdown_text
from cxagent.web.feedback_view import (
    VERDICT_CHOICES,
    feedback_markdown,
    similar_markdown,
    submit_feedback,
)
from cxagent.web.summary import pm_summary
from cxagent.web.workbench import (
    BASELINE_DAYS,
    CX_SUBMETRICS,
    DRIVER_METRICS,
    UnknownIncident,
    Workbench,
)
from tools.actions import ACTIONS, ParameterSpec
from tools.base import ToolError
from tools.detection import IncidentSummary
from tools.report import expected_vs_observed
from watching.feedback import CAUSE_CHOICES, MAX_AUTHOR_CHARS, MAX_COMMENT_CHARS

EVAL_TIMEOUT_S = 3600
EVALS_GATED = (
    "The suite is started from a terminal here (`cxagent eval`): this server is reachable "
    "beyond this machine, so the page does not offer minutes of CPU to every visitor "
    "(CXAGENT_EVAL_BUTTON=true offers it). The last report it wrote shows below."
)
EVALS_MISSING = (
    "The eval runner is not in this build yet: run `cxagent eval` from a terminal once it "
    "lands (it prints the scenario table and writes JSON + Markdown)."
)
# Answer tables in the chat: compact, headers on one line, wide tables scroll sideways.
CSS = """
#chat-answers { min-height: 560px; }
.evidence-view { max-height: 560px; overflow: auto; }
#chat-answers table { display: block; max-width: 100%; overflow-x: auto; font-size: 0.9em; }
#chat-answers th, #chat-answers td { padding: 4px 10px; white-space: nowrap; }
"""
INCIDENT_TABS = ("incident", "rca", "recommendations", "plan", "pm")
# Views that show data render no LaTeX: the app writes none, and `$$...$$` in a store's name
# would otherwise be typeset (Gradio finds it before parsing the Markdown).
NO_LATEX: list[dict[str, str | bool]] = []


def _grain(filters: dict[str, list[Any]]) -> str:
    """Daily for slices of a few hours (their hourly series has gaps), else hourly."""
    return "day" if "hour" in filters else "hour"


# Slider steps of a what-if parameter, by its unit.
PARAMETER_STEPS = {"minutes": 0.5, "usd": 0.25, "share": 0.01}


def _parameter(action: str) -> ParameterSpec | None:
    """The what-if parameter the Recommendations tab tunes: the action's first, if any."""
    specs = ACTIONS[action].parameter_specs if action in ACTIONS else ()
    return specs[0] if specs else None


def parameter_slider(action: str) -> dict[str, Any]:
    """gr.Slider settings for an action's parameter, from its declaration in the registry."""
    spec = _parameter(action)
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


def _cohort_filters(cohort: str) -> dict[str, list[Any]]:
    """'region=east' -> {'region': ['east']}; 'all' -> {}."""
    dimension, _, value = cohort.partition("=")
    return {dimension: [value]} if value else {}


def _frame(rows: list[dict[str, Any]] | None, columns: list[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame(rows or [], columns=columns)


def _pct(value: float) -> str:
    return "" if value != value else f"{100 * value:.1f}%"


def eval_command_available() -> bool:
    """Whether this installation's `cxagent` has the `eval` command yet."""
    from cxagent.cli import app

    names = {(c.name or c.callback.__name__).strip("_") for c in app.registered_commands}
    return "eval" in names


def last_eval_report() -> Path | None:
    """The Markdown report `cxagent eval` wrote last to its default place, if any."""
    try:
        from evals.worlds import DEFAULT_CACHE
    except ImportError:
        return None
    report = DEFAULT_CACHE / "report-suite.md"
    return report if report.is_file() else None


def build_ui(workbench: Workbench, eval_button: bool = True) -> gr.Blocks:
    """The Blocks app over one workbench (mount it with gr.mount_gradio_app). Without
    `eval_button` the Evals tab shows the last report only: the suite (minutes of CPU) cannot
    be started from the page or its API."""
    wb = workbench

    # -- handlers --------------------------------------------------------------------------
    def header() -> str:
        overview = wb.overview()
        detection = overview.detection
        return (
            f"## cx-agent workbench · world {code_span(wb.world_dir.name)}\n"
            f"Data {detection.data_start:%Y-%m-%d} to {detection.data_end:%Y-%m-%d} · "
            f"{len(detection.incidents)} incident(s) · {len(overview.changes)} logged change(s) · "
            f"agent backend `{wb.agent.backend.name}` · REST API at [/docs](/docs)"
        )

    def dashboard(grain: str, metrics: list[str]) -> tuple[Any, ...]:
        overview = wb.overview()
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
        incidents = _frame(
            [
                {
                    "incident": i.incident_id,
                    "start": f"{i.start:%Y-%m-%d %H:%M}",
                    "detected": f"{i.detected_at:%Y-%m-%d %H:%M}",
                    "end": f"{i.end:%Y-%m-%d %H:%M}" if i.end else "ongoing",
                    "severity": f"{i.severity:g} ({i.severity_label})",
                    "worst": f"{i.primary_metric} @ {i.primary_cohort}",
                    "expected -> observed": _expected_observed(i),
                }
                for i in detection.incidents
            ],
            [
                "incident",
                "start",
                "detected",
                "end",
                "severity",
                "worst",
                "expected -> observed",
            ],
        )
        changes = _frame(
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

    def respond(
        message: str, history: list[Any], session: dict[str, Any]
    ) -> Generator[tuple[Any, ...], None, None]:
        message = (message or "").strip()
        if not message:
            yield history, "", session, gr.skip()
            return
        session = dict(session or {})
        thread = session.setdefault("thread", uuid.uuid4().hex)
        turn = session.get("turn", 0) + 1
        asked = "\n".join(map(markdown_text, message.splitlines()))  # shown as typed
        history = [*(history or []), gr.ChatMessage(role="user", content=asked)]
        pending = gr.ChatMessage(
            role="assistant",
            content="reading the question, then calling the typed tools and citing their figures",
            metadata={"title": "Working…", "status": "pending"},
        )
        yield [*history, pending], "", session, gr.skip()
        steps: list[dict[str, Any]] = []
        result: dict[str, Any] = {}
        try:
            for event in wb.ask_stream(message, thread):  # each node's step as it completes
                if "step" in event:
                    steps.append(event["step"])
                    yield [*history, *progress_messages(steps, turn)], "", session, gr.skip()
                else:
                    result = event["result"]
        except (ValueError, ToolError) as error:
            answer = f"I could not answer: {markdown_text(error)}"
            history.append(gr.ChatMessage(role="assistant", content=answer))
            yield history, "", session, gr.skip()
            return
        session.update(turn=turn, evidence={e["id"]: e for e in result.get("evidence", [])})
        download: Any = gr.skip()
        if result.get("experiment_plan"):
            path = wb.export("experiment_plan.md", result["experiment_plan"])
            download = gr.DownloadButton(value=str(path), visible=True)
        yield [*history, *answer_messages(result, turn)], "", session, download

    def ask_example(
        sample: list[str], history: list[Any], session: dict[str, Any]
    ) -> Generator[tuple[Any, ...], None, None]:
        yield from respond(sample[0] if sample else "", history, session)

    def open_evidence(evidence_id: str, session: dict[str, Any]) -> str:
        key = (evidence_id or "").strip().upper()
        item = (session or {}).get("evidence", {}).get(key)
        if item is None:
            return f"No evidence item {code_span(key or '?')} in this conversation yet."
        return evidence_markdown(item)

    def incident_view(incident_id: str | None, pair: str, dimension: str) -> tuple[Any, ...]:
        if not incident_id:
            return ("No incident detected.", _frame(None), None, [], {}, None, _frame(None),
                    "", "")  # fmt: skip
        incident = wb.incident(incident_id)
        slices, item = wb.slices(incident_id)
        start, end = wb.window(incident)
        table = _frame(
            [
                {
                    "rank": s.rank,
                    "slice": s.description,
                    "baseline": _pct(s.baseline_value),
                    "incident": _pct(s.current_value),
                    "orders": s.orders,
                    "share of change": _pct(s.share_of_change),
                }
                for s in slices.slices
            ],
            ["rank", "slice", "baseline", "incident", "orders", "share of change"],
        )
        first, second = wb.heatmap_pairs()[pair]
        heatmap = charts.heatmap_figure(
            wb.heatmap(incident_id, pair), first, second, incident.slice_metric
        )
        filters = [s.filters for s in slices.slices]
        chosen = filters[0] if filters else _cohort_filters(incident.primary_cohort)
        drill_figure, breakdown = drill(incident_id, chosen, dimension)
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

    def send_feedback(
        incident_id: str | None, verdict: str | None, cause: str | None, comment: str, author: str
    ) -> tuple[str, str]:
        status = submit_feedback(wb, incident_id, verdict, cause, comment, author)
        return status, feedback_markdown(wb, incident_id) if incident_id else ""

    def drill(
        incident_id: str, filters: dict[str, list[Any]], dimension: str
    ) -> tuple[Any, pd.DataFrame]:
        incident = wb.incident(incident_id)
        start, end = wb.window(incident)
        metrics = [incident.slice_metric, "cancellation_rate", "batched_rate"]
        grain = _grain(filters)
        frame = wb.series(metrics, filters, start - dt.timedelta(days=BASELINE_DAYS), end, grain)
        where = ", ".join(f"{k}={'/'.join(map(str, v))}" for k, v in filters.items()) or "all"
        figure = charts.series_figure(frame, metrics, start, f"{where}, by {grain}")
        breakdown = wb.breakdown(incident_id, filters, dimension)
        if not breakdown.empty:
            for column in ("baseline", "incident"):
                breakdown[column] = breakdown[column].map(_pct)
            breakdown["delta"] = breakdown["delta"].map(lambda d: f"{100 * d:+.1f} pp")
        return figure, breakdown

    def pick_slice(
        incident_id: str, filters: list[dict[str, Any]], dimension: str, event: gr.SelectData
    ) -> tuple[Any, ...]:
        row = event.index[0] if isinstance(event.index, list | tuple) else event.index
        chosen = filters[row] if filters and row < len(filters) else {}
        return (chosen, *drill(incident_id, chosen, dimension))

    def rca_view(incident_id: str | None) -> tuple[Any, ...]:
        if not incident_id:
            return "No incident detected.", _frame(None), None, None, None, None, "", _frame(None)
        analysis = wb.analysis(incident_id)
        found = analysis.investigation
        causes = found.causes.causes if found.causes else []
        table = _frame(
            [
                {
                    "rank": rank,
                    "cause": c.kind,
                    "status": c.status.replace("_", " "),
                    "confidence": round(c.confidence, 2),
                    "share of change explained": _pct(c.impact_share),
                    "orders": c.orders_affected,
                    "evidence": ", ".join(c.evidence),
                }
                for rank, c in enumerate(causes, start=1)
            ]
        )
        did = next(iter(found.did.values()), None)
        start, end = analysis.window
        scope = analysis.scope
        drivers = wb.series(
            list(DRIVER_METRICS),
            scope,
            start - dt.timedelta(days=BASELINE_DAYS),
            end,
            _grain(scope),
        )
        leading = analysis.leading_causes()
        headline = (
            f"### Most likely: **{leading[0].kind}** (confidence {leading[0].confidence:.2f}) "
            f"[{found.causes_id}]"
            if leading
            else "### No hypothesis is supported"
        )
        evidence = _frame(
            [
                {"id": i.id, "tool": i.tool, "summary": i.summary, "seconds": round(i.seconds, 3)}
                for i in analysis.context.ledger.items
            ]
        )
        return (
            headline,
            table,
            charts.causes_figure(causes) if causes else None,
            charts.event_study_figure(did[0]) if did else None,
            charts.shap_figure(found.shap) if found.shap else None,
            charts.series_figure(
                drivers, list(DRIVER_METRICS), start, f"Drivers in the slice, by {_grain(scope)}"
            ),
            markdown_answer(analysis.report),
            evidence,
        )

    def recommendations_view(incident_id: str | None) -> tuple[Any, ...]:
        if not incident_id:
            return "No incident detected.", _frame(None), None
        analysis = wb.recommendations(incident_id)
        ranked = analysis.recommendations
        if ranked is None:
            notes = markdown_text("; ".join(analysis.notes)) or "No recommendation."
            return notes, _frame(None), None
        text = f"{markdown_text(ranked.summary)} [{analysis.recommendations_id}]"
        table = _frame(
            [
                {
                    "rank": r.rank,
                    "action": r.action,
                    "what": r.title,
                    "addresses": ", ".join(r.addresses),
                    "CX gain (90%)": f"{r.cx_gain.estimate:+.2f} ({r.cx_gain.low:+.2f} to "
                    f"{r.cx_gain.high:+.2f})",
                    "on-time": f"{100 * r.on_time_gain.estimate:+.1f} pp",
                    "$ per order": f"{r.cost_usd_per_order:.2f}",
                    "Pareto": "yes" if r.pareto else "no",
                    "tradeoff": r.tradeoff,
                    "evidence": r.evidence,
                }
                for r in ranked.recommendations
            ]
        )
        return text, table, charts.tradeoff_figure(ranked.recommendations)

    def tune(action: str) -> tuple[gr.Slider, gr.Checkbox]:
        spec = _parameter(action)
        checked = spec is not None and spec.default is not None
        return gr.Slider(**parameter_slider(action)), gr.Checkbox(
            value=checked, interactive=spec is not None
        )

    def run_what_if(
        incident_id: str, action: str, value: float, use_value: bool
    ) -> tuple[str, pd.DataFrame]:
        parameters = {}
        spec = _parameter(action)
        if spec is not None and use_value:
            parameters[spec.name] = float(value)
        try:
            output, evidence_id = wb.what_if(incident_id, action, parameters)
        except ToolError as error:
            return f"What-if failed: {markdown_text(error)}", _frame(None)
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
        return text, _frame(rows)

    def run_sweep(incident_id: str, action: str) -> Any:
        spec = _parameter(action)
        if spec is None:
            return None
        low, high = spec.minimum, spec.maximum
        values = [round(low + (high - low) * k / 5, 4) for k in range(6)]
        rows, _ = wb.sweep(incident_id, action, spec.name, values)
        return charts.sweep_figure(rows, spec.name)

    def plan_view(incident_id: str | None, action: str | None) -> tuple[Any, ...]:
        if not incident_id:
            return "No incident detected.", gr.DownloadButton(visible=False), gr.skip()
        analysis = wb.recommendations(incident_id)
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
            output, evidence_id = wb.plan(incident_id, action)
        except ToolError as error:
            return f"No plan: {markdown_text(error)}", gr.DownloadButton(visible=False), gr.skip()
        path = wb.export(f"experiment_plan_{incident_id}_{action}.md", output.markdown)
        return (
            markdown_answer(output.markdown)
            + f"\n\n<sub>Every number above is a figure of {evidence_id}.</sub>",
            gr.DownloadButton(value=str(path), visible=True),
            gr.Dropdown(choices=choices, value=action),
        )

    def pm_view(incident_id: str | None) -> tuple[Any, ...]:
        if not incident_id:
            return "No incident detected: nothing to brief.", gr.DownloadButton(visible=False)
        text = pm_summary(wb, incident_id)
        path = wb.export(f"incident_brief_{incident_id}.md", text)
        return text, gr.DownloadButton(value=str(path), visible=True)

    def evals_status() -> str:
        if not eval_command_available():
            return EVALS_MISSING
        report = last_eval_report()
        if report is None:
            return "Ready: **Run the suite** calls `cxagent eval` and shows its report."
        when = dt.datetime.fromtimestamp(report.stat().st_mtime)
        return f"*Last run, {when:%Y-%m-%d %H:%M}:*\n\n" + markdown_answer(report.read_text())

    def run_evals() -> str:
        if not eval_command_available():
            return EVALS_MISSING
        with tempfile.TemporaryDirectory() as folder:
            json_path, markdown_path = Path(folder) / "eval.json", Path(folder) / "eval.md"
            done = subprocess.run(
                [sys.executable, "-m", "cxagent", "eval", "--json", str(json_path),
                 "--markdown", str(markdown_path)],
                capture_output=True, text=True, timeout=EVAL_TIMEOUT_S, check=False,
            )  # fmt: skip
            report = markdown_path.read_text() if markdown_path.is_file() else ""
        verdict = {0: "every scenario met its expected findings", 1: "some scenarios missed"}
        status = verdict.get(done.returncode, f"failed (exit {done.returncode})")
        if report:
            return f"`cxagent eval`: {status}.\n\n{markdown_answer(report)}"
        output = (done.stdout + done.stderr)[-6000:]
        return f"`cxagent eval`: {status}.\n\n{code_block(output, 'text')}"

    # -- layout: the world is read-only, so the dashboard is drawn once, into the page config,
    # and a first visit needs no round trip to the server ----------------------------------
    default_metrics = ["on_time_rate", "cancellation_rate"]
    first_trend, first_incidents, first_changes = dashboard("day", default_metrics)
    incident_ids = [i.incident_id for i in wb.incidents()]
    examples = example_questions(wb.overview())
    with gr.Blocks(title="cx-agent workbench") as blocks:
        session = gr.State({})
        active = gr.State("dashboard")
        slice_filters = gr.State([])
        chosen_slice = gr.State({})
        with gr.Row():
            gr.Markdown(header(), latex_delimiters=NO_LATEX)
            incident_pick = gr.Dropdown(
                incident_ids,
                value=incident_ids[0] if incident_ids else None,
                label="Incident (for the incident, cause, action, plan and PM tabs)",
                elem_id="incident-pick",
                scale=0,
                min_width=320,
            )
        with gr.Tabs():
            with gr.Tab("Dashboard", id="dashboard") as dashboard_tab:
                with gr.Row():
                    grain = gr.Radio(["day", "hour"], value="day", label="Grain")
                    metrics = gr.CheckboxGroup(
                        list(CX_SUBMETRICS),
                        value=default_metrics,
                        label="Sub-metrics",
                    )
                trend = gr.Plot(first_trend, label="CX trend", elem_id="dashboard-trend")
                incidents_table = gr.Dataframe(
                    first_incidents,
                    label="Incidents",
                    interactive=False,
                    elem_id="dashboard-incidents",
                )
                changes_table = gr.Dataframe(first_changes, label="Change log", interactive=False)
            with gr.Tab("Chat", id="chat") as chat_tab, gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(
                        label="Agent",
                        elem_id="chat-answers",
                        height=600,
                        buttons=["copy"],
                        latex_delimiters=NO_LATEX,
                    )
                    with gr.Row():
                        question = gr.Textbox(
                            placeholder=f"Ask: {examples[0]}",
                            show_label=False,
                            scale=5,
                            elem_id="chat-input",
                        )
                        send = gr.Button("Ask", variant="primary", scale=1, elem_id="chat-send")
                    chips = gr.Dataset(
                        components=[question],
                        samples=[[example] for example in examples],
                        samples_per_page=len(examples),
                        label="Try (click to ask)",
                        elem_id="chat-examples",
                    )
                with gr.Column(scale=2):
                    plan_download = gr.DownloadButton(
                        "Download experiment plan (.md)",
                        visible=False,
                        elem_id="chat-plan-download",
                    )
                    evidence_id = gr.Textbox(
                        label="Evidence inspector (click a citation, or type an id)",
                        elem_id="evidence-id",
                    )
                    evidence_open = gr.Button("Open", elem_id="evidence-open", size="sm")
                    evidence_view = gr.Markdown(
                        "Citations like [E3] in an answer open here.",
                        elem_id="evidence-view",
                        elem_classes="evidence-view",
                        latex_delimiters=NO_LATEX,
                    )
            with gr.Tab("Incident", id="incident") as incident_tab:
                incident_text = gr.Markdown(latex_delimiters=NO_LATEX)
                slices_table = gr.Dataframe(label="Top slices", interactive=False)
                pair = gr.Dropdown(
                    list(wb.heatmap_pairs()), value="category x hour", label="Heatmap"
                )
                heatmap = gr.Plot(elem_id="incident-heatmap")
                breakdown_by = gr.Dropdown(
                    list(wb.dimensions()), value="region", label="Break the slice down by"
                )
                drill_plot = gr.Plot()
                breakdown_table = gr.Dataframe(label="Breakdown", interactive=False)
                gr.Markdown("#### Was the top cause (Root cause tab) right?")
                with gr.Row():
                    verdict = gr.Radio(
                        VERDICT_CHOICES, label="The top cause is", elem_id="feedback-verdict"
                    )
                    right_cause = gr.Dropdown(
                        list(CAUSE_CHOICES),
                        value=None,
                        label="The right cause (when wrong or not quite)",
                        elem_id="feedback-cause",
                    )
                with gr.Row():
                    comment = gr.Textbox(
                        label="Comment", lines=2, max_length=MAX_COMMENT_CHARS, scale=3,
                        elem_id="feedback-comment",
                    )  # fmt: skip
                    author = gr.Textbox(
                        label="Your name (optional)", max_length=MAX_AUTHOR_CHARS, scale=1,
                        elem_id="feedback-author",
                    )  # fmt: skip
                feedback_send = gr.Button("Send feedback", elem_id="feedback-send")
                feedback_status = gr.Markdown(elem_id="feedback-status", latex_delimiters=NO_LATEX)
                feedback_text = gr.Markdown(elem_id="feedback-view", latex_delimiters=NO_LATEX)
                similar_text = gr.Markdown(elem_id="similar-incidents", latex_delimiters=NO_LATEX)
            with gr.Tab("Root cause", id="rca") as rca_tab:
                rca_text = gr.Markdown(elem_id="rca-headline", latex_delimiters=NO_LATEX)
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
            with gr.Tab("Recommendations", id="recommendations") as recommendations_tab:
                recommendations_text = gr.Markdown(latex_delimiters=NO_LATEX)
                recommendations_table = gr.Dataframe(label="What-if per action", interactive=False)
                tradeoff = gr.Plot(elem_id="recommendations-tradeoff")
                gr.Markdown("#### Re-run a what-if")
                with gr.Row():
                    action = gr.Dropdown(
                        list(ACTIONS),
                        value="revert_batching",
                        label="Action",
                        elem_id="whatif-action",
                    )
                    use_value = gr.Checkbox(
                        value=False, label="Set the parameter (off: the action's own default)"
                    )
                    value = gr.Slider(**parameter_slider("revert_batching"), elem_id="whatif-value")
                with gr.Row():
                    what_if_button = gr.Button("Run what-if", variant="primary")
                    sweep_button = gr.Button("Sweep the parameter")
                what_if_text = gr.Markdown(elem_id="whatif-summary", latex_delimiters=NO_LATEX)
                what_if_table = gr.Dataframe(
                    _frame(None, ["change of", "unit", "estimate", "90% low", "90% high"]),
                    interactive=False,
                    elem_id="whatif-table",
                )
                sweep_plot = gr.Plot()
            with gr.Tab("Experiment plan", id="plan") as plan_tab:
                plan_action = gr.Dropdown(label="Action to test", elem_id="plan-action")
                plan_file = gr.DownloadButton(
                    "Download plan (.md)", visible=False, elem_id="plan-download"
                )
                plan_text = gr.Markdown(elem_id="plan-text", latex_delimiters=NO_LATEX)
            with gr.Tab("PM summary", id="pm") as pm_tab:
                gr.Markdown("*Read-only brief for product managers: business terms only.*")
                pm_file = gr.DownloadButton("Download brief (.md)", visible=False)
                pm_text = gr.Markdown(elem_id="pm-summary", latex_delimiters=NO_LATEX)
            with gr.Tab("Evals", id="evals") as evals_tab:
                if eval_button:
                    gr.Markdown("Runs the seeded scenario suite (`cxagent eval`); takes minutes.")
                    evals_button = gr.Button("Run the suite", elem_id="evals-run")
                else:
                    gr.Markdown(EVALS_GATED)
                evals_text = gr.Markdown(elem_id="evals-status", latex_delimiters=NO_LATEX)

        # -- events ----------------------------------------------------------------------
        dashboard_outputs = [trend, incidents_table, changes_table]
        grain.change(dashboard, [grain, metrics], dashboard_outputs)
        metrics.change(dashboard, [grain, metrics], dashboard_outputs)

        chat_outputs = [chatbot, question, session, plan_download]
        question.submit(respond, [question, chatbot, session], chat_outputs)
        send.click(respond, [question, chatbot, session], chat_outputs)
        chips.click(ask_example, [chips, chatbot, session], chat_outputs)
        evidence_open.click(open_evidence, [evidence_id, session], evidence_view)
        evidence_id.submit(open_evidence, [evidence_id, session], evidence_view)

        views: dict[str, tuple[Callable[..., Any], list[Any], list[Any]]] = {
            "incident": (
                incident_view,
                [incident_pick, pair, breakdown_by],
                [
                    incident_text,
                    slices_table,
                    heatmap,
                    slice_filters,
                    chosen_slice,
                    drill_plot,
                    breakdown_table,
                    feedback_text,
                    similar_text,
                ],
            ),
            "rca": (
                rca_view,
                [incident_pick],
                [
                    rca_text,
                    causes_table,
                    causes_plot,
                    did_plot,
                    shap_plot,
                    drivers_plot,
                    report,
                    ledger,
                ],
            ),  # fmt: skip
            "recommendations": (
                recommendations_view,
                [incident_pick],
                [recommendations_text, recommendations_table, tradeoff],
            ),
            "plan": (plan_view, [incident_pick, plan_action], [plan_text, plan_file, plan_action]),
            "pm": (pm_view, [incident_pick], [pm_text, pm_file]),
        }
        tabs = {
            "incident": incident_tab,
            "rca": rca_tab,
            "recommendations": recommendations_tab,
            "plan": plan_tab,
            "pm": pm_tab,
        }
        for name, tab in tabs.items():
            render, inputs, outputs = views[name]
            tab.select(lambda name=name: name, None, active).then(render, inputs, outputs)
            incident_pick.change(
                _when_active(name, render, len(outputs)), [active, *inputs], outputs
            )
        dashboard_tab.select(lambda: "dashboard", None, active)
        chat_tab.select(lambda: "chat", None, active)
        pair.change(incident_view, views["incident"][1], views["incident"][2])
        slices_table.select(
            pick_slice,
            [incident_pick, slice_filters, breakdown_by],
            [chosen_slice, drill_plot, breakdown_table],
        )
        breakdown_by.change(
            drill, [incident_pick, chosen_slice, breakdown_by], [drill_plot, breakdown_table]
        )
        feedback_send.click(
            send_feedback,
            [incident_pick, verdict, right_cause, comment, author],
            [feedback_status, feedback_text],
        )
        action.change(tune, action, [value, use_value])
        what_if_button.click(
            run_what_if, [incident_pick, action, value, use_value], [what_if_text, what_if_table]
        )
        sweep_button.click(run_sweep, [incident_pick, action], sweep_plot)
        plan_action.input(
            plan_view, [incident_pick, plan_action], [plan_text, plan_file, plan_action]
        )
        evals_tab.select(evals_status, None, evals_text)
        if eval_button:
            evals_button.click(run_evals, None, evals_text, concurrency_limit=1)
    blocks.queue(default_concurrency_limit=4)
    return blocks


def _when_active(
    name: str, render: Callable[..., tuple[Any, ...]], outputs: int
) -> Callable[..., tuple[Any, ...]]:
    """Re-render a tab on an incident change only if it is the tab in view."""

    def run(active: str, *inputs: Any) -> tuple[Any, ...]:
        if active != name:
            return tuple(gr.skip() for _ in range(outputs))
        try:
            return render(*inputs)
        except UnknownIncident as error:
            raise gr.Error(str(error)) from None

    return run


def _expected_observed(incident: IncidentSummary) -> str:
    """'92.33 -> 89.84 CX score', or where the data has no CX score the lead metric's."""
    found = expected_vs_observed(incident)
    return f"{found[1]} -> {found[2]} {found[0]}" if found else ""
