"""Plotly figures of the workbench: CX trends with markers, heatmaps, evidence, tradeoffs and
the chat's trend answers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analytics.metrics import CX_SCORE, METRICS
from cxagent.web.escaping import plotly_text
from tools.detection import IncidentSummary
from tools.rca import ChangeRow, DiffInDiffOutput, RankedCause, ShapAttributionOutput
from tools.recommend import Recommendation

UNIT_SUFFIX = {"stars": " (stars)", "minutes": " (min)"}  # a mean's axis says its unit
SHARES = frozenset(name for name, metric in METRICS.items() if metric.unit == "share")
STATUS_COLORS = {
    "supported": "#c0392b",
    "weak": "#e67e22",
    "ruled_out": "#95a5a6",
    "not_testable": "#bdc3c7",
}
MIN_CELL_ORDERS = 30  # heatmap cells with fewer incident orders are too noisy to colour
LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 60, "r": 20, "t": 50, "b": 40},
    "legend": {"orientation": "h", "y": -0.15},
}


def label(metric: str) -> str:
    """A metric's name on a chart: the registry's label, with the unit of a mean."""
    if metric == CX_SCORE:
        return "CX score"
    if metric in METRICS:
        return METRICS[metric].label + UNIT_SUFFIX.get(METRICS[metric].unit, "")
    return metric.replace("_", " ")


def shown(metric: str, values: pd.Series) -> pd.Series:
    """Values as displayed: shares in percent, everything else as is."""
    return 100 * values if metric in SHARES else values


def trend_figure(
    rows: list[dict[str, Any]],
    metrics: list[str],
    grain: str,
    incidents: list[IncidentSummary],
    changes: list[ChangeRow],
    data_end: dt.datetime,
) -> go.Figure:
    """CX score on top and one panel per sub-metric (% or stars) below, with incident spans
    shaded and logged changes as dotted lines."""
    frame = pd.DataFrame(rows)
    frame["period"] = pd.to_datetime(frame["period"])
    panels = ["cx_score", *(m for m in metrics if m != "cx_score")]
    figure = make_subplots(
        rows=len(panels),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.04,
        row_heights=[2.0] + [1.0] * (len(panels) - 1),
    )
    for row, metric in enumerate(panels, start=1):
        figure.add_trace(
            go.Scatter(x=frame["period"], y=shown(metric, frame[metric]), name=label(metric)),
            row=row,
            col=1,
        )
        unit = axis_unit(metric)
        figure.update_yaxes(title_text=unit, row=row, col=1)
    for incident in incidents:
        start, end = pd.Timestamp(incident.start), pd.Timestamp(incident.end or data_end)
        if grain == "day":  # a daily point stands for its whole day: shade whole days
            start, end = start.floor("D"), end.ceil("D")
        figure.add_vrect(
            x0=start,
            x1=end,
            fillcolor=STATUS_COLORS["supported"],
            opacity=0.15,
            line_width=0,
        )
        figure.add_annotation(
            x=start, y=1.0, yref="paper", text=incident.incident_id, showarrow=False,
            xanchor="right", yanchor="bottom", font={"size": 10, "color": "#c0392b"},
        )  # fmt: skip
    for change in changes:
        figure.add_vline(x=change.change_time, line_dash="dot", line_color="#8e44ad", opacity=0.6)
        figure.add_annotation(
            x=change.change_time, y=1.0, yref="paper",
            text=plotly_text(f"{change.change_id} {change.name}"),
            showarrow=False, textangle=-90, xanchor="right", yanchor="top",
            font={"size": 9, "color": "#8e44ad"},
        )  # fmt: skip
    figure.update_layout(
        **LAYOUT,
        height=300 + 130 * (len(panels) - 1),
        title=f"CX by {grain}: incidents shaded, logged changes dotted",
    )
    return figure


def axis_unit(metric: str) -> str:
    """What a metric's axis reads in: "%" for shares, else the registry's unit."""
    if metric in SHARES:
        return "%"
    if metric in METRICS:
        return METRICS[metric].unit
    return "score" if metric == CX_SCORE else metric.replace("_", " ")


def change_unit(metric: str) -> tuple[float, str]:
    """How a change of a metric is shown: (scale, unit), e.g. (100, "pp") for a share."""
    if metric in SHARES or metric.endswith(("_share", "_rate")):
        return 100.0, "pp"
    if metric.endswith("_usd"):
        return 1.0, "$"
    if metric.endswith("_min"):
        return 1.0, "min"
    unit = METRICS[metric].unit if metric in METRICS else ""
    return 1.0, {CX_SCORE: "points"}.get(metric, unit)


def answer_trend_figure(rows: list[dict[str, Any]], chart: dict[str, Any]) -> go.Figure:
    """A trend answer's series as a line: `chart` names the table's period column (x), the
    metric column (y), its label and the grain; shares are drawn in percent."""
    x, y = chart.get("x", "period"), chart["y"]
    title = plotly_text(chart.get("label") or label(y))
    frame = pd.DataFrame(rows, columns=[x, y])
    frame[x] = pd.to_datetime(frame[x])
    unit = axis_unit(y)
    figure = go.Figure(
        go.Scatter(
            x=frame[x],
            y=shown(y, frame[y]),
            name=title,
            mode="lines+markers",
            marker={"size": 5},
            hovertemplate="%{x}<br>%{y:.1f}%<extra></extra>" if unit == "%" else None,
        )
    )
    grain = chart.get("grain") or "period"
    figure.update_layout(
        **LAYOUT,
        height=320,
        title=f"{title} by {plotly_text(grain)}",
        showlegend=False,
    )
    figure.update_yaxes(title_text=unit)
    return figure


def heatmap_figure(frame: pd.DataFrame, first: str, second: str, metric: str) -> go.Figure:
    """Change (incident minus baseline) of a metric per cell of two dimensions."""
    figure = go.Figure()
    if not frame.empty:
        sparse = frame["incident_orders"] < MIN_CELL_ORDERS
        frame = frame.assign(delta=frame["delta"].mask(sparse))
        table = frame.pivot(index=first, columns=second, values="delta")
        orders = frame.pivot(index=first, columns=second, values="incident_orders")
        scale = 100 if metric in SHARES else 1
        unit = "pp" if metric in SHARES else ""
        figure.add_trace(
            go.Heatmap(
                z=scale * table.to_numpy(),
                x=[plotly_text(c) for c in table.columns],
                y=[plotly_text(i) for i in table.index],
                customdata=orders.to_numpy(),
                colorscale="RdBu" if _higher_is_better(metric) else "RdBu_r",
                zmid=0,
                colorbar={"title": unit or "change"},
                hovertemplate=f"{first}=%{{y}}, {second}=%{{x}}<br>change %{{z:+.1f}} {unit}"
                "<br>incident orders %{customdata}<extra></extra>",
            )
        )
    figure.update_layout(
        **LAYOUT,
        height=380,
        title=f"Change of {label(metric).lower()} vs the 14 days before, by {first} x {second} "
        f"(blank: < {MIN_CELL_ORDERS} orders)",
        xaxis_title=second,
        yaxis_title=first,
    )
    return figure


def _higher_is_better(metric: str) -> bool:
    return METRICS[metric].higher_is_better if metric in METRICS else metric == CX_SCORE


def series_figure(
    frame: pd.DataFrame, metrics: list[str], start: dt.datetime, title: str
) -> go.Figure:
    """A cohort's series, one panel per metric, with the incident start marked; `title` is
    shown as text (it names the cohort's values)."""
    figure = make_subplots(
        rows=len(metrics), cols=1, shared_xaxes=True, subplot_titles=[label(m) for m in metrics]
    )
    for index, metric in enumerate(metrics, start=1):
        figure.add_trace(
            go.Scatter(
                x=frame["period"],
                y=shown(metric, frame[metric]),
                name=label(metric),
                mode="lines+markers",
                marker={"size": 4},
            ),  # fmt: skip
            row=index,
            col=1,
        )
    figure.add_vline(x=start, line_dash="dash", line_color=STATUS_COLORS["supported"])
    figure.update_layout(
        **LAYOUT, height=200 + 160 * len(metrics), title=plotly_text(title), showlegend=False
    )
    return figure


def causes_figure(causes: list[RankedCause]) -> go.Figure:
    """Ranked causes: confidence bars coloured by status, with the share of change explained."""
    ordered = list(reversed(causes))
    figure = go.Figure(
        go.Bar(
            x=[c.confidence for c in ordered],
            y=[c.kind for c in ordered],
            orientation="h",
            marker_color=[STATUS_COLORS.get(c.status, "#7f8c8d") for c in ordered],
            text=[
                f"{c.status.replace('_', ' ')}, explains {100 * c.impact_share:.0f}%"
                for c in ordered
            ],
            textposition="auto",
        )
    )
    figure.update_layout(
        **LAYOUT, height=320, title="Ranked causes (confidence 0-1)", xaxis_range=[0, 1]
    )
    return figure


def event_study_figure(did: DiffInDiffOutput) -> go.Figure:
    """Diff-in-diff event study: effect on the bad-outcome rate per day around the change."""
    frame = pd.DataFrame(did.event_study)
    figure = go.Figure()
    if not frame.empty:
        figure.add_trace(
            go.Scatter(
                x=frame["day"],
                y=100 * frame["estimate"],
                mode="markers+lines",
                name="effect",
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": 100 * (frame["ci_high"] - frame["estimate"]),
                    "arrayminus": 100 * (frame["estimate"] - frame["ci_low"]),
                },
            )
        )
    figure.add_hline(y=0, line_color="#7f8c8d")
    figure.add_vline(x=-0.5, line_dash="dot", line_color="#8e44ad")
    figure.update_layout(
        **LAYOUT,
        height=320,
        title=plotly_text(
            f"{did.change_id} {did.name}: {did.outcome} in scope vs control, by day (95% CI)"
        ),
        xaxis_title="days since the change",
        yaxis_title="pp",
    )
    return figure


def shap_figure(shap: ShapAttributionOutput) -> go.Figure:
    """SHAP shift: each feature's contribution to the change of the bad-outcome rate."""
    features = sorted(shap.features, key=lambda f: abs(f.contribution))[-10:]
    names = ["residual (not explained)"] + [
        plotly_text(f.feature) for f in features
    ]  # the top bar is the largest
    values = [100 * shap.residual] + [100 * f.contribution for f in features]
    figure = go.Figure(
        go.Bar(
            x=values,
            y=names,
            orientation="h",
            marker_color=["#c0392b" if v > 0 else "#2980b9" for v in values],
        )
    )
    figure.update_layout(
        **LAYOUT,
        height=360,
        title=f"SHAP shift: contributions to the {100 * shap.observed_change:+.1f} pp change",
        xaxis_title="pp of the bad-outcome rate",
    )
    return figure


def tradeoff_figure(recommendations: list[Recommendation]) -> go.Figure:
    """CX gained vs cost per order for every simulated action, with the Pareto frontier."""
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=[r.cost_usd_per_order for r in recommendations],
            y=[r.cx_gain.estimate for r in recommendations],
            mode="markers+text",
            text=[r.action for r in recommendations],
            textposition="top center",
            marker={
                "size": 12,
                "color": ["#c0392b" if r.pareto else "#95a5a6" for r in recommendations],
            },
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [r.cx_gain.high - r.cx_gain.estimate for r in recommendations],
                "arrayminus": [r.cx_gain.estimate - r.cx_gain.low for r in recommendations],
            },
            name="actions (90% interval)",
        )
    )
    front = sorted((r for r in recommendations if r.pareto), key=lambda r: r.cost_usd_per_order)
    figure.add_trace(
        go.Scatter(
            x=[r.cost_usd_per_order for r in front],
            y=[r.cx_gain.estimate for r in front],
            mode="lines",
            line={"dash": "dash", "color": "#c0392b"},
            name="Pareto frontier",
        )
    )
    figure.update_layout(
        **LAYOUT,
        height=400,
        title="Tradeoff: CX points gained vs cost per order",
        xaxis_title="cost, $ per order",
        yaxis_title="CX points gained",
    )
    return figure


def sweep_figure(rows: list[dict[str, float]], parameter: str) -> go.Figure:
    """A what-if parameter sweep: CX gain (with interval) and cost per order."""
    frame = pd.DataFrame(rows)
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_trace(
        go.Scatter(
            x=frame["value"],
            y=frame["cx_gain"],
            name="CX points gained",
            error_y={
                "type": "data",
                "symmetric": False,
                "array": frame["cx_high"] - frame["cx_gain"],
                "arrayminus": frame["cx_gain"] - frame["cx_low"],
            },
        )
    )
    figure.add_trace(
        go.Scatter(x=frame["value"], y=frame["cost_usd"], name="$ per order", line_dash="dot"),
        secondary_y=True,
    )
    figure.update_layout(**LAYOUT, height=340, title=f"Sensitivity to {parameter}")
    figure.update_xaxes(title_text=parameter)
    figure.update_yaxes(title_text="CX points gained", secondary_y=False)
    figure.update_yaxes(title_text="$ per order", secondary_y=True)
    return figure
