"""The agent as a service: ask questions about one world; each thread keeps its conversation
(in memory, or with `keep_threads` in the world's thread store, across restarts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.graph import compile_graph
from agent.llm import make_backend
from agent.settings import AgentSettings
from agent.state import AgentContext
from agent.threads import ThreadStore, thread_config
from data.warehouse import open_warehouse
from tools.base import WorldCache
from tools.catalog import REGISTRY  # noqa: F401  (registers the tools)

MAX_QUESTION_CHARS = 4000
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
    """

    def __init__(
        self,
        world_dir: Path | str,
        settings: AgentSettings | None = None,
        *,
        keep_threads: bool = False,
    ) -> None:
        self.world_dir = Path(world_dir)
        open_warehouse(self.world_dir).close()  # a clear error now if there is no warehouse
        self.settings = settings or AgentSettings()
        self.backend, self.notes = make_backend(self.settings)
        self.shared = WorldCache()  # scans and simulators, computed once for every thread
        self.threads = ThreadStore(
            self.world_dir,
            self.shared,
            persist=keep_threads,
            max_threads=self.settings.max_threads,
            max_open=self.settings.max_open_threads,
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
