"""Watching the marketplace: scheduled as-of detection, alerts to routes, feedback on incidents.

Sits beside agent/ in the layers: it reads tools/ and data/ and is used by cxagent/ (the CLI
and the served workbench)."""

WATCH_DIR = "watch"  # in a world directory: the watcher's state, the outbox and the feedback
