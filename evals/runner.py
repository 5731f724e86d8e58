"""The eval runner: generate each world (cached), ask the agent, measure the truth, score.

Cases run in worker processes (spawned, one agent per case); results come back as they finish.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import multiprocessing
import os
import shutil
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from agent.service import Agent
from agent.settings import AgentSettings
from data.generator import TRUTH_FILE
from data.warehouse import open_warehouse
from evals.detection import (
    affected_span,
    cohort_in_scope,
    detection_delay,
    false_alarms,
    register_truth,
)
from evals.exact_impact import CauseSpan, exact_impact
from evals.localization import slice_overlap
from evals.scoring import Measured, ScenarioScore, Timings, score
from evals.suite import SuiteCase
from evals.whatif_accuracy import WhatIfCheck, WhatIfScope, exact_gain
from evals.worlds import DEFAULT_CACHE, cached_world, without_kinds
from tools.actions import ACTIONS

THREAD = "eval"


class RunSettings(BaseModel):
    """How to run cases: where worlds are cached, which LLM backend, how many processes."""

    cache_dir: Path = DEFAULT_CACHE
    llm: Literal["offline", "openai"] = "offline"
    jobs: int = 2
    whatif: bool = True  # check the what-if against the exact counterfactual world
    replay_hours: int = 24  # as-of replay horizon for detection delay
    keep_worlds: bool = True  # False: delete a case's worlds once it is scored (random runs)


def interventions_of(truth: dict[str, Any], kinds: list[str]) -> list[dict[str, Any]]:
    return [i for i in truth["interventions"] if i["kind"] in kinds and i["magnitude"] > 0]


def _undoing_recommendation(
    recommendations: list[dict[str, Any]], causes: list[str]
) -> dict[str, Any] | None:
    """The top recommendation if it undoes a true cause, else the first one that does."""
    for recommendation in recommendations:
        if set(ACTIONS[recommendation["action"]].undoes) & set(causes):
            return recommendation
    return None


def _whatif_check(
    case: SuiteCase, world: Path, answer: dict[str, Any], settings: RunSettings
) -> tuple[WhatIfCheck | None, str, float]:
    """The undoing action's simulated gain against the counterfactual world; a note when there
    is none; seconds spent generating the counterfactual."""
    recommendation = _undoing_recommendation(
        answer.get("recommendations") or [], case.expected.causes
    )
    if recommendation is None:
        return None, "no recommended action undoes a true cause", 0.0
    evidence = {item["id"]: item for item in answer.get("evidence") or []}
    item = evidence.get(recommendation["evidence"])
    if item is None or item.get("tool") != "what_if":
        return None, f"no what_if evidence {recommendation['evidence']}", 0.0
    scope = WhatIfScope.model_validate(item["args"])
    undone = sorted(set(ACTIONS[recommendation["action"]].undoes) & set(case.expected.causes))
    counterfactual, seconds = cached_world(without_kinds(case.scenario, undone), settings.cache_dir)
    exact = exact_gain(world, counterfactual, scope)
    cx, on_time = recommendation["cx_gain"], recommendation["on_time_gain"]
    check = WhatIfCheck(
        action=recommendation["action"],
        undoes=undone,
        estimate=cx["estimate"],
        low=cx["low"],
        high=cx["high"],
        exact=exact["cx_score"],
        on_time_estimate=on_time["estimate"],
        on_time_exact=exact.get("on_time_rate"),
    )
    return check, "", seconds


def measure(
    case: SuiteCase, world: Path, answer: dict[str, Any], settings: RunSettings
) -> tuple[Measured, float]:
    """Truth-side measurements for an answer; also seconds spent generating counterfactuals."""
    measured = Measured()
    truth = json.loads((world / TRUTH_FILE).read_text())
    con = open_warehouse(world)
    try:
        if not case.expected.incident:
            measured.false_alarms = false_alarms(con)
            return measured, 0.0
        causes = interventions_of(truth, case.expected.causes)
        delays, spans, cause_spans = [], [], []
        for intervention in causes:
            register_truth(con, intervention["order_ids"])
            span = affected_span(con, intervention)
            if span is not None:
                spans.append(span)
                cause_spans.append(CauseSpan(intervention["scope"], span.first_hour, span.end))
                horizon = max(settings.replay_hours, case.expected.max_detection_delay_hours or 0)
                delays.append(detection_delay(con, span, int(horizon)))
        detected = [d for d in delays if d.hours is not None]
        if delays:
            measured.delay = min(detected, key=lambda d: d.hours or 0.0) if detected else delays[0]
        register_truth(con, sorted({i for c in causes for i in c["order_ids"]}))
        incident = answer.get("incident")
        if incident is not None:
            last = con.execute("SELECT max(order_time) FROM order_facts").fetchone()[0]
            start = _time(incident["start"])
            end = _time(incident["end"]) if incident.get("end") else last + dt.timedelta(seconds=1)
            slices = [s["filters"] for s in incident.get("slices") or []]
            top = slice_overlap(con, slices[:1], (start, end))
            union = slice_overlap(con, slices, (start, end))
            measured.truth_orders, measured.slice_orders = top.truth, top.selected
            if slices:
                measured.slice_jaccard, measured.union_jaccard = top.jaccard, union.jaccard
            cohort = incident.get("cohort") or "all"
            measured.incident_on_cause = any(
                start < span.end and end > span.first_hour and cohort_in_scope(cohort, span.scope)
                for span in spans
            ) and (not slices or top.both > 0)
    finally:
        con.close()
    if not settings.whatif:  # no counterfactual worlds are generated
        return measured, 0.0
    counterfactual, seconds = cached_world(
        without_kinds(case.scenario, case.expected.causes), settings.cache_dir
    )
    measured.exact_impact = exact_impact(
        world, counterfactual, cause_spans, case.scenario.orders_per_day
    )
    if answer.get("incident") is None:
        return measured, seconds
    measured.whatif, measured.whatif_note, more = _whatif_check(case, world, answer, settings)
    return measured, seconds + more


def run_case(case: SuiteCase, settings: RunSettings) -> ScenarioScore:
    """Generate (or reuse) the world, ask the agent, measure and score; errors are scored."""
    started, cpu_started = time.perf_counter(), time.process_time()
    timings = Timings()
    try:
        world, timings.generate = cached_world(case.scenario, settings.cache_dir)
        agent = Agent(world, AgentSettings(llm=settings.llm))
        asked = time.perf_counter()
        try:
            answer = agent.ask(case.expected.question, THREAD)
            follow = (
                agent.ask(case.expected.follow_up, THREAD)
                if case.expected.follow_up is not None
                else None
            )
        finally:
            agent.close()
        timings.agent = time.perf_counter() - asked
        measuring = time.perf_counter()
        measured, counterfactual_seconds = measure(case, world, answer, settings)
        timings.generate += counterfactual_seconds
        timings.scoring = time.perf_counter() - measuring - counterfactual_seconds
        result = score(case, answer, follow, measured)
    except Exception:  # a crash is a scored failure, never a lost scenario
        result = ScenarioScore(
            name=case.name,
            source=case.source,
            orders_per_day=case.scenario.orders_per_day,
            question=case.expected.question,
            expected_causes=list(case.expected.causes),
            expected_slice=case.expected.slice,
            error=traceback.format_exc(limit=8),
            misses=["error: the run raised (see error)"],
        )
    if not settings.keep_worlds:
        for directory in (Path(settings.cache_dir) / "worlds").glob(f"{case.scenario.name}-*"):
            shutil.rmtree(directory, ignore_errors=True)
    timings.total = time.perf_counter() - started
    timings.cpu = time.process_time() - cpu_started
    result.timings = timings
    return result


def _run_star(arguments: tuple[SuiteCase, RunSettings]) -> ScenarioScore:
    return run_case(*arguments)


def run_cases(
    cases: list[SuiteCase],
    settings: RunSettings,
    on_result: Callable[[ScenarioScore], None] | None = None,
) -> list[ScenarioScore]:
    """Run every case (in `settings.jobs` processes); results in the cases' order."""
    results: dict[str, ScenarioScore] = {}
    for result in _results(cases, settings):
        results[result.name] = result
        if on_result is not None:
            on_result(result)
    return [results[case.name] for case in cases]


def _results(cases: list[SuiteCase], settings: RunSettings) -> Iterator[ScenarioScore]:
    work = [(case, settings) for case in cases]
    if settings.jobs <= 1 or len(cases) <= 1:
        yield from map(_run_star, work)
        return
    context = multiprocessing.get_context("spawn")
    jobs = min(settings.jobs, len(cases))
    with worker_threads(max(1, (os.cpu_count() or 1) // jobs)), context.Pool(jobs) as pool:
        yield from pool.imap_unordered(_run_star, work)


@contextlib.contextmanager
def worker_threads(threads: int) -> Iterator[None]:
    """Workers spawned inside start with OpenMP/BLAS capped at `threads` each: two workers
    fitting models at once with a thread per core each made OpenMP's spinning threads fight,
    and a 5 s agent took 158 s."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({name: str(threads) for name in names})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _time(value: Any) -> dt.datetime:
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
