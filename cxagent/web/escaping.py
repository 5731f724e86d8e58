"""Text from the data made inert where the workbench shows it: escaped, not sanitized, so a store
named `<img src=x>` reads as exactly that and creates no element, link or formatting.

- `markdown_text`: a data value inside the app's own Markdown (chat, tabs, the PM brief).
- `markdown_answer`: Markdown that the agent or a tool wrote around data values (answers, the
  RCA report, plans): its HTML, links, images and bare URLs become text, its formatting stays.
- `code_span` / `code_block`: text shown as code, in fences that the text cannot close.
- `plotly_text`: titles, labels and hover text of Plotly figures (which render some HTML tags).
"""

from __future__ import annotations

import html
import re

# Inline Markdown in a data value, each shown literally after a backslash (CommonMark "backslash
# escapes"): emphasis, code, links, table pipes, strikethrough, $$ LaTeX, and what GFM autolinks
# (`http://`, `www.`, e-mail). An underscore between two letters or digits is left as is:
# it cannot start emphasis, and `on_time_rate` stays readable in exported briefs.
_INLINE = re.compile(r"[\\`*\[\]|~$@]|_(?![^\W_])|(?<![^\W_])_|:(?=//)|(?<=www)\.", re.IGNORECASE)
# A value that begins a line could start a heading, a list, a rule or a setext underline.
_BLOCK_START = re.compile(r"^(?=#{1,6}(?:\s|$)|[-+](?:\s|$)|=+\s*$|(?:-\s*){3,}$)")
_ORDERED_ITEM = re.compile(r"^(\d{1,9})(?=[.)](?:\s|$))")
_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")

# Code blocks of tool or agent Markdown: an opening fence (up to 3 spaces, 3+ backticks or
# tildes, an info string) and the lines up to its closing fence or the end of the text.
_FENCE = re.compile(r"^ {0,3}(`{3,}(?=[^`]*$)|~{3,})[ \t]*([^\s`]*)")
# Inline code spans: a backtick run not escaped, up to the next run of the same length, within
# one paragraph.
_CODE_SPAN = re.compile(r"(?<![\\`])(`+)(?!`)((?:(?!\n[ \t]*\n).)+?)(?<!`)\1(?!`)", re.DOTALL)
# Link and image destinations `](`, link reference definitions `[x]: url` and the bare URLs
# and addresses GFM autolinks: written as text in tool and agent Markdown.
_LINK_SYNTAX = re.compile(
    r"\](?=\()|^ {0,3}\[(?=[^\]\n]*\]:)|:(?=//)|(?<=www)\.|@", re.IGNORECASE | re.MULTILINE
)


def markdown_text(value: object) -> str:
    """A data value as Markdown that renders as exactly its text, on one line.

    >>> markdown_text('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror="alert(1)"&gt;'
    >>> markdown_text("[click](http://evil.example) **loud** on_time_rate")
    '\\\\[click\\\\](http\\\\://evil.example) \\\\*\\\\*loud\\\\*\\\\* on_time_rate'
    """
    text = _LINE_BREAKS.sub(" ", str(value)).lstrip()
    text = _INLINE.sub(lambda match: "\\" + match[0], text)
    text = _ORDERED_ITEM.sub(r"\1\\", _BLOCK_START.sub("\\\\", text))
    return html.escape(text, quote=False)


def code_span(text: str) -> str:
    """`text` as inline code, between backtick runs longer than any inside it."""
    fence = "`" * (max(map(len, re.findall(r"`+", text)), default=0) + 1)
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def code_block(text: str, language: str = "") -> str:
    """`text` as a fenced code block whose fence is longer than any backtick run inside it."""
    fence = "`" * max(3, max(map(len, re.findall(r"`+", text)), default=0) + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def markdown_answer(markdown: str) -> str:
    """Markdown that the agent or a tool wrote, with data values inside it, made safe to render.

    Its prose keeps its formatting (bold, tables, lists, citations like [E3]); HTML in it is
    escaped, and links, images and bare URLs read as text. Code blocks (the SQL that ran) are
    fenced anew so that nothing inside can close them; code is shown literally by the renderer.

    >>> markdown_answer("**north<img src=x>** ![t](http://evil.example) [E1]")
    '**north&lt;img src=x&gt;** ![t\\\\](http\\\\://evil.example) [E1]'
    """
    parts: list[str] = []
    prose: list[str] = []
    lines = markdown.split("\n")
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            prose.append(lines[index])
            index += 1
            continue
        marker, language = opening.groups()
        closing = re.compile(rf"^ {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}[ \t]*$")
        end = next((k for k in range(index + 1, len(lines)) if closing.match(lines[k])), None)
        code = lines[index + 1 : len(lines) if end is None else end]
        parts += [_prose("\n".join(prose)), code_block("\n".join(code), language)]
        prose = []
        index = len(lines) if end is None else end + 1
    parts.append(_prose("\n".join(prose)))
    return "\n".join(part for part in parts if part)


def _prose(markdown: str) -> str:
    """Markdown without code blocks: HTML and link syntax escaped outside its code spans."""
    pieces, start = [], 0
    for span in _CODE_SPAN.finditer(markdown):
        pieces += [_inert(markdown[start : span.start()]), span[0]]
        start = span.end()
    pieces.append(_inert(markdown[start:]))
    return "".join(pieces)


def _inert(markdown: str) -> str:
    """Prose with its HTML escaped and a backslash before each match's last character."""
    escaped = html.escape(markdown, quote=False)
    return _LINK_SYNTAX.sub(lambda match: f"{match[0][:-1]}\\{match[0][-1]}", escaped)


def plotly_text(value: object) -> str:
    """Text for a Plotly title, label, tick or hover: `<`, `>` and `&` as entities, since Plotly
    renders tags such as <a>, <b> and <span style> in text and decodes entities for display."""
    return html.escape(str(value), quote=False)
