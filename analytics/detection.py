"""Detectors for CX regressions on hourly or daily metric series, with no look-ahead.

Each period is read as it was known `maturity` after it ended (see `metric_frame`), compared with
a seasonal baseline (the same hour of the week, or the same weekday, pooled over the trailing
weeks) and standardized by the sampling variance its counts imply (rate-aware: a quiet hour's
noise is not an alarm), inflated by an overdispersion factor estimated from the trailing
history. Residuals are oriented so that positive means worse; a rate's is bounded by the z of
its exact binomial tail (a few events in a small cell are not normal), and so is each rate's
part of the CX score, a weighted sum of its components' residuals. Four detectors run on them:

- z-score: one period beyond `z_limit` (one-sided normal tail: 3.2e-5 per period at 4.0);
- EWMA control chart (Roberts 1959): lambda 0.2, limit 3.5 steady-state sds (in-control run
  length ~ 6,000 periods for a one-sided chart);
- CUSUM (Page 1954): slack 0.5, limit 8 (in-control run length ~ 19,000 periods, Siegmund's
  approximation);
- Bayesian online change-point detection (Adams & MacKay 2007): Gaussian mean with unit variance,
  hazard 1/250; fires when the posterior puts > 0.7 on a change within the last 3 periods and
  the new mean is worse by > 1 sd.

A period alarms when at least `min_votes` detectors fire. The false-alarm rates above assume
independent standard-normal residuals; the measured rate on null worlds is in benchmarks/.

Longer windows: the same residuals are also computed over trailing sums of 6, 24 and 168 hours (7
days at a daily grain), read at every period, against the same window of the trailing weeks. A
window alarms when its z passes `window_z_limit` (a moving-sum scan statistic; a heuristic
threshold set on null worlds, as overlapping windows make its z autocorrelated: 4.4 keeps the
medium+ false alarms of benchmarks/detection.py's null worlds at 0.00, 0.67 and 0.00 per 30
days at 20,000, 200 and 20 orders a day, measured at 02f3191; at 5.0 a drop confined to one
region x category was seen one or two hours later). A drift too slow for the hourly detectors,
or a cohort too small for an hourly verdict, is seen there; a cohort's grain is the shortest
window its volume supports (`min_units` orders).

Corroborated alarms: a driver that moves first and far when supply and demand part (the
registry's `corroborates` metrics: dasher wait) is read beside the targets, never alarming
itself. Where its z in a cohort passes `corroboration_z` in a period or trailing window, above
every reading of that cohort and window in the `dispersion_days` before (a driver's tails are
heavier than its dispersion says: dasher wait is a mean of skewed waits), a target of the same
cohort whose z in that period or window passes `corroborated_z` alarms. A heuristic two-stage
rule: a shortage or a surge that costs a region's lunch a few points of on-time rate reads z
2.5-3 there, far below the limits above, while its dasher wait reads z 9-13. On the null
worlds of benchmarks/detection.py (5 seeds at 20,000, 200 and 20 orders a day, and a 3,000-a-day
one) the driver never passed these bars where a target passed 2.5 in the same cohort and window
(without the record rule a 3,000-a-day world's dasher wait read z 8.7 by chance).

Every computation at a period uses only that period and earlier ones, so results as of a time
do not change when later data arrives.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import pandas as pd
from scipy import stats

from analytics.metrics import CX_COMPONENTS, CX_SCORE, METRICS, Grain

WINDOW_NAMES = {6: "6h_window", 24: "day_window", 168: "week_window", 7: "week_window"}
_MEDIAN_CHI2_1 = 0.45494  # median of a chi-square with 1 degree of freedom
PERIODS_PER_WEEK = {"hour": 168, "day": 7}
PERIOD_LENGTH = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1)}
ZSCORE = "zscore"  # the detector that reads each period alone (EWMA and CUSUM carry memory)
FrameT = TypeVar("FrameT", pd.DataFrame, dict[str, np.ndarray])


@dataclass(frozen=True)
class DetectorSettings:
    """Thresholds and windows of the detectors (defaults documented in the module docstring)."""

    season_weeks: int = 4
    prior_units: float = 200.0
    min_units: int = 30
    z_limit: float = 4.0
    ewma_lambda: float = 0.2
    ewma_limit: float = 3.5
    cusum_slack: float = 0.5
    cusum_limit: float = 8.0
    bocpd_hazard: float = 1 / 250
    bocpd_probability: float = 0.7
    bocpd_recent: int = 3
    bocpd_min_shift: float = 1.0
    bocpd_max_run: int = 400
    min_votes: int = 2
    dispersion_days: int = 14
    maturity: dt.timedelta = dt.timedelta(hours=1)
    hour_windows: tuple[int, ...] = (6, 24, 168)  # trailing windows, in periods, at an hourly grain
    day_windows: tuple[int, ...] = (7,)  # ... at a daily grain
    window_z_limit: float = 4.4  # heuristic, from null worlds (module docstring)
    corroboration_z: float = 6.0  # a corroborating driver's z ... (module docstring)
    corroborated_z: float = 2.5  # ... lets a target alarm at this z in its cohort and window

    def windows(self, grain: Grain) -> tuple[int, ...]:
        """The trailing windows (in periods) scanned beside single periods at `grain`."""
        return self.hour_windows if grain == "hour" else self.day_windows


@dataclass(frozen=True)
class Residuals:
    """A metric series against its seasonal baseline; `z` is oriented so positive = worse."""

    period: pd.DatetimeIndex
    value: np.ndarray
    expected: np.ndarray
    z: np.ndarray
    orders: np.ndarray
    dispersion: np.ndarray | None = None  # the variance inflation applied to z (>= 1)


PeriodColumns = dict[str, np.ndarray]


def period_columns(frame: pd.DataFrame | PeriodColumns) -> PeriodColumns:
    """A period frame's columns as arrays (read once: column access in a loop is slow)."""
    if isinstance(frame, dict):
        return frame
    return {column: frame[column].to_numpy() for column in frame.columns}


def _pooled(counts: tuple[np.ndarray, ...], lags: range) -> tuple[np.ndarray, ...]:
    """Each count (numerator, denominator, sum of squares) summed over the periods `lags`
    before each period."""
    pooled = []
    for values in counts:
        total = np.zeros(len(values))
        for lag in lags:
            if lag < len(values):
                total[lag:] += values[: len(values) - lag]
        pooled.append(total)
    return tuple(pooled)


def _history(counts: tuple[np.ndarray, ...], skip: int = 1) -> tuple[np.ndarray, ...]:
    """Each count summed over the periods `skip` or more before each period."""
    out = []
    for values in counts:
        total = np.zeros(len(values))
        if skip < len(values):
            total[skip:] = np.cumsum(values)[: len(values) - skip]
        out.append(total)
    return tuple(out)


def _component(
    frame: PeriodColumns, name: str, grain: Grain, settings: DetectorSettings, window: int = 1
) -> dict[str, np.ndarray]:
    """Observed value, seasonal expectation and the variance of their difference for one metric.

    The expectation pools the same hour of the week (or weekday) over the trailing weeks, shrunk
    toward the same hour of the day over the trailing week with `prior_units` pseudo-orders, so
    a slot with few orders (3 a.m.) does not produce a degenerate rate of 0 or 1. For a trailing
    `window` of periods, the references start `window` periods back so they never overlap it.
    """
    num = np.asarray(frame[f"{name}_num"], dtype=float)
    den = np.asarray(frame[f"{name}_den"], dtype=float)
    square = frame.get(f"{name}_sq")
    counts = tuple(
        np.where(np.isnan(values), 0.0, values)
        for values in (num, den, np.zeros(len(num)) if square is None else square.astype(float))
    )
    week = PERIODS_PER_WEEK[grain]
    day = week // 7
    base_num, base_den, base_sq = _pooled(
        counts, range(week, week * settings.season_weeks + 1, week)
    )
    ref_num, ref_den, ref_sq = _pooled(
        counts, range(max(day, -(-window // day) * day), week + 1, day)
    )
    all_num, all_den, all_sq = _history(counts, skip=window)
    prior = settings.prior_units
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(den > 0, num / den, np.nan)
        # Shrink twice: the hour of the week toward the hour of the day toward all history.
        reference = (ref_num + prior * all_num / all_den) / (ref_den + prior)
        reference_sq = (ref_sq + prior * all_sq / all_den) / (ref_den + prior)
        pooled_den = base_den + prior
        expected = (base_num + prior * reference) / pooled_den
        if METRICS[name].square:
            second_moment = (base_sq + prior * reference_sq) / pooled_den
            spread = second_moment - expected**2
        else:
            spread = expected * (1 - expected)
            # A rare event's pooled rate can be near 0 by chance; the day-profile rate is steadier.
            spread = np.maximum(spread, reference * (1 - reference))
        spread = np.maximum(spread, 1e-9)
        variance = spread / den + spread / pooled_den
    unjudged = (base_den == 0) | (ref_den == 0) | (den < settings.min_units)
    expected[unjudged] = np.nan  # no seasonal history yet, or too few orders: no verdict
    return {"value": value, "expected": expected, "variance": variance, "num": num, "den": den}


def _exact_tail_z(bad: np.ndarray, den: np.ndarray, bad_rate: np.ndarray) -> np.ndarray:
    """z of the one-sided binomial tail of each bad-event count (small counts are not normal)."""
    valid = np.isfinite(bad_rate) & (den > 0)
    tail = np.ones(len(den))
    tail[valid] = stats.binom.sf(np.round(bad[valid]) - 1, np.round(den[valid]), bad_rate[valid])
    return stats.norm.isf(np.clip(tail, 1e-300, 1.0))


def _cx_component_sum(parts: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """CX score observed and expected over the components both have, and its variance."""
    n = len(next(iter(parts.values()))["value"])
    observed, expected, variance, weights = (np.zeros(n) for _ in range(4))
    for name, part in parts.items():
        weight = METRICS[name].cx_weight
        intercept, slope = METRICS[name].score
        present = np.isfinite(part["value"]) & np.isfinite(part["expected"])
        observed += np.where(present, weight * (intercept + slope * part["value"]), 0)
        expected += np.where(present, weight * (intercept + slope * part["expected"]), 0)
        variance += np.where(present, (weight * slope) ** 2 * part["variance"], 0)
        weights += np.where(present, weight, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(weights > 0, 1 / weights, np.nan)
    return {
        "value": observed * scale,
        "expected": expected * scale,
        "variance": variance * scale**2,
        "scale": scale,
    }


@dataclass(frozen=True)
class SeriesInput:
    """One series to standardize: metric `name` in a complete period frame. `components` keeps
    each metric's expectation for that frame, so the frame's series (the CX score and its parts)
    compute it once; a window's overdispersion is at least `dispersion_floor`."""

    frame: PeriodColumns
    name: str
    components: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    dispersion_floor: np.ndarray | None = None


def residuals(
    frame: pd.DataFrame | PeriodColumns,
    name: str,
    grain: Grain,
    settings: DetectorSettings,
    window: int = 1,
    dispersion_floor: np.ndarray | None = None,
    components: dict[str, dict[str, np.ndarray]] | None = None,
) -> Residuals:
    """Standardized residuals of metric `name` in a complete, evenly spaced period frame (of
    trailing sums over `window` periods when `window` > 1, see `rolled`). A window's
    overdispersion is at least its single periods' (`dispersion_floor`): sums of independent
    overdispersed periods are as overdispersed, and the window's own estimate needs months.
    `components` keeps each metric's expectation for this frame, so the CX score and its parts
    compute it once."""
    series = SeriesInput(
        period_columns(frame), name, {} if components is None else components, dispersion_floor
    )
    return residuals_many([series], grain, settings, window)[0]


def residuals_many(
    inputs: Sequence[SeriesInput], grain: Grain, settings: DetectorSettings, window: int = 1
) -> list[Residuals]:
    """`residuals` of several series over the same periods, at one window length: each gets
    exactly what it would get alone; the exact tails and the overdispersion's rolling medians
    are computed for all of them together (one call each instead of one per series)."""
    if not inputs:
        return []
    found = [_oriented(series, grain, settings, window) for series in inputs]
    _bound_by_exact_tail([bound for _, _, bounds in found for bound in bounds])
    dispersions = _dispersion(np.vstack([raw for _, raw, _ in found]), grain, settings, window)
    periods: dict[int, pd.DatetimeIndex] = {}  # frames sharing a period array share its index
    out = []
    for series, (parts, raw, _), dispersion in zip(inputs, found, dispersions, strict=True):
        if series.dispersion_floor is not None:
            dispersion = np.fmax(dispersion, series.dispersion_floor)
        dispersion = np.maximum(dispersion, 1.0)
        period = series.frame["period"]
        if id(period) not in periods:
            periods[id(period)] = pd.DatetimeIndex(period)
        out.append(
            Residuals(
                period=periods[id(period)],
                value=parts["value"],
                expected=parts["expected"],
                z=raw / np.sqrt(dispersion),
                orders=np.asarray(series.frame["orders"], dtype=float),
                dispersion=dispersion,
            )
        )
    return out


@dataclass(frozen=True)
class _Bounded:
    """A rate's oriented residual to bound by its exact binomial tail: `parts` holds its counts
    and expectation, `higher_is_better` its direction; its bound lowers `target` (the residual
    of the series itself, or of the CX score it is part of) by `weight` x the excess."""

    parts: dict[str, np.ndarray]
    raw: np.ndarray
    higher_is_better: bool
    target: np.ndarray
    weight: np.ndarray | None = None  # None: the series itself (weight 1)


def _oriented(
    series: SeriesInput, grain: Grain, settings: DetectorSettings, window: int
) -> tuple[dict[str, np.ndarray], np.ndarray, list[_Bounded]]:
    """A series' value, expectation and variance, its residual oriented so positive = worse
    (before the exact tails and the overdispersion), and the rate residuals whose exact
    binomial tails bound it: the series itself if a rate, each rate component if the CX score."""
    frame, components = series.frame, series.components

    def component(metric_name: str) -> dict[str, np.ndarray]:
        if metric_name not in components:
            components[metric_name] = _component(frame, metric_name, grain, settings, window)
        return components[metric_name]

    if series.name != CX_SCORE:
        parts = component(series.name)
        higher_is_better = METRICS[series.name].higher_is_better
        raw = _oriented_z(parts, higher_is_better)
        rate = not METRICS[series.name].square
        return parts, raw, [_Bounded(parts, raw, higher_is_better, raw)] if rate else []
    found = {c: component(c) for c in CX_COMPONENTS}
    parts = _cx_component_sum(found)
    raw = _oriented_z(parts, True)
    # The CX residual is a weighted sum of its components' oriented residuals; a rare event in
    # a small cell must not weigh more in it than the component's own exact tail allows.
    bounded = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, part in found.items():
            if METRICS[name].square:
                continue
            _, slope = METRICS[name].score
            share = (
                METRICS[name].cx_weight
                * abs(slope)
                * parts["scale"]
                * np.sqrt(part["variance"] / parts["variance"])
            )
            weight = np.where(np.isfinite(part["value"]) & np.isfinite(part["expected"]), share, 0)
            component_raw = _oriented_z(part, METRICS[name].higher_is_better)
            bounded.append(
                _Bounded(part, component_raw, METRICS[name].higher_is_better, raw, weight)
            )
    return parts, raw, bounded


def _oriented_z(parts: dict[str, np.ndarray], higher_is_better: bool) -> np.ndarray:
    """(value - expected) / sd, oriented so that positive = worse."""
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = (parts["value"] - parts["expected"]) / np.sqrt(parts["variance"])
    return -raw if higher_is_better else raw


def _bound_by_exact_tail(bounds: list[_Bounded]) -> None:
    """Bound each rate's residual toward worse by the z of its exact binomial tail (the only
    side it is used on), lowering its target in place, with one call over every series."""
    picks, bad, den, bad_rate = [], [], [], []
    for bound in bounds:
        worse = np.flatnonzero(bound.raw > 0)
        count, events, expected = (bound.parts[k][worse] for k in ("den", "num", "expected"))
        picks.append((bound, worse))
        den.append(count)
        bad.append(count - events if bound.higher_is_better else events)
        bad_rate.append(1 - expected if bound.higher_is_better else expected)
    if not picks:
        return
    exact = _exact_tail_z(np.concatenate(bad), np.concatenate(den), np.concatenate(bad_rate))
    offset = 0
    for bound, worse in picks:
        excess = np.maximum(bound.raw[worse] - exact[offset : offset + len(worse)], 0.0)
        weight = 1.0 if bound.weight is None else bound.weight[worse]
        bound.target[worse] -= np.nan_to_num(weight * excess)
        offset += len(worse)


def _dispersion(
    raw: np.ndarray, grain: Grain, settings: DetectorSettings, window: int
) -> np.ndarray:
    """Each series' (rows of `raw`) variance inflation: the trailing median of its squared
    residuals over the chi-square's median, from windows that ended before this one began."""
    per_day = 24 if grain == "hour" else 1
    # Two days of hours, or three days: short real histories (a month of daily data) get a
    # noise estimate by their second judged week. A window's residuals overlap, so their noise
    # is read over at least four windows and only from windows that ended before this one began.
    span = max(settings.dispersion_days * per_day, 4 * window)
    early = per_day * 2 if per_day > 1 else 3
    squared = pd.DataFrame((raw**2).T)
    median = squared.rolling(span, min_periods=max(early, window)).median().shift(window)
    return median.to_numpy().T / _MEDIAN_CHI2_1


def rolled(frame: FrameT, window: int) -> FrameT:
    """Trailing sums over `window` periods of a complete period frame's counts (NaN until a
    full window is there), with the same columns (a data frame or its `period_columns`)."""
    if window == 1:
        return frame
    columns = {}
    for column, values in period_columns(frame).items():
        if column.endswith(("_num", "_den", "_sq")) or column == "orders":
            total = np.concatenate([[0.0], np.cumsum(np.nan_to_num(values.astype(float)))])
            summed = np.full(len(values), np.nan)
            summed[window - 1 :] = total[window:] - total[: len(values) - window + 1]
            columns[column] = summed
        else:
            columns[column] = values
    return columns if isinstance(frame, dict) else pd.DataFrame(columns)


def window_alarms(z: np.ndarray, settings: DetectorSettings) -> np.ndarray:
    """Where a trailing window's z passes the window limit."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(z) & (z > settings.window_z_limit)


def ewma_chart(z: np.ndarray, smoothing: float) -> np.ndarray:
    """EWMA of z (missing periods hold the previous value); z is one series or a stack of them
    (series x periods), charted row by row."""
    rows = np.atleast_2d(z)
    out = np.full(rows.shape, np.nan)
    level = np.zeros(len(rows))
    for index in range(rows.shape[1]):
        value = rows[:, index]
        seen = np.isfinite(value)
        level[seen] = smoothing * value[seen] + (1 - smoothing) * level[seen]
        out[seen, index] = level[seen]
    return out.reshape(np.shape(z))


def cusum_chart(z: np.ndarray, slack: float) -> tuple[np.ndarray, np.ndarray]:
    """One-sided upper CUSUM of z and, per period, the index where the current run began; z is
    one series or a stack of them (series x periods)."""
    rows = np.atleast_2d(z)
    statistic = np.full(rows.shape, np.nan)
    run_start = np.full(rows.shape, -1)
    level = np.zeros(len(rows))
    start = np.full(len(rows), -1)
    for index in range(rows.shape[1]):
        value = rows[:, index]
        seen = np.isfinite(value)
        level[seen] = np.maximum(0.0, level[seen] + value[seen] - slack)
        start[seen & (level == 0.0)] = -1
        start[seen & (level > 0.0) & (start < 0)] = index
        statistic[seen, index], run_start[seen, index] = level[seen], start[seen]
    return statistic.reshape(np.shape(z)), run_start.reshape(np.shape(z))


def bocpd_recent_change(
    z: np.ndarray, hazard: float, recent: int, max_run: int
) -> tuple[np.ndarray, np.ndarray]:
    """Adams & MacKay online change points for a unit-variance Gaussian with unknown mean.

    Returns, per period, the posterior probability that the run began within the last `recent`
    periods, and the posterior mean of the current run's level (prior N(0, 1)). z is one series
    or a stack of them (series x periods); a stack is updated together, one period at a time,
    over the series observed in that period (missing periods hold a series' state). Run lengths
    beyond `max_run` are dropped and the rest renormalized.
    """
    rows = np.atleast_2d(np.asarray(z, dtype=float))
    count, length = rows.shape
    probability = np.full(rows.shape, np.nan)
    level = np.full(rows.shape, np.nan)
    # Run length r (0-based slot) has seen r values: precision 1 + r under the N(0, 1) prior,
    # so the predictive variance of every slot is known in advance.
    precision = np.arange(1.0, max_run + 1.0)
    variance = 1.0 + 1.0 / precision
    scale = np.sqrt(variance)
    run_probability = np.zeros((count, max_run))
    run_probability[:, 0] = 1.0
    mean = np.zeros((count, max_run))
    seen = np.zeros(count, dtype=int)
    observed = np.isfinite(rows)
    for index in range(length):
        active = np.flatnonzero(observed[:, index])
        if not active.size:
            continue
        value = rows[active, index][:, None]
        prior, prior_mean = run_probability[active], mean[active]
        weighted = prior * (np.exp(-0.5 * (value - prior_mean) ** 2 / variance) / scale)
        posterior = np.empty_like(prior)
        posterior[:, 0] = weighted.sum(axis=1) * hazard
        posterior[:, 1:] = weighted[:, :-1] * (1 - hazard)
        total = posterior.sum(axis=1)
        lost = total <= 0  # every run length ruled out: start afresh
        posterior[~lost] /= total[~lost, None]
        posterior[lost] = 0.0
        posterior[lost, 0] = 1.0
        posterior_mean = np.empty_like(prior_mean)
        posterior_mean[:, 0] = 0.0
        posterior_mean[:, 1:] = (prior_mean[:, :-1] * precision[:-1] + value) / precision[1:]
        run_probability[active], mean[active] = posterior, posterior_mean
        seen[active] += 1
        # The start of a series is not evidence of a change: report after `recent` values.
        ready = seen[active] > recent
        weights = posterior[ready, 1 : recent + 1]  # runs that began within the last `recent`
        mass = weights.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            shifted = (weights * posterior_mean[ready, 1 : recent + 1]).sum(axis=1) / mass
        probability[active[ready], index] = mass
        level[active[ready], index] = np.where(mass > 0, shifted, 0.0)
    return probability.reshape(np.shape(z)), level.reshape(np.shape(z))


@dataclass(frozen=True)
class DetectorVotes:
    """Per period: which detectors fired, the vote count and the CUSUM run start."""

    fired: dict[str, np.ndarray]
    votes: np.ndarray
    alarm: np.ndarray
    run_start: np.ndarray


def run_detectors(z: np.ndarray, settings: DetectorSettings) -> DetectorVotes:
    """Run the four detectors over oriented residuals z."""
    return run_detectors_many(np.atleast_2d(z), settings)[0]


def run_detectors_many(z: np.ndarray, settings: DetectorSettings) -> list[DetectorVotes]:
    """Run the four detectors over a stack of oriented residual series (series x periods),
    charting all of them together, period by period; one DetectorVotes per series."""
    finite = np.isfinite(z)
    ewma = ewma_chart(z, settings.ewma_lambda)
    ewma_sd = np.sqrt(settings.ewma_lambda / (2 - settings.ewma_lambda))
    cusum, run_start = cusum_chart(z, settings.cusum_slack)
    change, level = bocpd_recent_change(
        z, settings.bocpd_hazard, settings.bocpd_recent, settings.bocpd_max_run
    )
    with np.errstate(invalid="ignore"):
        fired = {
            ZSCORE: finite & (z > settings.z_limit),
            "ewma": finite & (ewma > settings.ewma_limit * ewma_sd),
            "cusum": finite & (cusum > settings.cusum_limit),
            "bocpd": finite
            & (change > settings.bocpd_probability)
            & (level > settings.bocpd_min_shift),
        }
    votes = sum(array.astype(int) for array in fired.values())
    return [
        DetectorVotes(
            fired={name: array[row] for name, array in fired.items()},
            votes=votes[row],
            alarm=votes[row] >= settings.min_votes,
            run_start=run_start[row],
        )
        for row in range(len(z))
    ]
