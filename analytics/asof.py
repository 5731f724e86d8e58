"""The detection scan as it was known at an earlier time, cut from a later scan.

Every detector value of a period uses only that period and earlier ones, each period read as
known `maturity` after it ended (analytics/detection.py), so a scan made at time T2 holds, for
every period fully known by T1 < T2, exactly what a scan made at T1 computes. Cutting the later
scan's series at T1 and merging the alarms known by then gives T1's incidents without reading
the warehouse again: a replay walks a month hour by hour for the cost of one scan.
tests/analytics/test_asof.py checks the equality against fresh scans at several times.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from analytics.alarms import SeriesResult, alarms_frame, judged_grain, latest_mature_period_end
from analytics.detection import DetectorSettings
from analytics.incidents import Incident, build_incidents
from analytics.metrics import Grain


def series_as_of(
    results: list[SeriesResult], grain: Grain, as_of: dt.datetime, settings: DetectorSettings
) -> list[SeriesResult]:
    """Each series cut to the periods fully known at `as_of` (periods start on the hour or at
    midnight, so the periods starting before the last known period end are the known ones)."""
    end = pd.Timestamp(latest_mature_period_end(as_of, grain, settings.maturity))
    cut = []
    memo: dict[tuple[Any, ...], Any] = {}
    for result in results:
        period = result.residuals.period
        known = int(np.searchsorted(period.values, np.datetime64(end), side="left"))
        part = _truncated(result, len(period), known, memo)
        # The grain label is judged over the periods known then, as a scan made then judges it.
        part.grain = judged_grain(part.residuals, part.windows, grain, settings)
        cut.append(part)
    return cut


def incidents_as_of(
    results: list[SeriesResult], grain: Grain, as_of: dt.datetime, settings: DetectorSettings
) -> tuple[list[SeriesResult], list[Incident], int]:
    """The series, incidents and alarm count a scan made at `as_of` finds, from a later scan's
    `results` (made with the same settings)."""
    cut = series_as_of(results, grain, as_of, settings)
    alarms = alarms_frame(cut, grain, settings)
    return cut, build_incidents(cut, alarms, grain, as_of, settings), len(alarms)


def _truncated(value: Any, length: int, keep: int, memo: dict[tuple[Any, ...], Any]) -> Any:
    """`value` with every per-period sequence (an array or index as long as the series) cut to
    its first `keep` periods, inside dataclasses and dicts. `memo` cuts each period index once
    (the series' indexes are equal: the scan's complete periods)."""
    if isinstance(value, pd.Index) and len(value) == length:
        # Every series runs over the same complete periods: equal ends and length, equal index.
        key = (length, *np.asarray(value)[[0, -1]].tolist()) if length else (0,)
        if key not in memo:
            memo[key] = value[:keep]
        return memo[key]
    if isinstance(value, np.ndarray) and len(value) == length:
        return value[:keep]
    if isinstance(value, dict):
        return {key: _truncated(item, length, keep, memo) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _truncated(getattr(value, f.name), length, keep, memo)
            for f in dataclasses.fields(value)
        }
        return dataclasses.replace(value, **changes)
    return value
