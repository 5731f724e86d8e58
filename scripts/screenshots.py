"""Screenshots of every workbench tab, taken from the running app (for the README).

    .venv/bin/python scripts/screenshots.py [--world worlds/demo] [--out docs/screenshots]

Serves the app on a loopback port, asks the demo question in the chat, opens each tab in
Debian's Chromium (/usr/bin/chromium; `make chromium` installs it) and saves one PNG per tab.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}
MAX_HEIGHT = 1700  # px of a tab's page kept in its screenshot
WAIT_MS = 180_000
# tab label -> (file name, selector that is visible once the tab has rendered)
TABS = {
    "Incident": ("3_incident", "#incident-heatmap .js-plotly-plot"),
    "Root cause": ("4_root_cause", "#rca-causes .js-plotly-plot"),
    "Recommendations": ("5_recommendations", "#recommendations-tradeoff .js-plotly-plot"),
    "Experiment plan": ("6_experiment_plan", "#plan-text h1"),
    "PM summary": ("7_pm_summary", "#pm-summary h1"),
    "Evals": ("8_evals", "#evals-status p"),
}


def _serve(world: Path) -> tuple[str, object]:
    import uvicorn

    from cxagent.web.server import create_app

    app = create_app(world)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}/", server


def _shoot(page: object, path: Path) -> None:
    height = min(MAX_HEIGHT, page.evaluate("document.documentElement.scrollHeight"))
    page.screenshot(
        path=str(path),
        clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": height},
        full_page=True,
    )
    print(f"wrote {path}")


def _chat_kinds(browser: object, url: str, path: Path) -> None:
    """A fresh conversation: a ranking (its table), then a trend (its chart and table)."""
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url)
    page.locator("#dashboard-trend .js-plotly-plot").wait_for(timeout=WAIT_MS)
    page.get_by_role("tab", name="Chat").click()
    chat = page.locator("#chat-answers")
    for question, ready in (
        ("which regions were worst for on-time last week?", "#chat-answers table"),
        ("show on-time by day for the last week", "#chat-answers .js-plotly-plot"),
    ):
        page.locator("#chat-input textarea").fill(question)
        page.locator("#chat-send").click()
        page.locator(ready).last.wait_for(timeout=WAIT_MS)
    chat.get_by_text("per day from").wait_for(timeout=WAIT_MS)
    time.sleep(1.5)
    _shoot(page, path)
    page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, default=Path("worlds/demo"))
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    arguments = parser.parse_args()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("GRADIO_TEMP_DIR", tempfile.mkdtemp(prefix="cxagent-shots-"))
    from playwright.sync_api import sync_playwright

    from cxagent.web.server import resolve_world

    world = resolve_world(arguments.world if arguments.world.exists() else None)
    url, server = _serve(world)
    arguments.out.mkdir(parents=True, exist_ok=True)
    home = tempfile.mkdtemp(prefix="cxagent-shots-chromium-")
    environment = {"HOME": home, "XDG_CONFIG_HOME": home, "XDG_CACHE_HOME": home}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, env=environment
        )
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(url)
        page.locator("#dashboard-trend .js-plotly-plot").wait_for(timeout=WAIT_MS)
        _shoot(page, arguments.out / "1_dashboard.png")

        page.get_by_role("tab", name="Chat").click()
        page.locator("#chat-input textarea").fill("why did CX drop on Jan 4?")
        page.locator("#chat-send").click()
        chat = page.locator("#chat-answers")
        chat.get_by_text("Most likely cause").wait_for(timeout=WAIT_MS)
        page.locator('#chat-answers a[href="#evidence-E4"]').first.click()
        page.locator("#evidence-view strong", has_text="E4").first.wait_for(timeout=WAIT_MS)
        _shoot(page, arguments.out / "2_chat.png")
        chat.get_by_role("button", name=re.compile("Step: gather evidence")).click()
        step = chat.get_by_role("button", name=re.compile(r"E\d+ · driver_shift")).first
        step.click()
        chat.get_by_role("cell", name="relative_change").first.wait_for(timeout=WAIT_MS)
        step.evaluate("node => node.scrollIntoView({block: 'start'})")
        time.sleep(0.5)
        _shoot(page, arguments.out / "2b_chat_tool_call.png")

        _chat_kinds(browser, url, arguments.out / "2c_chat_kinds.png")

        for label, (name, ready) in TABS.items():
            page.get_by_role("tab", name=label).click()
            page.locator(ready).first.wait_for(timeout=WAIT_MS)
            time.sleep(0.5)  # let plotly finish laying out
            page.evaluate("window.scrollTo(0, 0)")
            _shoot(page, arguments.out / f"{name}.png")
        browser.close()
    server.should_exit = True


if __name__ == "__main__":
    main()
