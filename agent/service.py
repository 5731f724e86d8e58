"""The agent as a service: ask questions about one world; each thread keeps its conversation."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from agent.graph import graph
from agent.llm import make_backend
from agent.settings import AgentSettings
from agent.state import AgentContext
from data.warehouse import open_warehouse
from tools.base import ToolContext, WorldCache
from tools.catalog import REGISTRY  # noqa: F401  (registers the tools)

MAX_QUESTION_CHARS = 4000
_CONTRACT_DEFAULTS: dict[str, Any] = {
    "kind": "out_of_scope", "incident": None, "causes": list, "recommendations": list,
    "experiment_plan": None, "evidence": list, "grounding": dict, "trace": list, "notes": list,
    "table": None, "chart": None, "plan": dict,
}  # fmt: skip


class Agent:
    """One world's agent. Threads (conversations) are independent and may run concurrently."""

    def __init__(self, world_dir: Path | str, settings: AgentSettings | None = None) -> None:
        self.world_dir = Path(world_dir)
        open_warehouse(self.world_dir).close()  # a clear error now if there is no warehouse
        self.settings = settings or AgentSettings()
        self.backend, self.notes = make_backend(self.settings)
        self.shared = WorldCache()  # scans and simulators, computed once for every thread
        self._contexts: dict[str, ToolContext] = {}
        self._lock = threading.Lock()

    def _tools(self, thread_id: str) -> ToolContext:
        with self._lock:
            if thread_id not in self._contexts:
                self._contexts[thread_id] = ToolContext(
                    world_dir=self.world_dir, shared=self.shared
                )
            return self._contexts[thread_id]

    def ask(self, question: str, thread_id: str = "default") -> dict[str, Any]:
        """Answer a question in a thread; follow-ups reuse the thread's incident and evidence."""
        question = (question or "").strip()[:MAX_QUESTION_CHARS]
        config = {"configurable": {"thread_id": f"{id(self)}:{self.world_dir}:{thread_id}"}}
        context = AgentContext(
            tools=self._tools(thread_id),
            backend=self.backend,
            max_narrations=self.settings.narrative_attempts,
            settings=self.settings,
        )
        output = dict(graph.invoke({"question": question}, config, context=context))
        for key, empty in _CONTRACT_DEFAULTS.items():
            output.setdefault(key, empty() if callable(empty) else empty)
        output["notes"] = [*self.notes, *output.get("notes", [])]
        output["backend"] = self.backend.name
        return output

    def close(self) -> None:
        with self._lock:
            for context in self._contexts.values():
                context.close()
            self._contexts.clear()
