"""Serving, attacked over real HTTP: the workbench on a loopback port with a token, one slot for
costly calls and a small body limit. Foreign Host names (DNS rebinding), missing or wrong
tokens, oversized and malformed bodies, wrong methods, a crash in a handler and a burst of
concurrent asks each get a JSON answer that echoes nothing and leaks no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import uvicorn
from pydantic import SecretStr

from agent.settings import AgentSettings
from cxagent.web.guard import ServeConfigError, ServeSettings, allowed_host_names, check_serving
from data.scenario import Scenario

ScenarioFactory = Callable[..., Scenario]
WorldFactory = Callable[[Scenario], Path]
TOKEN = "test-token-0123456789abcdef"
BODY_LIMIT = 20_000
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def served(
    small_scenario: ScenarioFactory,
    make_world: WorldFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, object]]:
    """(base URL, app) of a workbench guarded as on a public address: token, 1 costly slot, no
    queueing, 20 kB bodies."""
    world = make_world(small_scenario("demo"))
    saved = {key: os.environ.get(key) for key in ("GRADIO_TEMP_DIR", "GRADIO_ANALYTICS_ENABLED")}
    os.environ.update(
        GRADIO_TEMP_DIR=str(tmp_path_factory.mktemp("gradio")), GRADIO_ANALYTICS_ENABLED="False"
    )
    from cxagent.web.server import create_app

    serving = ServeSettings(
        token=SecretStr(TOKEN),
        max_body_bytes=BODY_LIMIT,
        max_concurrent_asks=1,
        ask_queue_wait_s=0,
    )
    # Configured as for a public bind (the guard's policy), served on loopback for the test.
    app = create_app(world, AgentSettings(llm="offline"), serving=serving, host="0.0.0.0")
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    server.should_exit = True
    thread.join(timeout=15)
    app.state.workbench.close()
    for key, value in saved.items():
        os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


@pytest.fixture
def client(served: tuple[str, object]) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=served[0], timeout=120, headers={"Authorization": f"Bearer {TOKEN}"}
    ) as session:
        yield session


@pytest.fixture
def anonymous(served: tuple[str, object]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[0], timeout=120) as session:
        yield session


def _is_json_error(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert "Traceback" not in response.text
    return body


def test_a_client_without_the_token_is_refused_everywhere(anonymous: httpx.Client) -> None:
    for method, path in (("GET", "/api/health"), ("GET", "/"), ("POST", "/api/ask")):
        response = anonymous.request(method, path, json={"question": "why did CX drop?"})
        body = _is_json_error(response, 401)
        assert "CXAGENT_TOKEN" in str(body["detail"])
        assert response.headers["www-authenticate"].startswith("Bearer")
    wrong = anonymous.get("/api/health", headers={"Authorization": "Bearer " + "x" * len(TOKEN)})
    _is_json_error(wrong, 401)


def test_the_token_in_the_address_becomes_a_cookie_and_leaves_the_address(
    anonymous: httpx.Client,
) -> None:
    landing = anonymous.get(f"/?token={TOKEN}&tab=chat", follow_redirects=False)

    assert landing.status_code == 303
    assert landing.headers["location"] == "/?tab=chat"
    cookie = landing.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert anonymous.get("/api/health").status_code == 200  # the cookie jar sends it now
    anonymous.cookies.clear()


def test_a_foreign_host_name_is_refused_even_with_the_token(client: httpx.Client) -> None:
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends Host: evil.example."""
    response = client.get("/api/health", headers={"Host": "evil.example:7860"})

    _is_json_error(response, 400)
    assert client.get("/api/health", headers={"Host": "localhost"}).status_code == 200


def test_oversized_bodies_are_refused_without_being_echoed(client: httpx.Client) -> None:
    marker = "ECHO-ME-" * 5_000  # 40 kB, over the 20 kB limit
    declared = client.post("/api/ask", content=f'{{"question": "{marker}"}}'.encode(),
                           headers={"Content-Type": "application/json"})  # fmt: skip
    assert "ECHO-ME" not in _is_json_error(declared, 413)["detail"]

    def chunks() -> Iterator[bytes]:
        yield b'{"question": "'
        for _ in range(40):
            yield b"A" * 1_000
        yield b'"}'

    streamed = client.post(
        "/api/ask", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "AAAA" not in str(_is_json_error(streamed, 413))


def test_an_invalid_body_lists_its_problems_without_echoing_it(client: httpx.Client) -> None:
    response = client.post("/api/ask", json={"question": "fine", "unexpected": "SECRET-" * 500})
    body = _is_json_error(response, 422)

    assert "SECRET-" not in response.text
    assert body["detail"][0]["type"] == "extra_forbidden"


def test_a_lone_surrogate_is_a_422_not_a_500(client: httpx.Client) -> None:
    response = client.post(
        "/api/ask",
        content=b'{"question": "why did CX drop \\ud800 on Jan 4?"}',
        headers={"Content-Type": "application/json"},
    )

    body = _is_json_error(response, 422)
    assert body["detail"][0]["type"] == "string_unicode"


def test_wrong_methods_are_405_with_allow_and_head_is_a_bodiless_get(
    client: httpx.Client,
) -> None:
    wrong = client.delete("/api/incidents")
    _is_json_error(wrong, 405)
    assert wrong.headers["allow"] == "GET, HEAD"
    assert client.get("/api/ask").headers["allow"] == "POST"

    for path in ("/api/health", "/"):
        get, head = client.get(path), client.head(path)
        assert head.status_code == get.status_code == 200
        assert head.content == b""
        assert head.headers["content-type"] == get.headers["content-type"]

    unknown = client.get("/api/no-such-route")
    assert "/docs" in str(_is_json_error(unknown, 404)["detail"])


def test_a_crash_in_a_handler_is_a_json_500_without_its_traceback(
    client: httpx.Client, served: tuple[str, object]
) -> None:
    workbench = served[1].state.workbench  # type: ignore[attr-defined]

    def broken() -> None:
        raise RuntimeError("secret internals /etc/cxagent.conf")

    workbench.overview = broken
    try:
        response = client.get("/api/health")
    finally:
        del workbench.overview
    body = _is_json_error(response, 500)
    assert "secret internals" not in response.text
    assert "server log" in str(body["detail"])


def test_a_burst_of_asks_is_answered_or_told_to_retry_never_piled_up(
    client: httpx.Client,
) -> None:
    """One slot, no queue: of 8 simultaneous first-time diagnoses, those that find the slot
    taken get 429 with Retry-After at once."""
    questions = [f"why did on-time rate drop on Jan {day}?" for day in range(1, 9)]

    def ask(question: str) -> tuple[int, float, httpx.Response]:
        began = time.monotonic()
        response = client.post("/api/ask", json={"question": question})
        return response.status_code, time.monotonic() - began, response

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(ask, questions))

    statuses = [status for status, _, _ in results]
    assert set(statuses) <= {200, 429}
    assert 200 in statuses and 429 in statuses
    for status, seconds, response in results:
        if status == 429:
            assert int(response.headers["retry-after"]) >= 1
            assert response.json()["retry_after_s"] == int(response.headers["retry-after"])
            assert seconds < 5  # told at once, not after waiting for the others


def test_serving_beyond_loopback_needs_a_token_and_names_its_hosts() -> None:
    with pytest.raises(ServeConfigError, match="CXAGENT_TOKEN"):
        check_serving("0.0.0.0", ServeSettings(token=None))
    with pytest.raises(ServeConfigError, match="too short"):
        check_serving("0.0.0.0", ServeSettings(token=SecretStr("short")))
    check_serving("127.0.0.1", ServeSettings(token=None))
    hosts = allowed_host_names("10.1.2.3", ServeSettings(allowed_hosts="cx.example.com, Other"))
    assert {"10.1.2.3", "cx.example.com", "other", "localhost"} <= hosts
    assert "evil.example" not in hosts


@pytest.mark.parametrize(
    "command", [["app.py"], ["-m", "cxagent", "serve"]], ids=["app.py", "cxagent serve"]
)
def test_the_server_command_refuses_a_public_bind_without_a_token(
    tmp_path: Path, command: list[str]
) -> None:
    environment = {k: v for k, v in os.environ.items() if k != "CXAGENT_TOKEN"}
    finished = subprocess.run(
        [sys.executable, *command, "--host", "0.0.0.0", "--world", str(tmp_path)],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert finished.returncode == 2  # a user's error, as every command reports one
    assert "CXAGENT_TOKEN" in finished.stderr
    assert "Traceback" not in finished.stderr


def test_beyond_loopback_the_page_cannot_start_the_eval_suite(client: httpx.Client) -> None:
    config = client.get("/config").text

    assert "evals-run" not in config
    assert "CXAGENT_EVAL_BUTTON" in config


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="no /usr/bin/chromium (run `make chromium`)")
@pytest.mark.filterwarnings("ignore:.*no_silent_downcasting.*")
def test_a_browser_with_the_token_link_uses_the_whole_workbench(
    served: tuple[str, object], tmp_path: Path
) -> None:
    """The link sets the cookie; the page, its Gradio queue and the chat then work with it."""
    sync_api = pytest.importorskip("playwright.sync_api")
    environment = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
            env=environment,
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            refused = page.goto(served[0] + "/")
            assert refused is not None and refused.status == 401

            page.goto(f"{served[0]}/?token={TOKEN}")
            assert "token=" not in page.url
            page.get_by_role("tab", name="Chat").click()
            page.locator("#chat-input textarea").fill("how many orders last week?")
            page.locator("#chat-send").click()
            chat = page.locator("#chat-answers")
            chat.get_by_text("Answer kind: lookup").wait_for(timeout=90_000)
            assert "orders" in chat.inner_text()
        finally:
            browser.close()
