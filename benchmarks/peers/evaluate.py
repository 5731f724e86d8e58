"""Run every peer on one world: detection delays and root-cause rankings on a case's world,
alarm episodes on a null world; each in a worker process (picklable jobs, pydantic results)."""

from __future__ import annotations

import importlib.util
import json
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
from pydantic import BaseModel, Field

from analytics.alarms import choose_grain, data_span
from analytics.detection import PERIOD_LENGTH, DetectorSettings
from analytics.metrics import Grain
from benchmarks.peers.detectors import DETECTION_PEERS, DetectionPeer
from benchmarks.peers.oracle_rca import ORACLE, oracle_ranking
from benchmarks.peers.root_cause import (
    gcm_ranking,
    largest_shift,
    order_features,
    sampled,
    windows,
)
from benchmarks.peers.scoring import (
    alarm_candidates,
    peer_delay,
    per_30_days,
    replay_horizon,
    top1,
    tune_threshold,
)
from benchmarks.peers.series import cohort_series
from data.generator import TRUTH_FILE
from data.warehouse import open_warehouse
from evals.detection import (
    AffectedSpan,
    FalseAlarms,
    affected_span,
    cohort_in_scope,
    false_alarms,
    register_truth,
)
from evals.runner import RunSettings, interventions_of
from evals.suite import SuiteCase

GCM = "DoWhy gcm"
SHIFT = "largest-shift baseline"
ROOT_CAUSE_PEERS: dict[str, str | None] = {SHIFT: None, GCM: "dowhy"}  # name -> package


def available(package: str | None) -> bool:
    """The peer's package is installed (the `peers` extra)."""
    return package is None or importlib.util.find_spec(package) is not None


def detection_peers() -> list[DetectionPeer]:
    """The detection peers whose package is installed."""
    return [peer for peer in DETECTION_PEERS if available(peer.package)]


class CaseResult(BaseModel):
    """The peers on one case's world."""

    name: str
    grain: str
    delays: dict[str, float | None] = Field(default_factory=dict)  # hours, by detection peer
    # ranked kinds, by cause peer and for cx-agent given the truth (oracle_rca.ORACLE)
    causes: dict[str, list[str]] = Field(default_factory=dict)
    top1: dict[str, bool] = Field(default_factory=dict)
    seconds: float = 0.0


class NullResult(BaseModel):
    """Alarm episodes of the peers and cx-agent's medium+ incidents on one null world."""

    name: str
    orders_per_day: int
    days: float
    grain: str
    per_30_days: dict[str, float] = Field(default_factory=dict)  # by detection peer
    ours_per_30_days: float = 0.0
    ours_serious: int = 0
    seconds: float = 0.0


def _span(world: Path, intervention: dict) -> AffectedSpan | None:
    """An intervention's affected span, read on a connection of its own (affected_span leaves
    its result open, which blocks the next registration on that connection)."""
    con = open_warehouse(world)
    try:
        register_truth(con, intervention["order_ids"])
        return affected_span(con, intervention)
    finally:
        con.close()


def _delays(
    world: Path,
    con: duckdb.DuckDBPyConnection,
    case: SuiteCase,
    truth: dict,
    thresholds: dict[str, float],
    grain: Grain,
) -> dict[str, float | None]:
    """Each detection peer's delay: the smallest over the case's true causes (as evals)."""
    settings = DetectorSettings()
    last_known = data_span(con).last + PERIOD_LENGTH[grain] + settings.maturity
    max_hours = int(max(RunSettings().replay_hours, case.expected.max_detection_delay_hours or 0))
    delays: dict[str, float | None] = {peer.name: None for peer in detection_peers()}
    series = cohort_series(con, grain)
    for intervention in interventions_of(truth, list(case.expected.causes)):
        span = _span(world, intervention)
        if span is None:
            continue
        horizon = replay_horizon(span, last_known, max_hours)
        first = span.first_hour if grain == "hour" else span.first_hour.replace(hour=0)
        scoped = [s for s in series if cohort_in_scope(s.cohort, span.scope)]
        for peer in detection_peers():
            candidates = alarm_candidates(peer, scoped, grain, first, horizon)
            found = peer_delay(candidates, thresholds[peer.name], span, grain, horizon)
            known = delays[peer.name]
            if found is not None and (known is None or found < known):
                delays[peer.name] = found
    return delays


def _rankings(
    world: Path, con: duckdb.DuckDBPyConnection, case: SuiteCase, truth: dict
) -> dict[str, list[str]]:
    """Each root-cause peer's ranked cause kinds, and cx-agent's (benchmarks.peers.oracle_rca),
    given the leading cause's window and scope."""
    leading = interventions_of(truth, list(case.expected.causes[:1]))[0]
    span = _span(world, leading)
    if span is None:
        return {}
    baseline_window, incident_window = windows(span.first_hour, span.end)
    baseline = sampled(order_features(con, leading["scope"], baseline_window))
    incident = sampled(order_features(con, leading["scope"], incident_window))
    rankings = {
        ORACLE: oracle_ranking(world, leading["scope"], incident_window),
        SHIFT: largest_shift(baseline, incident),
    }
    if available(ROOT_CAUSE_PEERS[GCM]):
        rankings[GCM] = gcm_ranking(baseline, incident)
    return rankings


def evaluate_case(job: tuple[SuiteCase, Path, dict[str, float]]) -> CaseResult:
    """The peers on one case's world (a case expecting an incident)."""
    case, world, thresholds = job
    started = time.perf_counter()
    truth = json.loads((world / TRUTH_FILE).read_text())
    con = open_warehouse(world)
    try:
        grain = choose_grain(con).grain
        result = CaseResult(name=case.name, grain=grain)
        result.delays = _delays(world, con, case, truth, thresholds, grain)
        result.causes = _rankings(world, con, case, truth)
    finally:
        con.close()
    result.top1 = {peer: top1(found, case.expected) for peer, found in result.causes.items()}
    result.seconds = time.perf_counter() - started
    return result


@dataclass
class NullScores:
    """Every peer's alarm candidates on one null world (and cx-agent's false alarms there)."""

    name: str
    orders_per_day: int
    days: float
    grain: str
    candidates: dict[str, pd.DataFrame]  # by detection peer: known_at, score
    ours: FalseAlarms | None
    seconds: float


def score_null(job: tuple[str, int, Path, bool]) -> NullScores:
    """Each peer's scores over the whole of a null world, and (when asked) cx-agent's medium+
    incidents there (the eval's false_alarms)."""
    name, orders_per_day, world, with_ours = job
    started = time.perf_counter()
    con = open_warehouse(world)
    try:
        grain = choose_grain(con).grain
        span = data_span(con)
        series = cohort_series(con, grain)
        candidates = {
            peer.name: alarm_candidates(peer, series, grain)[["known_at", "score"]]
            for peer in detection_peers()
        }
        ours = false_alarms(con) if with_ours else None
    finally:
        con.close()
    days = (span.last - span.first).total_seconds() / 86400
    seconds = time.perf_counter() - started
    return NullScores(name, orders_per_day, days, grain, candidates, ours, seconds)


def tune(scores: NullScores) -> dict[str, float]:
    """Each detection peer's threshold: the lowest that keeps this null world within the
    false-alarm budget."""
    return {name: tune_threshold(found, scores.days) for name, found in scores.candidates.items()}


def null_result(scores: NullScores, thresholds: dict[str, float]) -> NullResult:
    """Alarm episodes per 30 days of each peer at its threshold, beside cx-agent's."""
    result = NullResult(
        name=scores.name,
        orders_per_day=scores.orders_per_day,
        days=scores.days,
        grain=scores.grain,
        seconds=scores.seconds,
    )
    for name, found in scores.candidates.items():
        result.per_30_days[name] = per_30_days(found, thresholds[name], scores.days)
    if scores.ours is not None:
        result.ours_per_30_days, result.ours_serious = scores.ours.per_30_days, scores.ours.serious
    return result
