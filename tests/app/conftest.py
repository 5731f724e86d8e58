"""The workbench served for real: uvicorn on a loopback port in a thread, on a small demo world."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn

from agent.settings import AgentSettings
from data.scenario import Scenario

ScenarioFactory = Callable[..., Scenario]
WorldFactory = Callable[[Scenario], Path]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="package")
def app_world(small_scenario: ScenarioFactory, make_world: WorldFactory) -> Path:
    return make_world(small_scenario("demo"))


@pytest.fixture(scope="package")
def base_url(app_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the app (UI at /, REST under /api) served on 127.0.0.1 for this package's tests."""
    gradio_tmp = tmp_path_factory.mktemp("gradio")
    saved = {key: os.environ.get(key) for key in ("GRADIO_TEMP_DIR", "GRADIO_ANALYTICS_ENABLED")}
    os.environ.update(GRADIO_TEMP_DIR=str(gradio_tmp), GRADIO_ANALYTICS_ENABLED="False")
    from cxagent.web.server import create_app

    app = create_app(app_world, AgentSettings(llm="offline"))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="cxagent-test-server", daemon=True)
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
