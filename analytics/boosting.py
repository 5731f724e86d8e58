"""Histogram gradient boosting compiled with numba: scikit-learn's HistGradientBoosting trees,
grown without its per-node Python, for the what-if's bootstrap fits and SHAP's cross-validation.

The algorithm is scikit-learn 1.9's HistGradientBoostingRegressor (squared error) and binary
HistGradientBoostingClassifier (log loss) with early_stopping=False and numeric features
without missing values (Ke et al. 2017, LightGBM; Chen & Guestrin 2016, XGBoost): features
binned into at most 255 quantile bins (scikit-learn's own binner), trees grown best-first
(largest loss reduction first) up to max_leaf_nodes leaves and max_depth, each node's
histograms built from its rows or, for the larger child, by subtracting its sibling's from its
parent's, leaf values -G / (H + l2) shrunk by the learning rate. Every step (gradients as float32,
sums in the same order, the same heap order of candidate nodes, ties broken the same way) follows
scikit-learn's, so the trees and their predictions are the same to the last bit
(tests/analytics/test_boosting.py compares them); scikit-learn's default early_stopping="auto"
turns on only above 10,000 rows, so on fewer rows these are its default models too.

Why: scikit-learn grows each tree node by node in Python (~25 us a split, ~2 ms a tree of 31
leaves), which made the what-if's 16 fits of 60 trees on ~5,800 rows take ~1.5 s; compiled, a
fit takes less than half as long (~40 against ~85 ms; benchmarks/README.md). Compiled code is
cached on disk (numba's cache, beside this file); a process loads it in ~0.6-1.3 s, depending on
the machine's load, the first time a model is fitted (`warm_up` does it early).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numba
import numpy as np

# The compiled functions (numba.njit) take numpy arrays and scalars whose types numba infers
# from the call; they carry no annotations.

Loss = Literal["squared_error", "log_loss"]
N_BINS = 256  # 255 bins for values and one for missing values, as scikit-learn's max_bins=255
_MIN_HESSIAN_TO_SPLIT = 1e-3
_BINNER_SUBSAMPLE = 200_000  # scikit-learn's binner finds thresholds on this many rows at most
TREE_DTYPE = np.dtype(
    [
        ("value", np.float64),
        ("count", np.uint32),
        ("feature_idx", np.intp),
        ("num_threshold", np.float64),
        ("left", np.uint32),
        ("right", np.uint32),
        ("depth", np.uint32),
        ("is_leaf", np.uint8),
        ("is_categorical", np.uint8),
    ]
)  # the fields of scikit-learn's TreePredictor.nodes that tree_shap reads


@dataclass(frozen=True)
class BoostingParameters:
    """scikit-learn's HistGradientBoosting parameters, with its defaults."""

    max_iter: int = 100
    max_depth: int | None = None
    max_leaf_nodes: int = 31
    learning_rate: float = 0.1
    min_samples_leaf: int = 20
    l2_regularization: float = 0.0


class BoostedTrees:
    """A fitted gradient-boosted tree ensemble: `raw_predict` (log-odds for log loss), `predict`
    (the regression's prediction, the classifier's log-odds), `trees` (one TREE_DTYPE array per
    tree, nodes in scikit-learn's order), `baseline_prediction` (the trees' starting value) and
    `fitted_prediction` (raw_predict of the training rows, to the bit: kept from the fit)."""

    def __init__(self, loss: Loss, parameters: BoostingParameters | None = None) -> None:
        self.loss = loss
        self.parameters = parameters or BoostingParameters()
        self.trees: list[np.ndarray] = []
        self.baseline_prediction = 0.0
        self.fitted_prediction = np.empty(0)

    def fit(
        self,
        X: np.ndarray,  # noqa: N803 (scikit-learn's name)
        y: np.ndarray,
        binned: BinnedFeatures | None = None,
    ) -> BoostedTrees:
        """Fit on numeric `X` (no missing values) and `y` (0/1 for log loss); returns self.
        `binned`: bin_features(X), when known already (e.g. for several models of one X)."""
        from sklearn._loss.loss import HalfBinomialLoss, HalfSquaredError

        X = np.asarray(X, dtype=np.float64)  # noqa: N806
        y = np.asarray(y, dtype=np.float64)
        if X.ndim != 2 or len(X) != len(y) or not len(y):
            raise ValueError("X must be a non-empty 2-d array with one row per value of y")
        if np.isnan(X).any():
            raise ValueError("BoostedTrees takes no missing values: impute them first")
        if self.loss == "log_loss" and set(np.unique(y)) != {0.0, 1.0}:
            raise ValueError("log loss needs a 0/1 outcome with both values present")
        if binned is None:
            binned = bin_features(X)
        elif binned.codes.shape != X.shape:
            raise ValueError(f"binned features {binned.codes.shape} do not match X {X.shape}")
        loss = HalfSquaredError() if self.loss == "squared_error" else HalfBinomialLoss()
        self.baseline_prediction = float(np.ravel(loss.fit_intercept_only(y_true=y))[0])
        raw = np.full(len(y), self.baseline_prediction)
        gradient, hessian = loss.init_gradient_and_hessian(n_samples=len(y), dtype=np.float32)
        thresholds = binned.thresholds
        grower = _Grower(binned.codes, binned.n_bins_non_missing, self.parameters)
        self.trees = []
        for _ in range(self.parameters.max_iter):
            if loss.constant_hessian:
                loss.gradient(y_true=y, raw_prediction=raw, gradient_out=gradient, n_threads=1)
            else:
                loss.gradient_hessian(
                    y_true=y,
                    raw_prediction=raw,
                    gradient_out=gradient,
                    hessian_out=hessian,
                    n_threads=1,
                )
            self.trees.append(grower.grow(gradient, hessian, raw, thresholds))
        self._flat = _flatten(self.trees)
        # A training row's bin is <= a split's bin exactly when its value is <= the split's
        # threshold, and its leaf values were added in tree order: raw is its prediction.
        self.fitted_prediction = raw
        return self

    def raw_predict(self, X: np.ndarray) -> np.ndarray:  # noqa: N803
        """The trees' summed output per row of `X` (float64), as scikit-learn sums it."""
        rows = np.ascontiguousarray(X, dtype=np.float64)
        if np.isnan(rows).any():
            raise ValueError("BoostedTrees takes no missing values: impute them first")
        return _predict(rows, self.baseline_prediction, *self._flat)

    predict = raw_predict  # squared error: the prediction itself
    decision_function = raw_predict  # log loss: the log-odds


@dataclass(frozen=True)
class BinnedFeatures:
    """Features binned as scikit-learn's binner bins them: each feature on its own, so the
    first k columns of a binning are the binning of the first k features."""

    codes: np.ndarray  # (rows x features) uint8 bin of each value, C-contiguous
    thresholds: np.ndarray  # (features x N_BINS) each feature's bin thresholds, inf-padded
    n_bins_non_missing: np.ndarray  # (features,) int64

    def first(self, features: int) -> BinnedFeatures:
        """The binning of the first `features` features."""
        return BinnedFeatures(
            np.ascontiguousarray(self.codes[:, :features]),
            self.thresholds[:features],
            self.n_bins_non_missing[:features],
        )


def bin_features(X: np.ndarray) -> BinnedFeatures:  # noqa: N803
    """scikit-learn's binning of `X` (at most 255 quantile bins a feature)."""
    from sklearn.ensemble._hist_gradient_boosting._binning import _map_to_bins
    from sklearn.ensemble._hist_gradient_boosting.binning import _find_binning_thresholds

    X = np.asarray(X, dtype=np.float64)  # noqa: N806
    if X.shape[0] > _BINNER_SUBSAMPLE:  # the binner finds thresholds on a subsample
        from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper

        binner = _BinMapper(n_bins=N_BINS, random_state=0, n_threads=1)
        codes = np.ascontiguousarray(binner.fit_transform(X))
        n_bins = binner.n_bins_non_missing_.astype(np.int64)
        return BinnedFeatures(codes, _padded(binner.bin_thresholds_), n_bins)
    # _BinMapper.fit_transform's steps for numeric features (its thresholds, then its mapping),
    # without its validation and joblib dispatch per feature (~1.5 ms a fit).
    thresholds = [_find_binning_thresholds(X[:, f], N_BINS - 1) for f in range(X.shape[1])]
    codes = np.zeros_like(X, dtype=np.uint8, order="F")
    numeric = np.zeros(X.shape[1], dtype=np.uint8)  # no categorical feature
    _map_to_bins(X, thresholds, numeric, N_BINS - 1, 1, codes)
    n_bins_non_missing = np.array([len(t) + 1 for t in thresholds], dtype=np.int64)
    return BinnedFeatures(np.ascontiguousarray(codes), _padded(thresholds), n_bins_non_missing)


def warm_up() -> None:
    """Load (or compile) the compiled functions: fit and predict a tiny model of each loss."""
    rng = np.random.default_rng(0)
    X = rng.random((60, 2))  # noqa: N806
    y = (X[:, 0] > 0.5).astype(float)
    for loss in ("squared_error", "log_loss"):
        BoostedTrees(loss, BoostingParameters(max_iter=1, min_samples_leaf=5)).fit(X, y).predict(X)


def _padded(bin_thresholds: list[np.ndarray]) -> np.ndarray:
    """Each feature's bin thresholds in one row of a (features x N_BINS) array."""
    padded = np.full((len(bin_thresholds), N_BINS), np.inf)
    for feature, values in enumerate(bin_thresholds):
        padded[feature, : len(values)] = values
    return padded


class _Grower:
    """Buffers reused by every tree of one fit."""

    def __init__(
        self, binned: np.ndarray, n_bins_non_missing: np.ndarray, parameters: BoostingParameters
    ) -> None:
        self.binned = binned
        self.n_bins_non_missing = n_bins_non_missing
        self.parameters = parameters
        nodes = 2 * parameters.max_leaf_nodes - 1
        features = binned.shape[1]
        self.histograms = np.zeros((2, nodes, features, N_BINS))  # gradients, hessians
        self.counts = np.zeros((nodes, features, N_BINS), dtype=np.uint32)
        self.partition = np.empty(len(binned), dtype=np.int64)
        self.buffer = np.empty(len(binned), dtype=np.int64)
        self.root_counted = False

    def grow(
        self, gradient: np.ndarray, hessian: np.ndarray, raw: np.ndarray, thresholds: np.ndarray
    ) -> np.ndarray:
        """Grow one tree on the gradients, add its shrunk leaf values to `raw` (in place), and
        return its nodes (TREE_DTYPE)."""
        p = self.parameters
        columns = _grow_tree(
            self.binned, gradient, hessian, len(hessian) == 1, self.n_bins_non_missing,
            p.max_leaf_nodes, p.max_depth if p.max_depth is not None else -1,
            p.min_samples_leaf, _MIN_HESSIAN_TO_SPLIT, p.l2_regularization, p.learning_rate,
            raw, self.partition, self.buffer, self.histograms, self.counts, self.root_counted,
        )  # fmt: skip
        self.root_counted = True
        value, count, feature, bin_index, left, right, depth, is_leaf = columns
        tree = np.zeros(len(value), dtype=TREE_DTYPE)
        for name, column in (("value", value), ("count", count), ("feature_idx", feature),
                             ("left", left), ("right", right), ("depth", depth),
                             ("is_leaf", is_leaf)):  # fmt: skip
            tree[name] = column
        internal = ~is_leaf
        tree["num_threshold"][internal] = thresholds[feature[internal], bin_index[internal]]
        return tree


def _flatten(trees: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """All trees' nodes in flat arrays: the feature split on (-1 at a leaf), the threshold, the
    children (left, right) as positions in these arrays, the value; each tree's root and depth."""
    nodes = np.concatenate(trees)
    roots = np.cumsum([0, *(len(tree) for tree in trees[:-1])]).astype(np.int64)
    offsets = np.repeat(roots, [len(tree) for tree in trees])
    leaf = nodes["is_leaf"].astype(bool)
    children = np.column_stack([nodes["left"], nodes["right"]]).astype(np.int64) + offsets[:, None]
    return (
        np.where(leaf, -1, nodes["feature_idx"]).astype(np.int64),
        nodes["num_threshold"].copy(),
        np.ascontiguousarray(children),
        nodes["value"].copy(),
        roots,
        np.array([tree["depth"].max() for tree in trees], dtype=np.int64),
    )


@numba.njit(cache=True)
def _predict(rows, baseline, feature, threshold, children, value, roots, depths):
    """Each row's baseline plus its leaf value in each tree, added tree by tree (as scikit-learn
    adds them); a row goes left where its value <= the split's threshold. Rows go down a tree
    eight at a time: their walks do not wait on each other (2.5x faster than one by one)."""
    out = np.full(rows.shape[0], 0.0 + baseline)
    block = 8
    nodes = np.empty(block, np.int64)
    for tree in range(roots.shape[0]):
        for start in range(0, rows.shape[0], block):
            size = min(block, rows.shape[0] - start)
            nodes[:size] = roots[tree]
            for _ in range(depths[tree]):
                for k in range(size):
                    node = nodes[k]
                    if feature[node] >= 0:
                        goes_right = rows[start + k, feature[node]] > threshold[node]
                        nodes[k] = children[node, 1 if goes_right else 0]
            for k in range(size):
                out[start + k] += value[nodes[k]]
    return out


@numba.njit(cache=True)
def _pairwise_sum(values):
    """numpy's pairwise summation of a 1-d float64 array (np.sum's exact result)."""
    n = values.shape[0]
    if n < 8:
        total = 0.0
        for i in range(n):
            total += values[i]
        return total
    if n <= 128:
        r = values[:8].copy()
        i = 8
        while i < n - (n % 8):
            for j in range(8):
                r[j] += values[i + j]
            i += 8
        total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while i < n:
            total += values[i]
            i += 1
        return total
    half = n // 2
    half -= half % 8
    return _pairwise_sum(values[:half]) + _pairwise_sum(values[half:])


@numba.njit(cache=True)
def _build_histogram(binned, gradient, hessian, constant_hessian, partition, start, stop,
                     slot, histograms, counts, count):  # fmt: skip
    """Sum gradients (and hessians) and, with `count`, count rows per feature and bin over
    partition[start:stop], in that order (as scikit-learn does). Row by row, all features at
    once: each bin's sum is added in the same order, and the features' adds do not wait on each
    other (twice as fast as feature by feature)."""
    gradients, hessians, bin_counts = histograms[0, slot], histograms[1, slot], counts[slot]
    gradients[:] = 0.0
    if count:
        bin_counts[:] = 0
    if not constant_hessian:
        hessians[:] = 0.0
    for i in range(start, stop):
        sample = partition[i]
        sample_gradient = gradient[sample]
        for feature in range(binned.shape[1]):
            gradients[feature, binned[sample, feature]] += sample_gradient
        if count:
            for feature in range(binned.shape[1]):
                bin_counts[feature, binned[sample, feature]] += 1
        if not constant_hessian:
            sample_hessian = hessian[sample]
            for feature in range(binned.shape[1]):
                hessians[feature, binned[sample, feature]] += sample_hessian


@numba.njit(cache=True)
def _subtract(histograms, counts, parent, child, sibling, constant_hessian, n_bins_non_missing):
    """The sibling's histograms as the parent's minus the child's, over the bins that hold rows
    (no array allocated; the others are never read)."""
    for feature in range(counts.shape[1]):
        for bin_index in range(n_bins_non_missing[feature]):
            histograms[0, sibling, feature, bin_index] = (
                histograms[0, parent, feature, bin_index] - histograms[0, child, feature, bin_index]
            )
            counts[sibling, feature, bin_index] = (
                counts[parent, feature, bin_index] - counts[child, feature, bin_index]
            )
            if not constant_hessian:
                histograms[1, sibling, feature, bin_index] = (
                    histograms[1, parent, feature, bin_index]
                    - histograms[1, child, feature, bin_index]
                )


@numba.njit(cache=True)
def _node_value(sum_gradient, sum_hessian, l2):
    return -sum_gradient / (sum_hessian + l2 + 1e-15)


@numba.njit(cache=True)
def _find_split(node, histograms, counts, n_bins_non_missing, constant_hessian, n_samples,
                sum_gradient, sum_hessian, value, min_samples_leaf, min_hessian, l2,
                split_float, split_int):  # fmt: skip
    """scikit-learn's Splitter.find_node_split for numeric features without missing values:
    the best bin of each feature scanned left to right, then the best feature (first wins
    ties). Writes gain, G_left, H_left, value_left, value_right into split_float[node] and
    feature, bin, n_left into split_int[node]; gain -1 when no split is allowed."""
    loss_current = sum_gradient * value
    best_gain = -1.0
    for feature in range(histograms.shape[2]):
        gradient_left = hessian_left = 0.0
        n_left = 0
        for bin_index in range(n_bins_non_missing[feature] - 1):
            if (
                counts[node, feature, bin_index] == 0
                and histograms[0, node, feature, bin_index] == 0
                and (constant_hessian or histograms[1, node, feature, bin_index] == 0)
            ):
                continue  # nothing moves left: the same sums, and gain, as the bin before
            n_left += counts[node, feature, bin_index]
            n_right = n_samples - n_left
            if constant_hessian:
                hessian_left += counts[node, feature, bin_index]
            else:
                hessian_left += histograms[1, node, feature, bin_index]
            hessian_right = sum_hessian - hessian_left
            gradient_left += histograms[0, node, feature, bin_index]
            gradient_right = sum_gradient - gradient_left
            if n_left < min_samples_leaf:
                continue
            if n_right < min_samples_leaf:
                break
            if hessian_left < min_hessian:
                continue
            if hessian_right < min_hessian:
                break
            gain = loss_current
            gain -= gradient_left * _node_value(gradient_left, hessian_left, l2)
            gain -= gradient_right * _node_value(gradient_right, hessian_right, l2)
            # Strictly better: the first bin of the first feature wins ties, as with
            # scikit-learn's best bin per feature, then best feature.
            if gain > best_gain and gain > 0.0:
                best_gain = gain
                split_float[node, 1] = gradient_left
                split_float[node, 2] = hessian_left
                split_int[node, 0] = feature
                split_int[node, 1] = bin_index
                split_int[node, 2] = n_left
    split_float[node, 0] = best_gain
    if best_gain > 0.0:
        gradient_left, hessian_left = split_float[node, 1], split_float[node, 2]
        split_float[node, 3] = _node_value(gradient_left, hessian_left, l2)
        split_float[node, 4] = _node_value(
            sum_gradient - gradient_left, sum_hessian - hessian_left, l2
        )


@numba.njit(cache=True)
def _sift_down(heap, start, position, gains):
    """heapq._siftdown with a larger gain ordered first (scikit-learn's TreeNode.__lt__)."""
    item = heap[position]
    while position > start:
        parent_position = (position - 1) >> 1
        parent = heap[parent_position]
        if gains[item] > gains[parent]:
            heap[position] = parent
            position = parent_position
            continue
        break
    heap[position] = item


@numba.njit(cache=True)
def _sift_up(heap, position, end, gains):
    """heapq._siftup (the same order of candidate nodes as scikit-learn's heappop)."""
    start = position
    item = heap[position]
    child = 2 * position + 1
    while child < end:
        right = child + 1
        if right < end and not gains[heap[child]] > gains[heap[right]]:
            child = right
        heap[position] = heap[child]
        position = child
        child = 2 * position + 1
    heap[position] = item
    _sift_down(heap, start, position, gains)


@numba.njit(cache=True)
def _partition(binned, partition, buffer, start, stop, feature, bin_index):
    """Rows of partition[start:stop] with bin <= bin_index first, then the others, each in
    their order (scikit-learn's split_indices on one thread). Returns the left rows' count."""
    n_left = n_right = 0
    for i in range(start, stop):
        sample = partition[i]
        if binned[sample, feature] <= bin_index:
            partition[start + n_left] = sample
            n_left += 1
        else:
            buffer[n_right] = sample
            n_right += 1
    partition[start + n_left : stop] = buffer[:n_right]
    return n_left


@numba.njit(cache=True)
def _grow_tree(binned, gradient, hessian, constant_hessian, n_bins_non_missing, max_leaf_nodes,
               max_depth, min_samples_leaf, min_hessian, l2, shrinkage, raw, partition, buffer,
               histograms, counts, root_counted):  # fmt: skip
    """scikit-learn's TreeGrower.grow (best-first, see the module docstring) on one iteration's
    gradients; adds the shrunk leaf values to `raw` and returns the nodes in scikit-learn's
    order (depth first, left before right) as value, count, feature, bin, left, right, depth,
    is_leaf."""
    n_samples = binned.shape[0]
    capacity = 2 * max_leaf_nodes - 1
    node_int = np.full((capacity, 6), -1, np.int64)  # depth, start, stop, is_leaf, left, right
    node_float = np.zeros((capacity, 3))  # sum of gradients, of hessians, value
    split_float = np.zeros((capacity, 5))  # gain, G_left, H_left, value_left, value_right
    split_int = np.zeros((capacity, 3), np.int64)  # feature, bin, rows left
    heap = np.empty(capacity, np.int64)
    gains = split_float[:, 0]
    for i in range(n_samples):
        partition[i] = i
    node_int[0, 0], node_int[0, 1], node_int[0, 2], node_int[0, 3] = 0, 0, n_samples, 0
    # The root's counts are the same in every tree of a fit (slot 0 is the root's alone).
    _build_histogram(binned, gradient, hessian, constant_hessian, partition, 0, n_samples, 0,
                     histograms, counts, not root_counted)  # fmt: skip
    node_float[0, 0] = _pairwise_sum(histograms[0, 0, 0])
    node_float[0, 1] = n_samples * 1.0 if constant_hessian else _pairwise_sum(histograms[1, 0, 0])
    n_nodes, heap_size, n_leaves = 1, 0, 0
    candidates = np.empty(2, np.int64)  # nodes whose split is to be found, in this order
    n_candidates = 0
    if n_samples < 2 * min_samples_leaf or node_float[0, 1] < min_hessian:
        node_int[0, 3] = 1
        n_leaves = 1
    else:
        candidates[0], n_candidates = 0, 1
    while True:
        for node in candidates[:n_candidates]:  # a candidate for splitting, or a leaf
            _find_split(node, histograms, counts, n_bins_non_missing, constant_hessian,
                        node_int[node, 2] - node_int[node, 1], node_float[node, 0],
                        node_float[node, 1], node_float[node, 2], min_samples_leaf,
                        min_hessian, l2, split_float, split_int)  # fmt: skip
            if gains[node] <= 0.0:
                node_int[node, 3] = 1
                n_leaves += 1
            else:
                heap[heap_size] = node
                heap_size += 1
                _sift_down(heap, 0, heap_size - 1, gains)
        n_candidates = 0
        if heap_size == 0:
            break
        heap_size -= 1  # heappop
        node = heap[heap_size]
        if heap_size > 0:
            node, heap[0] = heap[0], node
            _sift_up(heap, 0, heap_size, gains)
        start, stop = node_int[node, 1], node_int[node, 2]
        middle = start + _partition(binned, partition, buffer, start, stop, split_int[node, 0],
                                    split_int[node, 1])  # fmt: skip
        depth = node_int[node, 0] + 1
        left, right = n_nodes, n_nodes + 1
        n_nodes += 2
        node_int[node, 4], node_int[node, 5] = left, right
        for child, child_start, child_stop in ((left, start, middle), (right, middle, stop)):
            node_int[child, 0], node_int[child, 1] = depth, child_start
            node_int[child, 2], node_int[child, 3] = child_stop, 0
        node_float[left, 0], node_float[left, 1] = split_float[node, 1], split_float[node, 2]
        node_float[right, 0] = node_float[node, 0] - split_float[node, 1]
        node_float[right, 1] = node_float[node, 1] - split_float[node, 2]
        node_float[left, 2], node_float[right, 2] = split_float[node, 3], split_float[node, 4]
        if n_leaves + heap_size + 2 == max_leaf_nodes:  # every node left becomes a leaf
            node_int[left, 3] = node_int[right, 3] = 1
            for position in range(heap_size):
                node_int[heap[position], 3] = 1
            n_leaves += 2 + heap_size
            heap_size = 0
            continue
        if depth == max_depth:
            node_int[left, 3] = node_int[right, 3] = 1
            n_leaves += 2
            continue
        for child in (left, right):
            if node_int[child, 2] - node_int[child, 1] < 2 * min_samples_leaf:
                node_int[child, 3] = 1
                n_leaves += 1
        if node_int[left, 3] == 1 and node_int[right, 3] == 1:
            continue
        smallest, largest = (left, right) if middle - start < stop - middle else (right, left)
        _build_histogram(binned, gradient, hessian, constant_hessian, partition,
                         node_int[smallest, 1], node_int[smallest, 2], smallest, histograms,
                         counts, True)  # fmt: skip
        _subtract(histograms, counts, node, smallest, largest, constant_hessian, n_bins_non_missing)
        for child in (left, right):
            if node_int[child, 3] != 1:
                candidates[n_candidates] = child
                n_candidates += 1
    return _finish_tree(node_int[:n_nodes], node_float[:n_nodes], split_int[:n_nodes], shrinkage,
                        raw, partition)  # fmt: skip


@numba.njit(cache=True)
def _finish_tree(node_int, node_float, split_int, shrinkage, raw, partition):
    """Shrink the leaves, add them to `raw`, and lay the nodes out depth first (see _grow_tree)."""
    n_nodes = node_int.shape[0]
    position = np.empty(n_nodes, np.int64)
    order = np.empty(n_nodes, np.int64)
    stack = np.empty(n_nodes, np.int64)
    stack[0], top, visited = 0, 1, 0
    while top > 0:
        top -= 1
        node = stack[top]
        order[visited], position[node] = node, visited
        visited += 1
        if node_int[node, 3] != 1:
            stack[top], stack[top + 1] = node_int[node, 5], node_int[node, 4]
            top += 2
    is_leaf = node_int[order, 3] == 1
    value = node_float[order, 2].copy()
    for i in range(n_nodes):
        if is_leaf[i]:
            value[i] *= shrinkage
            node = order[i]
            for j in range(node_int[node, 1], node_int[node, 2]):
                raw[partition[j]] += value[i]
    left = np.zeros(n_nodes, np.int64)
    right = np.zeros(n_nodes, np.int64)
    for i in range(n_nodes):
        if not is_leaf[i]:
            left[i] = position[node_int[order[i], 4]]
            right[i] = position[node_int[order[i], 5]]
    count = node_int[order, 2] - node_int[order, 1]
    feature = np.where(is_leaf, 0, split_int[order, 0])  # a leaf's is 0, as scikit-learn's
    bin_index = np.where(is_leaf, 0, split_int[order, 1])
    return value, count, feature, bin_index, left, right, node_int[order, 0], is_leaf
