"""What stands between the network and the workbench: the trusted-host check, the auth token,
request size limits, the concurrency limit on costly calls, JSON errors for the REST API, and
405/HEAD as HTTP says. One pure ASGI middleware (it never buffers a streamed answer) plus the
exception handlers; settings from CXAGENT_* variables (ServeSettings)."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import math
import re
import socket
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match, Route

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOG = logging.getLogger("cxagent.web")
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
TOKEN_COOKIE = "cxagent_token"
TOKEN_PARAMETER = "token"
API_PREFIX = "/api"
# Calls that may run a diagnosis or a simulation (seconds of CPU each; a new feedback's judged
# cause defaults to the top cause), by method; cached answers return at once but still hold a
# slot for those milliseconds.
COSTLY_CALLS: tuple[tuple[frozenset[str], re.Pattern[str]], ...] = (
    (frozenset({"GET", "POST"}), re.compile(r"^/api/(ask|rca/|recommendations/|plan/|summary/)")),
    (frozenset({"POST"}), re.compile(r"^/api/incidents/[^/]+/feedback$")),
)


def is_costly(method: str, path: str) -> bool:
    """Whether a request may run a diagnosis or a simulation (it takes a slot)."""
    return any(method in methods and pattern.match(path) for methods, pattern in COSTLY_CALLS)


class ServeSettings(BaseSettings):
    """CXAGENT_* variables for serving (documented in the README and SECURITY.md)."""

    model_config = SettingsConfigDict(env_prefix="CXAGENT_", extra="ignore")

    token: SecretStr | None = Field(
        default=None, description="Required from every client when set; needed beyond loopback."
    )
    allowed_hosts: str = Field(
        default="", description="Comma-separated extra Host names the server answers to."
    )
    max_body_bytes: int = Field(default=2_000_000, ge=1_000, le=100_000_000)
    max_concurrent_asks: int = Field(default=2, ge=1, le=64)
    ask_queue_wait_s: float = Field(default=10.0, ge=0, le=600)
    eval_button: bool | None = Field(
        default=None, description="The Evals tab's run button; default: on loopback only."
    )


def is_loopback(host: str) -> bool:
    """Whether a bind address or Host name stays on this machine."""
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    return host.strip("[]") in ("0.0.0.0", "::", "")


class ServeConfigError(ValueError):
    """Serving as asked would be unsafe or cannot work; the message says what to set."""


def check_serving(host: str, settings: ServeSettings) -> None:
    """Refuse to serve beyond loopback without a token (anyone who can reach the port could run
    the agent and read the data)."""
    if not is_loopback(host) and settings.token is None:
        raise ServeConfigError(
            f"serving on {host} reaches beyond this machine: set CXAGENT_TOKEN to a secret "
            "(e.g. the output of `python -c 'import secrets; print(secrets.token_urlsafe())'`) "
            "and give it to your users, or serve on 127.0.0.1 (see SECURITY.md)"
        )
    if settings.token is not None and len(settings.token.get_secret_value()) < 16:
        raise ServeConfigError("CXAGENT_TOKEN is too short: use at least 16 characters")


def eval_button_shown(host: str, settings: ServeSettings) -> bool:
    """The Evals tab may start the suite: as set, else only when serving on loopback."""
    return is_loopback(host) if settings.eval_button is None else settings.eval_button


def allowed_host_names(host: str, settings: ServeSettings) -> frozenset[str]:
    """Host header names answered: loopback names, the bind address, this machine's names when
    bound to every interface, and CXAGENT_ALLOWED_HOSTS. Any other Host (DNS rebinding) is
    refused."""
    names = set(LOOPBACK_NAMES)
    bind = host.strip("[]").lower()
    if is_wildcard(host):
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    elif bind:
        names.add(bind)
    names |= {name.strip().lower() for name in settings.allowed_hosts.split(",") if name.strip()}
    return frozenset(names)


def _host_name(value: str) -> str:
    """A Host header without its port ('[::1]:7860' -> '::1')."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def error_body(status: int, message: str, **extra: Any) -> bytes:
    return json.dumps({"detail": message, "status": status, **extra}).encode()


async def send_error(
    send: Send, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> None:
    """A JSON error response, sent straight from the middleware."""
    body = error_body(status, message, **extra)
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((key.lower().encode(), value.encode()) for key, value in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class AskSlots:
    """At most `limit` costly calls at once; a caller waits up to `wait_s` for a slot, then is
    told when to retry (from the recent mean duration of a call)."""

    def __init__(self, limit: int, wait_s: float) -> None:
        self.limit = limit
        self.wait_s = wait_s
        self.semaphore = asyncio.Semaphore(limit)
        self.mean_seconds = 2.0
        self.waiting = 0

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the calls ahead (running and waiting) times the
        recent mean duration of a call, over the slots."""
        ahead = self.limit + self.waiting
        return max(1, math.ceil(self.mean_seconds * ahead / self.limit))

    def record(self, seconds: float) -> None:
        self.mean_seconds = 0.8 * self.mean_seconds + 0.2 * seconds


class Guard:
    """The ASGI middleware in front of the whole app (REST API and Gradio UI alike)."""

    def __init__(
        self,
        app: ASGIApp,
        settings: ServeSettings,
        hosts: frozenset[str],
        api_routes: Sequence[BaseRoute],
    ) -> None:
        self.app = app
        self.settings = settings
        self.hosts = hosts
        self.api_routes = [route for route in api_routes if isinstance(route, Route)]
        self.slots = AskSlots(settings.max_concurrent_asks, settings.ask_queue_wait_s)
        self.token = settings.token.get_secret_value().encode() if settings.token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value for key, value in scope["headers"]}
        host = _host_name(headers.get("host", b"").decode("latin-1"))
        if host not in self.hosts:
            if scope["type"] == "http":
                await send_error(send, 400, "this server does not answer to that Host name")
            return
        if self.token is not None and not self._authorized(scope, headers):
            if scope["type"] == "http":
                await self._unauthorized(scope, send)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        length = headers.get("content-length")
        if length is not None and (
            not length.isdigit() or int(length) > self.settings.max_body_bytes
        ):
            await send_error(send, 413, self._too_large())
            return
        path = scope["path"]
        if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            refusal = self._route_refusal(scope)
            if refusal is not None:
                status, message, allowed = refusal
                allow = {"Allow": ", ".join(allowed)} if allowed else None
                await send_error(send, status, message, headers=allow)
                return
        head = scope["method"] == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}
            send = _without_body(send)
        if length is None and scope["method"] in ("POST", "PUT", "PATCH"):
            body = await self._read_capped(receive)
            if body is None:
                await send_error(send, 413, self._too_large())
                return
            receive = _replay(body, receive)
        if is_costly(scope["method"], path):
            await self._costly(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _authorized(self, scope: Scope, headers: dict[str, bytes]) -> bool:
        assert self.token is not None
        offered: list[bytes] = []
        authorization = headers.get("authorization", b"")
        if authorization[:7].lower() == b"bearer ":
            offered.append(authorization[7:].strip())
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", b"").decode("latin-1"))
        except Exception:  # noqa: BLE001  (a malformed cookie header is no credential)
            cookie = SimpleCookie()
        if TOKEN_COOKIE in cookie:
            offered.append(cookie[TOKEN_COOKIE].value.encode())
        for key, value in parse_qsl(scope.get("query_string", b"").decode("latin-1")):
            if key == TOKEN_PARAMETER:
                offered.append(value.encode())
        return any(hmac.compare_digest(candidate, self.token) for candidate in offered)

    async def _unauthorized(self, scope: Scope, send: Send) -> None:
        await send_error(
            send, 401,
            "authentication required: send `Authorization: Bearer <CXAGENT_TOKEN>`, or open "
            "the page once as /?token=<CXAGENT_TOKEN>",
            headers={"WWW-Authenticate": 'Bearer realm="cx-agent"'},
        )  # fmt: skip

    def _route_refusal(self, scope: Scope) -> tuple[int, str, list[str]] | None:
        """404 for an unknown /api path (not Gradio's page), 405 with Allow for a known path
        asked with a method it does not take."""
        allowed: set[str] = set()
        for route in self.api_routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return None
            if match is Match.PARTIAL:
                allowed |= route.methods or set()
        if not allowed:
            return 404, f"no API route {scope['path']}; see /docs", []
        if scope["method"] == "HEAD" and "GET" in allowed:
            return None
        methods = sorted(allowed | ({"HEAD"} if "GET" in allowed else set()))
        return 405, f"{scope['method']} is not allowed here; allowed: {', '.join(methods)}", methods

    def _too_large(self) -> str:
        return f"the request body is larger than {self.settings.max_body_bytes} bytes"

    async def _read_capped(self, receive: Receive) -> bytes | None:
        """A body sent without Content-Length (chunked), read up to the limit; None beyond."""
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.settings.max_body_bytes:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def _costly(self, scope: Scope, receive: Receive, send: Send) -> None:
        slots = self.slots
        slots.waiting += 1
        try:
            await asyncio.wait_for(slots.semaphore.acquire(), timeout=slots.wait_s or 0.001)
            acquired = True
        except TimeoutError:
            acquired = False
        finally:
            slots.waiting -= 1
        if not acquired:
            retry = slots.retry_after()
            await send_error(
                send, 429,
                f"busy: {slots.limit} questions are being answered; retry in {retry} s",
                headers={"Retry-After": str(retry)}, retry_after_s=retry,
            )  # fmt: skip
            return
        began = time.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            slots.semaphore.release()
            slots.record(time.monotonic() - began)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read already, handed on as one message; then the connection's own messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _without_body(send: Send) -> Send:
    """HEAD: the GET's status and headers, no body."""

    async def headless(message: Message) -> None:
        if message["type"] == "http.response.body":
            if not message.get("more_body", False):
                await send({"type": "http.response.body", "body": b""})
            return
        await send(message)

    return headless


def token_landing(settings: ServeSettings) -> Callable[[Request], Any] | None:
    """A page opened as /?token=... stores the token in an HttpOnly cookie and drops it from
    the address bar (so it is not left in the history or sent on as a Referer)."""
    if settings.token is None:
        return None

    async def landing(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        if TOKEN_PARAMETER not in request.query_params or request.method != "GET":
            return await call_next(request)
        from starlette.responses import RedirectResponse

        kept = [(k, v) for k, v in request.query_params.multi_items() if k != TOKEN_PARAMETER]
        target = request.url.path + (f"?{urlencode(kept)}" if kept else "")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            TOKEN_COOKIE,
            request.query_params[TOKEN_PARAMETER],
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    return landing


def install_error_handlers(app: FastAPI) -> None:
    """Every REST error is JSON ({"detail", "status"}, FastAPI's shape); a validation error
    lists what is wrong (type, loc, msg) without echoing the request; an unexpected failure is
    logged here, not sent."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": error.detail, "status": error.status_code},
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [
            {key: problem[key] for key in ("type", "loc", "msg") if key in problem}
            for problem in error.errors()[:20]
        ]
        return JSONResponse(jsonable_encoder({"detail": problems, "status": 422}), status_code=422)

    @app.exception_handler(Exception)
    async def failed(request: Request, error: Exception) -> JSONResponse:
        LOG.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"detail": "internal error; the server log has the details", "status": 500},
            status_code=500,
        )
