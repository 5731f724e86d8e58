"""cx-agent's workbench: a Gradio UI mounted on a FastAPI app with the REST API.

    python app.py [--world DIR] [--host HOST] [--port PORT]   # defaults: cxagent/web/defaults.py
    uvicorn --factory app:demo_app     # the demo world (CXAGENT_WORLD overrides it)

The app is presentation only: it calls the agent (agent/) and the typed tools (tools/); the
modules behind it live in cxagent/web/ (workbench, REST routes, UI with one module per tab in
cxagent/web/tabs/, charts, PM brief).
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from cxagent.web.server import create_app, main, resolve_world

__all__ = ["create_app", "demo_app"]


def demo_app() -> FastAPI:
    """The app on $CXAGENT_WORLD, or on the demo world (generated on first use)."""
    world = os.environ.get("CXAGENT_WORLD")
    return create_app(resolve_world(Path(world) if world else None))


if __name__ == "__main__":
    main()
