"""The agent's graph, wired in one screen and compiled once.

A diagnosis: parse_question -> detect -> hypothesize -> gather_evidence -> rank -> recommend ->
plan -> narrate -> check_grounding, with a short path to narrate when nothing asked about
regressed. Every other kind of question (lookup, trend, compare, rank, incidents, changes,
what-if, plan, explain, sql, help, out of scope): parse_question -> answer -> narrate ->
check_grounding, the answer node running that kind's handler (agent/answers/). With an LLM:
parse_question -> tool_loop (the model calls the typed tools, `investigate` running the
diagnosis nodes) -> check_grounding (numbers and conclusion) -> narrate again or the offline path.
"""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent import nodes
from agent.state import AgentContext, AgentInput, AgentOutput, AgentState

builder = StateGraph(
    AgentState, context_schema=AgentContext, input_schema=AgentInput, output_schema=AgentOutput
)
builder.add_node("parse_question", nodes.parse_question)
builder.add_node("detect", nodes.detect)
builder.add_node("hypothesize", nodes.hypothesize)
builder.add_node("gather_evidence", nodes.gather_evidence)
builder.add_node("rank", nodes.rank_causes)
builder.add_node("recommend", nodes.recommend)
builder.add_node("plan", nodes.plan_experiment)
builder.add_node("answer", nodes.answer)
builder.add_node("tool_loop", nodes.tool_loop)
builder.add_node("narrate", nodes.narrate)
builder.add_node("check_grounding", nodes.check_answer)

builder.add_edge(START, "parse_question")
builder.add_conditional_edges("parse_question", nodes.route_after_parse)
builder.add_conditional_edges("detect", nodes.route_after_detect)
builder.add_edge("hypothesize", "gather_evidence")
builder.add_edge("gather_evidence", "rank")
builder.add_edge("rank", "recommend")
builder.add_edge("recommend", "plan")
builder.add_edge("plan", "narrate")
builder.add_edge("answer", "narrate")
builder.add_conditional_edges("tool_loop", nodes.route_after_loop)
builder.add_conditional_edges("narrate", nodes.route_after_narrate)
builder.add_conditional_edges(
    "check_grounding", nodes.route_after_grounding, ["narrate", "detect", "answer", END]
)


def compile_graph(
    checkpointer: BaseCheckpointSaver,
) -> CompiledStateGraph[AgentState, AgentContext, AgentInput, AgentOutput]:
    """The graph saving its threads to `checkpointer` (each agent passes its world's store,
    agent/threads.py)."""
    return builder.compile(checkpointer=checkpointer)
