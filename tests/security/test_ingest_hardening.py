"""Ingest under attack or mishap: a mapping's values are single SQL expressions (a second
statement, a subquery or a file read is refused before any SQL runs), a killed ingest's staging
directory is swept by the next one, errors do not quote the contents of the files they read,
and rows dated in the future are flagged without moving the data's last day."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from agent.parsing import read_question
from analytics.alarms import data_span
from data.ingest import IngestError, ingest, load_tables
from data.mapping import MappingError, load_mapping
from data.warehouse import open_warehouse

REPO = Path(__file__).resolve().parents[2]
ORDERS_HEADER = "id,created_at,store,market,subtotal_cents"
ORDERS = [
    # id, created_at (UTC), store, market, subtotal (cents)
    ("1", "2026-01-05 02:30:00", "s1", "north", 2500),
    ("2", "2026-01-05 19:15:00", "s2", "south", 9000),
    ("3", "2026-01-06 06:05:00", "s1", "north", 1200),
    ("4", "2026-01-06 13:45:00", "s3", "south", 4000),
]
DELIVERIES = [("1", "2026-01-05 03:05:00"), ("2", "2026-01-05 20:20:00")]
ORDER_COLUMNS = {
    "order_id": "CAST(id AS VARCHAR)",
    "store_id": "store",
    "region": "market",
    "basket_value": "subtotal_cents / 100.0",
    "order_time": "created_at",
}
DELIVERY_COLUMNS = {"order_id": "CAST(order_ref AS VARCHAR)", "actual_eta": "delivered_at"}


def _csv(path: Path, header: str, rows: list[tuple[Any, ...]]) -> Path:
    path.write_text("\n".join([header, *(",".join(str(v) for v in row) for row in rows)]) + "\n")
    return path


def _export(root: Path, order_rows: list[tuple[Any, ...]] = ORDERS, **tables: Any) -> Path:
    """orders.csv and deliveries.csv beside mapping.yaml; `tables` edits the tables' entries."""
    root.mkdir(parents=True, exist_ok=True)
    _csv(root / "orders.csv", ORDERS_HEADER, order_rows)
    _csv(root / "deliveries.csv", "order_ref,delivered_at", DELIVERIES)
    entries: dict[str, dict[str, Any]] = {
        "orders": {"source": "orders.csv", "columns": dict(ORDER_COLUMNS)},
        "deliveries": {"source": "deliveries.csv", "columns": dict(DELIVERY_COLUMNS)},
    }
    for table, fields in tables.items():
        entries[table].update(fields)
    mapping = {"source_timezone": "UTC", "local_timezone": "America/Los_Angeles"}
    path = root / "mapping.yaml"
    path.write_text(yaml.safe_dump({**mapping, "tables": entries}, sort_keys=False))
    return path


# --- 1. mapping values are single SQL expressions -----------------------------------------------

MARKER = "written.csv"  # a payload that ran would write this file in the working directory


@pytest.mark.parametrize(
    ("table", "fields", "message"),
    [
        ("orders", {"where": f"TRUE; COPY (SELECT 'pwned') TO '{MARKER}'"},
         "tables.orders.where: must be one SQL expression; found 2 statements separated by ';', "
         "a COPY among them"),
        ("orders", {"where": f"COPY (SELECT 'pwned') TO '{MARKER}'"},
         "tables.orders.where: must be one SQL expression; found a COPY statement"),
        ("orders", {"where": "ATTACH 'other.db' AS other"},
         "tables.orders.where: must be one SQL expression; found an ATTACH statement"),
        ("deliveries", {"where": "INSTALL httpfs"},
         "tables.deliveries.where: must be one SQL expression; found an INSTALL statement"),
        ("orders", {"columns": {**ORDER_COLUMNS, "region": "SET enable_external_access = true"}},
         "tables.orders.columns.region: must be one SQL expression; found a SET statement"),
        ("orders", {"columns": {**ORDER_COLUMNS, "store_id": "(SELECT max(id) FROM orders)"}},
         "tables.orders.columns.store_id: must be one SQL expression over the source's columns; "
         "found a subquery or table"),
        ("orders", {"columns": {**ORDER_COLUMNS, "region": "read_text('/etc/hostname')"}},
         "tables.orders.columns.region: must be one SQL expression over the source's columns; "
         "found read_text(), which reads files"),
        ("orders", {"columns": {**ORDER_COLUMNS, "region": "market || glob('*')"}},
         "found glob(), which reads files"),
        ("orders", {"read_options": {f"delim = ','); COPY (SELECT 1) TO '{MARKER}'; --": ","}},
         "tables.orders.read_options: \"delim = ','); COPY (SELECT 1) TO 'writte\" is not an "
         "option name"),
        ("orders", {"read_options": {"delim": "\x00"}},
         "tables.orders.read_options: delim: the value holds control characters"),
    ],
)  # fmt: skip
def test_a_mapping_value_that_is_not_one_expression_is_refused_before_any_sql_runs(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    table: str,
    fields: dict[str, Any],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    mapping = _export(tmp_path, **{table: fields})

    with pytest.raises(MappingError) as error:
        ingest(mapping, tmp_path / "world")
    assert str(error.value).startswith(f"{mapping}: ")
    assert message in str(error.value)
    assert not (tmp_path / MARKER).exists()
    assert not (tmp_path / "world").exists()


def test_the_ingest_session_reads_only_its_sources_even_past_the_mapping_check(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2\n")
    mapping = load_mapping(_export(tmp_path / "export"))
    unchecked = {"region": f"(SELECT content FROM read_text('{secret}'))"}
    orders = mapping.tables["orders"]  # model_copy(update=...) skips validation
    mapping.tables["orders"] = orders.model_copy(update={"columns": orders.columns | unchecked})
    (tmp_path / "staging").mkdir()

    with pytest.raises(IngestError) as error:
        load_tables(mapping, tmp_path / "staging")
    (problem,) = error.value.problems
    assert problem.column == "orders.region" and "Permission Error" in problem.problem
    assert "hunter2" not in str(error.value)


# --- 2. a killed ingest's staging directory is swept ---------------------------------------------


def _big_export(root: Path, rows: int) -> Path:
    """An export large enough that its ingest runs for seconds: both tables read one CSV."""
    root.mkdir()
    with duckdb.connect() as con:
        con.execute(
            "COPY (SELECT i AS id, TIMESTAMP '2026-01-01' + INTERVAL (i % 2000000) SECOND "
            "AS created_at, 's' || (i % 50) AS store, "
            "CASE WHEN i % 2 = 0 THEN 'north' ELSE 'south' END AS market, "
            "1000 + i % 5000 AS subtotal_cents, "
            "TIMESTAMP '2026-01-01' + INTERVAL (i % 2000000 + 2000) SECOND AS delivered_at "
            f"FROM range({rows}) t(i)) TO '{root / 'big.csv'}'"
        )
    deliveries = {"order_id": "CAST(id AS VARCHAR)", "actual_eta": "delivered_at"}
    mapping = {
        "source_timezone": "UTC",
        "local_timezone": "America/Los_Angeles",
        "tables": {
            "orders": {"source": "big.csv", "columns": ORDER_COLUMNS},
            "deliveries": {"source": "big.csv", "columns": deliveries},
        },
    }
    (root / "mapping.yaml").write_text(yaml.safe_dump(mapping))
    return root / "mapping.yaml"


def _wait_for(path: Path, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, "the ingest ended before its staging directory was seen"
        assert time.monotonic() < deadline, f"{path} did not appear in {seconds} s"
        time.sleep(0.01)


def test_a_staging_directory_left_by_a_killed_ingest_is_swept_by_the_next(
    tmp_path: Path,
) -> None:
    big = _big_export(tmp_path / "big", rows=500_000)
    world = tmp_path / "world"
    killed = subprocess.Popen(
        [sys.executable, "-c", "import sys; from data.ingest import ingest; "
         "ingest(sys.argv[1], sys.argv[2])", str(big), str(world)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    stale = tmp_path / f".world.tmp-{killed.pid}"
    try:
        _wait_for(stale, killed, seconds=60)
        time.sleep(0.3)  # let DuckDB start reading the file
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    assert killed.returncode == -signal.SIGKILL
    assert stale.is_dir() and not world.exists()  # SIGKILL left it behind

    concurrent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    live = tmp_path / f".world.tmp-{concurrent.pid}"
    try:
        (live / ".spill").mkdir(parents=True)
        ingest(_export(tmp_path / "small"), world)

        assert not stale.exists()
        assert live.is_dir()  # a live process's staging directory is left alone
    finally:
        concurrent.kill()
        concurrent.wait()
    assert (world / "world.json").is_file()
    assert {p.name for p in tmp_path.iterdir()} == {"big", "small", "world", live.name}


# --- 3. errors do not quote file contents ---------------------------------------------------------


def test_an_error_does_not_quote_a_file_that_is_not_a_csv_nor_long_sample_values(
    tmp_path: Path,
) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n"
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
        "-----END OPENSSH PRIVATE KEY-----\n"
    )
    long_value = "\x1b[31m" + "A" * 200  # a terminal escape and a long stretch of the file
    rows = [*ORDERS[:3], ("4", long_value, "s3", "south", 4000)]
    mapping = _export(tmp_path, order_rows=rows, deliveries={"source": str(key)})

    with pytest.raises(IngestError) as error:
        ingest(mapping, tmp_path / "world")
    message = str(error.value)
    assert "OPENSSH" not in message and "b3Blbn" not in message
    problems = {problem.column: problem.problem for problem in error.value.problems}
    assert (
        "the file's header has 1 column(s) that do not look like column names"
        in (problems["deliveries.order_id"])
    )
    assert "1 of 4 rows hold unparseable timestamps" in problems["orders.order_time"]
    clipped = repr("\x1b[31m" + "A" * 35 + "...")  # 40 characters, the escape escaped
    assert f"order_time={clipped}" in problems["orders.order_time"]
    assert "\x1b" not in message and "A" * 36 not in message


# --- 4. rows dated in the future ------------------------------------------------------------------


def test_rows_dated_in_the_future_are_flagged_and_do_not_move_the_datas_last_day(
    tmp_path: Path,
) -> None:
    future = [("5", "2099-01-07 18:00:00", "s1", "north", 100),
              ("6", "2099-01-07 19:30:00", "s2", "south", 100)]  # fmt: skip
    result = ingest(_export(tmp_path, order_rows=[*ORDERS, *future]), tmp_path / "world")

    (flagged,) = [f for f in result.report.findings if f.check == "future_order_time"]
    assert (flagged.table, flagged.rows, flagged.level) == ("orders", 2, "warning")
    assert "the latest 2099-01-07 11:30" in flagged.message  # 19:30 UTC in Los Angeles
    with open_warehouse(tmp_path / "world") as con:
        span = data_span(con)
    assert (span.first.date(), span.last.date()) == (dt.date(2026, 1, 4), dt.date(2026, 1, 6))
    plan = read_question("how many orders on Jan 5?", span.first.date(), span.last.date())
    assert (plan.period.start, plan.period.end) == (dt.date(2026, 1, 5), dt.date(2026, 1, 5))
