"""Benchmark (issue 20, item 5): DuckDB against Spark local on 10M- and 100M-order worlds.

    # a world of ~10.1M orders (the demo scenario at 330,000 orders/day), partitioned by day
    .venv/bin/python benchmarks/scale.py world --out /tmp/scale/w10m --orders-per-day 330000
    # ~101M orders: 10 copies of it, ids prefixed per copy (benchmarks/scale_world.py)
    .venv/bin/python benchmarks/scale.py world --out /tmp/scale/w100m --tile 10 \
        --base /tmp/scale/w10m
    .venv/bin/python benchmarks/scale.py run --world /tmp/scale/w10m --json /tmp/scale/w10m.json
        [--engines duckdb,spark] [--duckdb-memory-limit 4GB] [--spark-driver-memory 4g]
        [--engine-timeout SECONDS]
    # one table from several runs on a world (e.g. one per engine)
    .venv/bin/python benchmarks/scale.py table A.json B.json [--json merged.json]

Worlds are Parquet partitioned by day (`orders.parquet/day=YYYY-MM-DD/part-N.parquet`). A
tiled world is k copies of a generated one: every cohort's rates are the base world's and its
counts k times larger, so it holds the same regressions (at z-scores ~sqrt(k) larger).

Four steps per engine, each engine in a fresh child process (CXAGENT_RESULT_CACHE=off, so
nothing computed before is reused):
1. ingest: DuckDB builds WORLD/warehouse.duckdb (data.warehouse.build_warehouse, with the
   memory limit given); Spark opens the world (data.engines.spark_engine.open_spark_world,
   local[2]) with `materialize`: order_facts written into WORLD/order_facts.parquet (as
   `cxagent ingest --engine spark` does; a copy from an earlier run is deleted first), then
   counted from those files;
2. scan: the `detect_incidents` tool (grain auto) through a tools.base.ToolContext;
3. slices: the `top_slices` tool on the most severe incident, in the same context;
4. ask: agent.service.Agent(world, engine=...).ask("why did CX drop on Jan 4?"), a new agent
   (its own scan included).

Per step: wall time, the peak RSS of the Python process (VmHWM, reset at the step's start
through /proc/self/clear_refs; DuckDB runs inside it) and of its child processes (the Spark
JVM: the larger of their VmHWM, reset likewise, and their summed VmRSS sampled every 0.2 s).
Progress goes to stderr; the table to stdout; with --json, the figures too (written after
every step, so a run stopped early keeps the steps it finished).

Disk: the 100M warehouse build spills its order_facts join and sort next to the warehouse
(measured 2026-12-06: past 35 GB of WORLD/warehouse.duckdb.tmp at memory_limit 4GB before it
was stopped, ~28 GB at 14GB; the warehouse itself is 17.6 GB); Spark's ingest writes 6.9 GB of
WORLD/order_facts.parquet and spills its join to /tmp (at one look during that write the disk
in use stood 33 GB above its level before the worlds were generated, the 1.2 GB and 12 GB worlds
included; the peak may be higher). Keep ~60 GB free beside the 12 GB world.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "why did CX drop on Jan 4?"
STEPS = ("ingest", "scan", "slices", "ask")
ENGINES = ("duckdb", "spark")
SAMPLE_SECONDS = 0.2
HEARTBEAT_SECONDS = 60.0
_STARTED = time.perf_counter()


def say(line: str) -> None:
    """A progress line on stderr, stamped with the wall clock and the seconds since start."""
    stamp = time.strftime("%H:%M:%S")
    print(f"[{stamp} +{time.perf_counter() - _STARTED:7.1f}s] {line}", file=sys.stderr, flush=True)


# --- memory ------------------------------------------------------------------------------------


def _status_kib(pid: int, field: str) -> int:
    """A /proc/<pid>/status figure in KiB (0 if the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children, ...)."""
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children") as children:
                    kids = [int(child) for child in children.read().split()]
            except OSError:
                continue
            found += kids
            queue += kids
    return found


def reset_peak(pid: int) -> None:
    """Reset a process's VmHWM to its current RSS (Linux clear_refs 5)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        pass


class StepMeter:
    """Peak RSS of this process and of its children while a step runs (see the docstring)."""

    def __init__(self, queries: Callable[[], int]) -> None:
        self._queries = queries
        self._stop = threading.Event()
        self.children_peak_kib = 0
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> StepMeter:
        for pid in (os.getpid(), *descendants(os.getpid())):
            reset_peak(pid)
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        hwm = max((_status_kib(p, "VmHWM") for p in descendants(os.getpid())), default=0)
        self.children_peak_kib = max(self.children_peak_kib, hwm)
        self.python_peak_kib = _status_kib(os.getpid(), "VmHWM")

    def _sample(self) -> None:
        beat = time.perf_counter()
        while not self._stop.wait(SAMPLE_SECONDS):
            rss = sum(_status_kib(p, "VmRSS") for p in descendants(os.getpid()))
            self.children_peak_kib = max(self.children_peak_kib, rss)
            if time.perf_counter() - beat >= HEARTBEAT_SECONDS:
                beat = time.perf_counter()
                say(
                    f"  ... {beat - self._started:.0f} s, Python RSS "
                    f"{_status_kib(os.getpid(), 'VmRSS') / 2**20:.2f} GiB, children RSS "
                    f"{rss / 2**20:.2f} GiB, engine queries {self._queries()}"
                )


# --- the steps (in the child process) ----------------------------------------------------------


class QueryCounter:
    """Counts the queries an engine runs (Spark's `execute`); DuckDB's are not counted."""

    def __init__(self) -> None:
        self.count = 0

    def wrap(self, engine: Any) -> None:
        execute = engine.execute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return execute(*args, **kwargs)

        engine.execute = counted


def ingest(engine_name: str, world: Path, args: argparse.Namespace) -> tuple[Any, dict]:
    """Step 1: the engine ready to answer queries on the world; (engine or None, details)."""
    if engine_name == "duckdb":
        from data.warehouse import WAREHOUSE_FILE, build_warehouse

        build_warehouse(world, memory_limit=args.duckdb_memory_limit)
        size = (world / WAREHOUSE_FILE).stat().st_size
        return None, {"memory_limit": args.duckdb_memory_limit, "warehouse_bytes": size}
    from data.engines.spark_engine import FACTS_FILE, open_spark_world

    shutil.rmtree(world / FACTS_FILE, ignore_errors=True)  # measure the write, every run
    engine = open_spark_world(world, master=args.spark_master, materialize=True, progress=say)
    rows = engine.execute("SELECT count(*) FROM order_facts").fetchone()
    written = sum(f.stat().st_size for f in (world / FACTS_FILE).rglob("*") if f.is_file())
    return engine, {
        "order_facts_rows": rows[0] if rows else None,
        "order_facts_bytes": written,
        "master": args.spark_master,
    }


def scan(context: Any) -> tuple[Any, dict]:
    """Step 2: detect_incidents; (the most severe incident, details)."""
    output, _ = context.call("detect_incidents", {"grain": "auto"})
    incidents = sorted(output.incidents, key=lambda incident: -incident.severity)
    top = incidents[0] if incidents else None
    return top, {
        "grain": output.grain,
        "series_scanned": output.series_scanned,
        "alarms": output.alarms,
        "incidents": len(incidents),
        "top_incident": top.model_dump(mode="json", include={"incident_id", "severity"})
        if top
        else None,
    }


def slices(context: Any, top: Any) -> dict:
    """Step 3: top_slices on the most severe incident."""
    if top is None:
        return {"skipped": "no incident"}
    output, _ = context.call("top_slices", {"incident_id": top.incident_id})
    first = output.slices[0] if output.slices else None
    return {"slices": len(output.slices), "top_slice": first.description if first else None}


def ask(world: Path, engine: Any) -> dict:
    """Step 4: a new agent answers the demo question."""
    from agent.service import Agent

    agent = Agent(world, engine=engine)
    try:
        answer = agent.ask(QUESTION)
    finally:
        agent.close()
    causes = answer.get("causes") or []
    return {
        "kind": answer.get("kind"),
        "incident": (answer.get("incident") or {}).get("id"),
        "first_cause": causes[0].get("kind") if causes and isinstance(causes[0], dict) else None,
        "grounding": answer.get("grounding"),
        "backend": answer.get("backend"),
    }


class Recorder:
    """Runs the steps one by one, measuring each, and writes the figures after each."""

    def __init__(self, out: Path, engine_name: str, counter: QueryCounter) -> None:
        self.out, self.counter = out, counter
        self.figures: dict[str, Any] = {"engine": engine_name, "steps": {}}

    def step(self, name: str, work: Callable[[], dict]) -> None:
        say(f"{self.figures['engine']}: {name} starts")
        queries_before = self.counter.count
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        with StepMeter(lambda: self.counter.count - queries_before) as meter:
            self.current = (name, started, meter, queries_before)
            details = work()
        wall = time.perf_counter() - started
        queries = self.counter.count - queries_before
        self.figures["steps"][name] = {
            "wall_s": round(wall, 2),
            "python_peak_mib": round(meter.python_peak_kib / 1024, 1),
            "children_peak_mib": round(meter.children_peak_kib / 1024, 1),
            "engine_queries": queries or None,
            "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "started_at": time.strftime("%H:%M:%S", time.localtime(time.time() - wall)),
            "details": details,
        }
        self.out.write_text(json.dumps(self.figures, indent=2, default=str))
        counted = f", {queries} queries" if queries else ""
        say(
            f"{self.figures['engine']}: {name} done in {wall:.1f} s, Python peak "
            f"{meter.python_peak_kib / 2**20:.2f} GiB, children peak "
            f"{meter.children_peak_kib / 2**20:.2f} GiB{counted}"
        )

    def stop(self, *_: object) -> None:
        """On SIGTERM (--engine-timeout, or by hand): record how far the running step got (a
        step inside one long DuckDB call may end before this runs), then exit."""
        name, started, meter, queries_before = self.current
        self.figures["stopped"] = {
            "step": name,
            "after_s": round(time.perf_counter() - started, 1),
            "engine_queries": self.counter.count - queries_before,
            "python_peak_mib": round(_status_kib(os.getpid(), "VmHWM") / 1024, 1),
            "children_peak_mib": round(meter.children_peak_kib / 1024, 1),
        }
        self.out.write_text(json.dumps(self.figures, indent=2, default=str))
        say(f"{self.figures['engine']}: stopped in {name}: {self.figures['stopped']}")
        os._exit(1)


def measure(args: argparse.Namespace) -> None:
    """The child: the four steps on one engine, figures to --out."""
    from tools import catalog  # noqa: F401  (registers the tools)
    from tools.base import ToolContext

    world, counter = args.world.resolve(), QueryCounter()
    recorder = Recorder(args.out, args.engine, counter)
    signal.signal(signal.SIGTERM, recorder.stop)
    state: dict[str, Any] = {}

    def do_ingest() -> dict:
        state["engine"], details = ingest(args.engine, world, args)
        if state["engine"] is not None:
            counter.wrap(state["engine"])
        state["context"] = ToolContext(world_dir=world, engine=state["engine"])
        return details

    def do_scan() -> dict:
        state["top"], details = scan(state["context"])
        return details

    recorder.step("ingest", do_ingest)
    recorder.step("scan", do_scan)
    recorder.step("slices", lambda: slices(state["context"], state["top"]))
    state["context"].close()
    recorder.step("ask", lambda: ask(world, state["engine"]))
    if state["engine"] is not None:
        state["engine"].session.stop()


# --- the parent: worlds, children, table -------------------------------------------------------


def parquet_bytes(world: Path) -> int:
    """Bytes of the world's Parquet tables (files and directories of parts; not the
    order_facts Spark's ingest writes)."""
    from data.engines.spark_engine import source_files

    return sum(size for _, size, _ in source_files(world))


def run_engine(engine: str, args: argparse.Namespace, out: Path) -> dict:
    """One engine's four steps in a fresh child process (its own session and process group)."""
    env = {
        **os.environ,
        "CXAGENT_RESULT_CACHE": "off",
        "CXAGENT_SPARK_DRIVER_MEMORY": args.spark_driver_memory,
    }
    argv = [sys.executable, __file__, "measure", "--world", str(args.world), "--engine", engine]
    argv += ["--out", str(out), "--duckdb-memory-limit", args.duckdb_memory_limit]
    argv += ["--spark-master", args.spark_master]
    out.unlink(missing_ok=True)
    child = subprocess.Popen(argv, env=env, start_new_session=True)
    try:
        returncode = child.wait(timeout=args.engine_timeout)
    except subprocess.TimeoutExpired:
        say(f"{engine}: stopped after {args.engine_timeout:.0f} s (--engine-timeout)")
        child.terminate()  # the child records how far it got, then its group is ended
        try:
            returncode = child.wait(timeout=30)
        finally:
            with suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
    figures = json.loads(out.read_text()) if out.exists() else {"engine": engine, "steps": {}}
    figures["returncode"] = returncode
    return figures


def world_summary(world: Path) -> dict:
    manifest = json.loads((world / "world.json").read_text())
    return {
        "path": str(world),
        "orders": manifest["row_counts"]["orders"],
        "row_counts": manifest["row_counts"],
        "parquet_bytes": parquet_bytes(world),
        "built_by": manifest.get("built_by"),
        "build_seconds": manifest.get("build_seconds"),
        "layout": manifest.get("layout"),
    }


def _cell(step: dict | None, key: str, scale: float = 1.0, digits: int = 1) -> str:
    if not step or step.get(key) is None:
        return "not measured"
    return f"{step[key] / scale:.{digits}f}"


def markdown(report: dict) -> str:
    """The results as a markdown table (GiB for memory)."""
    world = report["world"]
    lines = [
        f"World {world['path']}: {world['orders']:,} orders, Parquet "
        f"{world['parquet_bytes'] / 2**30:.2f} GiB ({world['built_by']})",
        "",
        "| step | DuckDB wall s | DuckDB Python peak GiB | Spark wall s "
        "| Spark Python peak GiB | Spark JVM peak GiB | Spark queries |",
        "|---|---|---|---|---|---|---|",
    ]
    engines = report["engines"]
    for name in STEPS:
        duck = engines.get("duckdb", {}).get("steps", {}).get(name)
        spark = engines.get("spark", {}).get("steps", {}).get(name)
        lines.append(
            f"| {name} | {_cell(duck, 'wall_s')} | {_cell(duck, 'python_peak_mib', 1024, 2)} "
            f"| {_cell(spark, 'wall_s')} | {_cell(spark, 'python_peak_mib', 1024, 2)} "
            f"| {_cell(spark, 'children_peak_mib', 1024, 2)} "
            f"| {(spark or {}).get('engine_queries') or ''} |"
        )
    for name, figures in engines.items():
        if "stopped" in figures:
            stopped = figures["stopped"]
            lines.append(f"\n{name} was stopped (SIGTERM: --engine-timeout or by hand): {stopped}")
    return "\n".join(lines)


def code_state() -> dict:
    """The commit measured and the files changed in the working tree (others edit it too)."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], capture_output=True, text=True, cwd=ROOT)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "modified": git("status", "--short").splitlines()}


def run(args: argparse.Namespace) -> None:
    """Both engines on one world; the table on stdout and, with --json, the figures."""
    args.world = args.world.resolve()
    report: dict[str, Any] = {
        "world": world_summary(args.world),
        "question": QUESTION,
        "settings": {
            "duckdb_memory_limit": args.duckdb_memory_limit,
            "spark_driver_memory": args.spark_driver_memory,
            "spark_master": args.spark_master,
            "cpus": os.cpu_count(),
        },
        "code": code_state(),
        "engines": {},
    }
    for engine in args.engines.split(","):
        partial = (args.json or args.world.parent / "scale.json").with_suffix(f".{engine}.json")
        report["engines"][engine] = run_engine(engine, args, partial)
        if args.json:
            args.json.write_text(json.dumps(report, indent=2, default=str))
    print(markdown(report))


def table(args: argparse.Namespace) -> None:
    """Merge reports of one world (e.g. one run per engine) and print their table."""
    reports = [json.loads(path.read_text()) for path in args.reports]
    merged = {**reports[0], "engines": {}}
    for report in reports:
        merged["engines"].update(report["engines"])
    if args.json:
        args.json.write_text(json.dumps(merged, indent=2, default=str))
    print(markdown(merged))


@contextmanager
def timed(label: str) -> Iterator[None]:
    say(f"{label} starts")
    started = time.perf_counter()
    yield
    say(f"{label} done in {time.perf_counter() - started:.1f} s")


def build_world(args: argparse.Namespace) -> None:
    """Generate (or tile) a world; its build time goes into its world.json."""
    from scale_world import generate_partitioned, tile_world

    started = time.perf_counter()
    with timed(f"world {args.out}"):
        if args.tile:
            counts = tile_world(args.base, args.out, args.tile, args.workers, progress=say)
        else:
            counts = generate_partitioned(args.out, args.orders_per_day, args.workers, say)
    manifest_path = args.out / "world.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["build_seconds"] = round(time.perf_counter() - started, 1)
    manifest_path.write_text(json.dumps(manifest, indent=2))
    print(json.dumps({"orders": counts["orders"], **manifest}, indent=2))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    world = commands.add_parser("world", help="generate or tile a world partitioned by day")
    world.add_argument("--out", type=Path, required=True)
    world.add_argument("--orders-per-day", type=int, default=330_000)
    world.add_argument("--tile", type=int, help="copies of --base instead of generating")
    world.add_argument("--base", type=Path)
    world.add_argument("--workers", type=int, default=2)
    for name in ("run", "measure"):
        command = commands.add_parser(name)
        command.add_argument("--world", type=Path, required=True)
        command.add_argument("--duckdb-memory-limit", default="4GB")
        command.add_argument("--spark-driver-memory", default="4g")
        command.add_argument("--spark-master", default="local[2]")
    commands.choices["run"].add_argument("--engines", default="duckdb,spark")
    commands.choices["run"].add_argument("--json", type=Path)
    commands.choices["run"].add_argument("--engine-timeout", type=float)
    merge = commands.add_parser("table", help="merge reports of one world into one table")
    merge.add_argument("reports", type=Path, nargs="+")
    merge.add_argument("--json", type=Path, help="write the merged report here")
    commands.choices["measure"].add_argument("--engine", choices=ENGINES, required=True)
    commands.choices["measure"].add_argument("--out", type=Path, required=True)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    commands = {"world": build_world, "run": run, "measure": measure, "table": table}
    commands[args.command](args)


if __name__ == "__main__":
    main()
