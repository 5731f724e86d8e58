"""Benchmark: `cxagent ask` on the demo world, offline.

    .venv/bin/python benchmarks/ask.py [--world worlds/demo] [--runs 3]

Three figures, each the median of --runs:

- cli: the whole command `cxagent ask "why did CX drop on Jan 4?" --world DIR --json` in a fresh
  process (interpreter start, imports of the stack, the graph, output), with its peak RSS;
- imports: a fresh interpreter importing agent.service (the floor under any cold command);
- warm: Agent.ask on a fresh thread of an Agent built in this process (what a served UI or
  the eval runner pays per new conversation), with the time per node from the trace;
- follow-up: "what if we cut the batching threshold back?" in that thread.
Target: ask <= 5 s end to end on the 2-core machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from _measure import measure_command

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "why did CX drop on Jan 4?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", type=Path, default=ROOT / "worlds" / "demo")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not (args.world / "warehouse.duckdb").exists():
        sys.exit(f"no warehouse in {args.world}: run `make demo` or `cxagent generate` first")
    cxagent = str(Path(sys.executable).parent / "cxagent")

    cli, peaks = [], []
    for _ in range(args.runs):
        measured = measure_command(
            [cxagent, "ask", QUESTION, "--world", str(args.world), "--json"],
        )
        cli.append(measured.wall_s)
        peaks.append(measured.peak_rss_mib)
    imports = []
    for _ in range(args.runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import agent.service"], check=True, cwd=ROOT)
        imports.append(time.perf_counter() - started)

    sys.path.insert(0, str(ROOT))
    from agent.service import Agent

    agent = Agent(args.world)
    warm, follow, nodes = [], [], defaultdict(list)
    for run in range(args.runs):
        started = time.perf_counter()
        result = agent.ask(QUESTION, thread_id=f"bench-{run}")
        warm.append(time.perf_counter() - started)
        for step in result["trace"]:
            nodes[step["node"]].append(step["seconds"])
        started = time.perf_counter()
        agent.ask("what if we cut the batching threshold back?", thread_id=f"bench-{run}")
        follow.append(time.perf_counter() - started)
        agent.close()  # the next run starts with cold tool caches, like a new conversation
    print(f"world: {args.world}  runs: {args.runs}  (medians)")
    print(f"cli ask, fresh process:      {statistics.median(cli):6.2f} s  "
          f"peak RSS {max(peaks):,.0f} MiB")  # fmt: skip
    print(f"  of which imports (floor):  {statistics.median(imports):6.2f} s")
    print(f"warm ask, new conversation:  {statistics.median(warm):6.2f} s")
    for node, seconds in nodes.items():
        print(f"  {node:<22} {statistics.median(seconds):6.2f} s")
    print(f"follow-up what-if:           {statistics.median(follow):6.2f} s")
    print(f"grounding: {result['grounding']['grounded']}/{result['grounding']['numbers']} "
          f"numbers, ok={result['grounding']['ok']}")  # fmt: skip


if __name__ == "__main__":
    main()
