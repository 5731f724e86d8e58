"""Users' feedback on incidents ("cause right / wrong (which one) / not quite", a comment),
kept in the world (WORLD/watch/feedback.sqlite): several per incident, the latest counts."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tools.causes import CAUSES
from watching import WATCH_DIR

FEEDBACK_FILE = Path(WATCH_DIR) / "feedback.sqlite"
MAX_COMMENT_CHARS = 2000
MAX_AUTHOR_CHARS = 100
OTHER_CAUSE = "other"  # a cause outside the cause-kind registry
CAUSE_CHOICES: tuple[str, ...] = (*CAUSES, OTHER_CAUSE)
INCIDENT_ID = r"^[A-Za-z0-9_.:-]{1,64}$"

Verdict = Literal["right", "wrong", "not_quite"]
VERDICT_LABELS: dict[str, str] = {"right": "right", "wrong": "wrong", "not_quite": "not quite"}


class FeedbackRequest(BaseModel):
    """What a user says of an incident's diagnosis (the REST body and the UI's form).

    `judged_cause` is the top cause the user was shown (the one judged right or wrong);
    `correct_cause` is the one they name instead (verdict wrong or not quite)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    verdict: Verdict
    correct_cause: str | None = Field(
        default=None, description=f"A cause kind ({', '.join(CAUSE_CHOICES)}), for wrong."
    )
    judged_cause: str | None = Field(
        default=None, description="The top cause shown (default: the workbench's top cause)."
    )
    comment: str = Field(default="", max_length=MAX_COMMENT_CHARS)
    author: str | None = Field(default=None, max_length=MAX_AUTHOR_CHARS)

    @field_validator("correct_cause", "judged_cause", "author", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("correct_cause")
    @classmethod
    def _known_cause(cls, value: str | None) -> str | None:
        if value is not None and value not in CAUSE_CHOICES:
            raise ValueError(f"unknown cause {value!r}; known: {', '.join(CAUSE_CHOICES)}")
        return value

    @field_validator("judged_cause")
    @classmethod
    def _library_cause(cls, value: str | None) -> str | None:
        if value is not None and value not in CAUSES:
            raise ValueError(f"unknown cause kind {value!r}; known: {', '.join(CAUSES)}")
        return value

    @model_validator(mode="after")
    def _right_names_no_other_cause(self) -> FeedbackRequest:
        if self.verdict == "right" and self.correct_cause not in (None, self.judged_cause):
            raise ValueError("a 'right' verdict confirms the cause shown: give no correct_cause")
        return self


class Feedback(FeedbackRequest):
    """One stored feedback on one incident."""

    incident_id: str = Field(pattern=INCIDENT_ID)
    created_at: dt.datetime = Field(
        default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0)
    )
    feedback_id: int | None = Field(default=None, description="Set by the store.")

    @property
    def expected_cause(self) -> str | None:
        """The cause this feedback says is right: the one confirmed, or the one named instead
        (None when not known, or outside the registry)."""
        cause = self.judged_cause if self.verdict == "right" else self.correct_cause
        return cause if cause in CAUSES else None

    def describe(self) -> str:
        """'cause right (batching_threshold)', 'cause wrong, was dasher_shortage', 'not quite'."""
        if self.verdict == "right":
            return "cause right" + (f" ({self.judged_cause})" if self.judged_cause else "")
        if self.verdict == "wrong":
            return "cause wrong" + (f", was {self.correct_cause}" if self.correct_cause else "")
        return "not quite" + (f" (also {self.correct_cause})" if self.correct_cause else "")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    feedback_id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL,
    verdict TEXT NOT NULL,
    correct_cause TEXT,
    judged_cause TEXT,
    comment TEXT NOT NULL,
    author TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_by_incident ON feedback (incident_id, feedback_id);
"""
_COLUMNS = (
    "feedback_id", "incident_id", "verdict", "correct_cause", "judged_cause", "comment",
    "author", "created_at",
)  # fmt: skip


class FeedbackStore:
    """The world's feedback database. Each call opens its own connection (WAL), so one store
    serves many threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def open(cls, world_dir: Path | str) -> FeedbackStore:
        """The store of a world (created on first use)."""
        store = cls(Path(world_dir) / FEEDBACK_FILE)
        store.path.parent.mkdir(parents=True, exist_ok=True)
        with store._connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(_SCHEMA)
        return store

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, timeout=10)
        try:
            with connection:  # commits, or rolls back on an error
                yield connection
        finally:
            connection.close()

    def add(self, feedback: Feedback) -> Feedback:
        """Store a feedback; returns it with its id."""
        row = feedback.model_dump(mode="json", exclude={"feedback_id"})
        names = [name for name in _COLUMNS if name != "feedback_id"]
        with self._connect() as connection:
            cursor = connection.execute(
                f"INSERT INTO feedback ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                [row[name] for name in names],
            )
        return feedback.model_copy(update={"feedback_id": cursor.lastrowid})

    def _select(self, where: str = "", parameters: tuple[str, ...] = ()) -> list[Feedback]:
        with self._connect() as connection:
            rows = connection.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM feedback {where} ORDER BY feedback_id",
                parameters,
            ).fetchall()
        return [Feedback.model_validate(dict(zip(_COLUMNS, row, strict=True))) for row in rows]

    def for_incident(self, incident_id: str) -> list[Feedback]:
        """An incident's feedback, oldest first (the last one counts)."""
        return self._select("WHERE incident_id = ?", (incident_id,))

    def latest(self, incident_id: str) -> Feedback | None:
        """The feedback that counts for an incident: its latest, if any."""
        found = self.for_incident(incident_id)
        return found[-1] if found else None

    def all(self) -> list[Feedback]:
        """Every feedback, oldest first."""
        return self._select()

    def latest_by_incident(self) -> dict[str, Feedback]:
        """The feedback that counts, per incident id."""
        return {feedback.incident_id: feedback for feedback in self.all()}
