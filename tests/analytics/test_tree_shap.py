"""analytics.shap_attribution.tree_shap gives shap's TreeExplainer values (path-dependent) and base
value for a HistGradientBoostingClassifier: shallow and deep trees, features split on twice along
a path, ties at thresholds, trees of one leaf, and trees with more than 62 splits."""

from __future__ import annotations

import numpy as np
import pytest
import shap
from sklearn.ensemble import HistGradientBoostingClassifier

from analytics.shap_attribution import ShapAttributionError, tree_shap

TOLERANCE = 1e-10  # log-odds; measured ~1e-14 (the sums run in another order than shap's)


def _rows(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Continuous, binary and coarsely rounded features (ties at thresholds), with interactions."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(count, 8))
    rows[:, 3] = rng.integers(0, 2, count)
    rows[:, 4] = np.round(rows[:, 0] + rng.normal(size=count), 1)
    rows[:, 5] = rng.integers(0, 5, count)
    signal = rows[:, 0] + rows[:, 1] * rows[:, 2] + 0.5 * rows[:, 3] - 0.3 * rows[:, 5]
    return rows, (signal + rng.normal(size=count) > 0.3).astype(int)


@pytest.mark.parametrize(
    "parameters",
    [
        {"max_depth": 4, "max_leaf_nodes": 15},  # the attribution's model
        {"max_depth": None, "max_leaf_nodes": 31, "max_iter": 30},
        {"max_depth": None, "max_leaf_nodes": 80, "max_iter": 5, "min_samples_leaf": 5},
    ],
    ids=["attribution", "deep", "over-62-splits"],
)
def test_tree_shap_equals_shaps_tree_explainer(parameters: dict[str, object]) -> None:
    rows, outcome = _rows(3000, seed=1)
    model = HistGradientBoostingClassifier(random_state=0, **parameters).fit(rows, outcome)
    explainer = shap.TreeExplainer(model)
    expected = explainer.shap_values(rows, check_additivity=False)
    values, base_value = tree_shap(model, rows)
    assert np.abs(values - expected).max() < TOLERANCE
    assert base_value == pytest.approx(float(np.ravel(explainer.expected_value)[0]), abs=1e-12)
    additivity = np.abs(values.sum(axis=1) + base_value - model.decision_function(rows))
    assert additivity.max() < TOLERANCE


def test_a_model_of_single_leaves_has_only_its_base_value() -> None:
    rows = np.ones((200, 3))
    outcome = np.tile([0, 1, 1, 1], 50)
    model = HistGradientBoostingClassifier(max_iter=5).fit(rows, outcome)
    values, base_value = tree_shap(model, rows)
    assert not values.any()
    assert base_value == pytest.approx(float(model.decision_function(rows[:1])[0]), abs=1e-12)


def test_rows_with_missing_values_are_refused() -> None:
    rows, outcome = _rows(500, seed=2)
    model = HistGradientBoostingClassifier(max_iter=5).fit(rows, outcome)
    rows[0, 0] = np.nan
    with pytest.raises(ShapAttributionError):
        tree_shap(model, rows)
