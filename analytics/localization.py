"""Localize an incident: the slices of the marketplace that carry its drop.

Builds leaves (one per region x category x hour x basket size x store) of a share metric's bad
events in the incident window and a baseline window before it, and runs the slice finder.
Slices are reported in the metric's own orientation (on-time rate falls, not late rate rises).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import duckdb
import numpy as np
import pandas as pd

from analytics.cohorts import dimension_column
from analytics.metrics import METRICS, metric
from analytics.slicing import (
    BASE_DEN,
    BASE_NUM,
    CUR_DEN,
    CUR_NUM,
    Slice,
    SliceSearch,
    find_slices,
    shift_share,
    slice_mask,
)

SLICE_DIMENSIONS: tuple[str, ...] = ("region", "category", "hour", "basket_size", "store")
BASELINE_DAYS = 14


class LocalizationError(ValueError):
    """A slice search that cannot run (unknown metric, empty window)."""


@dataclass(frozen=True)
class LocalizedSlice:
    """A slice in the metric's own terms."""

    rank: int
    filters: dict[str, list]
    metric: str
    baseline_value: float
    current_value: float
    delta: float
    orders: int
    share_of_change: float
    rate_effect: float
    mix_effect: float
    p_value: float
    q_value: float

    def describe(self) -> str:
        """E.g. 'category=grocery, hour=18-20'."""
        parts = []
        for name, values in self.filters.items():
            if name == "hour" and len(values) > 1:
                parts.append(f"hour={min(values):02d}-{max(values):02d}")
            else:
                parts.append(f"{name}={'/'.join(str(v) for v in values)}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Localization:
    """The search over one window: totals in the metric's terms plus the slices."""

    metric: str
    window_start: dt.datetime
    window_end: dt.datetime
    baseline_start: dt.datetime
    baseline_value: float
    current_value: float
    delta: float
    explained_share: float
    candidates_tested: int
    slices: tuple[LocalizedSlice, ...]
    search: SliceSearch


def leaves(
    con: duckdb.DuckDBPyConnection,
    metric_name: str,
    window: tuple[dt.datetime, dt.datetime],
    baseline: tuple[dt.datetime, dt.datetime],
    dimensions: tuple[str, ...] = SLICE_DIMENSIONS,
) -> pd.DataFrame:
    """Bad-event counts per leaf in the window (cur_*) and the baseline window (base_*)."""
    chosen = metric(metric_name)
    if chosen.square:
        raise LocalizationError(f"{metric_name} is a mean, not a share; slices need a share metric")
    bad = (
        f"({chosen.denominator}) - ({chosen.numerator})"
        if chosen.higher_is_better
        else chosen.numerator
    )
    columns = ", ".join(f"{dimension_column(d)} AS {d}" for d in dimensions)
    keys = ", ".join(str(i + 1) for i in range(len(dimensions) + 1))
    sql = (
        f"SELECT {columns}, order_time >= $window_start AS is_current, "
        f"{bad} AS bad, {chosen.denominator} AS units FROM order_facts "
        "WHERE (order_time >= $window_start AND order_time < $window_end) "
        "OR (order_time >= $baseline_start AND order_time < $baseline_end) "
        f"GROUP BY {keys}"
    )
    counts = con.execute(
        sql,
        {
            "window_start": window[0],
            "window_end": window[1],
            "baseline_start": baseline[0],
            "baseline_end": baseline[1],
        },
    ).df()
    counts = counts.dropna(subset=list(dimensions))
    wide = counts.pivot_table(
        index=list(dimensions), columns="is_current", values=["bad", "units"], aggfunc="sum",
        fill_value=0,
    )  # fmt: skip
    frame = pd.DataFrame(index=wide.index)
    for column, (value, is_current) in {
        CUR_NUM: ("bad", True), CUR_DEN: ("units", True),
        BASE_NUM: ("bad", False), BASE_DEN: ("units", False),
    }.items():  # fmt: skip
        frame[column] = wide.get((value, is_current), 0.0)
    frame = frame.reset_index()
    return frame.dropna(subset=list(dimensions))


def localize(
    con: duckdb.DuckDBPyConnection,
    metric_name: str,
    start: dt.datetime,
    end: dt.datetime,
    baseline_days: int = BASELINE_DAYS,
    dimensions: tuple[str, ...] = SLICE_DIMENSIONS,
    max_slices: int = 5,
) -> Localization:
    """The smallest set of slices explaining the change of `metric_name` in [start, end)."""
    baseline = (start - dt.timedelta(days=baseline_days), start)
    frame = leaves(con, metric_name, (start, end), baseline, dimensions)
    if frame.empty or frame[CUR_DEN].sum() == 0:
        raise LocalizationError(f"no orders with {metric_name} between {start} and {end}")
    if frame[BASE_DEN].sum() == 0:
        raise LocalizationError(f"no baseline orders in the {baseline_days} days before {start}")
    search = find_slices(
        frame,
        list(dimensions),
        ordinal={"hour": "cyclic"} if "hour" in dimensions else None,
        max_slices=max_slices,
    )
    flip = METRICS[metric_name].higher_is_better
    refined = [_hour_band(frame, found) for found in search.slices]

    def oriented(ratio: float) -> float:
        return 1.0 - ratio if flip else ratio

    sign = -1.0 if flip else 1.0
    slices = tuple(
        LocalizedSlice(
            rank=rank,
            filters={k: [_plain(v) for v in values] for k, values in found.filters.items()},
            metric=metric_name,
            baseline_value=oriented(found.baseline_ratio),
            current_value=oriented(found.current_ratio),
            delta=sign * found.delta,
            orders=int(found.current_units),
            share_of_change=found.share_of_change,
            rate_effect=sign * found.change.rate_effect,
            mix_effect=sign * found.change.mix_effect,
            p_value=found.p_value,
            q_value=found.q_value,
        )
        for rank, found in enumerate(refined, start=1)
    )
    return Localization(
        metric=metric_name,
        window_start=start,
        window_end=end,
        baseline_start=baseline[0],
        baseline_value=oriented(search.baseline_ratio),
        current_value=oriented(search.current_ratio),
        delta=sign * search.delta,
        explained_share=_explained_share(frame, refined, search),
        candidates_tested=search.candidates_tested,
        slices=slices,
        search=search,
    )


def _hour_band(frame: pd.DataFrame, found: Slice, min_z: float = 3.0, keep: float = 0.85) -> Slice:
    """Narrow a slice without an hour filter to the contiguous hours that carry its rise.

    A slice finder choosing between a parent (region=east) and its hour children (east at 11,
    12, 13, 14) can prefer the parent when no single hour beats it; this heuristic keeps the
    parent's attributes and adds the smallest band of consecutive hours (wrapping at midnight)
    that holds every hour whose excess bad events reach z >= `min_z`, if that band holds at
    least `keep` of the slice's excess, covers at most half the day, and the other hours rose
    by less than a quarter as much (relative to their expected bad events).
    """
    if "hour" in found.filters or "hour" not in frame:
        return found
    inside = frame[slice_mask(frame, found.filters)]
    base_rate = (inside[BASE_NUM].sum() + 1.0) / (inside[BASE_DEN].sum() + 1.0)
    per_hour = inside.groupby("hour")[[CUR_NUM, CUR_DEN, BASE_NUM, BASE_DEN]].sum()
    rate = (per_hour[BASE_NUM] + 20 * base_rate) / (per_hour[BASE_DEN] + 20)
    expected = per_hour[CUR_DEN] * rate
    excess = per_hour[CUR_NUM] - expected
    z = excess / np.sqrt(np.maximum(expected, 1.0))
    hot = sorted(int(h) for h in z[z >= min_z].index)
    total = excess.clip(lower=0).sum()
    if not hot or total <= 0:
        return found
    band = _smallest_cyclic_band(hot)
    if len(band) > 12 or excess.reindex(band).fillna(0).sum() < keep * total:
        return found
    in_band = per_hour.index.isin(band)
    band_rise = per_hour[CUR_NUM][in_band].sum() / expected[in_band].sum() - 1
    rest_expected = expected[~in_band].sum()
    rest_rise = per_hour[CUR_NUM][~in_band].sum() / rest_expected - 1 if rest_expected else 0.0
    if rest_rise > 0.25 * band_rise:  # the other hours rose too: keep the whole slice
        return found
    filters = {**found.filters, "hour": band}
    return replace(found, filters=filters, **_slice_counts(frame, filters))


def _smallest_cyclic_band(hours: list[int]) -> list[int]:
    """The shortest run of consecutive hours (mod 24) containing all `hours`."""
    best: list[int] | None = None
    for start in hours:
        span = max((h - start) % 24 for h in hours)
        band = [(start + step) % 24 for step in range(span + 1)]
        if best is None or len(band) < len(best):
            best = band
    return best or hours


def _slice_counts(frame: pd.DataFrame, filters: dict[str, list]) -> dict[str, object]:
    """Ratios, units and shift-share of a slice recomputed on the leaves."""
    mask = slice_mask(frame, filters)
    inside = frame[mask]
    baseline = inside[BASE_NUM].sum() / max(inside[BASE_DEN].sum(), 1e-12)
    current = inside[CUR_NUM].sum() / max(inside[CUR_DEN].sum(), 1e-12)
    change = shift_share(frame, mask)
    total_delta = (
        frame[CUR_NUM].sum() / frame[CUR_DEN].sum() - frame[BASE_NUM].sum() / frame[BASE_DEN].sum()
    )
    return {
        "baseline_ratio": float(baseline),
        "current_ratio": float(current),
        "delta": float(current - baseline),
        "baseline_units": float(inside[BASE_DEN].sum()),
        "current_units": float(inside[CUR_DEN].sum()),
        "change": change,
        "share_of_change": float(change.contribution / total_delta) if total_delta else 0.0,
    }


def _explained_share(frame: pd.DataFrame, slices: list[Slice], search: SliceSearch) -> float:
    if not slices or not search.delta:
        return search.explained_share
    union = np.zeros(len(frame), dtype=bool)
    for found in slices:
        union |= slice_mask(frame, found.filters)
    return float(shift_share(frame, union).contribution / search.delta)


def _plain(value: object) -> object:
    """numpy scalars to Python (for JSON and SQL parameters)."""
    return value.item() if hasattr(value, "item") else value
