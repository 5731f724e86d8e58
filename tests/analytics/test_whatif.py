"""What-if simulator checked against the exact counterfactual world (the cause removed)."""

from __future__ import annotations

import datetime as dt

import pytest

from analytics.whatif import Interval, Simulator, WhatIfError, scope_orders, simulate
from data.warehouse import open_warehouse
from evals.counterfactual import exact_effect

GROCERY_DINNER = {"category": ["grocery"], "hour": [18, 19, 20]}
INCIDENT = (dt.datetime(2026, 1, 4, 18), dt.datetime(2026, 1, 6))
BASELINE = (INCIDENT[0] - dt.timedelta(days=14), INCIDENT[0])


@pytest.fixture(scope="module")
def demo(small_scenario, make_world):
    # 6000 orders a day: the slice has ~1,700 orders in the incident window.
    return make_world(small_scenario("demo", orders_per_day=6000))


@pytest.fixture(scope="module")
def simulator(demo):
    con = open_warehouse(demo)
    yield Simulator.build(con, GROCERY_DINNER, BASELINE, INCIDENT)
    con.close()


@pytest.fixture(scope="module")
def truth(demo, tmp_path_factory):
    cache = tmp_path_factory.mktemp("counterfactuals")
    return exact_effect(demo, 0, GROCERY_DINNER, *INCIDENT, cache_dir=cache)


def test_reverting_batching_matches_the_exact_counterfactual_within_25_percent(
    simulator, truth
) -> None:
    result = simulate(simulator, "revert_batching")
    for metric in ("cx_score", "on_time_rate"):
        estimate = result.deltas[metric]
        assert truth[metric] > 0
        assert estimate.estimate == pytest.approx(truth[metric], rel=0.25)
        assert estimate.low <= truth[metric] <= estimate.high, (metric, estimate, truth[metric])


def test_reverting_batching_costs_dasher_time(simulator) -> None:
    result = simulate(simulator, "revert_batching")
    assert result.efficiency["cost_per_delivery_usd"].estimate > 0
    assert result.efficiency["deliveries_per_dasher_hour"].estimate < 0
    assert result.parameters["target_share"] == pytest.approx(simulator.baseline["batched"].mean())


def test_batching_sensitivity_is_monotone_in_the_allowed_batched_share(simulator) -> None:
    current = simulator.incident["batched"].mean()
    target = simulator.baseline["batched"].mean()
    shares = [current - step * (current - target) / 4 for step in range(5)]
    gains = [simulate(simulator, "revert_batching", target_share=s).deltas for s in shares]
    cx = [g["cx_score"].estimate for g in gains]
    on_time = [g["on_time_rate"].estimate for g in gains]
    assert cx == sorted(cx) and on_time == sorted(on_time)
    assert cx[0] == pytest.approx(0.0, abs=0.3)  # keeping today's share changes nothing


def test_eta_buffer_on_time_gain_is_monotone_in_minutes(simulator) -> None:
    gains = [
        simulate(simulator, "eta_buffer", minutes=m).deltas["on_time_rate"].estimate
        for m in (0, 2, 4, 6, 8)
    ]
    assert gains == sorted(gains)
    assert gains[0] == pytest.approx(0.0, abs=1e-12)


def test_every_interval_contains_its_estimate(simulator) -> None:
    for action in ("revert_batching", "eta_buffer", "prep_quote_fix", "merchant_prep_fix"):
        result = simulate(simulator, action)  # type: ignore[arg-type]
        for name, interval in result.deltas.items():
            assert interval.low <= interval.estimate <= interval.high, (action, name)


def test_an_unknown_action_is_a_clear_error(simulator) -> None:
    with pytest.raises(WhatIfError, match="unknown action"):
        simulate(simulator, "rain_dance")  # type: ignore[arg-type]


def test_a_scope_without_orders_is_a_clear_error(demo) -> None:
    con = open_warehouse(demo)
    try:
        with pytest.raises(WhatIfError, match="too few orders"):
            Simulator.build(con, {"store": ["S99999"]}, BASELINE, INCIDENT)
    finally:
        con.close()


def test_widening_adds_a_margin_relative_to_the_estimate() -> None:
    widened = Interval(2.0, 1.5, 2.5).widened(0.1)
    assert (widened.low, widened.high) == pytest.approx((1.3, 2.7))


EAST_LUNCH = {"region": ["east"], "hour": [11, 12, 13, 14]}
SHORTAGE = (dt.datetime(2025, 12, 29), dt.datetime(2026, 1, 3))


def test_peak_pay_matches_the_exact_counterfactual_of_a_dasher_shortage(
    small_scenario, make_world, tmp_path_factory
) -> None:
    world = make_world(small_scenario("dasher_shortage"))
    result = _simulated_against_truth(world, EAST_LUNCH, SHORTAGE, "peak_pay", tmp_path_factory)
    assert result.efficiency["dasher_hours_added_share"].estimate > 0.1
    assert 0 < result.efficiency["cost_per_delivery_usd"].estimate < 25


SOUTH_RETAIL = {"region": ["south"], "category": ["retail"]}
PREP_DRIFT = (dt.datetime(2025, 12, 28, 8), dt.datetime(2026, 1, 3))


def test_a_merchant_prep_fix_matches_the_exact_counterfactual_of_a_prep_drift(
    small_scenario, make_world, tmp_path_factory
) -> None:
    """The fix scales each order's prep back by its store's baseline/incident ratio."""
    world = make_world(small_scenario("prep_time_drift", orders_per_day=6000))
    _simulated_against_truth(world, SOUTH_RETAIL, PREP_DRIFT, "merchant_prep_fix", tmp_path_factory)


def _simulated_against_truth(world, filters, window, action, tmp_path_factory):
    """Simulate `action` on the scope and assert it matches the world without its cause: CX and
    on-time gains within 25% of the exact ones, and inside their 90% intervals."""
    truth = exact_effect(world, 0, filters, *window, cache_dir=tmp_path_factory.mktemp("truth"))
    con = open_warehouse(world)
    try:
        baseline = (window[0] - dt.timedelta(days=14), window[0])
        result = simulate(Simulator.build(con, filters, baseline, window), action)
    finally:
        con.close()
    for metric in ("cx_score", "on_time_rate"):
        estimate = result.deltas[metric]
        assert truth[metric] > 0
        assert estimate.estimate == pytest.approx(truth[metric], rel=0.25), (metric, truth)
        assert estimate.low <= truth[metric] <= estimate.high, (metric, estimate, truth[metric])
    return result


def test_scope_orders_come_in_a_fixed_order(demo) -> None:
    """The bootstrap samples rows by position: the same scope must give the same rows in the
    same order, whatever order DuckDB's parallel scan produced them in."""
    con = open_warehouse(demo)
    try:
        frame = scope_orders(con, GROCERY_DINNER, BASELINE, INCIDENT)
    finally:
        con.close()
    assert len(frame) > 1000 and frame["order_id"].is_monotonic_increasing
