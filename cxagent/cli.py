"""The `cxagent` command line: generate worlds, inspect CX metrics (and later ask the agent)."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from analytics.cohorts import CohortError
from analytics.metrics import (
    CX_COMPONENTS,
    CX_SCORE,
    METRICS,
    MetricError,
    cx_coverage,
    metric_frame,
    metric_gaps,
)
from cxagent.terminal import SafeConsole
from cxagent.web.defaults import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_WATCH_EVERY,
    DEFAULT_WORLD,
    base_url,
)
from data.warehouse import WarehouseError, open_warehouse

if TYPE_CHECKING:
    from data.engines.spark_engine import SparkEngine
    from tools.detection import DetectIncidentsOutput, TopSlicesOutput
    from watching.routes import Routes
    from watching.watcher import TickReport, Watcher

app = typer.Typer(
    help="cx-agent: find why customer experience dropped, with evidence.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = SafeConsole(width=160) if not Console().is_terminal else SafeConsole()
errors = SafeConsole(stderr=True, soft_wrap=True)  # an error stays on one line

ANALYSE_HELP = (
    "Diagnose the most severe incidents once the world is written, so that the first questions "
    "about them answer in seconds, from any process (results kept in WORLD/.cache/results)."
)


# The watcher's tick interval as the command line writes it ("15m").
DEFAULT_EVERY = f"{DEFAULT_WATCH_EVERY.seconds // 60}m"
# `cxagent cx`: the CX score's components and the delivery time, the digits a mean shows.
CX_TABLE_METRICS = (*CX_COMPONENTS, "duration_min")
DIGITS = {"stars": 2, "minutes": 1}


def user_errors() -> tuple[type[Exception], ...]:
    """Errors that are the user's to fix (a bad scenario or filter, no warehouse): printed on one
    line, exit code 2. Read when an error is raised, so that a command imports only what it uses
    (the world generator is for `generate`)."""
    from data.generator import WorldExistsError
    from data.scenario import ScenarioError

    return (ScenarioError, WarehouseError, WorldExistsError, CohortError, MetricError)


def _fail(error: Exception) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {error}", highlight=False)
    return typer.Exit(code=2)


@app.command()
def generate(
    scenario: Annotated[
        str, typer.Option(help="Shipped scenario name (e.g. demo) or a YAML path.")
    ],
    out: Annotated[Path, typer.Option(help="Directory to write the world to.")],
    orders_per_day: Annotated[
        int | None, typer.Option(help="Override the scenario's volume.")
    ] = None,
    days: Annotated[int | None, typer.Option(help="Override the number of days.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.")] = None,
    analyse: Annotated[bool, typer.Option(help=ANALYSE_HELP)] = True,
) -> None:
    """Generate a synthetic world: Parquet tables, the DuckDB warehouse and truth.json."""
    from data.generator import generate_world
    from data.scenario import load_scenario, parse_scenario

    try:
        chosen = load_scenario(scenario)
        overrides = {"orders_per_day": orders_per_day, "days": days, "seed": seed}
        overrides = {key: value for key, value in overrides.items() if value is not None}
        if overrides:
            chosen = parse_scenario(
                {**chosen.model_dump(), **overrides}, f"{scenario} (overridden)"
            )
        started = time.perf_counter()
        with Progress(
            TextColumn(f"generating [bold]{chosen.name}[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("days"),
            TimeElapsedColumn(),
            console=errors,
            transient=True,
        ) as progress:
            task = progress.add_task("days", total=chosen.days)
            counts = generate_world(
                chosen, out, progress=lambda done, total: progress.update(task, completed=done)
            )
    except user_errors() as error:
        raise _fail(error) from None
    seconds = time.perf_counter() - started
    summary = ", ".join(f"{name} {count:,}" for name, count in counts.items())
    console.print(f"wrote {out} in {seconds:.1f} s: {summary}", highlight=False)
    if analyse:
        _analyse(out)


def _analyse(world: Path) -> None:
    """Run Agent.analyse on a world just written, with its progress on stderr."""
    from agent.service import Agent
    from tools.result_store import ResultStoreSettings

    if not ResultStoreSettings().result_cache:
        console.print("not analysed: the result store is off (CXAGENT_RESULT_CACHE)")
        return
    started = time.perf_counter()
    try:
        with errors.status("analysing the world") as status:
            agent = Agent(world)
            diagnosed = agent.analyse(progress=lambda line: status.update(f"analysing: {line}"))
            agent.close()
    except Exception as error:  # noqa: BLE001  (the world is written: questions compute instead)
        errors.print(
            f"[yellow]warning:[/] the world is written but analysing it failed ({error}); "
            "questions will compute what they need",
            highlight=False,
        )
        return
    seconds = time.perf_counter() - started
    found = ", ".join(diagnosed) if diagnosed else "no medium or high incident"
    console.print(f"analysed in {seconds:.1f} s: {found}", highlight=False)


def _parse_filters(filters: list[str]) -> dict[str, list[str | int]]:
    parsed: dict[str, list[str | int]] = {}
    for item in filters:
        if "=" not in item:
            raise CohortError(f"filter {item!r} is not DIMENSION=VALUE")
        key, value = item.split("=", 1)
        values = [int(v) if key == "hour" and v.isdigit() else v for v in value.split(",")]
        parsed.setdefault(key, []).extend(values)
    return parsed


def _bar(value: float, low: float, high: float, width: int = 12) -> str:
    if not all(map(math.isfinite, (value, low, high))) or high <= low:
        return ""
    filled = round((value - low) / (high - low) * width)
    return "█" * max(1, filled)


@app.command()
def cx(
    world: Annotated[Path, typer.Option(help="World directory holding warehouse.duckdb.")],
    grain: Annotated[str, typer.Option(help="day or hour.")] = "day",
    by: Annotated[
        str | None, typer.Option(help="Group by a dimension (region, category, ...).")
    ] = None,
    where: Annotated[
        list[str] | None, typer.Option("--filter", help="DIMENSION=VALUE[,VALUE]")
    ] = None,
    last: Annotated[int, typer.Option(help="Show only the last N periods.")] = 0,
) -> None:
    """Print the CX score and its sub-metrics over time."""
    try:
        con = open_warehouse(world)
        frame = metric_frame(
            con,
            grain=grain,  # type: ignore[arg-type]
            filters=_parse_filters(where or []),
            group_by=[by] if by else [],
        )
        coverage, gaps = cx_coverage(con), metric_gaps(con)
    except user_errors() as error:
        raise _fail(error) from None
    if last:
        periods = sorted(frame["period"].unique())[-last:]
        frame = frame[frame["period"].isin(periods)]
    columns = {name: METRICS[name].header for name in CX_TABLE_METRICS if name not in gaps}
    table = Table(title=f"CX by {grain}" + (f" and {by}" if by else ""), title_justify="left")
    table.add_column("period", no_wrap=True)
    if by:
        table.add_column(by, no_wrap=True)
    table.add_column("orders", justify="right", no_wrap=True)
    table.add_column("CX", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True, min_width=12)
    for header in columns.values():
        table.add_column(header, justify="right", no_wrap=True)
    low, high = frame[CX_SCORE].min() - 0.5, frame[CX_SCORE].max()
    for row in frame.itertuples():
        period = row.period.strftime("%Y-%m-%d" if grain == "day" else "%Y-%m-%d %H:00")
        cells = [period] + ([str(getattr(row, by))] if by else [])
        cells += [
            f"{row.orders:,}",
            f"{getattr(row, CX_SCORE):.2f}" if math.isfinite(getattr(row, CX_SCORE)) else "n/a",
            _bar(getattr(row, CX_SCORE), low, high),
        ]
        for name in columns:
            value = getattr(row, name)
            unit = METRICS[name].unit
            cells.append(f"{100 * value:.1f}%" if unit == "share" else f"{value:.{DIGITS[unit]}f}")
        table.add_row(*cells)
    console.print(table)
    if coverage.missing:
        console.print(f"{coverage.describe()}.", highlight=False, markup=False)


ENGINE_OPTION = typer.Option(
    help="duckdb (the world's warehouse) or spark (the world's Parquet read in place). "
    "docs/SCALE.md"
)
SPARK_MASTER_OPTION = typer.Option(
    help="With --engine spark: local[N] or a Spark Connect sc://host:port."
)
MATERIALIZE_OPTION = typer.Option(
    help="With --engine spark: write order_facts into the world as Parquet when it is missing "
    "or stale (once; later runs read it) instead of computing it in Spark's memory each run."
)


@app.command()
def incidents(
    world: Annotated[Path, typer.Option(help="World directory holding warehouse.duckdb.")],
    grain: Annotated[
        str, typer.Option(help="auto (what the order volume supports, as the chat), hour or day.")
    ] = "auto",
    as_of: Annotated[
        str | None, typer.Option(help="Read the data as known at this time (ISO).")
    ] = None,
    min_severity: Annotated[float, typer.Option(help="Hide incidents below this severity.")] = 0,
    store: Annotated[bool, typer.Option(help="Save to the warehouse's incidents tables.")] = True,
    engine: Annotated[str, ENGINE_OPTION] = "duckdb",
    spark_master: Annotated[str, SPARK_MASTER_OPTION] = "local[2]",
    materialize: Annotated[bool, MATERIALIZE_OPTION] = False,
) -> None:
    """Detect incidents, list them with their top slices, and store them in the warehouse."""
    from data.engines.base import EngineError
    from tools.base import ToolContext, ToolError
    from tools.catalog import REGISTRY  # noqa: F401  (registers the tools)

    spark = _engine(world, engine, spark_master, materialize)
    context = ToolContext(world_dir=world, engine=spark)
    try:
        when = dt.datetime.fromisoformat(as_of) if as_of else None
        detected, _ = context.call(
            "detect_incidents", {"grain": grain, "as_of": when, "min_severity": min_severity}
        )
        slices = {
            incident.incident_id: context.call(
                "top_slices", {"incident_id": incident.incident_id, "grain": detected.grain}
            )[0]
            for incident in detected.incidents
            if incident.severity_label != "low"
        }
    except (*user_errors(), ToolError, ValueError, EngineError) as error:
        raise _fail(error) from None
    finally:
        context.close()
        if spark is not None:
            spark.session.stop()
    console.print(_incident_table(detected) if detected.incidents else "no incident found")
    for key, found in slices.items():
        console.print(_slice_table(key, found) if found.slices else f"{key}: no significant slice")
    if store and spark is None:
        _store_incidents(world, detected, slices)


def _known_engine(engine: str) -> str:
    """`engine` if it is one cx-agent runs on, else a clear error."""
    if engine not in ("duckdb", "spark"):
        raise _fail(ValueError(f"unknown engine {engine!r}; use duckdb or spark"))
    return engine


def _engine(world: Path, engine: str, master: str, materialize: bool) -> SparkEngine | None:
    """None for the world's DuckDB warehouse, else the world's Parquet tables on Spark
    (data/engines/spark_engine.py; with `materialize`, order_facts written into the world
    first); a clear error for an unknown engine or no Spark."""
    if _known_engine(engine) == "duckdb":
        if materialize:
            raise _fail(
                ValueError(
                    "--materialize is for --engine spark: the DuckDB warehouse holds order_facts"
                )
            )
        return None
    from data.engines.base import EngineError
    from data.engines.spark_engine import open_spark_world

    try:
        return open_spark_world(
            world, master=master, materialize=materialize, progress=errors.print
        )
    except EngineError as error:
        raise _fail(error) from None


def _incident_table(detected: DetectIncidentsOutput) -> Table:
    """`cxagent incidents`' table of incidents."""
    from tools.report import expected_vs_observed

    table = Table(
        title=f"Incidents (data as of {detected.as_of:%Y-%m-%d %H:%M}; {detected.grain_reason})",
        title_justify="left",
    )
    for header in ("incident", "start", "end", "detected", "severity", "primary", "expected → obs"):
        table.add_column(header, no_wrap=True)
    for incident in detected.incidents:
        table.add_row(
            incident.incident_id,
            f"{incident.start:%m-%d %H:%M}",
            f"{incident.end:%m-%d %H:%M}" if incident.end else "ongoing",
            f"{incident.detected_at:%m-%d %H:%M}",
            f"{incident.severity:g} {incident.severity_label}",
            f"{incident.primary_metric} @ {incident.primary_cohort}",
            " → ".join(found[1:]) + f" {found[0]}"
            if (found := expected_vs_observed(incident))
            else "",
        )
    return table


def _slice_table(key: str, found: TopSlicesOutput) -> Table:
    """`cxagent incidents`' table of the slices that carry one incident."""
    table = Table(
        title=f"{key}: slices that carry the {found.metric} change "
        f"({100 * found.baseline_value:.1f}% → {100 * found.current_value:.1f}% overall; "
        f"{found.explained_share:.0%} explained)",
        title_justify="left",
    )
    for header in ("#", "slice", "baseline", "current", "orders", "share", "rate", "mix", "q"):
        table.add_column(header, no_wrap=True, justify="left" if header == "slice" else "right")
    for s in found.slices:
        table.add_row(
            str(s.rank),
            s.description,
            f"{100 * s.baseline_value:.1f}%",
            f"{100 * s.current_value:.1f}%",
            f"{s.orders:,}",
            f"{s.share_of_change:.0%}",
            f"{100 * s.rate_effect:+.2f} pp",
            f"{100 * s.mix_effect:+.2f} pp",
            f"{s.q_value:.1e}",
        )
    return table


def _store_incidents(
    world: Path, detected: DetectIncidentsOutput, slices: dict[str, TopSlicesOutput]
) -> None:
    """Replace the warehouse's incidents and incident_slices tables with these."""
    import pandas as pd

    from data.warehouse import replace_tables
    from tools.detection import IncidentSummary, SliceSummary

    incident_rows = pd.DataFrame(
        [i.model_dump() for i in detected.incidents], columns=list(IncidentSummary.model_fields)
    )
    slice_rows = pd.DataFrame(
        [
            {"incident_id": key, **s.model_dump(), "filters": json.dumps(s.filters)}
            for key, found in slices.items()
            for s in found.slices
        ],
        columns=["incident_id", *SliceSummary.model_fields],
    )
    try:
        replace_tables(world, {"incidents": incident_rows, "incident_slices": slice_rows})
    except user_errors() as error:
        raise _fail(error) from None
    console.print(f"stored {len(incident_rows)} incident(s) in {world}/warehouse.duckdb")


@app.command()
def rca(
    world: Annotated[Path, typer.Option(help="World directory holding warehouse.duckdb.")],
    incident: Annotated[
        str | None, typer.Option(help="Incident id (default: the most severe).")
    ] = None,
    day: Annotated[
        str | None, typer.Option(help="Investigate the incident active on this day.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Also write the Markdown report here.")] = None,
) -> None:
    """Root-cause analysis of an incident: ranked causes with the evidence behind each."""
    from rich.markdown import Markdown

    from tools.base import ToolContext, ToolError
    from tools.catalog import REGISTRY  # noqa: F401  (registers the tools)
    from tools.investigation import investigate
    from tools.report import render_report

    context = ToolContext(world_dir=world)
    try:
        when = dt.date.fromisoformat(day) if day else None
        found = investigate(context, incident_id=incident, day=when)
    except (*user_errors(), ToolError, ValueError) as error:
        raise _fail(error) from None
    finally:
        context.close()
    report = render_report(found, context.ledger)
    console.print(Markdown(report))
    if out:
        out.write_text(report)
        console.print(f"wrote {out}")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help='e.g. "why did CX drop on Jan 4?"')],
    world: Annotated[Path, typer.Option(help="World directory holding warehouse.duckdb.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    trace: Annotated[
        Path | None, typer.Option(help="Write the trace (nodes, tool calls) here.")
    ] = None,
    plan_out: Annotated[Path | None, typer.Option(help="Write the experiment plan here.")] = None,
    engine: Annotated[str, ENGINE_OPTION] = "duckdb",
    spark_master: Annotated[str, SPARK_MASTER_OPTION] = "local[2]",
    materialize: Annotated[bool, MATERIALIZE_OPTION] = False,
) -> None:
    """Ask the agent a question; the answer cites its evidence ids."""
    from rich.markdown import Markdown

    from agent.service import Agent
    from agent.trace import trace_export
    from data.engines.base import EngineError

    spark = _engine(world, engine, spark_master, materialize)
    try:
        agent = Agent(world, engine=spark)
        result = agent.ask(question)
    except (*user_errors(), ValueError, EngineError) as error:
        raise _fail(error) from None
    finally:
        if spark is not None:
            spark.session.stop()
    agent.close()
    if trace:
        trace.write_text(json.dumps(trace_export(result), indent=2, default=str))
    if plan_out and result.get("experiment_plan"):
        plan_out.write_text(result["experiment_plan"])
    if as_json:
        typer.echo(json.dumps(result, default=str))
        return
    _print_answer(result, Markdown)
    if trace:
        console.print(f"[dim]trace written to {trace}[/]")
    if plan_out and result.get("experiment_plan"):
        console.print(f"[dim]experiment plan written to {plan_out}[/]")


SHOWN_ROWS = 25


def _print_answer(result: dict, markdown: type) -> None:
    console.print(markdown(result.get("answer") or "(no answer)"))
    rows = result.get("table") or []
    if rows and result.get("kind") != "help":
        table = Table(title_justify="left")
        for column in rows[0]:
            table.add_column(str(column), no_wrap=True)
        for row in rows[:SHOWN_ROWS]:
            table.add_row(
                *(
                    f"{cell:.4g}" if isinstance(cell, float) else "" if cell is None else str(cell)
                    for cell in row.values()
                )
            )
        console.print(table)
        if len(rows) > SHOWN_ROWS:
            console.print(f"[dim]{len(rows) - SHOWN_ROWS} more rows in --json[/]")
    grounding = result.get("grounding", {})
    console.print(
        f"[dim]grounding: {grounding.get('grounded', 0)}/{grounding.get('numbers', 0)} numbers "
        f"traced to cited evidence ({'ok' if grounding.get('ok') else 'NOT OK'}); "
        f"{len(result.get('evidence', []))} evidence items; backend {result.get('backend')}[/]"
    )
    for note in result.get("notes", []):
        console.print(f"[yellow]note:[/] {note}", highlight=False)


@app.command()
def recommend(
    world: Annotated[Path, typer.Option(help="World directory holding warehouse.duckdb.")],
    day: Annotated[
        str | None, typer.Option(help="The incident active on this day (default: most severe).")
    ] = None,
    plan_out: Annotated[
        Path | None, typer.Option(help="Write the top action's experiment plan here.")
    ] = None,
) -> None:
    """Ranked actions for an incident's causes (what-if with 90% intervals, cost, Pareto) and
    the experiment plan for the top one, from the same pipeline as `ask`."""
    from agent.service import Agent

    try:
        when = dt.date.fromisoformat(day) if day else None
        agent = Agent(world)
        question = f"why did CX drop on {when.isoformat()}?" if when else "what went wrong?"
        result = agent.ask(question)
    except (*user_errors(), ValueError) as error:
        raise _fail(error) from None
    agent.close()
    incident = result.get("incident")
    if not incident:
        console.print(result.get("answer") or "no incident found")
        return
    causes = ", ".join(
        f"{c['kind']} ({c['confidence']:.2f})"
        for c in result["causes"]
        if c["status"] in ("supported", "weak")
    )
    console.print(f"[bold]{incident['id']}[/] · causes: {causes or 'none supported'}")
    table = Table("#", "action", "addresses", "CX gain [90% CI]", "on-time gain", "$/order",
                  "Pareto", "tradeoff", "evidence")  # fmt: skip
    for r in result["recommendations"]:
        cx, on_time = r["cx_gain"], r["on_time_gain"]
        table.add_row(
            str(r["rank"]), r["title"], ", ".join(r["addresses"]),
            f"{cx['estimate']:+.2f} [{cx['low']:+.2f}, {cx['high']:+.2f}]",
            f"{100 * on_time['estimate']:+.1f} pp", f"{r['cost_usd_per_order']:.2f}",
            "yes" if r["pareto"] else "", r["tradeoff"], r["evidence_id"],
        )  # fmt: skip
    console.print(table if result["recommendations"] else "no action addresses these causes")
    if plan_out and result.get("experiment_plan"):
        plan_out.write_text(result["experiment_plan"])
        console.print(f"wrote the experiment plan for the top action to {plan_out}")


@app.command()
def chat(
    world: Annotated[Path, typer.Option(help="World directory holding warehouse.duckdb.")],
) -> None:
    """A conversation in the terminal: follow-ups reuse the incident and evidence (empty line or
    Ctrl-D ends it)."""
    from rich.markdown import Markdown

    from agent.service import Agent

    try:
        agent = Agent(world)
    except (*user_errors(), ValueError) as error:
        raise _fail(error) from None
    console.print(
        "[dim]ask e.g. why did CX drop on Jan 4? · what if we cut the batching threshold back? "
        "· write the experiment plan · which stores are worst?[/]"
    )
    try:
        while question := console.input("[bold]> [/]").strip():
            _print_answer(agent.ask(question, thread_id="terminal"), Markdown)
    except (EOFError, KeyboardInterrupt):
        console.print()
    finally:
        agent.close()


CHAT_SUITE = "chat"  # `--suite chat`: the chat suite (evals/chat) instead of a directory
FEEDBACK_SUITE = "feedback"  # `--suite feedback`: users' feedback on a world's incidents


@app.command("eval")
def eval_suite(
    suite: Annotated[
        Path | None,
        typer.Option(
            help="Suite directory (default: evals/scenarios), 'chat' for the chat suite, or "
            "'feedback' for the feedback on --world's incidents."
        ),
    ] = None,
    world: Annotated[
        Path | None,
        typer.Option(help=f"The world of --suite feedback (default: {DEFAULT_WORLD})."),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the JSON report here.")
    ] = None,
    markdown: Annotated[Path | None, typer.Option(help="Write the Markdown report here.")] = None,
    only: Annotated[
        list[str] | None, typer.Option(help="Run only this scenario or chat case (repeatable).")
    ] = None,
    random: Annotated[int | None, typer.Option(help="Run N random scenarios instead.")] = None,
    seed: Annotated[int, typer.Option(help="First seed of the random scenarios.")] = 0,
    orders_per_day: Annotated[int, typer.Option(help="Size of random worlds.")] = 10_000,
    llm: Annotated[str, typer.Option(help="Agent backend: offline or openai.")] = "offline",
    jobs: Annotated[int, typer.Option(help="Worker processes.")] = 2,
) -> None:
    """Run the seeded scenario suite against its ground truth (or, with `--suite chat`, the chat
    suite of questions per kind; with `--suite feedback`, users' latest feedback on each incident
    of --world as a case); print the table, write JSON and Markdown; exit 1 when a scenario
    misses its expected findings (the chat suite: when it is under its targets)."""
    from evals.command import run_chat_eval, run_eval, run_feedback_eval
    from evals.suite import SUITE_DIR

    if llm not in ("offline", "openai"):
        raise _fail(ValueError(f"--llm must be offline or openai, not {llm!r}"))
    if suite is not None and str(suite) == CHAT_SUITE:
        code = run_chat_eval(console, json_path, markdown, only, llm)  # type: ignore[arg-type]
        raise typer.Exit(code=code)
    if suite is not None and str(suite) == FEEDBACK_SUITE:
        chosen = world or DEFAULT_WORLD
        code = run_feedback_eval(console, chosen, json_path, markdown, llm)  # type: ignore[arg-type]
        raise typer.Exit(code=code)
    code = run_eval(
        console, suite or SUITE_DIR, json_path, markdown, only, random, seed, orders_per_day,
        llm, jobs,  # type: ignore[arg-type]
    )  # fmt: skip
    raise typer.Exit(code=code)


@app.command()
def ingest(
    mapping: Annotated[Path, typer.Option(help="Mapping file (YAML): sources, columns, zones.")],
    out: Annotated[Path, typer.Option(help="Directory to write the world to.")],
    append: Annotated[
        bool,
        typer.Option(
            "--append",
            help="Add the mapping's new rows to the world at --out (rows whose key it already "
            "holds are skipped; the world is unchanged if anything fails).",
        ),
    ] = False,
    analyse: Annotated[bool, typer.Option(help=ANALYSE_HELP)] = True,
    engine: Annotated[
        str,
        typer.Option(
            help="duckdb (reads the sources, writes Parquet and warehouse.duckdb) or spark "
            "(Spark reads the sources and writes the Parquet; no warehouse: read the world with "
            "--engine spark). docs/SCALE.md"
        ),
    ] = "duckdb",
    spark_master: Annotated[str, SPARK_MASTER_OPTION] = "local[2]",
) -> None:
    """Build a world from your own CSV/Parquet files through a mapping file (see README, "Use
    your own data"); print the data-quality report and what the data can support."""
    from typing import Any

    from analytics.alarms import choose_grain
    from analytics.metrics import cx_coverage, metric_gaps
    from data.engines.base import EngineError
    from data.ingest import IngestError
    from data.ingest import ingest as ingest_world
    from data.mapping import MappingError
    from data.quality import QUALITY_FILE

    _known_engine(engine)
    if append:
        if engine == "spark":
            raise _fail(ValueError("--append writes the DuckDB warehouse: use --engine duckdb"))
        if _append_rows(mapping, out) and analyse:
            _analyse(out)
        return
    try:
        if engine == "spark":
            from data.engines.spark_engine import open_spark_world
            from data.engines.spark_ingest import spark_ingest

            result = spark_ingest(mapping, out, master=spark_master)
            # an Engine, as a connection; read once here, so nothing is cached
            con: Any = open_spark_world(out, master=spark_master, cache=False)
        else:
            result = ingest_world(mapping, out)
            con = open_warehouse(out)
        try:
            coverage, gaps, grain = cx_coverage(con), metric_gaps(con), choose_grain(con)
        finally:
            con.close()
    except (IngestError, MappingError, EngineError, *user_errors()) as error:
        raise _fail(error) from None
    counts = ", ".join(f"{name} {rows:,}" for name, rows in result.row_counts.items())
    console.print(f"wrote {out} in {result.seconds:.1f} s: {counts}", highlight=False)
    console.print(result.report.render(), highlight=False, markup=False)
    console.print(f"{coverage.describe()}.", highlight=False, markup=False)
    if gaps:
        console.print(f"unavailable metrics: {', '.join(gaps)}", highlight=False)
    console.print(f"detection grain: {grain.grain} ({grain.reason})", highlight=False)
    console.print(f"report saved to {out / QUALITY_FILE}", highlight=False)
    if engine == "spark":
        console.print(
            "not analysed: a Spark world has no warehouse to store results in; ask with "
            "--engine spark",
            highlight=False,
        )
    elif analyse:
        _analyse(out)


def _append_rows(mapping: Path, out: Path) -> bool:
    """`ingest --append`: merge the mapping's rows into the world at `out` and say what changed;
    whether anything did."""
    from data.append import AppendError
    from data.append import append as append_world
    from data.ingest import IngestError
    from data.mapping import MappingError

    try:
        result = append_world(mapping, out)
    except (AppendError, IngestError, MappingError, *user_errors()) as error:
        raise _fail(error) from None
    added = ", ".join(f"{name} +{rows:,}" for name, rows in result.added.items())
    read = sum(result.read.values())
    if result.changed:
        console.print(f"appended to {out} in {result.seconds:.1f} s: {added}", highlight=False)
    else:
        console.print(
            f"nothing new for {out} ({read:,} rows read, every key already there; "
            f"{result.seconds:.1f} s)",
            highlight=False,
        )
    return result.changed


@app.command()
def watch(
    world: Annotated[Path, typer.Option(help="World directory holding warehouse.duckdb.")],
    routes: Annotated[
        Path | None,
        typer.Option(help="Alert routes (YAML; see docs/alerts.md). Without it nothing is sent."),
    ] = None,
    every: Annotated[str, typer.Option(help="Time between ticks, e.g. 15m, 1h.")] = DEFAULT_EVERY,
    once: Annotated[bool, typer.Option("--once", help="Run one tick and exit.")] = False,
    replay_from: Annotated[
        str | None,
        typer.Option(
            help="Replay the world hour by hour from this time (ISO) on a simulated "
            "clock, then exit."
        ),
    ] = None,
    replay_to: Annotated[
        str | None, typer.Option(help="End of the replay (ISO; default: the end of the data).")
    ] = None,
    speed: Annotated[
        float | None,
        typer.Option(
            help="Replay speed: simulated hours per real hour (default: as fast as it runs)."
        ),
    ] = None,
    min_severity: Annotated[
        str, typer.Option(help="Track incidents from this severity: low, medium or high.")
    ] = "medium",
) -> None:
    """Watch for incidents: as-of detection on a schedule, new incidents investigated, alerts
    sent to the routes (deduped, retried, held in quiet hours). With --replay-from, walk a
    finished world hour by hour and show what would have been sent when."""
    from watching.routes import RoutesError, parse_duration
    from watching.watcher import Watcher, replay_dir

    try:
        watcher_routes = _load_routes(routes, world)
        interval = parse_duration(every)
        start = dt.datetime.fromisoformat(replay_from) if replay_from else None
        end = dt.datetime.fromisoformat(replay_to) if replay_to else None
        if min_severity not in ("low", "medium", "high"):
            raise ValueError(f"--min-severity must be low, medium or high, not {min_severity!r}")
        open_warehouse(world).close()
    except (RoutesError, ValueError, *user_errors()) as error:
        raise _fail(error) from None
    import tools.catalog  # noqa: F401 (registers the tools the watcher calls)

    _warn_missing_secrets(watcher_routes)

    def show(report: TickReport) -> None:
        if report.changed or once or start is None:
            console.print(report.line(), highlight=False, markup=False)
        for alert in report.alerts:
            console.print(f"   {alert.event}: {alert.headline()}", highlight=False, markup=False)

    watcher = Watcher(
        world,
        watcher_routes,
        state_dir=replay_dir(world) if start is not None else None,
        min_severity=min_severity,  # type: ignore[arg-type]
        link_base=os.environ.get("CXAGENT_PUBLIC_URL", base_url()),
    )
    try:
        if start is not None:
            _replay(watcher, start, end, speed, show)
        elif once:
            show(watcher.tick())
        else:
            console.print(f"watching {world} every {every} (Ctrl-C to stop)", highlight=False)
            watcher.run(interval, on_tick=show)
    except KeyboardInterrupt:
        console.print("stopped", highlight=False)
    finally:
        watcher.close()


def _warn_missing_secrets(routes: Routes | None) -> None:
    """A warning per route whose secrets are not set (its alerts wait in the outbox)."""
    for route in routes.routes if routes is not None else []:
        if route.missing_secrets():
            names = ", ".join(route.missing_secrets())
            errors.print(
                f"warning: route {route.name!r} needs {names} (not set): its alerts wait in the "
                "outbox and are retried until it is",
                highlight=False,
                markup=False,
            )


def _replay(
    watcher: Watcher,
    start: dt.datetime,
    end: dt.datetime | None,
    speed: float | None,
    show: Callable[[TickReport], None],
) -> None:
    """`watch --replay-from`: the replay's ticks, then what was alerted and sent."""
    reports = watcher.replay(start, end, speed=speed, on_tick=show)
    alerts = sum(len(r.alerts) for r in reports)
    sent = sum(len(r.delivery.sent) for r in reports if r.delivery)
    console.print(
        f"replayed {len(reports)} hour(s): {alerts} alert(s), {sent} delivery(ies) sent",
        highlight=False,
    )


def _load_routes(path: Path | None, world: Path) -> Routes | None:
    """The routes file, its quiet hours read in the world's local time zone when world.json
    names one (an ingested world's), else in the file's `timezone:` (default UTC)."""
    from watching.routes import load_routes

    if path is None:
        return None
    manifest = world / "world.json"
    zone = None
    if manifest.exists():
        zone = json.loads(manifest.read_text()).get("local_timezone")
    return load_routes(path, timezone=zone)


@app.command()
def serve(
    world: Annotated[
        Path | None,
        typer.Option(help=f"World directory (default: {DEFAULT_WORLD}, made if absent)."),
    ] = None,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = DEFAULT_PORT,
    host: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0: all).")] = DEFAULT_HOST,
    watch: Annotated[
        Path | None,
        typer.Option(help="Alert routes (YAML): also run the watcher in the background."),
    ] = None,
    watch_every: Annotated[
        str, typer.Option(help="Time between the watcher's ticks.")
    ] = DEFAULT_EVERY,
) -> None:
    """Start the workbench: the Gradio UI at / and the REST API under /api (docs at /docs)."""
    from cxagent.web.guard import ServeConfigError
    from cxagent.web.server import resolve_world
    from cxagent.web.server import serve as serve_workbench
    from watching.routes import RoutesError, parse_duration

    try:
        routes = _load_routes(watch, resolve_world(world)) if watch is not None else None
        every = parse_duration(watch_every)
        serve_workbench(world, host=host, port=port, watch_routes=routes, watch_every=every)
    except (RoutesError, ServeConfigError, ValueError, *user_errors()) as error:
        raise _fail(error) from None


@app.callback()
def main() -> None:
    """cx-agent command line."""
