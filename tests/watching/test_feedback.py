"""Feedback on incidents: the store keeps every feedback and the latest counts; the REST API
takes and lists it over real HTTP (404 unknown incident, 422 bad verdict or cause, the body cap);
the PM brief shows it, escaped."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import ValidationError

from agent.settings import AgentSettings
from data.scenario import Scenario
from watching.feedback import FEEDBACK_FILE, MAX_COMMENT_CHARS, Feedback, FeedbackStore

DEMO_INCIDENT = "INC-20260104-1800"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def test_the_store_keeps_every_feedback_and_the_latest_counts(tmp_path: Path) -> None:
    store = FeedbackStore.open(tmp_path)
    first = store.add(
        Feedback(incident_id="INC-1", verdict="right", judged_cause="batching_threshold")
    )
    later = store.add(
        Feedback(
            incident_id="INC-1",
            verdict="wrong",
            judged_cause="batching_threshold",
            correct_cause="prep_time_drift",
            comment="stores were slow that week",
            author="ana",
        )
    )
    store.add(Feedback(incident_id="INC-2", verdict="not_quite", comment="partly"))

    reopened = FeedbackStore.open(tmp_path)
    assert (tmp_path / FEEDBACK_FILE).is_file()
    assert [f.feedback_id for f in reopened.for_incident("INC-1")] == [
        first.feedback_id,
        later.feedback_id,
    ]
    assert reopened.for_incident("INC-1")[-1] == later
    assert reopened.latest("INC-1") == later
    assert reopened.latest("INC-3") is None
    assert len(reopened.all()) == 3
    assert reopened.latest_by_incident()["INC-1"].expected_cause == "prep_time_drift"
    assert later.created_at.tzinfo is not None


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"verdict": "right", "judged_cause": "batching_threshold"}, "batching_threshold"),
        ({"verdict": "wrong", "correct_cause": "dasher_shortage"}, "dasher_shortage"),
        ({"verdict": "wrong", "correct_cause": "other"}, None),
        ({"verdict": "wrong"}, None),
        ({"verdict": "not_quite", "correct_cause": "prep_time_drift"}, "prep_time_drift"),
    ],
)
def test_the_expected_cause_is_the_one_confirmed_or_named(
    fields: dict[str, Any], expected: str | None
) -> None:
    assert Feedback(incident_id="INC-1", **fields).expected_cause == expected


@pytest.mark.parametrize(
    "fields",
    [
        {"verdict": "maybe"},
        {"verdict": "wrong", "correct_cause": "gremlins"},
        {"verdict": "right", "judged_cause": "batching_threshold", "correct_cause": "other"},
        {"verdict": "right", "comment": "x" * (MAX_COMMENT_CHARS + 1)},
    ],
)
def test_a_bad_feedback_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Feedback(incident_id="INC-1", **fields)


# -- over real HTTP -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def feedback_world(
    small_scenario: Callable[..., Scenario],
    make_world: Callable[[Scenario], Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """A copy of the small demo world (feedback writes into the world)."""
    world = tmp_path_factory.mktemp("feedback") / "world"
    shutil.copytree(make_world(small_scenario("demo")), world)
    return world


@pytest.fixture(scope="module")
def served(feedback_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the workbench served on 127.0.0.1 (as tests/app/conftest.py serves it)."""
    saved = {key: os.environ.get(key) for key in ("GRADIO_TEMP_DIR", "GRADIO_ANALYTICS_ENABLED")}
    os.environ.update(
        GRADIO_TEMP_DIR=str(tmp_path_factory.mktemp("gradio")), GRADIO_ANALYTICS_ENABLED="False"
    )
    from cxagent.web.guard import ServeSettings
    from cxagent.web.server import create_app

    app = create_app(
        feedback_world, AgentSettings(llm="offline"), ServeSettings(max_body_bytes=10_000)
    )
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="feedback-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the workbench did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)
    app.state.workbench.close()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def client(served: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served, timeout=180) as session:
        yield session


def _post(client: httpx.Client, body: dict[str, Any], incident: str = DEMO_INCIDENT) -> Any:
    return client.post(f"/api/incidents/{incident}/feedback", json=body)


def test_feedback_posted_is_stored_in_the_world_and_listed_latest_last(
    client: httpx.Client, feedback_world: Path
) -> None:
    right = _post(client, {"verdict": "right", "author": "ana"})
    wrong = _post(
        client,
        {"verdict": "wrong", "correct_cause": "prep_time_drift", "comment": "stores were slow"},
    )
    listed = client.get(f"/api/incidents/{DEMO_INCIDENT}/feedback").json()

    assert right.status_code == 201
    assert right.json()["judged_cause"] == "batching_threshold"  # the top cause shown
    assert wrong.status_code == 201
    assert [f["verdict"] for f in listed["feedback"]][-2:] == ["right", "wrong"]
    assert listed["latest"]["correct_cause"] == "prep_time_drift"
    assert dt.datetime.fromisoformat(listed["latest"]["created_at"]).tzinfo is not None
    stored = FeedbackStore.open(feedback_world).latest(DEMO_INCIDENT)
    assert stored is not None and stored.comment == "stores were slow"


def test_feedback_on_an_unknown_incident_is_a_404(client: httpx.Client) -> None:
    posted = _post(client, {"verdict": "right"}, incident="INC-19990101-0000")
    listed = client.get("/api/incidents/INC-19990101-0000/feedback")

    assert posted.status_code == listed.status_code == 404
    assert posted.json()["status"] == 404
    assert "INC-19990101-0000" in posted.json()["detail"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"verdict": "maybe"}, "literal_error"),
        ({}, "missing"),
        ({"verdict": "wrong", "correct_cause": "gremlins"}, "value_error"),
        ({"verdict": "right", "correct_cause": "dasher_shortage"}, "value_error"),
        ({"verdict": "right", "comment": "x" * (MAX_COMMENT_CHARS + 1)}, "string_too_long"),
        ({"verdict": "right", "rating": 5}, "extra_forbidden"),
    ],
)
def test_a_bad_feedback_body_is_a_422_saying_what_is_wrong(
    client: httpx.Client, body: dict[str, Any], problem: str
) -> None:
    response = _post(client, body)

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == problem


def test_a_body_over_the_cap_is_a_413(client: httpx.Client) -> None:
    response = _post(client, {"verdict": "right", "comment": "x" * 20_000})

    assert response.status_code == 413
    assert response.json()["status"] == 413


def test_the_pm_brief_shows_the_feedback_as_text(client: httpx.Client) -> None:
    _post(
        client,
        {"verdict": "not_quite", "comment": "<img src=x onerror=alert(1)> [see](http://x.example)"},
    )

    brief = client.get(f"/api/summary/{DEMO_INCIDENT}").text

    section = brief.split("## Feedback", 1)[1]
    assert "The team's latest verdict: **not quite**" in section
    assert "&lt;img src=x onerror=alert(1)&gt;" in section
    assert "\\[see\\](http\\://x.example)" in section  # a link written as text
    assert "<img" not in brief


@pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"{CHROMIUM} is missing (`make chromium`)")
@pytest.mark.filterwarnings("ignore:.*no_silent_downcasting.*")
@pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")
def test_the_incident_tab_takes_feedback_and_shows_it_as_text(
    served: str, tmp_path: Path, feedback_world: Path
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    home = {key: str(tmp_path) for key in ("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=home
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(served + "/")
        page.get_by_role("tab", name="Incident").click()
        page.locator("#similar-incidents").get_by_text("Similar").or_(
            page.locator("#similar-incidents").get_by_text("No similar")
        ).wait_for(timeout=60_000)
        page.locator("#feedback-verdict").get_by_text("wrong", exact=True).click()
        page.locator("#feedback-cause input").click()
        page.get_by_role("option", name="dasher_shortage").click()
        page.locator("#feedback-comment textarea").fill("<b>bold</b> claim")
        page.locator("#feedback-send").click()
        page.locator("#feedback-status").get_by_text("Stored").wait_for(timeout=60_000)
        view = page.locator("#feedback-view")
        view.get_by_text("<b>bold</b> claim").wait_for(timeout=10_000)

        assert "cause wrong, was dasher_shortage" in view.inner_text()
        assert view.locator("b").count() == 0
        browser.close()
    stored = FeedbackStore.open(feedback_world).latest(DEMO_INCIDENT)
    assert stored is not None and stored.correct_cause == "dasher_shortage"
    assert stored.comment == "<b>bold</b> claim"
