"""The Evals tab: the last report of the seeded scenario suite (`cxagent eval`), and on a
server that allows it (Page.eval_button) a button that runs the suite."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tempfile
from pathlib import Path

import gradio as gr

from cxagent.web.escaping import code_block, markdown_answer
from cxagent.web.tabs.page import NO_LATEX, Page

EVAL_TIMEOUT_S = 3600
EVALS_GATED = (
    "The suite is started from a terminal here (`cxagent eval`): this server is reachable "
    "beyond this machine, so the page does not offer minutes of CPU to every visitor "
    "(CXAGENT_EVAL_BUTTON=true offers it). The last report it wrote shows below."
)
EXIT_VERDICTS = {0: "every scenario met its expected findings", 1: "some scenarios missed"}


def build(page: Page) -> None:
    """Lay the Evals tab out: the run button only when `page.eval_button` (else no event or
    API endpoint can start the suite)."""
    with gr.Tab("Evals", id="evals") as tab:
        if page.eval_button:
            gr.Markdown("Runs the seeded scenario suite (`cxagent eval`); takes minutes.")
            run_button = gr.Button("Run the suite", elem_id="evals-run")
        else:
            gr.Markdown(EVALS_GATED)
        status = gr.Markdown(elem_id="evals-status", latex_delimiters=NO_LATEX)
    tab.select(evals_status, None, status)
    if page.eval_button:
        run_button.click(run_evals, None, status, concurrency_limit=1)


def last_eval_report() -> Path | None:
    """The Markdown report `cxagent eval` wrote last to its default place, if any."""
    from evals.worlds import DEFAULT_CACHE  # loads the world generator: only once opened

    report = DEFAULT_CACHE / "report-suite.md"
    return report if report.is_file() else None


def evals_status() -> str:
    """The last report with its time, or how to get one."""
    report = last_eval_report()
    if report is None:
        return "Ready: **Run the suite** calls `cxagent eval` and shows its report."
    when = dt.datetime.fromtimestamp(report.stat().st_mtime)
    return f"*Last run, {when:%Y-%m-%d %H:%M}:*\n\n" + markdown_answer(report.read_text())


def run_evals() -> str:
    """Run `cxagent eval` in a subprocess; returns its verdict and report (or its output)."""
    with tempfile.TemporaryDirectory() as folder:
        json_path, markdown_path = Path(folder) / "eval.json", Path(folder) / "eval.md"
        done = subprocess.run(
            [sys.executable, "-m", "cxagent", "eval", "--json", str(json_path),
             "--markdown", str(markdown_path)],
            capture_output=True, text=True, timeout=EVAL_TIMEOUT_S, check=False,
        )  # fmt: skip
        report = markdown_path.read_text() if markdown_path.is_file() else ""
    status = EXIT_VERDICTS.get(done.returncode, f"failed (exit {done.returncode})")
    if report:
        return f"`cxagent eval`: {status}.\n\n{markdown_answer(report)}"
    output = (done.stdout + done.stderr)[-6000:]
    return f"`cxagent eval`: {status}.\n\n{code_block(output, 'text')}"
