"""Fixtures for alert delivery: a real HTTP receiver and a real SMTP server on loopback, and
alerts made to order."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from watching.alert import Alert, SimilarIncident

AlertFactory = Callable[..., Alert]


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records POSTs; `fail_next` answers that many with 500."""

    url: str
    requests: list[Received] = field(default_factory=list)
    fail_next: int = 0
    status_after_failures: int = 200
    delay_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted(self) -> list[Received]:
        """The requests answered with success."""
        return [r for r in self.requests if r.headers.get("x-answered") == "200"]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length)
            with receiver.lock:
                status = 500 if receiver.fail_next > 0 else receiver.status_after_failures
                receiver.fail_next = max(receiver.fail_next - 1, 0)
                headers = {k.lower(): v for k, v in self.headers.items()}
                headers["x-answered"] = str(status)
                receiver.requests.append(Received(self.path, headers, json.loads(raw)))
            time.sleep(receiver.delay_seconds)
            body = b"ok" if status == 200 else b"receiver down"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A live HTTP receiver on loopback, stopped after the test."""
    placeholder = Receiver(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(placeholder))
    placeholder.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield placeholder
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def webhook_file(tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A routes file with one webhook route posting to the receiver (URL in TEST_HOOK_URL)."""
    monkeypatch.setenv("TEST_HOOK_URL", receiver.url)
    path = tmp_path / "webhook-routes.yaml"
    path.write_text("routes: [{name: hook, kind: webhook, url_env: TEST_HOOK_URL}]\n")
    return path


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:  # noqa: N802
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    """A live SMTP server on loopback (aiosmtpd) and the mail it got."""

    host: str
    port: int
    mailbox: _Mailbox


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of asking)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def dead_url() -> str:
    """An http URL on loopback where nothing listens (connections are refused)."""
    return f"http://127.0.0.1:{_free_port()}/hook"


def _serving(**options: Any) -> Iterator[SmtpServer]:
    """An aiosmtpd server on 127.0.0.1 with `options` (Controller's), stopped afterwards."""
    mailbox = _Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port(), **options)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", controller.port, mailbox)
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """An aiosmtpd server on 127.0.0.1, stopped after the test."""
    yield from _serving()


@pytest.fixture
def smtp_tls_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """An aiosmtpd server on 127.0.0.1 that requires STARTTLS, then a login as SMTP_LOGIN; its
    self-signed certificate (for IP 127.0.0.1) is made trusted through SSL_CERT_FILE."""
    yield from _serving(
        tls_context=_trusted_tls(tmp_path, monkeypatch),
        require_starttls=True,
        authenticator=_check_login,
        auth_required=True,
    )


@pytest.fixture
def smtps_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    """An aiosmtpd server on 127.0.0.1 speaking TLS from the first byte (SMTPS), then a login
    as SMTP_LOGIN; its self-signed certificate is made trusted through SSL_CERT_FILE."""
    yield from _serving(
        ssl_context=_trusted_tls(tmp_path, monkeypatch),
        authenticator=_check_login,
        auth_required=True,
        auth_require_tls=False,  # aiosmtpd checks for STARTTLS; this whole session is TLS
    )


def _trusted_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A server TLS context with a self-signed certificate for IP 127.0.0.1, which clients of
    this test trust through SSL_CERT_FILE."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    return tls


SMTP_LOGIN = ("alerts", "smtp-s3cret")


def _check_login(
    server: object, session: object, envelope: object, mechanism: str, auth_data: Any
) -> AuthResult:
    given = (auth_data.login.decode(), auth_data.password.decode())
    # handled=False: the server answers (235 or 535) itself
    ok = isinstance(auth_data, LoginPassword) and given == SMTP_LOGIN
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_login_server() -> Iterator[SmtpServer]:
    """An aiosmtpd server on 127.0.0.1 that takes mail only after a login as SMTP_LOGIN
    (over plain SMTP)."""
    yield from _serving(authenticator=_check_login, auth_required=True, auth_require_tls=False)


T0 = dt.datetime(2026, 1, 4, 19, 0)  # test modules keep their own copy: conftest is not imported


@pytest.fixture
def make_alert() -> AlertFactory:
    """An 'opened' alert on grocery's on-time rate at T0, with any field overridden."""

    def make(**overrides: Any) -> Alert:
        fields: dict[str, Any] = {
            "event": "opened",
            "incident_id": "inc-20260104-1800-on_time_rate",
            "as_of": T0,
            "start": T0 - dt.timedelta(hours=1),
            "detected_at": T0,
            "metric": "on_time_rate",
            "metric_label": "On-time rate",
            "cohort": "category=grocery",
            "severity": 4.2,
            "severity_label": "high",
            "expected": 0.912,
            "observed": 0.784,
            "top_slice": "category=grocery, hour=18-20",
            "top_cause": "batching_threshold",
            "top_cause_title": "Batching threshold raised",
            "cause_confidence": 0.82,
            "action": "revert_batching_threshold",
            "action_title": "Revert the batching threshold",
            "cx_gain": 3.1,
            "link": "http://127.0.0.1:7860/?incident=inc-20260104-1800-on_time_rate",
            "similar": [
                SimilarIncident(
                    incident_id="inc-20251210-1800-on_time_rate",
                    start=dt.datetime(2025, 12, 10, 18),
                    reasons=["same slice", "same cause kind"],
                    top_cause="batching_threshold",
                    outcome="resolved after 30 h",
                    feedback="cause right",
                )
            ],
        }
        return Alert.model_validate({**fields, **overrides})

    return make
