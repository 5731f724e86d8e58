"""Benchmark: warm answer latency per question kind on the demo world, offline.

    .venv/bin/python benchmarks/chat_latency.py [--world worlds/demo] [--runs 5]

One Agent is built and warmed once (its world-level caches filled: the detection scan, the data
span, the first what-if fit), as in a running workbench. Then each question below is asked
`--runs` times, each time in a NEW conversation (a fresh thread, so nothing of that thread is
reused), and the median wall time per kind is printed. Follow-ups (explain, "and for
convenience?", "show it by hour") are asked in the thread of the question they follow.

Targets (issue "Answer what was asked"): lookup, rank, compare, trend, incidents, changes
<= 1 s; explain and follow-ups <= 0.3 s. Diagnoses and what-ifs are reported for reference.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS: dict[str, list[str]] = {
    "lookup": ["what was the on-time rate in grocery yesterday?", "how many orders last week?"],
    "rank": ["which regions were worst for cancellations last week?",
             "top 5 stores by refunds yesterday"],
    "compare": ["compare grocery and convenience on-time last week", "CX on Jan 4 vs Jan 3"],
    "trend": ["show on-time by day for the last two weeks", "hourly CX on Jan 4"],
    "incidents": ["were there any incidents last week?", "anything wrong in the south?"],
    "changes": ["what changed on Jan 3?", "did the batching change hurt on-time?"],
    "help": ["what can you do?"],
    "out_of_scope": ["what's the weather in Paris?"],
    "what_if": ["what if we add a 3 minute ETA buffer for grocery?"],
    "diagnose": ["why did CX drop on Jan 4?"],
}  # fmt: skip
LOOKUP = "what was the on-time rate in grocery yesterday?"
FOLLOW_UPS: dict[str, tuple[str, str]] = {
    "explain": (LOOKUP, "how did you compute E1?"),
    "follow-up (cohort)": (LOOKUP, "and for convenience?"),
    "follow-up (grain)": (LOOKUP, "show it by hour"),
}
TARGETS = {
    **dict.fromkeys(("lookup", "rank", "compare", "trend", "incidents", "changes"), 1.0),
    **dict.fromkeys(("explain", "follow-up (cohort)", "follow-up (grain)"), 0.3),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", type=Path, default=ROOT / "worlds" / "demo")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not (args.world / "warehouse.duckdb").exists():
        sys.exit(f"no warehouse in {args.world}: run `make demo` or `cxagent generate` first")
    sys.path.insert(0, str(ROOT))
    from agent.service import Agent

    agent = Agent(args.world)
    started = time.perf_counter()
    for questions in QUESTIONS.values():  # warm the world-level caches, as a served app has
        agent.ask(questions[0], thread_id="warm-up")
    warm_up = time.perf_counter() - started
    seconds: dict[str, list[float]] = defaultdict(list)
    thread = 0
    for _ in range(args.runs):
        for kind, questions in QUESTIONS.items():
            for question in questions:
                thread += 1
                started = time.perf_counter()
                agent.ask(question, thread_id=f"bench-{thread}")
                seconds[kind].append(time.perf_counter() - started)
        for kind, (first, follow_up) in FOLLOW_UPS.items():
            thread += 1
            agent.ask(first, thread_id=f"bench-{thread}")
            started = time.perf_counter()
            agent.ask(follow_up, thread_id=f"bench-{thread}")
            seconds[kind].append(time.perf_counter() - started)
    agent.close()
    print(f"world: {args.world}  runs: {args.runs}  warm-up (first of each kind): {warm_up:.1f} s")
    print(f"{'kind':<22}{'median s':>9}{'max s':>8}{'target':>8}")
    for kind, values in seconds.items():
        target = TARGETS.get(kind)
        verdict = (
            "" if target is None else ("  ok" if statistics.median(values) <= target else "  MISS")
        )
        shown = f"{target:>8.1f}" if target is not None else f"{'-':>8}"
        print(f"{kind:<22}{statistics.median(values):>9.3f}{max(values):>8.3f}{shown}{verdict}")


if __name__ == "__main__":
    main()
