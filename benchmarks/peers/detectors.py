"""Detection peers: each turns one cohort series into a score per period (higher: worse, NaN: no
verdict) computed only from what was known when that period was read, so a period's alarm is
known at its maturity and an as-of replay is a filter on `known_at` (no look-ahead).

- seasonal-z baseline (hand-written): the value against the same hour of the previous 7 days
  (daily grain: the previous 14 days), in their standard deviations.
- ruptures BinSeg (Truong et al. 2020): at each period, binary segmentation with the l2 cost on
  the trailing window of deseasonalized values (the seasonal z); the score is the cost saved by
  the best split (the penalty a penalized search must stay under to report it) when the split
  lies in the recent part of the window and the later segment is worse, else 0.
- statsforecast MSTL (Bandara et al. 2021): refit at each midnight on the last three weeks
  known then, forecast the day; the score is the shortfall below the forecast in standard
  deviations of the fit's remainder at that hour of the day.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.metrics import Grain

SEASONAL_LAGS = {"hour": tuple(range(24, 24 * 8, 24)), "day": tuple(range(1, 15))}
MIN_REFERENCES = 4
BINSEG_WINDOW = {"hour": 72, "day": 28}  # periods of the trailing window
BINSEG_RECENT = {"hour": 24, "day": 7}  # a split older than this many periods is not new
BINSEG_MIN_SIZE = 3
MSTL_SEASONS = {"hour": (24, 168), "day": (7,)}
MSTL_BLOCK = {"hour": 24, "day": 1}  # periods forecast per refit (a day)
MSTL_MIN_HISTORY = {"hour": 7 * 24, "day": 14}
MSTL_MAX_HISTORY = {"hour": 21 * 24, "day": 63}
KNOWN_LAG = 2  # a period is known two periods later at the latest (its end + maturity)

Scorer = Callable[[np.ndarray, Grain, int], np.ndarray]


@dataclass(frozen=True)
class DetectionPeer:
    """A detection method: its name, the package it needs (None: hand-written) and its scorer
    (values, grain, first period to score) -> score per period."""

    name: str
    package: str | None
    score: Scorer


def seasonal_z(values: np.ndarray, grain: Grain, start: int = 0) -> np.ndarray:
    """(reference mean - value) / reference standard deviation per period, the reference being
    the same hour of the previous 7 days (daily: the previous 14 days); NaN with fewer than
    MIN_REFERENCES known references or none spread."""
    lags = SEASONAL_LAGS[grain]
    shifted = np.full((len(lags), len(values)), np.nan)
    for row, lag in enumerate(lags):
        shifted[row, lag:] = values[:-lag]
    enough = np.isfinite(shifted).sum(axis=0) >= MIN_REFERENCES
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(shifted, axis=0)
        spread = np.nanstd(shifted, axis=0, ddof=1)
        z = np.where(enough & (spread > 0), (mean - values) / spread, np.nan)
    z[:start] = np.nan
    return z


def binseg_scores(values: np.ndarray, grain: Grain, start: int = 0) -> np.ndarray:
    """ruptures' Binseg (l2 cost, one split) on the trailing window of seasonal z ending at each
    period from `start`: the cost the split saves when it is recent and the later segment is
    worse (0 otherwise, NaN where the period or the window has too little data)."""
    import ruptures

    deseasonalized = np.clip(seasonal_z(values, grain), -10.0, 10.0)
    window_length, recent = BINSEG_WINDOW[grain], BINSEG_RECENT[grain]
    scores = np.full(len(values), np.nan)
    for index in range(start, len(values)):
        if not np.isfinite(deseasonalized[index]):
            continue
        window = deseasonalized[max(0, index - window_length + 1) : index + 1]
        window = window[np.isfinite(window)]
        size = len(window)
        if size < 4 * BINSEG_MIN_SIZE:
            continue
        search = ruptures.Binseg(model="l2", min_size=BINSEG_MIN_SIZE, jump=1).fit(window)
        split = search.predict(n_bkps=1)[0]
        worse = window[split:].mean() > window[:split].mean()
        if split < size - recent or not worse:
            scores[index] = 0.0
            continue
        cost = search.cost
        scores[index] = cost.error(0, size) - cost.error(0, split) - cost.error(split, size)
    return scores


def _filled(history: np.ndarray) -> np.ndarray | None:
    """History with its gaps (NaN) interpolated; None when nothing is known."""
    if not np.isfinite(history).any():
        return None
    return pd.Series(history).interpolate(limit_direction="both").to_numpy()


def _phase_scale(remainder: np.ndarray, first: int, season: int) -> np.ndarray:
    """The standard deviation of an MSTL fit's remainder at each phase of the season (hour of
    the day), the fit's first period being absolute index `first`: the residual threshold is
    read in these units, as night hours are noisier than dinner hours."""
    phases = (first + np.arange(len(remainder))) % season
    scale = np.full(season, np.nan)
    for phase in range(season):
        values = remainder[phases == phase]
        if len(values) >= MIN_REFERENCES:
            scale[phase] = np.std(values, ddof=1)
    return scale


def mstl_scores(values: np.ndarray, grain: Grain, start: int = 0) -> np.ndarray:
    """statsforecast's MSTL refit at the start of each block (a day) holding a period from
    `start` on the (at most MSTL_MAX_HISTORY) values known then, forecasting the block:
    (forecast - value) / the fit's remainder standard deviation at that phase, per period."""
    from statsforecast.models import MSTL

    block, season = MSTL_BLOCK[grain], MSTL_SEASONS[grain][0]
    scores = np.full(len(values), np.nan)
    for refit in range((start // block) * block, len(values), block):
        known = refit - KNOWN_LAG + 1  # periods [0, known) are known when the block starts
        first = max(0, known - MSTL_MAX_HISTORY[grain])
        history = _filled(values[first:known]) if known >= MSTL_MIN_HISTORY[grain] else None
        if history is None:
            continue
        seasons = [s for s in MSTL_SEASONS[grain] if len(history) >= 2 * s]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = MSTL(season_length=seasons).fit(history)
            forecast = fitted.predict(h=refit + block - known)["mean"][-block:]
        scale = _phase_scale(fitted.model_["remainder"].to_numpy(), first, season)
        stop = min(refit + block, len(values))
        sigma = scale[np.arange(refit, stop) % season]
        with np.errstate(invalid="ignore", divide="ignore"):
            scores[refit:stop] = np.where(
                sigma > 0, (forecast[: stop - refit] - values[refit:stop]) / sigma, np.nan
            )
    scores[:start] = np.nan
    return scores


DETECTION_PEERS: tuple[DetectionPeer, ...] = (
    DetectionPeer("seasonal-z baseline", None, seasonal_z),
    DetectionPeer("ruptures BinSeg", "ruptures", binseg_scores),
    DetectionPeer("statsforecast MSTL", "statsforecast", mstl_scores),
)
