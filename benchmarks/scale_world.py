"""Large worlds for benchmarks/scale.py: Parquet tables partitioned by day.

A world is written as `<table>.parquet/day=YYYY-MM-DD/part-N.parquet` (hive style) for the
tables that grow with the orders (orders, deliveries, items, support_events, ratings,
inventory_events, dasher_supply, weather) and as one file for stores and changes. Two ways:

- `generate_partitioned`: the demo scenario generated directly at N orders a day, one day per
  task in worker processes (data.generator.generate_day; days draw from independent streams,
  so the world is the one `cxagent generate` would write, minus the warehouse and the
  touched order ids of truth.json).
- `tile_world`: k copies of a generated world, copy c>0 with every id prefixed `K<c>-`
  (orders, users, stores, items, tickets, ratings, inventory events) and the per-hour supply
  counts multiplied by k. Every cohort's rates are the base world's, its counts k times as
  large, so the same regressions are there, with z-scores about sqrt(k) larger.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from data.generator import DAY_TABLES, MANIFEST_FILE, TRUTH_FILE, changes_table, generate_day
from data.scenario import Scenario, load_scenario
from data.schema import TABLES
from data.static_world import StaticWorld, build_static_world

ID_COLUMNS = ("order_id", "user_id", "store_id", "item_id", "ticket_id", "rating_id", "event_id")
# Counts of dashers and open orders: k copies of the world have k times as many.
COUNT_COLUMNS = {
    "dasher_supply": ("online_dashers", "open_orders"),
    "deliveries": ("onshift_dashers", "busy_dashers", "outstanding_orders"),
}
_STATIC: dict[tuple[int, int], StaticWorld] = {}

Progress = Callable[[str], None]


def partition_path(world: Path, table: str, day: dt.date, part: int = 0) -> Path:
    """Where one day's part of a table lives (hive style: `day=YYYY-MM-DD`)."""
    return world / f"{table}.parquet" / f"day={day.isoformat()}" / f"part-{part}.parquet"


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def _generate_day(
    scenario: Scenario, out: Path, day_index: int
) -> tuple[dict[str, int], list[int]]:
    """Write one generated day's partitions; its row counts and orders touched per intervention."""
    key = (scenario.seed, scenario.orders_per_day)
    if key not in _STATIC:
        _STATIC[key] = build_static_world(*key)
    output = generate_day(scenario, _STATIC[key], day_index)
    day = scenario.start + dt.timedelta(days=day_index)
    counts = {}
    for name in DAY_TABLES:
        table = output.tables[name].cast(TABLES[name].arrow_schema())
        _write(table, partition_path(out, name, day))
        counts[name] = table.num_rows
    return counts, [len(ids) for ids in output.touched_ids]


def generate_partitioned(
    out: Path, orders_per_day: int, workers: int = 2, progress: Progress | None = None
) -> dict[str, int]:
    """The demo scenario at `orders_per_day`, written partitioned by day; row counts per table."""
    scenario = load_scenario("demo").model_copy(update={"orders_per_day": orders_per_day})
    _fresh(out)
    counts = dict.fromkeys(DAY_TABLES, 0)
    touched = [0] * len(scenario.interventions)
    task = partial(_generate_day, scenario, out)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for index, (day_counts, day_touched) in enumerate(pool.map(task, range(scenario.days))):
            for name, rows in day_counts.items():
                counts[name] += rows
            touched = [a + b for a, b in zip(touched, day_touched, strict=True)]
            if progress:
                progress(f"day {index + 1}/{scenario.days}: {day_counts['orders']:,} orders")
    world = build_static_world(scenario.seed, orders_per_day)
    _write(world.stores_table().cast(TABLES["stores"].arrow_schema()), out / "stores.parquet")
    changes, change_ids = changes_table(scenario)
    _write(changes, out / "changes.parquet")
    counts.update(stores=world.n_stores, changes=changes.num_rows)
    truth = [
        {
            **intervention.model_dump(mode="json"),
            "index": index,
            "change_id": change_ids.get(index),
            "affected_orders": touched[index],
        }
        for index, intervention in enumerate(scenario.interventions)
    ]
    (out / TRUTH_FILE).write_text(json.dumps({"scenario": scenario.name, "interventions": truth}))
    _write_manifest(out, scenario, counts, {"built_by": "benchmarks/scale_world.py generate"})
    return counts


def _fresh(out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)


def _write_manifest(
    out: Path, scenario: Scenario, counts: dict[str, int], extra: dict[str, object]
) -> None:
    manifest = {
        "kind": "synthetic",
        "generator_version": 1,
        "scenario": scenario.model_dump(mode="json"),
        "first_day": scenario.start.isoformat(),
        "last_day": scenario.end.isoformat(),
        "row_counts": counts,
        "layout": "<table>.parquet/day=YYYY-MM-DD/part-N.parquet",
        **extra,
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))


def tiled_copy(table: pa.Table, name: str, copy: int, copies: int) -> pa.Table:
    """Copy number `copy` of a table: ids prefixed `K<copy>-` (copy 0 keeps them), supply
    counts times `copies`."""
    columns = {}
    for field in table.schema:
        column = table[field.name]
        if field.name in ID_COLUMNS and copy > 0:
            column = pc.binary_join_element_wise(pa.scalar(f"K{copy}-"), column, "")
        elif field.name in COUNT_COLUMNS.get(name, ()):
            column = pc.multiply(column, pa.scalar(copies, field.type)).cast(field.type)
        columns[field.name] = column
    return pa.table(columns, schema=table.schema)


def _tile_partition(base: Path, out: Path, copies: int, name: str, day_dir: str) -> int:
    """Write one table-day of the tiled world; rows written."""
    table = pq.read_table(base / f"{name}.parquet" / day_dir)
    table = table.select(TABLES[name].column_names)
    target = out / f"{name}.parquet" / day_dir
    if name == "weather":  # one region-hour series, whatever the number of copies
        _write(table, target / "part-0.parquet")
        return table.num_rows
    if name == "dasher_supply":  # the copies' dashers and open orders, added up
        _write(tiled_copy(table, name, 0, copies), target / "part-0.parquet")
        return table.num_rows
    for copy in range(copies):
        _write(tiled_copy(table, name, copy, copies), target / f"part-{copy}.parquet")
    return table.num_rows * copies


def tile_world(
    base: Path, out: Path, copies: int, workers: int = 2, progress: Progress | None = None
) -> dict[str, int]:
    """`copies` copies of the partitioned world at `base` (see the module docstring)."""
    _fresh(out)
    tasks = [
        (name, day_dir.name)
        for name in DAY_TABLES
        for day_dir in sorted((base / f"{name}.parquet").iterdir())
    ]
    counts = dict.fromkeys(DAY_TABLES, 0)
    task = partial(_tile_partition_task, base, out, copies)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for done, ((name, _), rows) in enumerate(zip(tasks, pool.map(task, tasks), strict=True)):
            counts[name] += rows
            if progress and (done + 1) % 31 == 0:
                progress(f"{name} tiled x{copies}: {counts[name]:,} rows")
    stores = pq.read_table(base / "stores.parquet")
    copies_of_stores = [tiled_copy(stores, "stores", copy, copies) for copy in range(copies)]
    _write(pa.concat_tables(copies_of_stores), out / "stores.parquet")
    shutil.copy(base / "changes.parquet", out / "changes.parquet")
    shutil.copy(base / TRUTH_FILE, out / TRUTH_FILE)
    counts.update(
        stores=stores.num_rows * copies, changes=pq.read_metadata(out / "changes.parquet").num_rows
    )
    scenario = Scenario.model_validate(json.loads((base / MANIFEST_FILE).read_text())["scenario"])
    extra = {"built_by": f"benchmarks/scale_world.py tile x{copies} of {base}", "copies": copies}
    _write_manifest(out, scenario, counts, extra)
    return counts


def _tile_partition_task(base: Path, out: Path, copies: int, task: tuple[str, str]) -> int:
    return _tile_partition(base, out, copies, *task)
