"""The scan as known at an earlier time, cut from a later scan, equals a fresh scan made then."""

from __future__ import annotations

import datetime as dt

import pytest

from analytics.alarms import alarms_frame, cohort_grains, scan_series
from analytics.asof import incidents_as_of
from analytics.detection import DetectorSettings
from analytics.incidents import build_incidents
from data.warehouse import open_warehouse


@pytest.mark.parametrize(("grain", "hours"), [("hour", (-30, 2, 9, 60)), ("day", (-30, 60))])
def test_incidents_cut_from_the_final_scan_equal_fresh_scans_at_each_time(
    small_scenario, make_world, grain, hours
) -> None:
    world = make_world(small_scenario("demo"))
    settings = DetectorSettings()
    onset = dt.datetime(2026, 1, 4, 18)
    times = [onset + dt.timedelta(hours=h) for h in hours]
    with open_warehouse(world) as con:
        final = scan_series(con, grain, None, settings)
        for as_of in times:
            fresh = scan_series(con, grain, as_of, settings)
            expected = build_incidents(
                fresh, alarms_frame(fresh, grain, settings), grain, as_of, settings
            )
            series, cut, alarms = incidents_as_of(final, grain, as_of, settings)

            assert cut == expected, as_of
            assert cohort_grains(series) == cohort_grains(fresh), as_of
            assert alarms == len(alarms_frame(fresh, grain, settings))
    assert any(incident.start.date() == onset.date() for incident in cut)  # the demo's incident
