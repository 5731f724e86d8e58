"""analytics.boosting grows scikit-learn's HistGradientBoosting trees: the same nodes and, to the
bit, the same predictions and training predictions, for squared error and log loss, shallow and
deep trees, ties at thresholds, few rows, and a constant target; and tree_shap reads them."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from analytics.boosting import BoostedTrees, BoostingParameters, bin_features
from analytics.shap_attribution import tree_shap

PARAMETERS = [
    {"max_iter": 60, "max_depth": 6},  # the what-if's timing and duration models
    {"max_depth": 4, "max_leaf_nodes": 15},  # the SHAP attribution's classifier
    {"max_iter": 20, "max_leaf_nodes": 63, "min_samples_leaf": 5, "l2_regularization": 1.0},
]
IDS = ["what-if", "attribution", "deep-regularized"]


def _rows(count: int, seed: int) -> np.ndarray:
    """Binary, few-valued, rounded (ties at thresholds) and continuous features."""
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.integers(0, 2, count),
            rng.gamma(3, 4, count),
            np.round(rng.normal(size=count), 1),
            rng.integers(0, 24, count),
            rng.random(count),
            rng.integers(1, 20, count),
            rng.exponential(3, count),
        ]
    ).astype(float)


def _target(rows: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (
        20
        + 5 * rows[:, 0]
        + 0.8 * rows[:, 1]
        + rows[:, 2] * rows[:, 4]
        + rng.normal(0, 4, len(rows))
    )


def _same_trees(ours: BoostedTrees, theirs: HistGradientBoostingRegressor) -> None:
    assert len(ours.trees) == len(theirs._predictors)
    for tree, (predictor,) in zip(ours.trees, theirs._predictors, strict=True):
        nodes = predictor.nodes
        for field in ("count", "feature_idx", "left", "right", "depth", "is_leaf"):
            np.testing.assert_array_equal(tree[field], nodes[field])
        leaf = nodes["is_leaf"] == 1
        np.testing.assert_array_equal(tree["value"][leaf], nodes["value"][leaf])
        np.testing.assert_array_equal(tree["num_threshold"][~leaf], nodes["num_threshold"][~leaf])


@pytest.mark.parametrize("parameters", PARAMETERS, ids=IDS)
def test_regression_equals_scikit_learn_to_the_bit(parameters: dict[str, float]) -> None:
    rows, new_rows = _rows(3000, seed=1), _rows(1000, seed=2)
    target = _target(rows, seed=3)
    theirs = HistGradientBoostingRegressor(random_state=0, **parameters).fit(rows, target)
    ours = BoostedTrees("squared_error", BoostingParameters(**parameters)).fit(rows, target)
    _same_trees(ours, theirs)
    np.testing.assert_array_equal(ours.predict(new_rows), theirs.predict(new_rows))
    np.testing.assert_array_equal(ours.fitted_prediction, theirs.predict(rows))


@pytest.mark.parametrize("parameters", PARAMETERS, ids=IDS)
def test_classifier_equals_scikit_learn_to_the_bit(parameters: dict[str, float]) -> None:
    rows, new_rows = _rows(3000, seed=4), _rows(1000, seed=5)
    outcome = (_target(rows, seed=6) > 32).astype(int)
    theirs = HistGradientBoostingClassifier(random_state=0, **parameters).fit(rows, outcome)
    ours = BoostedTrees("log_loss", BoostingParameters(**parameters)).fit(rows, outcome)
    _same_trees(ours, theirs)
    assert ours.baseline_prediction == theirs._baseline_prediction.item()
    np.testing.assert_array_equal(
        ours.decision_function(new_rows), theirs.decision_function(new_rows)
    )
    np.testing.assert_array_equal(ours.fitted_prediction, theirs.decision_function(rows))
    ours_shap, ours_base = tree_shap(ours, new_rows)
    theirs_shap, theirs_base = tree_shap(theirs, new_rows)
    np.testing.assert_array_equal(ours_shap, theirs_shap)
    assert ours_base == theirs_base


def test_few_rows_and_a_constant_target_give_scikit_learns_trees() -> None:
    rows = _rows(50, seed=7)  # under 2 x min_samples_leaf rows below the root's children
    for target in (_target(rows, seed=8), np.full(50, 3.0)):
        theirs = HistGradientBoostingRegressor(max_iter=10, random_state=0).fit(rows, target)
        ours = BoostedTrees("squared_error", BoostingParameters(max_iter=10)).fit(rows, target)
        _same_trees(ours, theirs)
        np.testing.assert_array_equal(ours.predict(rows), theirs.predict(rows))


def test_missing_values_and_one_class_outcomes_are_refused() -> None:
    rows = _rows(100, seed=9)
    with_gap = rows.copy()
    with_gap[0, 1] = np.nan
    with pytest.raises(ValueError, match="missing values"):
        BoostedTrees("squared_error").fit(with_gap, _target(rows, seed=1))
    with pytest.raises(ValueError, match="both values"):
        BoostedTrees("log_loss").fit(rows, np.ones(100))
    model = BoostedTrees("squared_error", BoostingParameters(max_iter=2)).fit(
        rows, _target(rows, seed=1)
    )
    with pytest.raises(ValueError, match="missing values"):
        model.predict(with_gap)


def test_a_binning_of_more_features_serves_a_model_of_the_first_ones() -> None:
    """The what-if bins its timing model's features once and fits the duration model on the
    first of them: the same trees and training predictions as binning them alone."""
    rows = _rows(3000, seed=5)
    target = _target(rows, seed=6)
    binned = bin_features(rows)
    parameters = BoostingParameters(**PARAMETERS[0])
    for features in (rows.shape[1], rows.shape[1] - 1):
        alone = BoostedTrees("squared_error", parameters).fit(rows[:, :features], target)
        shared = BoostedTrees("squared_error", parameters).fit(
            rows[:, :features], target, binned=binned.first(features)
        )
        for ours, theirs in zip(shared.trees, alone.trees, strict=True):
            np.testing.assert_array_equal(ours, theirs)
        np.testing.assert_array_equal(shared.fitted_prediction, alone.fitted_prediction)
    with pytest.raises(ValueError, match="do not match"):
        BoostedTrees("squared_error", parameters).fit(rows[:, :3], target, binned=binned)


def test_binning_is_scikit_learns_binner() -> None:
    """bin_features takes the binner's thresholds and mapping without the binner itself: the
    same bins, thresholds and bin counts, with few distinct values and with more than 255."""
    from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper

    rows = _rows(3000, seed=7)
    binner = _BinMapper(n_bins=256, random_state=0, n_threads=1)
    expected = binner.fit_transform(rows)
    binned = bin_features(rows)
    np.testing.assert_array_equal(binned.codes, expected)
    np.testing.assert_array_equal(binned.n_bins_non_missing, binner.n_bins_non_missing_)
    for feature, thresholds in enumerate(binner.bin_thresholds_):
        np.testing.assert_array_equal(binned.thresholds[feature, : len(thresholds)], thresholds)
