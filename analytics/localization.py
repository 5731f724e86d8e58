"""Localize an incident: the slices of the marketplace that carry its drop.

Builds leaves (one per region x category x hour x basket size x store) of a share metric's bad
events in the incident window and a baseline window before it, and runs the slice finder.
Slices are reported in the metric's own orientation (on-time rate falls, not late rate rises),
each refined on the leaves: its hours widened or narrowed to the band that carries the rise, and
narrowed to a set of stores when a few stores carry it.
`localize_volume` runs the same search on order volume: where orders per hour rose against the
same hours of the trailing weeks (a demand surge), the day's overall level factored out; and
`lead_with_surge` puts such a slice first when it carries the metric's drop, since a surge's
harm spreads over its whole scope while the late orders cluster in its most fragile corner.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import SupportsInt, TypedDict, cast

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

from analytics.cohorts import describe_slice, hour_run, world_dimensions
from analytics.metrics import METRICS, columns_with_data, metric, per_warehouse_file
from analytics.slicing import (
    BASE_DEN,
    BASE_NUM,
    CUR_DEN,
    CUR_NUM,
    ChangeShare,
    Slice,
    SliceSearch,
    find_slices,
    shift_share,
    slice_mask,
)

SLICE_DIMENSIONS: tuple[str, ...] = ("region", "category", "hour", "basket_size", "store")
# A world's custom dimensions join the slice search when they have few groups (a courier id
# would split every leaf), the fewest-grouped first, at most this many.
SLICE_CUSTOM_MAX_GROUPS = 8
SLICE_CUSTOM_MAX = 4
BASELINE_DAYS = 14
VOLUME = "orders_per_hour"
# Volume is searched without basket size: a surge comes with a place and a time (weather, an
# event, a promotion), and one more attribute dilutes two weeks of hourly counts.
VOLUME_DIMENSIONS: tuple[str, ...] = ("region", "category", "hour", "store")
BASELINE_WEEKS = 2
# A volume slice leads an incident when orders per hour rose by at least this much in it (a
# material surge, not the few-percent drift of a busy week) and it holds at least this share of
# the top slice's excess bad events.
SURGE_MIN_RISE = 0.15
SURGE_CARRIED_SHARE = 0.5
_WEEK = dt.timedelta(days=7)
_DAY = dt.timedelta(days=1)


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
    volume_change: float | None = None  # relative change of orders per hour, for volume slices

    def describe(self) -> str:
        """E.g. 'category=grocery, hour=18-20'."""
        return describe_slice(self.filters)


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
    frame: pd.DataFrame | None = field(default=None, repr=False, compare=False)  # the leaves


def slice_dimensions(
    con: duckdb.DuckDBPyConnection, dimensions: tuple[str, ...] = SLICE_DIMENSIONS
) -> tuple[str, ...]:
    """`dimensions` and the world's custom dimensions with 2 to SLICE_CUSTOM_MAX_GROUPS groups
    (at most SLICE_CUSTOM_MAX of them, the fewest-grouped first)."""
    custom = sorted(
        (d for d in world_dimensions(con).custom if 2 <= len(d.labels) <= SLICE_CUSTOM_MAX_GROUPS),
        key=lambda d: len(d.labels),
    )
    return (*dimensions, *(d.name for d in custom[:SLICE_CUSTOM_MAX]))


def dimensions_with_data(
    con: duckdb.DuckDBPyConnection, dimensions: tuple[str, ...]
) -> tuple[str, ...]:
    """The dimensions with a value on some order: a leaf needs every one of its dimensions, so
    one that is null throughout (an export without stores) would leave no leaf at all."""
    world = world_dimensions(con)
    columns = {d: f"order_facts.{world.column(d)}" for d in dimensions}
    present = per_warehouse_file(
        con, f"columns_with_data:{sorted(columns.values())}",
        lambda con: columns_with_data(con, columns.values()),
    )  # fmt: skip
    return tuple(d for d in dimensions if columns[d] in present)


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
    world = world_dimensions(con)
    columns = ", ".join(f"{world.column(d)} AS {d}" for d in dimensions)
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
    dimensions: tuple[str, ...] | None = None,
    max_slices: int = 5,
) -> Localization:
    """The smallest set of slices explaining the change of `metric_name` in [start, end), over
    the dimensions the data holds (an export without stores or basket values still has slices);
    by default SLICE_DIMENSIONS and the world's custom ones (`slice_dimensions`)."""
    baseline = (start - dt.timedelta(days=baseline_days), start)
    dimensions = dimensions_with_data(con, dimensions or slice_dimensions(con))
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
    return _localization(frame, search, metric_name, start, end, baseline[0], flip)


def volume_leaves(
    con: duckdb.DuckDBPyConnection,
    window: tuple[dt.datetime, dt.datetime],
    dimensions: tuple[str, ...] = SLICE_DIMENSIONS,
    weeks: int = BASELINE_WEEKS,
) -> tuple[pd.DataFrame, tuple[dt.timedelta, ...]]:
    """Orders per leaf in the window (cur_num) and in the same hours of `weeks` earlier weeks
    (base_num), and the shifts used.

    A leaf's units are the marketplace's orders on each day it appears in the window, counted
    from midnight up to the window's end (cur_den), and the same for the baseline days (base_den),
    so a leaf's ratio is its share of the day's orders: a day-wide swing in volume (weekday,
    holiday) moves every leaf alike and the background absorbs it. The shifts are whole weeks,
    the first one past the window's length, so no baseline hour lies inside the window.
    """
    start, end = window
    first = max(1, -(-(end - start) // _WEEK))
    shifts = tuple(_WEEK * (first + k) for k in range(weeks))
    days = pd.date_range(start.date(), (end - dt.timedelta(microseconds=1)).date(), freq="D")
    # Orders from midnight up to the window's end (the whole day before the last day).
    cuts = [min(_DAY, end - day.to_pydatetime()) for day in days]
    totals_sql = ", ".join(
        "count(*) FILTER (WHERE order_time >= ? AND order_time < ?)"
        for _ in range(len(days) * (len(shifts) + 1))
    )
    bounds = [
        bound
        for day, cut in zip(days, cuts, strict=True)
        for shift in (dt.timedelta(0), *shifts)
        for bound in (day.to_pydatetime() - shift, day.to_pydatetime() - shift + cut)
    ]
    day_totals = np.array(
        con.execute(f"SELECT {totals_sql} FROM order_facts", bounds).fetchone(), dtype=float
    ).reshape(len(days), len(shifts) + 1)

    world = world_dimensions(con)
    columns = ", ".join(f"{world.column(d)} AS {d}" for d in dimensions)
    which = " ".join(
        f"WHEN order_time >= ? AND order_time < ? THEN {k}" for k in range(len(shifts) + 1)
    )
    window_bounds = [
        b for shift in (dt.timedelta(0), *shifts) for b in (start - shift, end - shift)
    ]
    keys = ", ".join(str(i + 1) for i in range(len(dimensions) + 1))
    counts = con.execute(
        f"SELECT {columns}, CASE {which} END = 0 AS current, count(*) AS orders "
        f"FROM order_facts WHERE current IS NOT NULL GROUP BY {keys}",
        window_bounds,
    ).df()
    counts = counts.dropna(subset=list(dimensions))
    wide = counts.pivot_table(
        index=list(dimensions), columns="current", values="orders", aggfunc="sum", fill_value=0
    )
    frame = pd.DataFrame(index=wide.index)
    frame[CUR_NUM] = wide.get(True, 0.0)
    frame[BASE_NUM] = wide.get(False, 0.0)
    frame = frame.reset_index()
    # Units: the day totals of the days on which the leaf's hour lies in the window.
    in_window = np.ones((len(frame), len(days)), dtype=bool)
    if "hour" in dimensions:
        hour_starts = (
            np.array([d.to_pydatetime() for d in days])[None, :]
            + np.array([dt.timedelta(hours=int(h)) for h in frame["hour"]])[:, None]
        )
        in_window = (hour_starts < end) & (hour_starts + dt.timedelta(hours=1) > start)
    frame[CUR_DEN] = in_window @ day_totals[:, 0]
    frame[BASE_DEN] = in_window @ day_totals[:, 1:].sum(axis=1)
    return frame, shifts


def localize_volume(
    con: duckdb.DuckDBPyConnection,
    start: dt.datetime,
    end: dt.datetime,
    dimensions: tuple[str, ...] = VOLUME_DIMENSIONS,
    max_slices: int = 5,
    weeks: int = BASELINE_WEEKS,
) -> Localization:
    """The slices where orders per hour rose in [start, end) against the same hours of the
    trailing weeks (see `volume_leaves`). Ratios are shares of the day's orders, so `delta` is
    in share points; a slice's relative volume change is current_value / baseline_value - 1."""
    dimensions = dimensions_with_data(con, dimensions)
    frame, shifts = volume_leaves(con, (start, end), dimensions, weeks)
    if frame.empty or frame[CUR_NUM].sum() == 0:
        raise LocalizationError(f"no orders between {start} and {end}")
    if frame[BASE_NUM].sum() == 0:
        raise LocalizationError(f"no orders in the {weeks} weeks before {start}")
    search = find_slices(
        frame,
        list(dimensions),
        ordinal={"hour": "cyclic"} if "hour" in dimensions else None,
        max_slices=max_slices,
    )
    return _localization(frame, search, VOLUME, start, end, start - shifts[-1], flip=False)


def _localization(
    frame: pd.DataFrame,
    search: SliceSearch,
    metric_name: str,
    start: dt.datetime,
    end: dt.datetime,
    baseline_start: dt.datetime,
    flip: bool,
) -> Localization:
    """The search's slices in the metric's orientation, each refined on the leaves: banded to the
    contiguous hours that carry its rise (`_hour_band`, `_extended_band`) and narrowed to the
    stores that do (`_store_set`), duplicates dropped."""
    refined: list[Slice] = []
    for found in search.slices:
        narrowed = _hour_band(frame, found, search.dispersion)
        if metric_name != VOLUME:  # a surge spreads over its whole scope (`lead_with_surge`)
            narrowed = _extended_band(frame, narrowed, search.dispersion)
            narrowed = _store_set(frame, narrowed, search.dispersion)
        # Two hours of one band widen to the same slice: report it once.
        if all(narrowed.filters != kept.filters for kept in refined):
            refined.append(narrowed)

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
            orders=int(
                frame[CUR_NUM][slice_mask(frame, found.filters)].sum()
                if metric_name == VOLUME
                else found.current_units
            ),
            share_of_change=found.share_of_change,
            rate_effect=sign * found.change.rate_effect,
            mix_effect=sign * found.change.mix_effect,
            p_value=found.p_value,
            q_value=found.q_value,
            volume_change=(
                found.current_ratio / found.baseline_ratio - 1
                if metric_name == VOLUME and found.baseline_ratio > 0
                else None
            ),
        )
        for rank, found in enumerate(refined, start=1)
    )
    return Localization(
        metric=metric_name,
        window_start=start,
        window_end=end,
        baseline_start=baseline_start,
        baseline_value=oriented(search.baseline_ratio),
        current_value=oriented(search.current_ratio),
        delta=sign * search.delta,
        explained_share=_explained_share(frame, refined, search),
        candidates_tested=search.candidates_tested,
        slices=slices,
        search=search,
        frame=frame,
    )


def lead_with_surge(
    quality: Localization,
    volume: Localization,
    cohort: Mapping[str, Sequence[object]] | None = None,
) -> tuple[LocalizedSlice, ...]:
    """The quality slices, led by the first volume slice that carries the quality drop, if any.

    A volume slice qualifies when orders per hour rose by at least SURGE_MIN_RISE in it, its
    bad-event rate rose, and it holds at least SURGE_CARRIED_SHARE of the top quality slice's
    excess bad events (over that part's own baseline rate), or when no quality slice stood out,
    of the `cohort` the drop was detected in (the incident's primary cohort; a surge at 17-20 h
    in an incident that lasts into the next morning is diluted in every quality slice of the
    whole window). It is reported in the quality metric's terms, with its volume change and the
    p- and q-value of its volume rise.
    """
    frame = quality.frame
    drop = quality.slices[0].filters if quality.slices else cohort
    if frame is None or drop is None or any(name not in frame.columns for name in drop):
        return quality.slices
    top = slice_mask(frame, drop)
    if not quality.slices and _excess(frame, top) <= 0:  # no drop in the cohort to carry
        return quality.slices
    for surge in volume.slices:
        if surge.volume_change is None or surge.volume_change < SURGE_MIN_RISE:
            continue
        inside = slice_mask(frame, surge.filters)
        if _excess(frame, inside) <= 0 or _excess(frame, inside & top) < (
            SURGE_CARRIED_SHARE * _excess(frame, top)
        ):
            continue
        counts = _slice_counts(frame, surge.filters)
        flip = METRICS[quality.metric].higher_is_better
        sign = -1.0 if flip else 1.0
        change = counts["change"]
        lead = LocalizedSlice(
            rank=1,
            filters=surge.filters,
            metric=quality.metric,
            baseline_value=1.0 - counts["baseline_ratio"] if flip else counts["baseline_ratio"],
            current_value=1.0 - counts["current_ratio"] if flip else counts["current_ratio"],
            delta=sign * counts["delta"],
            orders=int(counts["current_units"]),
            share_of_change=counts["share_of_change"],
            rate_effect=sign * change.rate_effect,
            mix_effect=sign * change.mix_effect,
            p_value=surge.p_value,
            q_value=surge.q_value,
            volume_change=surge.volume_change,
        )
        rest = (replace(found, rank=rank) for rank, found in enumerate(quality.slices, start=2))
        return (lead, *rest)
    return quality.slices


def _excess(frame: pd.DataFrame, mask: np.ndarray) -> float:
    """Bad events in the window beyond the part's own baseline rate."""
    base_units = frame[BASE_DEN][mask].sum()
    if base_units <= 0:
        return 0.0
    rate = frame[BASE_NUM][mask].sum() / base_units
    return float(frame[CUR_NUM][mask].sum() - rate * frame[CUR_DEN][mask].sum())


def _per_group(frame: pd.DataFrame, filters: dict[str, list], by: str) -> pd.DataFrame:
    """Per value of `by` within `filters`: bad events in the window (observed) and those
    expected at the value's own baseline rate, shrunk towards the part's rate by 20 baseline
    units (expected)."""
    inside = frame[slice_mask(frame, filters)]
    base_rate = (inside[BASE_NUM].sum() + 1.0) / (inside[BASE_DEN].sum() + 1.0)
    groups = inside.groupby(by)[[CUR_NUM, CUR_DEN, BASE_NUM, BASE_DEN]].sum()
    rate = (groups[BASE_NUM] + 20 * base_rate) / (groups[BASE_DEN] + 20)
    return pd.DataFrame({"observed": groups[CUR_NUM], "expected": groups[CUR_DEN] * rate})


def _per_hour(frame: pd.DataFrame, filters: dict[str, list]) -> tuple[np.ndarray, np.ndarray]:
    """`_per_group` by hour of day, all 24 hours (observed, expected)."""
    hours = _per_group(frame, filters, "hour").reindex(range(24), fill_value=0.0)
    return hours["observed"].to_numpy(dtype=float), hours["expected"].to_numpy(dtype=float)


def _hour_band(
    frame: pd.DataFrame,
    found: Slice,
    dispersion: float = 1.0,
    min_z: float = 3.0,
    keep: float = 0.85,
    max_hours: int = 12,
) -> Slice:
    """Narrow a slice without an hour filter to the contiguous hours that carry its rise.

    A slice finder choosing between a parent (region=east) and its hour children (east at 11,
    12, 13, 14) can prefer the parent when no single hour beats it; this heuristic keeps the
    parent's attributes and adds the band of consecutive hours (wrapping at midnight, at most
    `max_hours`) that a Poisson scan statistic (Kulldorff 1997) finds most elevated against the
    slice's other hours, if some hour's excess bad events reach z >= `min_z` (Poisson noise times
    the search's `dispersion`), the band holds at least `keep` of the slice's net excess, and the
    other hours rose by less than a quarter as much (relative to their expected bad events).
    The scan, unlike the span of every hot hour, is not stretched by one noisy hour.
    """
    if "hour" in found.filters or "hour" not in frame:
        return found
    observed, expected = _per_hour(frame, found.filters)
    excess = observed - expected
    z = excess / np.sqrt(max(dispersion, 1.0) * np.maximum(expected, 1.0))
    total = excess.sum()
    if not (z >= min_z).any() or total <= 0:
        return found
    band = _scan_band(observed, expected, max_hours)
    if band is None or excess[band].sum() < keep * total:
        return found
    in_band = np.isin(np.arange(24), band)
    band_rise = observed[in_band].sum() / expected[in_band].sum() - 1
    rest_expected = expected[~in_band].sum()
    rest_rise = observed[~in_band].sum() / rest_expected - 1 if rest_expected else 0.0
    if rest_rise > 0.25 * band_rise:  # the other hours rose too: keep the whole slice
        return found
    filters: dict[str, list[object]] = {**found.filters, "hour": [*band]}
    return replace(found, filters=filters, **_slice_counts(frame, filters))


def _extended_band(
    frame: pd.DataFrame, found: Slice, dispersion: float = 1.0, min_z: float = 3.0
) -> Slice:
    """Widen a slice's band of consecutive hours over the adjacent hours that rose too.

    The slice finder keeps the hours whose own leaves beat their parents, so the band of a
    dinner-long drop can stop at its peak hours. Starting from the band, each neighbouring hour
    (wrapping at midnight) joins while its bad events, within the slice's other filters, exceed
    its own baseline rate by z >= `min_z` (the threshold `_hour_band` uses); the first hour that
    does not ends the band on that side. A slice whose hours are not one run is kept as it is.
    """
    hours = found.filters.get("hour")
    if not hours or "hour" not in frame:
        return found
    present = {int(cast(SupportsInt, h)) for h in hours}  # the leaves' hour numbers
    first, last = hour_run(list(present))
    if len(present) >= 24 or len(present) != (last - first) % 24 + 1:
        return found
    others = {k: v for k, v in found.filters.items() if k != "hour"}
    observed, expected = _per_hour(frame, others)
    z = (observed - expected) / np.sqrt(max(dispersion, 1.0) * np.maximum(expected, 1.0))
    band = [(first + step) % 24 for step in range(len(present))]
    while len(band) < 24 and z[(band[-1] + 1) % 24] >= min_z:
        band.append((band[-1] + 1) % 24)
    while len(band) < 24 and z[(band[0] - 1) % 24] >= min_z:
        band.insert(0, (band[0] - 1) % 24)
    if len(band) == len(present):
        return found
    filters: dict[str, list[object]] = {**others, "hour": [*band]}
    return replace(found, filters=filters, **_slice_counts(frame, filters))


def _store_set(
    frame: pd.DataFrame,
    found: Slice,
    dispersion: float = 1.0,
    alpha: float = 0.05,
    keep: float = 0.85,
    max_share: float = 0.5,
) -> Slice:
    """Narrow a slice without a store filter to the stores that carry its rise.

    A few stores drifting at once (a shared supplier, a tablet update) make their region and
    category the best slice the finder can build from single values. Each store in the slice gets
    a one-sided test of its bad events against its own baseline rate (normal approximation of the
    Poisson, noise times `dispersion`), and the stores with a Benjamini-Hochberg q-value <= `alpha`
    replace the slice if they hold at least `keep` of its net excess and the other stores taken
    together did not rise significantly (one-sided, level `alpha`): a region-wide drop passes
    the per-store tests only in its larger stores, and the many small ones still add up.
    Nor do they when more than `max_share` of the slice's stores are chosen: a cause that most
    stores share (a region's supply, a category's prep drift) is the slice's, not a store list's.
    """
    if "store" in found.filters or "store" not in frame:
        return found
    per_store = _per_group(frame, found.filters, "store")
    if len(per_store) < 2:
        return found
    observed = per_store["observed"].to_numpy(dtype=float)
    expected = per_store["expected"].to_numpy(dtype=float)
    excess = observed - expected
    total = excess.sum()
    if total <= 0:
        return found
    z = excess / np.sqrt(max(dispersion, 1.0) * np.maximum(expected, 1.0))
    q_values = stats.false_discovery_control(stats.norm.sf(z), method="bh")
    chosen = q_values <= alpha
    if not chosen.any() or excess[chosen].sum() < keep * total:
        return found
    if chosen.sum() > max_share * len(chosen):  # most stores rose: the cause is not theirs alone
        return found
    rest_z = excess[~chosen].sum() / np.sqrt(
        max(dispersion, 1.0) * max(expected[~chosen].sum(), 1.0)
    )
    if rest_z > stats.norm.isf(alpha):  # the other stores rose too, together: keep the slice
        return found
    filters = {**found.filters, "store": sorted(per_store.index[chosen].tolist())}
    return replace(found, filters=filters, **_slice_counts(frame, filters))


def _scan_band(observed: np.ndarray, expected: np.ndarray, max_hours: int) -> list[int] | None:
    """The cyclic run of at most `max_hours` hours with the largest Poisson log-likelihood ratio
    of a higher rate inside than outside (expected counts scaled to the observed total)."""
    scaled = expected * observed.sum() / expected.sum()
    best, best_ratio = None, 0.0
    for length in range(1, max_hours + 1):
        for start in range(24):
            band = [(start + step) % 24 for step in range(length)]
            inside_observed, inside_expected = observed[band].sum(), scaled[band].sum()
            outside_observed = observed.sum() - inside_observed
            outside_expected = scaled.sum() - inside_expected
            if inside_expected <= 0 or inside_observed <= inside_expected:
                continue
            ratio = inside_observed * np.log(inside_observed / inside_expected)
            if outside_observed > 0:
                ratio += outside_observed * np.log(outside_observed / outside_expected)
            if ratio > best_ratio:
                best, best_ratio = band, ratio
    return best


class _SliceCounts(TypedDict):
    """The fields of a Slice that `_slice_counts` recomputes."""

    baseline_ratio: float
    current_ratio: float
    delta: float
    baseline_units: float
    current_units: float
    change: ChangeShare
    share_of_change: float


def _slice_counts(frame: pd.DataFrame, filters: Mapping[str, Sequence[object]]) -> _SliceCounts:
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
