"""Diff-in-diff on simulated order worlds with a known effect, checked against statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from analytics.did import DidError, diff_in_diff

START = pd.Timestamp("2026-01-01")


def _world(
    seed: int,
    *,
    days: int = 20,
    change_day: int = 10,
    regions: int = 4,
    orders_per_cell: int = 30,
    effect: float = 0.0,
    treated_trend: float = 0.0,
    cluster_sd: float = 0.03,
) -> pd.DataFrame:
    """Orders with a binary `late` outcome, `orders_per_cell` per day x region x group.

    Late probability: 0.20, +0.05 for treated, a day shock shared by all orders of a day, a
    shock per day x region x group (so orders of a cluster are correlated), `effect` on
    treated orders from `change_day` on, and `treated_trend` per day on treated orders.
    """
    rng = np.random.default_rng(seed)
    day, region, treated = (
        grid.ravel()
        for grid in np.meshgrid(np.arange(days), np.arange(regions), [0, 1], indexing="ij")
    )
    day, region, treated = (np.repeat(column, orders_per_cell) for column in (day, region, treated))
    post = day >= change_day
    day_shock = rng.normal(0, 0.03, days)[day]
    cluster_shock = rng.normal(0, cluster_sd, (days, regions, 2))[day, region, treated]
    late_probability = (
        0.20
        + 0.05 * treated
        + day_shock
        + cluster_shock
        + effect * (treated * post)
        + treated_trend * treated * (day - change_day)
    )
    late = rng.random(len(day)) < np.clip(late_probability, 0, 1)
    hours = rng.uniform(0, 24, len(day))
    return pd.DataFrame(
        {
            "day": day,
            "region": np.array([f"region-{index}" for index in range(regions)])[region],
            "treated": treated.astype(bool),
            "post": post,
            "late": late.astype(float),
            "ordered_at": START + pd.to_timedelta(day + hours / 24, unit="D"),
        }
    )


def _did(frame: pd.DataFrame, **options: object):
    return diff_in_diff(frame, "late", "treated", "post", ["day", "region"], **options)


def test_no_effect_ci_covers_zero_in_about_95_percent_of_replications() -> None:
    results = [_did(_world(seed)) for seed in range(200)]
    covered = [result.ci_low <= 0 <= result.ci_high for result in results]
    # 200 replications: the binomial sd of the coverage is 1.5 points around 0.95 (over 1,000
    # other seeds this design covered 0.945).
    assert 0.90 <= np.mean(covered) <= 0.99


def test_injected_effect_of_ten_points_is_recovered_within_tolerance() -> None:
    result = _did(_world(7, orders_per_cell=200, effect=0.10), time="day")
    # The standard error here is about 0.012; 0.04 is over three of them.
    assert result.estimate == pytest.approx(0.10, abs=0.04)
    assert result.ci_low <= result.estimate <= result.ci_high
    assert result.ci_low <= 0.10 <= result.ci_high
    assert result.p_value < 0.001
    assert result.covariance == "cluster"
    assert result.clusters == 80
    assert result.orders == 20 * 4 * 2 * 200


def test_estimate_equals_difference_of_group_means_in_two_by_two_design() -> None:
    result = _did(_world(3, effect=0.05))
    means = result.group_means
    difference = (means.treated_post - means.treated_pre) - (means.control_post - means.control_pre)
    assert result.estimate == pytest.approx(difference, abs=1e-12)
    frame = _world(3, effect=0.05)
    by_group = frame.groupby(["treated", "post"])["late"].mean()
    assert means.treated_post == pytest.approx(by_group[(True, True)], abs=1e-12)
    assert means.control_pre == pytest.approx(by_group[(False, False)], abs=1e-12)
    assert means.treated_pre_orders == 10 * 4 * 30


def test_differential_pre_trend_in_treated_group_fails_pre_trend_test() -> None:
    result = _did(_world(11, orders_per_cell=200, treated_trend=0.01), time="day")
    assert result.pre_trend is not None
    # The slope's standard error here is about 0.003 per day; 0.008 is over 2.5 of them.
    assert result.pre_trend.slope_difference == pytest.approx(0.01, abs=0.008)
    assert result.pre_trend.p_value < 0.05
    assert result.pre_trend_ok is False


def test_parallel_pre_trends_pass_pre_trend_test() -> None:
    result = _did(_world(11, orders_per_cell=200, effect=0.10), time="day")
    assert result.pre_trend is not None
    assert result.pre_trend.slope_difference == pytest.approx(0.0, abs=0.008)
    assert result.pre_trend_ok is True
    assert result.pre_trend.periods == 10


def test_event_study_is_flat_before_change_and_near_effect_after() -> None:
    world = _world(
        5, days=10, change_day=5, regions=2, orders_per_cell=1500, effect=0.10, cluster_sd=0.0
    )
    result = _did(world, time="ordered_at")
    study = result.event_study
    assert study is not None
    assert study.reference_period == -1
    assert study.change_time == world.loc[world["post"], "ordered_at"].min()
    assert study.period_length == pd.Timedelta(days=1)
    relative = [period.relative_period for period in study.periods]
    assert relative == [-5, -4, -3, -2, 0, 1, 2, 3, 4]
    # Each coefficient's standard error is about 0.015; 0.05 is over three of them.
    for period in study.periods:
        expected = 0.10 if period.relative_period >= 0 else 0.0
        assert period.estimate == pytest.approx(expected, abs=0.05)
        assert period.ci_low <= period.estimate <= period.ci_high
    # Periods nest inside days here, so a period spans 2 clusters: the event study uses HC1.
    assert study.covariance == "HC1"
    assert any("event study" in note for note in result.notes)


def test_wls_on_aggregated_cells_equals_order_level_fit_and_statsmodels() -> None:
    orders = _world(21, effect=0.05)
    cells = (
        orders.groupby(["day", "region", "treated", "post"], as_index=False)
        .agg(late=("late", "mean"), orders=("late", "size"))
        .astype({"orders": float})
    )
    order_level = _did(orders, time="day")
    cell_level = _did(cells, time="day", weights="orders")
    assert cell_level.estimate == pytest.approx(order_level.estimate, abs=1e-12)
    assert cell_level.std_error == pytest.approx(order_level.std_error, rel=1e-9)
    assert cell_level.orders == order_level.orders
    assert cell_level.pre_trend.slope_difference == pytest.approx(
        order_level.pre_trend.slope_difference, abs=1e-12
    )

    design = orders.assign(
        treated=orders["treated"].astype(int),
        post=orders["post"].astype(int),
        cluster=pd.factorize(orders["day"].astype(str) + orders["region"])[0],
    )
    clustered = smf.ols("late ~ treated * post", design).fit(
        cov_type="cluster", cov_kwds={"groups": design["cluster"]}, use_t=True
    )
    assert order_level.covariance == "cluster"
    assert order_level.estimate == pytest.approx(clustered.params["treated:post"], abs=1e-12)
    assert order_level.std_error == pytest.approx(clustered.bse["treated:post"], rel=1e-9)
    assert order_level.p_value == pytest.approx(clustered.pvalues["treated:post"], rel=1e-6)

    robust = smf.ols("late ~ treated * post", design).fit(cov_type="HC1")
    order_hc1 = _did(orders, min_clusters=1000)
    assert order_hc1.covariance == "HC1"
    assert order_hc1.std_error == pytest.approx(robust.bse["treated:post"], rel=1e-9)


def test_few_clusters_fall_back_to_hc1_with_a_note() -> None:
    world = _world(2, change_day=3)
    result = diff_in_diff(world, "late", "treated", "post", "day", time="day")
    assert result.covariance == "HC1"
    assert result.min_cell_clusters == 3
    assert result.clusters == 20
    assert "only 3 clusters" in result.notes[0]


def test_pre_trend_is_skipped_with_a_single_pre_period() -> None:
    world = _world(2, change_day=1)
    result = _did(world, time="day", min_clusters=2)
    assert result.pre_trend is None
    assert result.pre_trend_ok is None
    assert any("pre-trend test skipped" in note for note in result.notes)


def test_results_without_time_have_no_pre_trend_or_event_study() -> None:
    result = _did(_world(2))
    assert result.pre_trend is None
    assert result.event_study is None


def _drop(frame: pd.DataFrame, mask: pd.Series) -> pd.DataFrame:
    return frame[~mask].reset_index(drop=True)


WORLD = _world(0)


@pytest.mark.parametrize(
    ("frame", "options", "message"),
    [
        (WORLD.drop(columns="late"), {}, r"lacks the columns \['late'\]"),
        (WORLD, {"time": "hour"}, r"lacks the columns \['hour'\]"),
        (_drop(WORLD, WORLD["treated"]), {}, "no treated rows"),
        (_drop(WORLD, ~WORLD["treated"]), {}, "no control rows"),
        (_drop(WORLD, ~WORLD["post"]), {}, "no pre-period rows"),
        (_drop(WORLD, WORLD["post"]), {}, "no post-period rows"),
        (_drop(WORLD, WORLD["treated"] & WORLD["post"]), {}, "treated group has no post"),
        (WORLD.assign(treated=2), {}, "must be boolean or 0/1"),
        (WORLD.assign(late=np.where(WORLD.index == 5, np.nan, 0.0)), {}, "1 missing or"),
        (WORLD.assign(late="yes"), {}, "must be numeric"),
        (WORLD.assign(region=None), {}, "cluster columns .* missing values"),
        (WORLD, {"alpha": 2}, "alpha must be between 0 and 1"),
        (WORLD.assign(n=0.0), {"weights": "n"}, "positive order counts"),
        (WORLD.assign(post=WORLD["ordered_at"].dt.hour >= 12), {"time": "day"}, "must mean"),
    ],
)
def test_invalid_inputs_raise_clear_errors(
    frame: pd.DataFrame, options: dict[str, object], message: str
) -> None:
    with pytest.raises(DidError, match=message):
        _did(frame, **options)
