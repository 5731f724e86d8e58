"""The `cxagent` command line as a user runs it (real subprocesses): incidents, rca, errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
import yaml

from data.scenario import Scenario
from data.warehouse import WAREHOUSE_FILE
from tools.result_store import STORE_DIR

ScenarioFactory = Callable[..., Scenario]
WorldFactory = Callable[[Scenario], Path]

CXAGENT = Path(sys.executable).with_name("cxagent")
DEMO_INCIDENT = "INC-20260104-1800"


def _cxagent(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    # Without COLUMNS, Rich lays out for a non-terminal as a pipe or a log file would get it.
    environment = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    return subprocess.run(
        [str(CXAGENT), *map(str, arguments)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def demo_world(small_scenario: ScenarioFactory, make_world: WorldFactory) -> Path:
    return make_world(small_scenario("demo"))


def test_incidents_lists_the_demo_incident_with_its_grocery_slice_and_stores_them(
    demo_world: Path, tmp_path: Path
) -> None:
    world = tmp_path / "world"  # a copy: the command writes to the warehouse
    shutil.copytree(demo_world, world)

    result = _cxagent("incidents", "--world", world)

    assert result.returncode == 0, result.stderr
    assert DEMO_INCIDENT in result.stdout
    assert "category=grocery, hour=18-20" in result.stdout
    # The grain the volume supports (as the chat picks it), and why, in the title.
    assert re.search(r"hourly detection: \d+% of the data's hours hold at least", result.stdout)
    with duckdb.connect(str(world / WAREHOUSE_FILE), read_only=True) as con:
        stored = {row[0] for row in con.execute("SELECT incident_id FROM incidents").fetchall()}
        slices = con.execute(
            "SELECT description FROM incident_slices WHERE incident_id = ? ORDER BY rank",
            [DEMO_INCIDENT],
        ).fetchall()
    assert DEMO_INCIDENT in stored
    assert slices[0] == ("category=grocery, hour=18-20",)


def test_rca_writes_a_report_that_ranks_batching_threshold_first(
    demo_world: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report.md"

    result = _cxagent("rca", "--world", demo_world, "--out", report)

    assert result.returncode == 0, result.stderr
    ranked = report.read_text().split("## Ranked causes", 1)[1].split("\n\n")[1]
    first_row = ranked.splitlines()[2]
    assert first_row.startswith("| 1 | batching_threshold |")


def _assert_one_line_error(result: subprocess.CompletedProcess[str], mentions: str) -> None:
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:") and mentions in lines[0]


def test_rca_of_an_unknown_incident_exits_2_with_a_one_line_error(demo_world: Path) -> None:
    result = _cxagent("rca", "--world", demo_world, "--incident", "INC-NOPE")

    _assert_one_line_error(result, "INC-NOPE")


def test_rca_of_a_missing_world_directory_exits_2_with_a_one_line_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-world"

    result = _cxagent("rca", "--world", missing)

    _assert_one_line_error(result, "no warehouse")


def test_ask_json_follows_the_contract_and_exports_trace_and_plan(
    demo_world: Path, tmp_path: Path
) -> None:
    trace, plan = tmp_path / "trace.json", tmp_path / "plan.md"
    run = _cxagent(
        "ask", "why did CX drop on Jan 4?", "--world", demo_world, "--json",
        "--trace", trace, "--plan-out", plan,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["causes"][0]["kind"] == "batching_threshold"
    assert result["grounding"]["ok"] and result["incident"]["start"].startswith("2026-01-04")
    exported = json.loads(trace.read_text())
    assert [node["node"] for node in exported["nodes"]][:2] == ["parse_question", "detect"]
    calls = [call for node in exported["nodes"] for call in node["tool_calls"]]
    assert [call["id"] for call in calls] == [item["id"] for item in result["evidence"]]
    detect = calls[0]
    assert detect["tool"] == "detect_incidents" and "grain" in detect["args"]
    assert detect["figures"]["incidents"] >= 1 and detect["seconds"] >= 0
    assert plan.read_text().startswith("# Experiment plan")


def test_generate_analyses_the_world_so_that_a_later_ask_computes_nothing_new(
    small_scenario: ScenarioFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CXAGENT_RESULT_CACHE", "on")
    scenario = tmp_path / "small-demo.yaml"
    scenario.write_text(yaml.safe_dump(small_scenario("demo").model_dump(mode="json")))
    world, skipped = tmp_path / "world", tmp_path / "skipped"

    run = _cxagent("generate", "--scenario", scenario, "--out", world)
    assert run.returncode == 0, run.stderr
    assert re.search(rf"analysed in [\d.]+ s: {DEMO_INCIDENT}", run.stdout), run.stdout
    stored = sorted(path.name for path in (world / STORE_DIR).glob("*.json"))
    assert any(name.startswith("recommend_actions") for name in stored)
    for path in (world / STORE_DIR).glob("detect_incidents*.json"):  # mark what the store holds
        entry = json.loads(path.read_text())
        entry["payload"]["output"]["summary"] += " [stored]"
        path.write_text(json.dumps(entry))
    ask = _cxagent("ask", "why did CX drop on Jan 4?", "--world", world, "--json")
    assert ask.returncode == 0, ask.stderr
    result = json.loads(ask.stdout)
    assert result["incident"]["id"] == DEMO_INCIDENT
    scans = [item for item in result["evidence"] if item["tool"] == "detect_incidents"]
    assert scans and all(item["summary"].endswith(" [stored]") for item in scans)  # read back
    assert sorted(path.name for path in (world / STORE_DIR).glob("*.json")) == stored

    no = _cxagent("generate", "--scenario", scenario, "--out", skipped, "--no-analyse")
    assert no.returncode == 0 and "analysed in" not in no.stdout
    assert not (skipped / STORE_DIR).exists()


def test_ask_prints_a_cited_answer_and_chat_keeps_the_thread(demo_world: Path) -> None:
    run = _cxagent("ask", "why did CX drop on Jan 4?", "--world", demo_world)
    assert run.returncode == 0, run.stderr
    assert "batching" in run.stdout and "[E" in run.stdout and "(ok)" in run.stdout
    chat = subprocess.run(
        [str(CXAGENT), "chat", "--world", str(demo_world)],
        input="why did CX drop on Jan 4?\nwhat if we cut the batching threshold back?\n\n",
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert chat.returncode == 0, chat.stderr
    assert "Reduce the batching threshold" in chat.stdout and "CX +" in chat.stdout


def test_ask_on_a_missing_world_exits_2_with_a_one_line_error(tmp_path: Path) -> None:
    run = _cxagent("ask", "why did CX drop on Jan 4?", "--world", tmp_path / "nowhere")
    assert run.returncode == 2
    assert run.stderr.startswith("error:") and "Traceback" not in run.stderr


def test_recommend_ranks_reverting_batching_first_and_writes_the_plan(
    demo_world: Path, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.md"
    run = _cxagent("recommend", "--world", demo_world, "--day", "2026-01-04", "--plan-out", plan)
    assert run.returncode == 0, run.stderr
    first_row = next(line for line in run.stdout.splitlines() if line.startswith("│ 1 "))
    assert "Reduce the batching" in first_row and "yes" in first_row
    text = plan.read_text()
    for section in ("## Hypothesis", "## Primary metrics", "## Guardrails",
                    "## Unit of randomization"):  # fmt: skip
        assert section in text
