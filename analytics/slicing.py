"""Root-cause localization: the smallest set of slices that explains the rise of a ratio KPI.

Input is a table of leaves (one row per full combination of attribute values) with the bad-event
count and the unit count of a current and a baseline window; any slice's KPI is
sum(num) / sum(den) over its leaves. `find_slices` searches all slices of 1..max_order
attributes, the problem of Adtributor (Bhagwan et al. 2014), HotSpot (Sun et al. 2018), Squeeze
(Li et al. 2019), RiskLoc (Kalander 2022) and RobustSpot (Zhang et al. 2022):

- Expected bad events per leaf = current units x baseline ratio, the baseline ratio shrunk toward
  the leaf's parents (empirical Bayes, method of moments) so that sparse leaves do not dominate.
- Current bad events are modelled as Poisson(expected x multiplier), one multiplier per selected
  slice and one for the background (everything else), so a change that every leaf shares is not
  blamed on any slice. Slices are added greedily by log-likelihood gain, scaled by a robust
  dispersion estimate of the leaves left in the background (real counts are noisier than
  Poisson) and penalized by 2 ln(number of candidates) (risk inflation criterion, Foster &
  George 1994); a later slice must also carry a minimum share of the first one's excess.
- Ripple effect: a selected slice that contains earlier selected ones replaces them, and two
  selected slices under one parent are replaced by the parent when its other leaves rose
  significantly too; a child whose siblings did not move beats its parent on likelihood alone.
- Every candidate gets a one-sided p-value for "its ratio rose" (conditional binomial test of
  two Poisson rates, which also counts the baseline's own noise) and a Benjamini-Hochberg
  q-value over all candidates; a selected slice must have q <= alpha.
- Candidates covering the same leaves are deduplicated (the simplest is kept); selected slices
  that differ only in adjacent values of an ordinal attribute (e.g. hours) are merged.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import special
from statsmodels.stats.multitest import multipletests

CUR_NUM, CUR_DEN, BASE_NUM, BASE_DEN = "cur_num", "cur_den", "base_num", "base_den"
COUNT_COLUMNS = (CUR_NUM, CUR_DEN, BASE_NUM, BASE_DEN)
OrdinalKind = Literal["linear", "cyclic"]

# Median of a chi-square with one degree of freedom: turns a median squared residual into a scale.
_CHI2_1_MEDIAN = 0.454936423119572
# Pearson residuals are near-normal only where a leaf expects a few bad events (the usual rule of
# thumb for chi-square approximations), so only those leaves estimate the dispersion.
_MIN_EXPECTED_FOR_DISPERSION = 5.0
# Selection is rerun without the slices that failed the q-value test; each rerun removes at least
# one candidate, and a few reruns settle real data.
_SIGNIFICANCE_ROUNDS = 5


class SlicingError(ValueError):
    """Leaves that cannot be searched: missing columns, bad counts, no attributes, no units."""


@dataclass(frozen=True)
class ChangeShare:
    """A slice's part of the total ratio change, in ratio units (exact shift-share decomposition).

    For the partition {slice, complement}: R1 - R0 = sum_g w1_g (r1_g - r0_g)
    + sum_g (w1_g - w0_g)(r0_g - R0), w being each group's share of the window's units. The
    slice's first term is `rate_effect` (its own ratio moved), its second `mix_effect` (its share
    of units moved while its baseline ratio differs from the total's); `contribution` is their sum.
    """

    contribution: float
    rate_effect: float
    mix_effect: float


@dataclass(frozen=True)
class Slice:
    """A slice (a combination of attribute values) and how it moved.

    `filters` maps each attribute to its values in the slice (several values only after an
    ordinal merge, e.g. consecutive hours). Ratios are bad events per unit and `delta` is
    current minus baseline ratio. `change` is the slice's shift-share part of the total change
    and `share_of_change` that part over the total change (NaN if the total did not move,
    negative if the slice moved against it). `expected_bad` is the bad events its leaves'
    baseline ratios predict for their current units; `multiplier` = current_bad / expected_bad.
    `gain` is, for a selected slice, the dispersion-scaled deviance the fit loses without it
    (given the other selected slices) and, for a runner-up, the deviance it explains on its own.
    `p_value` is one-sided for "its ratio rose"; `q_value` is its Benjamini-Hochberg adjustment
    over all candidates tested.
    """

    filters: dict[str, list[object]]
    baseline_ratio: float
    current_ratio: float
    delta: float
    baseline_units: float
    current_units: float
    current_bad: float
    expected_bad: float
    multiplier: float
    change: ChangeShare
    share_of_change: float
    gain: float
    p_value: float
    q_value: float

    @property
    def contribution(self) -> float:
        return self.change.contribution

    @property
    def rate_effect(self) -> float:
        return self.change.rate_effect

    @property
    def mix_effect(self) -> float:
        return self.change.mix_effect


@dataclass(frozen=True)
class SliceSearch:
    """The result of `find_slices`.

    Totals are over all leaves (`delta` = current - baseline ratio). `slices` is the selected
    explanation, largest gain first; `runners_up` are the strongest other candidates, ranked by
    the deviance each explains on its own (alternative descriptions of the same change, often a
    parent or child of a selected slice, or weaker further causes). `explained` is the
    shift-share part of the change carried by the union of the selected slices and
    `explained_share` that part over `delta`. `candidates_tested` counts the distinct candidate
    slices (the q-values' family). `dispersion` is the variance-to-Poisson ratio estimated on the
    leaves outside the selection, `prior_units` the strength in units of the prior that shrinks
    leaves' baseline ratios (inf: fully pooled with the parents), `penalty` the scaled deviance a
    slice had to gain to be selected.
    """

    attributes: tuple[str, ...]
    baseline_ratio: float
    current_ratio: float
    delta: float
    baseline_units: float
    current_units: float
    slices: tuple[Slice, ...]
    runners_up: tuple[Slice, ...]
    explained: ChangeShare
    explained_share: float
    candidates_tested: int
    dispersion: float
    prior_units: float
    penalty: float


def find_slices(
    leaves: pd.DataFrame,
    attributes: Sequence[str] | None = None,
    *,
    max_order: int = 3,
    ordinal: Mapping[str, OrdinalKind] | None = None,
    alpha: float = 0.05,
    min_excess_share: float = 0.1,
    max_slices: int = 10,
    runners_up: int = 5,
) -> SliceSearch:
    """Find the smallest set of non-redundant slices that explains the rise of sum(num)/sum(den).

    `leaves` has the attribute columns (default: every column but the counts) and `cur_num`,
    `cur_den`, `base_num`, `base_den`; rows with the same attribute values are summed. Candidates
    are the combinations of 1..`max_order` attribute values present. A slice is selected when its
    penalized deviance gain is positive, its excess bad events (over the background's
    multiplier) are at least `min_excess_share` of the first selected slice's, and its q-value is
    at most `alpha`; at most `max_slices` are kept. `ordinal` names attributes whose values are
    ordered ("linear") or ordered with wrap-around ("cyclic", e.g. hour of day): selected slices
    differing only in adjacent values of one of them are merged. Method: module docstring.
    """
    if max_order < 1 or max_slices < 0 or runners_up < 0 or not 0 < alpha <= 1:
        raise SlicingError("need max_order >= 1, max_slices >= 0, runners_up >= 0, 0 < alpha <= 1")
    frame, attributes = _validated_leaves(leaves, attributes)
    counts = {column: frame[column].to_numpy(dtype=float) for column in COUNT_COLUMNS}
    base_rate, prior_units = _shrunk_baseline_rates(frame, attributes, counts)
    observed = counts[CUR_NUM]
    expected = counts[CUR_DEN] * base_rate
    candidates = _Candidates.build(frame, attributes, max_order)
    penalty = 2.0 * math.log(max(candidates.count, 2))

    # A selected slice that fails the q-value test is excluded and the selection rerun.
    excluded = np.zeros(candidates.size, dtype=bool)
    for round_number in range(_SIGNIFICANCE_ROUNDS):
        selection = _select(
            candidates, observed, expected, excluded, penalty, min_excess_share, max_slices
        )
        if round_number == 0:
            marginal = selection.marginal
        p_values, q_values = _rise_tests(candidates, counts, selection.dispersion)
        failed = [c for c in selection.chosen if q_values[c] > alpha]
        if not failed:
            break
        excluded[failed] = True
    chosen = [c for c in selection.chosen if q_values[c] <= alpha]
    dispersion = selection.dispersion
    gains = [_drop_deviance(candidates, observed, expected, chosen, c) / dispersion for c in chosen]

    stats = _SliceStats(frame, counts, expected, dispersion)
    selected = [
        stats.measure(candidates.filters(c), gain, p_values[c], q_values[c])
        for c, gain in zip(chosen, gains, strict=True)
    ]
    if ordinal:
        selected = _merge_ordinal(selected, frame, ordinal, stats)
    selected.sort(key=lambda found: -found.gain)
    ranked = np.argsort(-marginal, kind="stable")
    following = [
        stats.measure(candidates.filters(c), marginal[c] / dispersion, p_values[c], q_values[c])
        for c in ranked[: len(chosen) + runners_up]
        if np.isfinite(marginal[c]) and c not in chosen
    ][:runners_up]

    union = np.zeros(len(frame), dtype=bool)
    for found in selected:
        union |= slice_mask(frame, found.filters)
    explained = shift_share(frame, union)
    return SliceSearch(
        attributes=tuple(attributes),
        baseline_ratio=stats.baseline_ratio,
        current_ratio=stats.current_ratio,
        delta=stats.delta,
        baseline_units=float(counts[BASE_DEN].sum()),
        current_units=float(counts[CUR_DEN].sum()),
        slices=tuple(selected),
        runners_up=tuple(following),
        explained=explained,
        explained_share=_share(explained.contribution, stats.delta),
        candidates_tested=candidates.count,
        dispersion=dispersion,
        prior_units=prior_units,
        penalty=penalty,
    )


def shift_share(leaves: pd.DataFrame, in_slice: np.ndarray | pd.Series) -> ChangeShare:
    """The slice's part of R1 - R0 (ratio units) for the partition {slice, complement}.

    `in_slice` is a boolean mask over the rows of `leaves` (which need the four count columns).
    A group with no baseline units takes the total baseline ratio as its own (its baseline share
    is zero, so the identity holds for any value). Checks that the two parts add up to R1 - R0.
    """
    mask = np.asarray(in_slice, dtype=bool)
    sums = {}
    for column in COUNT_COLUMNS:
        values = leaves[column].to_numpy(dtype=float)
        sums[column] = np.array([values[mask].sum(), values[~mask].sum()])
    if sums[CUR_DEN].sum() <= 0 or sums[BASE_DEN].sum() <= 0:
        raise SlicingError("both windows need units for a shift-share decomposition")
    total_base = sums[BASE_NUM].sum() / sums[BASE_DEN].sum()
    total_current = sums[CUR_NUM].sum() / sums[CUR_DEN].sum()
    current_weight = sums[CUR_DEN] / sums[CUR_DEN].sum()
    base_weight = sums[BASE_DEN] / sums[BASE_DEN].sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        current_ratio = np.where(sums[CUR_DEN] > 0, sums[CUR_NUM] / sums[CUR_DEN], 0.0)
        base_ratio = np.where(sums[BASE_DEN] > 0, sums[BASE_NUM] / sums[BASE_DEN], total_base)
    rate = current_weight * (current_ratio - base_ratio)
    mix = (current_weight - base_weight) * (base_ratio - total_base)
    total_change = total_current - total_base
    if not math.isclose((rate + mix).sum(), total_change, rel_tol=1e-9, abs_tol=1e-12):
        raise ArithmeticError("shift-share parts do not add up to the total change")
    return ChangeShare(float(rate[0] + mix[0]), float(rate[0]), float(mix[0]))


def slice_mask(leaves: pd.DataFrame, filters: Mapping[str, Sequence[object]]) -> np.ndarray:
    """Boolean mask of the rows of `leaves` inside a slice given as {attribute: [values]}."""
    mask = np.ones(len(leaves), dtype=bool)
    for attribute, values in filters.items():
        mask &= leaves[attribute].isin(list(values)).to_numpy()
    return mask


def _validated_leaves(
    leaves: pd.DataFrame, attributes: Sequence[str] | None
) -> tuple[pd.DataFrame, list[str]]:
    """The leaves with duplicate attribute combinations summed and empty rows dropped."""
    missing = [column for column in COUNT_COLUMNS if column not in leaves.columns]
    if missing:
        raise SlicingError(f"leaves lack the count columns {missing}")
    if attributes is None:
        attributes = [column for column in leaves.columns if column not in COUNT_COLUMNS]
    attributes = list(attributes)
    if not attributes:
        raise SlicingError("leaves have no attribute columns to slice by")
    unknown = [a for a in attributes if a not in leaves.columns or a in COUNT_COLUMNS]
    if unknown:
        raise SlicingError(f"unknown attributes {unknown}")
    counts = leaves[list(COUNT_COLUMNS)].astype(float)
    if counts.isna().to_numpy().any() or (counts < 0).to_numpy().any():
        raise SlicingError("count columns must be non-negative numbers")
    if ((counts[CUR_NUM] > counts[CUR_DEN]) | (counts[BASE_NUM] > counts[BASE_DEN])).any():
        raise SlicingError("a bad-event count exceeds its unit count")
    frame = (
        pd.concat([leaves[attributes], counts], axis=1)
        .groupby(attributes, sort=False, observed=True, dropna=False)[list(COUNT_COLUMNS)]
        .sum()
        .reset_index()
    )
    frame = frame[(frame[CUR_DEN] > 0) | (frame[BASE_DEN] > 0)].reset_index(drop=True)
    if frame[CUR_DEN].sum() <= 0 or frame[BASE_DEN].sum() <= 0:
        raise SlicingError("the current and the baseline window both need units")
    return frame, attributes


def _encode(tuples: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """One int64 key per row of value codes (mixed radix), increasing with the codes."""
    key = np.zeros(len(tuples), dtype=np.int64)
    for position, size in enumerate(sizes):
        key = key * size + tuples[:, position]
    return key


def _group_codes(
    codes: Sequence[np.ndarray], sizes: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Dense group ids of the rows' value-code tuples, and the sorted keys of the groups."""
    keys, inverse = np.unique(_encode(np.column_stack(codes), sizes), return_inverse=True)
    return inverse, keys


def _decode(keys: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    tuples = np.empty((len(keys), len(sizes)), dtype=np.int64)
    rest = keys.copy()
    for position in range(len(sizes) - 1, -1, -1):
        rest, tuples[:, position] = np.divmod(rest, sizes[position])
    return tuples


def _shrunk_baseline_rates(
    frame: pd.DataFrame, attributes: Sequence[str], counts: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, float]:
    """Each leaf's baseline ratio shrunk toward its parents' pooled ratio (empirical Bayes).

    The prior mean q of a leaf is the pooled baseline ratio of the other leaves of its parents
    (its combination with one attribute dropped; all leaves for a single attribute), plus one
    unit at the total ratio; the prior variance is
    q (1 - q) / strength, and the strength (in units) is the method-of-moments estimate from the
    spread of leaf ratios around q beyond binomial noise: E[(b - d q)^2 / (d q (1 - q))]
    = 1 + d / strength for b bad events in d units. Returns the posterior-mean ratios
    (b + strength q) / (d + strength) and the strength (inf when leaves spread no more than
    binomial noise: full pooling).
    """
    base_num, base_den = counts[BASE_NUM], counts[BASE_DEN]
    total_rate = base_num.sum() / base_den.sum()
    parent_num = np.zeros(len(frame))
    parent_den = np.zeros(len(frame))
    codes = [pd.factorize(frame[a], use_na_sentinel=False)[0] for a in attributes]
    sizes = [int(c.max()) + 1 for c in codes]
    for dropped in range(len(attributes)):
        keep = [i for i in range(len(attributes)) if i != dropped]
        if not keep:
            parent_num += base_num.sum() - base_num
            parent_den += base_den.sum() - base_den
            continue
        group, _ = _group_codes([codes[i] for i in keep], [sizes[i] for i in keep])
        # Leave the leaf out of its own prior, or a parent that is the leaf (nested attributes,
        # e.g. store within region) would hide the leaf's spread from the strength estimate.
        parent_num += np.bincount(group, weights=base_num)[group] - base_num
        parent_den += np.bincount(group, weights=base_den)[group] - base_den
    # One unit at the total ratio keeps a parent that saw no bad event from predicting zero.
    prior_rate = (parent_num + total_rate) / (parent_den + 1.0)
    seen = (base_den > 0) & (prior_rate > 0) & (prior_rate < 1)
    variance = base_den[seen] * prior_rate[seen] * (1.0 - prior_rate[seen])
    spread = ((base_num[seen] - base_den[seen] * prior_rate[seen]) ** 2 / variance).sum()
    spread -= seen.sum()
    if spread <= 0:
        return prior_rate, math.inf
    prior_units = float(base_den[seen].sum() / spread)
    return (base_num + prior_units * prior_rate) / (base_den + prior_units), prior_units


@dataclass(frozen=True)
class _Candidates:
    """Every slice of 1..max_order attributes present in the leaves.

    A candidate's id indexes the per-candidate arrays. `member` holds, for each attribute
    combination in turn, the candidate id of every leaf, so a per-candidate sum of any per-leaf
    quantity is one bincount. `active` is False for candidates covering the same leaves as a
    simpler (earlier) one, and for those covering every leaf.
    """

    member: np.ndarray
    active: np.ndarray
    representative: np.ndarray  # the active candidate with the same leaves (-1: all leaves)
    order: np.ndarray
    combination: np.ndarray
    combinations: tuple[tuple[int, ...], ...]
    offsets: tuple[int, ...]  # per combination, the id of its first candidate
    keys: tuple[np.ndarray, ...]  # per combination, its candidates' sorted value-code keys
    attributes: tuple[str, ...]
    uniques: tuple[np.ndarray, ...]  # per attribute, its values by code
    n_leaves: int

    @property
    def size(self) -> int:
        return len(self.active)

    @property
    def count(self) -> int:
        return int(self.active.sum())

    @classmethod
    def build(cls, frame: pd.DataFrame, attributes: Sequence[str], max_order: int) -> _Candidates:
        factorized = [pd.factorize(frame[a], use_na_sentinel=False) for a in attributes]
        codes = [np.asarray(c, dtype=np.int64) for c, _ in factorized]
        uniques = tuple(np.asarray(u, dtype=object) for _, u in factorized)
        sizes = [len(u) for u in uniques]
        combinations = tuple(
            combo
            for order in range(1, min(max_order, len(attributes)) + 1)
            for combo in itertools.combinations(range(len(attributes)), order)
        )
        members, orders, owners, offsets, keys = [], [], [], [], []
        offset = 0
        for index, combo in enumerate(combinations):
            group, combo_keys = _group_codes([codes[i] for i in combo], [sizes[i] for i in combo])
            members.append(group + offset)
            offsets.append(offset)
            keys.append(combo_keys)
            orders.append(np.full(len(combo_keys), len(combo)))
            owners.append(np.full(len(combo_keys), index))
            offset += len(combo_keys)
        member = np.concatenate(members)
        n_leaves = len(frame)
        # A leaf set's fingerprint: its size and two sums of random integer weights per leaf
        # (below 2**20, so float sums of up to 2**33 leaves are exact).
        weights = np.random.default_rng(0).integers(0, 2**20, size=(2, n_leaves)).astype(float)
        fingerprint = pd.DataFrame(
            {
                "leaves": np.bincount(member, minlength=offset),
                **{
                    f"hash{i}": np.bincount(
                        member, weights=np.tile(w, len(combinations)), minlength=offset
                    )
                    for i, w in enumerate(weights)
                },
            }
        )
        covers_all = (fingerprint["leaves"] == n_leaves).to_numpy()
        active = ~fingerprint.duplicated().to_numpy() & ~covers_all
        group = fingerprint.groupby(list(fingerprint.columns), sort=False).ngroup().to_numpy()
        first_of_group = np.full(group.max() + 1, -1)
        first_of_group[group[::-1]] = np.arange(len(group))[::-1]
        representative = np.where(covers_all, -1, first_of_group[group])
        return cls(
            member=member,
            active=active,
            representative=representative,
            order=np.concatenate(orders),
            combination=np.concatenate(owners),
            combinations=combinations,
            offsets=tuple(offsets),
            keys=tuple(keys),
            attributes=tuple(attributes),
            uniques=uniques,
            n_leaves=n_leaves,
        )

    def sums(self, per_leaf: np.ndarray) -> np.ndarray:
        """Per candidate, the sum of a per-leaf quantity over its leaves."""
        return np.bincount(
            self.member, weights=np.tile(per_leaf, len(self.combinations)), minlength=self.size
        )

    def leaves_of(self, candidate: int) -> np.ndarray:
        """Boolean mask of a candidate's leaves."""
        start = int(self.combination[candidate]) * self.n_leaves
        return self.member[start : start + self.n_leaves] == candidate

    def pairs(self, candidate: int) -> set[tuple[int, int]]:
        """The candidate's (attribute index, value code) pairs."""
        index = int(self.combination[candidate])
        combo = self.combinations[index]
        sizes = [len(self.uniques[a]) for a in combo]
        values = _decode(self.keys[index][[candidate - self.offsets[index]]], sizes)[0]
        return set(zip(combo, values.tolist(), strict=True))

    def lookup(self, pairs: set[tuple[int, int]]) -> int:
        """The active candidate covering the leaves of the slice with these pairs (-1: all)."""
        combo = tuple(sorted(a for a, _ in pairs))
        index = self.combinations.index(combo)
        values = np.array([[code for _, code in sorted(pairs)]])
        key = _encode(values, [len(self.uniques[a]) for a in combo])[0]
        candidate = self.offsets[index] + int(np.searchsorted(self.keys[index], key))
        return int(self.representative[candidate])

    def contains(self, outer: int, inner: int) -> bool:
        """Whether `outer`'s filters are a proper subset of `inner`'s (outer is an ancestor)."""
        return outer != inner and self.pairs(outer) < self.pairs(inner)

    def filters(self, candidate: int) -> dict[str, list[object]]:
        return {
            self.attributes[a]: [_plain(self.uniques[a][code])]
            for a, code in sorted(self.pairs(candidate))
        }


def _plain(value: object) -> object:
    """A numpy scalar as the equivalent Python value, so filters print and serialize cleanly."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class _Selection:
    chosen: list[int]  # candidate ids, in selection order (earlier ones win shared leaves)
    dispersion: float  # of the background left by the selection
    marginal: np.ndarray  # per candidate, unscaled deviance explained alone (-inf: no rise)


def _select(
    candidates: _Candidates,
    observed: np.ndarray,
    expected: np.ndarray,
    excluded: np.ndarray,
    penalty: float,
    min_excess_share: float,
    max_slices: int,
) -> _Selection:
    """Greedy forward selection by penalized Poisson log-likelihood gain (module docstring).

    Each step splits one candidate's background leaves off the background with their own
    multiplier. The step's deviance gain is divided by the dispersion of the leaves that would
    stay in the background, so a large anomaly does not inflate the noise estimate it is judged
    by. A chosen slice that contains earlier chosen ones replaces them.
    """
    chosen: list[int] = []
    first_excess: float | None = None
    marginal: np.ndarray | None = None
    background = np.ones(candidates.n_leaves, dtype=bool)
    # Every step removes background leaves, so this cap is never the binding limit in practice.
    for _ in range(candidates.n_leaves):
        if len(chosen) >= max_slices:
            break
        score, excess = _split_scores(candidates, observed, expected, background, excluded)
        if marginal is None:
            marginal = score
        best = int(np.lexsort((candidates.order, -np.round(score, 9)))[0])
        if not np.isfinite(score[best]):
            break
        remaining = background & ~candidates.leaves_of(best)
        deviance = score[best] / _background_dispersion(observed, expected, remaining)
        if first_excess is None:
            first_excess = float(excess[best])
        if deviance <= penalty or excess[best] < min_excess_share * first_excess:
            # Siblings are merged only once no further slice qualifies, so that a parent's
            # remainder is not judged while it still holds another sibling worth selecting.
            merged = _merge_siblings(candidates, observed, expected, chosen, excluded, penalty)
            if merged == chosen:
                break
            chosen = merged
        else:
            chosen = [c for c in chosen if not candidates.contains(best, c)] + [best]
        background = ~_covered(candidates, chosen)
    dispersion = _background_dispersion(observed, expected, background)
    if marginal is None:
        marginal = np.full(candidates.size, -np.inf)
    return _Selection(chosen, dispersion, marginal)


def _merge_siblings(
    candidates: _Candidates,
    observed: np.ndarray,
    expected: np.ndarray,
    chosen: list[int],
    excluded: np.ndarray,
    penalty: float,
) -> list[int]:
    """Replace chosen slices that share a parent by that parent when the parent's other leaves
    rose significantly too (the same test as a greedy step), until no pair qualifies."""
    merging = True
    while merging:
        merging = False
        for first, second in itertools.combinations(chosen, 2):
            common = candidates.pairs(first) & candidates.pairs(second)
            parent = candidates.lookup(common) if common else -1
            if parent < 0 or excluded[parent]:
                continue
            background = ~_covered(candidates, chosen)
            rest = background & candidates.leaves_of(parent)
            if _split_deviance(observed, expected, rest, background) > penalty:
                chosen = [c for c in chosen if not candidates.contains(parent, c)]
                chosen = [c for c in chosen if c != parent] + [parent]
                merging = True
                break
    return chosen


def _split_deviance(
    observed: np.ndarray, expected: np.ndarray, inside: np.ndarray, background: np.ndarray
) -> float:
    """Dispersion-scaled deviance drop from giving `inside` (part of the background) its own
    multiplier; zero unless that multiplier is a rise over the rest and over the baseline."""
    outside = background & ~inside
    group_obs = np.array([observed[inside].sum(), observed[outside].sum()])
    group_exp = np.array([expected[inside].sum(), expected[outside].sum()])
    if (group_exp <= 0).any() or group_obs[0] / group_exp[0] <= max(
        1.0, group_obs[1] / group_exp[1]
    ):
        return 0.0
    pooled = _poisson_fit(group_obs.sum(keepdims=True), group_exp.sum(keepdims=True))[0]
    deviance = 2.0 * (_poisson_fit(group_obs, group_exp).sum() - pooled)
    return float(deviance) / _background_dispersion(observed, expected, outside)


def _split_scores(
    candidates: _Candidates,
    observed: np.ndarray,
    expected: np.ndarray,
    background: np.ndarray,
    excluded: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate, the deviance drop (unscaled) from giving its background leaves their own
    multiplier (-inf unless that multiplier is a rise over the rest of the background and over
    the baseline), and its excess bad events over the rest of the background's multiplier.
    """
    inside_obs = candidates.sums(observed * background)
    inside_exp = candidates.sums(expected * background)
    total_obs = float(observed[background].sum())
    total_exp = float(expected[background].sum())
    outside_obs = total_obs - inside_obs
    outside_exp = np.maximum(total_exp - inside_exp, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        deviance = 2.0 * (
            _poisson_fit(inside_obs, inside_exp)
            + _poisson_fit(outside_obs, outside_exp)
            - _poisson_fit(np.array([total_obs]), np.array([total_exp]))[0]
        )
        inside_multiplier = inside_obs / inside_exp
        outside_multiplier = outside_obs / outside_exp
        excess = inside_obs - inside_exp * outside_multiplier
    eligible = (
        candidates.active
        & ~excluded
        & (inside_exp > 0)
        & (outside_exp > 0)
        & (inside_multiplier > outside_multiplier)
        & (inside_multiplier > 1.0)
        & np.isfinite(deviance)
    )
    return np.where(eligible, deviance, -np.inf), excess


def _poisson_fit(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Per group, the maximized Poisson log-likelihood with a free multiplier (less constants)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        value = observed * np.log(observed / expected)
    return np.where(observed > 0, value, 0.0)


def _dispersion(observed: np.ndarray, fitted: np.ndarray) -> float:
    """Robust quasi-Poisson scale: median squared Pearson residual over its chi2(1) median."""
    usable = fitted >= _MIN_EXPECTED_FOR_DISPERSION
    if usable.sum() < 3:
        return 1.0
    residuals = (observed[usable] - fitted[usable]) ** 2 / fitted[usable]
    return max(1.0, float(np.median(residuals)) / _CHI2_1_MEDIAN)


def _background_dispersion(
    observed: np.ndarray, expected: np.ndarray, background: np.ndarray
) -> float:
    """Dispersion of the background leaves around the background's own multiplier."""
    total = expected[background].sum()
    if total <= 0:
        return 1.0
    fitted = expected[background] * observed[background].sum() / total
    return _dispersion(observed[background], fitted)


def _covered(candidates: _Candidates, chosen: Sequence[int]) -> np.ndarray:
    covered = np.zeros(candidates.n_leaves, dtype=bool)
    for candidate in chosen:
        covered |= candidates.leaves_of(candidate)
    return covered


def _partition_fit(
    candidates: _Candidates, observed: np.ndarray, expected: np.ndarray, chosen: Sequence[int]
) -> float:
    """Maximized log-likelihood of the partition (the first chosen slice holding a leaf wins)."""
    group = np.zeros(candidates.n_leaves, dtype=np.int64)
    for index in range(len(chosen) - 1, -1, -1):
        group[candidates.leaves_of(chosen[index])] = index + 1
    group_obs = np.bincount(group, weights=observed, minlength=len(chosen) + 1)
    group_exp = np.bincount(group, weights=expected, minlength=len(chosen) + 1)
    return float(_poisson_fit(group_obs, np.maximum(group_exp, 1e-300)).sum())


def _drop_deviance(
    candidates: _Candidates,
    observed: np.ndarray,
    expected: np.ndarray,
    chosen: Sequence[int],
    candidate: int,
) -> float:
    """Deviance (unscaled) the fit loses without `candidate`, given the other chosen slices.

    The candidate is placed last, so it keeps only the leaves no other chosen slice holds and
    the two fits are nested (the loss is never negative).
    """
    rest = [c for c in chosen if c != candidate]
    with_it = _partition_fit(candidates, observed, expected, [*rest, candidate])
    return 2.0 * (with_it - _partition_fit(candidates, observed, expected, rest))


def _rise_p_values(
    current_bad: np.ndarray,
    baseline_bad: np.ndarray,
    current_units: np.ndarray,
    baseline_units: np.ndarray,
    dispersion: float,
) -> np.ndarray:
    """One-sided p-values that a slice's ratio rose (conditional test of two Poisson rates).

    Given k = y1 + y0 bad events in both windows, equal ratios make y1 ~ Binomial(k, n1 / (n1 +
    n0)), n being units; counts are divided by the dispersion (quasi-likelihood) and the tail is
    the regularized incomplete beta, continuous in the counts. Slices without units in either
    window, or without current bad events, get p = 1.
    """
    y1 = current_bad / dispersion
    y0 = baseline_bad / dispersion
    testable = (y1 > 0) & (current_units > 0) & (baseline_units > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = special.betainc(y1, y0 + 1.0, current_units / (current_units + baseline_units))
    return np.where(testable, tail, 1.0)


def _rise_tests(
    candidates: _Candidates, counts: Mapping[str, np.ndarray], dispersion: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate, the rise p-value and its BH q-value over the active candidates (1 else)."""
    active = candidates.active
    p_values = np.ones(candidates.size)
    q_values = np.ones(candidates.size)
    sums = {column: candidates.sums(values)[active] for column, values in counts.items()}
    p_values[active] = _rise_p_values(
        sums[CUR_NUM], sums[BASE_NUM], sums[CUR_DEN], sums[BASE_DEN], dispersion
    )
    if active.any():
        q_values[active] = multipletests(p_values[active], method="fdr_bh")[1]
    return p_values, q_values


class _SliceStats:
    """Measures slices given as filters against the totals of the leaves."""

    def __init__(
        self,
        frame: pd.DataFrame,
        counts: Mapping[str, np.ndarray],
        expected: np.ndarray,
        dispersion: float,
    ) -> None:
        self.frame = frame
        self.counts = counts
        self.expected = expected
        self.dispersion = dispersion
        self.baseline_ratio = _ratio(counts[BASE_NUM].sum(), counts[BASE_DEN].sum())
        self.current_ratio = _ratio(counts[CUR_NUM].sum(), counts[CUR_DEN].sum())
        self.delta = self.current_ratio - self.baseline_ratio

    def measure(
        self, filters: dict[str, list[object]], gain: float, p_value: float, q_value: float
    ) -> Slice:
        mask = slice_mask(self.frame, filters)
        sums = {column: float(values[mask].sum()) for column, values in self.counts.items()}
        baseline_ratio = _ratio(sums[BASE_NUM], sums[BASE_DEN])
        current_ratio = _ratio(sums[CUR_NUM], sums[CUR_DEN])
        expected_bad = float(self.expected[mask].sum())
        change = shift_share(self.frame, mask)
        return Slice(
            filters=filters,
            baseline_ratio=baseline_ratio,
            current_ratio=current_ratio,
            delta=current_ratio - baseline_ratio,
            baseline_units=sums[BASE_DEN],
            current_units=sums[CUR_DEN],
            current_bad=sums[CUR_NUM],
            expected_bad=expected_bad,
            multiplier=_ratio(sums[CUR_NUM], expected_bad),
            change=change,
            share_of_change=_share(change.contribution, self.delta),
            gain=float(gain),
            p_value=float(p_value),
            q_value=float(q_value),
        )

    def p_value(self, filters: dict[str, list[object]]) -> float:
        """The rise p-value of any slice (the test of `_rise_p_values`)."""
        mask = slice_mask(self.frame, filters)
        y1, y0, n1, n0 = (
            np.array([self.counts[c][mask].sum()]) for c in (CUR_NUM, BASE_NUM, CUR_DEN, BASE_DEN)
        )
        return float(_rise_p_values(y1, y0, n1, n0, self.dispersion)[0])


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator > 0 else math.nan


def _share(part: float, whole: float) -> float:
    return part / whole if whole != 0 else math.nan


def _merge_ordinal(
    selected: list[Slice],
    frame: pd.DataFrame,
    ordinal: Mapping[str, OrdinalKind],
    stats: _SliceStats,
) -> list[Slice]:
    """Merge selected slices that differ only in adjacent values of one ordinal attribute.

    Adjacency follows the sorted distinct values of the attribute in the leaves (wrapping around
    for "cyclic"). The merged slice is measured afresh: its gain is the sum of its parts', its
    p-value recomputed, and its q-value the largest of its parts' (it was not itself a candidate).
    """
    unknown = [attribute for attribute in ordinal if attribute not in frame.columns]
    if unknown:
        raise SlicingError(f"unknown ordinal attributes {unknown}")
    orders = {attribute: sorted(frame[attribute].unique().tolist()) for attribute in ordinal}
    merged = list(selected)
    joined_any = True
    while joined_any:
        joined_any = False
        for first, second in itertools.combinations(range(len(merged)), 2):
            parts = (merged[first], merged[second])
            joined = _joined_filters(*parts, orders, ordinal)
            if joined is None:
                continue
            replacement = stats.measure(
                joined,
                sum(part.gain for part in parts),
                stats.p_value(joined),
                max(part.q_value for part in parts),
            )
            merged = [s for i, s in enumerate(merged) if i not in (first, second)]
            merged.append(replacement)
            joined_any = True
            break
    return merged


def _joined_filters(
    first: Slice,
    second: Slice,
    orders: Mapping[str, list[object]],
    ordinal: Mapping[str, OrdinalKind],
) -> dict[str, list[object]] | None:
    """The filters of the two slices joined along one ordinal attribute, or None if they are not
    equal elsewhere or their values there do not form one run of adjacent values."""
    if first.filters.keys() != second.filters.keys():
        return None
    differing = [a for a in first.filters if first.filters[a] != second.filters[a]]
    if len(differing) != 1 or differing[0] not in orders:
        return None
    attribute = differing[0]
    order = orders[attribute]
    position = {value: index for index, value in enumerate(order)}
    values = first.filters[attribute] + second.filters[attribute]
    positions = sorted({position[value] for value in values})
    if len(positions) != len(values):
        return None
    gaps = [i for i in range(1, len(positions)) if positions[i] != positions[i - 1] + 1]
    if not gaps:
        run = positions
    elif (
        ordinal[attribute] == "cyclic"
        and len(gaps) == 1
        and positions[0] == 0
        and positions[-1] == len(order) - 1
    ):
        run = positions[gaps[0] :] + positions[: gaps[0]]
    else:
        return None
    joined = dict(first.filters)
    joined[attribute] = [_plain(order[index]) for index in run]
    return joined
