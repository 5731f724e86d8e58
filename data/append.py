"""Add new rows to an existing world through a mapping file (`cxagent ingest --append`).

The new rows are read exactly as `ingest` reads them (the same mapping rules, types, time zones
and error messages), then each table is merged with the world's by its primary key: a row whose
key the world already holds is skipped, so running the same append twice adds nothing the
second time (idempotent on order id, and on each table's own key). Everything is built in a
staging directory beside the world: a copy of the warehouse with the new rows inserted and
order_facts recomputed for the orders they touch, the changed tables' Parquet files and the
quality report; the world is touched only when all of it succeeded, by
renaming the files into place, the warehouse last. An error at any point before leaves the
world as it was; a crash inside the renames (milliseconds) can leave new Parquet files beside
the old warehouse, and rerunning the same append completes it. The world's other files
(conversations, stored results, the watcher's state) are kept.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

from data.dimensions import VALUES_FILE, VALUES_TABLE, declared_dimensions
from data.generator import MANIFEST_FILE
from data.ingest import load_tables, new_staging_dir
from data.mapping import load_mapping
from data.quality import QUALITY_FILE, quality_report
from data.schema import TABLES
from data.warehouse import (
    WAREHOUSE_FILE,
    existing_columns,
    open_warehouse,
    order_facts_sql,
    quoted_path,
    release_warehouse,
)


class AppendError(ValueError):
    """The world cannot take an append (no world there, or a table the world lacks a key for)."""


@dataclass
class AppendResult:
    """What an append did: rows read and rows added per table, and the time it took."""

    world_dir: Path
    read: dict[str, int]
    added: dict[str, int]
    seconds: float

    @property
    def changed(self) -> bool:
        return any(self.added.values())


def append(
    mapping_path: Path | str,
    world_dir: Path | str,
    threads: int = 2,
    memory_limit: str = "4GB",
) -> AppendResult:
    """Merge the mapping's rows into the world at `world_dir` (see the module docstring)."""
    started = time.perf_counter()
    world_dir = Path(world_dir)
    if not (world_dir / WAREHOUSE_FILE).exists():
        raise AppendError(f"{world_dir}: no world to append to (no {WAREHOUSE_FILE}); ingest first")
    mapping = load_mapping(mapping_path)
    staging = new_staging_dir(world_dir)
    (staging / "new").mkdir()
    try:
        read = load_tables(mapping, staging / "new", threads, memory_limit)
        added = _merge(world_dir, staging, read, threads, memory_limit)
        if any(added.values()):
            _write_quality(world_dir, staging, mapping.local_timezone)
            _write_manifest(world_dir, staging, mapping_path, read, added)
            _commit(world_dir, staging, changed=set(added))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return AppendResult(world_dir, read, added, time.perf_counter() - started)


def _merge(
    world_dir: Path, staging: Path, read: dict[str, int], threads: int, memory_limit: str
) -> dict[str, int]:
    """In a copy of the world's warehouse (`staging`), add the new rows whose keys it lacks
    (the first of each key among them) and update order_facts; write each changed table's
    Parquet file there too. Returns the rows added per table (none: nothing is written)."""
    target = staging / WAREHOUSE_FILE
    release_warehouse(target)  # a sandbox left on this path by an ingest that staged here
    shutil.copy2(world_dir / WAREHOUSE_FILE, target)
    added: dict[str, int] = {}
    con = duckdb.connect(str(target))
    try:
        con.execute(f"SET threads = {threads}")
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute("SET enable_progress_bar = false")
        present = set(_column(con, "SELECT table_name FROM duckdb_tables()"))
        con.execute("CREATE TEMP TABLE touched (order_id VARCHAR)")
        for name in read:
            rows = _add_rows(con, name, staging / "new" / f"{name}.parquet", name in present)
            if rows:
                added[name] = rows
        values = staging / "new" / VALUES_FILE
        if added and VALUES_TABLE in present and values.exists():
            added |= {VALUES_TABLE: rows} if (rows := _add_dimension_values(con, values)) else {}
        if added:
            _update_order_facts(con, full=any(name not in present for name in added))
            for name in added:
                con.execute(
                    f"COPY {name} TO '{quoted_path(staging / f'{name}.parquet')}' (FORMAT parquet)"
                )
            con.execute("CHECKPOINT")
    finally:
        con.close()
    return added


def _add_rows(con: duckdb.DuckDBPyConnection, name: str, new: Path, present: bool) -> int:
    """Insert the rows of `new` whose key table `name` lacks; the number inserted."""
    key = TABLES[name].primary_key
    if not key:
        raise AppendError(f"table {name} has no key to append by")
    columns = ", ".join(key)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE fresh AS SELECT * FROM read_parquet(?) "
        f"QUALIFY row_number() OVER (PARTITION BY {columns}) = 1",
        [str(new)],
    )
    if present:
        con.execute(f"DELETE FROM fresh WHERE ({columns}) IN (SELECT ({columns}) FROM {name})")
    count = int(con.execute("SELECT count(*) FROM fresh").fetchone()[0])  # type: ignore[index]
    if not count:
        return 0
    fresh = _column(con, "DESCRIBE fresh")
    if not present:  # an optional table the world did not have
        body = ", ".join(f"{c.name} {c.type}" for c in TABLES[name].columns if c.name in fresh)
        con.execute(f"CREATE TABLE {name} ({body})")
    kept = set(_column(con, f"DESCRIBE {name}"))
    names = ", ".join(c for c in fresh if c in kept)
    con.execute(f"INSERT INTO {name} ({names}) SELECT {names} FROM fresh")
    if "order_id" in fresh:
        con.execute("INSERT INTO touched SELECT DISTINCT CAST(order_id AS VARCHAR) FROM fresh")
    return count


def _add_dimension_values(con: duckdb.DuckDBPyConnection, new: Path) -> int:
    """Insert the new orders' custom dimension values (of the dimensions the world declares:
    an append declares none, and bins with the world's own edges); the number inserted."""
    kept = set(_column(con, f"DESCRIBE {VALUES_TABLE}"))
    fresh = _column(con, f"DESCRIBE SELECT * FROM read_parquet('{quoted_path(new)}')")
    names = ", ".join(f'"{c}"' for c in fresh if c in kept)
    before = int(con.execute(f"SELECT count(*) FROM {VALUES_TABLE}").fetchone()[0])  # type: ignore[index]
    con.execute(
        f"INSERT INTO {VALUES_TABLE} ({names}) SELECT {names} FROM read_parquet(?) "
        f"WHERE order_id NOT IN (SELECT order_id FROM {VALUES_TABLE})",
        [str(new)],
    )
    return int(con.execute(f"SELECT count(*) FROM {VALUES_TABLE}").fetchone()[0]) - before  # type: ignore[index]


def _update_order_facts(con: duckdb.DuckDBPyConnection, full: bool) -> None:
    """order_facts recomputed for the orders the new rows touch (the new orders, and those a
    new delivery, item, ticket or rating belongs to); all of it when a table is new (its
    columns change every order's facts)."""
    available = existing_columns(con)
    dimensions = declared_dimensions(con)
    if full:
        facts = order_facts_sql(available, dimensions=dimensions)
        con.execute(f"CREATE OR REPLACE TABLE order_facts AS {facts}")
        return
    touched = "SELECT order_id FROM touched"
    con.execute(f"DELETE FROM order_facts WHERE order_id IN ({touched})")
    facts = order_facts_sql(available, only=touched, dimensions=dimensions)
    con.execute(f"INSERT INTO order_facts {facts}")


def _column(con: duckdb.DuckDBPyConnection, query: str) -> list[str]:
    """The first column of a query's rows."""
    return [row[0] for row in con.execute(query).fetchall()]


def _write_quality(world_dir: Path, staging: Path, zone: str) -> None:
    """A new data-quality report for a world that has one (ingested worlds)."""
    if not (world_dir / QUALITY_FILE).exists():
        return
    local_now = dt.datetime.now(ZoneInfo(zone)).replace(tzinfo=None)
    con = open_warehouse(staging)
    try:
        previous = json.loads((world_dir / QUALITY_FILE).read_text()).get("source") or {}
        quality_report(con, source=previous, now=local_now).save(staging)
    finally:
        con.close()
        release_warehouse(staging / WAREHOUSE_FILE)


def _write_manifest(
    world_dir: Path,
    staging: Path,
    mapping_path: Path | str,
    read: dict[str, int],
    added: dict[str, int],
) -> None:
    """The world's manifest with this append recorded (and its row counts updated)."""
    path = world_dir / MANIFEST_FILE
    manifest = json.loads(path.read_text()) if path.exists() else {}
    if "row_counts" in manifest:  # an ingested world's: each table's rows, now with the added
        counts = manifest["row_counts"]
        manifest["row_counts"] = {
            name: counts.get(name, 0) + added.get(name, 0) for name in {*counts, *added}
        }
    manifest.setdefault("appends", []).append(
        {
            "mapping": str(Path(mapping_path).resolve()),
            "read": read,
            "added": added,
            "appended_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
    )
    (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))


def _commit(world_dir: Path, staging: Path, changed: set[str]) -> None:
    """Rename the merged tables, the report and the manifest into the world, the warehouse last
    (readers see the old warehouse or the new one, never a half-written file)."""
    files = [f"{name}.parquet" for name in sorted(changed)]
    files += [name for name in (QUALITY_FILE, MANIFEST_FILE) if (staging / name).exists()]
    for name in files:
        os.replace(staging / name, world_dir / name)
    release_warehouse(world_dir / WAREHOUSE_FILE)
    os.replace(staging / WAREHOUSE_FILE, world_dir / WAREHOUSE_FILE)
