"""The tool layer: typed, described tools; the evidence ledger (ids, errors, reuse); figures and
the RCA report's citations on a demo investigation."""

from __future__ import annotations

import inspect
import json
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from data.scenario import Scenario
from tools.base import EvidenceItem, Figure, ToolContext, ToolError, ToolOutput, Unit
from tools.catalog import REGISTRY
from tools.investigation import Investigation, investigate
from tools.report import render_report

ScenarioFactory = Callable[..., Scenario]
WorldFactory = Callable[[Scenario], Path]

RCA_TOOLS = {
    "cx_timeseries", "detect_incidents", "top_slices", "driver_shift", "change_log",
    "diff_in_diff", "shap_attribution", "lagged_correlation", "rank_causes",
}  # fmt: skip
EVIDENCE_ID = re.compile(r"\bE\d+\b")


@pytest.fixture(scope="module")
def demo_world(small_scenario: ScenarioFactory, make_world: WorldFactory) -> Path:
    return make_world(small_scenario("demo"))


@pytest.fixture
def context(demo_world: Path) -> Iterator[ToolContext]:
    """A fresh context (empty ledger) on the small demo world."""
    fresh = ToolContext(world_dir=demo_world)
    yield fresh
    fresh.close()


@pytest.fixture(scope="module")
def demo_investigation(demo_world: Path) -> Iterator[tuple[Investigation, ToolContext]]:
    investigated_in = ToolContext(world_dir=demo_world)
    yield investigate(investigated_in), investigated_in
    investigated_in.close()


# --- the registry ----------------------------------------------------------------------------


def test_catalog_registers_every_rca_tool() -> None:
    assert RCA_TOOLS - set(REGISTRY) == set()


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_registered_tool_has_pydantic_models_a_docstring_description_and_a_json_schema(
    name: str,
) -> None:
    registered = REGISTRY[name]

    assert issubclass(registered.input_model, BaseModel)
    assert issubclass(registered.output_model, ToolOutput)
    docstring = registered.function.__doc__
    assert docstring and registered.description == inspect.cleandoc(docstring)
    schema = json.loads(json.dumps(registered.json_schema()))
    assert schema["name"] == name
    assert schema["description"] == registered.description
    assert schema["parameters"] == registered.input_model.model_json_schema()
    assert schema["parameters"]["type"] == "object"


# --- the ledger ------------------------------------------------------------------------------

INVALID_CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "severity above 100": ("detect_incidents", {"min_severity": 500}),
    "unknown grain": ("cx_timeseries", {"grain": "month"}),
    "window missing": ("driver_shift", {"driver": "batched_rate"}),
    "hypotheses not a list": ("rank_causes", {"hypotheses": "batching_threshold"}),
}


@pytest.mark.parametrize("tool_name, arguments", INVALID_CALLS.values(), ids=INVALID_CALLS)
def test_invalid_arguments_raise_tool_error_and_are_recorded_as_not_ok(
    tool_name: str, arguments: dict[str, Any], context: ToolContext
) -> None:
    with pytest.raises(ToolError, match="invalid arguments"):
        context.call(tool_name, arguments)

    (item,) = context.ledger.items
    assert (item.id, item.tool, item.ok) == ("E1", tool_name, False)
    assert item.args == arguments


def test_error_inside_a_tool_raises_tool_error_and_is_recorded_as_not_ok(
    context: ToolContext,
) -> None:
    arguments = {"driver": "moon_phase", "start": "2026-01-04T18:00", "end": "2026-01-05T00:00"}

    with pytest.raises(ToolError, match="moon_phase"):
        context.call("driver_shift", arguments)

    (item,) = context.ledger.items
    assert (item.tool, item.ok) == ("driver_shift", False)
    assert "moon_phase" in item.summary


def test_evidence_ids_are_e1_e2_e3_in_call_order_including_failed_calls(
    context: ToolContext,
) -> None:
    context.call("cx_timeseries", {"grain": "day"})
    with pytest.raises(ToolError):
        context.call("cx_timeseries", {"grain": "month"})
    context.call("change_log", {"around": "2026-01-04T18:00"})

    ledger = [(item.id, item.tool, item.ok) for item in context.ledger.items]
    assert ledger == [
        ("E1", "cx_timeseries", True),
        ("E2", "cx_timeseries", False),
        ("E3", "change_log", True),
    ]


def test_same_call_twice_returns_the_first_evidence_id_and_adds_no_item(
    context: ToolContext,
) -> None:
    _, first = context.call("cx_timeseries", {"grain": "day"})
    context.call("change_log", {"around": "2026-01-04T18:00"})
    # The same question with a default spelled out is the same call.
    defaults = {"metrics": ["cx_score", "on_time_rate", "cancellation_rate"]}
    _, again = context.call("cx_timeseries", {"grain": "day", **defaults})

    assert again.id == first.id == "E1"
    assert [item.id for item in context.ledger.items] == ["E1", "E2"]


# --- figures and the report of a demo investigation ------------------------------------------


def _bad_figures(item: EvidenceItem) -> list[str]:
    """Figures without a known unit, numbers that are not finite, text in a numeric unit."""
    bad = []
    for name, figure in item.figures.items():
        if figure.unit not in get_args(Unit):
            bad.append(f"{name}: unit {figure.unit!r}")
        elif isinstance(figure.value, str):
            if figure.unit not in ("datetime", "text"):
                bad.append(f"{name}: text {figure.value!r} in {figure.unit}")
        elif not math.isfinite(figure.value):
            bad.append(f"{name}: {figure.value}")
    return bad


def test_every_figure_of_a_demo_investigation_is_finite_and_has_a_unit(
    demo_investigation: tuple[Investigation, ToolContext],
) -> None:
    _, context = demo_investigation
    items = [item for item in context.ledger.items if item.ok]

    assert {"detect_incidents", "top_slices", "driver_shift", "rank_causes"} <= {
        item.tool for item in items
    }
    assert {item.id: _bad_figures(item) for item in items if _bad_figures(item)} == {}


def test_rca_report_cites_only_evidence_ids_in_the_ledger(
    demo_investigation: tuple[Investigation, ToolContext],
) -> None:
    investigation, context = demo_investigation
    report = render_report(investigation, context.ledger)

    cited = set(EVIDENCE_ID.findall(report))
    assert investigation.causes_id in cited
    assert cited <= {item.id for item in context.ledger.items}


def _ranked_causes_table(report: str) -> tuple[str, list[list[str]]]:
    """The evidence id in the 'Ranked causes' heading, and the table's body rows as cells."""
    section = report.split("## Ranked causes", 1)[1]
    heading, body = section.split("\n", 1)
    rows = []
    for line in body.strip().splitlines()[2:]:  # after the header and the |---| line
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    (evidence_id,) = EVIDENCE_ID.findall(heading)
    return evidence_id, rows


def _is_rounded_figure(shown: str, figures: list[Figure]) -> bool:
    """Whether a number as the report shows it ('0.96', '22.7%') is one of `figures` rounded."""
    if shown.endswith("%"):
        digits = shown[:-1]
        candidates = [100 * float(f.value) for f in figures if f.unit == "share"]
    else:
        digits = shown
        candidates = [float(f.value) for f in figures if not isinstance(f.value, str)]
    decimals = len(digits.partition(".")[2])
    return any(round(value, decimals) == float(digits) for value in candidates)


def test_ranked_causes_table_shows_only_figures_of_the_cited_rank_causes_item(
    demo_investigation: tuple[Investigation, ToolContext],
) -> None:
    investigation, context = demo_investigation
    evidence_id, rows = _ranked_causes_table(render_report(investigation, context.ledger))
    cited = context.ledger.get(evidence_id)

    assert cited.tool == "rank_causes"
    assert [row[1] for row in rows] == [c.kind for c in investigation.causes.causes]
    unmatched = []
    for _rank, kind, _status, confidence, share, _evidence in rows:
        own = [f for name, f in cited.figures.items() if name.startswith(f"{kind}.")]
        unmatched += [
            f"{kind}: {shown}"
            for shown in (confidence, share)
            if not _is_rounded_figure(shown, own)
        ]
    assert unmatched == []
