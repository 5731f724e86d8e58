"""The outbox against a real HTTP receiver and a real SMTP server on loopback: what arrives,
once, when, and after failures."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from watching.delivery import Outbox, retry_delay
from watching.routes import Routes, RoutesError, load_routes

if TYPE_CHECKING:  # fixtures' types (conftest is a fixture module, not imported at run time)
    from conftest import AlertFactory, Receiver, SmtpServer

T0 = dt.datetime(2026, 1, 4, 19, 0)  # make_alert's as_of
MINUTE = dt.timedelta(minutes=1)


def routes_file(tmp_path: Path, body: str) -> Routes:
    """Routes from YAML text (dedented) written to a file, as the watcher loads them."""
    path = tmp_path / "routes.yaml"
    path.write_text(textwrap.dedent(body))
    return load_routes(path)


@pytest.fixture
def hook_routes(tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Routes:
    """One Slack and one webhook route, both posting to the receiver."""
    monkeypatch.setenv("TEST_SLACK_URL", receiver.url.replace("/hook", "/slack"))
    monkeypatch.setenv("TEST_HOOK_URL", receiver.url)
    return routes_file(
        tmp_path,
        """
        routes:
          - {name: team-slack, kind: slack, url_env: TEST_SLACK_URL}
          - {name: hook, kind: webhook, url_env: TEST_HOOK_URL}
        """,
    )


def test_slack_route_receives_block_kit_message(
    tmp_path: Path, receiver: Receiver, hook_routes: Routes, make_alert: AlertFactory
) -> None:
    outbox = Outbox.open(tmp_path / "world")
    assert outbox.enqueue([make_alert()], hook_routes, T0) == 2
    report = outbox.flush(hook_routes, T0)

    assert {(d.route, d.attempts) for d in report.sent} == {("team-slack", 1), ("hook", 1)}
    (slack,) = [r for r in receiver.requests if r.path == "/slack"]
    blocks = slack.body["blocks"]
    assert blocks[0] == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": "CX incident: On-time rate in category=grocery (high)",
            "emoji": False,
        },
    }
    texts = [f["text"] for b in blocks if b["type"] == "section" for f in b.get("fields", [])]
    texts += [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    assert "*Top slice*\ncategory=grocery, hour=18-20" in texts
    assert "*Top cause*\nBatching threshold raised (confidence 82%)" in texts
    assert "*Recommended action*\nRevert the batching threshold (CX gain +3.1 pts)" in texts
    assert "*Change*\n91.2% expected, 78.4% observed" in texts
    (context,) = [b for b in blocks if b["type"] == "context"]
    assert "inc-20251210-1800-on_time_rate (2025-12-10)" in context["elements"][0]["text"]
    (actions,) = [b for b in blocks if b["type"] == "actions"]
    assert actions["elements"][0]["url"] == make_alert().link
    assert slack.body["unfurl_links"] is False
    assert slack.headers["x-cx-alert-key"] == make_alert().key


def test_webhook_route_receives_alert_json_with_text(
    tmp_path: Path, receiver: Receiver, hook_routes: Routes, make_alert: AlertFactory
) -> None:
    outbox = Outbox.open(tmp_path / "world")
    alert = make_alert()
    outbox.enqueue([alert], hook_routes, T0)
    outbox.flush(hook_routes, T0)

    (hook,) = [r for r in receiver.requests if r.path == "/hook"]
    body = dict(hook.body)
    text = body.pop("text")
    assert body == {**alert.model_dump(mode="json"), "key": alert.key, "reminder": False}
    assert body["incident_id"] == alert.incident_id and body["cause_confidence"] == 0.82
    assert text.startswith("CX incident: On-time rate in category=grocery (high)")
    assert "Top cause: Batching threshold raised (confidence 82%)" in text
    assert hook.headers["content-type"] == "application/json"


def test_email_route_sends_subject_and_plain_body(
    tmp_path: Path, smtp_server: SmtpServer, make_alert: AlertFactory
) -> None:
    routes = routes_file(
        tmp_path,
        f"""
        routes:
          - name: oncall
            kind: email
            smtp_host: {smtp_server.host}
            smtp_port: {smtp_server.port}
            from: cx-agent@example.com
            to: [oncall@example.com, mle@example.com]
        """,
    )
    outbox = Outbox.open(tmp_path / "world")
    outbox.enqueue([make_alert()], routes, T0)
    report = outbox.flush(routes, T0)

    assert [d.route for d in report.sent] == ["oncall"]
    (message,) = smtp_server.mailbox.messages
    assert message["Subject"] == "[cx-agent] CX incident: On-time rate in category=grocery (high)"
    assert message["X-CX-Alert-Key"] == make_alert().key
    assert smtp_server.mailbox.envelopes == [
        ("cx-agent@example.com", ["oncall@example.com", "mle@example.com"])
    ]
    body = message.get_payload(decode=True).decode()
    assert "Top slice: category=grocery, hour=18-20" in body
    assert "Recommended action: Revert the batching threshold (CX gain +3.1 pts)" in body
    assert f"Open in the workbench: {make_alert().link}" in body


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_email_login_reads_its_credentials_from_the_environment(
    tmp_path: Path,
    smtp_login_server: SmtpServer,
    make_alert: AlertFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    routes = routes_file(
        tmp_path,
        f"""
        routes:
          - name: oncall
            kind: email
            smtp_host: {smtp_login_server.host}
            smtp_port: {smtp_login_server.port}
            from: cx-agent@example.com
            to: [oncall@example.com]
            username_env: TEST_SMTP_USER
            password_env: TEST_SMTP_PASSWORD
        """,
    )
    monkeypatch.setenv("TEST_SMTP_USER", "alerts")
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
    outbox = Outbox.open(tmp_path / "world")
    outbox.enqueue([make_alert()], routes, T0)
    (failure,) = outbox.flush(routes, T0).failed
    assert failure.reason.startswith("SMTP: SMTPAuthenticationError")
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "smtp-s3cret")
    assert [d.attempts for d in outbox.flush(routes, T0 + MINUTE).sent] == [2]
    assert len(smtp_login_server.mailbox.messages) == 1


# aiosmtpd warns of AUTH without STARTTLS; the SMTPS server's whole session is TLS.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize(
    ("server", "option"), [("smtp_tls_server", "starttls"), ("smtps_server", "implicit_tls")]
)
def test_email_over_tls_then_login(
    server: str,
    option: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_alert: AlertFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    smtp: SmtpServer = request.getfixturevalue(server)
    body = f"""
        routes:
          - name: oncall
            kind: email
            smtp_host: {smtp.host}
            smtp_port: {smtp.port}
            from: cx-agent@example.com
            to: [oncall@example.com]
            username_env: TEST_SMTP_USER
            password_env: TEST_SMTP_PASSWORD
            {option}: TLS
            timeout_seconds: 2
        """
    monkeypatch.setenv("TEST_SMTP_USER", "alerts")
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "smtp-s3cret")
    plain = routes_file(tmp_path, body.replace("TLS", "false"))
    outbox = Outbox.open(tmp_path / "world")
    outbox.enqueue([make_alert()], plain, T0)
    # the STARTTLS server refuses mail before STARTTLS; plain SMTP to the SMTPS port fails
    (failure,) = outbox.flush(plain, T0).failed
    assert failure.reason.startswith("SMTP: ")
    secure = routes_file(tmp_path, body.replace("TLS", "true"))
    assert [d.attempts for d in outbox.flush(secure, T0 + MINUTE).sent] == [2]
    (message,) = smtp.mailbox.messages
    assert message["To"] == "oncall@example.com"


def test_starttls_and_implicit_tls_exclude_each_other(tmp_path: Path) -> None:
    body = """
        routes:
          - name: oncall
            kind: email
            smtp_host: 127.0.0.1
            from: cx-agent@example.com
            to: [oncall@example.com]
            implicit_tls: true
            starttls: true
        """
    with pytest.raises(RoutesError, match="exclude each other"):
        routes_file(tmp_path, body)


def test_same_alert_twice_is_delivered_once(
    tmp_path: Path,
    receiver: Receiver,
    make_alert: AlertFactory,
    monkeypatch: pytest.MonkeyPatch,
    webhook_file: Path,
) -> None:
    routes = load_routes(webhook_file)
    outbox = Outbox.open(tmp_path / "world")
    assert outbox.enqueue([make_alert()], routes, T0) == 1
    assert outbox.enqueue([make_alert(as_of=T0 + MINUTE)], routes, T0 + MINUTE) == 0
    outbox.flush(routes, T0 + MINUTE)
    # the next tick sees the same incident event again: still nothing new
    assert outbox.enqueue([make_alert(as_of=T0 + 60 * MINUTE)], routes, T0 + 60 * MINUTE) == 0
    assert outbox.flush(routes, T0 + 60 * MINUTE).sent == []
    assert len(receiver.requests) == 1


def test_escalation_is_a_new_alert_but_repeats_are_not(
    tmp_path: Path,
    receiver: Receiver,
    make_alert: AlertFactory,
    monkeypatch: pytest.MonkeyPatch,
    webhook_file: Path,
) -> None:
    routes = load_routes(webhook_file)
    outbox = Outbox.open(tmp_path / "world")
    opened = make_alert(severity_label="medium")
    escalated = make_alert(event="escalated", severity_label="high")
    assert outbox.enqueue([opened, escalated, escalated], routes, T0) == 2
    outbox.flush(routes, T0)
    assert [r.body["event"] for r in receiver.requests] == ["opened", "escalated"]


def test_receiver_down_for_three_attempts_gets_the_alert_once_after_it_recovers(
    tmp_path: Path,
    receiver: Receiver,
    make_alert: AlertFactory,
    monkeypatch: pytest.MonkeyPatch,
    webhook_file: Path,
) -> None:
    routes = load_routes(webhook_file)
    receiver.fail_next = 3
    outbox = Outbox.open(tmp_path / "world")
    outbox.enqueue([make_alert()], routes, T0)

    failures, clock = [], T0
    for _ in range(3):
        report = outbox.flush(routes, clock)
        (failure,) = report.failed
        failures.append(failure)
        assert report.sent == [] and report.pending == 1
        # not due before the backoff has passed: nothing is sent, nothing attempted
        early = outbox.flush(routes, failure.next_attempt - dt.timedelta(seconds=1))
        assert early.failed == early.sent == []
        clock = failure.next_attempt

    assert [f.reason for f in failures] == ["HTTP 500: receiver down"] * 3
    assert [f.next_attempt - T0 for f in failures] == [MINUTE, 3 * MINUTE, 7 * MINUTE]
    report = outbox.flush(routes, clock)
    assert [(d.key, d.attempts) for d in report.sent] == [(make_alert().key, 4)]
    for later in range(1, 5):  # later ticks send nothing more
        assert outbox.flush(routes, clock + later * 60 * MINUTE).sent == []
    assert len(receiver.requests) == 4 and len(receiver.accepted()) == 1
    (row,) = outbox.rows()
    assert (row.status, row.attempts, row.last_error) == ("sent", 4, "HTTP 500: receiver down")


def test_unreachable_receiver_is_retried_and_nothing_raises(
    tmp_path: Path, dead_url: str, make_alert: AlertFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HOOK_URL", dead_url)
    routes = routes_file(tmp_path, "routes: [{name: hook, kind: webhook, url_env: TEST_HOOK_URL}]")
    outbox = Outbox.open(tmp_path / "world")
    outbox.enqueue([make_alert()], routes, T0)
    report = outbox.flush(routes, T0)
    (failure,) = report.failed
    assert failure.reason.startswith("ConnectError")
    assert report.errors == [] and report.pending == 1


def test_retry_delay_doubles_from_one_minute_and_is_capped_at_an_hour() -> None:
    assert [retry_delay(n) / MINUTE for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_quiet_hours_defer_the_alert_until_they_end(
    tmp_path: Path, receiver: Receiver, make_alert: AlertFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HOOK_URL", receiver.url)
    routes = routes_file(
        tmp_path,
        """
        routes:
          - {name: hook, kind: webhook, url_env: TEST_HOOK_URL, quiet_hours: "23:00-07:00"}
        """,
    )
    night = dt.datetime(2026, 1, 4, 23, 30)
    outbox = Outbox.open(tmp_path / "world")
    assert outbox.enqueue([make_alert(as_of=night)], routes, night) == 1

    report = outbox.flush(routes, night)
    assert report.sent == [] and receiver.requests == []
    (deferred,) = report.deferred
    assert deferred.next_attempt == dt.datetime(2026, 1, 5, 7, 0)
    assert outbox.flush(routes, dt.datetime(2026, 1, 5, 6, 59)).sent == []

    report = outbox.flush(routes, dt.datetime(2026, 1, 5, 7, 0))
    assert [d.route for d in report.sent] == ["hook"] and len(receiver.requests) == 1


def test_retry_falling_in_quiet_hours_waits_for_their_end(
    tmp_path: Path, receiver: Receiver, make_alert: AlertFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HOOK_URL", receiver.url)
    routes = routes_file(
        tmp_path,
        """
        routes:
          - {name: hook, kind: webhook, url_env: TEST_HOOK_URL, quiet_hours: "23:00-07:00"}
        """,
    )
    receiver.fail_next = 1
    evening = dt.datetime(2026, 1, 4, 22, 59, 30)
    outbox = Outbox.open(tmp_path / "world")
    outbox.enqueue([make_alert()], routes, evening)
    assert len(outbox.flush(routes, evening).failed) == 1
    report = outbox.flush(routes, evening + MINUTE)
    assert report.sent == [] and report.deferred[0].next_attempt == dt.datetime(2026, 1, 5, 7)
    assert len(outbox.flush(routes, dt.datetime(2026, 1, 5, 7)).sent) == 1


def test_quiet_hours_are_read_in_the_marketplace_time_zone(
    tmp_path: Path, receiver: Receiver, make_alert: AlertFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HOOK_URL", receiver.url)
    path = tmp_path / "routes.yaml"
    path.write_text(
        'routes: [{name: hook, kind: webhook, url_env: TEST_HOOK_URL, quiet_hours: "23:00-07:00"}]'
    )
    routes = load_routes(path, timezone="America/Los_Angeles")
    # 08:00 UTC is 00:00 in Los Angeles: quiet there
    now_utc = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)
    outbox = Outbox.open(tmp_path / "world")
    outbox.enqueue([make_alert()], routes, now_utc)
    assert outbox.flush(routes, now_utc).sent == []
    assert len(outbox.flush(routes, now_utc + dt.timedelta(hours=7)).sent) == 1


def test_min_severity_and_filters_choose_the_routes(
    tmp_path: Path, receiver: Receiver, make_alert: AlertFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HOOK_URL", receiver.url)
    routes = routes_file(
        tmp_path,
        """
        routes:
          - {name: high-only, kind: webhook, url_env: TEST_HOOK_URL, min_severity: high}
          - name: grocery-cx
            kind: webhook
            url_env: TEST_HOOK_URL
            filters: {metric: [cx_score, on_time_rate], cohort: ["category=grocery"]}
          - name: dinner-hours
            kind: webhook
            url_env: TEST_HOOK_URL
            filters: {cohort: ["hour=19"]}
          - {name: no-resolved, kind: webhook, url_env: TEST_HOOK_URL, events: [opened]}
        """,
    )
    outbox = Outbox.open(tmp_path / "world")
    alerts = [
        make_alert(incident_id="a", severity_label="medium"),  # grocery, hour 18-20
        make_alert(incident_id="b", metric="rating", metric_label="Rating"),
        make_alert(incident_id="c", cohort="region=north", top_slice="region=north, hour=08"),
    ]
    outbox.enqueue(alerts, routes, T0)
    taken = {(row.route, row.incident_id) for row in outbox.rows()}
    assert taken == {
        ("high-only", "b"),
        ("high-only", "c"),
        ("grocery-cx", "a"),
        ("dinner-hours", "a"),
        ("dinner-hours", "b"),
        ("no-resolved", "a"),
        ("no-resolved", "b"),
        ("no-resolved", "c"),
    }


def test_resolved_goes_to_the_routes_told_of_the_incident(
    tmp_path: Path, receiver: Receiver, make_alert: AlertFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HOOK_URL", receiver.url)
    routes = routes_file(
        tmp_path,
        """
        routes:
          - {name: high-only, kind: webhook, url_env: TEST_HOOK_URL, min_severity: high}
          - {name: medium-up, kind: webhook, url_env: TEST_HOOK_URL, min_severity: medium}
          - {name: no-resolved, kind: webhook, url_env: TEST_HOOK_URL, events: [opened]}
        """,
    )
    outbox = Outbox.open(tmp_path / "world")
    outbox.enqueue([make_alert(severity_label="medium")], routes, T0)
    # it ends at low severity: still news to those told it opened, and only to them
    resolved = make_alert(event="resolved", severity_label="low", end=T0)
    assert outbox.enqueue([resolved], routes, T0 + MINUTE) == 1
    assert [(r.route, r.event) for r in outbox.rows()] == [
        ("medium-up", "opened"),
        ("no-resolved", "opened"),
        ("medium-up", "resolved"),
    ]


def test_resolved_waits_while_the_opened_alert_is_unsent(
    tmp_path: Path,
    receiver: Receiver,
    make_alert: AlertFactory,
    monkeypatch: pytest.MonkeyPatch,
    webhook_file: Path,
) -> None:
    routes = load_routes(webhook_file)
    receiver.fail_next = 1
    outbox = Outbox.open(tmp_path / "world")
    outbox.enqueue([make_alert()], routes, T0)
    outbox.flush(routes, T0)
    outbox.enqueue([make_alert(event="resolved", end=T0)], routes, T0 + dt.timedelta(seconds=30))
    assert outbox.flush(routes, T0 + dt.timedelta(seconds=30)).sent == []
    report = outbox.flush(routes, T0 + MINUTE)
    assert [d.key.split(":")[1] for d in report.sent] == ["opened", "resolved"]
    assert [r.body["event"] for r in receiver.accepted()] == ["opened", "resolved"]


def test_open_incident_is_renotified_each_period_until_resolved(
    tmp_path: Path, receiver: Receiver, make_alert: AlertFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HOOK_URL", receiver.url)
    routes = routes_file(
        tmp_path,
        "routes: [{name: hook, kind: webhook, url_env: TEST_HOOK_URL, renotify_after: 24h}]",
    )
    outbox = Outbox.open(tmp_path / "world")
    outbox.enqueue([make_alert()], routes, T0)
    outbox.flush(routes, T0)
    assert outbox.flush(routes, T0 + dt.timedelta(hours=23)).sent == []
    for tick in range(24, 49):  # hourly ticks over the next day: one reminder, at 24 h
        outbox.flush(routes, T0 + dt.timedelta(hours=tick))
    bodies = [r.body for r in receiver.requests]
    assert [b["reminder"] for b in bodies] == [False, True, True]
    assert bodies[1]["key"] == "inc-20260104-1800-on_time_rate:opened:reminder:1"
    assert bodies[1]["text"].startswith("Still open: CX incident")
    assert bodies[2]["key"] == "inc-20260104-1800-on_time_rate:opened:reminder:2"

    resolved_at = T0 + dt.timedelta(hours=49)
    outbox.enqueue([make_alert(event="resolved", end=resolved_at)], routes, resolved_at)
    for tick in range(49, 120, 6):
        outbox.flush(routes, T0 + dt.timedelta(hours=tick))
    assert [r.body["event"] for r in receiver.requests][3:] == ["resolved"]


def test_outbox_survives_a_new_process(
    tmp_path: Path,
    receiver: Receiver,
    make_alert: AlertFactory,
    webhook_file: Path,
) -> None:
    routes = load_routes(webhook_file)
    world = tmp_path / "world"
    receiver.fail_next = 1
    first = Outbox.open(world)
    first.enqueue([make_alert()], routes, T0)
    assert len(first.flush(routes, T0).failed) == 1
    first.close()

    # another process (the watcher restarted) finds the row, its attempts and its schedule
    script = textwrap.dedent(
        f"""
        import datetime as dt
        from watching.delivery import Outbox
        from watching.routes import load_routes
        outbox = Outbox.open({str(world)!r})
        routes = load_routes({str(webhook_file)!r})
        assert outbox.enqueue([outbox.rows()[0].alert], routes, dt.datetime(2026, 1, 4, 19, 1)) == 0
        report = outbox.flush(routes, dt.datetime(2026, 1, 4, 19, 1))
        print(len(report.sent), report.sent[0].attempts if report.sent else None)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=os.environ, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "2"]
    again = Outbox.open(world)
    assert [(r.status, r.attempts) for r in again.rows()] == [("sent", 2)]
    assert again.flush(routes, T0 + 60 * MINUTE).sent == []
    assert len(receiver.accepted()) == 1


def test_two_watchers_flushing_one_outbox_send_each_alert_once(
    tmp_path: Path,
    receiver: Receiver,
    make_alert: AlertFactory,
    monkeypatch: pytest.MonkeyPatch,
    webhook_file: Path,
) -> None:
    routes = load_routes(webhook_file)
    receiver.delay_seconds = 0.05
    alerts = [make_alert(incident_id=f"inc-{n}") for n in range(8)]
    first, second = Outbox.open(tmp_path / "world"), Outbox.open(tmp_path / "world")
    first.enqueue(alerts, routes, T0)
    reports = []
    threads = [
        threading.Thread(target=lambda o=outbox: reports.append(o.flush(routes, T0)))
        for outbox in (first, second)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(len(r.sent) for r in reports) == 8 and not any(r.errors for r in reports)
    received = sorted(r.body["incident_id"] for r in receiver.requests)
    assert received == [a.incident_id for a in alerts]


def test_secret_url_comes_from_the_environment_and_is_never_stored(
    tmp_path: Path, receiver: Receiver, make_alert: AlertFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_HOOK_URL", raising=False)
    routes = routes_file(tmp_path, "routes: [{name: hook, kind: webhook, url_env: TEST_HOOK_URL}]")
    assert routes.routes[0].missing_secrets() == ["TEST_HOOK_URL"]
    outbox = Outbox.open(tmp_path / "world")
    outbox.enqueue([make_alert()], routes, T0)
    (failure,) = outbox.flush(routes, T0).failed
    assert failure.reason == "environment variable TEST_HOOK_URL is not set"

    secret_url = receiver.url + "?token=s3cret-token"
    monkeypatch.setenv("TEST_HOOK_URL", secret_url)
    assert len(outbox.flush(routes, T0 + MINUTE).sent) == 1
    outbox.close()
    stored = b"".join(p.read_bytes() for p in (tmp_path / "world" / "watch").iterdir())
    assert b"s3cret-token" not in stored


def test_failure_reason_does_not_hold_the_secret_url(
    tmp_path: Path, make_alert: AlertFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_HOOK_URL", "http://hooks.invalid/T000/B000/s3cret")
    routes = routes_file(
        tmp_path,
        "routes: [{name: hook, kind: webhook, url_env: TEST_HOOK_URL, timeout_seconds: 2}]",
    )
    outbox = Outbox.open(tmp_path / "world")
    outbox.enqueue([make_alert()], routes, T0)
    (failure,) = outbox.flush(routes, T0).failed
    assert failure.reason.startswith("ConnectError") and "s3cret" not in failure.reason


def test_route_removed_from_the_file_keeps_its_rows(
    tmp_path: Path,
    receiver: Receiver,
    make_alert: AlertFactory,
    monkeypatch: pytest.MonkeyPatch,
    webhook_file: Path,
) -> None:
    routes = load_routes(webhook_file)
    outbox = Outbox.open(tmp_path / "world")
    outbox.enqueue([make_alert()], routes, T0)
    report = outbox.flush(Routes(), T0)
    assert report.failed[0].reason == "no route named 'hook' in the routes file"
    assert report.pending == 1
    assert len(outbox.flush(routes, T0 + MINUTE).sent) == 1
