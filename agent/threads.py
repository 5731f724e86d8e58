"""Where a world's conversations live: the graph's checkpointer (SQLite in the world directory,
so a thread survives a restart), each thread's tool context rebuilt from its checkpointed
evidence, and the bounds on stored threads and on tool contexts held in memory.

A thread's checkpoints are the ends of its turns (the agent runs with durability "exit"), so
they are its conversation: each holds that turn's question, kind, answer and grounding, and the
evidence ledger of the thread so far.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import CheckpointTuple
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from pydantic import BaseModel, ValidationError

from data.engines.base import Engine
from tools.base import (
    REGISTRY,
    EvidenceItem,
    Ledger,
    ToolContext,
    ToolError,
    ToolOutput,
    WorldCache,
)

THREADS_FILE = "threads.sqlite"  # in the world directory
IN_MEMORY = ":memory:"
# The saver keeps no list of threads. Its checkpoint ids are uuid6, ordered by time, so a
# thread's newest id says when it was last answered: the threads beyond the newest `OFFSET` go.
_OLDEST_THREADS = (
    "SELECT thread_id FROM checkpoints WHERE thread_id != ? GROUP BY thread_id "
    "ORDER BY MAX(checkpoint_id) DESC LIMIT -1 OFFSET ?"
)
_THREADS = "SELECT thread_id FROM checkpoints GROUP BY thread_id ORDER BY MAX(checkpoint_id) DESC"
_WRITE_PROBE = "DELETE FROM checkpoints WHERE 0"  # needs a write lock, changes nothing


def thread_config(thread_id: str) -> RunnableConfig:
    """The graph's run config of a thread (the same id on every agent of a world)."""
    return {"configurable": {"thread_id": thread_id}}


def _arguments_key(name: str, arguments: dict[str, Any]) -> tuple[str, str]:
    return name, json.dumps(arguments, sort_keys=True)


def _fingerprint(item: EvidenceItem) -> str:
    """What a tool call found, without its id and time."""
    found = item.model_dump(mode="json", include={"summary", "figures", "table", "sql"})
    return json.dumps(found, sort_keys=True, default=str)


@dataclass
class ThreadTools(ToolContext):
    """A thread's tool context rebuilt from its checkpointed ledger: new ids continue after the
    old ones, and asking a tool what an earlier turn asked it returns that turn's evidence item,
    as it did before the restart. The output is computed again (tools are deterministic for the
    same warehouse); if it no longer matches the recorded item (the data changed), the call is
    recorded as new evidence instead."""

    earlier: dict[tuple[str, str], EvidenceItem] = field(default_factory=dict, repr=False)
    _recalled: dict[tuple[str, str], tuple[ToolOutput, EvidenceItem]] = field(
        default_factory=dict, repr=False
    )

    @classmethod
    def restore(
        cls,
        world_dir: Path,
        shared: WorldCache,
        evidence: list[dict[str, Any]],
        engine: Engine | None = None,
    ) -> ThreadTools:
        items = [EvidenceItem.model_validate(raw) for raw in evidence]
        earlier: dict[tuple[str, str], EvidenceItem] = {}
        for item in items:
            if item.ok:  # failed calls were never reused
                earlier.setdefault(_arguments_key(item.tool, item.args), item)
        return cls(
            world_dir=world_dir, ledger=Ledger(items), shared=shared, engine=engine, earlier=earlier
        )

    def call(
        self, name: str, arguments: dict[str, Any] | BaseModel | None = None
    ) -> tuple[ToolOutput, EvidenceItem]:
        recalled = self._recall(name, arguments)
        return recalled if recalled is not None else super().call(name, arguments)

    def _recall(
        self, name: str, arguments: dict[str, Any] | BaseModel | None
    ) -> tuple[ToolOutput, EvidenceItem] | None:
        asked_before = {tool for tool, _ in (*self.earlier, *self._recalled)}
        if name not in asked_before or name not in REGISTRY:
            return None
        raw = arguments.model_dump() if isinstance(arguments, BaseModel) else dict(arguments or {})
        try:
            args = REGISTRY[name].input_model.model_validate(raw)
        except ValidationError:
            return None  # the ordinary call records the problem
        key = _arguments_key(name, args.model_dump(mode="json"))
        if key in self._recalled:
            return self._recalled[key]
        item = self.earlier.pop(key, None)
        if item is None:
            return None
        try:
            output = REGISTRY[name].function(self, args)
        except ToolError:
            return None
        fresh = item.model_copy(
            update={"summary": output.summary, "figures": output.figures(),
                    "table": output.table(), "sql": output.sql()}
        )  # fmt: skip
        if _fingerprint(fresh) != _fingerprint(item):
            return None
        self._recalled[key] = (output, item)
        return output, item


def _writable_file(world_dir: Path) -> tuple[Path | None, str]:
    """The world's thread database if this process can write it, else None and why not."""
    if not world_dir.is_dir():
        return None, f"{world_dir} is not a directory"
    path = world_dir / THREADS_FILE
    if not os.access(path if path.exists() else world_dir, os.W_OK):
        return None, f"{path if path.exists() else world_dir} is read-only"
    try:
        with closing(sqlite3.connect(path)) as connection:
            probe = SqliteSaver(connection)
            probe.setup()
            with probe.cursor() as cursor:
                cursor.execute(_WRITE_PROBE)
    except sqlite3.Error as error:
        return None, f"cannot write {path}: {error}"
    return path, ""


class ThreadStore:
    """One world's conversations: the checkpointer the graph saves turns to, and the tool
    contexts of recently used threads (at most `max_open`, none idle longer than `max_idle_s`;
    the others are let go, their state stays in the store). At most `max_threads` threads are
    stored: when a thread opens, the threads answered least recently beyond that are deleted.

    `persist` keeps threads in WORLD/threads.sqlite; without it, or where that file cannot be
    written (a read-only or missing directory), they live in memory and `notes` says so.
    Thread-safe: the saver serializes its statements on one connection with a lock.
    """

    def __init__(
        self,
        world_dir: Path,
        shared: WorldCache,
        *,
        persist: bool,
        max_threads: int = 500,
        max_open: int = 64,
        max_idle_s: float = 1800.0,
        engine: Engine | None = None,
    ) -> None:
        self.world_dir = world_dir
        self.shared = shared
        self.engine = engine
        self.max_threads = max_threads
        self.max_open = max_open
        self.max_idle_s = max_idle_s
        self.notes: list[str] = []
        self.location = IN_MEMORY
        if persist:
            path, problem = _writable_file(world_dir)
            if path is None:
                self.notes.append(
                    f"conversations are kept in memory only ({problem}): they end with this process"
                )
            else:
                self.location = str(path)
        # Only plain JSON-like values are read back: the file sits in a world directory that
        # others may write, and the state holds nothing else.
        serde = JsonPlusSerializer(allowed_msgpack_modules=None)
        self.checkpointer = SqliteSaver(self._connect(), serde=serde)
        # Open tool contexts, least recently used first, each with when it was last used.
        self._contexts: OrderedDict[str, tuple[float, ThreadTools]] = OrderedDict()
        self._lock = threading.Lock()
        self._closed = False

    @property
    def persistent(self) -> bool:
        return self.location != IN_MEMORY

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.location, check_same_thread=False)

    def tools(self, thread_id: str) -> ThreadTools:
        """The thread's tool context: the open one, or one rebuilt from its last checkpoint."""
        with self._lock:
            self._reopen()
            now = time.monotonic()
            self._let_go_idle(now)
            if thread_id in self._contexts:
                _, context = self._contexts.pop(thread_id)
            else:
                self._make_room(thread_id)
                latest = self.checkpointer.get_tuple(thread_config(thread_id))
                stored = latest.checkpoint["channel_values"].get("evidence", []) if latest else []
                context = ThreadTools.restore(self.world_dir, self.shared, stored, self.engine)
            self._contexts[thread_id] = (now, context)  # the most recently used: last
            while len(self._contexts) > self.max_open:
                _, (_, least_recent) = self._contexts.popitem(last=False)
                least_recent.close()
            return context

    def _let_go_idle(self, now: float) -> None:
        """Close the contexts unused for more than max_idle_s (least recently used first)."""
        while self._contexts:
            oldest = next(iter(self._contexts))
            used, context = self._contexts[oldest]
            if now - used <= self.max_idle_s:
                return
            del self._contexts[oldest]
            context.close()

    def _make_room(self, thread_id: str) -> None:
        """Delete the threads beyond the newest `max_threads - 1` other ones."""
        with self.checkpointer.cursor() as cursor:  # its lock
            cursor.execute(_OLDEST_THREADS, (thread_id, self.max_threads - 1))
            oldest = [row[0] for row in cursor.fetchall()]
        for old in oldest:
            self.checkpointer.delete_thread(old)
            dropped = self._contexts.pop(old, None)
            if dropped is not None:
                dropped[1].close()

    def thread_ids(self) -> list[str]:
        """Stored threads, the most recently answered first."""
        with self._lock:
            self._reopen()
            with self.checkpointer.cursor() as cursor:  # its lock
                cursor.execute(_THREADS)
                return [row[0] for row in cursor.fetchall()]

    def open_thread_ids(self) -> list[str]:
        """Threads whose tool context is in memory, the least recently used first."""
        with self._lock:
            return list(self._contexts)

    def conversation(self, thread_id: str) -> dict[str, Any] | None:
        """The thread's turns (question, kind, answer, grounding, when it was answered) and its
        evidence ledger; None for a thread the store does not hold."""
        with self._lock:
            self._reopen()
            saved = list(self.checkpointer.list(thread_config(thread_id)))  # newest first
        if not saved:
            return None
        turns = [_turn(checkpoint) for checkpoint in reversed(_turn_ends(saved))]
        latest = saved[0].checkpoint["channel_values"]
        return {"thread_id": thread_id, "turns": turns, "evidence": latest.get("evidence", [])}

    def _reopen(self) -> None:
        if self._closed:
            self.checkpointer.conn = self._connect()
            self._closed = False

    def close(self) -> None:
        """Close the tool contexts' warehouse connections and the thread database (reopened on
        the next use); threads kept in memory stay."""
        with self._lock:
            for _, context in self._contexts.values():
                context.close()
            self._contexts.clear()
            if self.persistent and not self._closed:
                with self.checkpointer.lock:
                    self.checkpointer.conn.close()
                self._closed = True


def _turn_ends(saved: list[CheckpointTuple]) -> list[CheckpointTuple]:
    """The last checkpoint each run saved (newest first): with durability "exit" that is every
    checkpoint; a run that saved every step ends where the next newer checkpoint is the next
    run's input, or is no step after it."""
    ends = []
    for newer, checkpoint in zip([None, *saved], saved, strict=False):
        step = checkpoint.metadata.get("step", 0)
        if checkpoint.metadata.get("source") == "input":
            continue
        if (
            newer is None
            or newer.metadata.get("source") != "loop"
            or newer.metadata.get("step") != step + 1
        ):
            ends.append(checkpoint)
    return ends


def _turn(saved: CheckpointTuple) -> dict[str, Any]:
    values = saved.checkpoint["channel_values"]
    return {
        "turn": values.get("turn"),
        "question": values.get("question"),
        "kind": values.get("kind"),
        "answer": values.get("answer"),
        "grounding": values.get("grounding", {}),
        "answered_at": saved.checkpoint.get("ts"),
    }
