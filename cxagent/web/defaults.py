"""The workbench's serving defaults, declared once: where it listens, the world it serves when
none is given and how often its watcher ticks. Imports nothing heavy, so a CLI can read it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"  # loopback: serving beyond it needs CXAGENT_TOKEN (guard.py)
DEFAULT_PORT = 7860
DEFAULT_WORLD = Path("worlds/demo")  # where `make demo` puts the demo world
DEFAULT_WATCH_EVERY = dt.timedelta(minutes=15)  # between the background watcher's ticks


def base_url(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> str:
    """The base URL of a workbench served on `host`:`port` ('http://127.0.0.1:7860')."""
    return f"http://{host}:{port}"
