"""The weather_disruption cause end to end: the storm ETA buffer's what-if against the exact
counterfactual (the world without the storm), the agent's answer on the storm day, and a world
without a `weather` table, where the storm is not testable."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from agent.service import Agent
from analytics.whatif import Simulator, simulate
from data.warehouse import WAREHOUSE_FILE, build_warehouse, open_warehouse
from evals.counterfactual import exact_effect
from tools.base import ToolContext, ToolError
from tools.causes.weather_disruption import STORM_ETA_BUFFER
from tools.investigation import investigate

NORTH_EVENINGS = {"region": ["north"], "hour": [16, 17, 18, 19, 20, 21]}
STORM = (dt.datetime(2025, 12, 29, 16), dt.datetime(2025, 12, 31))
BASELINE = (STORM[0] - dt.timedelta(days=14), STORM[0])


@pytest.fixture(scope="module")
def storm(small_scenario, make_world) -> Path:
    # 6000 orders a day: ~1,500 orders in the storm's region-hours.
    return make_world(small_scenario("weather_disruption", orders_per_day=6000))


def test_the_storm_eta_buffer_matches_the_exact_counterfactual_of_the_storm(
    storm: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Quotes padded by the storm's extra minutes give back, in CX and on-time rate, what the
    world without the storm has (customers judge lateness against the quote)."""
    truth = exact_effect(
        storm, 0, NORTH_EVENINGS, *STORM, cache_dir=tmp_path_factory.mktemp("truth")
    )
    con = open_warehouse(storm)
    try:
        result = simulate(
            Simulator.build(con, NORTH_EVENINGS, BASELINE, STORM), STORM_ETA_BUFFER.whatif
        )
    finally:
        con.close()
    for metric in ("cx_score", "on_time_rate"):
        estimate = result.deltas[metric]
        assert truth[metric] > 0
        assert estimate.estimate == pytest.approx(truth[metric], rel=0.25), (metric, truth)
        assert estimate.low <= truth[metric] <= estimate.high, (metric, estimate, truth[metric])
    assert 3 < result.parameters["minutes"] < 15


def test_the_agent_names_the_storm_first_on_the_storm_day_and_grounds_every_number(
    storm: Path,
) -> None:
    agent = Agent(storm)
    try:
        result = agent.ask("why did CX drop on Dec 29?")
    finally:
        agent.close()
    assert result["causes"][0]["kind"] == "weather_disruption", result["causes"]
    assert result["recommendations"][0]["action"] == "storm_eta_buffer"
    assert "storm" in result["answer"].split("Most likely cause:", 1)[1].split(".", 1)[0]
    assert result["grounding"]["ok"], result["grounding"]


def test_a_world_without_a_weather_table_reports_the_storm_not_testable(
    storm: Path, tmp_path: Path
) -> None:
    world = tmp_path / "world"
    shutil.copytree(storm, world, ignore=shutil.ignore_patterns(WAREHOUSE_FILE))
    (world / "weather.parquet").unlink()
    build_warehouse(world)
    context = ToolContext(world_dir=world)
    try:
        investigation = investigate(context)
    finally:
        context.close()
    assert investigation.causes is not None
    weather = next(c for c in investigation.causes.causes if c.kind == "weather_disruption")
    assert weather.status == "not_testable"
    assert "weather.condition" in weather.reasons[0]


def _storm_buffer(world: Path, window: tuple[dt.datetime, dt.datetime]) -> str:
    """The what_if tool's answer (its summary, or its error) for the storm buffer."""
    context = ToolContext(world_dir=world)
    arguments = {
        "action": "storm_eta_buffer",
        "filters": NORTH_EVENINGS,
        "start": window[0],
        "end": window[1],
        "parameters": {"minutes": 8},
    }
    try:
        output, _ = context.call("what_if", arguments)
        return output.summary
    except ToolError as error:
        return f"error: {error}"
    finally:
        context.close()


def test_the_storm_buffer_applies_in_the_storm_and_is_refused_where_no_storm_was(
    storm: Path, tmp_path: Path
) -> None:
    assert _storm_buffer(storm, STORM).startswith("Pad quoted ETAs in the storm's regions")
    week_before = (STORM[0] - dt.timedelta(days=7), STORM[1] - dt.timedelta(days=7))
    refused = _storm_buffer(storm, week_before)
    assert (
        refused.startswith("error: ")
        and "no order in this scope and window was placed during a storm" in refused
    ), refused
    world = tmp_path / "world"
    shutil.copytree(storm, world, ignore=shutil.ignore_patterns(WAREHOUSE_FILE))
    (world / "weather.parquet").unlink()
    build_warehouse(world)
    assert "no weather to tell a storm by" in _storm_buffer(world, STORM)


def test_asking_for_a_storm_buffer_where_there_was_no_storm_says_so_grounded(
    small_scenario, make_world
) -> None:
    agent = Agent(make_world(small_scenario("demo")))
    try:
        result = agent.ask("what if we add a storm buffer of 8 minutes?")
    finally:
        agent.close()
    assert "storm" in result["answer"] and "does not apply here" in result["answer"]
    assert "several actions named" not in " ".join(result.get("notes", []))
    assert result["grounding"]["ok"], result["grounding"]
