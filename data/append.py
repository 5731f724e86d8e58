"""Add new rows to an existing world through a mapping file (`cxagent ingest --append`).

The new rows are read exactly as `ingest` reads them (the same mapping rules, types, time zones
and error messages), then each table is merged with the world's by its primary key: a row whose
key the world already holds is skipped, so running the same append twice adds nothing the
second time (idempotent on order id, and on each table's own key). Everything is built in a
staging directory beside the world (the merged Parquet tables, a new warehouse, the quality
report); the world is touched only when all of it succeeded, by renaming the files into place,
the warehouse last. An error at any point before leaves the world as it was; a crash inside the
renames (milliseconds) can leave new Parquet files beside the old warehouse, and rerunning the
same append completes it. The world's other files (conversations, stored results, the
watcher's state) are kept.
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

from data.generator import MANIFEST_FILE
from data.ingest import _staging_prefix, load_tables, sweep_stale_staging
from data.mapping import load_mapping
from data.quality import QUALITY_FILE, quality_report
from data.schema import TABLES
from data.warehouse import WAREHOUSE_FILE, build_warehouse, open_warehouse, release_warehouse


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
    sweep_stale_staging(world_dir)
    staging = world_dir.with_name(f"{_staging_prefix(world_dir)}{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "new").mkdir(parents=True)
    try:
        read = load_tables(mapping, staging / "new", threads, memory_limit)
        added = _merge(world_dir, staging, read, threads, memory_limit)
        if any(added.values()):
            _link_unchanged(world_dir, staging, changed=set(added))
            build_warehouse(staging, threads=threads, memory_limit=memory_limit)
            zone = mapping.local_timezone
            _write_quality(world_dir, staging, zone)
            _write_manifest(world_dir, staging, mapping_path, read, added)
            _commit(world_dir, staging, changed=set(added))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return AppendResult(world_dir, read, added, time.perf_counter() - started)


def _merge(
    world_dir: Path, staging: Path, read: dict[str, int], threads: int, memory_limit: str
) -> dict[str, int]:
    """Write `staging/<table>.parquet` = the world's rows plus the new rows with unseen keys,
    for each table read that adds any; return the rows added per table."""
    added: dict[str, int] = {}
    con = duckdb.connect()
    try:
        con.execute(f"SET threads = {threads}")
        con.execute(f"SET memory_limit = '{memory_limit}'")
        for name in read:
            key = TABLES[name].primary_key
            if not key:
                raise AppendError(f"table {name} has no key to append by")
            new, old = staging / "new" / f"{name}.parquet", world_dir / f"{name}.parquet"
            columns = ", ".join(key)
            # The first row of each key among the new ones, then only the keys the world lacks.
            con.execute(
                "CREATE OR REPLACE TEMP TABLE fresh AS SELECT * FROM read_parquet(?) "
                f"QUALIFY row_number() OVER (PARTITION BY {columns}) = 1",
                [str(new)],
            )
            if old.exists():
                con.execute(
                    f"DELETE FROM fresh WHERE ({columns}) IN "
                    f"(SELECT ({columns}) FROM read_parquet(?))",
                    [str(old)],
                )
            count = con.execute("SELECT count(*) FROM fresh").fetchone()[0]  # type: ignore[index]
            if not count:
                continue
            added[name] = int(count)
            union = (
                "SELECT * FROM read_parquet(?) UNION ALL BY NAME SELECT * FROM fresh"
                if old.exists()
                else "SELECT * FROM fresh"
            )
            target = staging / f"{name}.parquet"
            arguments = [str(old)] if old.exists() else []
            con.execute(f"COPY ({union}) TO '{_quoted(target)}' (FORMAT parquet)", arguments)
    finally:
        con.close()
    return added


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def _link_unchanged(world_dir: Path, staging: Path, changed: set[str]) -> None:
    """The world's other tables beside the merged ones, hard-linked (copied where links fail)."""
    for name in TABLES:
        source = world_dir / f"{name}.parquet"
        if name in changed or not source.exists():
            continue
        try:
            os.link(source, staging / source.name)
        except OSError:
            shutil.copy2(source, staging / source.name)


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
    con = duckdb.connect()
    try:
        counts = {
            name: int(
                con.execute(  # type: ignore[index]
                    "SELECT count(*) FROM read_parquet(?)", [str(staging / f"{name}.parquet")]
                ).fetchone()[0]
            )
            for name in TABLES
            if (staging / f"{name}.parquet").exists()
        }
    finally:
        con.close()
    if "row_counts" in manifest:
        manifest["row_counts"] = counts
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
