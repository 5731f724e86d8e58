"""The body of `cxagent eval`: pick the cases, run them, print the table, write the reports."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path
from typing import Literal

from rich.console import Console

from agent.settings import AgentSettings
from data.warehouse import WAREHOUSE_FILE
from evals.chat import report as chat_report
from evals.chat.cases import CASES_DIR, ChatSuiteError, load_chat_suite, world_scenario
from evals.chat.runner import TurnResult, run_chat
from evals.feedback import console_table as feedback_table
from evals.feedback import json_report, markdown_report, run_feedback_suite, summary_line
from evals.report import build_report, console_table, misses, summary_lines, write_reports
from evals.runner import RunSettings, run_cases
from evals.scoring import ScenarioScore
from evals.suite import SUITE_DIR, SuiteError, load_suite, random_cases
from evals.worlds import DEFAULT_CACHE, cached_world
from watching import WATCH_DIR

RANDOM_TARGET = 0.95  # top-1 accuracy a random run must reach to exit 0


def llm_unavailable(settings: AgentSettings) -> str | None:
    """Why the openai backend cannot run (no key and no local endpoint), or None."""
    if settings.openai_api_key is None and settings.openai_base_url is None:
        return (
            "LLM mode skipped: set OPENAI_API_KEY (or CXAGENT_OPENAI_BASE_URL for a local "
            "OpenAI-compatible server) to run the suite with the openai backend"
        )
    return None


def run_eval(
    console: Console,
    suite_dir: Path = SUITE_DIR,
    json_path: Path | None = None,
    markdown_path: Path | None = None,
    names: list[str] | None = None,
    random: int | None = None,
    seed: int = 0,
    orders_per_day: int = 10_000,
    llm: Literal["offline", "openai"] = "offline",
    jobs: int = 2,
    cache_dir: Path = DEFAULT_CACHE,
    whatif: bool = True,
) -> int:
    """Run the suite (or `random` random scenarios); the exit code: 0 when every scenario met
    its expected findings (random: top-1 accuracy >= RANDOM_TARGET), 1 otherwise, 2 for bad
    input."""
    agent_settings = AgentSettings(llm=llm)
    if llm == "openai" and (reason := llm_unavailable(agent_settings)):
        console.print(f"[yellow]{reason}[/]", highlight=False)
        return 0
    try:
        if random is not None:
            cases = random_cases(random, seed, orders_per_day)
            source = f"{random} random scenarios, seeds {seed}..{seed + random - 1}"
        else:
            cases = load_suite(suite_dir, names)
            shown = suite_dir.resolve()
            shown = shown.relative_to(Path.cwd()) if shown.is_relative_to(Path.cwd()) else shown
            source = f"suite {shown}"
    except SuiteError as error:
        console.print(f"[bold red]error:[/] {error}", highlight=False)
        return 2
    mode: Literal["suite", "random"] = "random" if random is not None else "suite"
    settings = RunSettings(
        cache_dir=cache_dir, llm=llm, jobs=jobs, whatif=whatif, keep_worlds=mode == "suite"
    )
    console.print(
        f"{len(cases)} scenario(s) from {source}; backend {llm}; {jobs} process(es); "
        f"worlds cached in {cache_dir}",
        highlight=False,
    )
    started = time.perf_counter()

    def progress(result: ScenarioScore) -> None:
        verdict = "pass" if result.passed else "[red]MISS[/]"
        console.print(
            f"  {result.name}: {verdict} in {result.timings.total:.0f} s "
            f"(generate {result.timings.generate:.0f}, agent {result.timings.agent:.0f}, "
            f"scoring {result.timings.scoring:.0f}; CPU {result.timings.cpu:.0f})",
            highlight=False,
        )

    results = run_cases(cases, settings, progress)
    report = build_report(
        results,
        time.perf_counter() - started,
        command="cxagent " + shlex.join(sys.argv[1:]),
        mode=mode,
        backend=llm,
        model=agent_settings.openai_model if llm == "openai" else None,
        source=source,
        jobs=jobs,
    )
    console.print(console_table(report))
    for line in summary_lines(report):
        console.print(line, highlight=False)
    for line in misses(report):
        console.print(f"[red]miss[/] {line}", highlight=False)
    stem = "random" if mode == "random" else "suite"
    json_path = json_path or cache_dir / f"report-{stem}.json"
    markdown_path = markdown_path or json_path.with_suffix(".md")
    write_reports(report, json_path, markdown_path)
    console.print(f"wrote {json_path} and {markdown_path}", highlight=False)
    if mode == "random":
        rate = report.summary.top1.rate or 0.0
        return 0 if rate >= RANDOM_TARGET else 1
    return 0 if all(r.passed for r in results) else 1


def run_chat_eval(
    console: Console,
    json_path: Path | None = None,
    markdown_path: Path | None = None,
    names: list[str] | None = None,
    llm: Literal["offline", "openai"] = "offline",
    cache_dir: Path = DEFAULT_CACHE,
    cases_dir: Path = CASES_DIR,
) -> int:
    """Run the chat suite (evals/chat/cases) on its worlds, generated or reused from the cache;
    print the per-kind table and the failing turns, write the reports. The exit code: 0 when
    the suite met its targets, 1 when under them, 2 for bad input."""
    agent_settings = AgentSettings(llm=llm)
    if llm == "openai" and (reason := llm_unavailable(agent_settings)):
        console.print(f"[yellow]{reason}[/]", highlight=False)
        return 0
    try:
        cases = load_chat_suite(cases_dir, names)
    except ChatSuiteError as error:
        console.print(f"[bold red]error:[/] {error}", highlight=False)
        return 2
    started = time.perf_counter()
    worlds: dict[str, Path] = {}
    for world in dict.fromkeys(loaded.world for loaded in cases):
        worlds[world], seconds = cached_world(world_scenario(world), cache_dir)
        made = f"generated in {seconds:.0f} s" if seconds else "cached"
        console.print(f"world {world}: {worlds[world]} ({made})", highlight=False)
    turns = sum(len(loaded.case.turns) for loaded in cases)
    console.print(
        f"{len(cases)} conversation(s), {turns} turn(s) on {len(worlds)} world(s); backend {llm}",
        highlight=False,
    )

    def progress(result: TurnResult) -> None:
        if not result.correct:
            console.print(
                f"  [red]MISS[/] {result.world}/{result.case}#{result.turn} "
                f"({result.seconds:.2f} s)",
                highlight=False,
            )

    results = run_chat(cases, worlds, llm, progress)
    report = chat_report.build_report(
        results,
        time.perf_counter() - started,
        command="cxagent " + shlex.join(sys.argv[1:]),
        backend=llm,
        worlds=worlds,
    )
    console.print(chat_report.console_table(report))
    for line in chat_report.summary_lines(report):
        console.print(line, highlight=False)
    for line in chat_report.failing_lines(report):
        console.print(f"failing {line}", style="red", highlight=False, markup=False)
    json_path = json_path or cache_dir / "report-chat.json"
    markdown_path = markdown_path or json_path.with_suffix(".md")
    chat_report.write_reports(report, json_path, markdown_path)
    console.print(f"wrote {json_path} and {markdown_path}", highlight=False)
    return 0 if not report.summary.shortfalls else 1


def run_feedback_eval(
    console: Console,
    world: Path,
    json_path: Path | None = None,
    markdown_path: Path | None = None,
    llm: Literal["offline", "openai"] = "offline",
) -> int:
    """Run the feedback suite (evals/feedback.py) on a world: each incident's latest feedback
    as a question, scored top-1 against the cause users confirmed or named; print the table,
    write the reports (default: beside the world's feedback). The exit code: 0 when every scored
    case passed (or none has feedback), 1 otherwise, 2 for a directory with no world."""
    if not (world / WAREHOUSE_FILE).is_file():
        console.print(f"[bold red]error:[/] no world in {world} (no {WAREHOUSE_FILE})")
        return 2
    if llm == "openai" and (reason := llm_unavailable(AgentSettings(llm=llm))):
        console.print(f"[yellow]{reason}[/]", highlight=False)
        return 0
    report = run_feedback_suite(world, llm)
    if not report.results:
        console.print(f"no feedback on the incidents of {world}: no case to run", highlight=False)
    else:
        console.print(feedback_table(report))
    console.print(summary_line(report), highlight=False)
    for reason in report.skipped:
        console.print(f"skipped {reason}", highlight=False, markup=False)
    json_path = json_path or world / WATCH_DIR / "report-feedback.json"
    markdown_path = markdown_path or json_path.with_suffix(".md")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(json_report(report), indent=2), encoding="utf-8")
    markdown_path.write_text(markdown_report(report), encoding="utf-8")
    console.print(f"wrote {json_path} and {markdown_path}", highlight=False)
    return 0 if report.passed else 1
