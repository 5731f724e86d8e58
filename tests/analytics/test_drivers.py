"""Driver shifts on small simulated order facts: a busier fleet versus a looser batching policy."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analytics.drivers import (
    DRIVERS,
    DriverSpec,
    NotTestable,
    TooFewRows,
    UnknownDriver,
    Window,
    driver_shift,
    group_stats,
    query_companions,
    shift_windows,
)

START = dt.datetime(2026, 1, 1)
CHANGE = START + dt.timedelta(days=14)
SLICE = {"region": ["north"]}
BASELINE, INCIDENT = Window(START, CHANGE), Window(CHANGE, START + dt.timedelta(days=21))


def _order_facts(
    seed: int, incident_batch_share: float, incident_threshold_min: float
) -> duckdb.DuckDBPyConnection:
    """Orders in two regions over three weeks; from day 14 the north's batched share and
    allowed detour become `incident_batch_share` and `incident_threshold_min` (0.25 and 5
    before, and in the south throughout). The pickup-to-door leg is 2 + 3 min per mile, plus
    the detour and a 3-minute hand-off for batched orders."""
    rng = np.random.default_rng(seed)
    orders = 12_000
    order_time = pd.Timestamp(START) + pd.to_timedelta(rng.uniform(0, 21, orders), unit="D")
    region = np.where(rng.random(orders) < 0.5, "north", "south")
    changed = (region == "north") & (order_time >= pd.Timestamp(CHANGE))
    share = np.where(changed, incident_batch_share, 0.25)
    threshold = np.where(changed, incident_threshold_min, 5.0)
    batched = rng.random(orders) < share
    distance = rng.uniform(1.0, 5.0, orders)
    detour = np.where(batched, rng.uniform(0.0, 1.0, orders) * threshold + 3.0, 0.0)
    leg = 2.0 + 3.0 * distance + rng.normal(0.0, 1.5, orders) + detour
    prep, wait = rng.uniform(8, 20, orders), rng.uniform(0, 6, orders)
    facts = pd.DataFrame(
        {
            "order_time": order_time,
            "region": region,
            "category": "grocery",
            "hour": order_time.hour,
            "store_id": "S1",
            "basket_size": "medium",
            "daypart": "dinner",
            "delivered": True,
            "batched": batched,
            "distance_miles": distance,
            "prep_min": prep,
            "dasher_wait_min": wait,
            "duration_min": prep + wait + leg,
        }
    )
    deliveries = pd.DataFrame(
        {
            "batched_flag": [True],
            "actual_eta": [START],
            "merchant_prep_time": [600],
            "dasher_wait": [60],
            "distance": [2.0],
        }
    )
    con = duckdb.connect()
    con.register("facts_frame", facts)
    con.register("deliveries_frame", deliveries)
    con.execute("CREATE TABLE order_facts AS SELECT * FROM facts_frame")
    con.execute("CREATE TABLE deliveries AS SELECT * FROM deliveries_frame")
    return con


def test_busier_fleet_raises_batched_share_but_not_batch_detours() -> None:
    con = _order_facts(seed=1, incident_batch_share=0.35, incident_threshold_min=5.0)
    share = driver_shift(con, "batched_rate", SLICE, BASELINE, INCIDENT)
    detour = driver_shift(con, "batch_detour_min", SLICE, BASELINE, INCIDENT)
    assert share.delta > 0 and share.p_value < 0.01
    assert detour.p_value > 0.01
    assert detour.baseline == pytest.approx(3.0 + 2.5, abs=0.3)  # hand-off plus mean detour


def test_looser_batching_threshold_lengthens_batch_detours() -> None:
    con = _order_facts(seed=2, incident_batch_share=0.35, incident_threshold_min=10.0)
    detour = driver_shift(con, "batch_detour_min", SLICE, BASELINE, INCIDENT)
    assert detour.delta == pytest.approx(2.5, abs=0.5)
    assert detour.p_value < 1e-6 and detour.specificity > 0.8


def test_a_one_hour_incident_is_tested_on_an_hourly_driver_against_the_baseline_spread(
    small_scenario, make_world
) -> None:
    """The south's surge hour 18:00 on Dec 30 holds one row of orders per hour: it is read as one
    more draw from the baseline hours' spread, not refused for having no variance."""
    from data.warehouse import open_warehouse

    world = make_world(small_scenario("demand_surge", orders_per_day=6000))
    surge_hour = dt.datetime(2025, 12, 30, 18)
    baseline = Window(surge_hour - dt.timedelta(days=14), surge_hour)
    incident = Window(surge_hour, surge_hour + dt.timedelta(hours=1))
    with open_warehouse(world) as con:
        shift = driver_shift(con, "orders_per_hour", {"region": ["south"]}, baseline, incident)
    assert shift.incident_n == 1 and shift.baseline_n > 100
    # ~30% more orders than usual, but one hour of ~60 orders is noisy: z ~ 1, not an error.
    assert shift.delta > 0.2 and 0.5 < shift.statistic < 3


def test_drivers_measured_together_get_exactly_what_each_gets_alone() -> None:
    """Plain drivers of one source share one scan (group_stats); their exact sums make each
    driver's statistics the same as when it is measured alone."""
    con = _order_facts(seed=3, incident_batch_share=0.35, incident_threshold_min=10.0)
    windows = shift_windows(BASELINE, INCIDENT, None)
    companions = query_companions(con, "batched_rate")
    assert {"batched_rate", "prep_min", "dasher_wait_min", "duration_min"} <= set(companions)
    assert "quoted_min" not in companions  # order_facts has no quotes: not testable here
    together = group_stats(con, companions, SLICE, windows)
    for driver in companions:
        assert together[driver] == group_stats(con, [driver], SLICE, windows)[driver]
        shared = driver_shift(con, driver, SLICE, BASELINE, INCIDENT, groups=together[driver])
        assert shared == driver_shift(con, driver, SLICE, BASELINE, INCIDENT)
    assert query_companions(con, "batch_detour_min") == ("batch_detour_min",)


def test_a_driver_lacking_a_column_raises_not_testable_naming_each_missing_column() -> None:
    con = _order_facts(seed=4, incident_batch_share=0.25, incident_threshold_min=5.0)
    with pytest.raises(NotTestable) as raised:
        driver_shift(con, "eta_bias_min", SLICE, BASELINE, INCIDENT)
    assert raised.value.driver == "eta_bias_min"
    assert raised.value.missing == ("orders.promised_eta",)  # deliveries.actual_eta is there
    assert str(raised.value) == "eta_bias_min is not testable: missing orders.promised_eta"


def test_not_testable_fields_hold_a_driver_name_with_a_colon_and_the_word_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fields say which driver and which columns, whatever the names read like: a message
    split on 'missing ' would take the driver's name for the columns."""
    name = "share: missing lines"
    spec = DriverSpec(name, "Odd", "share", "share", DRIVERS["batched_rate"].source, "1",
                      ("items.missing_flag", "items.substituted_flag"))  # fmt: skip
    monkeypatch.setitem(DRIVERS, name, spec)
    con = _order_facts(seed=4, incident_batch_share=0.25, incident_threshold_min=5.0)
    with pytest.raises(NotTestable) as raised:
        query_companions(con, name)
    assert raised.value.driver == name
    assert raised.value.missing == ("items.missing_flag", "items.substituted_flag")


def test_an_unknown_driver_and_an_empty_slice_raise_their_own_typed_errors() -> None:
    con = _order_facts(seed=4, incident_batch_share=0.25, incident_threshold_min=5.0)
    with pytest.raises(UnknownDriver) as unknown:
        query_companions(con, "no_such_driver")
    assert unknown.value.driver == "no_such_driver"
    with pytest.raises(TooFewRows) as too_few:
        driver_shift(con, "prep_min", {"region": ["nowhere"]}, BASELINE, INCIDENT)
    assert (too_few.value.driver, too_few.value.baseline_n, too_few.value.incident_n) == (
        "prep_min",
        0,
        0,
    )


def _supply(
    seed: int, incident_hours: int, dips: list[float]
) -> tuple[duckdb.DuckDBPyConnection, pd.DataFrame]:
    """Hourly dasher supply in the north from START to `incident_hours` hours after CHANGE: 40
    dashers (lognormal noise, sd 0.07) and 40 open orders an hour, the last hours' dashers
    scaled by `dips`."""
    rng = np.random.default_rng(seed)
    hours = pd.date_range(START, CHANGE + dt.timedelta(hours=incident_hours - 1), freq="h")
    online = np.round(40 * rng.lognormal(0.0, 0.07, len(hours)))
    online[-len(dips) :] = np.round(online[-len(dips) :] * np.array(dips))
    supply = pd.DataFrame(
        {"region": "north", "hour_start": hours, "online_dashers": online, "open_orders": 40}
    )
    con = duckdb.connect()
    con.register("supply_frame", supply)
    con.execute("CREATE TABLE dasher_supply AS SELECT * FROM supply_frame")
    return con, supply


def test_a_mean_over_a_few_region_hours_is_judged_by_welchs_t_not_the_normal() -> None:
    """Two incident region-hours whose dashers per open order dip by about 3 sds of the hourly
    spread: Welch's t on ~1 degree of freedom leaves that to chance (p as scipy's Welch test
    gives it), where the normal approximation said z ~ -4, p < 1e-4 (random world 38's surge
    was blamed on a dip like this one)."""
    con, supply = _supply(5, 2, [0.80, 0.86])
    incident = Window(CHANGE, CHANGE + dt.timedelta(hours=2))
    shift = driver_shift(con, "dashers_per_order", SLICE, BASELINE, incident)
    ratio = supply.online_dashers.to_numpy() / 40
    welch = stats.ttest_ind(ratio[-2:], ratio[:-2], equal_var=False)
    assert shift.incident_n == 2 and shift.baseline_n == len(supply) - 2
    assert shift.p_value == pytest.approx(welch.pvalue, rel=1e-6)
    assert shift.statistic == pytest.approx(
        stats.norm.isf(welch.pvalue / 2) * np.sign(welch.statistic)
    )
    assert shift.p_value > 0.01  # not a shift the ranking may build on


def test_hourly_values_are_judged_against_the_baseline_hours_spread() -> None:
    """Online dashers vs usual over a 6-hour incident, 3 of whose hours lost a quarter of their
    dashers: a seasonal ratio per hour is tested as draws like the baseline hours (t on the
    baseline's spread and n - 1 degrees of freedom, recomputed here from the rows), so the
    unevenness of a shortage confined to some hours does not hide it as Welch's test did."""
    con, supply = _supply(6, 6, [0.75, 0.75, 0.75])
    incident = Window(CHANGE, CHANGE + dt.timedelta(hours=6))
    shift = driver_shift(con, "online_dashers", SLICE, BASELINE, incident)
    in_incident = supply.hour_start >= CHANGE
    usual = supply[~in_incident].groupby(supply.hour_start.dt.hour).online_dashers.mean()
    ratio = supply.online_dashers / supply.hour_start.dt.hour.map(usual)
    before, after = ratio[~in_incident], ratio[in_incident]
    t = (after.mean() - before.mean()) / (before.std() * np.sqrt(1 / len(after) + 1 / len(before)))
    p_value = 2 * stats.t.sf(abs(t), len(before) - 1)
    assert shift.p_value == pytest.approx(p_value, rel=1e-6)
    assert shift.p_value < 0.01 < stats.ttest_ind(after, before, equal_var=False).pvalue


def _two_regions(north_dip: float, south_dip: float) -> duckdb.DuckDBPyConnection:
    """Hourly dasher supply in the north and south, 40 dashers an hour (lognormal noise, sd
    0.07) from START to 6 hours after CHANGE, whose last 6 hours are scaled by the dips."""
    rng = np.random.default_rng(11)
    hours = pd.date_range(START, CHANGE + dt.timedelta(hours=5), freq="h")
    frames = []
    for region, dip in (("north", north_dip), ("south", south_dip)):
        online = 40 * rng.lognormal(0.0, 0.07, len(hours))
        online[hours >= CHANGE] *= dip
        frames.append(
            pd.DataFrame(
                {"region": region, "hour_start": hours, "online_dashers": np.round(online)}
            ).assign(open_orders=40)
        )
    con = duckdb.connect()
    con.register("supply_frame", pd.concat(frames, ignore_index=True))
    con.execute("CREATE TABLE dasher_supply AS SELECT * FROM supply_frame")
    return con


def test_a_day_that_moves_every_region_alike_is_not_a_shift_in_one_region() -> None:
    """Christmas (random seeds 6030, 6080, 6093: surges named a shortage or nothing): orders,
    and the dashers scheduled for them, at ~72% of usual in every region. In a slice that names
    its region, a seasonal ratio is read against the other regions' that day: a cut in every
    region is no shift in the north; a cut in the north alone still is. A slice naming no
    region has no other regions to read against, and reads the day as it is."""
    incident = Window(CHANGE, CHANGE + dt.timedelta(hours=6))
    everywhere = _two_regions(0.72, 0.72)
    holiday = driver_shift(everywhere, "online_dashers", SLICE, BASELINE, incident)
    assert holiday.p_value > 0.01 and holiday.incident == pytest.approx(1.0, abs=0.05)
    marketplace = driver_shift(everywhere, "online_dashers", {}, BASELINE, incident)
    assert marketplace.p_value < 0.01 and marketplace.incident < 0.8
    north_only = driver_shift(_two_regions(0.72, 1.0), "online_dashers", SLICE, BASELINE, incident)
    assert north_only.p_value < 0.01 and north_only.incident < 0.8


def test_a_driver_stand_in_is_a_driver_without_one_of_its_own() -> None:
    """A lookup falls back once (agent.answers.values._driver_lookup): online dashers to
    on-shift ones, which need no dasher_supply table."""
    stand_ins = {name: spec.stand_in for name, spec in DRIVERS.items() if spec.stand_in}
    assert stand_ins == {"online_dashers": "onshift_dashers"}
    for name, stand_in in stand_ins.items():
        assert not DRIVERS[stand_in].stand_in
        assert not set(DRIVERS[stand_in].requires) & set(DRIVERS[name].requires)
