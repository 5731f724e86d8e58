"""The README walkthrough on DoorDash's 2015 sample through every mapping in examples/doordash_2015:
its own and other reasonable ones (a constant cancellation flag with nulls mapped to 'unknown',
zone-aware timestamps read in US Eastern time, the least a user can map). Each answers the
walkthrough's questions about the Super Bowl Sunday slowdown, every number grounded."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from agent.service import Agent
from agent.settings import AgentSettings
from data.ingest import IngestResult, ingest
from data.mapping import load_mapping

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "doordash_2015"
MAPPINGS = sorted(EXAMPLES.glob("mapping*.yaml"))
QUESTIONS = ("why did delivery times spike on Feb 1?", "why did delivery times get worse?")
MISSING = re.compile(r"\b(None|NaN|nan|inf|-inf|Infinity)\b")
SAMPLE = load_mapping(EXAMPLES / "mapping.yaml").source_path("orders")

pytestmark = pytest.mark.skipif(
    not SAMPLE.is_file(),
    reason=f"the DoorDash sample is not at {SAMPLE} (set CXAGENT_DOORDASH_CSV to its path)",
)


@pytest.fixture(scope="module", params=MAPPINGS, ids=lambda path: path.stem)
def answered(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[IngestResult, dict[str, dict[str, Any]]]:
    """One mapping's world and its answers to the walkthrough questions (one conversation each)."""
    result = ingest(request.param, tmp_path_factory.mktemp(request.param.stem) / "world")
    agent = Agent(result.out_dir, AgentSettings(llm="offline"))
    try:
        answers = {question: agent.ask(question, thread_id=question) for question in QUESTIONS}
    finally:
        agent.close()
    return result, answers


def test_there_are_other_reasonable_mappings_beside_the_examples_own() -> None:
    assert {path.name for path in MAPPINGS} >= {
        "mapping.yaml", "mapping_constant_flags.yaml", "mapping_eastern_time.yaml",
        "mapping_minimal.yaml",
    }  # fmt: skip


def test_every_mapping_ingests_every_order_of_the_sample(
    answered: tuple[IngestResult, dict[str, dict[str, Any]]],
) -> None:
    result, _ = answered
    assert result.row_counts == {"orders": 19_743, "deliveries": 19_743}


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_mapping_answers_the_walkthrough_grounded_without_missing_values(
    answered: tuple[IngestResult, dict[str, dict[str, Any]]], question: str
) -> None:
    _, answers = answered
    answer = answers[question]
    text = "\n".join([answer["answer"], *answer["notes"]])
    assert answer["kind"] == "diagnose"
    assert answer["grounding"]["ok"], answer["grounding"]
    assert answer["grounding"]["numbers"] > 0
    assert not MISSING.search(text), text


def test_every_mapping_finds_the_super_bowl_slowdown_in_delivery_duration(
    answered: tuple[IngestResult, dict[str, dict[str, Any]]],
) -> None:
    _, answers = answered
    answer = answers[QUESTIONS[0]]
    incident = answer["incident"]
    assert incident is not None, answer["answer"]
    assert incident["start"].startswith("2015-02-01"), incident
    assert incident["metric"] == "duration_min", incident
    assert incident["severity"] > 50, incident
    assert answer["answer"].startswith("Delivery duration in the marketplace went from")
    assert "treat it as noise" not in answer["answer"]


def test_every_mapping_searches_slices_over_the_dimensions_it_has(
    answered: tuple[IngestResult, dict[str, dict[str, Any]]],
) -> None:
    result, answers = answered
    answer = answers[QUESTIONS[0]]
    # A mapping without stores or basket values searched nothing before ("no orders with ...").
    assert not any(note.startswith("slices:") for note in answer["notes"]), answer["notes"]
    if result.out_dir.parent.name.startswith("mapping_minimal"):  # hours only: none stands out
        assert "no significant slice" in " ".join(answer["notes"])
    else:
        assert answer["incident"]["slices"], answer["notes"]
