"""Benchmark: hourly CX metrics per single cohort dimension on the demo world.

    .venv/bin/python benchmarks/cohort_metrics.py --world DIR [--runs 5]

For each dimension in analytics.cohorts.DIMENSIONS, times
metric_frame(con, grain="hour", group_by=[dim]) with the default metrics (CX score and the CX
metrics): one warm-up, then the median of --runs runs. If DIR holds no world, the demo world is
generated there first. Target: <= 1 s per dimension.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from analytics.cohorts import DIMENSIONS
from analytics.metrics import metric_frame
from data.generator import generate_world
from data.scenario import load_scenario
from data.warehouse import WAREHOUSE_FILE, open_warehouse

TARGET_SECONDS = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", type=Path, required=True, help="demo world directory")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per dimension")
    args = parser.parse_args()
    if not (args.world / WAREHOUSE_FILE).is_file():
        print(f"no world at {args.world}; generating the demo world there ...")
        started = time.perf_counter()
        generate_world(load_scenario("demo"), args.world)
        print(f"  generated in {time.perf_counter() - started:.1f} s")

    con = open_warehouse(args.world)
    orders = con.execute("SELECT count(*) FROM order_facts").fetchone()[0]
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    print(f"world: {args.world} ({orders:,} orders), duckdb threads: {threads}")
    print(f"metric_frame(grain='hour', group_by=[dim]); median of {args.runs} after 1 warm-up")
    print(f"  {'dimension':<12} {'rows':>9} {'median s':>9} {'min s':>7} {'max s':>7}")
    worst = 0.0
    for dimension in DIMENSIONS:
        frame = metric_frame(con, grain="hour", group_by=[dimension])  # warm-up
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            frame = metric_frame(con, grain="hour", group_by=[dimension])
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        worst = max(worst, median)
        spread = f"{min(times):>7.3f} {max(times):>7.3f}"
        print(f"  {dimension:<12} {len(frame):>9,} {median:>9.3f} {spread}")
    con.close()
    verdict = "MET" if worst <= TARGET_SECONDS else "MISSED"
    print(
        f"target (<= {TARGET_SECONDS:.0f} s per dimension, worst median {worst:.3f} s): {verdict}"
    )


if __name__ == "__main__":
    main()
