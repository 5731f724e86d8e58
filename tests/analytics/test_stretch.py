"""The worst stretch of a window: where a slice's metric was furthest from its usual value, found
on a real surge inside a longer window and not found in a world without any cause."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from analytics.metrics import Grain
from analytics.stretch import _best_run, stretch_of, worst_stretch
from data.scenario import Scenario
from data.warehouse import WAREHOUSE_FILE

ScenarioFactory = Callable[..., Scenario]
WorldFactory = Callable[[Scenario], Path]

# Five days around the demand_surge scenario's surge (south, hours 16-21, Dec 30 16:00 to Jan 1).
WINDOW = (dt.datetime(2025, 12, 28), dt.datetime(2026, 1, 2))
SURGE = (dt.datetime(2025, 12, 30, 16), dt.datetime(2026, 1, 1))
SOUTH_EVENINGS = {"region": ["south"], "hour": list(range(16, 22))}


def _connect(make_world: WorldFactory, scenario: Scenario) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(make_world(scenario) / WAREHOUSE_FILE), read_only=True)


def test_a_surge_inside_a_longer_window_is_the_stretch_by_hour_and_by_day(
    small_scenario: ScenarioFactory, make_world: WorldFactory
) -> None:
    con = _connect(make_world, small_scenario("demand_surge", orders_per_day=6000))
    try:
        by_hour = worst_stretch(con, "on_time_rate", SOUTH_EVENINGS, *WINDOW)
        by_day = worst_stretch(con, "on_time_rate", {"region": ["south"]}, *WINDOW, grain="day")
    finally:
        con.close()

    assert by_hour.found and SURGE[0] <= by_hour.start < by_hour.end <= SURGE[1]
    assert by_hour.periods < by_hour.periods_scanned == 5 * 6
    assert by_hour.score >= 4.0 and by_hour.peak_z > 4.0
    assert by_day.found and by_day.start == dt.datetime(2025, 12, 30)
    assert by_day.end == dt.datetime(2026, 1, 1)


def test_a_day_stretch_starting_in_the_windows_first_day_starts_with_the_window(
    small_scenario: ScenarioFactory, make_world: WorldFactory
) -> None:
    """The day the window starts in is read as the window's (its orders from the start on are),
    not as a baseline day: the stretch starts at the window's start, not at midnight."""
    con = _connect(make_world, small_scenario("demand_surge", orders_per_day=6000))
    try:
        found = worst_stretch(con, "on_time_rate", {"region": ["south"]}, *SURGE, grain="day")
    finally:
        con.close()

    assert found.found and found.periods_scanned == 2
    assert (found.start, found.end) == SURGE


@pytest.mark.parametrize("grain", ["hour", "day"])
def test_a_world_without_a_cause_has_no_stretch_and_keeps_the_whole_window(
    grain: Grain, small_scenario: ScenarioFactory, make_world: WorldFactory
) -> None:
    con = _connect(make_world, small_scenario("null"))
    try:
        found = worst_stretch(con, "on_time_rate", SOUTH_EVENINGS, *WINDOW, grain=grain)
    finally:
        con.close()

    assert not found.found and (found.start, found.end) == WINDOW
    assert found.periods == 0 and found.periods_scanned == (30 if grain == "hour" else 5)


def test_the_best_run_is_the_contiguous_run_with_the_largest_sum() -> None:
    assert _best_run(np.array([-1.0, 2.0, 3.0, -10.0, 4.0])) == (1, 2, 5.0)
    assert _best_run(np.array([3.0, -1.0, 3.0])) == (0, 2, 5.0)
    assert _best_run(np.array([-3.0, -0.5, -2.0])) == (1, 1, -0.5)


def test_a_stretch_of_one_period_keeps_the_whole_window() -> None:
    """Seed 14071's lunch slice: one hour read 22 sd worse, the others within noise. A driver
    read per hour would be tested on that one value: the whole window is kept; two bad hours
    make a stretch."""
    hours = pd.date_range("2025-12-28 13:00", periods=4, freq="D")
    start, end = dt.datetime(2025, 12, 28, 11), dt.datetime(2026, 1, 1)
    one = stretch_of(pd.Series([1.2, 0.3, 22.5, -0.3], index=hours), start, end)
    assert not one.found and (one.start, one.end) == (start, end) and one.peak_z == 22.5
    two = stretch_of(pd.Series([0.5, 6.0, 22.5, -0.3], index=hours), start, end)
    assert two.found and (two.start, two.end) == (hours[1], hours[2] + dt.timedelta(hours=1))
    assert two.periods == 2 and two.periods_scanned == 4
