"""The shipped eval suite: every scenario beside its expected findings, and the loader's errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from data.scenario import CAUSE_KINDS, load_scenario
from evals.suite import SUITE_DIR, SuiteError, load_suite, random_cases


@pytest.fixture(scope="module")
def suite():
    return {case.name: case for case in load_suite()}


def test_every_shipped_scenario_loads_with_expected_findings_that_match_it(suite) -> None:
    assert len(suite) >= 12
    for case in suite.values():
        assert (SUITE_DIR / f"{case.name}.expected.yaml").is_file()
        assert case.expected.question


def test_each_cause_kind_has_a_scenario_with_its_own_scope_and_date(suite) -> None:
    for kind in CAUSE_KINDS:
        unit = load_scenario(kind).interventions[0]
        ours = [
            i
            for case in suite.values()
            if case.expected.causes == [kind]
            for i in case.scenario.interventions
            if i.kind == kind and i.magnitude >= 1.0  # not the subtle one
        ]
        assert any(i.scope != unit.scope and i.onset.date() != unit.onset.date() for i in ours), (
            kind
        )


def test_the_suite_holds_the_demo_a_null_world_a_decoy_two_causes_a_subtle_and_a_store_case(
    suite,
) -> None:
    cases = list(suite.values())
    assert "demo" in suite
    assert any(not c.expected.incident and not c.scenario.interventions for c in cases)
    assert any(c.expected.ruled_out and c.expected.causes for c in cases)
    assert any(len(c.expected.causes) == 2 and c.name != "demo" for c in cases)
    assert any([i.magnitude for i in c.scenario.interventions] == [0.5] for c in cases)  # subtle
    assert any(
        all(i.scope.store_ids and len(i.scope.store_ids) <= 8 for i in c.scenario.interventions)
        and c.scenario.interventions
        for c in cases
    )


def _write(directory: Path, name: str, scenario: str, expected: str | None) -> None:
    (directory / f"{name}.yaml").write_text(scenario)
    if expected is not None:
        (directory / f"{name}.expected.yaml").write_text(expected)


SCENARIO = """
name: tiny
start: 2025-12-06
days: 10
orders_per_day: 100
interventions:
  - {kind: prep_time_drift, onset: 2025-12-12T08:00, magnitude: 1.0}
"""


def test_a_scenario_without_expected_findings_is_an_error_naming_the_file(tmp_path) -> None:
    _write(tmp_path, "tiny", SCENARIO, None)
    with pytest.raises(SuiteError, match=r"tiny.yaml: no expected findings"):
        load_suite(tmp_path)


def test_an_unknown_action_in_the_expected_findings_is_an_error(tmp_path) -> None:
    expected = "question: why?\ncauses: [prep_time_drift]\nactions: [rain_dance]\n"
    _write(tmp_path, "tiny", SCENARIO, expected)
    with pytest.raises(SuiteError, match=r"tiny.expected.yaml: .*unknown actions"):
        load_suite(tmp_path)


def test_an_expected_cause_the_scenario_does_not_hold_is_an_error(tmp_path) -> None:
    _write(tmp_path, "tiny", SCENARIO, "question: why?\ncauses: [inventory_drop]\n")
    with pytest.raises(SuiteError, match=r"expected causes \['inventory_drop'\]"):
        load_suite(tmp_path)


def test_a_decoy_must_be_an_inert_intervention(tmp_path) -> None:
    expected = "question: why?\ncauses: [prep_time_drift]\nruled_out: [batching_threshold]\n"
    _write(tmp_path, "tiny", SCENARIO, expected)
    with pytest.raises(SuiteError, match=r"ruled_out \['batching_threshold'\]"):
        load_suite(tmp_path)


def test_random_cases_ask_about_the_onset_day_and_expect_the_drawn_cause() -> None:
    cases = random_cases(3, seed=5, orders_per_day=2000)
    assert [c.source for c in cases] == ["random seed 5", "random seed 6", "random seed 7"]
    for case in cases:
        intervention = case.scenario.interventions[0]
        assert case.expected.causes == [intervention.kind]
        assert f"{intervention.onset.day}?" in case.expected.question
        assert case.expected.actions
