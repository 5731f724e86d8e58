"""The Chat tab: questions to the agent with its tool-call steps as they complete, example
chips, the experiment plan's download and the evidence inspector for cited items."""

from __future__ import annotations

import uuid
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from cxagent.web.chat import (
    answer_messages,
    evidence_markdown,
    example_questions,
    progress_messages,
)
from cxagent.web.escaping import code_span, markdown_text
from cxagent.web.tabs.page import NO_LATEX, Page
from cxagent.web.workbench import Workbench
from tools.base import ToolError

WORKING = "reading the question, then calling the typed tools and citing their figures"


def build(page: Page) -> None:
    """Lay the Chat tab out: the conversation on the left, plan and evidence on the right."""
    handlers = ChatHandlers(page.workbench)
    examples = example_questions(page.workbench.overview())
    with gr.Tab("Chat", id="chat") as tab, gr.Row():
        session = gr.State({})  # this browser's thread, turn and cited evidence
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(label="Agent", elem_id="chat-answers", height=600,
                                 buttons=["copy"], latex_delimiters=NO_LATEX)  # fmt: skip
            with gr.Row():
                question = gr.Textbox(placeholder=f"Ask: {examples[0]}", show_label=False,
                                      scale=5, elem_id="chat-input")  # fmt: skip
                send = gr.Button("Ask", variant="primary", scale=1, elem_id="chat-send")
            chips = gr.Dataset(
                components=[question],
                samples=[[example] for example in examples],
                samples_per_page=len(examples),
                label="Try (click to ask)",
                elem_id="chat-examples",
            )
        with gr.Column(scale=2):
            plan_download = gr.DownloadButton(
                "Download experiment plan (.md)", visible=False, elem_id="chat-plan-download"
            )
            evidence_id = gr.Textbox(
                label="Evidence inspector (click a citation, or type an id)", elem_id="evidence-id"
            )
            evidence_open = gr.Button("Open", elem_id="evidence-open", size="sm")
            evidence_view = gr.Markdown("Citations like [E3] in an answer open here.",
                                        elem_id="evidence-view", elem_classes="evidence-view",
                                        latex_delimiters=NO_LATEX)  # fmt: skip
    outputs = [chatbot, question, session, plan_download]
    question.submit(handlers.respond, [question, chatbot, session], outputs)
    send.click(handlers.respond, [question, chatbot, session], outputs)
    chips.click(handlers.ask_example, [chips, chatbot, session], outputs)
    evidence_open.click(handlers.open_evidence, [evidence_id, session], evidence_view)
    evidence_id.submit(handlers.open_evidence, [evidence_id, session], evidence_view)
    page.track(tab, "chat")


@dataclass(frozen=True)
class ChatHandlers:
    """The Chat tab's handlers over one workbench; each browser session keeps its own thread
    and the evidence its answers cited."""

    workbench: Workbench

    def respond(
        self, message: str, history: list[Any], session: dict[str, Any]
    ) -> Generator[tuple[Any, ...], None, None]:
        """Stream the agent's answer: the question, each node's step as it completes, then the
        answer (and the plan's download when it wrote one)."""
        message = (message or "").strip()
        if not message:
            yield history, "", session, gr.skip()
            return
        session = dict(session or {})
        thread = session.setdefault("thread", uuid.uuid4().hex)
        turn = session.get("turn", 0) + 1
        asked = "\n".join(map(markdown_text, message.splitlines()))  # shown as typed
        history = [*(history or []), gr.ChatMessage(role="user", content=asked)]
        pending = gr.ChatMessage(
            role="assistant", content=WORKING, metadata={"title": "Working…", "status": "pending"}
        )
        yield [*history, pending], "", session, gr.skip()
        steps: list[dict[str, Any]] = []
        result: dict[str, Any] = {}
        try:
            for event in self.workbench.ask_stream(message, thread):
                if "step" in event:
                    steps.append(event["step"])
                    yield [*history, *progress_messages(steps, turn)], "", session, gr.skip()
                else:
                    result = event["result"]
        except (ValueError, ToolError) as error:
            answer = f"I could not answer: {markdown_text(error)}"
            history.append(gr.ChatMessage(role="assistant", content=answer))
            yield history, "", session, gr.skip()
            return
        session.update(turn=turn, evidence={e["id"]: e for e in result.get("evidence", [])})
        download: Any = gr.skip()
        if result.get("experiment_plan"):
            path = self.workbench.export("experiment_plan.md", result["experiment_plan"])
            download = gr.DownloadButton(value=str(path), visible=True)
        yield [*history, *answer_messages(result, turn)], "", session, download

    def ask_example(
        self, sample: list[str], history: list[Any], session: dict[str, Any]
    ) -> Generator[tuple[Any, ...], None, None]:
        """Ask a clicked example chip's question."""
        yield from self.respond(sample[0] if sample else "", history, session)

    def open_evidence(self, evidence_id: str, session: dict[str, Any]) -> str:
        """An evidence item this conversation's answers cited, as Markdown."""
        key = (evidence_id or "").strip().upper()
        item = (session or {}).get("evidence", {}).get(key)
        if item is None:
            return f"No evidence item {code_span(key or '?')} in this conversation yet."
        return evidence_markdown(item)
