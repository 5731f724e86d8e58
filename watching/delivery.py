"""The durable outbox of a world's alerts: enqueue once per (route, alert key), flush with retries.

`WORLD/watch/outbox.sqlite` (SQLite, WAL) holds one row per route and alert key, so an alert
enqueued twice is sent once. `flush` sends the rows that are due, one at a time: a failure is
logged, kept and retried after 1, 2, 4, ... minutes (capped at an hour), never raised; quiet
hours move a row to the end of the window. Every decision reads the `now` it is given (the
watcher's clock, simulated in replay); only network timeouts and the lease that stops two
processes sending the same row are wall-clock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import smtplib
import sqlite3
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field

from watching import WATCH_DIR
from watching.alert import Alert
from watching.render import clip, email_message, slack_message, webhook_payload
from watching.routes import EmailRoute, Routes, SlackRoute, WebhookRoute

logger = logging.getLogger(__name__)

OUTBOX_FILE = Path(WATCH_DIR) / "outbox.sqlite"
RETRY_BASE = dt.timedelta(minutes=1)
RETRY_CAP = dt.timedelta(hours=1)
# A row claimed by a process that died while sending is taken back after this (wall-clock).
CLAIM_LEASE_SECONDS = 600.0
_STAMP = "%Y-%m-%dT%H:%M:%S.%f"  # fixed width, so stored times compare as text
_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    route TEXT NOT NULL,
    alert_key TEXT NOT NULL,
    incident_id TEXT NOT NULL,
    event TEXT NOT NULL,
    reminder INTEGER NOT NULL DEFAULT 0,
    alert TEXT NOT NULL,
    enqueued_at TEXT NOT NULL,
    due_at TEXT NOT NULL,
    hold TEXT,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'sent', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    sent_at TEXT,
    claimed_wall REAL,
    UNIQUE (route, alert_key)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, due_at);
CREATE TABLE IF NOT EXISTS attempts (
    route TEXT NOT NULL,
    alert_key TEXT NOT NULL,
    at TEXT NOT NULL,
    ok INTEGER NOT NULL,
    error TEXT
);
CREATE TABLE IF NOT EXISTS resolved (
    incident_id TEXT PRIMARY KEY,
    at TEXT NOT NULL
);
PRAGMA user_version = 1;
"""

AnyRoute = SlackRoute | WebhookRoute | EmailRoute
RowStatus = Literal["pending", "sending", "sent", "cancelled"]


class DeliveryError(Exception):
    """A send that did not go through; `reason` holds no secret, `retry_after` a server's ask."""

    def __init__(self, reason: str, retry_after: dt.timedelta | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class OutboxRow(BaseModel):
    """One alert for one route, as the outbox holds it."""

    route: str
    key: str
    incident_id: str
    event: str
    reminder: bool
    alert: Alert
    enqueued_at: dt.datetime
    due_at: dt.datetime
    hold: str | None = Field(description="'quiet hours' or 'retry' while waiting for either")
    status: RowStatus
    attempts: int
    last_error: str | None
    sent_at: dt.datetime | None


class Delivery(BaseModel):
    """What one flush did with one row."""

    route: str
    key: str
    attempts: int = Field(description="attempts made so far, this one included")
    reason: str | None = Field(default=None, description="why it failed or waits")
    next_attempt: dt.datetime | None = None


class DeliveryReport(BaseModel):
    """One flush: rows sent, rows held for quiet hours, rows that failed (and will be retried)."""

    sent: list[Delivery] = Field(default_factory=list)
    deferred: list[Delivery] = Field(default_factory=list)
    failed: list[Delivery] = Field(default_factory=list)
    reminders: int = Field(default=0, description="re-notifications of open incidents added")
    pending: int = Field(default=0, description="rows still to send after this flush")
    errors: list[str] = Field(default_factory=list, description="problems of the outbox itself")


def retry_delay(attempts: int) -> dt.timedelta:
    """Wait before the next attempt after `attempts` failures: 1, 2, 4, ... min, capped at 1 h."""
    return min(RETRY_BASE * 2 ** max(attempts - 1, 0), RETRY_CAP)


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime(_STAMP)


def _moment(text: str | None) -> dt.datetime | None:
    return dt.datetime.strptime(text, _STAMP) if text else None


class Outbox:
    """A world's alert outbox (see the module's docstring). Safe to share between threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        with self._lock:
            self._db.executescript(_SCHEMA)

    @classmethod
    def open(cls, world_dir: Path | str) -> Outbox:
        """The outbox of the world at `world_dir` (created on first use)."""
        return cls(Path(world_dir) / OUTBOX_FILE)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- enqueue -------------------------------------------------------------------------------

    def enqueue(self, alerts: Sequence[Alert], routes: Routes, now: dt.datetime) -> int:
        """Queue each alert for every route that takes it; returns the rows added.

        A route takes an opened or escalated alert that passes its events, severity and
        filters, and a resolved one (if it takes resolved events) when it was told of the
        incident, whatever the severity at the end. A (route, alert key) already queued is not
        added again (dedupe). A row queued in a route's quiet hours is due when they end.

        Unlike `flush`, this raises (sqlite3.Error) if the outbox cannot be written, so that
        the caller keeps the alerts and enqueues them again at its next tick (dedupe makes
        that safe)."""
        local_now = routes.local(now)
        added = 0
        with self._transaction() as db:
            for alert in alerts:
                if alert.event == "resolved":
                    db.execute(
                        "INSERT OR IGNORE INTO resolved VALUES (?, ?)",
                        (alert.incident_id, _stamp(local_now)),
                    )
                for route in routes.routes:
                    if self._takes(db, route, alert):
                        added += self._insert(db, route, alert, alert.key, local_now)
        return added

    @staticmethod
    def _takes(db: sqlite3.Connection, route: AnyRoute, alert: Alert) -> bool:
        if alert.event != "resolved":
            return route.admit(alert)
        told = db.execute(
            "SELECT 1 FROM deliveries WHERE route = ? AND incident_id = ? AND reminder = 0"
            " AND event != 'resolved' AND status != 'cancelled' LIMIT 1",
            (route.name, alert.incident_id),
        ).fetchone()
        return told is not None and "resolved" in route.events

    @staticmethod
    def _insert(
        db: sqlite3.Connection,
        route: AnyRoute,
        alert: Alert,
        key: str,
        now: dt.datetime,
        reminder: bool = False,
    ) -> int:
        quiet_end = route.quiet_hours.ends_at(now) if route.quiet_hours else None
        cursor = db.execute(
            "INSERT OR IGNORE INTO deliveries (route, alert_key, incident_id, event, reminder,"
            " alert, enqueued_at, due_at, hold) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                route.name,
                key,
                alert.incident_id,
                alert.event,
                int(reminder),
                alert.model_dump_json(),
                _stamp(now),
                _stamp(quiet_end or now),
                "quiet hours" if quiet_end else None,
            ),
        )
        return cursor.rowcount

    def _add_reminders(self, routes: Routes, now: dt.datetime) -> int:
        """Queue a reminder for each open incident whose last alert to a route with
        `renotify_after` was sent that long ago (key: the alert's key + the period number)."""
        added = 0
        with self._transaction() as db:
            for route in routes.routes:
                if route.renotify_after is None:
                    continue
                latest = db.execute(
                    "SELECT d.alert_key, d.alert, d.sent_at FROM deliveries d"
                    " WHERE d.route = ? AND d.reminder = 0 AND d.status = 'sent'"
                    " AND d.event IN ('opened', 'escalated')"
                    " AND d.incident_id NOT IN (SELECT incident_id FROM resolved)"
                    " AND d.seq = (SELECT max(e.seq) FROM deliveries e WHERE e.route = d.route"
                    "   AND e.incident_id = d.incident_id AND e.reminder = 0"
                    "   AND e.status = 'sent' AND e.event IN ('opened', 'escalated'))",
                    (route.name,),
                ).fetchall()
                for row in latest:
                    sent_at = _moment(row["sent_at"])
                    periods = (now - sent_at) // route.renotify_after if sent_at else 0
                    if periods >= 1:
                        alert = Alert.model_validate_json(row["alert"])
                        alert = alert.model_copy(update={"as_of": now})
                        key = f"{row['alert_key'].rstrip(':')}:reminder:{periods}"
                        added += self._insert(db, route, alert, key, now, reminder=True)
            db.execute(
                "UPDATE deliveries SET status = 'cancelled', hold = 'incident resolved'"
                " WHERE reminder = 1 AND status = 'pending'"
                " AND incident_id IN (SELECT incident_id FROM resolved)"
            )
        return added

    # --- flush ---------------------------------------------------------------------------------

    def flush(self, routes: Routes, now: dt.datetime) -> DeliveryReport:
        """Send every row due at `now`, in the order queued; never raises.

        A failed send is logged, recorded and retried at a later flush (see `retry_delay`); a
        row due in its route's quiet hours is deferred to their end. An incident's later alerts
        to a route wait while an earlier one is unsent, so 'resolved' never arrives first."""
        report = DeliveryReport()
        try:
            local_now = routes.local(now)
            report.reminders = self._add_reminders(routes, local_now)
            self._release_stale_claims()
            blocked: set[tuple[str, str]] = set()
            with contextlib.closing(HttpClient()) as client:
                while (row := self._claim_next(local_now, blocked)) is not None:
                    outcome, delivery = self._deliver(row, routes, local_now, client)
                    getattr(report, outcome).append(delivery)
                    if outcome != "sent":
                        blocked.add((row["route"], row["incident_id"]))
            report.deferred += self._quiet_waiting(local_now, report)
            report.pending = self._count_pending()
        except Exception as error:  # the watcher must keep ticking: report, do not raise
            logger.exception("alert outbox %s: flush stopped", self.path)
            report.errors.append(f"{type(error).__name__}: {clip(str(error))}")
        return report

    def _release_stale_claims(self) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE deliveries SET status = 'pending', claimed_wall = NULL"
                " WHERE status = 'sending' AND claimed_wall < ?",
                (time.time() - CLAIM_LEASE_SECONDS,),
            )

    def _claim_next(self, now: dt.datetime, blocked: set[tuple[str, str]]) -> sqlite3.Row | None:
        """Take the earliest due row whose incident has no earlier unsent row for its route."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT * FROM deliveries d WHERE d.status = 'pending' AND d.due_at <= ?"
                " AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE e.route = d.route"
                "   AND e.incident_id = d.incident_id AND e.seq < d.seq"
                "   AND e.status IN ('pending', 'sending'))"
                " ORDER BY d.due_at, d.seq",
                (_stamp(now),),
            ).fetchall()
            row = next((r for r in rows if (r["route"], r["incident_id"]) not in blocked), None)
            if row is not None:
                db.execute(
                    "UPDATE deliveries SET status = 'sending', claimed_wall = ? WHERE seq = ?",
                    (time.time(), row["seq"]),
                )
        return row

    def _deliver(
        self, row: sqlite3.Row, routes: Routes, now: dt.datetime, client: HttpClient
    ) -> tuple[Literal["sent", "deferred", "failed"], Delivery]:
        route = routes.get(row["route"])
        attempts = row["attempts"]
        if route is not None and route.quiet_hours is not None:
            quiet_end = route.quiet_hours.ends_at(now)
            if quiet_end is not None:
                self._release(row, quiet_end, "quiet hours")
                delivery = Delivery(
                    route=row["route"],
                    key=row["alert_key"],
                    attempts=attempts,
                    reason=f"quiet hours {route.quiet_hours}",
                    next_attempt=quiet_end,
                )
                return "deferred", delivery
        try:
            if route is None:
                raise DeliveryError(f"no route named {row['route']!r} in the routes file")
            alert = Alert.model_validate_json(row["alert"])
            send(route, alert, bool(row["reminder"]), client, row["alert_key"])
        except Exception as error:  # any failure is kept and retried, never raised
            return "failed", self._record_failure(row, error, now)
        with self._transaction() as db:
            db.execute(
                "UPDATE deliveries SET status = 'sent', sent_at = ?, attempts = attempts + 1,"
                " hold = NULL, claimed_wall = NULL WHERE seq = ?",
                (_stamp(now), row["seq"]),
            )
            db.execute(
                "INSERT INTO attempts VALUES (?, ?, ?, 1, NULL)",
                (row["route"], row["alert_key"], _stamp(now)),
            )
        return "sent", Delivery(route=row["route"], key=row["alert_key"], attempts=attempts + 1)

    def _record_failure(self, row: sqlite3.Row, error: Exception, now: dt.datetime) -> Delivery:
        attempts = row["attempts"] + 1
        reason = error.reason if isinstance(error, DeliveryError) else type(error).__name__
        delay = retry_delay(attempts)
        if isinstance(error, DeliveryError) and error.retry_after:
            delay = min(max(delay, error.retry_after), RETRY_CAP)
        next_attempt = now + delay
        with self._transaction() as db:
            db.execute(
                "UPDATE deliveries SET status = 'pending', attempts = ?, due_at = ?,"
                " hold = 'retry', last_error = ?, claimed_wall = NULL WHERE seq = ?",
                (attempts, _stamp(next_attempt), reason, row["seq"]),
            )
            db.execute(
                "INSERT INTO attempts VALUES (?, ?, ?, 0, ?)",
                (row["route"], row["alert_key"], _stamp(now), reason),
            )
        logger.warning(
            "alert %s to route %s failed (attempt %d): %s; next attempt at %s",
            *(row["alert_key"], row["route"], attempts, reason, next_attempt),
        )
        return Delivery(
            route=row["route"],
            key=row["alert_key"],
            attempts=attempts,
            reason=reason,
            next_attempt=next_attempt,
        )

    def _release(self, row: sqlite3.Row, due: dt.datetime, hold: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE deliveries SET status = 'pending', due_at = ?, hold = ?,"
                " claimed_wall = NULL WHERE seq = ?",
                (_stamp(due), hold, row["seq"]),
            )

    def _quiet_waiting(self, now: dt.datetime, report: DeliveryReport) -> list[Delivery]:
        """Rows queued in quiet hours that wait for their end (not already reported)."""
        seen = {(d.route, d.key) for d in report.deferred}
        with self._lock:
            rows = self._db.execute(
                "SELECT route, alert_key, attempts, due_at FROM deliveries"
                " WHERE status = 'pending' AND hold = 'quiet hours' AND due_at > ?",
                (_stamp(now),),
            ).fetchall()
        return [
            Delivery(
                route=r["route"],
                key=r["alert_key"],
                attempts=r["attempts"],
                reason="quiet hours",
                next_attempt=_moment(r["due_at"]),
            )
            for r in rows
            if (r["route"], r["alert_key"]) not in seen
        ]

    def _count_pending(self) -> int:
        with self._lock:
            (count,) = self._db.execute(
                "SELECT count(*) FROM deliveries WHERE status IN ('pending', 'sending')"
            ).fetchone()
        return int(count)

    # --- reading -------------------------------------------------------------------------------

    def rows(self, route: str | None = None) -> list[OutboxRow]:
        """The outbox's rows (of one route, if given), in the order queued."""
        with self._lock:
            found = self._db.execute(
                "SELECT * FROM deliveries WHERE ? IS NULL OR route = ? ORDER BY seq",
                (route, route),
            ).fetchall()
        return [
            OutboxRow(
                route=r["route"],
                key=r["alert_key"],
                incident_id=r["incident_id"],
                event=r["event"],
                reminder=bool(r["reminder"]),
                alert=Alert.model_validate_json(r["alert"]),
                enqueued_at=_moment(r["enqueued_at"]),
                due_at=_moment(r["due_at"]),
                hold=r["hold"],
                status=r["status"],
                attempts=r["attempts"],
                last_error=r["last_error"],
                sent_at=_moment(r["sent_at"]),
            )
            for r in found
        ]


# --- sending -------------------------------------------------------------------------------------


class HttpClient:
    """One HTTP client for a flush, made at the first HTTP send (making one loads TLS roots)."""

    def __init__(self) -> None:
        self._client: httpx.Client | None = None

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """POST through the shared client; redirects are not followed (a 3xx is a failure)."""
        if self._client is None:
            self._client = httpx.Client(follow_redirects=False)
        return self._client.post(url, **kwargs)

    def close(self) -> None:
        """Close the client, if one was made."""
        if self._client is not None:
            self._client.close()


def send(route: AnyRoute, alert: Alert, reminder: bool, client: HttpClient, key: str) -> None:
    """Send one alert over `route`; DeliveryError (no secret in its reason) if it did not go."""
    if isinstance(route, EmailRoute):
        _send_email(route, alert, reminder, key)
        return
    try:
        url = route.url()
    except KeyError as error:
        raise DeliveryError(str(error.args[0])) from None
    if isinstance(route, SlackRoute):
        payload = slack_message(alert, reminder)
    else:
        payload = webhook_payload(alert, reminder, key)
    headers = {"User-Agent": "cx-agent-watcher", "X-CX-Alert-Key": key}
    try:
        response = client.post(url, json=payload, headers=headers, timeout=route.timeout_seconds)
    except httpx.HTTPError as error:
        reason = clip(str(error).replace(url, f"${route.url_env}")) or type(error).__name__
        raise DeliveryError(f"{type(error).__name__}: {reason}") from None
    if not response.is_success:
        body = clip(response.text.replace(url, f"${route.url_env}"), 120)
        raise DeliveryError(
            f"HTTP {response.status_code}" + (f": {body}" if body else ""),
            retry_after=_retry_after(response.headers.get("Retry-After")),
        )


def _retry_after(header: str | None) -> dt.timedelta | None:
    """A Retry-After given in seconds (an HTTP date is ignored: the backoff applies)."""
    if header and header.strip().isdigit():
        return dt.timedelta(seconds=int(header.strip()))
    return None


def _send_email(route: EmailRoute, alert: Alert, reminder: bool, key: str) -> None:
    rendered = email_message(alert, reminder)
    message = EmailMessage()
    message["Subject"] = rendered.subject
    message["From"] = route.sender
    message["To"] = ", ".join(route.to)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=route.sender.rpartition("@")[2])
    message["X-CX-Alert-Key"] = clip(key, 200)
    message.set_content(rendered.body)
    try:
        credentials = route.credentials()
        connect: type[smtplib.SMTP] = smtplib.SMTP_SSL if route.implicit_tls else smtplib.SMTP
        secure = {"context": ssl.create_default_context()} if route.implicit_tls else {}
        with connect(
            route.smtp_host, route.smtp_port, timeout=route.timeout_seconds, **secure
        ) as smtp:
            if route.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if credentials is not None:
                smtp.login(*credentials)
            refused = smtp.send_message(message)
    except KeyError as error:
        raise DeliveryError(str(error.args[0])) from None
    except (OSError, smtplib.SMTPException) as error:
        raise DeliveryError(f"SMTP: {type(error).__name__}: {clip(str(error), 160)}") from None
    if refused:  # the others got it: sending again would repeat it to them
        logger.warning("alert %s to route %s: refused by %s", key, route.name, sorted(refused))
