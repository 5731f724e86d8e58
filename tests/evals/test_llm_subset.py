"""The fast subset of the eval suite through the LLM tool loop: a scripted model on loopback
(evals/scripted_model.py) calls `investigate` and answers with its draft, over real HTTP. The
same findings and 100% grounding as offline: the loop's plumbing loses nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from evals.runner import RunSettings, run_cases
from evals.scoring import ScenarioScore
from evals.scripted_model import scripted_model
from evals.suite import SuiteCase, load_suite

FAST_SUBSET = ("demo", "null")
SMALL_ORDERS_PER_DAY = 3000


def _small(case: SuiteCase) -> SuiteCase:
    scenario = case.scenario.model_copy(update={"orders_per_day": SMALL_ORDERS_PER_DAY})
    return SuiteCase(case.name, scenario, case.expected, case.source)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ScenarioScore]]:
    cache = tmp_path_factory.mktemp("llm-eval-cache")
    with pytest.MonkeyPatch.context() as patch, scripted_model() as url:
        patch.setenv("CXAGENT_OPENAI_BASE_URL", url)
        patch.setenv("OPENAI_API_KEY", "sk-scripted")
        cases = [_small(case) for case in load_suite(names=list(FAST_SUBSET))]
        settings = RunSettings(cache_dir=cache, jobs=1, llm="openai", whatif=False)
        yield {r.name: r for r in run_cases(cases, settings)}


@pytest.mark.parametrize("name", FAST_SUBSET)
def test_the_llm_loop_meets_the_expected_findings(
    results: dict[str, ScenarioScore], name: str
) -> None:
    result = results[name]
    assert result.error is None, result.error
    assert result.backend == "openai"
    assert result.passed, result.misses
    assert result.grounding_ok and result.grounding_grounded == result.grounding_numbers
