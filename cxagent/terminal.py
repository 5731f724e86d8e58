"""Printing to a terminal safely: data (store names, categories, answers quoting them) may hold
escape sequences that would move the cursor, retitle the window or hide text. SafeConsole is a
rich Console that drops control characters from every text it prints while keeping its own
styles and cursor controls."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.segment import Segment
from rich.text import Text

# An escape sequence whole (CSI with its parameters, OSC up to its terminator, two-byte ESC
# forms), then any other C0 control but tab and newline, DEL and the C1 controls.
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI ... final byte
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC ... BEL or ST
    r"|\x1b[@-Z\\-_]"  # two-byte sequences
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_controls(text: str) -> str:
    """The text without escape sequences and control characters (tab and newline kept)."""
    return _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text))


class SafeConsole(Console):
    """A Console whose printed text carries no control characters from the data: strings are
    cleaned before markup and highlighting see them (render_str), and every text segment once
    more on output (for Text built elsewhere, e.g. by Markdown)."""

    def render_str(self, text: str, **options: Any) -> Text:
        return super().render_str(strip_controls(text), **options)

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        return super()._render_buffer(
            segment if segment.control else Segment(strip_controls(segment.text), segment.style)
            for segment in buffer
        )
