"""Benchmark: generate a large world (the demo scenario scaled to about N orders).

    .venv/bin/python benchmarks/generate_large.py --orders 10000000 [--out DIR] [--keep]
        [--duckdb-memory-limit 6GB]

Sets orders_per_day = N / days on the demo scenario and reports wall time, peak RSS of the
generating child process, rows per table, disk size and the time and peak RSS of each phase
(see generate_demo.py). The world is deleted afterwards unless --keep.
--duckdb-memory-limit (default: none, i.e. DuckDB's own default of 80% of RAM) is applied, via
SET memory_limit, to the warehouse build's connection from outside data/.
Target: 10M orders in <= 5 min with peak RSS < 8 GiB.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from _measure import measure_call
from generate_demo import generate, report

from data.scenario import load_scenario

TARGET_SECONDS, TARGET_PEAK_MIB = 300.0, 8192


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=10_000_000, help="about this many orders")
    parser.add_argument("--out", type=Path, help="write the world here (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the world afterwards")
    parser.add_argument("--duckdb-memory-limit", help="e.g. 6GB, for the warehouse build")
    args = parser.parse_args()

    days = load_scenario("demo").days
    orders_per_day = round(args.orders / days)
    temp = None if args.out else tempfile.mkdtemp(prefix="cx-large-")
    out = args.out or Path(temp) / "world"
    settings = {"memory_limit": args.duckdb_memory_limit} if args.duckdb_memory_limit else {}
    try:
        measured = measure_call(generate, {"orders_per_day": orders_per_day}, str(out), settings)
        result = report(measured, f"large world, ~{args.orders:,} orders at {out}")
        if settings:
            print(f"duckdb settings for the warehouse build: {settings}")
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
            if temp:
                shutil.rmtree(temp, ignore_errors=True)
    if args.keep:
        print(f"kept: {out}")
    ok = result["wall_s"] <= TARGET_SECONDS and measured.peak_rss_mib < TARGET_PEAK_MIB
    print(
        f"target (<= {TARGET_SECONDS:.0f} s, < {TARGET_PEAK_MIB} MiB peak): "
        f"{'MET' if ok else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
