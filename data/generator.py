"""Generate a synthetic world from a scenario, day by day, into Parquet, DuckDB and truth.json.

Randomness is drawn per day from independent streams (base demand, surge candidates per cell,
supply, inventory checks), so any day can be generated alone and removing an intervention
changes only what it touched (common random numbers).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from data import world_config as cfg
from data.draws import N_CELLS, N_HOURS, OrderDraws, cell_parts, draw_orders
from data.interventions import change_row, kind_spec, order_effects, scope_mask
from data.interventions.base import CANDIDATE_POOL_SHARE
from data.mechanics import simulate_day
from data.scenario import Scenario
from data.schema import TABLES
from data.static_world import StaticWorld, build_static_world, prefixed_ids
from data.warehouse import WAREHOUSE_FILE, build_warehouse

GENERATOR_VERSION = 1
MANIFEST_FILE = "world.json"
TRUTH_FILE = "truth.json"
_STREAM_BASE, _STREAM_SURGE, _STREAM_SUPPLY, _STREAM_INVENTORY = 0, 1, 2, 3
_STREAM_WEATHER = 4
_RAIN_SPELL_PROB = 0.15  # chance that a region has a spell of (harmless) rain on a given day
_IN_FLIGHT_SHARE = 0.65  # outstanding orders per order placed in the hour (~40 min in flight)

ProgressCallback = Callable[[int, int], None]


class WorldExistsError(FileExistsError):
    """The output directory holds something that is not a cx-agent world; it is not replaced."""


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *stream]))


@dataclass
class DayOutput:
    """One generated day: its table slices and, per intervention, the order ids it touched."""

    tables: dict[str, pa.Table]
    touched_ids: list[pa.Array] = field(default_factory=list)


def expected_cell_orders(scenario: Scenario, day: dt.date, rng: np.random.Generator) -> np.ndarray:
    """Expected orders per (region, category, hour) cell: seasonality times a regional shock."""
    regional_shock = rng.lognormal(0.0, 0.04, len(cfg.REGIONS))
    share = (
        (cfg.REGION_SHARE * regional_shock)[:, None, None]
        * cfg.CATEGORY_SHARE[None, :, None]
        * cfg.HOURLY_SHAPE[None, :, :]
    )
    return (scenario.orders_per_day * cfg.demand_factor(day) * share).ravel()


def _concat_draws(parts: list[OrderDraws]) -> OrderDraws:
    offsets = np.cumsum([0] + [len(part) for part in parts[:-1]])
    values = {}
    for name in vars(parts[0]):
        arrays = [getattr(part, name) for part in parts]
        if name == "line_order":
            arrays = [array + offset for array, offset in zip(arrays, offsets, strict=True)]
        values[name] = np.concatenate(arrays)
    return OrderDraws(**values)


def _order_times(day: dt.date, draws: OrderDraws) -> np.ndarray:
    seconds = draws.hour * 3600 + draws.second_of_hour
    return np.datetime64(day, "us") + (seconds * 1e6).astype("timedelta64[us]")


def _surge_orders(
    scenario: Scenario, world: StaticWorld, day_index: int, expected: np.ndarray
) -> tuple[list[OrderDraws], list[pa.Array]]:
    """Extra orders from active kinds that add orders (demand surges), per cell from its stream."""
    day = scenario.start + dt.timedelta(days=day_index)
    day_start = np.datetime64(day, "us")
    acceptances = [
        (intervention, kind_spec(intervention.kind).order_acceptance)
        for intervention in scenario.interventions
        if intervention.magnitude > 0
    ]
    surges = [(surge, accept) for surge, accept in acceptances if accept is not None]
    if not surges:
        return [], []
    region, category, hour = cell_parts(np.arange(N_CELLS))
    hour_start = day_start + hour.astype("timedelta64[h]")
    candidate_cells = np.zeros(N_CELLS, dtype=bool)
    for surge, _ in surges:
        # The instant of each cell's hour closest to the onset: inside the window iff the hour
        # overlaps it.
        nearest = np.clip(
            np.datetime64(surge.onset, "us"),
            hour_start,
            hour_start + np.timedelta64(3_599_999_999, "us"),
        )
        candidate_cells |= scope_mask(surge, nearest, region, category, None, hour, world)
    parts, ids = [], []
    for cell in np.flatnonzero(candidate_cells):
        rng = _rng(scenario.seed, day_index, _STREAM_SURGE, int(cell))
        pool = draw_orders(
            rng, np.full(rng.poisson(expected[cell] * CANDIDATE_POOL_SHARE), cell), world
        )
        when = _order_times(day, pool)
        acceptance = np.zeros(len(pool))
        for surge, accept in surges:
            mask = scope_mask(surge, when, pool.region, pool.category, pool.store, pool.hour, world)
            acceptance += np.where(mask, accept(surge.magnitude), 0.0)
        keep = pool.u_accept < np.minimum(acceptance, 1.0)
        if keep.any():
            parts.append(pool.subset(keep))
            ids.append(prefixed_ids(f"O{day:%y%m%d}S{int(cell):03d}-", np.flatnonzero(keep), 4))
    return parts, ids


def generate_day(scenario: Scenario, world: StaticWorld, day_index: int) -> DayOutput:
    """Every table's rows for one day of the scenario."""
    day = scenario.start + dt.timedelta(days=day_index)
    seed = scenario.seed
    rng_base = _rng(seed, day_index, _STREAM_BASE)
    expected = expected_cell_orders(scenario, day, rng_base)
    counts = rng_base.poisson(expected)
    base = draw_orders(rng_base, np.repeat(np.arange(N_CELLS), counts), world)
    base_ids = prefixed_ids(f"O{day:%y%m%d}-", np.arange(len(base)), 6)
    surge_parts, surge_ids = _surge_orders(scenario, world, day_index, expected)
    draws = _concat_draws([base, *surge_parts])
    order_ids = pa.concat_arrays([base_ids, *surge_ids]) if surge_ids else base_ids
    when = _order_times(day, draws)

    # Supply: dashers are scheduled to the forecast; supply kinds (shortages) scale them.
    rng_supply = _rng(seed, day_index, _STREAM_SUPPLY)
    n_regions = len(cfg.REGIONS)
    expected_region_hour = expected.reshape(n_regions, len(cfg.CATEGORIES), N_HOURS).sum(axis=1)
    scheduled = expected_region_hour / (cfg.DASHER_CAPACITY_PER_HOUR * cfg.TARGET_LOAD)
    online = np.maximum(
        1.0,
        np.round(scheduled * rng_supply.lognormal(0.0, cfg.SUPPLY_NOISE_LOG_SD, scheduled.shape)),
    )
    grid_region, grid_hour = np.divmod(np.arange(n_regions * N_HOURS), N_HOURS)
    grid_time = np.datetime64(day, "us") + grid_hour.astype("timedelta64[h]")
    grid_touched = []
    for intervention in scenario.interventions:
        mask = np.zeros(n_regions * N_HOURS, dtype=bool)
        supply_factor = kind_spec(intervention.kind).supply_factor
        if supply_factor is not None:
            mask = scope_mask(intervention, grid_time, grid_region, None, None, grid_hour, world)
            factor = supply_factor(intervention.magnitude)
            online.ravel()[mask] = np.maximum(1.0, np.round(online.ravel()[mask] * factor))
        grid_touched.append(mask & (intervention.magnitude > 0))
    region_hour = draws.region * N_HOURS + draws.hour
    base_count = np.bincount(region_hour[: len(base)], minlength=n_regions * N_HOURS)
    effects = order_effects(
        scenario.interventions,
        when,
        draws.region,
        draws.category,
        draws.store,
        draws.hour,
        world,
        supply_touched=[mask[region_hour] for mask in grid_touched],
    )
    online_flat = online.ravel()
    # Load = orders per unit of dasher capacity. At night a handful of orders and dashers make
    # the raw ratio jumpy; dispatch pools across neighbouring zones then, which pseudo-orders at
    # the target load stand for (a quarter of a region's average hourly volume).
    capacity = online_flat[region_hour] * cfg.DASHER_CAPACITY_PER_HOUR
    pooled = cfg.LOAD_POOLING_SHARE * scenario.orders_per_day / (24 * n_regions)
    load = (
        (base_count[region_hour] + pooled * cfg.TARGET_LOAD)
        / (capacity + pooled)
        * effects.surge_load_factor
    )
    outstanding = np.round(base_count[region_hour] * effects.surge_load_factor * _IN_FLIGHT_SHARE)
    tables = simulate_day(
        day, draws, order_ids, effects, load, online_flat[region_hour], outstanding, world
    )
    tables["dasher_supply"] = pa.table(
        {
            "region": pa.array(np.asarray(cfg.REGIONS)[grid_region], pa.string()),
            "hour_start": pa.array(grid_time, pa.timestamp("us")),
            "online_dashers": online_flat.astype(np.int32),
            "open_orders": np.bincount(region_hour, minlength=n_regions * N_HOURS).astype(np.int32),
        }
    )
    tables["inventory_events"] = _inventory_checks(scenario, world, day_index)
    tables["weather"] = _weather(scenario, world, day_index)
    touched = [pc.filter(order_ids, pa.array(mask)) for mask in effects.touched]
    return DayOutput(tables=tables, touched_ids=touched)


def _inventory_checks(scenario: Scenario, world: StaticWorld, day_index: int) -> pa.Table:
    """Hourly stock checks per store: the inventory model's estimate and what was observed."""
    day = scenario.start + dt.timedelta(days=day_index)
    rng = _rng(scenario.seed, day_index, _STREAM_INVENTORY)
    hours = np.asarray(cfg.STORE_OPEN_HOURS)
    per_store = len(hours) * cfg.INVENTORY_CHECKS_PER_STORE_HOUR
    store = np.repeat(np.arange(world.n_stores), per_store)
    hour = np.tile(np.repeat(hours, cfg.INVENTORY_CHECKS_PER_STORE_HOUR), world.n_stores)
    n = len(store)
    minutes = hour * 60.0 + rng.random(n) * 60.0
    category = world.store_category[store]
    u_sku, z_estimate, u_oos = rng.random(n), rng.standard_normal(n), rng.random(n)
    sku = np.empty(n, dtype=np.int64)
    base_oos = np.empty(n)
    for index in range(len(cfg.CATEGORIES)):
        mask = category == index
        sku[mask] = np.searchsorted(world.sku_popularity_cdf[index], u_sku[mask], side="right")
        base_oos[mask] = world.sku_oos[index][sku[mask]]
    when = np.datetime64(day, "us") + (minutes * 60e6).astype("timedelta64[us]")
    factor = np.ones(n)
    for intervention in scenario.interventions:
        oos_factor = kind_spec(intervention.kind).inventory_oos_factor
        if oos_factor is not None:
            mask = scope_mask(
                intervention, when, world.store_region[store], category, store, hour, world
            )
            factor[mask] *= oos_factor(intervention.magnitude)
    oos_prob = np.minimum(0.95, base_oos * world.store_oos_factor[store] * factor)
    estimate = np.clip(1.0 - oos_prob * np.exp(0.2 * z_estimate), 0.0, 1.0)
    return pa.table(
        {
            "event_id": prefixed_ids(f"I{day:%y%m%d}-", np.arange(n), 6),
            "sku_id": world.sku_ids(category, sku),
            "store_id": pa.array(world.store_ids[store], pa.string()),
            "event_time": pa.array(when, pa.timestamp("us")),
            "in_stock_prob": np.round(estimate, 4),
            "oos_flag": u_oos < oos_prob,
        }
    )


def _weather(scenario: Scenario, world: StaticWorld, day_index: int) -> pa.Table:
    """Hourly weather per region: clear, with spells of light rain that change nothing in the
    world, and the conditions of weather kinds (storms) in the region-hours they cover."""
    day = scenario.start + dt.timedelta(days=day_index)
    rng = _rng(scenario.seed, day_index, _STREAM_WEATHER)
    n_regions = len(cfg.REGIONS)
    region, hour = np.divmod(np.arange(n_regions * N_HOURS), N_HOURS)
    spell = rng.random(n_regions) < _RAIN_SPELL_PROB
    first, length = rng.integers(0, N_HOURS, n_regions), rng.integers(1, 6, n_regions)
    raining = spell[region] & (hour >= first[region]) & (hour < first[region] + length[region])
    precipitation = np.where(raining, np.round(rng.lognormal(0.3, 0.5, len(region)), 1), 0.0)
    wind = np.round(rng.gamma(2.0, 5.0, len(region)) + 5.0 * raining, 1)
    condition = np.where(raining, "rain", "clear").astype(object)
    when = np.datetime64(day, "us") + hour.astype("timedelta64[h]")
    for intervention in scenario.interventions:
        weather = kind_spec(intervention.kind).weather
        if weather is not None and intervention.magnitude > 0:
            # An hour shows the storm when it overlaps the storm's window at all.
            nearest = np.clip(
                np.datetime64(intervention.onset, "us"),
                when,
                when + np.timedelta64(3_599_999_999, "us"),
            )
            mask = scope_mask(intervention, nearest, region, None, None, hour, world)
            conditions = weather(intervention.magnitude)
            condition[mask] = conditions.condition
            precipitation[mask] = conditions.precipitation_mm
            wind[mask] = conditions.wind_kph
    return pa.table(
        {
            "region": pa.array(np.asarray(cfg.REGIONS)[region], pa.string()),
            "hour_start": pa.array(when, pa.timestamp("us")),
            "condition": pa.array(condition, pa.string()),
            "precipitation_mm": precipitation,
            "wind_kph": wind,
        }
    )


def changes_table(scenario: Scenario) -> tuple[pa.Table, dict[int, str]]:
    """Logged interventions plus routine background changes, ordered by time.

    Returns the table and the change_id of each logged intervention (by intervention index).
    """
    rows = [
        {**change_row(intervention), "intervention": index}
        for index, intervention in enumerate(scenario.interventions)
        if intervention.logged
    ]
    if scenario.background_changes:
        rng = _rng(scenario.seed, 104_729)
        for number, offset in enumerate(range(1, scenario.days, cfg.BACKGROUND_CHANGE_EVERY_DAYS)):
            spec = cfg.BACKGROUND_CHANGES[number % len(cfg.BACKGROUND_CHANGES)]
            when = dt.datetime.combine(scenario.start, dt.time()) + dt.timedelta(
                days=offset, hours=int(rng.integers(9, 18)), minutes=int(rng.integers(0, 60))
            )
            rows.append(
                {
                    "change_time": when,
                    "kind": spec.kind,
                    "name": spec.name,
                    "scope": "{}",
                    "old_value": f"v{number + 1}",
                    "new_value": f"v{number + 2}",
                    "description": spec.description,
                    "intervention": None,
                }
            )
    rows.sort(key=lambda row: row["change_time"])
    for number, row in enumerate(rows, start=1):
        row["change_id"] = f"C{number:04d}"
    columns = TABLES["changes"].column_names
    table = pa.Table.from_pylist(
        [{name: row[name] for name in columns} for row in rows],
        schema=TABLES["changes"].arrow_schema(),
    )
    return table, {
        row["intervention"]: row["change_id"] for row in rows if row["intervention"] is not None
    }


def _check_replaceable(out_dir: Path) -> None:
    """Refuse, before any work, to overwrite a file or a directory that is not a world."""
    if out_dir.exists() and not out_dir.is_dir():
        raise WorldExistsError(f"{out_dir} is a file, not a directory")
    if out_dir.is_dir() and not (out_dir / MANIFEST_FILE).exists() and any(out_dir.iterdir()):
        raise WorldExistsError(
            f"{out_dir} exists and is not a cx-agent world; choose another --out"
        )


def _replace_directory(staging: Path, out_dir: Path) -> None:
    _check_replaceable(out_dir)
    if out_dir.exists():
        retired = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        out_dir.rename(retired)
        staging.rename(out_dir)
        shutil.rmtree(retired)
    else:
        staging.rename(out_dir)


def generate_world(
    scenario: Scenario, out_dir: Path, progress: ProgressCallback | None = None
) -> dict[str, int]:
    """Write the scenario's world to `out_dir` atomically; return row counts per table."""
    out_dir = Path(out_dir)
    _check_replaceable(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        counts = _write_world(scenario, staging, progress)
        _replace_directory(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return counts


# The tables generated day by day (the others, stores and changes, once per world).
DAY_TABLES = (
    "orders",
    "deliveries",
    "items",
    "support_events",
    "ratings",
    "dasher_supply",
    "inventory_events",
    "weather",
)


def _write_world(
    scenario: Scenario, staging: Path, progress: ProgressCallback | None
) -> dict[str, int]:
    world = build_static_world(scenario.seed, scenario.orders_per_day)
    writers = {
        name: pq.ParquetWriter(staging / f"{name}.parquet", TABLES[name].arrow_schema())
        for name in DAY_TABLES
    }
    counts = dict.fromkeys(DAY_TABLES, 0)
    touched: list[list[pa.Array]] = [[] for _ in scenario.interventions]
    try:
        for day_index in range(scenario.days):
            output = generate_day(scenario, world, day_index)
            for name in DAY_TABLES:
                table = output.tables[name].cast(TABLES[name].arrow_schema())
                writers[name].write_table(table)
                counts[name] += table.num_rows
            for index, ids in enumerate(output.touched_ids):
                touched[index].append(ids)
            if progress:
                progress(day_index + 1, scenario.days)
    finally:
        for writer in writers.values():
            writer.close()
    pq.write_table(
        world.stores_table().cast(TABLES["stores"].arrow_schema()), staging / "stores.parquet"
    )
    changes, change_ids = changes_table(scenario)
    pq.write_table(changes, staging / "changes.parquet")
    counts.update(stores=world.n_stores, changes=changes.num_rows)

    truth = {
        "scenario": scenario.name,
        "interventions": [
            {
                "index": index,
                **intervention.model_dump(mode="json"),
                "change_id": change_ids.get(index),
                "affected_orders": sum(len(ids) for ids in touched[index]),
                "order_ids": [i for ids in touched[index] for i in ids.to_pylist()],
            }
            for index, intervention in enumerate(scenario.interventions)
        ],
    }
    (staging / TRUTH_FILE).write_text(json.dumps(truth))
    build_warehouse(staging)
    manifest = {
        "kind": "synthetic",
        "generator_version": GENERATOR_VERSION,
        "scenario": scenario.model_dump(mode="json"),
        "first_day": scenario.start.isoformat(),
        "last_day": scenario.end.isoformat(),
        "row_counts": counts,
        "warehouse": WAREHOUSE_FILE,
    }
    (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
    return counts
