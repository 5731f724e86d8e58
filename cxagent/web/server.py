"""The workbench server: one FastAPI app with the REST API under /api and the Gradio UI at /."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import uvicorn
from fastapi import FastAPI, Request, Response

from agent.settings import AgentSettings
from cxagent.web.api import build_router
from cxagent.web.chat import CITATION_SCRIPT
from cxagent.web.defaults import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_WATCH_EVERY,
    DEFAULT_WORLD,
    base_url,
)
from cxagent.web.guard import (
    Guard,
    ServeConfigError,
    ServeSettings,
    allowed_host_names,
    check_serving,
    eval_button_shown,
    install_error_handlers,
    token_landing,
)
from cxagent.web.ui import CSS, build_ui
from cxagent.web.workbench import Workbench
from watching.routes import Routes
from watching.watcher import TickReport, Watcher


def resolve_world(world: Path | None, say: Callable[[str], None] = print) -> Path:
    """The world to serve: the given one, else the demo world (generated on first use)."""
    if world is not None:
        return world
    if not (DEFAULT_WORLD / "world.json").is_file():
        from data.generator import generate_world
        from data.scenario import load_scenario

        say(f"no world given: generating the demo world into {DEFAULT_WORLD} (about 10 s)")
        generate_world(load_scenario("demo"), DEFAULT_WORLD)
    return DEFAULT_WORLD


def _plotly_chunks() -> list[str]:
    """Gradio's Plotly chunk(s): 4.6 MB that the dashboard's first render waits to fetch and
    compile, which the page would otherwise start only once the app has mounted."""
    assets = Path(gr.__file__).parent / "templates" / "frontend" / "assets"
    return [chunk.name for chunk in sorted(assets.glob("PlotlyPlot-*.js"))]


def create_app(
    world: Path | str,
    settings: AgentSettings | None = None,
    serving: ServeSettings | None = None,
    host: str = DEFAULT_HOST,
) -> FastAPI:
    """The FastAPI app serving one world: /api/* (docs at /docs) and the Gradio UI at /, behind
    the guard (cxagent/web/guard.py: Host check, token, size and concurrency limits) for `host`.

    Computes the world's overview (incidents, CX series, changes) before it returns, so the
    dashboard is part of the first page a browser gets."""
    serving = serving or ServeSettings()
    check_serving(host, serving)
    workbench = Workbench(world, settings)
    app = FastAPI(
        title="cx-agent",
        description="Why did customer experience drop? Incidents, root causes with evidence, "
        "recommendations with tradeoffs, experiment plans, and the agent.",
        version="0.1.0",
    )
    app.state.workbench = workbench
    api = build_router(workbench)
    app.include_router(api)
    install_error_handlers(app)
    preload = ", ".join(f"</assets/{name}>; rel=modulepreload" for name in _plotly_chunks())

    @app.middleware("http")
    async def preload_plotly(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        if preload and request.url.path == "/":
            response.headers["Link"] = preload
        return response

    os.environ.setdefault("GRADIO_TEMP_DIR", str(workbench.export_dir / "gradio"))
    app = gr.mount_gradio_app(
        app,
        build_ui(workbench, eval_button=eval_button_shown(host, serving)),
        path="/",
        allowed_paths=[str(workbench.export_dir)],
        css=CSS,
        head=CITATION_SCRIPT,
        footer_links=["api"],
    )
    landing = token_landing(serving)
    if landing is not None:
        app.middleware("http")(landing)
    app.add_middleware(
        Guard, settings=serving, hosts=allowed_host_names(host, serving), api_routes=api.routes
    )
    return app


def serve(
    world: Path | None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    watch_routes: Routes | None = None,
    watch_every: dt.timedelta | None = None,
) -> None:
    """Start the UI and the REST API (blocks until interrupted); with `watch_routes`, the
    watcher too, in the background, every `watch_every` (default DEFAULT_WATCH_EVERY). Raises
    ServeConfigError for a bind the serving settings refuse (beyond loopback with no token)."""
    serving = ServeSettings()
    check_serving(host, serving)
    chosen = resolve_world(world)
    app = create_app(chosen, serving=serving, host=host)
    print(f"cx-agent workbench on {base_url(host, port)}/ (REST docs at /docs), world {chosen}")
    if serving.token is not None:
        print("clients must send the token: open the page once as /?token=<CXAGENT_TOKEN>")
    stop = threading.Event()
    if watch_routes is not None:
        every = watch_every or DEFAULT_WATCH_EVERY
        start_watcher(app, watch_routes, every, stop, link_base=base_url(host, port))
        print(f"watching every {every}, alerts to {len(watch_routes.routes)} route(s)")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        stop.set()


def start_watcher(
    app: FastAPI, routes: Routes, every: dt.timedelta, stop: threading.Event, link_base: str
) -> threading.Thread:
    """Run the world's watcher in a background thread until `stop` is set, sharing the
    workbench's tool results; each tick's line is printed and the last report kept in
    `app.state.watch_report`."""
    workbench: Workbench = app.state.workbench
    watcher = Watcher(
        workbench.world_dir,
        routes,
        shared=workbench.agent.shared,
        link_base=os.environ.get("CXAGENT_PUBLIC_URL", link_base),
    )

    def on_tick(report: TickReport) -> None:
        app.state.watch_report = report
        print(f"watch: {report.line()}", flush=True)

    def run() -> None:
        try:
            watcher.run(every, on_tick=on_tick, stop=stop)
        finally:
            watcher.close()

    thread = threading.Thread(target=run, name="cxagent-watcher", daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> None:
    """`python app.py [--world DIR] [--host H] [--port N]`."""
    parser = argparse.ArgumentParser(description="cx-agent workbench: UI and REST API")
    parser.add_argument("--world", type=Path, default=None, help="World directory (default: demo)")
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    arguments = parser.parse_args(argv)
    try:
        serve(arguments.world, arguments.host, arguments.port)
    except ServeConfigError as error:
        print(f"cx-agent: {error}", file=sys.stderr)
        raise SystemExit(2) from None
