"""GET /api/threads/{id} over real HTTP: a conversation's turns and evidence ledger, a 404 that
names no thread, and a conversation that outlives the server (stopped and started again on the
same world)."""

from __future__ import annotations

import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from agent.settings import AgentSettings
from agent.threads import THREADS_FILE

LOOKUP = "what was the on-time rate last week?"
FOLLOW_UP = "and the week before?"


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=180) as session:
        yield session


def _ask(client: httpx.Client, question: str, thread_id: str) -> dict[str, Any]:
    response = client.post("/api/ask", json={"question": question, "thread_id": thread_id})
    response.raise_for_status()
    return response.json()


def test_a_thread_returns_its_turns_in_order_and_its_ledger(client: httpx.Client) -> None:
    thread_id = f"turns-{uuid.uuid4().hex[:8]}"
    first = _ask(client, LOOKUP, thread_id)
    second = _ask(client, FOLLOW_UP, thread_id)

    response = client.get(f"/api/threads/{thread_id}")

    assert response.status_code == 200
    body = response.json()
    assert body["thread_id"] == thread_id
    turns = body["turns"]
    assert [(t["turn"], t["question"]) for t in turns] == [(1, LOOKUP), (2, FOLLOW_UP)]
    assert [t["kind"] for t in turns] == [first["kind"], second["kind"]]
    assert [t["answer"] for t in turns] == [first["answer"], second["answer"]]
    assert [t["grounding"] for t in turns] == [first["grounding"], second["grounding"]]
    assert body["evidence"] == second["evidence"]
    assert body["evidence"][: len(first["evidence"])] == first["evidence"]


def test_an_unknown_thread_is_a_404_that_names_no_thread(client: httpx.Client) -> None:
    known = f"someone-{uuid.uuid4().hex[:8]}"
    _ask(client, LOOKUP, known)

    response = client.get("/api/threads/nobody-asked-here")

    assert response.status_code == 404
    detail = response.json()["detail"]
    assert detail == "no conversation with this thread id"
    assert known not in response.text and "/" not in detail


def test_a_thread_id_outside_the_pattern_is_a_422(client: httpx.Client) -> None:
    response = client.get("/api/threads/" + "x" * 65)

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "string_pattern_mismatch"


def test_openapi_documents_the_threads_route(client: httpx.Client) -> None:
    assert "/api/threads/{thread_id}" in client.get("/openapi.json").json()["paths"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def _served(world: Path) -> Iterator[str]:
    """The workbench of `world` on a loopback port until the block ends (then stopped)."""
    from cxagent.web.server import create_app

    app = create_app(world, AgentSettings(llm="offline"))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="cxagent-restart-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the workbench did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        app.state.workbench.close()


def test_a_conversation_outlives_a_server_restart(
    app_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    world = Path(
        shutil.copytree(
            app_world, tmp_path / "world", ignore=shutil.ignore_patterns(f"{THREADS_FILE}*")
        )
    )
    with _served(world) as url, httpx.Client(base_url=url, timeout=180) as client:
        first = _ask(client, LOOKUP, "kept")

    with _served(world) as url, httpx.Client(base_url=url, timeout=180) as client:
        kept = client.get("/api/threads/kept").json()
        follow_up = _ask(client, FOLLOW_UP, "kept")

    assert [t["answer"] for t in kept["turns"]] == [first["answer"]]
    assert kept["evidence"] == first["evidence"]
    count = len(first["evidence"])
    assert follow_up["evidence"][:count] == first["evidence"]
    assert follow_up["evidence"][count]["id"] == f"E{count + 1}"  # ids go on after the old ones
    assert follow_up["grounding"]["ok"]
