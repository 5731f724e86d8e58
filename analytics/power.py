"""Power analysis for two-arm experiments: sample size, detectable effect or power from one call,
the design effect of clustered units, the intra-class correlation and CUPED variance reduction.

The test is a two-sample z-test (statsmodels' NormalIndPower). Proportions use Cohen's h
(arcsine transform, statsmodels' proportion_effectsize); means use Cohen's d = effect / sd.
Clustered randomization (switchback cells, stores, users) inflates the variance by the design
effect DEFF = 1 + (m - 1) ICC (Kish 1965), so the orders needed per arm are DEFF times those of
an order-level test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

Kind = Literal["proportion", "mean"]
Alternative = Literal["two-sided", "larger", "smaller"]
Direction = Literal["increase", "decrease"]
Unknown = Literal["effect", "n_per_arm", "power"]


class PowerError(ValueError):
    """A power question that has no answer (several unknowns, impossible values)."""


@dataclass(frozen=True)
class PowerResult:
    """A solved power calculation; every field is filled in, whichever one was the unknown.

    `n_per_arm` counts units of the metric's denominator (orders, delivered orders) in the
    first arm, inflated by `design_effect`; the other arm has `ratio` times as many.
    `effect` is absolute (a share difference for proportions, the metric's unit for means);
    `effect_size` is the standardized effect (Cohen's h or d).
    """

    kind: Kind
    solved_for: Unknown
    baseline: float
    sd: float
    effect: float
    effect_size: float
    n_per_arm: float
    alpha: float
    power: float
    design_effect: float
    ratio: float
    alternative: Alternative

    @property
    def treated(self) -> float:
        """The treated arm's level: baseline + effect."""
        return self.baseline + self.effect

    @property
    def relative_effect(self) -> float:
        """The effect as a share of the baseline."""
        return self.effect / self.baseline if self.baseline else math.inf

    @property
    def n_per_arm_unadjusted(self) -> float:
        """Units per arm an unclustered (order-level) test would need: n_per_arm / DEFF."""
        return self.n_per_arm / self.design_effect

    @property
    def n_per_arm_ceil(self) -> int:
        """n_per_arm rounded up to whole units."""
        return math.ceil(self.n_per_arm - 1e-9)

    @property
    def n_total(self) -> int:
        """Both arms together, in whole units."""
        return self.n_per_arm_ceil + math.ceil(self.ratio * self.n_per_arm - 1e-9)


def _standardized(kind: Kind, baseline: float, sd: float, effect: float) -> float:
    if kind == "proportion":
        treated = baseline + effect
        if not 0.0 <= treated <= 1.0:
            raise PowerError(
                f"baseline {baseline:g} + effect {effect:g} = {treated:g} is not a proportion"
            )
        return float(proportion_effectsize(treated, baseline))
    return effect / sd


def _effect_from_standardized(
    kind: Kind, baseline: float, sd: float, effect_size: float, sign: int
) -> float:
    if kind == "mean":
        return sign * effect_size * sd
    angle = math.asin(math.sqrt(baseline)) + sign * effect_size / 2
    if not 0.0 <= angle <= math.pi / 2:
        raise PowerError(
            f"no proportion {'above' if sign > 0 else 'below'} {baseline:g} is detectable "
            f"with this sample (Cohen's h {effect_size:.3g} needed)"
        )
    return math.sin(angle) ** 2 - baseline


def solve_power(
    kind: Kind,
    baseline: float,
    sd: float | None = None,
    effect: float | None = None,
    n_per_arm: float | None = None,
    alpha: float = 0.05,
    power: float | None = 0.8,
    design_effect: float = 1.0,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
    direction: Direction = "increase",
) -> PowerResult:
    """Solve for the one unknown of (effect, n_per_arm, power); pass the other two.

    Like statsmodels' `solve_power`, exactly one of them must be None. `baseline` is the
    control arm's level (a proportion in (0, 1), or a mean); `sd` the per-unit standard
    deviation (means only; a proportion's is sqrt(p (1 - p))). `design_effect` multiplies the
    variance (clustering, or clustering times (1 - CUPED reduction)). When solving for the
    effect, its sign follows `alternative` ("smaller" = a decrease) or, two-sided, `direction`.
    Returns a PowerResult with all fields filled in.
    """
    given: tuple[tuple[Unknown, float | None], ...] = (
        ("effect", effect),
        ("n_per_arm", n_per_arm),
        ("power", power),
    )
    unknowns = [name for name, v in given if v is None]
    if len(unknowns) != 1:
        raise PowerError(f"exactly one of effect, n_per_arm, power must be None; got {unknowns}")
    if not 0 < alpha < 1:
        raise PowerError(f"alpha must be in (0, 1); got {alpha}")
    if power is not None and not alpha < power < 1:
        raise PowerError(f"power must be in (alpha, 1); got {power}")
    if design_effect <= 0 or ratio <= 0:
        raise PowerError("design_effect and ratio must be positive")
    if kind == "proportion":
        if not 0 < baseline < 1:
            raise PowerError(f"a proportion baseline must be in (0, 1); got {baseline}")
        sd = math.sqrt(baseline * (1 - baseline))
    elif kind == "mean":
        if sd is None or not sd > 0:
            raise PowerError("a mean needs a positive sd")
    else:
        raise PowerError(f"unknown kind {kind!r}; use 'proportion' or 'mean'")
    if n_per_arm is not None and n_per_arm <= 0:
        raise PowerError(f"n_per_arm must be positive; got {n_per_arm}")

    engine = NormalIndPower()
    # statsmodels' one-sided alternatives expect a signed effect; work with its magnitude.
    side = "two-sided" if alternative == "two-sided" else "larger"
    if effect is not None:
        if effect == 0:
            raise PowerError("the effect must be non-zero")
        if alternative == "larger" and effect < 0 or alternative == "smaller" and effect > 0:
            raise PowerError(f"effect {effect:g} points against the alternative {alternative!r}")
        effect_size = _standardized(kind, baseline, sd, effect)
        if n_per_arm is None:
            assert power is not None
            effective_n = engine.solve_power(
                effect_size=abs(effect_size),
                nobs1=None,
                alpha=alpha,
                power=power,
                ratio=ratio,
                alternative=side,
            )
            n_per_arm = float(effective_n) * design_effect
        else:
            power = float(
                engine.power(
                    effect_size=abs(effect_size),
                    nobs1=n_per_arm / design_effect,
                    alpha=alpha,
                    ratio=ratio,
                    alternative=side,
                )
            )
    else:
        assert n_per_arm is not None and power is not None
        effect_size = abs(
            float(
                engine.solve_power(
                    effect_size=None,
                    nobs1=n_per_arm / design_effect,
                    alpha=alpha,
                    power=power,
                    ratio=ratio,
                    alternative=side,
                )
            )
        )
        if alternative == "two-sided":
            sign = 1 if direction == "increase" else -1
        else:
            sign = 1 if alternative == "larger" else -1
        effect = _effect_from_standardized(kind, baseline, sd, effect_size, sign)
        effect_size = sign * effect_size
    return PowerResult(
        kind=kind,
        solved_for=unknowns[0],
        baseline=baseline,
        sd=float(sd),
        effect=float(effect),
        effect_size=float(effect_size),
        n_per_arm=float(n_per_arm),
        alpha=alpha,
        power=float(power),
        design_effect=design_effect,
        ratio=ratio,
        alternative=alternative,
    )


def design_effect(cluster_size: float, icc: float) -> float:
    """Kish's design effect 1 + (m - 1) ICC for clusters of (mean) size m.

    For clusters of unequal size pass m (1 + CV^2), the size-weighted mean (Eldridge et al.
    2006). Returns the factor by which clustering inflates the variance of a mean.
    """
    if cluster_size < 1:
        raise PowerError(f"cluster size must be at least 1; got {cluster_size}")
    if not -1 <= icc <= 1:
        raise PowerError(f"ICC must be in [-1, 1]; got {icc}")
    deff = 1 + (cluster_size - 1) * icc
    if deff <= 0:
        raise PowerError(f"ICC {icc:g} is too negative for clusters of {cluster_size:g}")
    return deff


def icc_from_clusters(values: np.ndarray, clusters: np.ndarray) -> float:
    """Intra-class correlation by the one-way ANOVA estimator (Fisher 1925; Donner 1986).

    ICC = (MSB - MSW) / (MSB + (n0 - 1) MSW), with n0 = (N - sum n_j^2 / N) / (k - 1) the
    adjusted mean cluster size for unequal clusters. `values` are per-unit outcomes (0/1 for a
    proportion), `clusters` their cluster labels. The estimate may be slightly negative when the
    clusters differ less than chance would make them.
    """
    values = np.asarray(values, dtype=float)
    labels = np.asarray(clusters)
    if values.shape != labels.shape or values.ndim != 1:
        raise PowerError("values and clusters must be 1-d arrays of the same length")
    _, codes = np.unique(labels, return_inverse=True)
    counts = np.bincount(codes).astype(float)
    k, total = len(counts), float(values.size)
    if k < 2 or total <= k:
        raise PowerError(
            f"need at least 2 clusters and more units than clusters; got {k}, {total:g}"
        )
    sums = np.bincount(codes, weights=values)
    squares = np.bincount(codes, weights=values * values)
    means = sums / counts
    grand = sums.sum() / total
    between = float(np.sum(counts * (means - grand) ** 2)) / (k - 1)
    within = float(squares.sum() - np.sum(counts * means * means)) / (total - k)
    n0 = (total - float(np.sum(counts * counts)) / total) / (k - 1)
    denominator = between + (n0 - 1) * within
    return 0.0 if denominator <= 0 else (between - within) / denominator


@dataclass(frozen=True)
class CupedResult:
    """CUPED on one covariate: Y_cuped = Y - theta (X - mean X).

    `variance_reduction` = corr(X, Y)^2, the share of Var(Y) the adjustment removes;
    `adjusted_variance` = Var(Y_cuped) = Var(Y) (1 - corr^2).
    """

    theta: float
    correlation: float
    variance_reduction: float
    variance: float
    adjusted_variance: float
    pairs: int


def cuped_variance_reduction(pre: np.ndarray, post: np.ndarray) -> CupedResult:
    """Variance reduction from CUPED with the pre-period value as covariate (Deng et al. 2013).

    `pre` and `post` are the same units' values before and during the period (aligned).
    Returns theta = Cov(X, Y) / Var(X), the correlation, the reduction corr^2 and the variance
    of the outcome before and after adjustment (sample variances, ddof 1).
    """
    x = np.asarray(pre, dtype=float)
    y = np.asarray(post, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or x.size < 3:
        raise PowerError("pre and post must be aligned 1-d arrays of at least 3 units")
    variance = float(np.var(y, ddof=1))
    pre_variance = float(np.var(x, ddof=1))
    if pre_variance == 0 or variance == 0:
        return CupedResult(0.0, 0.0, 0.0, variance, variance, int(x.size))
    covariance = float(np.cov(x, y, ddof=1)[0, 1])
    theta = covariance / pre_variance
    correlation = covariance / math.sqrt(pre_variance * variance)
    adjusted = y - theta * (x - x.mean())
    return CupedResult(
        theta=theta,
        correlation=correlation,
        variance_reduction=correlation**2,
        variance=variance,
        adjusted_variance=float(np.var(adjusted, ddof=1)),
        pairs=int(x.size),
    )


def duration_days(n_total: float, daily_volume: float, minimum_days: int = 7) -> int:
    """Days to collect n_total units at daily_volume a day, never fewer than minimum_days
    (a full weekly cycle)."""
    if daily_volume <= 0:
        raise PowerError("daily volume must be positive")
    return max(minimum_days, math.ceil(n_total / daily_volume - 1e-9))
