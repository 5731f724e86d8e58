"""The chat suite: its harness (fact checks, case files, global checks, targets) and a fast
subset of its cases run end to end on small worlds, with the facts recomputed from them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from agent.question import KINDS
from data.scenario import Scenario
from evals.chat.cases import (
    ChatCase,
    ChatSuiteError,
    LoadedCase,
    Turn,
    load_case_file,
    load_chat_suite,
    world_scenario,
)
from evals.chat.facts import Fact, check_fact, expand, found_in, spellings
from evals.chat.report import TARGET_CORRECT, summarize
from evals.chat.runner import TurnResult, check_turn, run_chat

SMALL_ORDERS_PER_DAY = 3000  # the size of tests/conftest.py's small worlds
# A few cases per kind, one follow-up thread, on both worlds: the facts are recomputed from the
# small worlds' warehouses, so the same cases hold at any size.
FAST_SUBSET = (
    "lookup_grocery_on_time_yesterday",
    "trend_on_time_daily_two_weeks",
    "compare_grocery_convenience_on_time_last_week",
    "rank_top_regions_cancellations_last_week",
    "drivers_late_orders_grocery",
    "incidents_last_week",
    "changes_last_week",
    "changes_batching_effect_on_time",
    "diagnose_cx_drop_jan4",
    "diagnose_convenience_on_time_not_regressed",
    "what_if_eta_buffer_grocery",
    "what_if_buffer_out_of_range",
    "plan_eta_buffer_grocery",
    "explain_cx_score",
    "sql_cancellations_by_region",
    "help_greeting",
    "out_of_scope_weather",
    "hostile_sql_injection",
    "date_feb_30",
    "date_before_the_data",
    "thread_lookup_follow_ups",
    "inv_lookup_item_accuracy_yesterday",
    "inv_rank_regions_item_accuracy_this_week",
    "inv_changes_inventory_effect",
)


# --- the harness ---------------------------------------------------------------------------


@pytest.fixture
def facts_db() -> duckdb.DuckDBPyConnection:
    """A tiny order_facts: grocery on Jan 4 has 3 of 4 delivered orders on time (75.0%)."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE order_facts AS SELECT * FROM (VALUES "
        "('grocery', DATE '2026-01-04', true), ('grocery', DATE '2026-01-04', true), "
        "('grocery', DATE '2026-01-04', true), ('grocery', DATE '2026-01-04', false), "
        "('retail', DATE '2026-01-04', false), ('retail', DATE '2026-01-04', true)) "
        "AS t(category, day, on_time)"
    )
    return con


def _answer(text: str, **fields: Any) -> dict[str, Any]:
    return {"answer": text, **fields}


GROCERY_ON_TIME = Fact(
    label="grocery on-time rate",
    sql="SELECT {on_time_rate} FROM order_facts WHERE category = 'grocery'",
    format="share",
)


def test_a_share_near_a_rounding_boundary_accepts_its_neighbour() -> None:
    assert spellings(0.81349, "share") == ["81.3%", "81.4%"]
    assert spellings(0.8133, "share") == ["81.3%"]
    assert spellings(0.46666, "share2") == ["46.67%"]


def test_numbers_are_written_as_the_answers_write_them() -> None:
    assert spellings(0.055, "pp")[0] == "+5.5 pp"
    assert spellings(1.0523, "points") == ["+1.05 points"]
    assert spellings(92.791, "score") == ["92.79"]
    assert spellings(39.14, "minutes") == ["39.1 min"]
    assert spellings(21683, "count") == ["21,683"]
    assert spellings(2.561, "usd") == ["$2.56"]
    assert spellings(dt.date(2026, 1, 4), "date") == ["Jan 4, 2026"]
    assert set(spellings(-0.0001, "pp")) >= {"-0.0 pp", "+0.0 pp"}


def test_a_number_inside_a_longer_number_is_not_found() -> None:
    assert found_in("5", "over 5 orders")
    assert not found_in("5", "over 5,340 orders")
    assert not found_in("5", "hours 15-20")
    assert not found_in("81.3%", "181.3%")


def test_contains_accepts_the_right_number(facts_db: duckdb.DuckDBPyConnection) -> None:
    result = check_fact(GROCERY_ON_TIME, facts_db, _answer("On-time: 75.0% [E1]."))
    assert result.ok, result


def test_contains_rejects_a_wrong_number(facts_db: duckdb.DuckDBPyConnection) -> None:
    result = check_fact(GROCERY_ON_TIME, facts_db, _answer("On-time: 75.1% [E1]."))
    assert not result.ok
    assert result.expected == "'75.0%'" and "not in the answer" in result.detail


def test_not_contains_fails_when_the_value_is_in_the_answer(
    facts_db: duckdb.DuckDBPyConnection,
) -> None:
    fact = GROCERY_ON_TIME.model_copy(update={"check": "not_contains"})
    assert not check_fact(fact, facts_db, _answer("On-time: 75.0% [E1].")).ok
    assert check_fact(fact, facts_db, _answer("On-time: 50.0% [E1].")).ok


def test_a_ranking_in_the_wrong_order_is_rejected(facts_db: duckdb.DuckDBPyConnection) -> None:
    fact = Fact(
        label="categories by on-time, worst first",
        check="ranking",
        sql="SELECT category, {on_time_rate} AS value FROM order_facts GROUP BY 1 ORDER BY 2",
    )
    right = [{"category": "retail"}, {"category": "grocery"}]
    assert check_fact(fact, facts_db, _answer("", table=right)).ok
    wrong = check_fact(fact, facts_db, _answer("", table=right[::-1]))
    assert not wrong.ok and "grocery" in wrong.detail
    missing = check_fact(fact, facts_db, _answer("", table=[{"store": "S1"}]))
    assert not missing.ok and "no column 'category'" in missing.detail


def test_every_value_of_a_several_row_query_must_be_in_the_answer(
    facts_db: duckdb.DuckDBPyConnection,
) -> None:
    fact = Fact(label="categories", sql="SELECT DISTINCT category FROM order_facts ORDER BY 1")
    assert check_fact(fact, facts_db, _answer("grocery and retail")).ok
    assert not check_fact(fact, facts_db, _answer("grocery only")).ok


def test_the_leading_cause_is_checked() -> None:
    fact = Fact(label="cause", check="top_cause", text="batching_threshold")
    con = duckdb.connect()
    leading = [{"kind": "batching_threshold"}, {"kind": "prep_time_drift"}]
    assert check_fact(fact, con, _answer("", causes=leading)).ok
    assert not check_fact(fact, con, _answer("", causes=leading[::-1])).ok
    assert not check_fact(fact, con, _answer("", causes=[])).ok


def test_a_fact_query_that_fails_is_a_failed_fact(facts_db: duckdb.DuckDBPyConnection) -> None:
    fact = Fact(label="no such column", sql="SELECT max(nothing) FROM order_facts")
    result = check_fact(fact, facts_db, _answer("anything"))
    assert not result.ok and "query failed" in result.detail


def test_metric_placeholders_expand_to_the_harness_definitions() -> None:
    assert "count(*) FILTER (WHERE on_time) / count(on_time)" in expand("{cx_score}")
    with pytest.raises(ValueError, match="unknown metric"):
        expand("SELECT {otr} FROM order_facts")


def _write_cases(tmp_path: Path, turn: str) -> Path:
    path = tmp_path / "broken.yaml"
    path.write_text(f"world: demo\ncases:\n  - name: a_case\n    turns:\n      - {turn}\n")
    return path


def test_a_case_file_with_an_unknown_kind_is_rejected_naming_the_file(tmp_path: Path) -> None:
    path = _write_cases(tmp_path, "{question: hi, kind: chit_chat}")
    with pytest.raises(ChatSuiteError, match=r"broken\.yaml.*cases\[0\] \(a_case\)\.turns\[0\]"):
        load_case_file(path)


def test_a_case_file_with_an_unknown_tool_or_world_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ChatSuiteError, match="unknown tools.*magic"):
        load_case_file(_write_cases(tmp_path, "{question: hi, kind: help, tools: [magic]}"))
    path = tmp_path / "world.yaml"
    path.write_text(
        "world: atlantis\ncases:\n  - name: a\n    turns: [{question: hi, kind: help}]\n"
    )
    with pytest.raises(ChatSuiteError, match="world.yaml: unknown world 'atlantis'"):
        load_case_file(path)


def test_the_shipped_suite_covers_every_kind_on_two_worlds() -> None:
    cases = load_chat_suite()
    turns = [turn for loaded in cases for turn in loaded.case.turns]
    assert len(turns) >= 80
    assert {turn.kind for turn in turns} == set(KINDS)
    assert {loaded.world for loaded in cases} >= {"demo", "inventory_south_convenience"}
    assert any(len(loaded.case.turns) > 1 for loaded in cases)


def _checked(turn: Turn, kind: str, tools: list[str], grounding: dict[str, Any]) -> TurnResult:
    """A turn checked against an answer of `kind` whose trace ran `tools`."""
    loaded = LoadedCase("demo", ChatCase(name="a_case", turns=[turn]), "test")
    trace = [{"node": "answer", "tool_calls": [{"id": "E1", "tool": tool} for tool in tools]}]
    answer = {
        "kind": kind,
        "answer": "",
        "trace": trace,
        "grounding": grounding,
        "evidence": [{"id": "E9", "tool": "what_if"}],  # the thread's ledger is not the turn's
    }
    return check_turn(loaded, 0, turn, answer, 0.1, duckdb.connect())


GROUNDED = {"numbers": 2, "grounded": 2, "ok": True}


def test_a_cause_ranking_in_a_lookup_answer_is_an_unasked_diagnosis() -> None:
    turn = Turn(question="on-time yesterday?", kind="lookup", tools=["metric_summary"])
    result = _checked(turn, "lookup", ["metric_summary", "rank_causes"], GROUNDED)
    assert result.unasked_diagnosis and not result.correct


def test_an_investigation_on_a_hostile_question_is_flagged() -> None:
    turn = Turn(
        question="'; DROP TABLE x; --", kind="out_of_scope", only_tools=True, tags=["hostile"]
    )
    result = _checked(turn, "out_of_scope", ["detect_incidents"], GROUNDED)
    assert result.investigated and not result.tools_ok and not result.correct


def test_tools_come_from_the_turns_trace_and_grounding_must_be_complete() -> None:
    turn = Turn(question="why?", kind="diagnose", tools=["detect_incidents", "what_if"])
    assert not _checked(turn, "diagnose", ["detect_incidents"], GROUNDED).tools_ok
    turn = Turn(question="why?", kind="diagnose", tools=["detect_incidents", "rank_causes"])
    assert _checked(turn, "diagnose", ["detect_incidents", "rank_causes"], GROUNDED).correct
    partial = {"numbers": 3, "grounded": 2, "ok": True}
    result = _checked(turn, "diagnose", ["detect_incidents", "rank_causes"], partial)
    assert not result.correct and "grounding: 2/3" in result.misses()[0]


def test_a_run_under_the_target_reports_its_shortfall() -> None:
    right = TurnResult(
        case="a", world="demo", turn=0, question="q", expected_kind="help", kind="help",
        grounding_ok=True,
    )  # fmt: skip
    wrong = right.model_copy(update={"kind": "lookup"})
    assert summarize([right] * 9 + [wrong]).shortfalls == []
    summary = summarize([right] * 8 + [wrong] * 2)
    assert TARGET_CORRECT > 0.8 and summary.shortfalls and "fully correct" in summary.shortfalls[0]


# --- the fast subset, end to end on small worlds -------------------------------------------


@pytest.fixture(scope="module")
def subset_results(make_world: Callable[[Scenario], Path]) -> list[TurnResult]:
    cases = load_chat_suite(names=list(FAST_SUBSET))
    worlds = {}
    for world in {loaded.world for loaded in cases}:
        scenario = world_scenario(world).model_copy(update={"orders_per_day": SMALL_ORDERS_PER_DAY})
        worlds[world] = make_world(scenario)
    return run_chat(cases, worlds)


def test_the_fast_subset_covers_every_kind_and_a_follow_up(
    subset_results: list[TurnResult],
) -> None:
    assert {turn.expected_kind for turn in subset_results} == set(KINDS)
    assert any(turn.follow_up for turn in subset_results)


@pytest.mark.parametrize("name", FAST_SUBSET)
def test_fast_subset_case_is_answered_correctly(
    subset_results: list[TurnResult], name: str
) -> None:
    turns = [turn for turn in subset_results if turn.case == name]
    assert turns
    misses = {f"#{turn.turn} {turn.question}": turn.misses() for turn in turns if not turn.correct}
    assert not misses, misses
