"""SHAP shift attribution: which drivers moved an order outcome between a baseline and an incident.

One outcome model (late, canceled, refunded: 1/0) is fit on the pooled rows of both windows, so
both windows are explained by the same function; each feature's mean SHAP value (Lundberg & Lee
2017) is then compared between the windows. Because SHAP values add up to the model's raw output,
the per-feature shifts add up exactly to the change in mean log-odds between the windows.

Models: logistic regression on standardized features, explained by shap.LinearExplainer
(interventional: phi_j = coef_j (x_j - mean_j), the mean over the pooled explained rows), and a
gradient-boosted classifier (scikit-learn's HistGradientBoostingClassifier, fitted by
analytics.boosting: the same trees to the bit, compiled) explained by TreeSHAP (Lundberg et al.
2020) with the default tree-path-dependent perturbation. Both are explained in log-odds.
TreeSHAP is computed here (`tree_shap`), not by shap's C extension: the same values (to ~1e-14;
a test compares them) in about a third of the time, from each leaf's table of contributions per
pattern of the conditions on its path (the precomputation of Fast TreeSHAP v2, Yang 2021),
evaluated once per distinct pattern of a tree's split conditions among the rows.

Features: numeric columns are used as they are, booleans as 0/1, and categorical columns (string,
object or category dtype, at most MAX_CATEGORY_LEVELS levels) are one-hot encoded with one column
per level seen in the sampled rows; a categorical feature's SHAP value is the sum of its columns'
(SHAP values are additive, so this is the attribution to the group of columns). Numeric codes
such as `hour` stay numeric: pass them as strings to one-hot encode them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from scipy import special
from threadpoolctl import threadpool_limits

if TYPE_CHECKING:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline

    from analytics.boosting import BoostedTrees

ModelKind = Literal["gbm", "logistic"]
Encoding = Literal["numeric", "boolean", "one-hot"]

BASELINE, INCIDENT = "baseline", "incident"
MIN_ROWS_PER_WINDOW = 50
# Each window's sample needs a few rows of each outcome so that every cross-validation fold
# sees both outcomes and the model has something to learn from in both windows.
MIN_ROWS_PER_OUTCOME = 10
MAX_CATEGORY_LEVELS = 20
CV_FOLDS = 5
# Max |sum of SHAP + base value - raw output| accepted. Measured on the tests' worlds: ~1e-15
# (logistic) and ~1e-14 (trees: shap reads HistGradientBoosting's float64 thresholds, so paths
# match the model's exactly). A wrong path would cost a whole leaf value (~1e-2), far above this.
ADDITIVITY_TOLERANCE = 1e-6
# Below this |f - base| (log-odds) a row's secant slope is replaced by the sigmoid's derivative
# at the midpoint, which agrees with it to O(d^2) and avoids 0/0.
_SECANT_MIN_STEP = 1e-8


class ShapAttributionError(ValueError):
    """Inputs that cannot be attributed: missing columns, bad values, too few or constant rows."""


class AdditivityError(ArithmeticError):
    """SHAP values plus the base value do not reproduce the model's raw output."""


@dataclass(frozen=True)
class FeatureShift:
    """One feature's mean SHAP value in each window and how it moved.

    `mean_shap_baseline`, `mean_shap_incident` and `shift` (incident - baseline) are in log-odds
    of the outcome; `share_of_shift` is `shift` over the total shift of all features (NaN when
    the total is 0). `probability_contribution` is the feature's part of the change in the
    outcome rate, in probability units (a heuristic; see `shap_shift`).
    """

    feature: str
    encoding: Encoding
    mean_shap_baseline: float
    mean_shap_incident: float
    shift: float
    share_of_shift: float
    probability_contribution: float


@dataclass(frozen=True)
class ShapShift:
    """Per-feature shifts of mean SHAP values between the baseline and the incident window.

    `features` is sorted by |shift|, largest first. Log-odds fields: `base_value` (the
    explainer's expected value), `mean_log_odds_*` (mean raw model output over the explained
    rows of each window) and `total_shift` (their difference, = sum of the features' shifts).
    Probability fields: `mean_probability_*` (mean predicted probability over the explained
    rows), `observed_rate_*` (outcome rate over all rows of each window) and
    `probability_residual` (observed change in rate - sum of the features' probability
    contributions: model misfit plus sampling). `cross_validated_auc` is the out-of-fold ROC AUC
    of the model on the pooled explained rows (CV_FOLDS folds). `additivity_error` is
    max |sum of SHAP + base value - raw output| over the explained rows.
    """

    outcome: str
    model: ModelKind
    features: tuple[FeatureShift, ...]
    base_value: float
    mean_log_odds_baseline: float
    mean_log_odds_incident: float
    total_shift: float
    mean_probability_baseline: float
    mean_probability_incident: float
    observed_rate_baseline: float
    observed_rate_incident: float
    probability_residual: float
    cross_validated_auc: float
    additivity_error: float
    rows_baseline: int
    rows_incident: int
    rows_explained_baseline: int
    rows_explained_incident: int

    @property
    def observed_rate_change(self) -> float:
        """Incident minus baseline outcome rate, in probability units."""
        return self.observed_rate_incident - self.observed_rate_baseline

    @property
    def ranking(self) -> tuple[str, ...]:
        """Feature names, largest |shift| first."""
        return tuple(item.feature for item in self.features)

    def feature(self, name: str) -> FeatureShift:
        """The shift of one feature, by name."""
        for item in self.features:
            if item.feature == name:
                return item
        raise KeyError(name)


def shap_shift(
    frame: pd.DataFrame,
    features: Sequence[str],
    outcome: str,
    window: str,
    model: ModelKind = "gbm",
    max_rows_per_window: int = 3000,
    seed: int = 0,
) -> ShapShift:
    """Attribute the change of a 1/0 outcome between two windows to features via mean SHAP shifts.

    `window` names a column holding "baseline"/"incident" (or a boolean, True = incident). At
    most `max_rows_per_window` rows per window are sampled (stratified by outcome, seeded) to fit
    one model on the pooled rows and to explain them; SHAP per Lundberg & Lee 2017 (logistic:
    LinearExplainer) and TreeSHAP, Lundberg et al. 2020 (gbm). Shifts are in log-odds.

    Probability scale (a heuristic): each row's log-odds SHAP values are rescaled by that row's
    secant slope of the sigmoid between the base value b and its output f, (s(f) - s(b)) / (f - b),
    so a row's probability contributions add up exactly to s(f) - s(b); this is the DeepLIFT
    Rescale rule (Shrikumar et al. 2017) applied to the logistic link. A feature's contribution is
    the incident mean minus the baseline mean of its rescaled values; they add up to the change in
    mean predicted probability, and `probability_residual` takes the rest of the observed change.
    Unlike one global factor (change in rate / change in mean log-odds), it weighs a log-odds shift
    by where on the sigmoid the rows it moves sit, and does not blow up when the log-odds shifts
    cancel. The rescaled values are not Shapley values of the probability output.

    Raises ShapAttributionError (a ValueError) for unusable inputs and AdditivityError if SHAP
    values do not add up to the model output within ADDITIVITY_TOLERANCE.
    """
    features = list(features)
    _validate_arguments(frame, features, outcome, window, model, max_rows_per_window)
    is_incident = _incident_mask(frame[window], window)
    outcome_values = _outcome_values(frame[outcome], outcome)
    _validate_windows(is_incident, outcome_values, outcome)
    encodings = {name: _encoding(frame[name], name) for name in features}

    sampled = _stratified_sample(is_incident, outcome_values, max_rows_per_window, seed)
    sample_is_incident = is_incident[sampled]
    sample_outcome = outcome_values[sampled]
    _validate_sample(sample_is_incident, sample_outcome, outcome)
    design, membership = _design_matrix(frame.iloc[sampled], features, encodings)

    # scikit-learn (and, for the logistic model, shap) is imported here, not with the module: a
    # command that attributes nothing does not pay for it (~1 s).
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    # Single-threaded: these fits take ~0.1 s, and on a busy 2-core machine OpenMP threads
    # contending with other processes made them up to 20x slower.
    with threadpool_limits(limits=1):
        strata = 2 * sample_is_incident.astype(int) + sample_outcome
        folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed)
        out_of_fold = np.empty(len(sample_outcome))
        for train, test in folds.split(design, strata):  # as cross_val_predict does
            fold_model = _estimator(model).fit(design[train], sample_outcome[train])
            out_of_fold[test] = fold_model.decision_function(design[test])
        fitted = _estimator(model).fit(design, sample_outcome)
        shap_values, base_value, raw_output = _explain(fitted, design)
    additivity = check_additivity(shap_values, base_value, raw_output, ADDITIVITY_TOLERANCE)

    slope = _secant_slope(raw_output, base_value)
    observed_baseline = float(outcome_values[~is_incident].mean())
    observed_incident = float(outcome_values[is_incident].mean())

    # Summing a feature's columns (one per level when one-hot) gives its SHAP value.
    shap_baseline, shap_incident = _window_means(shap_values @ membership, sample_is_incident)
    probability_baseline, probability_incident = _window_means(
        (shap_values * slope[:, None]) @ membership, sample_is_incident
    )
    shifts = shap_incident - shap_baseline
    contributions = probability_incident - probability_baseline
    total_shift = math.fsum(shifts)
    feature_shifts = sorted(
        (
            FeatureShift(
                feature=name,
                encoding=encodings[name],
                mean_shap_baseline=float(shap_baseline[position]),
                mean_shap_incident=float(shap_incident[position]),
                shift=float(shifts[position]),
                share_of_shift=float(shifts[position]) / total_shift if total_shift else math.nan,
                probability_contribution=float(contributions[position]),
            )
            for position, name in enumerate(features)
        ),
        key=lambda item: -abs(item.shift),
    )
    probability = special.expit(raw_output)
    return ShapShift(
        outcome=outcome,
        model=model,
        features=tuple(feature_shifts),
        base_value=base_value,
        mean_log_odds_baseline=float(raw_output[~sample_is_incident].mean()),
        mean_log_odds_incident=float(raw_output[sample_is_incident].mean()),
        total_shift=total_shift,
        mean_probability_baseline=float(probability[~sample_is_incident].mean()),
        mean_probability_incident=float(probability[sample_is_incident].mean()),
        observed_rate_baseline=observed_baseline,
        observed_rate_incident=observed_incident,
        probability_residual=(observed_incident - observed_baseline) - math.fsum(contributions),
        cross_validated_auc=float(roc_auc_score(sample_outcome, out_of_fold)),
        additivity_error=additivity,
        rows_baseline=int((~is_incident).sum()),
        rows_incident=int(is_incident.sum()),
        rows_explained_baseline=int((~sample_is_incident).sum()),
        rows_explained_incident=int(sample_is_incident.sum()),
    )


def check_additivity(
    shap_values: np.ndarray, base_value: float, raw_output: np.ndarray, tolerance: float
) -> float:
    """Max |sum of SHAP + base value - raw output| over rows (local accuracy, Lundberg & Lee 2017).

    Returns it in the raw output's unit; raises AdditivityError when it exceeds `tolerance`.
    """
    error = float(np.max(np.abs(shap_values.sum(axis=1) + base_value - raw_output)))
    if not error <= tolerance:
        raise AdditivityError(
            f"SHAP values do not add up to the model output: max error {error:.3g} "
            f"exceeds the tolerance {tolerance:.3g}"
        )
    return error


def _validate_arguments(
    frame: pd.DataFrame,
    features: list[str],
    outcome: str,
    window: str,
    model: str,
    max_rows_per_window: int,
) -> None:
    if model not in ("gbm", "logistic"):
        raise ShapAttributionError(f"unknown model {model!r}: use 'gbm' or 'logistic'")
    if not features:
        raise ShapAttributionError("no features given")
    duplicated = sorted({name for name in features if features.count(name) > 1})
    if duplicated:
        raise ShapAttributionError(f"features listed more than once: {duplicated}")
    if outcome in features or window in features:
        raise ShapAttributionError("the outcome and window columns cannot also be features")
    missing = [name for name in [*features, outcome, window] if name not in frame.columns]
    if missing:
        raise ShapAttributionError(f"missing columns: {missing}")
    if max_rows_per_window < MIN_ROWS_PER_WINDOW:
        raise ShapAttributionError(
            f"max_rows_per_window={max_rows_per_window} is below the minimum of "
            f"{MIN_ROWS_PER_WINDOW} rows per window"
        )
    with_nulls = {name: int(frame[name].isna().sum()) for name in [*features, outcome, window]}
    with_nulls = {name: count for name, count in with_nulls.items() if count}
    if with_nulls:
        raise ShapAttributionError(
            f"missing values (count per column): {with_nulls}; impute or drop them first"
        )


def _incident_mask(values: pd.Series, window: str) -> np.ndarray:
    """True for incident rows, from "baseline"/"incident" labels or a boolean column."""
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=bool)
    labels = values.astype(str)
    unexpected = sorted(set(labels.unique()) - {BASELINE, INCIDENT})
    if unexpected:
        raise ShapAttributionError(
            f"window column {window!r} holds {unexpected[:5]}: expected 'baseline'/'incident' "
            "or booleans (True = incident)"
        )
    return (labels == INCIDENT).to_numpy()


def _outcome_values(values: pd.Series, outcome: str) -> np.ndarray:
    """The outcome as an int array of 0/1."""
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=int)
    if not pd.api.types.is_numeric_dtype(values):
        raise ShapAttributionError(
            f"outcome {outcome!r} must be boolean or 0/1, not {values.dtype}"
        )
    unexpected = sorted(set(values.unique().tolist()) - {0, 1})
    if unexpected:
        raise ShapAttributionError(
            f"outcome {outcome!r} must be 0/1; it also holds {unexpected[:5]}"
        )
    return values.to_numpy(dtype=int)


def _validate_windows(is_incident: np.ndarray, outcome_values: np.ndarray, outcome: str) -> None:
    for name, in_window in ((BASELINE, ~is_incident), (INCIDENT, is_incident)):
        count = int(in_window.sum())
        if count < MIN_ROWS_PER_WINDOW:
            raise ShapAttributionError(
                f"too few rows: the {name} window has {count}, need at least {MIN_ROWS_PER_WINDOW}"
            )
        values = np.unique(outcome_values[in_window])
        if len(values) == 1:
            raise ShapAttributionError(
                f"every order of the {name} window has {outcome} {values[0]}: nothing to attribute"
            )


def _validate_sample(
    sample_is_incident: np.ndarray, sample_outcome: np.ndarray, outcome: str
) -> None:
    for name, in_window in ((BASELINE, ~sample_is_incident), (INCIDENT, sample_is_incident)):
        for value in (0, 1):
            count = int((sample_outcome[in_window] == value).sum())
            if count < MIN_ROWS_PER_OUTCOME:
                raise ShapAttributionError(
                    f"too few rows with {outcome}={value} in the sampled {name} window: {count}, "
                    f"need at least {MIN_ROWS_PER_OUTCOME} (raise max_rows_per_window or widen "
                    "the window)"
                )


def _encoding(values: pd.Series, name: str) -> Encoding:
    if pd.api.types.is_bool_dtype(values):
        return "boolean"
    if pd.api.types.is_numeric_dtype(values):
        return "numeric"
    if isinstance(values.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(values):
        levels = values.nunique()
        if levels > MAX_CATEGORY_LEVELS:
            raise ShapAttributionError(
                f"categorical feature {name!r} has {levels} levels; at most "
                f"{MAX_CATEGORY_LEVELS} are one-hot encoded"
            )
        return "one-hot"
    raise ShapAttributionError(
        f"feature {name!r} has dtype {values.dtype}: use numeric, boolean or categorical columns"
    )


def _stratified_sample(
    is_incident: np.ndarray, outcome_values: np.ndarray, max_rows_per_window: int, seed: int
) -> np.ndarray:
    """Sorted row positions: at most max_rows_per_window per window, outcome shares preserved.

    Each window's quota is split over its outcome values by largest remainder, so a sampled
    window's outcome rate is within 1/quota of the full window's.
    """
    rng = np.random.default_rng(seed)
    chosen = []
    for in_window in (~is_incident, is_incident):
        rows = np.flatnonzero(in_window)
        if len(rows) <= max_rows_per_window:
            chosen.append(rows)
            continue
        strata = [rows[outcome_values[rows] == value] for value in (0, 1)]
        exact = np.array([len(stratum) for stratum in strata]) * max_rows_per_window / len(rows)
        quota = np.floor(exact).astype(int)
        for position in np.argsort(-(exact - quota))[: max_rows_per_window - quota.sum()]:
            quota[position] += 1
        chosen.extend(
            rng.choice(stratum, size=size, replace=False)
            for stratum, size in zip(strata, quota, strict=True)
        )
    return np.sort(np.concatenate(chosen))


def _design_matrix(
    rows: pd.DataFrame, features: list[str], encodings: dict[str, Encoding]
) -> tuple[np.ndarray, np.ndarray]:
    """The float model matrix and a 0/1 matrix (columns x features) saying whose each column is."""
    blocks: list[np.ndarray] = []
    owners: list[int] = []
    for position, name in enumerate(features):
        values = rows[name]
        if encodings[name] == "one-hot":
            labels = values.astype(str).to_numpy()
            levels = np.unique(labels)
            block = (labels[:, None] == levels[None, :]).astype(float)
        else:
            block = values.to_numpy(dtype=float)[:, None]
        blocks.append(block)
        owners.extend([position] * block.shape[1])
    return np.hstack(blocks), np.eye(len(features))[owners]


def _estimator(model: ModelKind) -> Pipeline | BoostedTrees:
    """A new, unfitted model of the kind (both fits are deterministic)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from analytics.boosting import BoostedTrees, BoostingParameters

    if model == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    # Shallow trees: TreeSHAP's cost grows with depth squared and leaves, and a few thousand rows
    # per window support little more than 4-way interactions. Without early stopping, as
    # scikit-learn's default on at most 10,000 rows (twice the default rows per window).
    return BoostedTrees("log_loss", BoostingParameters(max_depth=4, max_leaf_nodes=15))


def _explain(
    fitted: Pipeline | BoostedTrees, design: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray]:
    """SHAP values (rows x columns), base value and raw output, all in log-odds, of the model
    `fitted` on `design`, the rows it was fitted on."""
    from sklearn.pipeline import Pipeline

    if isinstance(fitted, Pipeline):
        import shap

        scaled = fitted[0].transform(design)
        # The (mean, cov) form keeps the exact background mean; a data matrix would be
        # subsampled to 100 rows by shap's masker.
        background = shap.maskers.Independent(
            {"mean": scaled.mean(axis=0), "cov": np.cov(scaled, rowvar=False)}
        )
        explainer = shap.LinearExplainer(fitted[-1], background)
        shap_values = explainer.shap_values(scaled)
        raw_output = fitted[-1].decision_function(scaled)
        base_value = float(np.ravel(explainer.expected_value)[0])
    else:
        shap_values, base_value = tree_shap(fitted, design)
        raw_output = fitted.fitted_prediction  # `design` is what it was fitted on
    return np.asarray(shap_values, dtype=float), base_value, np.asarray(raw_output, dtype=float)


def tree_shap(
    model: BoostedTrees | HistGradientBoostingClassifier, rows: np.ndarray
) -> tuple[np.ndarray, float]:
    """Path-dependent TreeSHAP values (rows x columns, log-odds) of fitted binary boosted trees
    (BoostedTrees or a HistGradientBoostingClassifier) on numeric `rows` without missing values,
    and its base value
    (the expected raw output under the trees' training covers), as shap's TreeExplainer gives them
    (Lundberg et al. 2020; leaf tables as in Fast TreeSHAP v2, Yang 2021).

    A leaf with m distinct features on its path adds, for each of them j, its value times
    sum over S of |S|! (m - |S| - 1)! / m! prod_{k in S} o_k prod_{k not in S, j} z_k (o_j - z_j),
    where z_k is the share of training rows that follow the path's splits on feature k and o_k is
    1 when the row does. That depends on the row only through the pattern of the o's, so each
    leaf's values are tabulated per pattern, and each tree is evaluated once per distinct
    pattern of its split conditions among the rows.
    """
    if rows.ndim != 2 or not np.isfinite(rows).all():
        raise ShapAttributionError("tree_shap needs a 2-d matrix of finite values")
    values = np.zeros(rows.shape)
    trees, base_value = _trees(model)
    for nodes in trees:
        if nodes["is_categorical"].any():
            raise ShapAttributionError("tree_shap explains numeric splits only")
        leaf = nodes["is_leaf"].astype(bool)
        base_value += float(np.sum(nodes["value"][leaf] * nodes["count"][leaf]) / nodes["count"][0])
        values += _tree_values(nodes, rows)
    return values, base_value


def _trees(model: BoostedTrees | HistGradientBoostingClassifier) -> tuple[list[np.ndarray], float]:
    """The model's trees (node arrays with scikit-learn's TreePredictor fields) and baseline."""
    from analytics.boosting import BoostedTrees

    if isinstance(model, BoostedTrees):
        return model.trees, model.baseline_prediction
    trees = [predictor.nodes for (predictor,) in model._predictors]
    return trees, float(np.ravel(model._baseline_prediction)[0])


def _tree_values(nodes: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One tree's TreeSHAP values (rows x columns); see tree_shap."""
    internal = np.flatnonzero(nodes["is_leaf"] == 0)
    column = np.full(len(nodes), -1)
    column[internal] = np.arange(len(internal))
    goes_left = rows[:, nodes["feature_idx"][internal]] <= nodes["num_threshold"][internal]
    # Rows whose conditions at every split agree get the same values: evaluate each pattern once.
    codes = np.column_stack(
        [
            goes_left[:, start : start + 62] @ (1 << np.arange(min(62, len(internal) - start)))
            for start in range(0, max(len(internal), 1), 62)
        ]
    )
    if codes.shape[1] == 1:
        _, first, inverse = np.unique(codes[:, 0], return_index=True, return_inverse=True)
    else:
        _, first, inverse = np.unique(codes, axis=0, return_index=True, return_inverse=True)
    distinct = goes_left[first]
    values = np.zeros((len(distinct), rows.shape[1]))
    for leaves in _leaves_by_feature_count(nodes).values():
        count, m = len(leaves), len(leaves[0].features)
        table = _leaf_tables(
            np.array([item.value for item in leaves]), np.array([item.zeros for item in leaves])
        )
        conditions = [condition for item in leaves for condition in item.conditions]
        starts = np.cumsum([0, *map(len, conditions)])[:-1]
        columns = [column[node] for condition in conditions for node, _ in condition]
        sides = np.array([left for condition in conditions for _, left in condition])
        held = np.logical_and.reduceat(distinct[:, columns] == sides, starts, axis=1)
        pattern = (held.reshape(len(distinct), count, m) * (1 << np.arange(m))).sum(axis=2)
        contributions = table[np.arange(count)[None, :], pattern]  # distinct x leaves x m
        owners = np.zeros((count * m, rows.shape[1]))
        features = np.array([item.features for item in leaves]).ravel()
        owners[np.arange(count * m), features] = 1.0
        values += contributions.reshape(len(distinct), -1) @ owners
    return values[np.ravel(inverse)]


@dataclass(frozen=True)
class _LeafPath:
    """A leaf, with the distinct features split on along its path (in order of first use), the
    share of training rows that follow the path's splits on each (z), and those splits as
    (node, goes left)."""

    value: float
    features: tuple[int, ...]
    zeros: tuple[float, ...]
    conditions: tuple[tuple[tuple[int, bool], ...], ...]


def _leaves_by_feature_count(nodes: np.ndarray) -> dict[int, list[_LeafPath]]:
    """The tree's leaves below at least one split, grouped by their count of distinct features."""
    counts = nodes["count"].astype(float)
    groups: dict[int, list[_LeafPath]] = {}
    stack: list[tuple[int, tuple[tuple[int, bool], ...]]] = [(0, ())]
    while stack:
        index, path = stack.pop()
        if not nodes["is_leaf"][index]:
            stack.append((int(nodes["right"][index]), (*path, (index, False))))
            stack.append((int(nodes["left"][index]), (*path, (index, True))))
            continue
        if not path:
            continue  # a tree of one leaf: only its base value
        splits: dict[int, list[tuple[int, bool]]] = {}
        zeros: dict[int, float] = {}
        for node, left in path:
            feature = int(nodes["feature_idx"][node])
            child = int(nodes["left"][node] if left else nodes["right"][node])
            splits.setdefault(feature, []).append((node, left))
            zeros[feature] = zeros.get(feature, 1.0) * counts[child] / counts[node]
        leaf = _LeafPath(
            value=float(nodes["value"][index]),
            features=tuple(splits),
            zeros=tuple(zeros[feature] for feature in splits),
            conditions=tuple(tuple(split) for split in splits.values()),
        )
        groups.setdefault(len(splits), []).append(leaf)
    return groups


def _leaf_tables(values: np.ndarray, zeros: np.ndarray) -> np.ndarray:
    """table[leaf, pattern, j]: what each leaf adds to its j-th feature's value for each pattern
    of o's (bit k = o_k), for leaves with the same count m of distinct features (see tree_shap).
    The sum over subsets S is the coefficients of prod_{k != j} (z_k + o_k t) weighted by
    |S|! (m - |S| - 1)! / m!."""
    count, m = zeros.shape
    ones = ((np.arange(2**m)[:, None] >> np.arange(m)) & 1).astype(float)  # patterns x m
    weights = np.array(
        [math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m) for s in range(m)]
    )
    table = np.empty((count, 2**m, m))
    for j in range(m):
        product = np.ones((count, 2**m, 1))
        for k in range(m):
            if k != j:
                grown = np.zeros((count, 2**m, product.shape[2] + 1))
                grown[..., :-1] += product * zeros[:, None, k, None]
                grown[..., 1:] += product * ones[None, :, k, None]
                product = grown
        table[:, :, j] = values[:, None] * (product @ weights) * (ones[:, j] - zeros[:, None, j])
    return table


def _window_means(values: np.ndarray, is_incident: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means over baseline rows and over incident rows."""
    return values[~is_incident].mean(axis=0), values[is_incident].mean(axis=0)


def _secant_slope(raw_output: np.ndarray, base_value: float) -> np.ndarray:
    """(sigmoid(f) - sigmoid(b)) / (f - b) per row; the derivative at the midpoint when f ~ b."""
    step = raw_output - base_value
    near = np.abs(step) < _SECANT_MIN_STEP
    safe_step = np.where(near, 1.0, step)
    secant = (special.expit(raw_output) - special.expit(base_value)) / safe_step
    midpoint = special.expit((raw_output + base_value) / 2)
    return np.where(near, midpoint * (1 - midpoint), secant)
