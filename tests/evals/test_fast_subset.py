"""The fast subset of the eval suite (run by `make test`): the demo and the null world shrunk to
small worlds, generated, asked and scored end to end with their shipped expected findings."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.runner import RunSettings, run_cases
from evals.scoring import ScenarioScore
from evals.suite import SuiteCase, load_suite

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
