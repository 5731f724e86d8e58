"""The typed tool layer: a registry of tools, the evidence ledger, and the context tools run in.

A tool is a plain function `fn(context, args) -> output` whose input and output are pydantic
models; its docstring is the description an LLM reads. Every call through `ToolContext.call`
is recorded in the ledger as an evidence item with a stable id (E1, E2, ...), its arguments,
a one-line summary, its named figures (the only numbers a narrative may cite), an optional
small table, the SQL it ran (if any) and its wall time.
"""

from __future__ import annotations

import inspect
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_type_hints

import duckdb
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from data.warehouse import open_warehouse

Unit = Literal[
    "share",  # a fraction 0-1, shown as a percentage
    "points",  # percentage points or CX score points
    "minutes",
    "seconds",
    "orders",
    "count",
    "usd",
    "stars",
    "score",  # 0-100 scores (CX score, severity)
    "ratio",  # unitless ratios, z-scores, correlations, probabilities
    "datetime",  # ISO text, e.g. 2026-01-04T18:00
    "text",  # a name that a narrative may quote (a store, a model version)
]


class Figure(BaseModel):
    """A number a narrative may cite, with its unit (for rounding and unit normalization)."""

    model_config = ConfigDict(frozen=True)

    value: float | str
    unit: Unit
    label: str = ""


class ToolOutput(BaseModel):
    """Base of every tool output: a one-line summary plus the figures and table it exposes."""

    summary: str

    def figures(self) -> dict[str, Figure]:
        """Named figures of this output (override in each tool)."""
        return {}

    def table(self) -> list[dict[str, Any]] | None:
        """A small table (at most a few dozen rows) for display, or None."""
        return None

    def sql(self) -> str | None:
        """SQL that ran, when the tool ran user-visible SQL."""
        return None


class EvidenceItem(BaseModel):
    """One recorded tool call."""

    id: str
    tool: str
    args: dict[str, Any]
    summary: str
    figures: dict[str, Figure] = Field(default_factory=dict)
    table: list[dict[str, Any]] | None = None
    sql: str | None = None
    seconds: float
    ok: bool = True


class ToolError(ValueError):
    """A tool call that cannot be answered; the message is shown to the user or the LLM."""


@dataclass(frozen=True)
class Tool:
    """A registered tool: name, description (the docstring), input and output models, function."""

    name: str
    description: str
    input_model: type[BaseModel]
    output_model: type[ToolOutput]
    function: Callable[[ToolContext, BaseModel], ToolOutput]

    def json_schema(self) -> dict[str, Any]:
        """OpenAI-style function schema of the tool."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.input_model.model_json_schema(),
        }


REGISTRY: dict[str, Tool] = {}


def tool(function: Callable[..., ToolOutput]) -> Callable[..., ToolOutput]:
    """Register `function(context, args: InputModel) -> OutputModel` as a tool."""
    hints = get_type_hints(function)
    parameters = list(inspect.signature(function).parameters)
    input_model = hints[parameters[1]]
    output_model = hints["return"]
    name = function.__name__
    if name in REGISTRY:
        raise ValueError(f"tool {name} is registered twice")
    REGISTRY[name] = Tool(
        name=name,
        description=inspect.cleandoc(function.__doc__ or name),
        input_model=input_model,
        output_model=output_model,
        function=function,
    )
    return function


class Ledger:
    """The evidence items of one conversation, in call order; ids are E1, E2, ..."""

    def __init__(self, items: list[EvidenceItem] | None = None) -> None:
        self.items: list[EvidenceItem] = list(items or [])
        self._lock = threading.Lock()

    def record(self, **fields: Any) -> EvidenceItem:
        with self._lock:
            item = EvidenceItem(id=f"E{len(self.items) + 1}", **fields)
            self.items.append(item)
            return item

    def get(self, evidence_id: str) -> EvidenceItem:
        for item in self.items:
            if item.id == evidence_id:
                return item
        raise KeyError(f"no evidence {evidence_id}")


class WorldCache:
    """Results that depend only on the world and the arguments (detection scans, the data span,
    what-if simulators), computed once and shared by every conversation on that world.

    Thread-safe: concurrent callers of the same key wait for the first to finish.
    """

    def __init__(self) -> None:
        self._values: dict[Any, Any] = {}
        self._locks: dict[Any, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        """The value under `key`, computing it with `compute()` the first time."""
        with self._lock:
            if key in self._values:
                return self._values[key]
            key_lock = self._locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._values:
                    return self._values[key]
            value = compute()  # an exception leaves nothing cached
            with self._lock:
                self._values[key] = value
            return value


@dataclass
class ToolContext:
    """What a tool may touch: the world directory, a read-only warehouse connection, the ledger.

    Connections are per thread (DuckDB connections are not shared across threads). `cache`
    holds this conversation's working state; `shared` holds world-level results that every
    conversation on the same world may reuse (pass one WorldCache to all of them).
    """

    world_dir: Path
    ledger: Ledger = field(default_factory=Ledger)
    shared: WorldCache = field(default_factory=WorldCache, repr=False)
    _local: threading.local = field(default_factory=threading.local, repr=False)
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)
    _answers: dict[tuple[str, str], tuple[ToolOutput, EvidenceItem]] = field(
        default_factory=dict, repr=False
    )

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        connection = getattr(self._local, "con", None)
        if connection is None:
            connection = open_warehouse(self.world_dir)
            self._local.con = connection
        return connection

    def close(self) -> None:
        """Close this thread's warehouse connection."""
        connection = getattr(self._local, "con", None)
        if connection is not None:
            connection.close()
            self._local.con = None

    def call(
        self, name: str, arguments: dict[str, Any] | BaseModel | None = None
    ) -> tuple[ToolOutput, EvidenceItem]:
        """Validate arguments, run the tool, record the evidence; errors are recorded too.

        Asking the same tool the same arguments again returns the first answer and its id.
        """
        if name not in REGISTRY:
            raise ToolError(f"unknown tool {name!r}; known: {', '.join(sorted(REGISTRY))}")
        registered = REGISTRY[name]
        started = time.perf_counter()
        raw = arguments.model_dump() if isinstance(arguments, BaseModel) else dict(arguments or {})
        try:
            args = registered.input_model.model_validate(raw)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in error.errors()
            )
            self.ledger.record(
                tool=name, args=raw, summary=f"invalid arguments: {problems}",
                seconds=time.perf_counter() - started, ok=False,
            )  # fmt: skip
            raise ToolError(f"{name}: invalid arguments: {problems}") from None
        key = (name, json.dumps(args.model_dump(mode="json"), sort_keys=True))
        if key in self._answers:  # the same question twice: reuse the evidence
            return self._answers[key]
        try:
            output = registered.function(self, args)
        except ToolError as error:
            self.ledger.record(
                tool=name, args=args.model_dump(mode="json"), summary=str(error),
                seconds=time.perf_counter() - started, ok=False,
            )  # fmt: skip
            raise
        item = self.ledger.record(
            tool=name,
            args=args.model_dump(mode="json"),
            summary=output.summary,
            figures=output.figures(),
            table=output.table(),
            sql=output.sql(),
            seconds=round(time.perf_counter() - started, 4),
        )
        self._answers[key] = (output, item)
        return output, item
