"""Follow-ups after a diagnosis: how sure the ranking is, and what to do about it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.service import Agent
from analytics.ranking import WEIGHTS


@pytest.fixture(scope="module")
def demo(small_scenario, make_world) -> Path:
    return make_world(small_scenario("demo"))


def test_how_sure_explains_the_leading_cause_with_its_cited_score_and_formula(demo: Path) -> None:
    agent = Agent(demo)
    try:
        before = agent.ask("how sure are you?", thread_id="early")
        diagnosis = agent.ask("why did CX drop on Jan 4?")
        answer = agent.ask("how sure are you about that cause?")
    finally:
        agent.close()
    assert before["kind"] == "explain" and "No cause has been ranked" in before["answer"]
    top = diagnosis["causes"][0]
    assert top["kind"] == "batching_threshold" and top["status"] == "supported"
    text = answer["answer"]
    assert answer["kind"] == "explain" and answer["grounding"]["ok"], answer["grounding"]
    ranking = next(c for c in answer["evidence"] if c["tool"] == "rank_causes")
    assert f"has confidence {top['confidence']:.2f} (supported) [{ranking['id']}]" in text
    for name in WEIGHTS:  # every part of the score, with its weight in the quoted formula
        part = ranking["figures"][f"batching_threshold.{name}"]["value"]
        assert f"{name.replace('_', ' ')} {part:.2f}" in text
        assert f"{WEIGHTS[name]:.2f} x {name.replace('_', ' ')}" in text
    assert "not a probability" in text


def test_what_to_do_about_it_answers_with_the_diagnosis_and_its_ranked_fixes(demo: Path) -> None:
    agent = Agent(demo)
    try:
        agent.ask("why did CX drop on Jan 4?")
        answer = agent.ask("what should we do about it?")
    finally:
        agent.close()
    assert answer["kind"] == "diagnose" and answer["grounding"]["ok"], answer["grounding"]
    assert answer["recommendations"][0]["action"] == "revert_batching"
    assert "Recommended: reduce the batching threshold" in answer["answer"]
