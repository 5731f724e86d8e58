"""The typed tool layer: a registry of tools, the evidence ledger, and the context tools run in.

A tool is a plain function `fn(context, args) -> output` whose input and output are pydantic
models; its docstring is the description an LLM reads. Every call through `ToolContext.call`
is recorded in the ledger as an evidence item with a stable id (E1, E2, ...), its arguments,
a one-line summary, its named figures (the only numbers a narrative may cite), an optional
small table, the SQL it ran (if any) and its wall time.

Tools are deterministic for the same warehouse and arguments, so their results are computed once
per world and shared: `ToolContext.call` looks a call up in the world's `WorldCache` first, and a
result another conversation computed is recorded here as this conversation's own evidence item.
The WorldCache also keeps each result on disk in the world directory (tools/result_store.py), so
a fresh process answers from what an earlier process computed on the same warehouse.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_type_hints

import duckdb
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from data.engines.base import Engine, EngineError
from data.warehouse import WAREHOUSE_FILE, open_warehouse, warehouse_fingerprint
from tools.result_store import ResultStore, ResultStoreSettings

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
    """A tool call that cannot be answered; the message is shown to the user or the LLM.

    `item` is the evidence item that recorded the failure (set by ToolContext.call)."""

    item: EvidenceItem | None = None


class TransientToolError(ToolError):
    """A failure that another try may not repeat (a query stopped at its time limit): it is
    recorded like any error but never shared with other conversations."""


def _engine_errors_as_tool_errors(
    function: Callable[[ToolContext, BaseModel], ToolOutput], context: ToolContext, args: BaseModel
) -> ToolOutput:
    """Run a tool; a query its engine could not run (data/engines: Spark down, a statement
    it rejects) fails the call like any tool error, with the engine's message, and is not
    shared (another try may reach the engine)."""
    try:
        return function(context, args)
    except EngineError as error:
        raise TransientToolError(str(error)) from None


@dataclass(frozen=True)
class Tool:
    """A registered tool: name, description (the docstring), input and output models, function.

    `shared`: the output depends only on the warehouse and the arguments, so one conversation's
    result answers every conversation on the world (ToolContext.call looks it up in the
    WorldCache first). Tools that read anything else (a file beside the warehouse) say False.
    """

    name: str
    description: str
    input_model: type[BaseModel]
    output_model: type[ToolOutput]
    function: Callable[[ToolContext, BaseModel], ToolOutput]
    shared: bool = True

    def json_schema(self) -> dict[str, Any]:
        """OpenAI-style function schema of the tool."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.input_model.model_json_schema(),
        }


REGISTRY: dict[str, Tool] = {}
ToolFunction = Callable[..., ToolOutput]


def tool(
    function: ToolFunction | None = None, *, shared: bool = True
) -> ToolFunction | Callable[[ToolFunction], ToolFunction]:
    """Register `function(context, args: InputModel) -> OutputModel` as a tool: `@tool`, or
    `@tool(shared=False)` for a tool whose output is not a function of the warehouse and its
    arguments alone."""

    def register(function: ToolFunction) -> ToolFunction:
        hints = get_type_hints(function)
        parameters = list(inspect.signature(function).parameters)
        name = function.__name__
        if name in REGISTRY:
            raise ValueError(f"tool {name} is registered twice")
        REGISTRY[name] = Tool(
            name=name,
            description=inspect.cleandoc(function.__doc__ or name),
            input_model=hints[parameters[1]],
            output_model=hints["return"],
            function=function,
            shared=shared,
        )
        return function

    return register(function) if function is not None else register


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


# The world cache's default bound: entries and their approximate size (see approximate_bytes).
# A diagnosis of the demo incident stores 33 values in ~16 MB (its what-if simulator ~12 MB, the
# scan ~3 MB), so the bound keeps some 30 investigations and every chat answer of a session.
DEFAULT_MAX_ENTRIES = 4096
DEFAULT_MAX_BYTES = 512 * 2**20
_LARGE_COLLECTION = 1000  # items beyond this are sized from a sample of their first 200


def approximate_bytes(value: Any, _seen: set[int] | None = None, _depth: int = 0) -> int:
    """Approximate memory held by `value`: arrays and frames by their buffers, containers, models
    and objects by their parts (to a depth of 10), anything else by sys.getsizeof."""
    seen = set() if _seen is None else _seen
    if id(value) in seen or _depth > 10:
        return 0
    seen.add(id(value))
    if isinstance(value, str | bytes | bytearray):
        return sys.getsizeof(value)
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):  # numpy arrays
        return nbytes
    memory_usage = getattr(value, "memory_usage", None)
    if callable(memory_usage) and hasattr(value, "dtypes"):  # pandas frames and series
        used = memory_usage(index=True, deep=True)
        return int(getattr(used, "sum", lambda: used)())
    if isinstance(value, dict):
        items = [part for pair in value.items() for part in pair]
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    elif hasattr(value, "__dict__"):
        items = list(vars(value).values())
    else:
        return sys.getsizeof(value)
    size = sys.getsizeof(value)
    sample = items[:200] if len(items) > _LARGE_COLLECTION else items
    parts = sum(approximate_bytes(item, seen, _depth + 1) for item in sample)
    return size + parts * len(items) // max(len(sample), 1)


@dataclass
class _Entry:
    value: Any
    size: int


class WorldCache:
    """Results that depend only on the world and the arguments (tool outputs, detection scans,
    the data span, what-if simulators), computed once and shared by every conversation on that
    world.

    Thread-safe: concurrent callers of the same key wait for the first to finish. Bounded: least
    recently used values are dropped beyond `max_entries` values or `max_bytes` approximate
    bytes (approximate_bytes); a single value larger than `max_bytes` is returned, not kept.
    Keyed by the warehouse: once bound to a world (ToolContext does it), every lookup checks the
    warehouse file's fingerprint (one stat) and drops everything when the file changed, so an
    appended or rebuilt world is never answered from results of the old data.

    Kept on disk: with `persist` (default: the CXAGENT_RESULT_CACHE setting, on), tool results
    are also stored in the world's ResultStore under the warehouse's fingerprint, where a fresh
    process finds them (ToolContext reads and writes them; other values stay in memory).
    """

    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        *,
        persist: bool | None = None,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.persist = persist
        self.store: ResultStore | None = None  # the world's results on disk, set by bind
        self.generation = 0  # bumped each time a change of the warehouse drops the values
        self._values: OrderedDict[Any, _Entry] = OrderedDict()
        self._bytes = 0
        self._locks: dict[Any, threading.Lock] = {}
        self._lock = threading.Lock()
        self._warehouse: Path | None = None
        self._fingerprint: tuple[int, ...] | None = None

    def bind(self, world_dir: Path) -> None:
        """Key this cache to a world's warehouse file (once; one cache serves one world)."""
        path = warehouse_path(world_dir)
        with self._lock:
            if self._warehouse == path:
                return
            if self._warehouse is not None:
                raise ValueError(f"this WorldCache serves {self._warehouse}, not {path}")
            self._warehouse = path
            persist = self.persist
            if persist is None:
                persist = ResultStoreSettings().result_cache
            self.store = ResultStore.open(path.parent) if persist else None

    @property
    def stamp(self) -> str:
        """The warehouse's fingerprint as of the last lookup, as the result store keys it."""
        return ".".join(map(str, self._fingerprint or ()))

    def read_stored(self, tool: str, arguments: str, stamp: str) -> dict[str, Any] | None:
        """A tool result's payload stored on disk for this warehouse stamp, or None."""
        if self.store is None or not stamp:
            return None
        return self.store.read(stamp, tool, arguments)

    def write_stored(self, tool: str, arguments: str, payload: dict[str, Any], stamp: str) -> None:
        """Store a tool result computed on the warehouse with `stamp`, if the file still has it
        (a result computed while the warehouse changed is not kept)."""
        if self.store is None or not stamp or self._warehouse is None:
            return
        if ".".join(map(str, warehouse_fingerprint(self._warehouse))) == stamp:
            self.store.write(stamp, tool, arguments, payload)

    def refresh(self) -> int:
        """Check the warehouse's fingerprint; drop every value if it changed. The generation."""
        if self._warehouse is None:
            return self.generation
        fingerprint = warehouse_fingerprint(self._warehouse)
        with self._lock:
            if fingerprint != self._fingerprint:
                if self._fingerprint is not None:
                    self._values.clear()
                    self._bytes = 0
                    self.generation += 1
                self._fingerprint = fingerprint
            return self.generation

    def get(self, key: Any, compute: Callable[[], Any], size: int | None = None) -> Any:
        """The value under `key`, computing it with `compute()` the first time. `size` (bytes)
        stands in for measuring the value: for views into a value the cache already holds."""
        generation = self.refresh()
        with self._lock:
            if key in self._values:
                return self._hit(key)
            key_lock = self._locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._values:
                    return self._hit(key)
            try:
                value = compute()  # an exception leaves nothing cached
                self._store(key, value, generation, size)  # before the key's lock goes
            finally:
                with self._lock:
                    self._locks.pop(key, None)
            return value

    def __len__(self) -> int:
        return len(self._values)

    @property
    def bytes(self) -> int:
        """Approximate bytes held (the sum of the values' approximate_bytes)."""
        return self._bytes

    def _hit(self, key: Any) -> Any:
        self._values.move_to_end(key)
        return self._values[key].value

    def _store(self, key: Any, value: Any, generation: int, size: int | None = None) -> None:
        if not getattr(value, "shareable", True):
            return
        size = approximate_bytes(value) if size is None else size
        with self._lock:
            if generation != self.generation or size > self.max_bytes:
                return  # computed on data that has changed since, or too large to keep
            self._values[key] = _Entry(value, size)
            self._bytes += size
            while len(self._values) > self.max_entries or self._bytes > self.max_bytes:
                _, dropped = self._values.popitem(last=False)
                self._bytes -= dropped.size


def warehouse_path(world_dir: Path) -> Path:
    """The warehouse file of a world directory (or the file itself when given one)."""
    world_dir = Path(world_dir)
    return world_dir / WAREHOUSE_FILE if world_dir.suffix != ".duckdb" else world_dir


EVIDENCE_ID = re.compile(r"\bE\d+\b")


@dataclass(frozen=True)
class SharedResult:
    """A shared tool call as the WorldCache keeps it: the output (or the error's message), the
    tool calls it made itself (name, arguments, evidence id in the conversation that ran it) and
    the evidence fields its item records. `shareable` is False for an output that quotes
    evidence ids of its conversation that neither its arguments nor its own calls gave it: it
    answers that conversation only, and the cache does not keep it."""

    output: ToolOutput | None
    error: str | None
    nested: tuple[tuple[str, dict[str, Any], str], ...]
    record: dict[str, Any]
    shareable: bool = True


@dataclass
class ToolContext:
    """What a tool may touch: the world directory, a read-only warehouse connection, the ledger.

    Connections are per thread (DuckDB connections are not shared across threads) and reopened
    when the warehouse changes. `shared` holds world-level results that every conversation on
    the same world reuses (pass one WorldCache to all of them): tool outputs, scans and
    simulators.
    """

    world_dir: Path
    ledger: Ledger = field(default_factory=Ledger)
    shared: WorldCache = field(default_factory=WorldCache, repr=False)
    # Another engine than the world's DuckDB warehouse (data/engines, e.g. Spark over the
    # world's Parquet): every thread's queries go to it; its owner closes it.
    engine: Engine | None = field(default=None, repr=False)
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _answers: dict[tuple[str, str], tuple[ToolOutput, EvidenceItem]] = field(
        default_factory=dict, repr=False
    )
    _generation: int = field(default=-1, repr=False)

    def __post_init__(self) -> None:
        self.world_dir = Path(self.world_dir)
        if self.engine is not None and self.shared.persist is not False:
            # Results computed on the world's DuckDB warehouse (stored on disk, or shared in
            # memory) are not this engine's: it computes its own and stores none.
            self.shared = WorldCache(persist=False)
        self.shared.bind(self.world_dir)

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self.engine is not None:  # it offers the connection methods tools use (Engine)
            return cast(duckdb.DuckDBPyConnection, self.engine)
        connection = getattr(self._local, "con", None)
        generation = self.shared.generation
        if connection is not None and self._local.generation != generation:
            connection.close()  # opened on a warehouse file that has changed since
            connection = None
        if connection is None:
            connection = open_warehouse(self.world_dir)
            self._local.con, self._local.generation = connection, generation
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

        Asking the same tool the same arguments again in this conversation returns the first
        answer and its id. A shared tool's result computed in another conversation on the world
        is reused: this conversation records its own evidence item for it (and for the tool
        calls the tool made itself), without running the tool again.
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
            item = self.ledger.record(
                tool=name, args=raw, summary=f"invalid arguments: {problems}",
                seconds=time.perf_counter() - started, ok=False,
            )  # fmt: skip
            failure = ToolError(f"{name}: invalid arguments: {problems}")
            raise self._failed(failure, name, raw, item) from None
        arguments_json = args.model_dump(mode="json")
        key = (name, json.dumps(arguments_json, sort_keys=True))
        self._sync_with_world()
        if key in self._answers:  # the same question twice: reuse the evidence
            output, item = self._answers[key]
            self._note(name, arguments_json, item)
            return output, item
        if registered.shared:
            output, item = self._shared_call(registered, args, key, started)
        else:
            output, item = self._run(registered, args, started)
        self._answers[key] = (output, item)
        self._note(name, arguments_json, item)
        return output, item

    def _run(
        self, registered: Tool, args: BaseModel, started: float
    ) -> tuple[ToolOutput, EvidenceItem]:
        """Run a tool that is not shared and record its item."""
        arguments_json = args.model_dump(mode="json")
        try:
            output = _engine_errors_as_tool_errors(registered.function, self, args)
        except ToolError as error:
            raise self._record_failure(error, registered.name, arguments_json, started) from None
        item = self.ledger.record(
            tool=registered.name, args=arguments_json, **_record_fields(output),
            seconds=round(time.perf_counter() - started, 4),
        )  # fmt: skip
        return output, item

    def _shared_call(
        self, registered: Tool, args: BaseModel, key: tuple[str, str], started: float
    ) -> tuple[ToolOutput, EvidenceItem]:
        """Look the call up in the world cache (computing it on a miss) and record its item."""
        name, arguments_json = registered.name, args.model_dump(mode="json")
        computed_here = False

        def compute() -> SharedResult:
            nonlocal computed_here
            stamp = self.shared.stamp
            stored = _from_payload(registered, self.shared.read_stored(name, key[1], stamp))
            if stored is not None:  # computed by an earlier process: replayed below
                return stored
            computed_here = True
            result = self._compute(registered, args)
            payload = _to_payload(registered, result)
            if payload is not None:
                self.shared.write_stored(name, key[1], payload, stamp)
            return result

        try:
            result: SharedResult = self.shared.get(("tool", *key), compute)
        except TransientToolError as error:
            raise self._record_failure(error, name, arguments_json, started) from None
        output = result.output
        record = result.record
        if not computed_here:  # another conversation ran it: replay its own calls here
            mapping = self._replay(result.nested)
            if output is not None and any(old != new for old, new in mapping.items()):
                output = _renumbered(output, mapping)
                record = _record_fields(output)
        if result.error is not None or output is None:
            failure = ToolError(result.error or f"{name} failed")
            raise self._record_failure(failure, name, arguments_json, started) from None
        item = self.ledger.record(
            tool=name, args=arguments_json, **record,
            seconds=round(time.perf_counter() - started, 4),
        )  # fmt: skip
        return output, item

    def _compute(self, registered: Tool, args: BaseModel) -> SharedResult:
        """Run a shared tool, keeping the calls it makes itself; a ToolError is a result too (the
        same arguments fail the same way), a TransientToolError is not."""
        frames = self._frames()
        frames.append([])
        try:
            output = _engine_errors_as_tool_errors(registered.function, self, args)
        except TransientToolError:
            raise
        except ToolError as error:
            return SharedResult(None, str(error), tuple(frames[-1]), {})
        finally:
            nested = tuple(frames.pop())
        known = {evidence_id for *_, evidence_id in nested}
        known |= set(EVIDENCE_ID.findall(args.model_dump_json()))
        quoted = set(EVIDENCE_ID.findall(output.model_dump_json()))
        return SharedResult(output, None, nested, _record_fields(output), quoted <= known)

    def _replay(self, nested: tuple[tuple[str, dict[str, Any], str], ...]) -> dict[str, str]:
        """Make a shared result's own tool calls in this conversation (each one a lookup too);
        the ids they had where the result was computed -> their ids here."""
        mapping: dict[str, str] = {}
        frames = self._frames()
        frames.append([])  # the replayed calls belong to the result, not to an enclosing call
        try:
            for name, arguments, evidence_id in nested:
                try:
                    _, item = self.call(name, arguments)
                except ToolError as error:
                    if error.item is None:
                        raise
                    item = error.item
                mapping[evidence_id] = item.id
        finally:
            frames.pop()
        return mapping

    def _record_failure(
        self, error: ToolError, name: str, arguments_json: dict[str, Any], started: float
    ) -> ToolError:
        item = self.ledger.record(
            tool=name, args=arguments_json, summary=str(error),
            seconds=time.perf_counter() - started, ok=False,
        )  # fmt: skip
        return self._failed(error, name, arguments_json, item)

    def _failed(
        self, error: ToolError, name: str, arguments: dict[str, Any], item: EvidenceItem
    ) -> ToolError:
        error.item = item
        self._note(name, arguments, item)
        return error

    def _frames(self) -> list[list[tuple[str, dict[str, Any], str]]]:
        """This thread's stack of tool calls being computed, each collecting the calls it makes."""
        frames = getattr(self._local, "frames", None)
        if frames is None:
            frames = self._local.frames = []
        return frames

    def _note(self, name: str, arguments: dict[str, Any], item: EvidenceItem) -> None:
        """Tell the tool call being computed in this thread (if any) that it made this call."""
        frames = self._frames()
        if frames:
            frames[-1].append((name, arguments, item.id))

    def _sync_with_world(self) -> None:
        """Check the warehouse (one stat); answers given on data that has changed are dropped."""
        generation = self.shared.refresh()
        if generation != self._generation:
            self._answers.clear()
            self._generation = generation


def _to_payload(registered: Tool, result: SharedResult) -> dict[str, Any] | None:
    """What the result store keeps of a shared result: its output as JSON and the calls it made.
    None for what is not stored: errors (an error may come from this process's state, such as
    memory, rather than from the data), results that answer one conversation only, and outputs
    that JSON does not give back exactly."""
    if result.output is None or result.error is not None or not result.shareable:
        return None
    output = result.output.model_dump(mode="json")
    try:
        again = registered.output_model.model_validate(output)
    except (ValidationError, ValueError, TypeError):
        return None
    if _canonical(again) != _canonical(result.output):
        return None
    nested = [[name, arguments, evidence_id] for name, arguments, evidence_id in result.nested]
    return {"output": output, "nested": nested}


def _from_payload(registered: Tool, payload: dict[str, Any] | None) -> SharedResult | None:
    """A stored payload back as a SharedResult, or None when it is not one this tool could have
    stored (JSON validated by the output model; nothing in it is executed)."""
    if payload is None:
        return None
    nested = payload.get("nested")
    if not isinstance(nested, list) or not all(_is_call(call) for call in nested):
        return None
    try:
        output = registered.output_model.model_validate(payload.get("output"))
    except (ValidationError, ValueError, TypeError):
        return None
    calls = tuple((name, arguments, evidence_id) for name, arguments, evidence_id in nested)
    return SharedResult(output, None, calls, _record_fields(output))


def _is_call(call: Any) -> bool:
    """A stored nested call: [registered tool name, arguments object, evidence id]."""
    return (
        isinstance(call, list)
        and len(call) == 3
        and call[0] in REGISTRY
        and isinstance(call[1], dict)
        and isinstance(call[2], str)
        and EVIDENCE_ID.fullmatch(call[2]) is not None
    )


def _canonical(output: ToolOutput) -> str:
    """An output and the evidence fields it records, as JSON text (keys in their order, NaN
    written as NaN)."""
    record = _record_fields(output)
    record["figures"] = {
        name: part.model_dump(mode="json") for name, part in record["figures"].items()
    }
    return json.dumps([output.model_dump(mode="json"), record], default=str)


def _record_fields(output: ToolOutput) -> dict[str, Any]:
    """What an evidence item records of a tool's output."""
    return {
        "summary": output.summary,
        "figures": output.figures(),
        "table": output.table(),
        "sql": output.sql(),
    }


def _renumbered(output: ToolOutput, mapping: dict[str, str]) -> ToolOutput:
    """The output with the evidence ids it quotes (of the calls it made) renumbered."""
    changed = {old: new for old, new in mapping.items() if old != new}
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, changed)) + r")\b")

    def renumber(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub(lambda match: changed[match.group(1)], value)
        if isinstance(value, dict):
            return {key: renumber(part) for key, part in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(renumber(part) for part in value)
        return value

    return type(output).model_validate(renumber(output.model_dump()))
