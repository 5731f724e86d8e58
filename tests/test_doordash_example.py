"""The worked example of the README ("Use your own data"): DoorDash's 2015 delivery sample,
ingested through examples/doordash_2015/mapping.yaml and asked about Super Bowl Sunday."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.service import Agent
from agent.settings import AgentSettings
from data.ingest import IngestResult, ingest
from data.mapping import load_mapping

MAPPING = Path(__file__).resolve().parents[1] / "examples" / "doordash_2015" / "mapping.yaml"
QUESTION = "why did delivery times spike on Feb 1?"


def _sample() -> Path:
    return load_mapping(MAPPING).source_path("orders")


pytestmark = pytest.mark.skipif(
    not _sample().is_file(),
    reason=f"the DoorDash sample is not at {_sample()} (set CXAGENT_DOORDASH_CSV to its path)",
)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> IngestResult:
    return ingest(MAPPING, tmp_path_factory.mktemp("doordash") / "world")


def test_the_sample_is_read_in_place_and_its_known_flaws_are_reported(
    ingested: IngestResult,
) -> None:
    assert not (MAPPING.parent / _sample().name).exists()  # never copied into the repository
    report = ingested.report
    assert report.tables["orders"].rows == report.tables["deliveries"].rows == 19_743
    nulls = {c.name: c.null_rate for c in report.tables["orders"].columns}
    assert 0 < nulls["region"] < 0.01  # rows without market_id
    busy = next(f for f in report.findings if f.check == "busy_over_onshift")
    assert busy.share > 0.1
    assert os.environ.get("CXAGENT_DOORDASH_CSV") or "shared/data/real" in str(_sample())


def test_asking_about_super_bowl_sunday_gives_a_grounded_answer(ingested: IngestResult) -> None:
    agent = Agent(ingested.out_dir, AgentSettings(llm="offline"))
    try:
        result = agent.ask(QUESTION)
    finally:
        agent.close()

    assert result["grounding"]["ok"], result["grounding"]
    assert result["incident"]["start"].startswith("2015-02-01")
    assert result["incident"]["metric"] == "duration_min"
    assert result["answer"].startswith("Delivery duration in the marketplace went from")
    assert "CX score unavailable" in result["answer"]
    # No promised ETA, so no on-time rate: slices are sought on the slow-delivery rate.
    assert "where the slow-delivery rate went from" in result["answer"]
    statuses = {cause["kind"]: cause["status"] for cause in result["causes"]}
    assert statuses["batching_threshold"] == statuses["eta_model_bias"] == "not_testable"
    assert statuses["dasher_shortage"] != "not_testable"  # the per-order market state stands in
    detection = next(e for e in result["evidence"] if e["tool"] == "detect_incidents")
    assert detection["args"]["grain"] == "auto"
    assert any("too few for hourly detection" in call["summary"]
               for step in result["trace"] for call in step["tool_calls"])  # fmt: skip
    assert any("more busy dashers than on-shift dashers" in note for note in result["notes"])
