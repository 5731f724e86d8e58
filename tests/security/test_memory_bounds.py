"""200 new conversations on one agent stay within the stated bounds: tool contexts held in
memory (max_open_threads), stored threads (max_threads, the least recently answered deleted),
shared tool results (computed once, not per conversation) and warehouse sandboxes (one per
file). The RSS figure over real HTTP is measured in benchmarks/serving.py."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from agent.service import Agent
from agent.settings import AgentSettings
from agent.threads import THREADS_FILE
from data import warehouse
from data.scenario import Scenario

ScenarioFactory = Callable[..., Scenario]
WorldFactory = Callable[[Scenario], Path]
QUESTIONS = (
    "what was the on-time rate last week?",
    "which regions have the worst on-time rate?",
    "how many orders per day last week?",
)


def test_two_hundred_conversations_keep_memory_within_the_bounds(
    small_scenario: ScenarioFactory, make_world: WorldFactory, tmp_path: Path
) -> None:
    world = Path(
        shutil.copytree(
            make_world(small_scenario("demo")),
            tmp_path / "world",
            ignore=shutil.ignore_patterns(f"{THREADS_FILE}*"),
        )
    )
    agent = Agent(
        world, AgentSettings(llm="offline", max_open_threads=16, max_threads=100), keep_threads=True
    )
    try:
        shared: list[int] = []
        for number in range(200):
            answer = agent.ask(QUESTIONS[number % 3], thread_id=f"visitor-{number}")
            assert answer["grounding"]["ok"], answer["answer"]
            shared.append(len(agent.shared))

        assert len(agent.threads.open_thread_ids()) == 16
        stored = agent.threads.thread_ids()
        assert len(stored) == 100
        assert stored[0] == "visitor-199"
        assert agent.conversation("visitor-0") is None  # deleted, oldest first
        assert agent.conversation("visitor-150")["turns"][0]["question"] == QUESTIONS[0]
        assert shared[-1] == shared[20] <= 20  # conversations reuse shared results, add none
        assert len(warehouse._SANDBOXES) <= warehouse.MAX_SANDBOXES
    finally:
        agent.close()
