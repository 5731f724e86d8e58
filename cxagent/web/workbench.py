"""One world's workbench: the shared agent and the tool results the UI and the REST API show,
computed once per world (overview) or per incident (RCA, recommendations, plans) and cached.

Everything goes through the agent or the typed tools, so every number shown has an evidence
item behind it. Each incident gets its own tool context (and ledger) so its RCA report cites a
clean E1, E2, ... sequence; dashboards and drill-downs share one exploration context.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from threadpoolctl import threadpool_limits

from agent.service import Agent, stream_steps
from agent.settings import AgentSettings
from analytics.metrics import CX_COMPONENTS, CX_SCORE
from data.schema import DAYPARTS
from data.world_config import CATEGORIES, REGIONS
from tools.actions import ACTIONS
from tools.base import EvidenceItem, ToolContext, ToolError
from tools.catalog import REGISTRY  # noqa: F401  (registers the tools)
from tools.detection import DetectIncidentsOutput, IncidentSummary, TopSlicesOutput
from tools.investigation import Investigation, investigate
from tools.plan import ExperimentPlanOutput
from tools.rca import ChangeRow
from tools.recommend import RecommendOutput, WhatIfOutput
from tools.report import render_report

CX_SUBMETRICS = CX_COMPONENTS  # the CX score's parts, as the metrics registry weights them
DASHBOARD_METRICS = (CX_SCORE, *CX_SUBMETRICS)
DRIVER_METRICS = ("batched_rate", "prep_min", "dasher_wait_min")
THREAD_LOCKS = 64  # locks that serialize the turns of a conversation (see Workbench.ask)
BASELINE_DAYS = 14  # the tools' default baseline before an incident
# The dimensions a heatmap or breakdown steps through, and the synthetic world's values of each
# (a served world's own are read from it: Workbench.dimension_values).
MAX_DIMENSION_VALUES = 12  # the busiest values of a dimension a heatmap or breakdown shows
DIMENSION_VALUES: dict[str, tuple[str | int, ...]] = {
    "region": REGIONS,
    "category": CATEGORIES,
    "daypart": tuple(DAYPARTS),
    "basket_size": ("small", "medium", "large"),
    "hour": tuple(range(24)),
}
HEATMAP_PAIRS: dict[str, tuple[str, str]] = {
    "category x hour": ("category", "hour"),
    "region x hour": ("region", "hour"),
    "region x category": ("region", "category"),
    "basket size x category": ("basket_size", "category"),
    "daypart x region": ("daypart", "region"),
}


def series_grain(filters: dict[str, list[Any]]) -> str:
    """The grain to chart a slice's series at: daily for slices of a few hours (their hourly
    series has gaps), else hourly."""
    return "day" if "hour" in filters else "hour"


class UnknownIncident(KeyError):
    """An incident id the detector did not report."""

    def __str__(self) -> str:
        return str(self.args[0])


@contextmanager
def one_thread() -> Iterator[None]:
    """Run model fitting single-threaded in this thread: on a busy 2-core machine OpenMP's
    spinning threads made one what-if 15x slower, and concurrent users make it worse."""
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


@dataclass
class Overview:
    """The dashboard's data: CX series, incidents and logged changes of the whole world."""

    daily: list[dict[str, Any]]
    hourly: list[dict[str, Any]]
    detection: DetectIncidentsOutput
    changes: list[ChangeRow]
    seconds: float


@dataclass
class Analysis:
    """What the workbench computed about one incident, in the incident's own tool context."""

    incident: IncidentSummary
    context: ToolContext
    investigation: Investigation
    report: str
    lock: threading.RLock = field(default_factory=threading.RLock)
    recommendations: RecommendOutput | None = None
    recommendations_id: str | None = None
    notes: list[str] = field(default_factory=list)
    plans: dict[str, tuple[ExperimentPlanOutput, str]] = field(default_factory=dict)
    recommended: bool = False

    @property
    def window(self) -> tuple[dt.datetime, dt.datetime]:
        assert self.investigation.window is not None
        return self.investigation.window

    @property
    def scope(self) -> dict[str, list[str | int]]:
        """Filters of the slice the RCA tested first (where actions are simulated)."""
        sites = self.investigation.sites
        return dict(sites[0].filters) if sites else {}

    def leading_causes(self) -> list[Any]:
        causes = self.investigation.causes.causes if self.investigation.causes else []
        return [c for c in causes if c.status in ("supported", "weak")]


class Workbench:
    """The UI's and the API's view of one world. Thread-safe; share one per world."""

    def __init__(self, world_dir: Path | str, settings: AgentSettings | None = None) -> None:
        self.world_dir = Path(world_dir)
        # Fails clearly without a warehouse; conversations survive a restart (threads.sqlite).
        self.agent = Agent(self.world_dir, settings, keep_threads=True)
        # Model libraries now, the incident scan in the background.
        self._warm_up = self.agent.warm_up()
        self.export_dir = Path(tempfile.mkdtemp(prefix="cxagent-web-"))
        self._explore = ToolContext(world_dir=self.world_dir, shared=self.agent.shared)
        self._lock = threading.Lock()
        self._overview: Overview | None = None
        self._overview_lock = threading.Lock()
        self._analyses: dict[str, Analysis] = {}
        self._analysis_locks: dict[str, threading.Lock] = {}
        # Turns of one conversation run one at a time: a fixed set of locks, a thread's chosen
        # by its id, so the locks stay bounded however many conversations come (two threads
        # that share a lock merely take turns).
        self._thread_locks = [threading.Lock() for _ in range(THREAD_LOCKS)]

    # -- world overview -------------------------------------------------------------------
    def overview(self) -> Overview:
        """CX series (daily and hourly), incidents and changes; computed once per world."""
        with self._overview_lock:
            if self._overview is None:
                started = time.perf_counter()
                tools = self._explore
                detection, _ = tools.call("detect_incidents", {"grain": "auto"})
                series = {
                    grain: tools.call(
                        "cx_timeseries", {"metrics": list(DASHBOARD_METRICS), "grain": grain}
                    )[0].rows
                    for grain in ("day", "hour")
                }
                changes = self._changes(detection.data_start, detection.data_end)
                self._overview = Overview(
                    daily=series["day"],
                    hourly=series["hour"],
                    detection=detection,
                    changes=changes,
                    seconds=time.perf_counter() - started,
                )
            return self._overview

    def _changes(self, first: dt.datetime, last: dt.datetime) -> list[ChangeRow]:
        """Every logged change in the data's span (the change_log tool looks back <= 30 days)."""
        found: dict[str, ChangeRow] = {}
        around = last
        while around > first - dt.timedelta(days=30):
            output, _ = self._explore.call(
                "change_log", {"around": around, "days_before": 30, "hours_after": 0}
            )
            found.update({change.change_id: change for change in output.changes})
            around -= dt.timedelta(days=30)
        return sorted(found.values(), key=lambda change: change.change_time)

    def incidents(self) -> list[IncidentSummary]:
        return list(self.overview().detection.incidents)

    def incident(self, incident_id: str) -> IncidentSummary:
        """The incident with this id, or UnknownIncident naming the known ones."""
        for incident in self.incidents():
            if incident.incident_id == incident_id:
                return incident
        known = ", ".join(i.incident_id for i in self.incidents()) or "none"
        raise UnknownIncident(f"unknown incident {incident_id!r}; known: {known}")

    def window(self, incident: IncidentSummary) -> tuple[dt.datetime, dt.datetime]:
        """[start, end) of an incident (an ongoing one runs to the end of the data)."""
        end = incident.end or self.overview().detection.data_end + dt.timedelta(seconds=1)
        return incident.start, end

    # -- one incident: slices and drill-downs (fast, shared context) -----------------------
    def slices(self, incident_id: str) -> tuple[TopSlicesOutput, EvidenceItem]:
        """The top regressing slices of an incident."""
        incident = self.incident(incident_id)
        return self._explore.call(
            "top_slices", {"incident_id": incident_id, "grain": incident.grain}
        )  # type: ignore[return-value]

    def series(
        self,
        metrics: list[str],
        filters: dict[str, list[str | int]],
        start: dt.datetime,
        end: dt.datetime,
        grain: str = "hour",
    ) -> pd.DataFrame:
        """A cohort's metric series (cx_timeseries) as a frame indexed by period."""
        output, _ = self._explore.call(
            "cx_timeseries",
            {"metrics": metrics, "grain": grain, "filters": filters, "start": start, "end": end},
        )
        frame = pd.DataFrame(output.rows, columns=["period", "orders", *metrics])
        frame["period"] = pd.to_datetime(frame["period"])
        return frame

    def window_change(
        self, incident_id: str, metric: str, filters: dict[str, list[str | int]]
    ) -> dict[str, float]:
        """A cohort's metric in the BASELINE_DAYS before an incident vs during it (order-weighted
        hourly values), with the orders and the days with orders in the incident window."""
        start, end = self.window(self.incident(incident_id))
        frame = self.series([metric], filters, start - dt.timedelta(days=BASELINE_DAYS), end)
        return _split(frame, metric, start)

    def dimension_values(self, dimension: str) -> tuple[str | int, ...]:
        """The values of a dimension in this world (its regions and categories, not the
        synthetic world's), the MAX_DIMENSION_VALUES with the most orders; hours are 0-23."""
        if dimension == "hour":
            return DIMENSION_VALUES["hour"]
        output, _ = self._explore.call(
            "rank_cohorts",
            {"dimension": dimension, "metric": "orders", "order": "highest",
             "k": MAX_DIMENSION_VALUES, "min_orders": 1},
        )  # fmt: skip
        ranked = [row.group for row in output.rows]
        known = [value for value in DIMENSION_VALUES.get(dimension, ()) if value in ranked]
        return tuple(known + sorted(v for v in ranked if v not in known))  # synthetic order first

    def custom_dimensions(self) -> tuple[str, ...]:
        """The world's custom dimensions (declared in its mapping; none in a synthetic world)."""

        def read() -> tuple[str, ...]:
            world, _ = self._explore.call("describe_world", {})
            return tuple(d.name for d in world.custom_dimensions)

        return self.agent.shared.get("custom_dimension_names", read)

    def dimensions(self) -> tuple[str, ...]:
        """The dimensions a slice breaks down by: the built-in ones, then the custom ones."""
        return (*DIMENSION_VALUES, *self.custom_dimensions())

    def heatmap_pairs(self) -> dict[str, tuple[str, str]]:
        """The heatmaps of this world: HEATMAP_PAIRS, then each custom dimension by hour and by
        region."""
        pairs = dict(HEATMAP_PAIRS)
        for name in self.custom_dimensions():
            pairs[f"{name} x hour"] = (name, "hour")
            pairs[f"{name} x region"] = (name, "region")
        return pairs

    def heatmap(self, incident_id: str, pair: str) -> pd.DataFrame:
        """Change of the incident's slice metric by a pair of dimensions (rows: one per cell)."""
        incident = self.incident(incident_id)
        first, second = self.heatmap_pairs()[pair]
        metric = incident.slice_metric
        start, end = self.window(incident)
        rows = []
        if second == "hour":  # hourly series of each value of the first dimension
            for value in self.dimension_values(first):
                frame = self.series(
                    [metric], {first: [value]}, start - dt.timedelta(days=BASELINE_DAYS), end
                )
                for hour, group in frame.groupby(frame["period"].dt.hour):
                    rows.append({first: value, second: int(hour), **_split(group, metric, start)})
        else:
            for value in self.dimension_values(first):
                for other in self.dimension_values(second):
                    change = self.window_change(
                        incident_id, metric, {first: [value], second: [other]}
                    )
                    rows.append({first: value, second: other, **change})
        return pd.DataFrame(rows)

    def breakdown(
        self, incident_id: str, filters: dict[str, list[str | int]], dimension: str
    ) -> pd.DataFrame:
        """A slice broken down by one more dimension: baseline vs incident per value."""
        incident = self.incident(incident_id)
        rows = []
        for value in self.dimension_values(dimension):
            if dimension in filters and value not in filters[dimension]:
                continue
            change = self.window_change(
                incident_id, incident.slice_metric, {**filters, dimension: [value]}
            )
            if change["incident_orders"]:
                rows.append({dimension: value, **change})
        return pd.DataFrame(rows)

    # -- one incident: RCA, recommendations, plans (slow, cached per incident) -------------
    def analysis(self, incident_id: str) -> Analysis:
        """The RCA of an incident (detect, localize, test every hypothesis, rank)."""
        incident = self.incident(incident_id)
        with self._lock:
            lock = self._analysis_locks.setdefault(incident_id, threading.Lock())
        with lock:
            if incident_id not in self._analyses:
                context = ToolContext(world_dir=self.world_dir, shared=self.agent.shared)
                with one_thread():
                    found = investigate(context, incident_id=incident_id, grain=incident.grain)
                self._analyses[incident_id] = Analysis(
                    incident=incident,
                    context=context,
                    investigation=found,
                    report=render_report(found, context.ledger),
                )
            return self._analyses[incident_id]

    def recommendations(self, incident_id: str) -> Analysis:
        """The analysis with its ranked actions (what-ifs of every action for the causes)."""
        analysis = self.analysis(incident_id)
        with analysis.lock:
            if analysis.recommended:
                return analysis
            leading = analysis.leading_causes()
            if not leading:
                analysis.notes.append("no supported cause, so no action to recommend")
            else:
                start, end = analysis.window
                arguments = {
                    "filters": analysis.scope,
                    "start": start,
                    "end": end,
                    "causes": [{"kind": c.kind, "confidence": c.confidence} for c in leading],
                }
                try:
                    with one_thread():
                        output, item = analysis.context.call("recommend_actions", arguments)
                    analysis.recommendations, analysis.recommendations_id = output, item.id
                except ToolError as error:
                    analysis.notes.append(f"recommendations: {error}")
            analysis.recommended = True
            return analysis

    def plan(self, incident_id: str, action: str | None = None) -> tuple[ExperimentPlanOutput, str]:
        """The experiment plan for an action (default: the top recommendation)."""
        analysis = self.recommendations(incident_id)
        ranked = analysis.recommendations.recommendations if analysis.recommendations else []
        if action is None:
            if not ranked:
                raise ToolError(f"{incident_id}: no recommended action to test")
            action = ranked[0].action
        if action not in ACTIONS:
            raise ToolError(f"unknown action {action!r}; known: {', '.join(ACTIONS)}")
        with analysis.lock:
            if action not in analysis.plans:
                output, item = analysis.context.call(
                    "experiment_plan", plan_arguments(analysis, action)
                )
                analysis.plans[action] = (output, item.id)
            return analysis.plans[action]

    def what_if(
        self, incident_id: str, action: str, parameters: dict[str, float]
    ) -> tuple[WhatIfOutput, str]:
        """Simulate an action with the given parameters on the incident's scope."""
        analysis = self.analysis(incident_id)
        start, end = analysis.window
        with analysis.lock, one_thread():
            output, item = analysis.context.call(
                "what_if",
                {"filters": analysis.scope, "start": start, "end": end, "action": action,
                 "parameters": parameters},
            )  # fmt: skip
        return output, item.id  # type: ignore[return-value]

    def sweep(
        self, incident_id: str, action: str, parameter: str, values: list[float]
    ) -> tuple[list[dict[str, float]], str]:
        """The sensitivity tool: CX gain and cost at each value of an action's parameter."""
        analysis = self.analysis(incident_id)
        start, end = analysis.window
        with analysis.lock, one_thread():
            output, item = analysis.context.call(
                "sensitivity",
                {"filters": analysis.scope, "start": start, "end": end, "action": action,
                 "parameter": parameter, "values": values},
            )  # fmt: skip
        return output.rows, item.id  # type: ignore[attr-defined]

    # -- chat ------------------------------------------------------------------------------
    def ask(self, question: str, thread_id: str) -> dict[str, Any]:
        """Ask the agent in a conversation thread (turns of one thread run one at a time)."""
        lock = self._thread_locks[zlib.crc32(thread_id.encode()) % THREAD_LOCKS]
        with lock, one_thread():
            return self.agent.ask(question, thread_id)

    def ask_stream(self, question: str, thread_id: str) -> Iterator[dict[str, Any]]:
        """`ask`, yielding {"step": trace entry} as each node completes, then {"result": ...}
        (Agent.ask_stream; turns of one thread still run one at a time)."""
        return stream_steps(lambda: self.ask(question, thread_id))

    def conversation(self, thread_id: str) -> dict[str, Any] | None:
        """A conversation's turns and evidence ledger, or None for a thread not stored."""
        return self.agent.conversation(thread_id)

    def export(self, name: str, text: str) -> Path:
        """Write a Markdown export into a fresh folder of the workbench's export directory."""
        folder = Path(tempfile.mkdtemp(dir=self.export_dir))
        path = folder / name
        path.write_text(text, encoding="utf-8")
        return path

    def close(self) -> None:
        """Close this thread's warehouse connections and delete the exports (after the warm-up
        scan: a process ending under a running DuckDB query aborts)."""
        self._warm_up.join(timeout=60)
        self.agent.close()
        self._explore.close()
        for analysis in self._analyses.values():
            analysis.context.close()
        shutil.rmtree(self.export_dir, ignore_errors=True)


def plan_arguments(analysis: Analysis, action: str) -> dict[str, Any]:
    """experiment_plan arguments for an action on the incident's scope (as the agent builds
    them): the cause it addresses and the what-if's on-time gain as the expected effect."""
    start, end = analysis.window
    ranked = analysis.recommendations.recommendations if analysis.recommendations else []
    chosen = next((r for r in ranked if r.action == action), None)
    causes = analysis.leading_causes()
    cause = chosen.addresses[0] if chosen and chosen.addresses else None
    arguments: dict[str, Any] = {
        "action": action,
        "description": ACTIONS[action].title,
        "cause": cause or (causes[0].kind if causes else None),
        "filters": analysis.scope,
        "primary_metric": "on_time_rate",
        "start": start,
        "end": end,
    }
    if chosen is not None:
        gain = chosen.on_time_gain
        arguments["expected_effect"] = {
            "estimate": gain.estimate,
            "low": gain.low,
            "high": gain.high,
        }
    return arguments


def _split(frame: pd.DataFrame, metric: str, start: dt.datetime) -> dict[str, float]:
    """Order-weighted metric before and from `start`, with orders and active days after."""
    valid = frame.dropna(subset=[metric])
    before, after = valid[valid["period"] < start], valid[valid["period"] >= start]

    def weighted(part: pd.DataFrame) -> float:
        orders = part["orders"].sum()
        return float((part[metric] * part["orders"]).sum() / orders) if orders else float("nan")

    baseline, current = weighted(before), weighted(after)
    return {
        "baseline": baseline,
        "incident": current,
        "delta": current - baseline,
        "baseline_orders": int(before["orders"].sum()),
        "incident_orders": int(after["orders"].sum()),
        "incident_days": int(after.loc[after["orders"] > 0, "period"].dt.normalize().nunique()),
    }
