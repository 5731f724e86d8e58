"""Samples drawn in the engine for the model fits (analytics/sampling.py): the orders kept are
those whose md5 falls below the window's threshold, every order when a window holds fewer than
the cap; SHAP, what-if and experiment sizing read a sample at warehouse scale, say so in their
evidence, and land where the fits on every order land."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest

import analytics.attribution
import analytics.experiment_design
import analytics.whatif_simulator
import tools.catalog  # noqa: F401  (registers the tools)
from analytics.experiment_design import design_experiment
from analytics.sampling import WindowSample, sampled_predicate, window_samples
from data.warehouse import open_warehouse
from tools.base import ToolContext

GROCERY_DINNER = {"category": ["grocery"], "hour": [18, 19, 20]}
SCOPE: dict[str, Any] = {
    "filters": GROCERY_DINNER,
    "start": "2026-01-04T18:00",
    "end": "2026-01-06T00:00",
}
HISTORY = (dt.datetime(2025, 12, 21), dt.datetime(2026, 1, 4))


@pytest.fixture(scope="module")
def world(small_scenario, make_world):
    return make_world(small_scenario("demo"))


@pytest.fixture(scope="module")
def con(world) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = open_warehouse(world)
    yield connection
    connection.close()


def test_a_window_sample_keeps_the_orders_whose_md5_is_below_its_share(con) -> None:
    everyone = [row[0] for row in con.execute(
        "SELECT order_id FROM order_facts WHERE order_time >= ? AND order_time < ?", HISTORY
    ).fetchall()]  # fmt: skip
    (sample,) = window_samples(con, "TRUE", [], [HISTORY], cap=2000)
    assert sample.rows == len(everyone) > 2000 and sample.sampled
    kept_sql, parameters = sampled_predicate([sample])
    kept = {row[0] for row in con.execute(
        f"SELECT order_id FROM order_facts WHERE {kept_sql}", parameters
    ).fetchall()}  # fmt: skip
    threshold = round(sample.fraction * 16**8)
    expected = {
        i for i in everyone if int(hashlib.md5(str(i).encode()).hexdigest()[:8], 16) < threshold
    }
    assert kept == expected
    # A Bernoulli sample of the window: its size within 4 standard deviations of the cap.
    spread = math.sqrt(len(everyone) * sample.fraction * (1 - sample.fraction))
    assert abs(len(kept) - 2000) < 4 * spread


def test_a_window_under_the_cap_is_read_whole(con) -> None:
    (sample,) = window_samples(con, "category = ?", ["grocery"], [HISTORY], cap=10**9)
    assert not sample.sampled and sampled_predicate([sample]) == ("TRUE", [])
    counted = con.execute(
        "SELECT count(*) FROM order_facts WHERE category = 'grocery' "
        "AND order_time >= ? AND order_time < ?",
        HISTORY,
    ).fetchone()
    assert counted is not None and sample.rows == counted[0]


def test_experiment_sizing_on_a_sample_scales_volumes_back(con, monkeypatch) -> None:
    whole = design_experiment(con, "on_time_rate", {"region": ["north"]}, "marketplace_policy")
    assert whole.sample_note is None
    rows = whole.history_sample.rows if whole.history_sample else 0
    monkeypatch.setattr(analytics.experiment_design, "MAX_HISTORY_ROWS", rows // 3)
    part = design_experiment(con, "on_time_rate", {"region": ["north"]}, "marketplace_policy")
    assert part.history_sample is not None and part.history_sample.sampled
    assert part.sample_note is not None and f"of {rows:,} history orders" in part.sample_note
    # Volumes are read from about a third of the orders and scaled back.
    assert part.primary.daily_volume == pytest.approx(whole.primary.daily_volume, rel=0.05)
    assert part.primary.cluster_size == pytest.approx(whole.primary.cluster_size, rel=0.05)
    # Switchback cells with orders: a third of this small world's night cells' few orders
    # may miss some (at warehouse scale every cell holds thousands).
    assert part.units == pytest.approx(whole.units, rel=0.05)
    assert part.primary.level == whole.primary.level  # levels are aggregates over every order
    per_day = "orders_per_day"
    assert part.guardrail_baselines[per_day] == pytest.approx(
        whole.guardrail_baselines[per_day], rel=0.05
    )


def test_shap_attribution_on_a_sample_says_so_and_moves_little(world, monkeypatch) -> None:
    arguments = {**SCOPE, "metric": "on_time_rate"}
    context = ToolContext(world_dir=world)
    whole, _ = context.call("shap_attribution", arguments)
    assert "sample" not in whole.summary and whole.rows == whole.orders_in_windows
    monkeypatch.setattr(analytics.attribution, "MAX_ROWS_PER_WINDOW", 400)
    sampled, item = ToolContext(world_dir=world).call("shap_attribution", arguments)
    assert sampled.orders_in_windows == whole.orders_in_windows
    assert sampled.rows < 1000 < whole.rows
    assert "fitted on a sample of" in item.summary and "drawn in the engine" in item.summary
    assert item.figures["orders_in_windows"].value == whole.orders_in_windows
    # The windows' bad-outcome rates from the sample: within sampling error of every order's.
    for name in ("outcome_baseline", "outcome_incident"):
        rate = getattr(whole, name)
        assert abs(getattr(sampled, name) - rate) < 4 * math.sqrt(rate * (1 - rate) / 400)


def test_what_if_on_a_sample_lands_inside_the_interval_on_every_order(world, monkeypatch) -> None:
    arguments = {**SCOPE, "action": "revert_batching"}
    whole, _ = ToolContext(world_dir=world).call("what_if", arguments)
    assert whole.orders == whole.orders_in_scope
    monkeypatch.setattr(analytics.whatif_simulator, "MAX_ROWS_PER_WINDOW", int(whole.orders * 0.6))
    sampled, item = ToolContext(world_dir=world).call("what_if", arguments)
    assert sampled.orders < sampled.orders_in_scope == whole.orders_in_scope
    assert "fitted on a sample of" in item.summary
    cx, cx_sampled = whole.deltas["cx_score"], sampled.deltas["cx_score"]
    assert cx.low <= cx_sampled.estimate <= cx.high
    assert cx_sampled.low <= cx.estimate <= cx_sampled.high


def test_a_sample_predicate_is_one_threshold_per_window() -> None:
    first = WindowSample(dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2), rows=4000, cap=1000)
    second = WindowSample(dt.datetime(2026, 1, 2), dt.datetime(2026, 1, 3), rows=500, cap=1000)
    sql, parameters = sampled_predicate([first, second])
    assert "'40000000'" in sql and "THEN TRUE" in sql  # a quarter of 16^8; the other whole
    assert parameters == [first.start, first.end, second.start, second.end]
