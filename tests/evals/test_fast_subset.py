"""The fast subset of the eval suite (run by `make test`): the demo and the null world shrunk to
small worlds, generated, asked and scored end to end with their shipped expected findings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from analytics.incidents import SERIOUS
from evals.exact_impact import CauseSpan, exact_impact
from evals.proportions import Proportion
from evals.report import summarize
from evals.runner import RunSettings, run_cases
from evals.scoring import ScenarioScore
from evals.suite import SuiteCase, load_suite
from evals.worlds import cached_world

FAST_SUBSET = ("demo", "null")
SMALL_ORDERS_PER_DAY = 3000  # the size of tests/conftest.py's small worlds


def _small(case: SuiteCase) -> SuiteCase:
    scenario = case.scenario.model_copy(update={"orders_per_day": SMALL_ORDERS_PER_DAY})
    return SuiteCase(case.name, scenario, case.expected, case.source)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("eval-cache")


@pytest.fixture(scope="module")
def results(cache_dir: Path) -> dict[str, ScenarioScore]:
    cases = [_small(case) for case in load_suite(names=list(FAST_SUBSET))]
    return {r.name: r for r in run_cases(cases, RunSettings(cache_dir=cache_dir, jobs=1))}


@pytest.mark.parametrize("name", FAST_SUBSET)
def test_fast_subset_scenario_meets_its_expected_findings(
    results: dict[str, ScenarioScore], name: str
) -> None:
    result = results[name]
    assert result.error is None, result.error
    assert result.passed, result.misses


def test_demo_what_if_is_checked_against_its_counterfactual_world(
    results: dict[str, ScenarioScore],
) -> None:
    check = results["demo"].measured.whatif
    assert check is not None and check.action == "revert_batching"
    assert check.undoes == ["batching_threshold"]
    assert check.exact > 0 and check.low <= check.estimate <= check.high


def test_a_second_run_reuses_the_cached_world(
    results: dict[str, ScenarioScore], cache_dir: Path
) -> None:
    assert results["null"].timings.generate > 0
    cases = [_small(case) for case in load_suite(names=["null"])]
    again = run_cases(cases, RunSettings(cache_dir=cache_dir, jobs=1))[0]
    assert again.timings.generate == 0 and again.passed


def test_worlds_of_an_older_generator_are_deleted_when_a_world_is_generated(
    results: dict[str, ScenarioScore], cache_dir: Path
) -> None:
    worlds = cache_dir / "worlds"
    kept = sorted(p.name for p in worlds.iterdir())
    stale = worlds / "null-0123abcd-456789abcdef"  # another generator's fingerprint
    (stale / "orders").mkdir(parents=True)
    (stale / "world.json").write_text("{}")
    null = load_suite(names=["null"])[0].scenario
    scenario = null.model_copy(update={"orders_per_day": 100, "days": 3})
    path, seconds = cached_world(scenario, cache_dir)
    assert seconds > 0 and path.is_dir()
    assert not stale.exists()
    assert sorted(p.name for p in worlds.iterdir()) == sorted([*kept, path.name])


def test_demo_exact_impact_is_read_against_its_counterfactual_world(
    results: dict[str, ScenarioScore], cache_dir: Path
) -> None:
    """The demo's batching change lost CX worth a page (medium or higher on the incidents'
    severity scale, against the world regenerated without it); the same world against itself
    lost nothing; the summary counts the demo among the incidents worth a page."""
    demo = results["demo"]
    impact = demo.measured.exact_impact
    assert impact is not None and impact.impact_orders > 0 and impact.severity_label in SERIOUS
    assert results["null"].measured.exact_impact is None  # no cause, nothing to measure
    world, _ = cached_world(_small(load_suite(names=["demo"])[0]).scenario, cache_dir)
    span = CauseSpan({"category": ["grocery"]}, dt.datetime(2026, 1, 4), dt.datetime(2026, 1, 6))
    same = exact_impact(world, world, [span], SMALL_ORDERS_PER_DAY)
    assert (same.impact_orders, same.severity_label) == (0.0, "low")
    summary = summarize(list(results.values()), wall_seconds=1.0)
    assert summary.material == 1 and summary.material_detected == Proportion.of(1, 1)
    assert summary.material_top1 == Proportion.of(int(bool(demo.top1)), 1)
