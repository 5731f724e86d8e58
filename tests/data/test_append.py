"""`cxagent ingest --append`: new rows merged into a world by key, atomically and idempotently,
on the real DoorDash sample split in two by a mapping's `where`."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from data.append import AppendError, append
from data.ingest import IngestError, ingest
from data.mapping import load_mapping
from data.warehouse import open_warehouse, release_warehouse

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "doordash_2015" / "mapping.yaml"
SPLIT = "created_at < TIMESTAMP '2015-02-10'"


def _sample() -> Path:
    return load_mapping(EXAMPLE).source_path("orders")


pytestmark = pytest.mark.skipif(
    not _sample().is_file(), reason=f"the DoorDash sample is not at {_sample()}"
)


def _mapping(path: Path, where: str | None, **column_changes: str) -> Path:
    """The example mapping with the sample's absolute path and `where` on every table."""
    raw: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    for table in raw["tables"].values():
        table["source"] = str(_sample())
        if where is not None:
            table["where"] = where
        table["columns"].update(
            {
                column: value
                for column, value in column_changes.items()
                if column in table["columns"]
            }
        )
    path.write_text(yaml.safe_dump(raw))
    return path


def _orders(world: Path) -> tuple[int, int, str]:
    with open_warehouse(world) as con:
        count, distinct, last = con.execute(
            "SELECT count(*), count(DISTINCT order_id), max(order_time) FROM orders"
        ).fetchone()  # type: ignore[misc]
    release_warehouse(world / "warehouse.duckdb")
    return count, distinct, str(last)


def _digest(world: Path) -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(world.iterdir())
        if path.is_file()
    }


@pytest.fixture(scope="module")
def ingested_before(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample up to Feb 10, ingested once for the module."""
    base = tmp_path_factory.mktemp("append")
    ingest(_mapping(base / "before.yaml", SPLIT), base / "world")
    return base / "world"


@pytest.fixture
def split_world(ingested_before: Path, tmp_path: Path) -> dict[str, Path]:
    """A private copy of it (each test appends to its own) and a directory for mappings."""
    world = Path(shutil.copytree(ingested_before, tmp_path / "world"))
    return {"world": world, "base": tmp_path}


def test_an_append_adds_the_new_days_and_a_second_run_adds_nothing(
    split_world: dict[str, Path],
) -> None:
    world, base = split_world["world"], split_world["base"]
    before = _orders(world)
    (world / "threads.sqlite").write_bytes(b"kept")  # the world's other files survive
    everything = _mapping(base / "all.yaml", None)

    first = append(everything, world)
    after = _orders(world)
    again = append(everything, world)

    assert before[2] < "2015-02-10" <= after[2]
    assert after[0] == after[1] > before[0]  # no duplicated order id
    assert first.added["orders"] == after[0] - before[0]
    assert first.read["orders"] >= first.added["orders"]
    assert after[0] == 19_743  # every order of the sample
    assert not again.changed and _orders(world) == after
    whole = ingest(everything, base / "whole")  # the same rows ingested in one go
    con = duckdb.connect()
    con.execute(f"ATTACH '{world / 'warehouse.duckdb'}' AS appended (READ_ONLY)")
    con.execute(f"ATTACH '{whole.out_dir / 'warehouse.duckdb'}' AS ingested (READ_ONLY)")
    for table in ("orders", "deliveries", "order_facts"):
        for first, second in (("appended", "ingested"), ("ingested", "appended")):
            extra = con.execute(
                f"SELECT count(*) FROM (SELECT * FROM {first}.{table} "
                f"EXCEPT ALL SELECT * FROM {second}.{table})"
            ).fetchone()
            assert extra == (0,), (table, first)
    con.close()
    assert (world / "threads.sqlite").read_bytes() == b"kept"
    manifest = json.loads((world / "world.json").read_text())
    assert manifest["row_counts"]["orders"] == after[0] and len(manifest["appends"]) == 1


def test_a_failing_append_leaves_the_world_as_it_was(
    split_world: dict[str, Path], tmp_path: Path
) -> None:
    world = split_world["world"]
    digest = _digest(world)
    broken = _mapping(tmp_path / "broken.yaml", None, store_id="CAST(no_such_column AS VARCHAR)")

    with pytest.raises(IngestError, match="no_such_column"):
        append(broken, world)
    with pytest.raises(AppendError, match="no world"):
        append(broken, tmp_path / "nowhere")
    assert _digest(world) == digest
    assert not list(world.parent.glob(f".{world.name}.tmp-*"))


def test_the_cli_appends_and_reports_a_bad_mapping_without_a_traceback(
    split_world: dict[str, Path], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from cxagent.cli import app

    world, base = split_world["world"], split_world["base"]
    runner = CliRunner()
    everything = _mapping(base / "all.yaml", None)
    done = runner.invoke(
        app, ["ingest", "--append", "--mapping", str(everything), "--out", str(world)]
    )
    broken = _mapping(tmp_path / "broken.yaml", None, store_id="CAST(nope AS VARCHAR)")
    failed = runner.invoke(
        app, ["ingest", "--append", "--mapping", str(broken), "--out", str(world)]
    )

    assert done.exit_code == 0, done.output
    assert "appended to" in done.output and "orders +" in done.output
    assert failed.exit_code != 0
    assert "nope" in failed.output and "Traceback" not in failed.output
