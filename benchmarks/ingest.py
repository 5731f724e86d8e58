"""Benchmark: ingest real order logs through a mapping file; wall time and peak RSS.

    .venv/bin/python benchmarks/ingest.py [--rows 10000000] [--skip-large] [--keep]

1. The DoorDash 2015 sample (examples/doordash_2015/mapping.yaml, 19,743 rows). Target <= 5 s.
2. A synthetic export of `--rows` orders in one CSV (UTC text timestamps, cents, flags, market
   state: the shape of a real order log), written to a temporary directory outside the
   repository, ingested into orders and deliveries. Target: 10M rows <= 2 min, peak RSS < 8 GiB.

Each ingest runs in a fresh spawned child (benchmarks/_measure.py): the wall time is the ingest
call's, the peak RSS the child's (DuckDB's native memory included). Writing the CSV is timed
apart and not part of the target.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import yaml
from _measure import measure_call

from data.ingest import ingest
from data.mapping import load_mapping

ROOT = Path(__file__).resolve().parents[1]
DOORDASH = ROOT / "examples" / "doordash_2015" / "mapping.yaml"
SAMPLE_SECONDS = 5.0
LARGE_SECONDS, LARGE_PEAK_MIB = 120.0, 8192

LARGE_MAPPING = {
    "source_timezone": "UTC",
    "local_timezone": "America/Chicago",
    "tables": {
        "orders": {
            "source": "orders.csv",
            "columns": {
                "order_id": "CAST(order_id AS VARCHAR)",
                "user_id": "CAST(customer AS VARCHAR)",
                "store_id": "CAST(store AS VARCHAR)",
                "region": "'market ' || CAST(market AS VARCHAR)",
                "category": "vertical",
                "basket_value": "subtotal_cents / 100.0",
                "order_time": "created_at",
                "promised_eta": "quoted_arrival",
            },
        },
        "deliveries": {
            "source": "orders.csv",
            "columns": {
                "order_id": "CAST(order_id AS VARCHAR)",
                "actual_eta": "delivered_at",
                "canceled_flag": "status = 'canceled'",
                "batched_flag": "batched = 1",
                "merchant_prep_time": "prep_seconds",
                "onshift_dashers": "onshift",
                "busy_dashers": "busy",
                "outstanding_orders": "outstanding",
            },
        },
    },
}


def _draw(salt: int, modulo: int) -> str:
    """SQL for a pseudo-random integer in [0, modulo) per row i."""
    return f"CAST(hash(i * {salt}) % {modulo} AS BIGINT)"


def write_export(folder: Path, rows: int) -> float:
    """Write `rows` synthetic orders to folder/orders.csv; return the seconds it took."""
    started = time.perf_counter()
    created = f"(i * 2592000 // {rows} + {_draw(1, 60)})"  # 30 days, in order

    def stamp(seconds: str) -> str:
        return f"strftime(TIMESTAMP '2026-01-01' + to_seconds({seconds}), '%Y-%m-%d %H:%M:%S')"

    canceled = f"{_draw(13, 50)} = 0"
    sql = f"""
        COPY (
          SELECT i AS order_id, {_draw(3, 2_000_000)} AS customer, {_draw(5, 20_000)} AS store,
                 1 + {_draw(5, 6)} AS market,
                 ['grocery', 'pizza', 'retail', 'mexican'][1 + {_draw(5, 4)}] AS vertical,
                 500 + {_draw(11, 15_000)} AS subtotal_cents,
                 {stamp(created)} AS created_at,
                 {stamp(f"{created} + 2700")} AS quoted_arrival,
                 CASE WHEN {canceled} THEN NULL
                      ELSE {stamp(f"{created} + (20 + {_draw(7, 40)}) * 60")} END AS delivered_at,
                 CASE WHEN {canceled} THEN 'canceled' ELSE 'delivered' END AS status,
                 CAST({_draw(17, 4)} = 0 AS INTEGER) AS batched,
                 300 + {_draw(19, 1200)} AS prep_seconds,
                 20 + {_draw(23, 80)} AS onshift, 10 + {_draw(29, 70)} AS busy,
                 {_draw(31, 120)} AS outstanding
          FROM range({rows}) AS t(i)
        ) TO '{folder / "orders.csv"}' (HEADER)
    """
    with duckdb.connect() as con:
        con.execute("SET threads = 2")
        con.execute("SET enable_progress_bar = false")
        con.execute(sql)
    (folder / "mapping.yaml").write_text(yaml.safe_dump(LARGE_MAPPING, sort_keys=False))
    return time.perf_counter() - started


def _ingest(mapping: str, out: str) -> dict[str, int]:
    return ingest(mapping, out).row_counts


def _report(title: str, measured, target_s: float, target_mib: float | None) -> bool:
    ok = measured.wall_s <= target_s and (target_mib is None or measured.peak_rss_mib < target_mib)
    limit = f"<= {target_s:.0f} s" + (f", < {target_mib:.0f} MiB peak" if target_mib else "")
    print(
        f"{title}: {measured.wall_s:.2f} s, peak RSS {measured.peak_rss_mib:,.0f} MiB, "
        f"rows {measured.result} -> target ({limit}): {'MET' if ok else 'MISSED'}"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the large export")
    parser.add_argument("--skip-large", action="store_true", help="only the DoorDash sample")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()

    temp = Path(tempfile.mkdtemp(prefix="cx-ingest-"))
    try:
        sample = load_mapping(DOORDASH).source_path("orders")
        if sample.is_file():
            measured = measure_call(_ingest, str(DOORDASH), str(temp / "doordash"))
            _report("DoorDash 2015 sample", measured, SAMPLE_SECONDS, None)
        else:
            print(f"DoorDash sample skipped: {sample} not found (set CXAGENT_DOORDASH_CSV)")
        if not args.skip_large:
            export = temp / "export"
            export.mkdir()
            seconds = write_export(export, args.rows)
            size = (export / "orders.csv").stat().st_size / 2**20
            print(f"wrote {args.rows:,}-row export ({size:,.0f} MiB) in {seconds:.1f} s")
            measured = measure_call(_ingest, str(export / "mapping.yaml"), str(temp / "large"))
            _report(f"{args.rows:,}-row CSV export", measured, LARGE_SECONDS, LARGE_PEAK_MIB)
    finally:
        if args.keep:
            print(f"kept: {temp}")
        else:
            shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    main()
