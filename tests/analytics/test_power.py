"""Power analysis: one solver for sample size, detectable effect or power (checked against
statsmodels), the design effect, the ICC estimator and CUPED on simulated data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from analytics.power import (
    PowerError,
    cuped_variance_reduction,
    design_effect,
    duration_days,
    icc_from_clusters,
    solve_power,
)


def test_sample_size_for_90_to_85_percent_matches_statsmodels() -> None:
    result = solve_power("proportion", 0.90, effect=-0.05, alpha=0.05, power=0.8)

    expected = NormalIndPower().solve_power(
        effect_size=proportion_effectsize(0.85, 0.90), alpha=0.05, power=0.8, ratio=1.0
    )
    assert result.n_per_arm == pytest.approx(expected, rel=1e-9)
    assert result.n_per_arm == pytest.approx(680.35, abs=0.01)  # Cohen's h = 0.1519
    assert result.n_per_arm_ceil == 681
    assert result.n_total == 1362
    assert result.effect_size == pytest.approx(-0.1519, abs=1e-4)
    assert result.solved_for == "n_per_arm"


def test_solving_back_for_the_effect_from_that_sample_returns_the_effect() -> None:
    sample = solve_power("proportion", 0.90, effect=-0.05)

    solved = solve_power(
        "proportion", 0.90, n_per_arm=sample.n_per_arm, power=0.8, direction="decrease"
    )

    assert solved.solved_for == "effect"
    assert solved.effect == pytest.approx(-0.05, abs=1e-5)
    assert solved.treated == pytest.approx(0.85, abs=1e-5)


def test_solving_for_power_from_the_sample_and_effect_returns_the_target_power() -> None:
    sample = solve_power("proportion", 0.90, effect=-0.05)

    solved = solve_power("proportion", 0.90, effect=-0.05, n_per_arm=sample.n_per_arm, power=None)

    assert solved.power == pytest.approx(0.8, abs=1e-6)


def test_mean_metric_uses_cohens_d_effect_over_sd() -> None:
    result = solve_power("mean", 80.0, sd=12.0, effect=1.5)

    expected = NormalIndPower().solve_power(effect_size=1.5 / 12.0, alpha=0.05, power=0.8)
    assert result.n_per_arm == pytest.approx(expected, rel=1e-9)
    back = solve_power("mean", 80.0, sd=12.0, n_per_arm=result.n_per_arm)
    assert back.effect == pytest.approx(1.5, rel=1e-4)  # statsmodels' root-finding tolerance


def test_one_sided_test_needs_fewer_units_and_solves_the_effect_in_its_direction() -> None:
    two_sided = solve_power("proportion", 0.90, effect=-0.05)
    one_sided = solve_power("proportion", 0.90, effect=-0.05, alternative="smaller")

    assert one_sided.n_per_arm < two_sided.n_per_arm
    solved = solve_power("proportion", 0.90, n_per_arm=one_sided.n_per_arm, alternative="smaller")
    assert solved.effect == pytest.approx(-0.05, abs=1e-5)


def test_design_effect_inflates_the_sample_size_by_its_factor() -> None:
    plain = solve_power("proportion", 0.67, effect=0.03)
    clustered = solve_power("proportion", 0.67, effect=0.03, design_effect=2.5)

    assert clustered.n_per_arm == pytest.approx(2.5 * plain.n_per_arm, rel=1e-12)
    assert clustered.n_per_arm_unadjusted == pytest.approx(plain.n_per_arm, rel=1e-12)
    # the same orders detect a larger effect when they are clustered
    detectable = solve_power("proportion", 0.67, n_per_arm=plain.n_per_arm, design_effect=2.5)
    assert detectable.effect > 0.03


@pytest.mark.parametrize(
    ("cluster_size", "icc", "expected"),
    [(1, 0.3, 1.0), (101, 0.01, 2.0), (11, 0.05, 1.5), (500, 0.0, 1.0), (21, 1.0, 21.0)],
)
def test_design_effect_is_one_plus_cluster_size_minus_one_times_icc(
    cluster_size: float, icc: float, expected: float
) -> None:
    assert design_effect(cluster_size, icc) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("cluster_size", "icc"), [(0.5, 0.1), (10, 1.5), (10, -0.5)], ids=["m<1", "icc>1", "deff<=0"]
)
def test_design_effect_rejects_impossible_inputs(cluster_size: float, icc: float) -> None:
    with pytest.raises(PowerError):
        design_effect(cluster_size, icc)


@pytest.mark.parametrize(
    "arguments",
    [
        {"effect": 0.05, "n_per_arm": 100},  # nothing unknown
        {"power": None},  # effect, n and power all unknown
        {"effect": 0.5},  # 0.7 + 0.5 is not a proportion
        {"effect": 0.0},
    ],
)
def test_solve_power_rejects_questions_without_one_answer(arguments: dict) -> None:
    with pytest.raises(PowerError):
        solve_power("proportion", 0.7, **arguments)


def test_mean_without_sd_is_rejected() -> None:
    with pytest.raises(PowerError, match="sd"):
        solve_power("mean", 80.0, effect=1.0)


def _clustered(
    rng: np.random.Generator, sizes: np.ndarray, icc: float
) -> tuple[np.ndarray, np.ndarray]:
    """Values with unit total variance of which a share `icc` is between clusters."""
    effects = rng.normal(0.0, math.sqrt(icc), len(sizes))
    clusters = np.repeat(np.arange(len(sizes)), sizes)
    values = effects[clusters] + rng.normal(0.0, math.sqrt(1 - icc), clusters.size)
    return values, clusters


@pytest.mark.parametrize("icc", [0.02, 0.1, 0.3])
def test_icc_recovers_the_simulated_intra_class_correlation(icc: float) -> None:
    rng = np.random.default_rng(7)
    sizes = rng.integers(20, 80, size=2000)  # unequal clusters; the ICC's se is about 0.007

    values, clusters = _clustered(rng, sizes, icc)

    assert icc_from_clusters(values, clusters) == pytest.approx(icc, abs=0.02)


def test_icc_of_independent_binary_outcomes_is_near_zero() -> None:
    rng = np.random.default_rng(11)
    clusters = np.repeat(np.arange(300), 100)
    values = (rng.random(clusters.size) < 0.85).astype(float)

    assert icc_from_clusters(values, clusters) == pytest.approx(0.0, abs=0.005)


def test_icc_needs_two_clusters() -> None:
    with pytest.raises(PowerError):
        icc_from_clusters(np.array([1.0, 2.0, 3.0]), np.array(["a", "a", "a"]))


@pytest.mark.parametrize("correlation", [0.3, 0.6, 0.9])
def test_cuped_reduction_is_the_squared_correlation_of_pre_and_post(correlation: float) -> None:
    rng = np.random.default_rng(3)
    pre = rng.normal(10.0, 2.0, 20_000)
    noise = rng.normal(0.0, 2.0 * math.sqrt(1 - correlation**2), pre.size)
    post = 5.0 + correlation * (pre - 10.0) + noise

    result = cuped_variance_reduction(pre, post)

    assert result.variance_reduction == pytest.approx(correlation**2, abs=0.015)
    assert result.correlation == pytest.approx(correlation, abs=0.01)
    assert result.theta == pytest.approx(correlation, abs=0.02)
    assert result.adjusted_variance == pytest.approx(
        result.variance * (1 - result.variance_reduction), rel=1e-9
    )


def test_cuped_on_an_unrelated_covariate_removes_nothing() -> None:
    rng = np.random.default_rng(5)
    result = cuped_variance_reduction(rng.normal(size=10_000), rng.normal(size=10_000))

    assert result.variance_reduction == pytest.approx(0.0, abs=0.002)


@pytest.mark.parametrize(
    ("n_total", "daily", "expected"), [(150, 2700, 7), (27_000, 2700, 10), (27_001, 2700, 11)]
)
def test_duration_is_the_days_to_collect_the_sample_but_at_least_a_week(
    n_total: float, daily: float, expected: int
) -> None:
    assert duration_days(n_total, daily) == expected
