"""The chat's rendering of answers, without a server: tables capped and in readable units, a
trend's chart between its answer and its table, and example questions about the served world."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import gradio as gr
import pytest

from cxagent.web.chat import MAX_ANSWER_ROWS, answer_parts, answer_table, example_questions
from cxagent.web.tabs.recommendations import parameter_slider
from tools.actions import ACTIONS


def _trend(days: int) -> dict[str, Any]:
    start = dt.date(2026, 1, 1)
    rows = [
        {"period": f"{start + dt.timedelta(days=d)}", "orders": 20_000 + d, "on_time_rate": 0.9}
        for d in range(days)
    ]
    return {
        "kind": "trend",
        "answer": "On-time rate per day: 90.0% over the whole range [E1].",
        "table": rows,
        "chart": {"x": "period", "y": "on_time_rate", "label": "On-time rate", "grain": "day"},
        "grounding": {"numbers": 1, "grounded": 1, "ok": True},
        "notes": [],
    }


def test_a_long_table_is_capped_and_says_how_many_rows_are_hidden() -> None:
    rows = [{"rank": k, "store": f"S{k:05d}", "orders": 100 + k} for k in range(1, 41)]

    table = answer_table(rows)

    lines = table.splitlines()
    assert sum(line.startswith("| ") for line in lines) == 1 + MAX_ANSWER_ROWS  # header + rows
    assert "S00015" in table and "S00016" not in table
    assert lines[-1] == f"*25 more rows not shown (the first {MAX_ANSWER_ROWS} of 40).*"


def test_shares_read_as_percentages_and_changes_in_their_unit() -> None:
    trend = answer_table([{"period": "2026-01-04T18:00", "orders": 21683, "on_time_rate": 0.8654}])
    what_if = answer_table(
        [
            {"metric": "on_time_rate", "change": 0.06, "90% low": 0.0486, "90% high": 0.0808},
            {"metric": "cx_score", "change": 2.113, "90% low": 1.7, "90% high": 2.84},
            {"metric": "quoted_min", "change": 3.0, "90% low": 2.85, "90% high": 3.15},
        ]
    )

    assert "| 2026-01-04 18:00 | 21,683 | 86.5% |" in trend
    assert "| On-time rate |" in trend.splitlines()[0]
    assert "| On-time rate | +6.0 pp | +4.9 pp | +8.1 pp |" in what_if
    assert "| CX score | +2.11 points | +1.70 points | +2.84 points |" in what_if
    assert "| quoted_min | +3.00 min | +2.85 min | +3.15 min |" in what_if


def test_missing_values_and_flags_read_plainly() -> None:
    table = answer_table([{"store": "S1", "value": float("nan"), "overlaps slice": True}])

    assert table.splitlines()[-1] == "| S1 |  | yes |"


def test_a_trend_answer_is_its_text_then_its_chart_then_its_table() -> None:
    text, chart, table = answer_parts(_trend(days=20))

    assert "[[E1]](#evidence-E1)" in text.content
    assert isinstance(chart.content, gr.Plot)
    figure = chart.content.constructor_args["value"]
    assert list(figure.data[0].y) == pytest.approx([90.0] * 20)  # drawn in percent
    assert figure.layout.title.text == "On-time rate by day"
    assert "the chart draws them all" in table.content
    assert "Answer kind: trend · Grounding: 1/1" in table.content


def test_an_answer_without_a_table_is_one_message() -> None:
    result = {**_trend(days=3), "kind": "explain", "table": None, "chart": None}

    (message,) = answer_parts(result)

    assert "|" not in message.content and "Answer kind: explain" in message.content


def _overview(
    start: dt.datetime, end: dt.datetime, incidents: list[Any], changes: list[dt.datetime]
) -> Any:
    detection = SimpleNamespace(data_start=start, data_end=end, incidents=incidents)
    return SimpleNamespace(
        detection=detection, changes=[SimpleNamespace(change_time=t) for t in changes]
    )


def test_examples_ask_about_the_served_worlds_incident_and_the_change_before_it() -> None:
    incident = SimpleNamespace(start=dt.datetime(2026, 12, 30, 18), primary_cohort="region=east")
    overview = _overview(
        dt.datetime(2026, 12, 1),
        dt.datetime(2027, 1, 20, 23),
        [incident],
        [dt.datetime(2026, 12, 2), dt.datetime(2026, 12, 29, 9), dt.datetime(2027, 1, 5)],
    )

    examples = example_questions(overview)

    assert examples[0] == "why did CX drop on Dec 30, 2026?"
    assert "compare east on-time on Dec 30, 2026 with Dec 29, 2026" in examples
    assert "what changed on Dec 29, 2026?" in examples
    assert not any("Jan 4" in example or "Jan 3" in example for example in examples)


def test_examples_without_incidents_or_changes_use_the_last_day() -> None:
    overview = _overview(dt.datetime(2025, 3, 1), dt.datetime(2025, 3, 31, 23), [], [])

    examples = example_questions(overview)

    assert examples[0] == "why did CX drop on Mar 31?"
    assert "compare on-time on Mar 31 with Mar 30" in examples
    assert "what changed last week?" in examples


@pytest.mark.parametrize("action", list(ACTIONS))
def test_the_what_if_slider_follows_the_action_registry(action: str) -> None:
    slider = parameter_slider(action)
    specs = ACTIONS[action].parameter_specs

    if not specs:
        assert slider["interactive"] is False
        return
    spec = specs[0]
    assert (slider["minimum"], slider["maximum"]) == (spec.minimum, spec.maximum)
    assert spec.minimum <= slider["value"] <= spec.maximum
    assert slider["label"] == f"{action}: {spec.name}"
    if spec.default is not None:
        assert slider["value"] == spec.default
