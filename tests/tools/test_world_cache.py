"""Tool results shared by every conversation on a world: a second thread's diagnosis records its
own evidence without running any tool again; a changed warehouse is never answered from the old
results; the cache keeps to its bound."""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

from agent.service import Agent
from data.scenario import Scenario
from data.warehouse import WAREHOUSE_FILE
from tools.base import (
    REGISTRY,
    Tool,
    ToolContext,
    ToolError,
    ToolOutput,
    TransientToolError,
    WorldCache,
    approximate_bytes,
)

ScenarioFactory = Callable[..., Scenario]
WorldFactory = Callable[[Scenario], Path]
QUESTION = "why did CX drop on Jan 4?"


@pytest.fixture(scope="module")
def demo_world(small_scenario: ScenarioFactory, make_world: WorldFactory) -> Path:
    return make_world(small_scenario("demo"))


@pytest.fixture
def tool_runs(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times each tool's function ran (every registered tool is wrapped)."""
    runs: Counter[str] = Counter()
    for name, registered in list(REGISTRY.items()):

        def counted(context: ToolContext, args: BaseModel, _tool: Tool = registered) -> Any:
            runs[_tool.name] += 1
            return _tool.function(context, args)

        monkeypatch.setitem(REGISTRY, name, dataclasses.replace(registered, function=counted))
    return runs


@pytest.fixture
def world_copy(demo_world: Path, tmp_path: Path) -> Path:
    """A private copy of the small demo world, free to change."""
    return Path(shutil.copytree(demo_world, tmp_path / "world"))


def test_a_second_threads_diagnosis_runs_no_tool_and_records_its_own_evidence(
    demo_world: Path, tool_runs: Counter[str]
) -> None:
    agent = Agent(demo_world)
    try:
        first = agent.ask(QUESTION, thread_id="first")
        runs_after_first = Counter(tool_runs)
        second = agent.ask(QUESTION, thread_id="second")
        runs_after_second = Counter(tool_runs)
        agent.ask("how many orders last week?", thread_id="third")
        third = agent.ask(QUESTION, thread_id="third")  # its diagnosis starts at another id
    finally:
        agent.close()
    assert runs_after_first["recommend_actions"] == 1 and runs_after_first["what_if"] >= 1
    assert runs_after_second == runs_after_first  # no tool function ran again
    assert second["evidence"] is not first["evidence"]
    assert [item["id"] for item in second["evidence"]] == [item["id"] for item in first["evidence"]]
    assert second["answer"] == first["answer"] and second["grounding"]["ok"]
    # The ranking's arguments cite the thread's own evidence ids, so only it runs again.
    assert tool_runs - runs_after_second == Counter({"metric_summary": 1, "rank_causes": 1})
    ids = [item["id"] for item in third["evidence"]]
    assert ids == [f"E{n}" for n in range(1, len(ids) + 1)]
    assert [call["tool"] for call in _calls(third)] == [call["tool"] for call in _calls(first)]
    assert third["answer"] != first["answer"] and third["grounding"]["ok"]
    evidence = {item["id"]: item for item in third["evidence"]}
    for recommendation in third["recommendations"]:  # renumbered to this thread's what-ifs
        assert evidence[recommendation["evidence"]]["tool"] == "what_if"
        assert evidence[recommendation["evidence"]]["args"]["action"] == recommendation["action"]


def _calls(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [call for step in result["trace"] for call in step["tool_calls"]]


def test_a_shared_result_is_recorded_with_the_lookup_time_and_the_same_findings(
    demo_world: Path, tool_runs: Counter[str]
) -> None:
    shared = WorldCache()
    first, second = (ToolContext(world_dir=demo_world, shared=shared) for _ in range(2))
    try:
        computed, computed_item = first.call("cx_timeseries", {"metrics": ["on_time_rate"]})
        reused, reused_item = second.call("cx_timeseries", {"metrics": ["on_time_rate"]})
    finally:
        first.close()
        second.close()
    assert tool_runs["cx_timeseries"] == 1
    assert reused is computed
    assert reused_item is not computed_item and reused_item.id == computed_item.id == "E1"
    fields = {"tool", "args", "summary", "figures", "table", "sql", "ok"}
    assert reused_item.model_dump(include=fields) == computed_item.model_dump(include=fields)
    assert reused_item.seconds < computed_item.seconds


def test_a_tool_that_calls_tools_is_replayed_with_its_calls_renumbered(
    demo_world: Path, tool_runs: Counter[str]
) -> None:
    shared = WorldCache()
    first, second = (ToolContext(world_dir=demo_world, shared=shared) for _ in range(2))
    arguments = {
        "filters": {"category": ["grocery"]},
        "start": "2026-01-04T18:00:00",
        "end": "2026-01-06T00:00:00",
        "causes": [{"kind": "batching_threshold", "confidence": 0.9}],
    }
    try:
        first.call("change_log", {"around": "2026-01-04T18:00:00"})  # the first's ids start at E2
        computed, computed_item = first.call("recommend_actions", arguments)
        runs = Counter(tool_runs)
        reused, reused_item = second.call("recommend_actions", arguments)
    finally:
        first.close()
        second.close()
    assert tool_runs == runs
    what_ifs = [item for item in second.ledger.items if item.tool == "what_if"]
    assert [item.id for item in what_ifs] == [f"E{n}" for n in range(1, len(what_ifs) + 1)]
    assert reused_item.id == f"E{len(what_ifs) + 1}"
    cited = {r.action: r.evidence for r in reused.recommendations}
    assert cited == {item.args["action"]: item.id for item in what_ifs if item.ok}
    assert {r.action: r.evidence for r in computed.recommendations} != cited  # renumbered
    assert [r.cx_gain for r in reused.recommendations] == [
        r.cx_gain for r in computed.recommendations
    ]
    assert reused_item.figures == computed_item.figures


def test_a_changed_warehouse_is_never_answered_from_the_old_results(
    world_copy: Path, tool_runs: Counter[str]
) -> None:
    agent = Agent(world_copy)
    warehouse = world_copy / WAREHOUSE_FILE
    question = "how many orders last week?"
    try:
        first = agent.ask(question, thread_id="first")
        (tool,) = {call["tool"] for call in _calls(first)}
        agent.ask(question, thread_id="unchanged")
        assert tool_runs[tool] == 1
        status = warehouse.stat()  # touched: an append keeps the file and moves its mtime
        os.utime(warehouse, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))
        agent.ask(question, thread_id="touched")
        assert tool_runs[tool] == 2
        again = agent.ask(question, thread_id="first")  # not the thread's answer on old data
        assert [call["id"] for call in _calls(again)] == ["E2"]
        replacement = warehouse.with_name("rebuilt.duckdb")  # rebuilt: a new file in its place
        shutil.copy2(warehouse, replacement)
        replacement.replace(warehouse)
        agent.ask(question, thread_id="replaced")
        assert tool_runs[tool] == 3
    finally:
        agent.close()
    assert agent.shared.generation == 2


def test_results_computed_on_data_that_changed_meanwhile_are_not_kept(world_copy: Path) -> None:
    cache = WorldCache()
    cache.bind(world_copy)
    warehouse = world_copy / WAREHOUSE_FILE

    def computed_while_the_file_changes() -> str:
        status = warehouse.stat()
        os.utime(warehouse, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))
        return "stale"

    assert cache.get("key", computed_while_the_file_changes) == "stale"
    assert cache.get("key", lambda: "fresh") == "fresh"


def test_the_cache_keeps_to_its_bound_of_entries_dropping_the_least_recently_used() -> None:
    cache = WorldCache(max_entries=3)
    for key in "abc":
        cache.get(key, lambda key=key: key.upper())
    cache.get("a", lambda: "never")  # a hit: "a" becomes the most recently used
    cache.get("d", lambda: "D")
    assert len(cache) == 3
    assert cache.get("a", lambda: "recomputed") == "A"
    assert cache.get("b", lambda: "recomputed") == "recomputed"  # the least recently used went


def test_the_cache_keeps_to_its_bound_of_bytes() -> None:
    array_bytes = approximate_bytes(np.zeros(100))
    cache = WorldCache(max_bytes=3 * array_bytes)
    for key in range(10):
        cache.get(key, lambda: np.zeros(100))
        assert cache.bytes <= cache.max_bytes
    assert len(cache) == 3
    huge = cache.get("huge", lambda: np.zeros(1000))
    assert len(huge) == 1000 and cache.get("huge", lambda: None) is None  # returned, not kept


def test_the_size_of_a_value_counts_its_arrays_frames_and_objects() -> None:
    import pandas as pd

    @dataclasses.dataclass
    class Holder:
        frame: pd.DataFrame
        arrays: list[np.ndarray]

    holder = Holder(pd.DataFrame({"x": np.zeros(1000)}), [np.zeros(500), np.zeros(500)])
    assert approximate_bytes(holder) >= 8 * 2000
    numbers = list(range(100_000))  # sized from a sample of its items
    exact = sys.getsizeof(numbers) + sum(sys.getsizeof(number) for number in numbers)
    assert approximate_bytes(numbers) == pytest.approx(exact, rel=0.05)


def test_concurrent_callers_of_one_key_compute_it_once() -> None:
    cache = WorldCache()
    computed = []

    def slow() -> int:
        computed.append(1)
        time.sleep(0.2)
        return 42

    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", slow))) for _ in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [42, 42] and computed == [1]


class _Nothing(BaseModel):
    pass


def _register(monkeypatch: pytest.MonkeyPatch, function: Callable[..., ToolOutput], **flags: Any):
    monkeypatch.setitem(
        REGISTRY,
        function.__name__,
        Tool(function.__name__, "test tool", _Nothing, ToolOutput, function, **flags),
    )


def test_a_tool_error_is_shared_but_a_transient_one_is_tried_again(
    demo_world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: Counter[str] = Counter()

    def always_fails(context: ToolContext, args: _Nothing) -> ToolOutput:
        runs["always_fails"] += 1
        raise ToolError("not testable: missing the data")

    def times_out(context: ToolContext, args: _Nothing) -> ToolOutput:
        runs["times_out"] += 1
        raise TransientToolError("stopped after 5 s")

    def reads_a_file(context: ToolContext, args: _Nothing) -> ToolOutput:
        runs["reads_a_file"] += 1
        return ToolOutput(summary="read")

    _register(monkeypatch, always_fails)
    _register(monkeypatch, times_out)
    _register(monkeypatch, reads_a_file, shared=False)
    shared = WorldCache()
    for _ in range(2):
        context = ToolContext(world_dir=demo_world, shared=shared)
        for name in ("always_fails", "times_out"):
            with pytest.raises(ToolError) as failure:
                context.call(name)
            assert failure.value.item is context.ledger.items[-1]
            assert not failure.value.item.ok
        context.call("reads_a_file")
        context.call("reads_a_file")  # the same thread: its first answer again
    assert runs == {"always_fails": 1, "times_out": 2, "reads_a_file": 2}


def test_a_world_cache_serves_one_world(demo_world: Path, world_copy: Path) -> None:
    shared = WorldCache()
    ToolContext(world_dir=demo_world, shared=shared)
    with pytest.raises(ValueError, match="serves"):
        ToolContext(world_dir=world_copy, shared=shared)


def test_an_output_quoting_its_conversations_evidence_is_not_shared(
    demo_world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: Counter[str] = Counter()

    def cites_the_ledger(context: ToolContext, args: _Nothing) -> ToolOutput:
        runs["cites_the_ledger"] += 1
        return ToolOutput(summary=f"the last finding was {context.ledger.items[-1].id}")

    _register(monkeypatch, cites_the_ledger)
    shared = WorldCache()
    for offset in (0, 1):
        context = ToolContext(world_dir=demo_world, shared=shared)
        for day in range(1 + offset):
            context.call("change_log", {"around": f"2026-01-0{day + 1}T00:00:00"})
        output, _ = context.call("cites_the_ledger")
        assert output.summary == f"the last finding was E{1 + offset}"
    assert runs["cites_the_ledger"] == 2
