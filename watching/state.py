"""What the watcher remembers between ticks: each incident it has seen (open or closed, with its
record and last alert) and each tick it ran. SQLite (stdlib, WAL) under WORLD/watch/."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from watching import WATCH_DIR
from watching.alert import Alert
from watching.similar import IncidentRecord

STATE_FILE = "state.sqlite"
Status = Literal["open", "closed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    incident_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    severity_label TEXT NOT NULL,
    record TEXT NOT NULL,
    alert TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    closed_at TEXT
);
CREATE TABLE IF NOT EXISTS ticks (
    as_of TEXT NOT NULL,
    ran_at TEXT NOT NULL,
    seconds REAL NOT NULL,
    report TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Tracked(BaseModel):
    """An incident the watcher has seen: its status, record and the last alert built for it."""

    status: Status
    severity_label: str
    record: IncidentRecord
    alert: Alert | None = None
    first_seen: dt.datetime
    last_seen: dt.datetime
    closed_at: dt.datetime | None = None


class WatchState:
    """The watcher's memory in `directory`/state.sqlite. Safe to share between threads."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / STATE_FILE
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._db:
            yield self._db

    def tracked(self) -> dict[str, Tracked]:
        """Every incident seen, by id."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT incident_id, status, severity_label, record, alert, first_seen, "
                "last_seen, closed_at FROM incidents"
            ).fetchall()
        return {
            row[0]: Tracked(
                status=row[1],
                severity_label=row[2],
                record=IncidentRecord.model_validate_json(row[3]),
                alert=Alert.model_validate_json(row[4]) if row[4] else None,
                first_seen=dt.datetime.fromisoformat(row[5]),
                last_seen=dt.datetime.fromisoformat(row[6]),
                closed_at=dt.datetime.fromisoformat(row[7]) if row[7] else None,
            )
            for row in rows
        }

    def save(self, incident_id: str, tracked: Tracked) -> None:
        """Insert or replace one incident's state."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO incidents VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    incident_id,
                    tracked.status,
                    tracked.severity_label,
                    tracked.record.model_dump_json(),
                    tracked.alert.model_dump_json() if tracked.alert else None,
                    tracked.first_seen.isoformat(),
                    tracked.last_seen.isoformat(),
                    tracked.closed_at.isoformat() if tracked.closed_at else None,
                ),
            )

    def record_tick(self, as_of: dt.datetime, seconds: float, report_json: str) -> None:
        """Log a tick (kept: the last 10,000)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO ticks VALUES (?, ?, ?, ?)",
                (as_of.isoformat(), dt.datetime.now(dt.UTC).isoformat(), seconds, report_json),
            )
            db.execute(
                "DELETE FROM ticks WHERE rowid NOT IN "
                "(SELECT rowid FROM ticks ORDER BY rowid DESC LIMIT 10000)"
            )

    def last_tick(self) -> dt.datetime | None:
        """The as-of time of the last tick, if any."""
        with self._transaction() as db:
            row = db.execute("SELECT as_of FROM ticks ORDER BY rowid DESC LIMIT 1").fetchone()
        return dt.datetime.fromisoformat(row[0]) if row else None


def stored_records(world_dir: Path) -> dict[str, IncidentRecord]:
    """The incident records the world's watcher stored (with their investigated slice, cause,
    action and changes), by id; empty when no watcher has run on the world."""
    path = Path(world_dir) / WATCH_DIR / STATE_FILE
    if not path.exists():
        return {}
    state = WatchState(path.parent)
    try:
        return {incident_id: known.record for incident_id, known in state.tracked().items()}
    finally:
        state.close()
