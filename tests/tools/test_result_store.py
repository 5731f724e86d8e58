"""Tool results kept on disk in the world directory: a fresh process (a new WorldCache) answers
from them without running a tool; a changed warehouse or other code is never answered from
them; a corrupt, foreign or half-written entry is ignored and computed again; the store keeps
to its bound; CXAGENT_RESULT_CACHE=off writes nothing."""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pydantic import BaseModel

from agent.service import Agent
from data.scenario import Scenario
from data.warehouse import WAREHOUSE_FILE
from tools import result_store
from tools.base import REGISTRY, EvidenceItem, Tool, ToolContext, WorldCache
from tools.result_store import STORE_DIR, ResultStore

ScenarioFactory = Callable[..., Scenario]
WorldFactory = Callable[[Scenario], Path]
QUESTION = "why did CX drop on Jan 4?"
SERIES = ("cx_timeseries", {"metrics": ["on_time_rate"]})


@pytest.fixture(scope="module")
def demo_world(small_scenario: ScenarioFactory, make_world: WorldFactory) -> Path:
    return make_world(small_scenario("demo"))


@pytest.fixture
def world_copy(demo_world: Path, tmp_path: Path) -> Path:
    """A private copy of the small demo world, with a store of its own."""
    return Path(shutil.copytree(demo_world, tmp_path / "world"))


@pytest.fixture
def store_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXAGENT_RESULT_CACHE", "on")


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


def _call(world: Path, name: str, arguments: dict[str, Any]) -> tuple[Any, Any]:
    """One call in a new conversation with a new WorldCache: what a fresh process does."""
    context = ToolContext(world_dir=world, shared=WorldCache())
    try:
        return context.call(name, arguments)
    finally:
        context.close()


def _entries(world: Path, tool: str = "") -> list[Path]:
    return sorted((world / STORE_DIR).glob(f"{tool}*.json"))


def _found(raw: dict[str, Any]) -> str:
    """What an evidence item found (not its time), as JSON text."""
    item = EvidenceItem.model_validate(raw)
    return item.model_dump_json(include={"id", "tool", "args", "summary", "figures", "table"})


@pytest.mark.usefixtures("store_on")
def test_a_fresh_agent_answers_an_analysed_world_from_the_store_without_running_a_tool(
    world_copy: Path, tool_runs: Counter[str]
) -> None:
    first = Agent(world_copy)
    try:
        computed = first.ask(QUESTION)
    finally:
        first.close()
    ran = sum(tool_runs.values())
    fresh = Agent(world_copy)  # a new WorldCache: nothing of the first agent's in memory
    try:
        stored = fresh.ask(QUESTION)
    finally:
        fresh.close()
    assert ran > 0 and _entries(world_copy, "recommend_actions")
    assert sum(tool_runs.values()) == ran  # no tool function ran again
    assert stored["answer"] == computed["answer"]
    assert stored["grounding"] == computed["grounding"]
    assert [_found(item) for item in stored["evidence"]] == [
        _found(item) for item in computed["evidence"]
    ]


@pytest.mark.usefixtures("store_on")
def test_a_stored_tool_that_called_tools_is_replayed_with_its_calls_renumbered(
    world_copy: Path, tool_runs: Counter[str]
) -> None:
    arguments = {
        "filters": {"category": ["grocery"]},
        "start": "2026-01-04T18:00:00",
        "end": "2026-01-06T00:00:00",
        "causes": [{"kind": "batching_threshold", "confidence": 0.9}],
    }
    first = ToolContext(world_dir=world_copy, shared=WorldCache())
    try:
        first.call("change_log", {"around": "2026-01-04T18:00:00"})  # its ids start at E2
        computed, _ = first.call("recommend_actions", arguments)
    finally:
        first.close()
    runs = Counter(tool_runs)
    second = ToolContext(world_dir=world_copy, shared=WorldCache())
    try:
        stored, stored_item = second.call("recommend_actions", arguments)
    finally:
        second.close()
    assert tool_runs == runs
    what_ifs = [item for item in second.ledger.items if item.tool == "what_if"]
    assert [item.id for item in what_ifs] == [f"E{n}" for n in range(1, len(what_ifs) + 1)]
    assert stored_item.id == f"E{len(what_ifs) + 1}"
    assert {r.action: r.evidence for r in stored.recommendations} == {
        item.args["action"]: item.id for item in what_ifs if item.ok
    }
    assert [r.cx_gain for r in stored.recommendations] == [
        r.cx_gain for r in computed.recommendations
    ]


@pytest.mark.usefixtures("store_on")
def test_a_changed_warehouse_is_not_answered_from_the_store(
    world_copy: Path, tool_runs: Counter[str]
) -> None:
    before, _ = _call(world_copy, *SERIES)
    rebuilt = world_copy.parent / "rebuilt.duckdb"  # a rebuilt warehouse put in its place
    shutil.copy2(world_copy / WAREHOUSE_FILE, rebuilt)
    with duckdb.connect(str(rebuilt)) as con:
        con.execute("DELETE FROM order_facts WHERE order_time >= TIMESTAMP '2026-01-04'")
    rebuilt.replace(world_copy / WAREHOUSE_FILE)
    after, _ = _call(world_copy, *SERIES)
    assert tool_runs["cx_timeseries"] == 2
    assert after.model_dump_json() != before.model_dump_json()
    again, _ = _call(world_copy, *SERIES)
    assert tool_runs["cx_timeseries"] == 2  # the new data's result is stored in its turn
    assert again.model_dump_json() == after.model_dump_json()


@pytest.mark.usefixtures("store_on")
def test_results_of_other_code_are_not_served(
    world_copy: Path, tool_runs: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _call(world_copy, *SERIES)
    monkeypatch.setattr(result_store, "code_version", lambda: "another version")
    _call(world_copy, *SERIES)
    assert tool_runs["cx_timeseries"] == 2


@pytest.mark.usefixtures("store_on")
@pytest.mark.parametrize(
    "damage",
    ["not json", "truncated", "another tool's entry", "an unknown nested tool", "a wrong field"],
)
def test_a_corrupt_or_foreign_entry_is_ignored_computed_again_and_replaced(
    world_copy: Path, tool_runs: Counter[str], damage: str
) -> None:
    computed, _ = _call(world_copy, *SERIES)
    (entry,) = _entries(world_copy, "cx_timeseries")
    text = entry.read_text()
    if damage == "not json":
        entry.write_bytes(b"\x80\x04\x95 a pickle is never loaded")
    elif damage == "truncated":
        entry.write_text(text[: len(text) // 2])
    else:
        _call(world_copy, "change_log", {"around": "2026-01-04T18:00:00"})
        other = json.loads(_entries(world_copy, "change_log")[0].read_text())
        if damage == "another tool's entry":
            forged = other
        elif damage == "an unknown nested tool":
            forged = json.loads(text)
            forged["payload"]["nested"] = [["no_such_tool", {}, "E1"]]
        else:
            forged = json.loads(text)
            forged["payload"]["output"]["summary"] = {"not": "a string"}
        entry.write_text(json.dumps(forged))
    again, _ = _call(world_copy, *SERIES)
    assert tool_runs["cx_timeseries"] == 2
    assert again.model_dump_json() == computed.model_dump_json()
    assert json.loads(entry.read_text())["tool"] == "cx_timeseries"  # replaced by a whole entry
    _call(world_copy, *SERIES)
    assert tool_runs["cx_timeseries"] == 2


def test_concurrent_writers_and_readers_see_whole_entries_only(tmp_path: Path) -> None:
    payloads = [{"output": {"rows": [number] * 20_000}, "nested": []} for number in range(4)]
    seen: list[Any] = []
    failures: list[BaseException] = []

    def write(payload: dict[str, Any]) -> None:
        store = ResultStore.open(tmp_path)  # one per writer, as one per process
        assert store is not None
        for _ in range(20):
            store.write("stamp", "tool", "{}", payload)

    def read() -> None:
        store = ResultStore.open(tmp_path)
        assert store is not None
        for _ in range(200):
            try:
                seen.append(store.read("stamp", "tool", "{}"))
            except BaseException as error:  # reported below
                failures.append(error)

    threads = [threading.Thread(target=write, args=(p,)) for p in payloads]
    threads += [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert all(payload is None or payload in payloads for payload in seen)
    assert any(payload is not None for payload in seen)
    assert [path.name for path in (tmp_path / STORE_DIR).iterdir()] == [
        path.name for path in _entries(tmp_path)
    ]  # no temporary file left behind


def test_the_store_keeps_to_its_bound_dropping_the_least_recently_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(result_store, "MAX_STORE_ENTRIES", 3)
    monkeypatch.setattr(result_store, "PRUNE_EVERY", 1)
    store = ResultStore.open(tmp_path)
    assert store is not None
    for number, name in enumerate("abc"):
        store.write("stamp", name, "{}", {"n": number})
        path = store._path("stamp", name, "{}")
        result_store.os.utime(path, (1_000_000 + number, 1_000_000 + number))
    assert store.read("stamp", "a", "{}") == {"n": 0}  # a hit: "a" is now the most recent
    store.write("stamp", "d", "{}", {"n": 3})  # 4 entries: cut to 90% of 3
    assert len(_entries(tmp_path)) == 2
    assert store.read("stamp", "b", "{}") is None  # the least recently used went first
    assert store.read("stamp", "c", "{}") is None
    assert store.read("stamp", "a", "{}") == {"n": 0}
    monkeypatch.setattr(result_store, "MAX_STORE_BYTES", 1)
    store.write("stamp", "e", "{}", {"n": 4})
    assert _entries(tmp_path) == []  # every entry is over a one-byte bound


def test_off_writes_nothing_to_the_world(world_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXAGENT_RESULT_CACHE", "off")
    _call(world_copy, *SERIES)
    assert not (world_copy / ".cache").exists()


@pytest.mark.usefixtures("store_on")
def test_an_agent_told_result_cache_off_writes_nothing_though_the_environment_says_on(
    world_copy: Path,
) -> None:
    from agent.service import Agent
    from agent.settings import AgentSettings

    agent = Agent(world_copy, AgentSettings(llm="offline", result_cache=False))
    agent.ask("how many orders last week?", thread_id="off")
    agent.close()
    assert not (world_copy / STORE_DIR).exists()


def test_a_world_directory_that_cannot_be_written_is_answered_without_a_store(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / ".cache"
    blocker.write_text("a file where the store's directory would go")
    assert ResultStore.open(tmp_path) is None
    linked = tmp_path / "linked"
    (linked / ".cache").parent.mkdir()
    (linked / ".cache").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir()
    assert ResultStore.open(linked) is None


@pytest.mark.usefixtures("store_on")
def test_an_analysed_world_answers_its_incident_in_a_fresh_agent_without_running_a_tool(
    world_copy: Path, tool_runs: Counter[str]
) -> None:
    analysing = Agent(world_copy)
    try:
        diagnosed = analysing.analyse()
    finally:
        analysing.close()
    ran = sum(tool_runs.values())
    fresh = Agent(world_copy)
    try:
        answer = fresh.ask(QUESTION)
    finally:
        fresh.close()

    assert diagnosed == ["INC-20260104-1800"] and tool_runs["recommend_actions"] >= 1
    assert sum(tool_runs.values()) == ran  # the question's every tool result was stored
    assert answer["incident"]["id"] == "INC-20260104-1800" and answer["grounding"]["ok"]
