"""How often a single day reads as a significant change against its 14 days before.

On days with no cause, a test with honest error bars calls about 5% of days significant at
p < 0.05. Each day of a world from --first to --last is compared with its 14 days before by the
metric_summary tool, which lookups and health checks use. The script prints the share of days
with p < 0.05 per metric, and how many days had their variance widened for day-to-day variation
(analytics/dispersion.py). Run it by hand; the figures go into the issue note.

    .venv/bin/python benchmarks/period_tests.py --world worlds/india --first 2022-02-25 \
        --last 2022-04-06 --metrics duration_min
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import tools.catalog  # noqa: F401  (registers the tools)
from tools.base import ToolContext, ToolError


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, required=True)
    parser.add_argument("--first", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--last", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--metrics", default="duration_min", help="comma-separated")
    args = parser.parse_args()
    metrics = args.metrics.split(",")
    significant = dict.fromkeys(metrics, 0)
    widened = dict.fromkeys(metrics, 0)
    days, day = 0, args.first
    context = ToolContext(world_dir=args.world)
    try:
        while day <= args.last:
            start = dt.datetime.combine(day, dt.time())
            day += dt.timedelta(days=1)
            try:
                output, _ = context.call(
                    "metric_summary",
                    {"metrics": metrics, "start": start, "end": start + dt.timedelta(days=1)},
                )
            except ToolError:
                continue  # a day without orders
            days += 1
            for change in output.metrics:
                significant[change.metric] += bool(
                    change.p_value is not None and change.p_value < 0.05
                )
                widened[change.metric] += "for day-to-day variation (" in change.method
    finally:
        context.close()
    for name in metrics:
        print(
            f"{name}: {significant[name]}/{days} days significant at p < 0.05 against their "
            f"14 days before ({widened[name]} widened for day-to-day variation)"
        )


if __name__ == "__main__":
    main()
