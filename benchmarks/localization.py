"""Benchmark: root-cause localization (analytics.slicing) on RobustSpot's 135 stall-ratio incidents.

    .venv/bin/python benchmarks/localization.py --data ../shared/data/benchmarks/rs [--verbose]

Protocol (the README beside the data): current = the rows at the case's timestamp; baseline =
per leaf the mean of value and cnt over the 4 previous minutes (a leaf missing in a minute
counts as 0 there). value (stalling viewers) is the bad-event count, cnt (viewers) the units.
Attribute values are compared as the strings of the CSV.

Scoring (RiskLoc's and Squeeze's rule): each selected slice is written as its sorted
attr=value pairs joined by '&'; per case TP = true elements among the predictions, FP = the
other predictions, FN = the missed true elements; F1, precision and recall are micro-averaged
over all cases. Top-k (our definition): a case counts when every true element is among the
first k elements of the ranked list = the selected slices (rank order) then the runners-up, so a
case with two true elements cannot count at k = 1. For the README's RobustSpot figures, which
rank whole candidate sets, we also print exact-set top-k over the list of explanations = the
selected set, then each runner-up alone.

Tuned on this data: `min_excess_share` only, from a small grid; its default in find_slices,
0.1, is the best grid point on these cases, so the headline figures are tuned. The 2-fold
figure tunes it on the odd cases and scores the even ones and vice versa, then pools the
held-out predictions. The method's design (free background multiplier, ripple-effect rules,
significance test) was also developed while looking at these cases, which no split can undo.

A second part times find_slices on a synthetic marketplace table of 30,240 leaves x 6
attributes (the target: well under 2 s).
"""

from __future__ import annotations

import argparse
import ast
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from analytics.slicing import SliceSearch, find_slices

BASELINE_MINUTES = 4
TOP_K = (1, 3, 5)
MIN_EXCESS_SHARE_GRID = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3)
DEFAULT_MIN_EXCESS_SHARE = 0.1
SPEED_RUNS = 3
PEERS = (
    ("RobustSpot, its published top-1 outputs", "0.684", "67% / 87% / 98% (exact set)"),
    ("RobustSpot (reference code, default parameters)", "0.414", ""),
    ("Adtributor", "0.274", ""),
    ("AutoRoot", "0.261", ""),
    ("R-Adtributor", "0.104", ""),
    ("Squeeze", "0.043", ""),
    ("HotSpot", "0.042", ""),
)


@dataclass(frozen=True)
class Case:
    name: str
    leaves: pd.DataFrame
    truth: frozenset[str]


def element(filters: dict[str, object]) -> str:
    """A one-value-per-attribute slice as the scorer writes it: sorted attr=value pairs."""
    return "&".join(sorted(f"{attribute}={value}" for attribute, value in filters.items()))


def slice_elements(filters: dict[str, list[object]]) -> list[str]:
    """A slice as scorer elements: one per combination of its values (several only after an
    ordinal merge, which this benchmark does not use)."""
    combos: list[dict[str, object]] = [{}]
    for attribute, values in filters.items():
        combos = [{**combo, attribute: value} for combo in combos for value in values]
    return [element(combo) for combo in combos]


def load_cases(data: Path) -> list[Case]:
    entries = yaml.safe_load((data / "anomaly.yaml").read_text(encoding="utf-8"))
    cases = []
    for entry in entries:
        frame = pd.read_csv(data / f"{entry['data']}.csv", dtype=str, keep_default_na=False)
        attributes = [c for c in frame.columns if c not in ("min", "value", "cnt")]
        frame["min"] = frame["min"].astype(int)
        frame[["value", "cnt"]] = frame[["value", "cnt"]].astype(float)
        timestamp = int(entry["timestamp"])
        current = frame[frame["min"] == timestamp].groupby(attributes)[["value", "cnt"]].sum()
        previous = [timestamp - 60 * k for k in range(1, BASELINE_MINUTES + 1)]
        baseline = (
            frame[frame["min"].isin(previous)].groupby(attributes)[["value", "cnt"]].sum()
            / BASELINE_MINUTES
        )
        leaves = (
            current.rename(columns={"value": "cur_num", "cnt": "cur_den"})
            .join(baseline.rename(columns={"value": "base_num", "cnt": "base_den"}), how="outer")
            .fillna(0.0)
            .reset_index()
        )
        causes = entry["cause"]
        if isinstance(causes, str):
            causes = ast.literal_eval(causes)
        if isinstance(causes, dict):
            causes = [causes]
        truth = frozenset(element({a: str(v) for a, v in cause.items()}) for cause in causes)
        cases.append(Case(entry["data"], leaves, truth))
    return cases


def predicted(search: SliceSearch) -> set[str]:
    return {name for found in search.slices for name in slice_elements(found.filters)}


def ranked(search: SliceSearch) -> list[str]:
    """Selected slices, then runners-up, as deduplicated scorer elements."""
    names: list[str] = []
    for found in (*search.slices, *search.runners_up):
        names += [name for name in slice_elements(found.filters) if name not in names]
    return names


def explanations(search: SliceSearch) -> list[frozenset[str]]:
    """The selected set, then each runner-up alone (for exact-set top-k)."""
    alternatives = [frozenset(slice_elements(found.filters)) for found in search.runners_up]
    return [frozenset(predicted(search)), *alternatives]


def micro_scores(pairs: Sequence[tuple[set[str], frozenset[str]]]) -> tuple[float, float, float]:
    tp = sum(len(guess & truth) for guess, truth in pairs)
    fp = sum(len(guess - truth) for guess, truth in pairs)
    fn = sum(len(truth - guess) for guess, truth in pairs)
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return f1, precision, recall


def synthetic_marketplace(seed: int = 0) -> pd.DataFrame:
    """30,240 leaves: 140 stores (each in one region and category) x 24 hours x 3 basket sizes
    x 3 platforms, ~40 orders per leaf and window, grocery dinner (18-20 h) twice as late."""
    rng = np.random.default_rng(seed)
    stores = pd.DataFrame(
        {
            "store": [f"S{i:03d}" for i in range(140)],
            "region": rng.choice(["north", "south", "east", "west", "central"], 140),
            "category": rng.choice(["grocery", "convenience", "retail"], 140),
        }
    )
    leaves = (
        pd.MultiIndex.from_product(
            [stores["store"], range(24), ["small", "medium", "large"], ["ios", "android", "web"]],
            names=["store", "hour", "basket_size", "platform"],
        )
        .to_frame(index=False)
        .merge(stores, on="store")
    )
    late_rate = 0.08 * rng.uniform(0.7, 1.3, len(leaves))
    dinner = (leaves["category"] == "grocery") & leaves["hour"].isin([18, 19, 20])
    base_units = rng.poisson(40, len(leaves))
    current_units = rng.poisson(40, len(leaves))
    return leaves.assign(
        cur_num=rng.binomial(current_units, np.where(dinner, 2 * late_rate, late_rate)),
        cur_den=current_units,
        base_num=rng.binomial(base_units, late_rate),
        base_den=base_units,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the rs/ benchmark directory")
    parser.add_argument("--verbose", action="store_true", help="print every missed case")
    args = parser.parse_args()
    started = time.perf_counter()
    cases = load_cases(args.data)
    print(f"{len(cases)} cases loaded in {time.perf_counter() - started:.1f} s")

    searches: dict[float, list[SliceSearch]] = {}
    seconds: dict[float, float] = {}
    for share in MIN_EXCESS_SHARE_GRID:
        started = time.perf_counter()
        searches[share] = [find_slices(c.leaves, min_excess_share=share) for c in cases]
        seconds[share] = time.perf_counter() - started
    guesses = {share: [predicted(s) for s in found] for share, found in searches.items()}

    def f1_on(share: float, indices: Sequence[int]) -> float:
        return micro_scores([(guesses[share][i], cases[i].truth) for i in indices])[0]

    everything = range(len(cases))
    print("min_excess_share grid, F1 over all cases:")
    print("  " + "  ".join(f"{s}: {f1_on(s, everything):.3f}" for s in MIN_EXCESS_SHARE_GRID))
    odd = [i for i in everything if i % 2 == 0]  # the 1st, 3rd, ... case of anomaly.yaml
    even = [i for i in everything if i % 2 == 1]
    held_out: list[tuple[set[str], frozenset[str]]] = []
    fold_choices = []
    for train, test in ((odd, even), (even, odd)):
        share = max(MIN_EXCESS_SHARE_GRID, key=lambda s, train=train: f1_on(s, train))
        fold_choices.append(share)
        held_out += [(guesses[share][i], cases[i].truth) for i in test]

    results = searches[DEFAULT_MIN_EXCESS_SHARE]
    pairs = [(g, c.truth) for g, c in zip(guesses[DEFAULT_MIN_EXCESS_SHARE], cases, strict=True)]
    f1, precision, recall = micro_scores(pairs)
    total = len(cases)
    top = {
        k: sum(c.truth <= set(ranked(s)[:k]) for s, c in zip(results, cases, strict=True))
        for k in TOP_K
    }
    exact = {
        k: sum(c.truth in explanations(s)[:k] for s, c in zip(results, cases, strict=True))
        for k in TOP_K
    }
    if args.verbose:
        for search, case in zip(results, cases, strict=True):
            if predicted(search) != case.truth:
                print(
                    f"  {case.name[:28]:<28} truth={sorted(case.truth)} "
                    f"selected={[slice_elements(s.filters)[0] for s in search.slices]} "
                    f"next={ranked(search)[len(search.slices) : len(search.slices) + 3]}"
                )

    print()
    print(f"find_slices, defaults (min_excess_share={DEFAULT_MIN_EXCESS_SHARE}), {total} cases")
    print(f"  F1            {f1:.3f}")
    print(f"  precision     {precision:.3f}")
    print(f"  recall        {recall:.3f}")
    print(
        "  top-1/3/5     "
        + " / ".join(f"{top[k]}/{total} ({100 * top[k] / total:.0f}%)" for k in TOP_K)
    )
    print(
        "  exact-set     "
        + " / ".join(f"{exact[k]}/{total} ({100 * exact[k] / total:.0f}%)" for k in TOP_K)
    )
    print(
        f"  2-fold F1     {micro_scores(held_out)[0]:.3f} (min_excess_share chosen: "
        f"{fold_choices[0]} on odd cases, {fold_choices[1]} on even cases)"
    )
    default_seconds = seconds[DEFAULT_MIN_EXCESS_SHARE]
    print(
        f"  time          {default_seconds:.2f} s for {total} cases "
        f"({1000 * default_seconds / total:.0f} ms per case, search only)"
    )
    print()
    print(f"  {'peers (README)':<50} {'F1':>6}  top-1/3/5")
    for name, peer_f1, peer_top in PEERS:
        print(f"  {name:<50} {peer_f1:>6}  {peer_top}")

    leaves = synthetic_marketplace()
    timings = []
    for _ in range(SPEED_RUNS):
        started = time.perf_counter()
        search = find_slices(leaves, ordinal={"hour": "cyclic"})
        timings.append(time.perf_counter() - started)
    attributes = len(search.attributes)
    print()
    print(
        f"synthetic marketplace: {len(leaves):,} leaves x {attributes} attributes, "
        f"{search.candidates_tested:,} candidates: median {statistics.median(timings):.2f} s "
        f"of {SPEED_RUNS} runs; found {[s.filters for s in search.slices]}"
    )


if __name__ == "__main__":
    main()
