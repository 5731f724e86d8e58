"""A query the engine cannot run (Spark down, a statement it rejects) fails that tool call with
the engine's message, recorded in the ledger, never shared, and the agent still answers with
the evidence it has: the engine is a real DuckDB connection that refuses one kind of query."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

import tools.catalog  # noqa: F401  (registers the tools)
from agent.service import Agent
from data.engines.base import EngineError
from data.warehouse import open_warehouse
from tools.base import ToolContext, ToolError

REFUSED = "regr_slope"  # the driver tests' batch-detour regression
MESSAGE = "Spark failed running the query: executor lost"


class Refusing:
    """A DuckDB connection that raises EngineError for queries naming REFUSED."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self.refused = 0

    def execute(self, sql: str, parameters: Any = None) -> duckdb.DuckDBPyConnection:
        if REFUSED in sql.lower():
            self.refused += 1
            raise EngineError(MESSAGE)
        return self._con.execute(sql, parameters or [])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


@pytest.fixture
def engine(small_scenario, make_world) -> Iterator[Refusing]:
    con = open_warehouse(make_world(small_scenario("demo")))
    yield Refusing(con)
    con.close()


@pytest.fixture
def world(small_scenario, make_world) -> Path:
    return make_world(small_scenario("demo"))


SHIFT = {
    "driver": "batch_detour_min",
    "filters": {"category": ["grocery"], "hour": [18, 19, 20]},
    "start": "2026-01-04T18:00",
    "end": "2026-01-06T00:00",
}


def test_a_refused_query_fails_the_call_with_the_engines_message(world, engine) -> None:
    context = ToolContext(world_dir=world, engine=engine)
    for attempt in (1, 2):  # not shared: the second call asks the engine again
        with pytest.raises(ToolError, match="executor lost"):
            context.call("driver_shift", SHIFT)
        assert engine.refused == attempt
    failed = [item for item in context.ledger.items if not item.ok]
    assert [item.tool for item in failed] == ["driver_shift", "driver_shift"]
    assert MESSAGE in failed[0].summary


def test_the_agent_answers_with_the_evidence_it_has(world, engine) -> None:
    result = Agent(world, engine=engine).ask("why did CX drop on Jan 4?")
    assert engine.refused > 0
    assert result["kind"] == "diagnose" and result["grounding"]["ok"]
    refused = [item for item in result["evidence"] if not item["ok"]]
    assert refused and all("executor lost" in item["summary"] for item in refused)
    assert result["causes"], "the causes the other tests support are still ranked"
