"""What every tab gets from the page around it: the workbench, the incident picker above the
tabs, the state naming the tab in view, and the wiring that makes a tab follow the picker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from cxagent.web.workbench import UnknownIncident, Workbench

# Views that show data render no LaTeX: the app writes none, and `$$...$$` in a store's name
# would otherwise be typeset (Gradio finds it before parsing the Markdown).
NO_LATEX: list[dict[str, str | bool]] = []
NO_INCIDENT = "No incident detected."


@dataclass(frozen=True)
class Page:
    """The page a tab is built into (inside the open gr.Blocks and gr.Tabs)."""

    workbench: Workbench
    incident_pick: gr.Dropdown
    """The incident the incident, cause, action, plan and PM tabs show."""
    active: gr.State
    """The id of the tab in view: only that tab re-renders when the incident changes."""
    eval_button: bool
    """Whether the Evals tab may start the suite (minutes of CPU) from the page."""

    def track(self, tab: gr.Tab, name: str) -> None:
        """Record `name` as the tab in view when `tab` is selected."""
        tab.select(lambda: name, None, self.active)

    def follow_incident(
        self,
        tab: gr.Tab,
        name: str,
        render: Callable[..., tuple[Any, ...]],
        inputs: list[Any],
        outputs: list[Any],
    ) -> None:
        """Render `tab` with `render(*inputs)` when it is selected, and again when the incident
        changes while it is in view (a hidden tab waits until it is selected)."""
        tab.select(lambda: name, None, self.active).then(render, inputs, outputs)
        self.incident_pick.change(
            _when_active(name, render, len(outputs)), [self.active, *inputs], outputs
        )


def _when_active(
    name: str, render: Callable[..., tuple[Any, ...]], outputs: int
) -> Callable[..., tuple[Any, ...]]:
    """Re-render a tab on an incident change only if it is the tab in view."""

    def run(active: str, *inputs: Any) -> tuple[Any, ...]:
        if active != name:
            return tuple(gr.skip() for _ in range(outputs))
        try:
            return render(*inputs)
        except UnknownIncident as error:
            raise gr.Error(str(error)) from None

    return run
