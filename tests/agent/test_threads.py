"""Conversations kept in the world's thread store (agent/threads.py): a real SQLite file in a
copy of a small world, a new agent standing in for a restarted server, the bounds on stored
threads and open tool contexts, and worlds whose directory cannot hold the file."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from agent.service import Agent
from agent.settings import AgentSettings
from agent.threads import THREADS_FILE, ThreadStore, thread_config
from tools.base import WorldCache

DEMO_QUESTION = "why did CX drop on Jan 4?"
WHAT_IF = "what if we cut the batching threshold back?"
BUFFER = "what if we add a 5 minute ETA buffer?"
LOOKUP = "what was the on-time rate last week?"  # one metric_summary call, fast


@pytest.fixture(scope="module")
def demo_world(small_scenario, make_world) -> Path:
    return make_world(small_scenario("demo"))


def _copy(world: Path, to: Path) -> Path:
    """A private copy of a shared world, without any thread store it may hold."""
    return Path(shutil.copytree(world, to, ignore=shutil.ignore_patterns(f"{THREADS_FILE}*")))


def _agent(world: Path, **settings: Any) -> Agent:
    return Agent(world, AgentSettings(llm="offline", **settings), keep_threads=True)


def _cited(answer: str) -> set[str]:
    return set(re.findall(r"\[(E\d+)\]", answer))


@pytest.fixture(scope="module")
def restarted(demo_world: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A diagnosis on one agent; then, on a new agent over the same world (a restart), the
    batching what-if and a new what-if in the same thread, and the thread's conversation."""
    world = _copy(demo_world, tmp_path_factory.mktemp("restart") / "world")
    before = _agent(world)
    first = before.ask(DEMO_QUESTION, thread_id="ops")
    before.close()
    after = _agent(world)
    what_if = after.ask(WHAT_IF, thread_id="ops")
    buffer = after.ask(BUFFER, thread_id="ops")
    conversation = after.conversation("ops")
    after.close()
    return {"world": world, "first": first, "what_if": what_if, "buffer": buffer,
            "conversation": conversation}  # fmt: skip


def test_a_follow_up_after_a_restart_cites_the_first_turns_simulation(restarted) -> None:
    first, what_if = restarted["first"], restarted["what_if"]

    assert (restarted["world"] / THREADS_FILE).is_file()
    assert what_if["kind"] == "what_if"
    assert "detect" not in [step["node"] for step in what_if["trace"]]  # no new investigation
    assert first["incident"]["id"] in what_if["answer"]
    earlier = {item["id"]: item for item in first["evidence"]}
    cited = _cited(what_if["answer"])
    assert cited and cited <= set(earlier)  # evidence of the first turn, by its first id
    assert [(earlier[i]["tool"], earlier[i]["args"]["action"]) for i in cited] == [
        ("what_if", "revert_batching")
    ]
    assert what_if["evidence"] == first["evidence"]  # the simulation ran again: same findings
    assert what_if["grounding"]["ok"] and what_if["grounding"]["numbers"] >= 4


def test_new_evidence_after_a_restart_continues_the_ledgers_ids(restarted) -> None:
    first, buffer = restarted["first"], restarted["buffer"]
    count = len(first["evidence"])

    assert buffer["evidence"][:count] == first["evidence"]
    new = buffer["evidence"][count:]
    assert [item["id"] for item in new] == [f"E{count + 1}"]
    assert (new[0]["tool"], new[0]["args"]["action"]) == ("what_if", "eta_buffer")
    assert f"[E{count + 1}]" in buffer["answer"] and buffer["grounding"]["ok"]


def test_the_conversation_lists_every_turn_across_the_restart(restarted) -> None:
    conversation = restarted["conversation"]
    answers = [restarted[name] for name in ("first", "what_if", "buffer")]

    assert conversation["thread_id"] == "ops"
    turns = conversation["turns"]
    assert [turn["turn"] for turn in turns] == [1, 2, 3]
    assert [turn["question"] for turn in turns] == [DEMO_QUESTION, WHAT_IF, BUFFER]
    assert [turn["kind"] for turn in turns] == [answer["kind"] for answer in answers]
    assert [turn["answer"] for turn in turns] == [answer["answer"] for answer in answers]
    assert [turn["grounding"] for turn in turns] == [answer["grounding"] for answer in answers]
    assert all(turn["answered_at"] for turn in turns)
    assert conversation["evidence"] == restarted["buffer"]["evidence"]


def test_a_stored_thread_holds_only_plain_json(restarted) -> None:
    store = ThreadStore(restarted["world"], WorldCache(), persist=True)
    saved = store.checkpointer.get_tuple(thread_config("ops"))
    store.close()

    values = saved.checkpoint["channel_values"]
    assert {"question", "answer", "evidence", "incident", "plan"} <= set(values)
    assert json.loads(json.dumps(values, allow_nan=False)) == values


def test_threads_of_another_world_are_not_seen(restarted, tmp_path: Path) -> None:
    other = _copy(restarted["world"], tmp_path / "other")
    agent = _agent(other)

    assert agent.conversation("ops") is None
    fresh = agent.ask(LOOKUP, thread_id="ops")
    agent.close()
    assert [item["id"] for item in fresh["evidence"]] == ["E1"]


def test_the_least_recently_answered_threads_beyond_the_limit_are_deleted(
    restarted, tmp_path: Path
) -> None:
    world = _copy(restarted["world"], tmp_path / "limited")
    agent = _agent(world, max_threads=2)
    for thread in ("a", "b", "a", "c"):  # "a" answered again after "b"
        agent.ask(LOOKUP, thread_id=thread)

    assert agent.threads.thread_ids() == ["c", "a"]
    assert agent.conversation("b") is None
    assert len(agent.conversation("a")["turns"]) == 2
    agent.close()
    after = _agent(world, max_threads=2)  # the deletion was stored
    assert after.threads.thread_ids() == ["c", "a"]
    restarted_b = after.ask(LOOKUP, thread_id="b")  # a deleted thread starts afresh
    assert [item["id"] for item in restarted_b["evidence"]] == ["E1"]
    assert after.threads.thread_ids() == ["b", "c"]
    after.close()


def test_a_tool_context_let_go_comes_back_from_the_store(restarted, tmp_path: Path) -> None:
    world = _copy(restarted["world"], tmp_path / "open")
    agent = _agent(world, max_open_threads=1)
    first = agent.ask(LOOKUP, thread_id="x")
    agent.ask(LOOKUP, thread_id="y")  # x's tool context is let go

    assert list(agent.threads.open_thread_ids()) == ["y"]
    follow_up = agent.ask("and the week before?", thread_id="x")
    agent.close()
    assert follow_up["evidence"][:1] == first["evidence"]
    assert [item["id"] for item in follow_up["evidence"][1:]] == ["E2"]
    assert follow_up["grounding"]["ok"]


def test_a_tool_context_idle_too_long_is_let_go_and_comes_back(
    restarted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = _copy(restarted["world"], tmp_path / "idle")
    agent = _agent(world, max_idle_thread_s=60)
    clock = [1_000.0]
    monkeypatch.setattr("agent.threads.time.monotonic", lambda: clock[0])
    first = agent.ask(LOOKUP, thread_id="x")
    clock[0] += 30
    agent.ask(LOOKUP, thread_id="y")
    assert list(agent.threads.open_thread_ids()) == ["x", "y"]  # x idle 30 s: kept

    clock[0] += 45  # x idle 75 s, y 45 s
    agent.ask(LOOKUP, thread_id="z")
    assert list(agent.threads.open_thread_ids()) == ["y", "z"]
    follow_up = agent.ask("and the week before?", thread_id="x")
    agent.close()
    assert follow_up["evidence"][:1] == first["evidence"]
    assert follow_up["grounding"]["ok"]


def test_concurrent_threads_are_each_stored_whole(restarted, tmp_path: Path) -> None:
    world = _copy(restarted["world"], tmp_path / "concurrent")
    agent = _agent(world)
    threads = [f"user-{index}" for index in range(4)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda thread: agent.ask(LOOKUP, thread_id=thread), threads))
    stored = {thread: agent.conversation(thread) for thread in threads}
    agent.close()

    assert sorted(agent.threads.thread_ids()) == threads
    for thread, answer in zip(threads, answers, strict=True):
        assert [turn["answer"] for turn in stored[thread]["turns"]] == [answer["answer"]]
        assert stored[thread]["evidence"] == answer["evidence"]


@pytest.mark.parametrize("situation", ["missing directory", "path taken by a directory"])
def test_a_world_that_cannot_hold_the_store_keeps_threads_in_memory_with_a_note(
    tmp_path: Path, situation: str
) -> None:
    world = tmp_path / "world"
    if situation == "path taken by a directory":
        (world / THREADS_FILE).mkdir(parents=True)
    store = ThreadStore(world, WorldCache(), persist=True)

    assert not store.persistent
    assert store.notes and "kept in memory only" in store.notes[0]
    assert world.exists() == (situation != "missing directory")  # nothing was created
    store.close()


def test_an_agent_on_a_world_without_room_for_the_store_still_answers(
    restarted, tmp_path: Path
) -> None:
    world = _copy(restarted["world"], tmp_path / "blocked")
    (world / THREADS_FILE).mkdir()
    agent = _agent(world)
    first = agent.ask(LOOKUP, thread_id="t")
    follow_up = agent.ask("and the week before?", thread_id="t")
    agent.close()

    assert any("kept in memory only" in note for note in first["notes"])
    assert first["grounding"]["ok"] and follow_up["evidence"][:1] == first["evidence"]


@pytest.fixture
def read_only_mount() -> Iterator[list[str]]:
    """A command prefix running its argv with `$1` bind-mounted read-only (a user namespace:
    even root cannot write there)."""
    prefix = ["unshare", "-r", "-m", "sh", "-c",
              'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"',
              "sh"]  # fmt: skip
    probe = subprocess.run([*prefix, "/tmp", "true"], capture_output=True, check=False)
    if shutil.which("unshare") is None or probe.returncode != 0:
        pytest.skip("no user namespaces here to mount a directory read-only")
    yield prefix


def test_a_read_only_world_answers_with_threads_in_memory(
    restarted, tmp_path: Path, read_only_mount: list[str]
) -> None:
    world = _copy(restarted["world"], tmp_path / "read-only")
    shutil.copy(restarted["world"] / THREADS_FILE, world / THREADS_FILE)  # an earlier store
    script = (
        "import json, sys\n"
        "from agent.service import Agent\n"
        "from agent.settings import AgentSettings\n"
        "agent = Agent(sys.argv[1], AgentSettings(llm='offline'), keep_threads=True)\n"
        f"answer = agent.ask({LOOKUP!r}, thread_id='ops')\n"
        "print(json.dumps({'notes': answer['notes'], 'ok': answer['grounding']['ok']}))\n"
    )
    run = subprocess.run(
        [*read_only_mount, str(world), sys.executable, "-c", script, str(world)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip

    assert run.returncode == 0, run.stderr[-2000:]
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    assert answer["ok"]
    assert any("kept in memory only" in note and "read-only" in note for note in answer["notes"])
