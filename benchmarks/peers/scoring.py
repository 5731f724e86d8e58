"""Peers scored as the evals score cx-agent: an alarm counts when its cohort lies in the
intervention's scope (evals.detection.cohort_in_scope) and its period in the affected span; the
delay is the first as-of reading holding one, minus the first affected hour, within the same
replay horizon; false alarms are alarm episodes per 30 days of a null world; top-1 cause is
evals.scoring's check."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from analytics.detection import DetectorSettings
from analytics.metrics import Grain
from benchmarks.peers.detectors import DetectionPeer
from benchmarks.peers.series import CohortSeries, known_at
from evals.detection import AffectedSpan, cohort_in_scope, next_reading
from evals.scoring import is_top
from evals.suite import ExpectedFindings

EPISODE_GAP = dt.timedelta(hours=12)  # alarms closer than this are one episode
FALSE_ALARM_BUDGET = 1.0  # episodes per 30 days (cx-agent's: medium+ incidents per 30 days)
CANDIDATE_THRESHOLDS = 3000  # the highest null-world scores tried as thresholds


def alarm_candidates(
    peer: DetectionPeer,
    series: list[CohortSeries],
    grain: Grain,
    start: dt.datetime | None = None,
    stop: dt.datetime | None = None,
    settings: DetectorSettings | None = None,
) -> pd.DataFrame:
    """Every scored period of every series in [start, stop) (default: all): metric, cohort,
    period, known_at, score. A peer never sees a value after `stop` (a replay's horizon)."""
    settings = settings or DetectorSettings()
    frames = []
    for one in series:
        first = 0 if start is None else int(one.period.searchsorted(start))
        last = len(one.value) if stop is None else int(one.period.searchsorted(stop))
        scores = np.full(len(one.value), np.nan)
        scores[:last] = peer.score(one.value[:last], grain, first)
        scored = np.isfinite(scores)
        frames.append(
            pd.DataFrame(
                {
                    "metric": one.metric,
                    "cohort": one.cohort,
                    "period": one.period[scored],
                    "known_at": known_at(one.period, grain, settings)[scored].to_numpy(),
                    "score": scores[scored],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def episodes(known: pd.Series | np.ndarray) -> int:
    """Alarm episodes: runs of alarms (any series) with gaps under EPISODE_GAP."""
    times = np.sort(pd.to_datetime(pd.Series(known)).to_numpy())
    if not len(times):
        return 0
    return 1 + int((np.diff(times) >= np.timedelta64(EPISODE_GAP)).sum())


def per_30_days(candidates: pd.DataFrame, threshold: float, days: float) -> float:
    """Alarm episodes per 30 days of data at a threshold."""
    return episodes(candidates.known_at[candidates.score >= threshold]) * 30 / days


def tune_threshold(candidates: pd.DataFrame, days: float) -> float:
    """The lowest score threshold at which this null world (and every higher threshold) holds
    at most FALSE_ALARM_BUDGET alarm episodes per 30 days."""
    ranked = np.sort(candidates.score.to_numpy())[::-1][:CANDIDATE_THRESHOLDS]
    chosen = float("inf")
    for threshold in np.unique(ranked)[::-1]:
        if per_30_days(candidates, threshold, days) > FALSE_ALARM_BUDGET:
            break
        chosen = float(threshold)
    return chosen


def in_scope(candidates: pd.DataFrame, scope: dict[str, list]) -> pd.DataFrame:
    """The candidates whose cohort lies in an intervention's scope."""
    keep = {c: cohort_in_scope(c, scope) for c in candidates.cohort.unique()}
    return candidates[candidates.cohort.map(keep).astype(bool)]


def replay_horizon(span: AffectedSpan, last_known: dt.datetime, max_hours: int) -> dt.datetime:
    """The last as-of reading of the replay (evals.detection.detection_delay's horizon)."""
    return min(span.first_hour + dt.timedelta(hours=max_hours), last_known)


def peer_delay(
    candidates: pd.DataFrame,
    threshold: float,
    span: AffectedSpan,
    grain: Grain,
    horizon: dt.datetime,
    settings: DetectorSettings | None = None,
) -> float | None:
    """Hours from the first affected hour to the first as-of reading (hourly from it, or daily
    at maturity) holding an alarm in the scope on an affected period; None within the horizon."""
    settings = settings or DetectorSettings()
    first_period = span.first_hour if grain == "hour" else span.first_hour.replace(hour=0)
    scoped = in_scope(candidates, span.scope)
    alarms = scoped[
        (scoped.score >= threshold)
        & (scoped.period >= first_period)
        & (scoped.period < pd.Timestamp(span.end))
    ]
    if alarms.empty:
        return None
    first_known = pd.Timestamp(alarms.known_at.min()).to_pydatetime()
    as_of = span.first_hour
    while as_of <= horizon:
        if as_of >= first_known:
            return (as_of - span.first_hour).total_seconds() / 3600
        as_of = next_reading(as_of, grain, settings)
    return None


def top1(found: list[str], expected: ExpectedFindings) -> bool:
    """evals.scoring's top-1 check on a ranked list of cause kinds."""
    return is_top(found, list(expected.causes), expected.ordered)
