"""A diagnosis's nodes hand the investigation, its test plan and results to each other in the
turn's typed context (AgentContext.work), which starts empty at each turn."""

from __future__ import annotations

from pathlib import Path

from agent.service import Agent
from agent.settings import AgentSettings
from agent.state import AgentContext
from agent.threads import thread_config


def _ask(agent: Agent, question: str, thread_id: str) -> tuple[dict, AgentContext]:
    """Run one turn with a context of our own (as Agent.ask does) and return both."""
    context = AgentContext(tools=agent.threads.tools(thread_id), backend=agent.backend)
    output = agent.graph.invoke({"question": question}, thread_config(thread_id), context=context)
    return output, context


def test_a_diagnosis_leaves_its_investigation_plan_and_results_in_the_turns_context(
    small_scenario, make_world
) -> None:
    world: Path = make_world(small_scenario("demo"))
    agent = Agent(world, AgentSettings(llm="offline"))
    try:
        output, context = _ask(agent, "why did CX drop on Jan 4?", "work")
        work = context.work
        assert work.investigation is not None and work.investigation.causes is not None
        assert work.investigation.causes.causes[0].kind == output["causes"][0]["kind"]
        state = agent.graph.get_state(thread_config("work")).values
        assert [call.purpose for call in work.test_plan] == [
            call["purpose"] for call in state["test_plan"]
        ]
        ran = [call for call, _ in work.results]
        assert all(call in ran for call in work.test_plan)

        _, follow_up = _ask(agent, "what if we revert the batching change?", "work")
        assert follow_up.work.investigation is None and follow_up.work.results == []
    finally:
        agent.close()
