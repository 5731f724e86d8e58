"""The agent as a service: ask questions about one world; each thread keeps its conversation
(in memory, or with `keep_threads` in the world's thread store, across restarts)."""

from __future__ import annotations

import importlib
import queue
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tracers.context import register_configure_hook

from agent.graph import compile_graph
from agent.llm import make_backend
from agent.settings import AgentSettings
from agent.state import AgentContext
from agent.threads import ThreadStore, thread_config
from analytics.incidents import SERIOUS
from data.engines.base import Engine
from data.warehouse import open_warehouse
from tools.base import ToolContext, ToolError, WorldCache
from tools.catalog import REGISTRY  # noqa: F401  (registers the tools)
from tools.detection import DetectIncidentsOutput

MAX_QUESTION_CHARS = 4000
ANALYSE_LIMIT = 3  # incidents `Agent.analyse` diagnoses ahead (the most severe medium+ ones)
_CONTRACT_DEFAULTS: dict[str, Any] = {
    "kind": "out_of_scope", "incident": None, "causes": list, "recommendations": list,
    "experiment_plan": None, "evidence": list, "grounding": dict, "trace": list, "notes": list,
    "table": None, "chart": None, "plan": dict,
}  # fmt: skip


class Agent:
    """One world's agent. Threads (conversations) are independent and may run concurrently;
    turns of one thread must run one at a time (the workbench serializes them).

    With `keep_threads`, threads are kept in WORLD/threads.sqlite: a new agent on the same world
    (after a restart) continues them, evidence ids and all. Without it (the command line, evals,
    benchmarks: their fixed thread names start afresh each run) they live as long as the agent.

    With `engine` (data/engines, e.g. Spark over the world's Parquet) every query runs there
    instead of the world's DuckDB warehouse, and no result is stored; its owner closes it.
    """

    def __init__(
        self,
        world_dir: Path | str,
        settings: AgentSettings | None = None,
        *,
        keep_threads: bool = False,
        engine: Engine | None = None,
    ) -> None:
        self.world_dir = Path(world_dir)
        self.engine = engine
        if engine is None:
            open_warehouse(self.world_dir).close()  # a clear error now if there is no warehouse
        self.settings = settings or AgentSettings()
        self.backend, self.notes = make_backend(self.settings)
        # Scans and simulators, computed once for every thread (and kept on disk per the setting;
        # another engine's are not stored: the stored ones are the DuckDB warehouse's).
        self.shared = WorldCache(persist=self.settings.result_cache if engine is None else False)
        self.threads = ThreadStore(
            self.world_dir,
            self.shared,
            persist=keep_threads,
            max_threads=self.settings.max_threads,
            max_open=self.settings.max_open_threads,
            max_idle_s=self.settings.max_idle_thread_s,
            engine=engine,
        )
        self.notes.extend(self.threads.notes)
        self.graph = compile_graph(self.threads.checkpointer)

    def _context(self, thread_id: str) -> AgentContext:
        """The nodes' dependencies for a turn of this thread (its tool context and ledger)."""
        return AgentContext(
            tools=self.threads.tools(thread_id),
            backend=self.backend,
            max_narrations=self.settings.narrative_attempts,
            settings=self.settings,
        )

    def ask(self, question: str, thread_id: str = "default") -> dict[str, Any]:
        """Answer a question in a thread; follow-ups reuse the thread's incident and evidence."""
        question = (question or "").strip()[:MAX_QUESTION_CHARS]
        output = dict(
            self.graph.invoke(
                {"question": question},
                thread_config(thread_id),
                context=self._context(thread_id),
                durability="exit",  # one checkpoint per turn: the turns are the thread's history
            )
        )
        for key, empty in _CONTRACT_DEFAULTS.items():
            output.setdefault(key, empty() if callable(empty) else empty)
        output["notes"] = [*self.notes, *output.get("notes", [])]
        output["backend"] = self.backend.name
        return output

    def conversation(self, thread_id: str) -> dict[str, Any] | None:
        """A thread's turns and evidence ledger (ThreadStore.conversation); None if unknown."""
        return self.threads.conversation(thread_id)

    def close(self) -> None:
        """Close the threads' warehouse connections and the thread database (the agent stays
        usable: both reopen on the next question)."""
        self.threads.close()

    def warm_up(self) -> threading.Thread:
        """Make the first diagnosis fast: import the model libraries it fits with and load the
        compiled gradient boosting (about a second, here, so that no imports run concurrently
        with a question's), then start the world's incident scan in a background thread (every
        diagnosis starts from it; a question asked meanwhile waits for it instead of scanning
        again). Returns the thread."""
        for module in _MODEL_MODULES:
            importlib.import_module(module)
        importlib.import_module("analytics.boosting").warm_up()

        def scan() -> None:
            context = ToolContext(world_dir=self.world_dir, shared=self.shared, engine=self.engine)
            try:
                context.call("detect_incidents", {"grain": "auto"})
            except ToolError:
                pass  # recorded; the question that needs the scan reports the problem
            finally:
                context.close()

        thread = threading.Thread(target=scan, name="cxagent-warm-up", daemon=True)
        thread.start()
        return thread

    def analyse(
        self, limit: int = ANALYSE_LIMIT, progress: Callable[[str], None] | None = None
    ) -> list[str]:
        """Compute ahead what the first questions on this world need, so that they answer in
        seconds even from a fresh process: the incident scan, then the diagnosis (investigation,
        what-if fits, plan) of the `limit` most severe medium+ incidents, each asked as a user
        would ("why did CX drop on DAY?") in a thread of its own. The results go to the shared
        cache and, with the result store on, to WORLD/.cache/results, where a later process
        finds them (tools/result_store.py). `progress` gets a line per step. Returns the
        incident ids diagnosed; raises ToolError when the scan fails."""
        say = progress or (lambda _line: None)
        say("scanning for incidents")
        context = ToolContext(world_dir=self.world_dir, shared=self.shared, engine=self.engine)
        try:  # a failed scan raises its ToolError: "no incident" would misstate it
            output, _item = context.call("detect_incidents", {"grain": "auto"})
        finally:
            context.close()
        assert isinstance(output, DetectIncidentsOutput)
        serious = sorted(
            (i for i in output.incidents if i.severity_label in SERIOUS),
            key=lambda incident: -incident.severity,
        )
        diagnosed: list[str] = []
        for incident in serious[:limit]:
            day = incident.start.date().isoformat()
            say(f"diagnosing {incident.incident_id} ({incident.severity_label}, {day})")
            result = self.ask(f"why did CX drop on {day}?", thread_id=f"analyse-{day}")
            found = result.get("incident") or {}
            diagnosed.extend([found["id"]] if found.get("id") else [])
        return list(dict.fromkeys(diagnosed))

    def ask_stream(self, question: str, thread_id: str = "default") -> Iterator[dict[str, Any]]:
        """`ask`, with its progress: yields {"step": entry} as each node of the turn completes
        (the entry `ask` puts in `trace`: node, seconds, tool calls), then {"result": what
        `ask` returns}."""
        return stream_steps(lambda: self.ask(question, thread_id))


# What a diagnosis fits and explains models with: imported where they are used (a command that
# fits no model does not load them), and by warm_up ahead of the first question. shap is not
# among them: the diagnosis computes TreeSHAP itself (shap explains the logistic model only).
# analytics.boosting is not listed either: warm_up imports it to load its compiled code.
_MODEL_MODULES = ("sklearn.ensemble", "sklearn.linear_model", "sklearn.model_selection")

# Node-by-node progress of a run of the graph, from LangChain's callbacks: a handler set in this
# context variable is added to every run started in its context (register_configure_hook).
_STEP_HANDLER: ContextVar[BaseCallbackHandler | None] = ContextVar("cxagent_steps", default=None)
register_configure_hook(_STEP_HANDLER, inheritable=True)


class _StepHandler(BaseCallbackHandler):
    """Passes each node's trace entry on as the node finishes (nodes return the turn's trace with
    their own entry last)."""

    def __init__(self, emit: Callable[[dict[str, Any]], None]) -> None:
        self.emit = emit
        self.nodes: dict[UUID, str] = {}

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        node = (kwargs.get("metadata") or {}).get("langgraph_node")
        if node is not None and kwargs.get("name") == node:
            self.nodes[run_id] = node

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        node = self.nodes.pop(run_id, None)
        trace = outputs.get("trace") if node and isinstance(outputs, dict) else None
        if trace and trace[-1].get("node") == node:
            self.emit(trace[-1])


def stream_steps(run: Callable[[], dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Run `run` (an ask) in a worker thread; yield {"step": entry} for each node of the graph as
    it completes, then {"result": run's result}. An exception of `run` is raised here."""
    events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()

    def work() -> None:
        _STEP_HANDLER.set(_StepHandler(lambda entry: events.put(("step", entry))))
        try:
            events.put(("result", run()))
        except BaseException as error:  # handed to the caller's thread
            events.put(("error", error))

    threading.Thread(target=work, name="cxagent-ask", daemon=True).start()
    while True:
        kind, value = events.get()
        if kind == "error":
            raise value
        yield {kind: value}
        if kind == "result":
            return
