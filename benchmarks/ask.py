"""Benchmark: "why did CX drop on Jan 4?" on the demo world, offline; the four figures of the
issue "answers in seconds", each on a never-analysed world and on an analysed one.

    .venv/bin/python benchmarks/ask.py [--world worlds/demo] [--runs 3] [--no-browser]

A world is analysed once a process has answered the question on it: the tool results are kept in
WORLD/.cache/results (tools/result_store.py). "Never analysed" runs delete that directory first.

1. warm agent, new conversation, first time for the incident (target <= 3 s): in a fresh
   spawned process per run, an Agent is built and warmed up (Agent.warm_up: model libraries
   imported, the incident scan computed in the background, waited for), then the question is
   asked once in a new thread; with the time per node from the trace. Never analysed (every tool
   computes), then analysed (the results an earlier process stored).
2. every later ask about the same incident in any thread (target <= 1 s): in the never-analysed
   runs' process, the question and other wordings of it, each in a new thread, and a what-if
   follow-up.
3. cold `cxagent ask "..." --world DIR --json` in a fresh process (target <= 5 s), run as
   `python -m cxagent` from this checkout: the whole command (interpreter start, imports, the
   scan and the diagnosis, output), with its peak RSS, on a world as `generate`/`ingest` leave it
   (they end with Agent.analyse: the most severe incidents diagnosed ahead; its cost stated), an
   analysed one (the same question asked before) and a never-analysed one (no stored results);
   and the imports of a question that fits no model (`python -X importtime`): none of the web
   stack, SHAP or gradient boosting may load.
4. the browser chat answer (target <= 4 s): benchmarks/dashboard.py's chat timing (a served
   workbench, a new Chromium context and conversation per run): the first answer of the server
   and the median of the later ones. Skipped with --no-browser or without /usr/bin/chromium.

Medians over --runs. Peak RSS is the command's process tree (`_measure.py`). Deleting the store
of a world other processes use only makes them compute again.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _measure import measure_call, measure_command  # noqa: E402

from tools.result_store import STORE_DIR  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "why did CX drop on Jan 4?"
SAME_INCIDENT = [
    QUESTION,
    "what went wrong on Jan 4?",
    "why did on-time drop on Jan 4?",
    "why was grocery late on Jan 4?",
]
FOLLOW_UP = "what if we cut the batching threshold back?"
LOOKUP = "how many orders last week?"
# Modules a question that fits no model must not import (the web stack, SHAP, gradient boosting).
HEAVY_MODULES = ("gradio", "fastapi", "uvicorn", "plotly", "shap", "numba", "sklearn")
# What `cxagent generate` and `cxagent ingest` run once the world is written (--analyse).
ANALYSE = "from agent.service import Agent; Agent({world!r}).analyse()"
TARGETS = {"first": 3.0, "later": 1.0, "cli": 5.0, "browser": 4.0}


def warm_agent_asks(world: str, later: bool = True) -> dict[str, object]:
    """In this (fresh) process: a warmed-up agent's first diagnosis of the incident, per node,
    then (with `later`) later asks about it in new threads (seconds each)."""
    from agent.service import Agent

    agent = Agent(world)
    started = time.perf_counter()
    agent.warm_up().join()
    warm_up = time.perf_counter() - started
    started = time.perf_counter()
    result = agent.ask(QUESTION, thread_id="first")
    first = time.perf_counter() - started
    nodes = {step["node"]: step["seconds"] for step in result["trace"]}
    asked = [*SAME_INCIDENT, FOLLOW_UP] if later else []
    seconds = {}
    for number, question in enumerate(asked):
        started = time.perf_counter()
        thread = "later-0" if question == FOLLOW_UP else f"later-{number}"
        agent.ask(question, thread_id=thread)
        name = f"follow-up: {question}" if question == FOLLOW_UP else question
        seconds[name] = time.perf_counter() - started
    agent.close()
    grounding = result["grounding"]
    return {
        "warm_up": warm_up,
        "first": first,
        "nodes": nodes,
        "later": seconds,
        "answer": result["answer"],
        "grounding": f"{grounding['grounded']}/{grounding['numbers']} ok={grounding['ok']}",
    }


def forget_analysis(world: Path) -> None:
    """Make the world never analysed: delete its stored tool results."""
    shutil.rmtree(world / STORE_DIR, ignore_errors=True)


def heavy_imports(world: Path, question: str) -> list[str]:
    """The HEAVY_MODULES that `cxagent ask QUESTION` imports (python -X importtime)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "cxagent", "ask", question, "--world",
         str(world)],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    imported = set(re.findall(r"\|\s+([\w.]+)\s*$", done.stderr, flags=re.MULTILINE))
    return sorted({name.split(".")[0] for name in imported} & set(HEAVY_MODULES))


def _verdict(name: str, seconds: float) -> str:
    target = TARGETS[name]
    return f"target <= {target:g} s: {'met' if seconds <= target else 'NOT met'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--world", type=Path, default=ROOT / "worlds" / "demo")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    if not (args.world / "warehouse.duckdb").exists():
        sys.exit(f"no warehouse in {args.world}: run `make demo` or `cxagent generate` first")
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"world: {args.world}  runs: {args.runs}  (medians)  load average at start: {load}")

    warm = []
    for _ in range(args.runs):
        forget_analysis(args.world)
        warm.append(measure_call(warm_agent_asks, str(args.world)).result)
    first = statistics.median(run["first"] for run in warm)
    runs = ", ".join(f"{run['first']:.2f}" for run in warm)
    warm_up = statistics.median(run["warm_up"] for run in warm)
    print(
        f"1. warm agent, new conversation, first time for the incident, never-analysed world: "
        f"{first:5.2f} s  ({_verdict('first', first)}; runs {runs}; warm-up {warm_up:.2f} s "
        "before it)"
    )
    nodes: dict[str, list[float]] = defaultdict(list)
    for run in warm:
        for node, seconds in run["nodes"].items():
            nodes[node].append(seconds)
    for node, seconds in nodes.items():
        print(f"     {node:<22} {statistics.median(seconds):6.2f} s")
    print(f"     grounding {warm[-1]['grounding']}")
    analysed = [
        measure_call(warm_agent_asks, str(args.world), later=False).result for _ in range(args.runs)
    ]
    stored = statistics.median(run["first"] for run in analysed)
    stored_runs = ", ".join(f"{run['first']:.2f}" for run in analysed)
    same = all(run["answer"] == warm[-1]["answer"] for run in analysed)
    print(
        f"   the same on the analysed world (results stored by an earlier process): "
        f"{stored:5.2f} s  ({_verdict('first', stored)}; runs {stored_runs}; the same answer: "
        f"{same})"
    )
    later = [seconds for run in warm for seconds in run["later"].values()]
    print(
        f"2. later asks about the incident, each in a new thread: max {max(later):5.2f} s, "
        f"median {statistics.median(later):.2f} s ({_verdict('later', max(later))})"
    )
    for question in warm[0]["later"]:
        values = [run["later"][question] for run in warm]
        print(f"     {statistics.median(values):6.2f} s  {question}")

    os.chdir(ROOT)  # `python -m cxagent` runs this checkout's code
    command = [sys.executable, "-m", "cxagent", "ask", QUESTION, "--world", str(args.world)]
    analyse = [sys.executable, "-c", ANALYSE.format(world=str(args.world))]
    analysing = []
    for state in ("as `generate`/`ingest` leave it", "analysed", "never-analysed"):
        cli = []
        for _ in range(args.runs):
            if state != "analysed":
                forget_analysis(args.world)
            if state.startswith("as"):
                analysing.append(measure_command(analyse, quiet=True).wall_s)
            cli.append(measure_command([*command, "--json"], quiet=True))
        cold = statistics.median(m.wall_s for m in cli)
        print(
            f"3. cold `cxagent ask` in a fresh process, {state} world: {cold:5.2f} s  "
            f"({_verdict('cli', cold)}; runs {', '.join(f'{m.wall_s:.2f}' for m in cli)}; peak "
            f"RSS {max(m.peak_rss_mib for m in cli):,.0f} MiB)"
        )
    print(
        f"     `generate`/`ingest` analysing the world after writing it (Agent.analyse in a "
        f"fresh process): {statistics.median(analysing):.2f} s"
    )
    imports = []
    for _ in range(args.runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import agent.service"], check=True, cwd=ROOT)
        imports.append(time.perf_counter() - started)
    print(
        f"     of which a fresh interpreter importing agent.service: "
        f"{statistics.median(imports):.2f} s"
    )
    lookup = [sys.executable, "-m", "cxagent", "ask", LOOKUP, "--world", str(args.world)]
    lookups = [measure_command([*lookup, "--json"], quiet=True).wall_s for _ in range(args.runs)]
    print(
        f"     a question that fits no model ({LOOKUP!r}), cold, analysed world: "
        f"{statistics.median(lookups):.2f} s"
    )
    print(
        f"     heavy modules imported by `cxagent ask {LOOKUP!r}`: "
        f"{', '.join(heavy_imports(args.world, LOOKUP)) or 'none'}; by the diagnosis on the "
        f"analysed world: {', '.join(heavy_imports(args.world, QUESTION)) or 'none'}"
    )
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"load average after figure 3: {load}")

    if args.no_browser:
        return
    from dashboard import CHROMIUM, chat_runs

    if not CHROMIUM.is_file():
        print(f"4. browser chat: skipped, {CHROMIUM} is missing (make chromium)")
        return
    chats = chat_runs(args.world, args.runs + 1)
    later_chats = statistics.median(chats[1:])
    print(
        f"4. browser chat answer (analysed world): first of the server {chats[0]:.2f} s, later "
        f"conversations "
        f"median {later_chats:.2f} s ({_verdict('browser', later_chats)}; runs "
        f"{', '.join(f'{c:.2f}' for c in chats)})"
    )
    load = " ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"load average at the end: {load} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
