"""The workbench in a real browser (Playwright driving Debian's Chromium): the dashboard, the
demo question in the chat with its tool-call steps and citations, the plan download, the PM
brief, a second user's separate conversation, and answers of other kinds: a ranking's table, a
trend's chart, and an example chip asked with one click."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.is_file():
    pytest.skip(
        f"{CHROMIUM} is missing: run `make chromium` (apt-get install chromium, as root) to run "
        "the browser tests; `playwright install` cannot download browsers here",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
DEMO_INCIDENT = "INC-20260104-1800"
DEMO_QUESTION = "why did CX drop on Jan 4?"
ANSWER_TIMEOUT_MS = 90_000
DRILL_TITLE = re.compile(r"=.*, by (day|hour)$")  # the drilled slice's filters, by its grain
pytestmark = [  # gradio's queue trips pandas 3 deprecation warnings that are not ours
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting.*"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    home = tmp_path_factory.mktemp("chromium-home")  # Chromium writes nothing outside it
    environment = {"HOME": str(home), "XDG_CONFIG_HOME": str(home), "XDG_CACHE_HOME": str(home)}
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=environment
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def chat_page(browser: object, base_url: str) -> Iterator[tuple[object, float]]:
    """A page that asked the demo question in the chat, and the seconds the answer took."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.goto(base_url + "/")
    page.get_by_role("tab", name="Chat").click()
    page.locator("#chat-input textarea").fill(DEMO_QUESTION)
    started = time.perf_counter()
    page.locator("#chat-send").click()
    page.get_by_text("Most likely cause").wait_for(timeout=ANSWER_TIMEOUT_MS)
    yield page, time.perf_counter() - started
    context.close()


@pytest.fixture(scope="module")
def kinds_page(browser: object, base_url: str) -> Iterator[object]:
    """The chat in a conversation of its own, for questions of other kinds than a diagnosis."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(base_url + "/")
    page.get_by_role("tab", name="Chat").click()
    yield page
    context.close()


def _ask(page: object, question: str, kind: str) -> object:
    """Ask in the chat and wait for the answer of that kind; returns the chat."""
    page.locator("#chat-input textarea").fill(question)
    page.locator("#chat-send").click()
    chat = page.locator("#chat-answers")
    chat.get_by_text(f"Answer kind: {kind}").wait_for(timeout=ANSWER_TIMEOUT_MS)
    return chat


def test_dashboard_shows_the_cx_trend_and_the_demo_incident(browser: object, base_url: str) -> None:
    page = browser.new_page()
    started = time.perf_counter()
    page.goto(base_url + "/")
    page.locator("#dashboard-trend .js-plotly-plot").wait_for(timeout=30_000)
    seconds = time.perf_counter() - started
    incident = page.locator("#dashboard-incidents").get_by_text(DEMO_INCIDENT).filter(visible=True)
    incident.wait_for(timeout=10_000)

    assert incident.is_visible()
    assert page.locator("#dashboard-trend").get_by_text("C0007 batching_threshold").count() == 1
    print(f"dashboard rendered in the browser in {seconds:.2f} s")
    page.close()


def test_chat_names_batching_and_cites_evidence_that_opens(chat_page: tuple) -> None:
    page, seconds = chat_page
    answer = page.locator("#chat-answers").get_by_text("Most likely cause")
    text = answer.inner_text()

    assert "batching" in text.lower()
    assert re.search(r"\d+\.\d%", text)  # cited numbers
    links = page.locator('#chat-answers a[href^="#evidence-"]')
    assert links.count() >= 5
    link = page.locator('#chat-answers a[href="#evidence-E2"]').first
    link.click()
    view = page.locator("#evidence-view")
    view.get_by_text("top_slices").wait_for(timeout=10_000)
    assert "slice1.current_value" in view.inner_text()
    print(f"chat answer in the browser in {seconds:.2f} s")


def test_a_tool_call_step_opens_to_show_its_figures(chat_page: tuple) -> None:
    page, _ = chat_page
    chat = page.locator("#chat-answers")
    chat.get_by_role("button", name=re.compile("Step: gather evidence")).click()
    step = chat.get_by_role("button", name=re.compile(r"E\d+ · driver_shift")).first
    step.click()
    figures = chat.get_by_role("cell", name="relative_change").first

    figures.wait_for(timeout=10_000)
    assert figures.is_visible()
    assert chat.get_by_role("cell", name="baseline", exact=True).first.is_visible()


def test_the_experiment_plan_downloads_as_markdown(chat_page: tuple) -> None:
    page, _ = chat_page
    with page.expect_download() as download_info:
        page.locator("#chat-plan-download").click()
    download = download_info.value
    plan = Path(download.path()).read_text()

    assert download.suggested_filename.endswith(".md")
    assert plan.startswith("# Experiment plan: Reduce the batching threshold")
    assert "## Rollback criteria" in plan


def test_pm_summary_tab_shows_the_brief_and_exports_it(chat_page: tuple) -> None:
    page, _ = chat_page
    page.get_by_role("tab", name="PM summary").click()
    brief = page.locator("#pm-summary")
    brief.get_by_text("Priority P1").wait_for(timeout=60_000)

    assert "Recommended action" in brief.inner_text()
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download brief (.md)").click()
    assert (
        Path(download_info.value.path())
        .read_text()
        .startswith(f"# Incident brief: {DEMO_INCIDENT}")
    )


def test_incident_tab_shows_the_grocery_dinner_slice_and_its_heatmap(chat_page: tuple) -> None:
    page, _ = chat_page
    page.get_by_role("tab", name="Incident").click()
    page.locator("#incident-heatmap .js-plotly-plot").wait_for(timeout=60_000)

    assert page.get_by_text("category=grocery, hour=18-20").filter(visible=True).count() >= 1
    assert "by category x hour" in page.locator("#incident-heatmap").inner_text()


def test_the_slice_breakdown_follows_the_dimension_chosen(chat_page: tuple) -> None:
    page, _ = chat_page
    page.get_by_role("tab", name="Incident").click()
    page.locator("#incident-heatmap .js-plotly-plot").wait_for(timeout=60_000)
    page.get_by_label("Break the slice down by").click()
    page.get_by_role("option", name="daypart").click()
    breakdown = page.get_by_role("grid", name="Breakdown")
    breakdown.get_by_role("gridcell", name="dinner").first.wait_for(timeout=30_000)

    cells = [cell.strip() for cell in breakdown.get_by_role("gridcell").all_text_contents()]
    assert any(re.fullmatch(r"[+-]\d+\.\d pp", cell) for cell in cells)
    titles = page.locator(".js-plotly-plot .gtitle").filter(visible=True).all_text_contents()
    assert any(DRILL_TITLE.search(title) for title in titles)  # the slice's drill-down


def test_root_cause_tab_ranks_the_batching_change_first(chat_page: tuple) -> None:
    page, _ = chat_page
    page.get_by_role("tab", name="Root cause").click()
    headline = page.locator("#rca-headline")
    headline.get_by_text("Most likely").wait_for(timeout=90_000)

    assert "batching_threshold" in headline.inner_text()
    page.locator("#rca-causes .js-plotly-plot").wait_for(timeout=30_000)


def test_experiment_plan_tab_plans_the_top_action_and_exports_it(chat_page: tuple) -> None:
    page, _ = chat_page
    page.get_by_role("tab", name="Experiment plan").click()
    plan = page.locator("#plan-text")
    plan.get_by_text("Experiment plan: Reduce the batching threshold").wait_for(timeout=90_000)

    with page.expect_download() as download_info:
        page.locator("#plan-download").click()
    text = Path(download_info.value.path()).read_text()
    assert text.startswith("# Experiment plan: Reduce the batching threshold")


def test_a_what_if_rerun_uses_the_parameter_given(chat_page: tuple) -> None:
    page, _ = chat_page
    page.get_by_role("tab", name="Recommendations").click()
    page.locator("#recommendations-tradeoff .js-plotly-plot").wait_for(timeout=90_000)
    page.locator("#whatif-action input").click()
    page.get_by_role("option", name="eta_buffer", exact=True).click()
    page.locator("#whatif-value").get_by_text("eta_buffer: minutes").wait_for(timeout=30_000)
    page.locator("#whatif-value input[type=number]").fill("3")
    page.locator("#whatif-value input[type=number]").press("Enter")
    page.get_by_role("button", name="Run what-if").click()
    summary = page.locator("#whatif-summary")
    summary.get_by_text("Add 3 minutes of buffer").wait_for(timeout=60_000)

    assert "(minutes=3)" in summary.inner_text()
    assert page.locator("#whatif-table").get_by_text("quoted_min").filter(visible=True).count()


def test_evals_tab_says_how_to_run_the_suite(chat_page: tuple) -> None:
    page, _ = chat_page
    page.get_by_role("tab", name="Evals").click()
    status = page.locator("#evals-status")
    status.get_by_text("cxagent eval").first.wait_for(timeout=30_000)

    assert status.inner_text().strip()


def test_a_second_user_has_a_conversation_of_their_own(
    browser: object, base_url: str, chat_page: tuple
) -> None:
    first, _ = chat_page
    page = browser.new_page()
    page.goto(base_url + "/")
    page.get_by_role("tab", name="Chat").click()
    page.locator("#chat-input textarea").fill("why did CX drop on Dec 10?")
    page.locator("#chat-send").click()
    page.locator("#chat-answers").get_by_text("Grounding:").wait_for(timeout=ANSWER_TIMEOUT_MS)

    assert page.locator("#chat-answers").get_by_text("Most likely cause").count() == 0
    assert first.locator("#chat-answers").get_by_text("Most likely cause").count() == 1
    page.close()


def test_a_ranking_answer_shows_its_rows_as_a_table(kinds_page: object) -> None:
    chat = _ask(kinds_page, "which regions were worst for on-time last week?", "rank")

    for region in ("north", "south", "east", "west", "central"):
        assert chat.get_by_role("cell", name=region, exact=True).first.is_visible()
    assert chat.get_by_role("columnheader", name="region", exact=True).first.is_visible()
    assert chat.get_by_role("columnheader", name="95% interval").first.is_visible()
    rank = chat.locator("table").filter(has_text="central").last
    assert re.search(r"\d+\.\d%", rank.inner_text())  # shares as percentages


def test_a_trend_answer_draws_its_chart_in_the_chat(kinds_page: object) -> None:
    chat = _ask(kinds_page, "show on-time by day for the last two weeks", "trend")
    plot = chat.locator(".js-plotly-plot").last
    plot.wait_for(timeout=30_000)

    assert "On-time rate by day" in plot.inner_text()
    table = chat.locator("table").filter(has_text="2026-01-05").last
    assert table.get_by_role("columnheader", name="On-time rate").is_visible()
    cells = [text.strip() for text in table.locator("td").all_inner_texts()]
    assert sum(bool(re.fullmatch(r"\d{2}\.\d%", cell)) for cell in cells) == 14


def test_an_example_chip_asks_its_question_in_one_click(kinds_page: object) -> None:
    chips = kinds_page.locator("#chat-examples")
    # The chips name days of the served world: its incident's day and the change before it.
    assert chips.get_by_text("why did CX drop on Jan 4?").is_visible()
    chips.get_by_text("what changed on Jan 3?").click()
    chat = kinds_page.locator("#chat-answers")
    chat.get_by_text("Answer kind: changes").wait_for(timeout=ANSWER_TIMEOUT_MS)

    assert chat.get_by_role("cell", name="batching_threshold").first.is_visible()
    assert chat.get_by_text("what changed on Jan 3?").count() >= 1  # asked as the user
    assert kinds_page.locator("#chat-input textarea").input_value() == ""
