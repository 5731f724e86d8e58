"""Corroborated alarms: a driver that moves far (dasher wait) lets a weaker CX shift in its
cohort and window alarm (analytics.alarms.corroborated, analytics.detection's docstring)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.alarms import (
    CORROBORATING_METRICS,
    DriverReadings,
    SeriesResult,
    corroborate,
    scan,
    scan_series,
)
from analytics.detection import DetectorSettings, Residuals
from data.random_scenarios import random_scenario
from data.scenario import Scenario
from data.warehouse import open_warehouse

WorldFactory = Callable[[Scenario], Path]

SETTINGS = DetectorSettings()
PERIODS = 24 * 21  # three weeks of hours: two of history before the spike
SPIKE = 24 * 18
DRIVER = "dasher_wait_min"


def _z(z: dict[int, float]) -> np.ndarray:
    """An hourly z series: 0 but at `z`'s periods."""
    values = np.zeros(PERIODS)
    for index, value in z.items():
        values[index] = value
    return values


def _driver(z: dict[int, float], cohort: str = "east") -> DriverReadings:
    """Dasher wait's single-period readings in region `cohort`."""
    return {("region", cohort): [(DRIVER, 1, _z(z))]}


def _series(metric: str, z: dict[int, float], cohort: str = "east") -> SeriesResult:
    """An hourly series of one metric in region `cohort` whose z is 0 but at `z`'s periods."""
    values = _z(z)
    residuals = Residuals(
        period=pd.date_range("2025-12-01", periods=PERIODS, freq="h"),
        value=np.zeros(PERIODS),
        expected=np.zeros(PERIODS),
        z=values,
        orders=np.full(PERIODS, 50.0),
    )
    return SeriesResult(
        metric=metric,
        dimension="region",
        cohort=cohort,
        residuals=residuals,
        votes=np.zeros(PERIODS, dtype=int),
        alarm=np.zeros(PERIODS, dtype=bool),
    )


def _alarmed(results: list[SeriesResult]) -> dict[str, list[int]]:
    return {r.metric: np.flatnonzero(r.alarm).tolist() for r in results}


def test_dasher_wait_is_the_registrys_corroborating_driver() -> None:
    assert CORROBORATING_METRICS == (DRIVER,)


def test_a_far_driver_move_lends_an_alarm_to_a_weaker_cx_shift_in_its_cohort_only() -> None:
    targets = [
        _series("on_time_rate", {SPIKE: 2.6}),
        _series("duration_min", {SPIKE: 2.4}),  # below corroborated_z: no alarm
        _series("on_time_rate", {SPIKE: 3.0}, cohort="west"),  # no driver move in the west
    ]
    corroborate(targets, _driver({SPIKE: 7.0}), "hour", SETTINGS)
    assert [np.flatnonzero(r.alarm).tolist() for r in targets] == [[SPIKE], [], []]
    assert list(targets[0].fired) == ["period+dasher_wait_min"]


@pytest.mark.parametrize(
    ("driver", "alarms"),
    [
        ({SPIKE: 5.9}, []),  # below corroboration_z
        ({SPIKE: 7.0, SPIKE - 100: 8.0}, []),  # not above its own last two weeks
        ({SPIKE: 7.0, SPIKE - 24 * 15: 8.0}, [SPIKE]),  # the higher reading is older than that
        ({SPIKE: 7.0, SPIKE + 5: 9.0}, [SPIKE]),  # a later reading does not undo it
    ],
)
def test_the_driver_must_pass_its_limit_and_every_reading_of_its_last_two_weeks(
    driver: dict[int, float], alarms: list[int]
) -> None:
    targets = [_series("on_time_rate", {SPIKE: 3.0})]
    corroborate(targets, _driver(driver), "hour", SETTINGS)
    assert _alarmed(targets) == {"on_time_rate": alarms}


def test_a_lunch_shortage_too_small_for_the_cx_limits_alarms_on_its_first_day(
    make_world: WorldFactory,
) -> None:
    """Random scenario 3026: dashers online in the east at 11:00-13:59 cut to 62% from Dec 25.
    On-time there falls about 4 points (z <= 3, under every CX limit), dasher wait z ~ 13.
    Read as of that evening: without corroboration nothing alarms in the east after the onset;
    with it, the east alarms at lunch, each alarm lent by dasher wait; before the onset no
    alarm is lent. Dasher wait itself is read, not scanned: no series of it is returned."""
    scenario = random_scenario(3026)
    onset = scenario.interventions[0].onset
    as_of = onset + dt.timedelta(hours=9)
    with open_warehouse(make_world(scenario)) as con:
        found = scan(con, "hour", as_of=as_of)
        plain = scan(con, "hour", as_of=as_of, settings=DetectorSettings(corroboration_z=math.inf))
        scanned = {result.metric for result in scan_series(con, "hour", as_of=as_of)}

    def east_after(alarms: pd.DataFrame) -> pd.DataFrame:
        return alarms[(alarms.period >= onset) & alarms.cohort.str.startswith("east")]

    assert DRIVER not in scanned and "on_time_rate" in scanned
    assert east_after(plain).empty
    lent = east_after(found)
    assert not lent.empty
    assert lent.period.min() < onset + dt.timedelta(hours=3)
    assert lent.detectors.str.contains("+dasher_wait_min", regex=False).all()
    before = found[found.period < onset]
    assert len(before) == len(plain[plain.period < onset])
    assert not before.detectors.str.contains("+", regex=False).any()
