"""Text from the data printed by the command line carries no terminal control: a change log
whose names hold escape sequences (clear the screen, retitle the window, hide text) is listed
with the sequences removed, by a real `cxagent ask` process."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from rich.table import Table

from cxagent.terminal import SafeConsole, strip_controls
from data.scenario import Scenario
from data.warehouse import build_warehouse

ScenarioFactory = Callable[..., Scenario]
WorldFactory = Callable[[Scenario], Path]
HOSTILE = "menu\x1b[2J\x1b]0;pwned\x07_sync\x1b[8mhidden\x1b[0m\x9b31m\x07\x08"


def test_escape_sequences_and_controls_are_removed_and_text_is_kept() -> None:
    assert strip_controls(HOSTILE) == "menu_synchidden"
    assert strip_controls("tab\tand\nnewline stay; é and 中 too") == (
        "tab\tand\nnewline stay; é and 中 too"
    )


def test_the_console_drops_data_controls_but_keeps_its_own_styles() -> None:
    buffer = io.StringIO()
    console = SafeConsole(file=buffer, force_terminal=True, color_system="standard", width=80)
    table = Table("change")
    table.add_row(HOSTILE)
    console.print(f"[bold]changes[/] {HOSTILE}")
    console.print(table)

    printed = buffer.getvalue()
    assert "\x1b[1m" in printed  # the console's own bold
    for sequence in ("\x1b[2J", "\x1b]0;", "\x07", "\x08", "\x9b", "\x1b[8m"):
        assert sequence not in printed
    assert printed.count("menu_synchidden") == 2


def test_cxagent_ask_prints_a_hostile_change_log_without_its_controls(
    small_scenario: ScenarioFactory, make_world: WorldFactory, tmp_path: Path
) -> None:
    world = Path(shutil.copytree(make_world(small_scenario("demo")), tmp_path / "world"))
    changes = pd.read_parquet(world / "changes.parquet")
    changes["name"] = changes["name"].where(changes.index != 0, HOSTILE)
    changes["description"] = HOSTILE
    changes.to_parquet(world / "changes.parquet", index=False)
    build_warehouse(world)
    day = pd.Timestamp(changes["change_time"].iloc[0]).strftime("%b %-d")

    finished = subprocess.run(
        [sys.executable, "-m", "cxagent", "ask", f"what changed on {day}?", "--world", str(world)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    assert finished.returncode == 0, finished.stderr
    assert "menu_synchidden" in finished.stdout
    for control in ("\x1b", "\x07", "\x08", "\x9b"):
        assert control not in finished.stdout
