"""The workbench page is composed from its tab registry (cxagent.web.ui.TABS), and the web
layer stands apart from the CLI that starts it."""

from __future__ import annotations

import ast
from pathlib import Path

import gradio as gr
from gradio.utils import get_type_hints

from agent.settings import AgentSettings
from cxagent.web.tabs.incident import IncidentHandlers
from cxagent.web.ui import TABS, build_ui
from cxagent.web.workbench import Workbench

REPO = Path(__file__).resolve().parents[2]


def test_the_page_has_one_tab_per_registry_entry_and_opens_on_the_dashboard(
    app_world: Path,
) -> None:
    workbench = Workbench(app_world, AgentSettings(llm="offline"))
    try:
        blocks = build_ui(workbench)
        tabs = [block for block in blocks.blocks.values() if isinstance(block, gr.Tab)]

        assert len(tabs) == len(TABS)
        assert tabs[0].label == "Dashboard"
        assert len({tab.id for tab in tabs}) == len(tabs)  # a tab is found by a unique id
    finally:
        workbench.close()


def test_the_slice_click_handler_asks_gradio_for_the_select_event() -> None:
    """Gradio passes the clicked row only to a handler whose type hints ask for it (a handler
    wrapped in functools.partial would lose them, and every click would drill into nothing)."""
    assert get_type_hints(IncidentHandlers.pick_slice)["event"] is gr.SelectData


def test_no_web_module_imports_the_cli() -> None:
    """cxagent.cli starts the server; a web module importing the CLI back, even inside a
    function, made the cycle cli -> web.server -> web.ui -> cli."""
    importers = []
    for path in sorted((REPO / "cxagent" / "web").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                names = [module, *(f"{module}.{alias.name}" for alias in node.names)]
            else:
                continue
            if any(name == "cxagent.cli" or name.startswith("cxagent.cli.") for name in names):
                importers.append(f"{path.relative_to(REPO)}:{node.lineno}")

    assert importers == []
