"""A world whose tables are directories of parts partitioned by day (`orders.parquet/day=.../`)
builds the same warehouse as the single-file world it was rewritten from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from data.generator import MANIFEST_FILE
from data.schema import ORDER_FACTS, TABLES
from data.warehouse import WAREHOUSE_FILE, WarehouseError, build_warehouse
from tools import catalog  # noqa: F401  (registers the tools)
from tools.base import ToolContext

# The day each table's rows belong to; the tables keyed by order take their order's day.
ORDER_DAY = "(SELECT CAST(order_time AS DATE) FROM orders o WHERE o.order_id = t.order_id)"
DAY_OF = {
    "orders": "CAST(order_time AS DATE)",
    "deliveries": ORDER_DAY,
    "items": ORDER_DAY,
    "support_events": ORDER_DAY,
    "ratings": ORDER_DAY,
    "inventory_events": "CAST(event_time AS DATE)",
    "dasher_supply": "CAST(hour_start AS DATE)",
    "weather": "CAST(hour_start AS DATE)",
}


def partitioned_copy(world: Path, out: Path) -> Path:
    """The world's Parquet tables rewritten as hive-partitioned directories, one per day."""
    out.mkdir()
    con = duckdb.connect()
    con.execute(f"CREATE VIEW orders AS SELECT * FROM read_parquet('{world}/orders.parquet')")
    for source in world.glob("*.parquet"):
        name = source.name.removesuffix(".parquet")
        if name not in DAY_OF:
            shutil.copy(source, out / source.name)
            continue
        con.execute(
            f"COPY (SELECT *, {DAY_OF[name]} AS day FROM read_parquet('{source}') t) "
            f"TO '{out / source.name}' (FORMAT parquet, PARTITION_BY (day))"
        )
    con.close()
    return out


def row_counts(world: Path) -> dict[str, int]:
    con = duckdb.connect(str(world / WAREHOUSE_FILE), read_only=True)
    try:
        names = [*TABLES, ORDER_FACTS.name]
        return {name: con.sql(f"SELECT count(*) FROM {name}").fetchall()[0][0] for name in names}
    finally:
        con.close()


@pytest.fixture(scope="module")
def worlds(
    small_scenario, make_world, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """The small demo world and its copy partitioned by day (warehouse built from the parts)."""
    world = make_world(small_scenario("demo"))
    partitioned = partitioned_copy(world, tmp_path_factory.mktemp("partitioned") / "world")
    build_warehouse(partitioned)
    return world, partitioned


def test_partitioned_tables_are_directories_of_day_parts(worlds: tuple[Path, Path]) -> None:
    world, partitioned = worlds
    days = sorted(p.name for p in (partitioned / "orders.parquet").iterdir())
    assert len(days) == json.loads((world / MANIFEST_FILE).read_text())["scenario"]["days"]
    assert days[0].startswith("day=")
    assert (partitioned / "stores.parquet").is_file()


def test_partitioned_world_builds_the_same_warehouse(worlds: tuple[Path, Path]) -> None:
    world, partitioned = worlds
    counts = row_counts(partitioned)
    assert counts == row_counts(world)
    assert counts["orders"] == counts[ORDER_FACTS.name] > 0


def test_partitioned_world_gives_the_same_incidents(worlds: tuple[Path, Path]) -> None:
    world, partitioned = worlds
    outputs = []
    for directory in (world, partitioned):
        context = ToolContext(world_dir=directory)
        try:
            output, _ = context.call("detect_incidents", {"grain": "hour"})
        finally:
            context.close()
        outputs.append(output.model_dump(exclude={"as_of"}))
    assert outputs[0]["incidents"]
    assert outputs[0] == outputs[1]


def test_a_directory_without_parquet_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "orders.parquet").mkdir()
    with pytest.raises(WarehouseError, match="without Parquet files"):
        build_warehouse(tmp_path)
