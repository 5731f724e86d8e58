"""Benchmark: key drivers (analytics/key_drivers.py) against issue 18's targets.

    .venv/bin/python benchmarks/key_drivers.py [--seeds 40] [--orders 3000]
        [--sample ../shared/data/real/food_delivery_india/train.csv]

1. Planted drivers (evals/planted_drivers.py): per seed an export with a causal driver (storms
   add 4 min), a correlated bystander (road closures: 80% of storms, 10% otherwise; no effect),
   a weaker driver and noise, ingested through a mapping with custom dimensions. Counted: the
   causal driver first in the model-based attribution (target >= 95% of seeds), the bystander
   ranked above it (target: never), and, for contrast, how often the per-group (marginal)
   reading alone puts the bystander second.
2. The food-delivery sample (examples/food_delivery_india/mapping.yaml): ingested once, then
   "what drives delivery time?" asked through the agent (offline) twice; the second, warm,
   answer's wall time (target <= 3 s), its grounding, and each custom dimension's group sizes
   and mean minutes from the answer's evidence against a plain GROUP BY of the CSV file itself.
   Skipped when the sample is absent.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.service import Agent  # noqa: E402
from agent.settings import AgentSettings  # noqa: E402
from analytics.key_drivers import key_drivers  # noqa: E402
from data.ingest import ingest  # noqa: E402
from data.mapping import load_mapping  # noqa: E402
from data.warehouse import open_warehouse  # noqa: E402
from evals.planted_drivers import BYSTANDER, CAUSAL, planted_world  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MAPPING = ROOT / "examples" / "food_delivery_india" / "mapping.yaml"
# The sample's columns behind each custom dimension, as a plain GROUP BY reads them.
PLAIN = {
    "weather": "nullif(replace(trim(Weatherconditions), 'conditions ', ''), 'NaN')",
    "road_traffic": "nullif(trim(Road_traffic_density), 'NaN')",
    "vehicle": "trim(Type_of_vehicle)",
}


def planted(seeds: int, orders: int, folder: Path) -> None:
    first = above = marginal_second = 0
    seconds = []
    for seed in range(seeds):
        world = planted_world(folder, seed, orders)
        started = time.perf_counter()
        found = key_drivers(open_warehouse(world), "duration_min")
        seconds.append(time.perf_counter() - started)
        ranked = [driver.dimension for driver in found.drivers]
        first += ranked[0] == CAUSAL
        above += ranked.index(BYSTANDER) < ranked.index(CAUSAL)
        marginal_second += found.marginal_order[1] == BYSTANDER
    print(f"planted drivers, {seeds} seeds x {orders:,} orders:")
    print(f"  causal ({CAUSAL}) first by model attribution: {first}/{seeds} = {first / seeds:.0%}")
    print(f"  bystander ({BYSTANDER}) above the causal driver: {above}/{seeds}")
    print(f"  bystander second by per-group differences alone: {marginal_second}/{seeds}")
    print(f"  analysis time: median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s")


def food_delivery(sample: Path, folder: Path) -> None:
    started = time.perf_counter()
    result = ingest(MAPPING, folder / "india")
    print(f"food-delivery sample: ingested {result.row_counts['orders']:,} orders in "
          f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    agent = Agent(folder / "india", AgentSettings(llm="offline"))
    try:
        timings = []
        for _ in range(2):
            started = time.perf_counter()
            answer = agent.ask("what drives delivery time?")
            timings.append(time.perf_counter() - started)
    finally:
        agent.close()
    grounded = f"{answer['grounding']['grounded']}/{answer['grounding']['numbers']}"
    print(f"  'what drives delivery time?': cold {timings[0]:.2f} s, warm {timings[1]:.2f} s "
          f"(target <= 3 s); grounded {grounded} numbers")  # fmt: skip
    print(f"  model ranking: {', '.join(row['dimension'] for row in answer['table'])}")
    where = "trim(Time_Orderd) NOT IN ('NaN', '')"
    con = open_warehouse(folder / "india")
    mismatches = 0
    for dimension, expression in PLAIN.items():
        plain = duckdb.execute(
            f'SELECT {expression} AS g, count(*), avg(CAST(trim(replace("Time_taken(min)", '
            f"'(min)', '')) AS DOUBLE)) FROM read_csv(?, all_varchar = true) WHERE {where} "
            "AND g IS NOT NULL GROUP BY 1 ORDER BY 1",
            [str(sample)],
        ).fetchall()
        found = key_drivers(con, "duration_min", dimensions=[dimension])
        ours = {e.group: (e.orders, round(e.value, 2)) for e in found.effects}
        theirs = {g: (n, round(mean, 2)) for g, n, mean in plain}
        mismatches += ours != theirs
        shown = ", ".join(f"{g} {n:,} ({m:.2f} min)" for g, (n, m) in sorted(theirs.items()))
        print(f"  {dimension}: GROUP BY of the CSV {shown}; "
              f"{'matches' if ours == theirs else f'DIFFERS: ours {ours}'}")  # fmt: skip
    print(f"  group sizes and means matching a plain GROUP BY: {len(PLAIN) - mismatches}/"
          f"{len(PLAIN)} dimensions")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--sample", type=Path, default=None)
    args = parser.parse_args()
    sample = args.sample or load_mapping(MAPPING).source_path("orders")
    with tempfile.TemporaryDirectory() as folder:
        planted(args.seeds, args.orders, Path(folder) / "planted")
        if sample.is_file():
            food_delivery(sample, Path(folder))
        else:
            print(f"food-delivery sample: skipped (no file at {sample})")


if __name__ == "__main__":
    main()
