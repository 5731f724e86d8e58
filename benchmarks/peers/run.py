"""Benchmark: cx-agent beside open detection and root-cause peers on the same worlds.

    .venv/bin/python -m benchmarks.peers.run [--random 50] [--seed 0] [--orders-per-day 5000]

1. cx-agent on every case, as `cxagent eval` runs it (evals.runner.run_cases, offline backend,
   no what-if check): its detection delay (the eval's as-of replay) and top-1 cause.
2. The detection peers are tuned once on a null world (data/scenarios/null.yaml, seed
   TUNING_SEED) to at most one alarm episode per 30 days, then replayed as-of on each case's
   marketplace, region and category series; the root-cause peers rank causes on its orders,
   and cx-agent's own hypothesis testing ranks them given the same window and scope
   (benchmarks.peers.oracle_rca).
3. False alarms on null worlds: the suite's and benchmarks/detection.py's three volumes.
Prints the table (benchmarks.peers.report) and writes it as JSON beside the eval reports.
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from benchmarks.peers.evaluate import (
    CaseResult,
    NullResult,
    NullScores,
    detection_peers,
    evaluate_case,
    null_result,
    score_null,
    tune,
)
from benchmarks.peers.report import (
    Row,
    build_rows,
    null_lines,
    table,
    where_ours_detected,
    wins,
)
from benchmarks.peers.worlds import comparison_cases, null_scenarios, tuning_scenario
from evals.runner import RunSettings, run_cases, worker_threads
from evals.scoring import ScenarioScore
from evals.suite import SuiteCase
from evals.worlds import DEFAULT_CACHE, cached_world

TUNING = "tuning"
Job = TypeVar("Job")
Result = TypeVar("Result")


class PeerReport(BaseModel):
    """Everything one run measured."""

    command: str
    seconds: float
    thresholds: dict[str, float]
    rows: list[Row]
    cases: list[CaseResult]
    nulls: list[NullResult]
    ours: list[dict[str, Any]]  # name, top1, delay hours, found causes


def in_workers(work: Callable[[Job], Result], jobs: list[Job], processes: int) -> Iterator[Result]:
    """Results of `work` over `jobs` as they finish, in spawned processes (BLAS threads capped
    as evals.runner caps them)."""
    if processes <= 1 or len(jobs) <= 1:
        yield from map(work, jobs)
        return
    context = multiprocessing.get_context("spawn")
    with worker_threads(1), context.Pool(min(processes, len(jobs))) as pool:
        yield from pool.imap_unordered(work, jobs)


def run_ours(cases: list[SuiteCase], cache_dir: Path, jobs: int) -> list[ScenarioScore]:
    """cx-agent on every case (worlds kept in the cache for the peers)."""
    settings = RunSettings(cache_dir=cache_dir, jobs=jobs, whatif=False, keep_worlds=True)

    def progress(result: ScenarioScore) -> None:
        delay = result.measured.delay.hours if result.measured.delay else None
        print(
            f"  cx-agent {result.name}: top-1 {result.top1}, delay {delay} h "
            f"({result.timings.total:.0f} s)",
            flush=True,
        )

    return run_cases(cases, settings, progress)


def run_nulls(
    cases: list[SuiteCase], cache_dir: Path, jobs: int
) -> tuple[dict[str, float], list[NullScores]]:
    """Tune the detection peers on the tuning world while scoring the null worlds (the
    suite's and benchmarks/detection.py's volumes); the thresholds and the null worlds' scores."""
    tuning = tuning_scenario()
    work = [(TUNING, tuning.orders_per_day, cached_world(tuning, cache_dir)[0], False)]
    work += [
        (case.name, case.scenario.orders_per_day, cached_world(case.scenario, cache_dir)[0], True)
        for case in cases
        if not case.expected.incident
    ]
    work += [
        (s.name, s.orders_per_day, cached_world(s, cache_dir)[0], True) for s in null_scenarios()
    ]
    thresholds: dict[str, float] = {}
    nulls = []
    for scores in in_workers(score_null, work, jobs):
        print(f"  null world {scores.name} scored ({scores.seconds:.0f} s)", flush=True)
        if scores.name == TUNING:
            thresholds = tune(scores)
            print(f"  thresholds (seed {tuning.seed}): {thresholds}", flush=True)
        else:
            nulls.append(scores)
    return thresholds, nulls


def run_peers(
    cases: list[SuiteCase], cache_dir: Path, jobs: int, thresholds: dict[str, float]
) -> list[CaseResult]:
    """The peers on every case expecting an incident."""
    work = [
        (case, cached_world(case.scenario, cache_dir)[0], thresholds)
        for case in cases
        if case.expected.incident
    ]
    results = []
    for result in in_workers(evaluate_case, work, jobs):
        delays = ", ".join(f"{k} {v}" for k, v in result.delays.items())
        print(
            f"  peers {result.name}: {delays}; top-1 {result.top1} ({result.seconds:.0f} s)",
            flush=True,
        )
        results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--random", type=int, default=50, help="random worlds (>= 50)")
    parser.add_argument("--seed", type=int, default=0, help="first random seed")
    parser.add_argument("--orders-per-day", type=int, default=5000, help="random worlds' size")
    parser.add_argument("--names", nargs="*", help="suite cases (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="processes")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE / "peers")
    parser.add_argument("--keep-random", action="store_true", help="keep the random worlds")
    args = parser.parse_args()
    started = time.perf_counter()
    cases = comparison_cases(args.random, args.seed, args.orders_per_day, args.names)
    print(
        f"{len(cases)} cases ({args.random} random, seeds {args.seed}.."
        f"{args.seed + args.random - 1}, {args.orders_per_day:,} orders/day); peers: "
        + ", ".join(peer.name for peer in detection_peers()),
        flush=True,
    )
    print("1. cx-agent", flush=True)
    ours = run_ours(cases, args.cache_dir, args.jobs)
    print("2. null worlds: tuning the detection peers, counting false alarms", flush=True)
    thresholds, null_scores = run_nulls(cases, args.cache_dir, args.jobs)
    nulls = [null_result(scores, thresholds) for scores in null_scores]
    print("3. peers on the cases", flush=True)
    peers = run_peers(cases, args.cache_dir, args.jobs, thresholds)
    rows = build_rows(ours, peers, nulls)
    seconds = time.perf_counter() - started
    print("\nFalse alarms per null world")
    print("\n".join(null_lines(nulls)))
    print("\nWhere a peer wins")
    print("\n".join(wins(ours, peers)) or "  nowhere")
    print()
    print("\n".join(table(rows)))
    print(where_ours_detected(ours, peers))
    print(f"\ntotal {seconds:.0f} s", flush=True)
    report = PeerReport(
        command="python -m benchmarks.peers.run " + " ".join(_given(args)),
        seconds=seconds,
        thresholds=thresholds,
        rows=rows,
        cases=peers,
        nulls=nulls,
        ours=[
            {
                "name": r.name,
                "top1": r.top1,
                "delay_h": r.measured.delay.hours if r.measured.delay else None,
                "found": r.found_causes[:3],
            }
            for r in ours
        ],
    )
    path = args.cache_dir / "report-peers.json"
    path.write_text(report.model_dump_json(indent=2))
    print(f"wrote {path}")
    if not args.keep_random:
        for case in cases:
            if case.source.startswith("random"):
                for world in (args.cache_dir / "worlds").glob(f"{case.scenario.name}-*"):
                    shutil.rmtree(world, ignore_errors=True)


def _given(args: argparse.Namespace) -> list[str]:
    return [
        f"--random {args.random}",
        f"--seed {args.seed}",
        f"--orders-per-day {args.orders_per_day}",
    ]


if __name__ == "__main__":
    main()
