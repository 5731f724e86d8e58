"""Slice finder on synthetic leaves with known injected causes (fixed seeds, binomial noise)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import pytest

from analytics.slicing import SlicingError, find_slices, shift_share, slice_mask

# A small marketplace: 4 regions x 3 categories x 3 basket sizes x 4 dayparts = 144 leaves.
WORLD = {
    "region": ["north", "south", "east", "west"],
    "category": ["grocery", "convenience", "retail"],
    "basket_size": ["small", "medium", "large"],
    "daypart": ["breakfast", "lunch", "dinner", "late_night"],
}
UNITS_PER_LEAF = 2000
BASE_RATE = 0.05

Cause = tuple[Mapping[str, Sequence[object]], float]  # (filters, multiplier of the late rate)


def make_leaves(
    seed: int,
    causes: Sequence[Cause] = (),
    world: Mapping[str, Sequence[object]] = WORLD,
    units: int = UNITS_PER_LEAF,
) -> pd.DataFrame:
    """Leaves whose late rate varies by leaf; inside each cause it is multiplied in the current
    window. Units and late orders are drawn per window (Poisson units, binomial late orders)."""
    rng = np.random.default_rng(seed)
    leaves = pd.DataFrame(list(itertools.product(*world.values())), columns=list(world))
    rate = BASE_RATE * rng.uniform(0.6, 1.4, len(leaves))
    current_rate = rate.copy()
    for filters, multiplier in causes:
        current_rate[slice_mask(leaves, filters)] *= multiplier
    base_units = rng.poisson(units, len(leaves))
    current_units = rng.poisson(units, len(leaves))
    return leaves.assign(
        cur_num=rng.binomial(current_units, np.minimum(current_rate, 1.0)),
        cur_den=current_units,
        base_num=rng.binomial(base_units, rate),
        base_den=base_units,
    )


def selected_filters(leaves: pd.DataFrame, **options: object) -> list[dict[str, list[object]]]:
    return [found.filters for found in find_slices(leaves, **options).slices]


def test_two_attribute_cause_is_found_exactly_and_ranked_first() -> None:
    cause = {"region": ["north"], "category": ["grocery"]}
    leaves = make_leaves(seed=1, causes=[(cause, 2.0)])

    search = find_slices(leaves)

    assert search.slices[0].filters == cause
    assert [found.filters for found in search.slices] == [cause]
    assert search.slices[0].current_ratio > search.slices[0].baseline_ratio
    assert search.slices[0].q_value < 0.05


@pytest.mark.parametrize("seed", [2, 4])
def test_two_disjoint_causes_are_both_found_the_stronger_first(seed: int) -> None:
    stronger = {"region": ["south"], "basket_size": ["large"]}
    weaker = {"region": ["north"], "daypart": ["dinner"]}
    leaves = make_leaves(seed, causes=[(stronger, 2.0), (weaker, 1.5)])

    assert selected_filters(leaves) == [stronger, weaker]


def test_parent_level_cause_is_reported_as_the_parent_not_its_children() -> None:
    leaves = make_leaves(seed=4, causes=[({"region": ["east"]}, 1.6)])

    assert selected_filters(leaves) == [{"region": ["east"]}]


def test_cause_confined_to_one_child_is_reported_as_the_child_not_the_parent() -> None:
    child = {"region": ["west"], "category": ["convenience"]}
    leaves = make_leaves(seed=5, causes=[(child, 2.0)])

    assert selected_filters(leaves) == [child]


def test_two_moved_children_of_a_moved_parent_are_reported_as_the_parent() -> None:
    # Every child of south rose, two of them more than the rest: the change is south's.
    hot = [
        {"region": ["south"], "category": ["grocery"]},
        {"region": ["south"], "category": ["retail"]},
    ]
    causes = [({"region": ["south"]}, 1.5)] + [(child, 1.6) for child in hot]
    leaves = make_leaves(seed=6, causes=causes)

    assert selected_filters(leaves) == [{"region": ["south"]}]


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_no_change_selects_no_slice(seed: int) -> None:
    search = find_slices(make_leaves(seed))

    assert search.slices == ()
    assert search.explained.contribution == 0.0


def test_rate_and_mix_effects_add_up_to_each_slice_contribution() -> None:
    leaves = make_leaves(seed=10, causes=[({"category": ["grocery"]}, 1.5)])

    search = find_slices(leaves)

    assert search.slices
    for found in (*search.slices, *search.runners_up):
        assert found.rate_effect + found.mix_effect == pytest.approx(found.contribution, abs=1e-12)
        assert found.share_of_change == pytest.approx(found.contribution / search.delta)


def test_contributions_of_a_partition_add_up_to_the_total_delta() -> None:
    leaves = make_leaves(seed=11, causes=[({"region": ["north"], "daypart": ["dinner"]}, 2.0)])
    search = find_slices(leaves)
    in_slice = slice_mask(leaves, search.slices[0].filters)

    inside = shift_share(leaves, in_slice)
    outside = shift_share(leaves, ~in_slice)
    by_region = [shift_share(leaves, leaves["region"] == region) for region in WORLD["region"]]

    assert inside.contribution == pytest.approx(search.slices[0].contribution)
    assert inside.contribution + outside.contribution == pytest.approx(search.delta, rel=1e-9)
    assert sum(part.contribution for part in by_region) == pytest.approx(search.delta, rel=1e-9)


def test_pure_mix_shift_is_attributed_to_mix_effect_and_blames_no_slice() -> None:
    # Ratios are exactly unchanged in every leaf; retail, the worst category, doubles its volume.
    leaves = pd.DataFrame(
        list(itertools.product(WORLD["region"], WORLD["category"])), columns=["region", "category"]
    )
    retail = (leaves["category"] == "retail").to_numpy()
    rate = np.where(retail, 0.12, 0.04)
    base_units = np.full(len(leaves), 5000.0)
    current_units = np.where(retail, 10000.0, 5000.0)
    leaves = leaves.assign(
        cur_num=current_units * rate,
        cur_den=current_units,
        base_num=base_units * rate,
        base_den=base_units,
    )

    search = find_slices(leaves)
    retail_change = shift_share(leaves, retail)

    assert search.delta > 0
    assert retail_change.rate_effect == pytest.approx(0.0, abs=1e-12)
    assert retail_change.mix_effect == pytest.approx(retail_change.contribution)
    assert retail_change.mix_effect > 0
    assert search.slices == ()


def test_consecutive_hours_are_merged_into_one_slice_with_an_hour_list() -> None:
    world = {"category": WORLD["category"], "region": WORLD["region"], "hour": list(range(24))}
    cause = {"category": ["grocery"], "hour": [18, 19, 20]}
    leaves = make_leaves(seed=12, causes=[(cause, 2.0)], world=world, units=1500)

    unmerged = selected_filters(leaves)
    merged = selected_filters(leaves, ordinal={"hour": "linear"})

    assert len(unmerged) == 3
    assert merged == [cause]


def test_cyclic_hours_merge_across_midnight_in_time_order() -> None:
    world = {"category": WORLD["category"], "region": WORLD["region"], "hour": list(range(24))}
    cause = {"category": ["retail"], "hour": [23, 0, 1]}
    leaves = make_leaves(seed=13, causes=[(cause, 2.0)], world=world, units=1500)

    assert selected_filters(leaves, ordinal={"hour": "cyclic"}) == [cause]
    assert len(selected_filters(leaves, ordinal={"hour": "linear"})) == 2


def test_q_values_are_at_least_p_values() -> None:
    leaves = make_leaves(seed=14, causes=[({"daypart": ["lunch"]}, 1.4)])

    search = find_slices(leaves)

    assert search.slices and search.runners_up
    for found in (*search.slices, *search.runners_up):
        assert 0.0 <= found.p_value <= found.q_value <= 1.0


def test_search_reports_totals_and_explained_share_of_the_selection() -> None:
    cause = {"region": ["north"], "category": ["grocery"]}
    leaves = make_leaves(seed=15, causes=[(cause, 3.0)])

    search = find_slices(leaves)

    totals = leaves[["cur_num", "cur_den", "base_num", "base_den"]].sum()
    assert search.current_ratio == pytest.approx(totals.cur_num / totals.cur_den)
    assert search.baseline_ratio == pytest.approx(totals.base_num / totals.base_den)
    assert search.delta == pytest.approx(search.current_ratio - search.baseline_ratio)
    assert search.explained_share == pytest.approx(search.slices[0].share_of_change)
    assert 0.8 < search.explained_share < 1.2
    assert search.candidates_tested > len(leaves)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"drop": "cur_den"}, "count columns"),
        ({"cur_num": -1.0}, "non-negative"),
        ({"cur_num": 10**6}, "exceeds"),
    ],
)
def test_malformed_leaves_are_rejected_with_a_clear_error(
    change: dict[str, object], message: str
) -> None:
    leaves = make_leaves(seed=16)
    if "drop" in change:
        leaves = leaves.drop(columns=[change["drop"]])
    else:
        leaves.loc[0, "cur_num"] = change["cur_num"]

    with pytest.raises(SlicingError, match=message):
        find_slices(leaves)
