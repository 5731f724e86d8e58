"""Progress streamed while an answer runs: the agent yields each node's step as it completes,
and the chat in a real browser (Chromium on a workbench served on loopback) shows the steps
before the final answer, which ends as it does without streaming."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from agent.service import Agent
from agent.settings import AgentSettings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
QUESTION = "why did CX drop on Jan 4?"
ANSWER_TIMEOUT_MS = 90_000
DIAGNOSIS_NODES = ["parse_question", "detect", "hypothesize", "gather_evidence", "rank"]
pytestmark = [  # gradio's queue trips pandas 3 deprecation warnings that are not ours
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting.*"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]
# Records when each watched text first shows in the chat, from the page's own DOM mutations.
WATCH_SCRIPT = """(keys) => {
  window.__seen = {};
  const chat = document.querySelector("#chat-answers");
  const look = () => {
    const text = chat.innerText;
    for (const key of keys) {
      if (!(key in window.__seen) && text.includes(key)) window.__seen[key] = performance.now();
    }
  };
  new MutationObserver(look).observe(chat, {subtree: true, childList: true, characterData: true});
}"""


def test_ask_stream_yields_each_node_then_the_answer_ask_gives(app_world: Path) -> None:
    agent = Agent(app_world)
    try:
        events = list(agent.ask_stream(QUESTION, thread_id="streamed"))
        asked = agent.ask(QUESTION, thread_id="asked")
    finally:
        agent.close()
    steps, (last,) = events[:-1], events[-1:]
    result = last["result"]
    assert all(set(event) == {"step"} for event in steps)
    assert [step["step"] for step in steps] == result["trace"]  # as each node completed
    assert [step["step"]["node"] for step in steps][: len(DIAGNOSIS_NODES)] == DIAGNOSIS_NODES
    assert result["answer"] == asked["answer"]
    assert _timeless(result["evidence"]) == _timeless(asked["evidence"])


def _timeless(evidence: list[dict]) -> list[dict]:
    return [{key: value for key, value in item.items() if key != "seconds"} for item in evidence]


def test_an_error_of_the_run_is_raised_to_the_reader(app_world: Path) -> None:
    agent = Agent(app_world)

    def broken(question: str, thread_id: str = "default") -> dict:
        raise ValueError("the warehouse went away")

    agent.ask = broken  # type: ignore[method-assign]
    try:
        with pytest.raises(ValueError, match="went away"):
            list(agent.ask_stream(QUESTION))
    finally:
        agent.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def fresh_app(app_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A workbench of its own (nothing diagnosed yet, so the answer takes seconds), served on
    loopback."""
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio-streaming")))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    from cxagent.web.server import create_app

    app = create_app(app_world, AgentSettings(llm="offline"))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=_free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="cxagent-streaming-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the workbench did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    thread.join(timeout=15)
    app.state.workbench.close()
    monkeypatch.undo()


@pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"{CHROMIUM} is missing: run `make chromium`")
def test_the_chat_shows_steps_as_they_complete_before_the_answer(
    fresh_app: str, tmp_path: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    environment = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    environment["XDG_CACHE_HOME"] = str(tmp_path)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=environment
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(fresh_app + "/")
        page.get_by_role("tab", name="Chat").click()
        page.locator("#chat-input textarea").fill(QUESTION)
        page.evaluate(WATCH_SCRIPT, ["Step: detect", "Most likely cause"])
        page.locator("#chat-send").click()
        page.get_by_text("Most likely cause").wait_for(timeout=ANSWER_TIMEOUT_MS)
        seen = page.evaluate("window.__seen")
        chat = page.locator("#chat-answers").inner_text()
        browser.close()
    assert seen["Step: detect"] < seen["Most likely cause"]
    assert "Working" not in chat  # the final answer replaced the progress
    for title in ("Step: detect", "Step: gather evidence", "Step: recommend", "Grounding:"):
        assert title in chat
