"""The weather_disruption kind and the `weather` table: a storm in its scope, background weather
that changes nothing elsewhere, and the world without the storm as its exact counterfactual."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from data.interventions.kinds.weather_disruption import (
    DRIVE_SLOWDOWN_PER_MAGNITUDE,
    ORDER_UPLIFT_PER_MAGNITUDE,
)
from data.random_scenarios import random_scenario
from data.scenario import CAUSE_KINDS, Scenario, parse_scenario
from data.schema import TABLES
from data.warehouse import open_warehouse

STORM_HOURS = (16, 17, 18, 19, 20, 21)
STORM_DAYS = (dt.date(2025, 12, 29), dt.date(2025, 12, 30))
# Orders in the storm's region-hours, and the drive from pickup to door of the solo ones.
IN_STORM = "region = 'north' AND hour BETWEEN 16 AND 21 AND day IN ('2025-12-29', '2025-12-30')"
DRIVE = "duration_min - prep_min - dasher_wait_min"


@pytest.fixture(scope="module")
def storm(small_scenario, make_world) -> tuple[Scenario, Path]:
    scenario = small_scenario("weather_disruption")
    return scenario, make_world(scenario)


@pytest.fixture(scope="module")
def calm(storm, make_world) -> Path:
    """The same world without the storm (its exact counterfactual)."""
    return make_world(storm[0].without(0))


def _rows(world: Path, sql: str) -> list[tuple]:
    con = open_warehouse(world)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_the_weather_table_has_every_region_hour_and_storms_only_in_the_storm_scope(
    storm: tuple[Scenario, Path],
) -> None:
    scenario, world = storm
    ((rows, regions),) = _rows(world, "SELECT count(*), count(DISTINCT region) FROM weather")
    assert (rows, regions) == (5 * 24 * scenario.days, 5)
    stormy = _rows(
        world,
        "SELECT DISTINCT region, CAST(hour_start AS DATE), hour(hour_start), precipitation_mm "
        "FROM weather WHERE condition = 'storm' ORDER BY 2, 3",
    )
    assert {(r[0], r[1], r[2]) for r in stormy} == {
        ("north", day, hour) for day in STORM_DAYS for hour in STORM_HOURS
    }
    assert {r[3] for r in stormy} == {8.0}  # magnitude 1.0


def test_a_world_without_a_storm_has_clear_hours_and_spells_of_harmless_rain(calm: Path) -> None:
    conditions = dict(
        _rows(calm, "SELECT condition, avg(precipitation_mm) FROM weather GROUP BY 1")
    )
    assert set(conditions) == {"clear", "rain"}
    assert conditions["clear"] == 0.0 and conditions["rain"] > 0.5
    ((rain_share,),) = _rows(calm, "SELECT avg(CAST(condition = 'rain' AS DOUBLE)) FROM weather")
    assert 0.005 < rain_share < 0.1  # clear most of the time


def test_the_storm_slows_drives_and_brings_more_orders_and_cancellations(
    storm: tuple[Scenario, Path], calm: Path
) -> None:
    sql = (
        f"SELECT count(*), avg(CASE WHEN delivered AND NOT batched THEN {DRIVE} END), "
        f"avg(CAST(canceled AS DOUBLE)), avg(CAST(on_time AS DOUBLE)) FROM order_facts "
        f"WHERE {IN_STORM}"
    )
    ((orders, drive, canceled, on_time),) = _rows(storm[1], sql)
    ((calm_orders, calm_drive, calm_canceled, calm_on_time),) = _rows(calm, sql)
    assert drive / calm_drive == pytest.approx(1 + DRIVE_SLOWDOWN_PER_MAGNITUDE, rel=0.1)
    assert orders / calm_orders == pytest.approx(1 + ORDER_UPLIFT_PER_MAGNITUDE, abs=0.1)
    assert canceled > 1.5 * calm_canceled
    assert on_time < calm_on_time - 0.1


def test_orders_outside_the_storm_are_those_of_the_world_without_it(
    storm: tuple[Scenario, Path], calm: Path
) -> None:
    sql = (
        "SELECT order_id, duration_min, canceled FROM order_facts "
        f"WHERE NOT ({IN_STORM}) ORDER BY order_id"
    )
    assert _rows(storm[1], sql) == _rows(calm, sql)


def test_a_storm_is_not_a_change_so_the_change_log_does_not_show_it(
    storm: tuple[Scenario, Path],
) -> None:
    assert not storm[0].interventions[0].logged
    assert _rows(storm[1], "SELECT count(*) FROM changes WHERE name = 'storm_alert'") == [(0,)]


def test_random_scenarios_never_draw_the_storm_so_existing_seeds_keep_their_worlds() -> None:
    assert CAUSE_KINDS[-1] == "weather_disruption"
    drawn = {random_scenario(seed).interventions[0].kind for seed in range(200)}
    assert drawn == set(CAUSE_KINDS) - {"weather_disruption"}
    asked = random_scenario(3, kind="weather_disruption").interventions[0]
    assert asked.kind == "weather_disruption" and asked.end is not None and not asked.logged


def test_the_weather_parquet_holds_the_schema_s_columns(storm: tuple[Scenario, Path]) -> None:
    con = duckdb.connect()
    try:
        columns = con.execute(
            "SELECT name FROM parquet_schema(?)", [str(storm[1] / "weather.parquet")]
        ).fetchall()
    finally:
        con.close()
    assert [c[0] for c in columns][1:] == TABLES["weather"].column_names


def test_an_hour_shows_the_storm_when_the_storm_covers_part_of_it(make_world) -> None:
    scenario = parse_scenario(
        {
            "name": "half_hour_storm",
            "start": "2025-12-06",
            "days": 2,
            "orders_per_day": 300,
            "interventions": [
                {
                    "kind": "weather_disruption",
                    "onset": "2025-12-07T16:30",
                    "end": "2025-12-07T18:15",
                    "scope": {"region": ["west"]},
                }
            ],
        }
    )
    stormy = _rows(
        make_world(scenario),
        "SELECT hour(hour_start) FROM weather WHERE condition = 'storm' ORDER BY 1",
    )
    assert stormy == [(16,), (17,), (18,)]
