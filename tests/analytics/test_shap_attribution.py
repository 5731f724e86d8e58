"""SHAP shift attribution on small synthetic order worlds where we know which driver moved."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from analytics.shap_attribution import (
    AdditivityError,
    ShapShift,
    check_additivity,
    shap_shift,
)

FEATURES = ["batched", "prep_min", "distance_miles", "load", "category"]
ROWS_PER_WINDOW = 6000  # above the default cap of 3000, so the default path samples
MODELS = ["logistic", "gbm"]

# Each scenario: the drivers' distribution in each window, which feature must rank first, and
# which must barely move. The outcome model (late given drivers) is the same in both windows.
SCENARIOS = {
    "batching_rise": {
        "baseline": {"batched_share": 0.3, "prep_mean": 12.0, "alcohol_share": 0.1},
        "incident": {"batched_share": 0.6, "prep_mean": 12.0, "alcohol_share": 0.1},
        "ranked_first": "batched",
        "unchanged": ["prep_min", "category"],
    },
    "prep_drift": {
        "baseline": {"batched_share": 0.3, "prep_mean": 12.0, "alcohol_share": 0.1},
        "incident": {"batched_share": 0.3, "prep_mean": 18.0, "alcohol_share": 0.1},
        "ranked_first": "prep_min",
        "unchanged": ["batched", "category"],
    },
    "alcohol_mix_rise": {
        "baseline": {"batched_share": 0.3, "prep_mean": 12.0, "alcohol_share": 0.1},
        "incident": {"batched_share": 0.3, "prep_mean": 12.0, "alcohol_share": 0.4},
        "ranked_first": "category",
        "unchanged": ["batched", "prep_min"],
    },
}
# An unchanged driver's |shift| (log-odds) must stay below this. Its shift is pure sampling
# noise: a difference of two 3000-row means of SHAP values with sd up to ~0.5 has a standard
# error of ~0.013 (the worst seen over ten other seeds was 0.028); the drivers that moved shift
# by 0.3-0.5.
NEAR_ZERO_SHIFT = 0.05


def _window_orders(
    seed: int, rows: int, batched_share: float, prep_mean: float, alcohol_share: float
) -> pd.DataFrame:
    """Orders of one window: late is logistic in the drivers with fixed coefficients."""
    rng = np.random.default_rng(seed)
    batched = rng.random(rows) < batched_share
    prep_min = np.round(rng.gamma(4.0, prep_mean / 4.0, rows))
    distance_miles = rng.gamma(3.0, 1.0, rows)
    load = rng.uniform(0.4, 1.1, rows)
    other_share = (1.0 - alcohol_share) / 2
    category = rng.choice(
        ["alcohol", "convenience", "grocery"], rows, p=[alcohol_share, other_share, other_share]
    )
    log_odds = (
        -2.2
        + 1.2 * batched
        + 0.08 * (prep_min - 12.0)
        + 0.25 * (distance_miles - 3.0)
        + 1.5 * (load - 0.75)
        + 1.0 * (category == "alcohol")
    )
    late = rng.random(rows) < 1.0 / (1.0 + np.exp(-log_odds))
    return pd.DataFrame(
        {
            "batched": batched,
            "prep_min": prep_min,
            "distance_miles": distance_miles,
            "load": load,
            "category": pd.Categorical(category),
            "late": late.astype(int),
        }
    )


def _orders(scenario: str, rows_per_window: int = ROWS_PER_WINDOW) -> pd.DataFrame:
    spec = SCENARIOS[scenario]
    baseline = _window_orders(1, rows_per_window, **spec["baseline"]).assign(window="baseline")
    incident = _window_orders(2, rows_per_window, **spec["incident"]).assign(window="incident")
    return pd.concat([baseline, incident], ignore_index=True)


@functools.cache
def _result(scenario: str, model: str) -> ShapShift:
    return shap_shift(_orders(scenario), FEATURES, "late", "window", model=model)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_driver_that_moved_is_ranked_first_and_unchanged_drivers_stay_near_zero(
    scenario: str, model: str
) -> None:
    result = _result(scenario, model)
    spec = SCENARIOS[scenario]
    top = result.feature(spec["ranked_first"])
    assert result.ranking[0] == spec["ranked_first"]
    assert top.shift > 0
    assert top.probability_contribution > 0
    for name in spec["unchanged"]:
        assert abs(result.feature(name).shift) < NEAR_ZERO_SHIFT


@pytest.mark.parametrize("model", MODELS)
def test_model_discriminates_and_reports_observed_rates(model: str) -> None:
    result = _result("batching_rise", model)
    orders = _orders("batching_rise")
    observed = orders.groupby("window")["late"].mean()
    assert result.observed_rate_baseline == pytest.approx(observed["baseline"], abs=1e-12)
    assert result.observed_rate_incident == pytest.approx(observed["incident"], abs=1e-12)
    # The simulated drivers give an AUC of about 0.72 for the true model.
    assert 0.65 < result.cross_validated_auc < 0.8
    assert result.feature("category").encoding == "one-hot"
    assert result.feature("batched").encoding == "boolean"


@pytest.mark.parametrize("model", MODELS)
def test_shap_values_add_up_to_model_output(model: str) -> None:
    result = _result("batching_rise", model)
    # Measured: ~2e-15 (logistic) and ~5e-15 (trees); both are float rounding.
    assert result.additivity_error < 1e-9
    assert sum(item.shift for item in result.features) == pytest.approx(
        result.mean_log_odds_incident - result.mean_log_odds_baseline, abs=1e-9
    )
    assert result.total_shift == pytest.approx(
        result.mean_log_odds_incident - result.mean_log_odds_baseline, abs=1e-9
    )
    assert sum(item.share_of_shift for item in result.features) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_probability_contributions_plus_residual_equal_observed_rate_change(
    scenario: str, model: str
) -> None:
    result = _result(scenario, model)
    contributions = sum(item.probability_contribution for item in result.features)
    assert contributions + result.probability_residual == pytest.approx(
        result.observed_rate_change, abs=1e-9
    )
    # Without the residual the contributions add up to the model's change in mean probability.
    assert contributions == pytest.approx(
        result.mean_probability_incident - result.mean_probability_baseline, abs=1e-9
    )
    # The residual is sampling noise and misfit here: small next to the change.
    assert abs(result.probability_residual) < 0.2 * abs(result.observed_rate_change)


def test_sampling_caps_rows_per_window_and_keeps_smaller_windows_whole() -> None:
    orders = pd.concat(
        [
            _orders("batching_rise", rows_per_window=4000).query("window == 'baseline'"),
            _orders("batching_rise", rows_per_window=600).query("window == 'incident'"),
        ],
        ignore_index=True,
    )
    result = shap_shift(
        orders, FEATURES, "late", "window", model="logistic", max_rows_per_window=1000
    )
    assert (result.rows_baseline, result.rows_incident) == (4000, 600)
    assert (result.rows_explained_baseline, result.rows_explained_incident) == (1000, 600)


def test_same_seed_gives_same_result_and_boolean_window_matches_labels() -> None:
    orders = _orders("batching_rise", rows_per_window=2000)
    by_label = shap_shift(orders, FEATURES, "late", "window", model="gbm", max_rows_per_window=800)
    again = shap_shift(orders, FEATURES, "late", "window", model="gbm", max_rows_per_window=800)
    by_flag = shap_shift(
        orders.assign(is_incident=orders["window"] == "incident").drop(columns="window"),
        FEATURES,
        "late",
        "is_incident",
        model="gbm",
        max_rows_per_window=800,
    )
    assert again == by_label
    assert by_flag == by_label


def _constant_incident_outcome(orders: pd.DataFrame) -> pd.DataFrame:
    return orders.assign(late=np.where(orders["window"] == "incident", 0, orders["late"]))


def _with_missing_prep(orders: pd.DataFrame) -> pd.DataFrame:
    return orders.assign(prep_min=orders["prep_min"].where(orders.index % 100 != 0))


def _many_categories(orders: pd.DataFrame) -> pd.DataFrame:
    return orders.assign(category=(orders.index % 30).astype(str))


INVALID_INPUTS = {
    "missing_column": (
        lambda orders: orders.drop(columns="load"),
        {},
        r"missing columns: \['load'\]",
    ),
    "constant_outcome_in_incident": (
        _constant_incident_outcome,
        {},
        r"every order of the incident window has late 0: nothing to attribute",
    ),
    "too_few_incident_rows": (
        lambda orders: orders[(orders["window"] == "baseline") | (orders.index % 200 == 0)],
        {},
        r"too few rows: the incident window has \d+, need at least 50",
    ),
    "unknown_window_label": (
        lambda orders: orders.replace({"window": {"incident": "during"}}),
        {},
        r"window column 'window' holds \['during'\]",
    ),
    "outcome_not_binary": (
        lambda orders: orders.assign(late=orders["late"] * 2),
        {},
        r"outcome 'late' must be 0/1; it also holds \[2\]",
    ),
    "missing_feature_values": (_with_missing_prep, {}, r"missing values .*'prep_min': 120"),
    "too_many_category_levels": (_many_categories, {}, r"'category' has 30 levels"),
    "unknown_model": (lambda orders: orders, {"model": "forest"}, r"unknown model 'forest'"),
    "cap_below_minimum": (
        lambda orders: orders,
        {"max_rows_per_window": 10},
        r"max_rows_per_window=10 is below the minimum",
    ),
    "too_few_late_orders_after_sampling": (
        lambda orders: orders.assign(late=(orders.index % 400 == 0).astype(int)),
        {"max_rows_per_window": 200},
        r"too few rows with late=1 in the sampled baseline window",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID_INPUTS))
def test_invalid_inputs_raise_value_error_naming_the_problem(case: str) -> None:
    transform, arguments, message = INVALID_INPUTS[case]
    orders = transform(_orders("batching_rise", rows_per_window=6000))
    with pytest.raises(ValueError, match=message):
        shap_shift(orders, FEATURES, "late", "window", **arguments)


def test_additivity_check_raises_when_shap_values_miss_the_output() -> None:
    shap_values = np.array([[0.5, -0.25], [1.0, 0.0]])
    raw_output = np.array([0.25 + 0.1, 1.0 + 0.1])  # base value 0.1
    assert check_additivity(shap_values, 0.1, raw_output, 1e-12) < 1e-12
    with pytest.raises(AdditivityError, match="max error 0.01"):
        check_additivity(shap_values, 0.1, raw_output + np.array([0.0, 0.01]), 1e-6)
