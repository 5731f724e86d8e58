"""Refining localized slices on the leaves: hour bands widen over the adjacent hours that rose,
and a slice narrows to the few stores that carry its rise."""

from __future__ import annotations

import pandas as pd

from analytics.localization import _extended_band, _slice_counts, _store_set
from analytics.slicing import BASE_DEN, BASE_NUM, CUR_DEN, CUR_NUM, Slice


def _leaves(
    current_bad: dict[tuple[str, str, int], float], units: dict[str, float]
) -> pd.DataFrame:
    """Leaves region x store x hour with a 10% baseline rate; `current_bad` overrides the
    window's bad events of a (region, store, hour) leaf, `units` gives each store's units per
    hour in the window (five times that in the baseline)."""
    rows = []
    for store, per_hour in units.items():
        region = "north" if store < "S10" else "south"
        for hour in range(24):
            rows.append({
                "region": region, "store": store, "hour": hour,
                CUR_NUM: current_bad.get((region, store, hour), 0.1 * per_hour),
                CUR_DEN: per_hour, BASE_NUM: 0.5 * per_hour, BASE_DEN: 5 * per_hour,
            })  # fmt: skip
    return pd.DataFrame(rows)


def _slice(frame: pd.DataFrame, filters: dict[str, list[object]]) -> Slice:
    counts = _slice_counts(frame, filters)
    return Slice(
        filters=filters, current_bad=0.0, expected_bad=0.0, multiplier=1.0, gain=0.0,
        p_value=0.0, q_value=0.0, **counts,  # type: ignore[arg-type]
    )  # fmt: skip


def _units(frame: pd.DataFrame, region: str, hours: range) -> float:
    inside = frame[(frame["region"] == region) & frame["hour"].isin(list(hours))]
    return float(inside[CUR_DEN].sum())


def test_a_dinner_band_widens_over_the_hours_that_rose_and_stops_at_a_quiet_one() -> None:
    stores = {"S01": 100.0, "S02": 100.0, "S11": 100.0}
    raised = {("north", s, h): 40.0 for s in ("S01", "S02") for h in (17, 18)}
    raised |= {("north", s, h): 18.0 for s in ("S01", "S02") for h in (19, 20, 21)}
    raised |= {("north", s, 22): 11.0 for s in ("S01", "S02")}  # within noise
    frame = _leaves(raised, stores)

    widened = _extended_band(frame, _slice(frame, {"region": ["north"], "hour": [17, 18]}))

    assert widened.filters == {"region": ["north"], "hour": [17, 18, 19, 20, 21]}
    assert widened.current_units == _units(frame, "north", range(17, 22))


def test_a_band_wraps_at_midnight_and_a_lone_peak_stays_alone() -> None:
    stores = {"S01": 100.0, "S11": 100.0}
    late = _leaves({("north", "S01", h): 30.0 for h in (22, 23, 0, 1)}, stores)
    peak = _leaves({("north", "S01", 18): 40.0}, stores)

    assert _extended_band(late, _slice(late, {"region": ["north"], "hour": [23]})).filters == {
        "region": ["north"],
        "hour": [22, 23, 0, 1],
    }
    assert _extended_band(peak, _slice(peak, {"region": ["north"], "hour": [18]})).filters == {
        "region": ["north"],
        "hour": [18],
    }


def test_a_slice_narrows_to_the_few_stores_whose_rate_rose() -> None:
    stores = {f"S0{k}": 20.0 for k in range(1, 10)}
    drifting = ("S02", "S05", "S07")
    frame = _leaves({("north", s, h): 6.0 for s in drifting for h in range(24)}, stores)

    narrowed = _store_set(frame, _slice(frame, {"region": ["north"]}))

    assert narrowed.filters == {"region": ["north"], "store": list(drifting)}


def test_a_region_wide_rise_is_not_narrowed_to_its_largest_stores() -> None:
    # Every store's rate doubled; only the large stores pass the per-store test on their own.
    stores = {"S01": 200.0, "S02": 200.0} | {f"S0{k}": 1.0 for k in range(3, 10)}
    frame = _leaves(
        {("north", s, h): 0.2 * u for s, u in stores.items() for h in range(24)}, stores
    )

    found = _slice(frame, {"region": ["north"]})

    assert _store_set(frame, found).filters == {"region": ["north"]}


def test_a_rise_most_stores_share_is_not_narrowed_to_a_store_list() -> None:
    # Seven of nine equal stores doubled their rate (a region's supply, a category's prep drift):
    # all seven pass their test, but the cause is the region's, so the slice stays the region.
    stores = {f"S0{k}": 20.0 for k in range(1, 10)}
    rising = [f"S0{k}" for k in range(1, 8)]
    frame = _leaves({("north", s, h): 4.0 for s in rising for h in range(24)}, stores)

    found = _slice(frame, {"region": ["north"]})

    assert _store_set(frame, found).filters == {"region": ["north"]}
