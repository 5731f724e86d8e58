"""A scripted OpenAI-compatible chat server on loopback, for tests that run the real client:
each POST to /v1/chat/completions gets the next scripted reply (a chat.completion, an HTTP error
or a stall past the client's timeout); every request body is kept for inspection."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def completion(
    message: dict[str, Any], prompt_tokens: int = 100, completion_tokens: int = 50
) -> dict:
    """A chat.completion body holding `message`."""
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 1767225600,
        "model": "scripted",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def calls(*requests: tuple[str, dict[str, Any] | str], **usage: int) -> dict:
    """The model calls tools: (name, arguments) pairs; a str argument is sent as is (malformed)."""
    tool_calls = [
        {
            "id": f"call_{index}",
            "type": "function",
            "function": {
                "name": name,
                "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
            },
        }
        for index, (name, arguments) in enumerate(requests, start=1)
    ]
    return completion({"role": "assistant", "content": None, "tool_calls": tool_calls}, **usage)


def says(text: str, **usage: int) -> dict:
    """The model answers in text."""
    return completion({"role": "assistant", "content": text}, **usage)


def refuses(reason: str) -> dict:
    return completion({"role": "assistant", "content": None, "refusal": reason})


@dataclass
class Reply:
    """One scripted reply: a body, an HTTP status, or a stall of `delay` seconds first."""

    body: dict[str, Any] | None = None
    status: int = 200
    delay: float = 0.0


@dataclass
class ScriptedLLM:
    """The server's script and what it received."""

    url: str
    replies: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def play(self, *replies: dict | Reply) -> None:
        """Queue replies (bodies or Reply objects), served in order."""
        self.replies.extend(r if isinstance(r, Reply) else Reply(body=r) for r in replies)

    @property
    def unplayed(self) -> int:
        return len(self.replies)


@contextmanager
def scripted_llm() -> Iterator[ScriptedLLM]:
    """Serve a ScriptedLLM on 127.0.0.1 (a free port) for the duration of the block."""
    state = ScriptedLLM(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            with lock:
                state.requests.append(body)
                reply = state.replies.pop(0) if state.replies else Reply(status=500)
            if reply.delay:
                time.sleep(reply.delay)
            payload = json.dumps(reply.body or {"error": {"message": "scripted error"}}).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
