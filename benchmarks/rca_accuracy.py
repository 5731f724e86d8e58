"""Benchmark: root-cause accuracy of the investigation on random single-cause scenarios.

    .venv/bin/python benchmarks/rca_accuracy.py [--n 40] [--seed 0] [--orders-per-day 12000]
        [--jobs 2] [--demo-world DIR] [--demo-runs 3]

Scenario i is data.random_scenarios.random_scenario(seed + i) (a random kind, scope, onset and
magnitude 0.7-1.5, logged or not, 28 days) at --orders-per-day. Each world is generated into a
temporary directory, investigated and deleted. Per scenario:

- incident: whether tools.investigation.investigate(ToolContext(world_dir=...)) picked an
  incident on the intervention ("top": its default pick, the most severe incident, is on it),
  or only another detected incident is ("other": that one is then investigated by id and
  scored), or none is ("none": a miss). An incident is on the intervention when it overlaps
  [the hour of the earliest affected order in truth.json's order_ids, the intervention's end or
  the end of the data) and one of its alarm cohorts lies in the scope ("all", or a region /
  category the scope includes or does not restrict): a noise incident in another region at the
  same time does not count.
- top-1 / top-2: the first one or two ranked causes of the investigated incident. A cause counts
  only if its status is supported or weak (a ruled-out or untestable cause at confidence 0 is
  not a guess), so top-1 is a hit when the first cause is the true kind and not ruled out.
- seconds: wall time of investigate() (detection, slices, every hypothesis test, ranking), on a
  fresh context; with --jobs 2 the two worker processes share the machine's cores.

Overall top-1 accuracy comes with a Wilson 95% interval; then accuracy per kind and every miss
with its top-3 causes (status, confidence). Last, RCA on the demo world: investigate() on the
full demo world (fresh context, cold scan), median of --demo-runs. Target: <= 10 s.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

import tools.catalog  # noqa: F401  (registers the tools)
from data.generator import TRUTH_FILE, generate_world
from data.random_scenarios import random_scenario
from data.scenario import load_scenario
from evals.detection import on_intervention
from evals.proportions import wilson_interval
from tools.base import ToolContext
from tools.investigation import Investigation, investigate

TARGET_DEMO_SECONDS = 10.0
COUNTED = ("supported", "weak")  # statuses that make a ranked cause a guess


@dataclass
class Outcome:
    index: int
    seed: int
    kind: str
    scope: str
    magnitude: float
    logged: bool
    orders: int = 0
    incident: str = "none"  # top, other or none
    incident_id: str = ""
    severity: str = ""
    causes: list[tuple[str, str, float]] = field(default_factory=list)  # kind, status, confidence
    true_reason: str = ""  # the true kind's first reason in the ranking (why it was ruled out)
    seconds: float = 0.0
    generate_seconds: float = 0.0

    def guesses(self, k: int) -> list[str]:
        return [kind for kind, status, _ in self.causes[:k] if status in COUNTED]

    @property
    def top1(self) -> bool:
        return self.incident != "none" and self.kind in self.guesses(1)

    @property
    def top2(self) -> bool:
        return self.incident != "none" and self.kind in self.guesses(2)


def describe_scope(filters: dict[str, list]) -> str:
    parts = []
    for name, values in filters.items():
        if name == "hours":
            parts.append(f"h{min(values):02d}-{max(values):02d}")
        else:
            parts.append("/".join(str(v) for v in values))
    return " ".join(parts) or "all"


def run_one(index: int, seed: int, orders_per_day: int, root: str) -> Outcome:
    """Generate scenario `seed`, investigate it, delete its world."""
    scenario = random_scenario(seed, orders_per_day=orders_per_day)
    intervention = scenario.interventions[0]
    outcome = Outcome(
        index=index,
        seed=seed,
        kind=intervention.kind,
        scope=describe_scope(intervention.scope.as_filters()),
        magnitude=intervention.magnitude,
        logged=intervention.logged,
    )
    world = Path(root) / f"scenario-{seed}"
    try:
        started = time.perf_counter()
        generate_world(scenario, world)
        outcome.generate_seconds = time.perf_counter() - started
        truth = json.loads((world / TRUTH_FILE).read_text())["interventions"][0]
        context = ToolContext(world_dir=world)
        started = time.perf_counter()
        investigation = investigate(context)
        outcome.seconds = time.perf_counter() - started
        con = context.con
        con.register("truth_ids", pa.table({"order_id": pa.array(truth["order_ids"])}))
        first_hour, data_end, outcome.orders = con.execute(
            "SELECT (SELECT min(hour_start) FROM order_facts JOIN truth_ids USING (order_id)), "
            "max(order_time) + INTERVAL 1 SECOND, count(*) FROM order_facts"
        ).fetchone()
        end = min(intervention.end, data_end) if intervention.end else data_end
        scope = intervention.scope.as_filters()
        chosen = investigation
        picked = investigation.incident
        if picked is None or not on_intervention(picked, (first_hour, end), scope):
            others = [
                i
                for i in investigation.detection.incidents
                if on_intervention(i, (first_hour, end), scope)
            ]
            if others:
                chosen = investigate(context, incident_id=others[0].incident_id)
                outcome.incident = "other"
        else:
            outcome.incident = "top"
        if outcome.incident != "none":
            outcome.incident_id, outcome.causes = _summary(chosen)
            outcome.true_reason = _first_reason(chosen, outcome.kind)
            assert chosen.incident is not None
            outcome.severity = chosen.incident.severity_label
        context.close()
    finally:
        shutil.rmtree(world, ignore_errors=True)
    return outcome


def _summary(investigation: Investigation) -> tuple[str, list[tuple[str, str, float]]]:
    assert investigation.incident is not None
    causes = investigation.causes.causes if investigation.causes else []
    return investigation.incident.incident_id, [(c.kind, c.status, c.confidence) for c in causes]


def _first_reason(investigation: Investigation, kind: str) -> str:
    causes = investigation.causes.causes if investigation.causes else []
    return next((c.reasons[0] for c in causes if c.kind == kind and c.reasons), "")


def _run_star(arguments: tuple[int, int, int, str]) -> Outcome:
    return run_one(*arguments)


def _cause(cause: tuple[str, str, float] | None) -> str:
    if cause is None:
        return "-"
    kind, status, _ = cause
    return kind if status in COUNTED else f"({kind})"


def print_row(o: Outcome) -> None:
    top1 = _cause(o.causes[0] if o.causes else None)
    top2 = _cause(o.causes[1] if len(o.causes) > 1 else None)
    mark = "ok" if o.top1 else ("top2" if o.top2 else "MISS")
    print(
        f"  {o.index:>3} {o.seed:>5} {o.kind:<19} {o.scope:<26} {o.magnitude:>4.2f} "
        f"{'yes' if o.logged else 'no':<6} {o.incident:<5} {o.severity:<6} {top1:<21} "
        f"{top2:<21} {o.seconds:>5.1f} {mark}",
        flush=True,
    )


def demo_timing(world: Path | None, runs: int) -> tuple[list[float], str]:
    root = None
    if world is None or not (world / TRUTH_FILE).is_file():
        if world is None:
            root = Path(tempfile.mkdtemp(prefix="cx-rca-demo-"))
            world = root / "demo"
        print(f"generating the demo world into {world} ...", flush=True)
        generate_world(load_scenario("demo"), world)
    try:
        times, found = [], ""
        for _ in range(runs):
            context = ToolContext(world_dir=world)
            started = time.perf_counter()
            investigation = investigate(context)
            times.append(time.perf_counter() - started)
            context.close()
            incident_id, causes = _summary(investigation)
            found = f"{incident_id}: " + ", ".join(
                f"{kind} {status} {confidence:.2f}" for kind, status, confidence in causes[:3]
            )
        return times, found
    finally:
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=40, help="number of random scenarios")
    parser.add_argument("--seed", type=int, default=0, help="scenario i uses seed + i")
    parser.add_argument("--orders-per-day", type=int, default=12000)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--demo-world", type=Path, help="demo world to reuse (else generated)")
    parser.add_argument("--demo-runs", type=int, default=3)
    args = parser.parse_args()

    started = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="cx-rca-bench-"))
    print(
        f"{args.n} random single-cause scenarios, seeds {args.seed}..{args.seed + args.n - 1}, "
        f"{args.orders_per_day:,} orders/day, {args.jobs} process(es)"
    )
    print(
        f"  {'#':>3} {'seed':>5} {'kind':<19} {'scope':<26} {'mag':>4} {'logged':<6} "
        f"{'inc':<5} {'sev':<6} {'top-1':<21} {'top-2':<21} {'s':>5}"
    )
    work = [(i, args.seed + i, args.orders_per_day, str(root)) for i in range(args.n)]
    outcomes: list[Outcome] = []
    try:
        if args.jobs > 1:
            context = multiprocessing.get_context("spawn")
            with context.Pool(args.jobs, maxtasksperchild=4) as pool:
                for outcome in pool.imap(_run_star, work):
                    print_row(outcome)
                    outcomes.append(outcome)
        else:
            for item in work:
                outcome = run_one(*item)
                print_row(outcome)
                outcomes.append(outcome)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    scenarios_seconds = time.perf_counter() - started
    print("  (a cause in parentheses was ruled out or not testable, so it does not count)")

    n = len(outcomes)
    hits = sum(o.top1 for o in outcomes)
    low, high = wilson_interval(hits, n)
    top2 = sum(o.top2 for o in outcomes)
    incident_counts = {key: sum(o.incident == key for o in outcomes) for key in ("top", "other")}
    print()
    print(
        f"top-1 accuracy: {hits}/{n} = {hits / n:.1%} (Wilson 95% {low:.1%} - {high:.1%}); "
        f"top-2: {top2}/{n} = {top2 / n:.1%}"
    )
    print(
        f"incident on the intervention: {incident_counts['top']} picked by default, "
        f"{incident_counts['other']} only by id, {n - sum(incident_counts.values())} none"
    )
    seconds = [o.seconds for o in outcomes]
    print(
        f"investigate(): median {statistics.median(seconds):.1f} s, max {max(seconds):.1f} s; "
        f"generation median {statistics.median(o.generate_seconds for o in outcomes):.1f} s; "
        f"all scenarios {scenarios_seconds:.0f} s wall"
    )
    print("per kind (top-1, top-2):")
    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_kind[o.kind].append(o)
    for kind in sorted(by_kind):
        group = by_kind[kind]
        k1, k2 = sum(o.top1 for o in group), sum(o.top2 for o in group)
        print(
            f"  {kind:<19} {k1:>2}/{len(group):<2} {k1 / len(group):>5.0%}   {k2:>2}/{len(group)}"
        )
    misses = [o for o in outcomes if not o.top1]
    print(f"misses ({len(misses)}):")
    for o in misses:
        causes = ", ".join(f"{k} {s} {c:.2f}" for k, s, c in o.causes[:3]) or "no incident"
        print(
            f"  #{o.index} seed {o.seed} {o.kind} [{o.scope}, mag {o.magnitude:.2f}, "
            f"{'logged' if o.logged else 'not logged'}] incident {o.incident} "
            f"{o.incident_id} {o.severity}: {causes}"
        )
        rank = next((r for r, c in enumerate(o.causes, start=1) if c[0] == o.kind), None)
        if rank is not None:
            _, status, confidence = o.causes[rank - 1]
            print(
                f"      true cause: rank {rank}, {status} {confidence:.2f}; "
                f"first reason: {o.true_reason}"
            )

    print()
    times, found = demo_timing(args.demo_world, args.demo_runs)
    median = statistics.median(times)
    verdict = "MET" if median <= TARGET_DEMO_SECONDS else "MISSED"
    print(
        f"demo RCA: investigate() median {median:.1f} s of {len(times)} "
        f"({', '.join(f'{t:.1f}' for t in times)}); {found}"
    )
    print(f"target (<= {TARGET_DEMO_SECONDS:.0f} s): {verdict}")


if __name__ == "__main__":
    main()
