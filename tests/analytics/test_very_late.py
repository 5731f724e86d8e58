"""The very-late rate, added to the metrics registry alone (one entry in analytics/metrics.py):
its value, the words that name it, its what-if moves and the agent's answer all follow from it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from agent.parsing import read_question
from agent.service import Agent
from analytics.metrics import METRICS, VERY_LATE_MIN, metric_frame
from analytics.whatif import Simulator, scope_orders, simulate
from data.warehouse import open_warehouse
from evals.counterfactual import exact_effect

GROCERY_DINNER = {"category": ["grocery"], "hour": [18, 19, 20]}
INCIDENT = (dt.datetime(2026, 1, 4, 18), dt.datetime(2026, 1, 6))
BASELINE = (INCIDENT[0] - dt.timedelta(days=14), INCIDENT[0])


@pytest.fixture(scope="module")
def demo(small_scenario, make_world) -> Path:
    return make_world(small_scenario("demo", orders_per_day=6000))


@pytest.fixture(scope="module")
def simulator(demo: Path):
    con = open_warehouse(demo)
    yield Simulator.build(con, GROCERY_DINNER, BASELINE, INCIDENT)
    con.close()


def test_its_daily_value_is_the_share_of_delivered_orders_over_20_minutes_late(demo: Path) -> None:
    con = open_warehouse(demo)
    try:
        frame = metric_frame(con, ["very_late_rate"], grain="day")
        direct = con.execute(
            "SELECT date_trunc('day', order_time) AS period, "
            f"avg(CAST(eta_error_min > {VERY_LATE_MIN} AS DOUBLE)) AS rate FROM order_facts "
            "WHERE eta_error_min IS NOT NULL GROUP BY 1 ORDER BY 1"
        ).df()
    finally:
        con.close()
    assert len(frame) == len(direct) > 20
    assert frame["very_late_rate"].to_numpy() == pytest.approx(direct["rate"].to_numpy(), abs=1e-12)


@pytest.mark.parametrize(
    ("question", "metric"),
    [
        ("why did very late deliveries rise on Jan 4?", "very_late_rate"),
        ("how many orders were very-late in grocery on Jan 4?", "very_late_rate"),
        ("why were deliveries late on Jan 4?", "on_time_rate"),
        ("why did the on-time rate drop on Jan 4?", "on_time_rate"),
    ],
)
def test_the_registry_s_words_name_it_and_late_alone_stays_on_time(
    question: str, metric: str
) -> None:
    plan = read_question(question, dt.date(2025, 12, 6), dt.date(2026, 1, 5))
    assert plan.metric == metric, plan.notes


def test_reverting_batching_moves_it_close_to_the_exact_counterfactual(
    demo: Path, simulator: Simulator, tmp_path_factory: pytest.TempPathFactory
) -> None:
    truth = exact_effect(
        demo, 0, GROCERY_DINNER, *INCIDENT, cache_dir=tmp_path_factory.mktemp("cf")
    )
    estimate = simulate(simulator, "revert_batching").deltas["very_late_rate"].estimate
    assert truth["very_late_rate"] < -0.01  # the incident made very late arrivals common
    assert estimate == pytest.approx(truth["very_late_rate"], rel=0.25)


def test_an_eta_buffer_moves_it_by_the_orders_it_brings_under_20_minutes(
    demo: Path, simulator: Simulator
) -> None:
    con = open_warehouse(demo)
    try:
        orders, _ = scope_orders(con, GROCERY_DINNER, BASELINE, INCIDENT)
    finally:
        con.close()
    lateness = orders.loc[
        (orders["window"] == "incident") & orders["delivered"], "eta_error_min"
    ].dropna()
    # Quoting 5 minutes more makes exactly the arrivals 20-25 minutes late no longer very late.
    direct = -float(((lateness > VERY_LATE_MIN) & (lateness <= VERY_LATE_MIN + 5)).mean())
    moved = simulate(simulator, "eta_buffer", minutes=5.0).deltas["very_late_rate"]
    assert direct < 0 and moved.low <= direct <= moved.high


def test_the_agent_leads_a_very_late_question_with_it_and_grounds_every_number(
    demo: Path,
) -> None:
    agent = Agent(demo)
    try:
        result = agent.ask("why did very late deliveries rise on Jan 4?")
    finally:
        agent.close()
    assert result["answer"].startswith(METRICS["very_late_rate"].label), result["answer"]
    assert result["causes"][0]["kind"] == "batching_threshold"
    assert result["grounding"]["ok"], result["grounding"]
