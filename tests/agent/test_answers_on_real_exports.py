"""The conversation on a world ingested from someone else's export: its own market and cuisine
names are read from the question, and a question that names no metric is about the first metric
the data supports (delivery duration here: the export quotes no ETA)."""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from agent.service import Agent
from agent.settings import AgentSettings
from data.ingest import ingest

MARKETS = ("market 1", "market 2", "market 10")
CUISINES = ("mexican", "pizza", "dim-sum")
START = dt.datetime(2015, 1, 21)
DAYS = 21


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DoorDash-like export: markets and cuisines of its own, created and delivered times,
    no promised ETA; market 10 delivers slowest and pizza on its own is slower still."""
    root = tmp_path_factory.mktemp("export")
    rng = np.random.default_rng(7)
    rows = []
    for number in range(4000):
        created = START + dt.timedelta(minutes=float(rng.uniform(0, DAYS * 24 * 60)))
        market, cuisine = MARKETS[number % 3], CUISINES[(number // 3) % 3]
        minutes = 40 + 12 * (market == "market 10") + 6 * (cuisine == "pizza") + rng.normal(0, 5)
        rows.append([number, created.isoformat(" "), f"store{number % 40}", market, cuisine,
                     (created + dt.timedelta(minutes=minutes)).isoformat(" ")])  # fmt: skip
    with (root / "orders.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "created_at", "store", "market", "cuisine", "delivered_at"])
        writer.writerows(rows)
    mapping = {
        "source_timezone": "UTC",
        "local_timezone": "UTC",
        "tables": {
            "orders": {
                "source": "orders.csv",
                "columns": {"order_id": "CAST(id AS VARCHAR)", "order_time": "created_at",
                            "store_id": "store", "region": "market", "category": "cuisine"},
            },
            "deliveries": {
                "source": "orders.csv",
                "columns": {"order_id": "CAST(id AS VARCHAR)", "actual_eta": "delivered_at"},
            },
        },
    }  # fmt: skip
    (root / "mapping.yaml").write_text(yaml.safe_dump(mapping))
    return ingest(root / "mapping.yaml", root / "world").out_dir


@pytest.fixture(scope="module")
def agent(world: Path) -> Iterator[Agent]:
    made = Agent(world, AgentSettings(llm="offline"))
    yield made
    made.close()


def ask(agent: Agent, question: str) -> dict[str, Any]:
    result = agent.ask(question, thread_id=question)
    assert result["grounding"]["ok"], (result["answer"], result["grounding"].get("problems"))
    return result


def args(result: dict[str, Any], tool: str) -> dict[str, Any]:
    return next(item["args"] for item in result["evidence"] if item["tool"] == tool)


def test_the_export_s_own_market_names_are_cohorts(agent: Agent) -> None:
    result = ask(agent, "compare market 1 and market 10 delivery times")
    sides = args(result, "compare_metric")["sides"]
    assert [side["filters"] for side in sides] == [{"region": ["market 1"]},
                                                  {"region": ["market 10"]}]  # fmt: skip
    assert "region=market 10" in result["answer"]


def test_a_question_without_a_metric_is_about_delivery_duration(agent: Agent) -> None:
    result = ask(agent, "how are mexican restaurants doing?")
    summary = args(result, "metric_summary")
    assert summary["metrics"] == ["duration_min"] and summary["filters"] == {
        "category": ["mexican"]
    }
    assert result["answer"].startswith("Delivery duration in category=mexican")


def test_a_ranking_by_cuisine_finds_the_slowest(agent: Agent) -> None:
    result = ask(agent, "which cuisine had the slowest deliveries last week?")
    assert result["kind"] == "rank" and result["table"][0]["category"] == "pizza"


def test_order_counts_need_no_cx_score(agent: Agent) -> None:
    result = ask(agent, "how many orders were there last week?")
    assert result["kind"] == "lookup" and " a day over the 14 days before (" in result["answer"]
    daily = ask(agent, "show orders by day")
    assert daily["kind"] == "trend" and len(daily["table"]) == DAYS
    assert "fewest" in daily["answer"] and "most" in daily["answer"]
    mean = round(sum(row["orders"] for row in daily["table"]) / DAYS)
    assert f": {mean:,} on average over the days with orders ({DAYS} of them), " in daily["answer"]


def test_the_help_lists_only_the_metrics_the_export_can_compute(agent: Agent) -> None:
    """'which metrics can you compute?' listed none; on an export without promised times or
    any part of the CX score it is only the delivery times, and no CX score."""
    answer = ask(agent, "which metrics can you compute?")["answer"]
    computed = re.search(r"Metrics it computes: ([^.]+)\.", answer)
    assert computed is not None and "delivery duration" in computed[1]
    assert "CX score" not in computed[1] and "on-time rate" not in computed[1]


def test_lateness_without_promised_times_is_read_on_its_stand_in(agent: Agent) -> None:
    """No promised ETA, no on-time rate: lateness is asked of the slow-delivery rate (the
    registry's stand-in), with a note naming what the data lacks."""
    stand_in = (
        "the on-time rate cannot be computed here (missing orders.promised_eta); the "
        "slow-delivery rate stands in for it"
    )
    result = ask(agent, "what was the on-time rate yesterday?")
    assert args(result, "metric_summary")["metrics"] == ["slow_rate"]
    assert result["answer"].startswith("Slow-delivery rate in the whole marketplace on ")
    assert any(note.startswith(stand_in) for note in result["notes"])
    ranked = ask(agent, "which market is late most often?")
    assert args(ranked, "rank_cohorts")["metric"] == "slow_rate"
    assert ranked["table"][0]["region"] == "market 10"  # 12 min slower: the most over an hour
    compared = ask(agent, "are deliveries later in market 10?")
    assert args(compared, "compare_metric")["metric"] == "slow_rate"
    assert "region=market 10 minus the whole marketplace: +" in compared["answer"]


def test_a_driver_the_export_does_not_hold_is_named_with_what_it_lacks(agent: Agent) -> None:
    """No dasher supply and no market state: online dashers, and on-shift ones in their
    place, cannot be read; the answer says what is missing instead of giving another number."""
    result = ask(agent, "how many dashers were online yesterday?")
    assert [item["args"]["driver"] for item in result["evidence"]] == [
        "online_dashers", "onshift_dashers",
    ]  # fmt: skip
    assert result["answer"].startswith("I could not look up on-shift dashers")
    assert "deliveries.onshift_dashers" in result["answer"]
