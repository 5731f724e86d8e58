"""Hour bands of localized slices: the scan picks the run of hours that carries a rise."""

from __future__ import annotations

import numpy as np

from analytics.localization import LocalizedSlice, _scan_band


def test_scan_band_finds_the_raised_evening_and_ignores_one_noisy_hour() -> None:
    expected = np.full(24, 50.0)
    observed = expected.copy()
    observed[[17, 18, 19, 20]] *= 1.5  # the evening rose by half
    observed[13] += 30  # one noisy hour far from it

    assert _scan_band(observed, expected, max_hours=12) == [17, 18, 19, 20]


def test_scan_band_wraps_at_midnight_and_is_none_without_a_rise() -> None:
    expected = np.full(24, 40.0)
    raised = expected.copy()
    raised[[23, 0, 1]] *= 2

    assert _scan_band(raised, expected, max_hours=12) == [23, 0, 1]
    assert _scan_band(expected, expected, max_hours=12) is None


def test_an_hour_band_across_midnight_is_described_from_its_first_hour() -> None:
    found = LocalizedSlice(
        rank=1, filters={"region": ["east"], "hour": [23, 0, 1]}, metric="on_time_rate",
        baseline_value=0.9, current_value=0.8, delta=-0.1, orders=100, share_of_change=0.5,
        rate_effect=-0.1, mix_effect=0.0, p_value=0.001, q_value=0.01,
    )  # fmt: skip

    assert found.describe() == "region=east, hour=23-01"
