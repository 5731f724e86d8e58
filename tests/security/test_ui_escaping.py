"""Data text is escaped, not sanitized, in the workbench's views: a world whose regions,
categories, store ids and change log hold HTML, script and Markdown payloads, served for real
and driven in headless Chromium (the dashboard, chat answers, their tables, steps and evidence,
the incident, root-cause and PM tabs). Each payload reads literally and creates no element,
link, image or script. Then the escaping helpers on their own."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import uvicorn

from agent.settings import AgentSettings
from cxagent.web.chat import link_citations
from cxagent.web.escaping import (
    code_block,
    code_span,
    markdown_answer,
    markdown_text,
    plotly_text,
)
from data.scenario import Scenario
from data.warehouse import build_warehouse

ScenarioFactory = Callable[..., Scenario]
WorldFactory = Callable[[Scenario], Path]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ANSWER_TIMEOUT_MS = 90_000
VIEW_TIMEOUT_MS = 60_000
REGION = 'east<img src=x onerror="window.__pwned=1">'
CATEGORY = "retail [click](http://evil.example) **loud**"
STORE_SUFFIX = " ![pixel](http://evil.example/pixel.png)"
CHANGE_NAME = 'app_release<script>window.__pwned=2</script><a href="http://evil.example">x</a>'
CHANGE_DESCRIPTION = (
    'Raised the detour <img src=x onerror="window.__pwned=3"> [notes](http://evil.example)'
)
RENAMED_CHANGE, DESCRIBED_CHANGE = "C0006", "C0007"  # a marketplace-wide release; batching
DEMO_INCIDENT = "INC-20260104-1800"
# What the page may not hold after any view: the flag a payload's script or handler would set,
# images, scripts and links from the data, and inline event handlers. (The page's own config
# script quotes the data as JSON, escaped; a script from the data would hold only its code.)
FOOTPRINT = r"""() => ({
  pwned: window.__pwned ?? null,
  images: [...document.querySelectorAll("img")]
    .filter((image) => /^x$|evil\.example/.test(image.getAttribute("src") || "")).length,
  scripts: [...document.querySelectorAll("script")]
    .filter((script) => /^\s*window\.__pwned/.test(script.textContent)).length,
  links: [...document.querySelectorAll("a")]
    .filter((link) => /evil\.example/.test(
      (link.getAttribute("href") || "") + (link.getAttribute("xlink:href") || ""))).length,
  handlers: document.querySelectorAll("[onerror]").length,
})"""
pytestmark = [  # gradio's queue trips pandas 3 deprecation warnings that are not ours
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting.*"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


def _edit(path: Path, edit: Callable[[pd.DataFrame], None]) -> None:
    """Rewrite a Parquet table in place through `edit`, keeping its schema."""
    table = pq.read_table(path)
    frame = table.to_pandas()
    edit(frame)
    pq.write_table(pa.Table.from_pandas(frame, schema=table.schema, preserve_index=False), path)


def _hostile_values(frame: pd.DataFrame) -> None:
    if "region" in frame:
        frame["region"] = frame["region"].replace({"east": REGION})
    if "category" in frame:
        frame["category"] = frame["category"].replace({"retail": CATEGORY})
    if "store_id" in frame:
        frame["store_id"] = frame["store_id"] + STORE_SUFFIX


def _hostile_changes(frame: pd.DataFrame) -> None:
    frame.loc[frame["change_id"] == RENAMED_CHANGE, "name"] = CHANGE_NAME
    frame.loc[frame["change_id"] == DESCRIBED_CHANGE, "description"] = CHANGE_DESCRIPTION


@pytest.fixture(scope="module")
def hostile_world(
    small_scenario: ScenarioFactory,
    make_world: WorldFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The small demo world with payloads in its regions, categories, store ids and changes."""
    world = tmp_path_factory.mktemp("hostile") / "world"
    shutil.copytree(
        make_world(small_scenario("demo")),
        world,
        ignore=shutil.ignore_patterns("warehouse.duckdb*", "threads.sqlite*"),
    )
    for table in ("stores", "orders", "dasher_supply", "inventory_events"):
        _edit(world / f"{table}.parquet", _hostile_values)
    _edit(world / "changes.parquet", _hostile_changes)
    build_warehouse(world)
    return world


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def served(
    hostile_world: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, object]]:
    """(URL, app) of the workbench over the hostile world, on a loopback port."""
    saved = {key: os.environ.get(key) for key in ("GRADIO_TEMP_DIR", "GRADIO_ANALYTICS_ENABLED")}
    os.environ.update(
        GRADIO_TEMP_DIR=str(tmp_path_factory.mktemp("gradio")), GRADIO_ANALYTICS_ENABLED="False"
    )
    from cxagent.web.server import create_app

    app = create_app(hostile_world, AgentSettings(llm="offline"))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="cxagent-escaping-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the workbench did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    server.should_exit = True
    thread.join(timeout=15)
    app.state.workbench.close()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def page(served: tuple[str, object], tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One page of the served workbench in headless Chromium (the views share it)."""
    if not CHROMIUM.is_file():
        pytest.skip(
            f"{CHROMIUM} is missing: run `make chromium` (apt-get install chromium, as root) to "
            "run the browser tests; `playwright install` cannot download browsers here"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    home = tmp_path_factory.mktemp("chromium-home")  # Chromium writes nothing outside it
    environment = {"HOME": str(home), "XDG_CONFIG_HOME": str(home), "XDG_CACHE_HOME": str(home)}
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=environment
        )
        opened = browser.new_page(viewport={"width": 1400, "height": 1000})
        opened.goto(served[0] + "/")
        yield opened
        browser.close()


def _assert_inert(page: object) -> None:
    assert page.evaluate(FOOTPRINT) == {
        "pwned": None,
        "images": 0,
        "scripts": 0,
        "links": 0,
        "handlers": 0,
    }


def _ask(page: object, question: str, kind: str) -> object:
    """Ask in the chat and wait for the answer of that kind; returns the chat."""
    chat = page.locator("#chat-answers")
    done = chat.get_by_text(f"Answer kind: {kind}")
    before = done.count()
    page.locator("#chat-input textarea").fill(question)
    page.locator("#chat-send").click()
    deadline = time.monotonic() + ANSWER_TIMEOUT_MS / 1000
    while done.count() <= before:
        assert time.monotonic() < deadline, f"no answer to {question!r}"
        time.sleep(0.1)
    return chat


def _change_day(app: object) -> str:
    """'Jan 1': the day the renamed change was logged, as a question names it."""
    changes = app.state.workbench.overview().changes
    moment: dt.datetime = next(c.change_time for c in changes if c.change_id == RENAMED_CHANGE)
    return f"{moment:%b} {moment.day}"


def test_the_dashboard_shows_a_hostile_change_name_as_text(page: object) -> None:
    page.locator("#dashboard-trend .js-plotly-plot").wait_for(timeout=VIEW_TIMEOUT_MS)

    trend = page.locator("#dashboard-trend")
    assert trend.get_by_text(f"{RENAMED_CHANGE} {CHANGE_NAME}").count() == 1  # the annotation
    assert page.get_by_text(CHANGE_NAME, exact=True).filter(visible=True).count() >= 1  # change log
    _assert_inert(page)


@pytest.fixture(scope="module")
def chat(page: object, served: tuple[str, object]) -> object:
    """The chat after questions whose answers name each payload: rankings of regions,
    categories and stores, and what changed on the day of the renamed change."""
    page.get_by_role("tab", name="Chat").click()
    _ask(page, "which regions were worst for on-time last week?", "rank")
    _ask(page, "which categories were worst for on-time last week?", "rank")
    _ask(page, "which stores were worst for on-time last week?", "rank")
    return _ask(page, f"what changed on {_change_day(served[1])}?", "changes")


def test_chat_answers_show_hostile_values_literally(page: object, chat: object) -> None:
    assert chat.get_by_role("cell", name=REGION, exact=True).first.is_visible()
    assert chat.get_by_text(REGION).first.is_visible()  # the answer's sentence names it too
    assert chat.get_by_role("cell", name=CATEGORY, exact=True).first.is_visible()
    assert chat.get_by_text("[click](http://evil.example)").first.is_visible()
    assert chat.get_by_role("cell").filter(has_text=STORE_SUFFIX.strip()).count() >= 3
    assert chat.get_by_role("cell", name=CHANGE_NAME, exact=True).first.is_visible()
    assert chat.get_by_text(f"{RENAMED_CHANGE} {CHANGE_NAME}").first.is_visible()
    assert "](#evidence-" not in chat.inner_text()  # every citation is still a link
    _assert_inert(page)


def test_evidence_and_tool_steps_show_hostile_values_literally(page: object, chat: object) -> None:
    chat.locator('a[href="#evidence-E1"]').first.click()  # E1: the ranking of regions
    evidence = page.locator("#evidence-view")
    evidence.get_by_role("cell", name=REGION, exact=True).first.wait_for(timeout=VIEW_TIMEOUT_MS)
    chat.get_by_role("button", name=re.compile("^Step: ")).last.click()
    chat.get_by_role("button", name=re.compile(r"E\d+ · change_log")).last.click()

    cell = chat.get_by_role("cell", name=CHANGE_NAME, exact=True).last
    cell.wait_for(timeout=VIEW_TIMEOUT_MS)
    assert cell.is_visible()
    _assert_inert(page)


def test_incident_views_show_a_hostile_region_literally(
    page: object, served: tuple[str, object]
) -> None:
    incidents = served[1].state.workbench.incidents()
    incident = next(i for i in incidents if REGION in i.primary_cohort)
    page.locator("#incident-pick input").click()
    page.get_by_role("option", name=incident.incident_id).click()
    page.get_by_role("tab", name="Incident").click()
    headline = page.get_by_text(
        f"{incident.incident_id}: {incident.primary_metric} @ region={REGION}"
    )
    headline.filter(visible=True).wait_for(timeout=VIEW_TIMEOUT_MS)
    page.locator("#incident-heatmap .js-plotly-plot").wait_for(timeout=VIEW_TIMEOUT_MS)
    drill_title = page.get_by_text(f"region={REGION}, by ").filter(visible=True)
    drill_title.wait_for(timeout=VIEW_TIMEOUT_MS)
    _assert_inert(page)
    page.get_by_role("tab", name="Root cause").click()
    page.locator("#rca-causes .js-plotly-plot").wait_for(timeout=VIEW_TIMEOUT_MS)
    page.get_by_text("RCA report (Markdown)").click()
    report = page.locator("#rca-report")
    report.get_by_text(f"region={REGION}").first.wait_for(timeout=VIEW_TIMEOUT_MS)
    _assert_inert(page)
    page.get_by_role("tab", name="PM summary").click()
    brief = page.locator("#pm-summary")
    brief.get_by_text(f"in the {REGION} region(s)").first.wait_for(timeout=VIEW_TIMEOUT_MS)
    _assert_inert(page)


def test_the_pm_brief_quotes_a_hostile_change_description_literally(page: object) -> None:
    page.locator("#incident-pick input").click()
    page.get_by_role("option", name=DEMO_INCIDENT).click()
    page.get_by_role("tab", name="PM summary").click()
    brief = page.locator("#pm-summary")
    brief.get_by_text("Priority P1").wait_for(timeout=VIEW_TIMEOUT_MS)

    assert brief.get_by_text(CHANGE_DESCRIPTION).count() == 1
    _assert_inert(page)


def test_a_data_value_in_markdown_renders_as_exactly_its_text() -> None:
    assert markdown_text('<img src=x onerror="alert(1)">') == '&lt;img src=x onerror="alert(1)"&gt;'
    assert markdown_text(CATEGORY) == r"retail \[click\](http\://evil.example) \*\*loud\*\*"
    assert markdown_text("a|b `c` $$x$$ ~~d~~ _e_ on_time_rate") == (
        r"a\|b \`c\` \$\$x\$\$ \~\~d\~\~ \_e\_ on_time_rate"
    )
    assert markdown_text("see www.evil.example or me@evil.example") == (
        r"see www\.evil.example or me\@evil.example"
    )
    assert markdown_text("# big\n\n- item") == r"\# big - item"  # one line, no heading
    assert markdown_text("1. first") == r"1\. first"
    assert markdown_text("2026-01-04 18:00") == "2026-01-04 18:00"
    assert markdown_text("-0.06") == "-0.06"


def test_agent_markdown_keeps_its_formatting_and_code_but_not_the_datas_html() -> None:
    answer = (
        f"**Worst**: {REGION} 89.3% [E1, E2]. ![t](http://evil.example/t.png) see "
        "https://evil.example\n\n| region | value |\n|---|---:|\n| a<b>c</b> | 1 |\n\n"
        "Run `x < 5` then:\n\n```sql\nSELECT * FROM t WHERE a < 5 AND b = '```'\n```\nafter <i>"
    )
    shown = link_citations(markdown_answer(answer + "\n  [x]: http://evil.example"))

    assert shown.startswith('**Worst**: east&lt;img src=x onerror="window.__pwned=1"&gt; 89.3% ')
    assert "[[E1]](#evidence-E1), [[E2]](#evidence-E2)" in shown  # citations still link
    assert r"![t\](http\://evil.example/t.png) see https\://evil.example" in shown
    assert "| a&lt;b&gt;c&lt;/b&gt; | 1 |" in shown  # the table stays a table
    assert "Run `x < 5` then:" in shown  # code is left to the renderer, which shows it as is
    assert "````sql\nSELECT * FROM t WHERE a < 5 AND b = '```'\n````" in shown
    assert shown.endswith("after &lt;i&gt;\n  \\[x]: http\\://evil.example")  # no definition
    assert link_citations(markdown_answer("orders [E1]: a")) == "orders [[E1]](#evidence-E1): a"


def test_code_and_plotly_text_cannot_be_broken_out_of() -> None:
    assert code_block("a\n```\nb", "sql") == "````sql\na\n```\nb\n````"
    assert code_span("a`b") == "``a`b``"
    assert code_span("`") == "`` ` ``"
    assert plotly_text('<a href="http://evil.example">x</a> & <b>') == (
        '&lt;a href="http://evil.example"&gt;x&lt;/a&gt; &amp; &lt;b&gt;'
    )
