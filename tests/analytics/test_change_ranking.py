"""Groups ranked by how a metric moved between two periods (rank_changes), checked against plain
SQL over the warehouse, and the question that asks for it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from statsmodels.stats.proportion import proportions_ztest

import tools.catalog  # noqa: F401  (registers rank_changes)
from agent.service import Agent
from data.warehouse import open_warehouse
from tools.base import ToolContext

BEFORE = (dt.datetime(2025, 12, 28), dt.datetime(2026, 1, 2))
AFTER = (dt.datetime(2026, 1, 2), dt.datetime(2026, 1, 6))  # the batching incident: Jan 4
ON_TIME = "count(*) FILTER (WHERE on_time) AS good, count(on_time) AS n"


@pytest.fixture(scope="module")
def demo(small_scenario, make_world) -> Path:
    return make_world(small_scenario("demo"))


def _by_hour(world: Path, start: dt.datetime, end: dt.datetime) -> dict[int, tuple[int, int]]:
    con = open_warehouse(world)
    try:
        rows = con.execute(
            f"SELECT hour, {ON_TIME} FROM order_facts WHERE category = 'grocery' "
            "AND order_time >= ? AND order_time < ? GROUP BY 1",
            [start, end],
        ).fetchall()
    finally:
        con.close()
    return {hour: (good, n) for hour, good, n in rows}


def test_groups_are_ranked_by_their_change_as_plain_sql_gives_it(demo: Path) -> None:
    context = ToolContext(world_dir=demo)
    try:
        output, item = context.call(
            "rank_changes",
            {"dimension": "hour", "metric": "on_time_rate", "k": 24,
             "filters": {"category": ["grocery"]}, "start": AFTER[0], "end": AFTER[1],
             "previous_start": BEFORE[0]},
        )  # fmt: skip
    finally:
        context.close()
    before, after = _by_hour(demo, *BEFORE), _by_hour(demo, *AFTER)
    eligible = [h for h in after if min(before[h][1], after[h][1]) >= 30]
    changes = {h: after[h][0] / after[h][1] - before[h][0] / before[h][1] for h in eligible}
    assert [row.group for row in output.rows] == sorted(eligible, key=lambda h: changes[h])
    top = output.rows[0]
    assert top.group in (18, 19, 20)  # the incident's hours lead the worsening
    assert top.before == pytest.approx(before[top.group][0] / before[top.group][1], abs=1e-12)
    assert top.change == pytest.approx(changes[top.group], abs=1e-12)
    (good_b, n_b), (good_a, n_a) = before[top.group], after[top.group]
    _, p_value = proportions_ztest([good_a, good_b], [n_a, n_b])
    assert top.p_value == pytest.approx(p_value, rel=1e-3)
    assert top.q_value is not None and top.q_value < 0.05
    assert top.ci_low is not None and top.ci_low <= top.change <= top.ci_high
    assert output.excluded_groups == len(set(before) | set(after)) - len(eligible)
    assert item.figures["r1.change"].value == pytest.approx(top.change, abs=1e-4)


def test_the_cx_score_change_is_ranked_untested_and_best_reverses_the_order(demo: Path) -> None:
    context = ToolContext(world_dir=demo)
    arguments = {"dimension": "category", "metric": "cx_score", "start": AFTER[0],
                 "end": AFTER[1]}  # fmt: skip
    try:
        worst, _ = context.call("rank_changes", arguments)
        best, _ = context.call("rank_changes", {**arguments, "order": "best"})
    finally:
        context.close()
    assert worst.rows[0].group == "grocery" and worst.rows[0].change < 0
    assert all(row.p_value is None and row.q_value is None for row in worst.rows)
    assert [r.group for r in best.rows] == [r.group for r in reversed(worst.rows)]
    assert worst.previous_start == AFTER[0] - (AFTER[1] - AFTER[0])  # as long, just before


def test_which_hours_got_worse_answers_with_the_ranked_changes_grounded(demo: Path) -> None:
    agent = Agent(demo)
    try:
        result = agent.ask("which hours got worse for grocery on-time from Jan 2 to Jan 5?")
    finally:
        agent.close()
    answer = result["answer"]
    assert result["kind"] == "rank" and result["grounding"]["ok"], result["grounding"]
    assert answer.startswith("Hour groups that got worse the most in the on-time rate"), answer
    assert "against Dec 29, 2025 to Jan 1, 2026" in answer
    assert "Got worse beyond chance (multiple comparisons corrected): hour=" in answer
