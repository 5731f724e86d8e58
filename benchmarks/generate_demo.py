"""Benchmark: generate the demo world; print rows per table, wall seconds, peak RSS and phases.

    .venv/bin/python benchmarks/generate_demo.py [--out DIR] [--scenario demo]

Target: >= 600k orders in <= 20 s with peak RSS <= 4 GiB. The world is written to a temporary
directory (deleted afterwards) unless --out is given. Generation runs in a fresh child process,
so the peak RSS is that process's (DuckDB's native memory included).

Phases are timed by wrapping the generator's steps in the child (exclusive time: a nested phase
is not counted in its parent); the peak RSS per phase comes from sampling /proc every 20 ms.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path

from _measure import Measurement, current_rss_mib, measure_call

TARGET_ORDERS, TARGET_SECONDS, TARGET_PEAK_MIB = 600_000, 20.0, 4096


class _Phases:
    """Exclusive wall time and peak RSS per named phase; the sampler attributes RSS to the top."""

    def __init__(self) -> None:
        self.stack: list[list] = []  # [name, resumed_at]
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.peak_mib: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            name = self.stack[-1][0] if self.stack else "other"
            self.peak_mib[name] = max(self.peak_mib.get(name, 0.0), current_rss_mib())

    def wrap(self, name: str, fn):
        def wrapped(*args, **kwargs):
            now = time.perf_counter()
            if self.stack:
                self.seconds[self.stack[-1][0]] += now - self.stack[-1][1]
            self.seconds.setdefault(name, 0.0)
            self.calls[name] = self.calls.get(name, 0) + 1
            self.stack.append([name, now])
            try:
                return fn(*args, **kwargs)
            finally:
                now = time.perf_counter()
                self.seconds[name] += now - self.stack.pop()[1]
                if self.stack:
                    self.stack[-1][1] = now

        return wrapped


class _TimedConnection:
    """Delegates to a DuckDB connection, timing each statement of the warehouse build."""

    def __init__(self, con, phases: _Phases, settings: dict[str, str]) -> None:
        self._con, self._phases = con, phases
        for key, value in settings.items():
            con.execute(f"SET {key} = '{value}'")

    def execute(self, sql: str, *args):
        words = sql.split()
        if words[:3] == ["CREATE", "TABLE", "order_facts"]:
            name = "warehouse: order_facts"
        elif words[:2] == ["INSERT", "INTO"]:
            name = f"warehouse: load {words[2]}"
        elif words[0] == "CHECKPOINT":
            name = "warehouse: checkpoint"
        else:
            name = "warehouse: other"
        return self._phases.wrap(name, self._con.execute)(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._con, name)


def generate(scenario_update: dict, out_dir: str, duckdb_settings: dict[str, str]) -> dict:
    """In the child: generate the demo scenario (with `scenario_update`) into `out_dir`."""
    import duckdb
    import pyarrow.parquet as pq

    import data.generator as gen
    import data.warehouse as wh
    from data.scenario import load_scenario

    scenario = load_scenario("demo").model_copy(update=scenario_update)
    phases = _Phases()
    gen.build_static_world = phases.wrap("static world", gen.build_static_world)
    gen.generate_day = phases.wrap("generate_day: draws+effects", gen.generate_day)
    gen.simulate_day = phases.wrap("generate_day: simulate_day", gen.simulate_day)
    gen._inventory_checks = phases.wrap("generate_day: inventory", gen._inventory_checks)
    pq.ParquetWriter.write_table = phases.wrap("parquet write", pq.ParquetWriter.write_table)
    gen.build_warehouse = phases.wrap("warehouse: connect/close", gen.build_warehouse)

    class _DuckDB:  # data.warehouse's `duckdb`, with connect() returning a timed connection
        def __getattr__(self, name: str):
            return getattr(duckdb, name)

        def connect(self, *args, **kwargs):
            return _TimedConnection(duckdb.connect(*args, **kwargs), phases, duckdb_settings)

    wh.duckdb = _DuckDB()
    phases._thread.start()
    started = time.perf_counter()
    counts = gen.generate_world(scenario, Path(out_dir))
    wall = time.perf_counter() - started
    phases._stop.set()
    files = {p.name: p.stat().st_size for p in Path(out_dir).iterdir() if p.is_file()}
    return {
        "scenario": {"days": scenario.days, "orders_per_day": scenario.orders_per_day},
        "counts": counts,
        "wall_s": wall,
        "seconds": phases.seconds,
        "calls": phases.calls,
        "peak_mib": phases.peak_mib,
        "files": files,
    }


def report(measured: Measurement, title: str) -> dict:
    """Print the figures of a measured `generate` call; return its result."""
    result = measured.result
    print(f"== {title}: {result['scenario']}")
    print("rows per table:")
    for name, rows in result["counts"].items():
        print(f"  {name:<17} {rows:>12,}")
    print(f"generate_world wall: {result['wall_s']:.2f} s")
    print(f"peak RSS (child process): {measured.peak_rss_mib:,.0f} MiB")
    print("phases (exclusive wall s, calls, peak RSS sampled while in the phase):")
    accounted = 0.0
    for name, seconds in sorted(result["seconds"].items(), key=lambda kv: -kv[1]):
        accounted += seconds
        peak = result["peak_mib"].get(name, float("nan"))
        print(f"  {name:<34} {seconds:8.2f} s {result['calls'][name]:>6}x {peak:8,.0f} MiB")
    other_peak = result["peak_mib"].get("other", float("nan"))
    print(
        f"  {'other (casts, truth.json, ...)':<34} {result['wall_s'] - accounted:8.2f} s"
        f" {'':>7} {other_peak:8,.0f} MiB"
    )
    total = sum(result["files"].values())
    print(f"disk: {total / 2**20:,.1f} MiB")
    for name, size in sorted(result["files"].items(), key=lambda kv: -kv[1]):
        print(f"  {name:<25} {size / 2**20:10,.1f} MiB")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="keep the world here (default: temp, deleted)")
    args = parser.parse_args()
    temp = None if args.out else tempfile.mkdtemp(prefix="cx-demo-")
    out = args.out or Path(temp) / "world"
    try:
        measured = measure_call(generate, {}, str(out), {})
        result = report(measured, "demo world")
    finally:
        if temp:
            shutil.rmtree(temp, ignore_errors=True)
    orders = result["counts"]["orders"]
    ok = (
        orders >= TARGET_ORDERS
        and result["wall_s"] <= TARGET_SECONDS
        and measured.peak_rss_mib <= TARGET_PEAK_MIB
    )
    print(
        f"target (>= {TARGET_ORDERS:,} orders, <= {TARGET_SECONDS:.0f} s, "
        f"<= {TARGET_PEAK_MIB} MiB peak): {'MET' if ok else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
