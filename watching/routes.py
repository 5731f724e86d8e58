"""Alert routes: where alerts go (Slack, webhook, email) and which ones, read from a YAML file."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from analytics.metrics import CX_SCORE, METRICS
from watching.alert import SEVERITY_ORDER, Alert, AlertEvent, SeverityLabel

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?")
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
# Keys that would put a secret in the file; each is refused with the key to use instead.
_SECRET_KEYS = {
    "url": "url_env",
    "webhook_url": "url_env",
    "password": "password_env",
    "username": "username_env",
    "token": "url_env",
}


class RoutesError(ValueError):
    """A routes file that cannot be used; the message names the file, the route and the field."""


def parse_duration(text: str) -> dt.timedelta:
    """A duration written as days, hours and minutes: '24h', '90m', '1d12h'.

    >>> parse_duration("1d6h")
    datetime.timedelta(days=1, seconds=21600)
    """
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"{text!r} is not a duration (write e.g. 30m, 24h or 1d12h)")
    days, hours, minutes = (int(part or 0) for part in match.groups())
    return dt.timedelta(days=days, hours=hours, minutes=minutes)


class QuietHours(BaseModel):
    """A daily window of local time in which a route is not notified ('23:00-07:00' wraps)."""

    start: dt.time
    end: dt.time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """'HH:MM-HH:MM' in 24-hour local time; start and end must differ."""
        first, sep, second = text.replace(" ", "").partition("-")
        clocks = [_CLOCK.fullmatch(part) for part in (first, second)]
        if not sep or None in clocks:
            raise ValueError(f"quiet hours {text!r}: write them as HH:MM-HH:MM, e.g. 23:00-07:00")
        start, end = (dt.time(int(m.group(1)), int(m.group(2))) for m in clocks if m)
        if start == end:
            raise ValueError(f"quiet hours {text!r}: start and end are the same time")
        return cls(start=start, end=end)

    def ends_at(self, local: dt.datetime) -> dt.datetime | None:
        """When the quiet window holding `local` (naive local time) ends; None outside one."""
        clock = local.time()
        if self.start < self.end:
            inside, end_day = self.start <= clock < self.end, local.date()
        else:  # wraps past midnight: the evening part ends tomorrow
            inside = clock >= self.start or clock < self.end
            end_day = local.date() + dt.timedelta(days=1 if clock >= self.start else 0)
        return dt.datetime.combine(end_day, self.end) if inside else None

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


class RouteFilters(BaseModel):
    """Which alerts a route takes; an empty list lets every value through.

    `metric` lists metric names (the registry's); `cohort` lists conditions 'dimension=value'
    matched against the incident's cohort and its top slice (either may hold it)."""

    model_config = ConfigDict(extra="forbid")

    metric: list[str] = Field(default_factory=list)
    cohort: list[str] = Field(default_factory=list)

    @field_validator("metric", "cohort", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("metric")
    @classmethod
    def _known_metrics(cls, names: list[str]) -> list[str]:
        known = (CX_SCORE, *METRICS)
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ValueError(f"unknown metric {unknown[0]!r}; known: {', '.join(known)}")
        return names

    @field_validator("cohort")
    @classmethod
    def _conditions(cls, conditions: list[str]) -> list[str]:
        for condition in conditions:
            dimension, sep, value = condition.partition("=")
            if not (sep and dimension.strip() and value.strip()):
                raise ValueError(f"cohort {condition!r}: write it as dimension=value")
        return conditions

    def admit(self, alert: Alert) -> bool:
        """Whether the alert's metric and cohort pass these filters."""
        if self.metric and alert.metric not in self.metric:
            return False
        if not self.cohort:
            return True
        held = _conditions(alert.cohort) | _conditions(alert.top_slice or "")
        return any(
            (dim.strip(), value.strip()) in held
            for dim, _, value in (c.partition("=") for c in self.cohort)
        )


def _conditions(described: str) -> set[tuple[str, str]]:
    """(dimension, value) pairs of a slice as named ('category=grocery, hour=18-20'), with
    'a/b' alternatives and hour runs (wrapping at midnight) spelled out."""
    pairs: set[tuple[str, str]] = set()
    for part in described.split(","):
        dimension, sep, values = part.strip().partition("=")
        if not sep:
            continue
        for value in values.split("/"):
            pairs.add((dimension, value))
            first, _, last = value.partition("-")
            if dimension == "hour" and first.isdigit() and (last or first).isdigit():
                span = (int(last or first) - int(first)) % 24
                for hour in ((int(first) + step) % 24 for step in range(span + 1)):
                    pairs |= {(dimension, str(hour)), (dimension, f"{hour:02d}")}
    return pairs


class _RouteBase(BaseModel):
    """What every route has: a name, which alerts it takes, and when and how often to send."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    min_severity: SeverityLabel = "low"
    filters: RouteFilters = Field(default_factory=RouteFilters)
    events: list[AlertEvent] = Field(
        default_factory=lambda: ["opened", "escalated", "resolved"], min_length=1
    )
    quiet_hours: QuietHours | None = None
    renotify_after: dt.timedelta | None = Field(
        default=None, description="remind of a still-open incident this long after its last alert"
    )
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("quiet_hours", mode="before")
    @classmethod
    def _parse_quiet_hours(cls, value: Any) -> Any:
        return QuietHours.parse(value) if isinstance(value, str) else value

    @field_validator("renotify_after", mode="before")
    @classmethod
    def _parse_renotify(cls, value: Any) -> Any:
        duration = parse_duration(value) if isinstance(value, str) else value
        if isinstance(duration, dt.timedelta) and duration < dt.timedelta(minutes=15):
            raise ValueError("renotify_after must be at least 15m")
        return duration

    def admit(self, alert: Alert) -> bool:
        """Whether this route takes the alert: its event, severity, metric and cohort."""
        return (
            alert.event in self.events
            and SEVERITY_ORDER[alert.severity_label] >= SEVERITY_ORDER[self.min_severity]
            and self.filters.admit(alert)
        )

    def missing_secrets(self) -> list[str]:
        """Environment variables this route reads that are not set (empty when ready)."""
        return [name for name in self._secret_names() if not os.environ.get(name)]

    def _secret_names(self) -> list[str]:
        return []


class _UrlRoute(_RouteBase):
    url_env: str = Field(description="the environment variable holding the URL (a secret)")

    @field_validator("url_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not an environment variable name (e.g. SLACK_URL)")
        return value

    def url(self) -> str:
        """The URL, read from the environment now; KeyError naming the variable if unset."""
        value = os.environ.get(self.url_env, "").strip()
        if not value:
            raise KeyError(f"environment variable {self.url_env} is not set")
        return value

    def _secret_names(self) -> list[str]:
        return [self.url_env]


class SlackRoute(_UrlRoute):
    """A Slack incoming webhook: one Block Kit message per alert."""

    kind: Literal["slack"]


class WebhookRoute(_UrlRoute):
    """A generic JSON webhook: one POSTed object per alert."""

    kind: Literal["webhook"]


class EmailRoute(_RouteBase):
    """Email over SMTP: one plain-text message per alert."""

    kind: Literal["email"]
    smtp_host: str
    smtp_port: int = Field(default=25, ge=1, le=65535)
    sender: str = Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(min_length=1)
    starttls: bool = False
    implicit_tls: bool = Field(
        default=False, description="TLS from the first byte (SMTPS, usually port 465)"
    )
    username_env: str | None = None
    password_env: str | None = None

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_tls(self) -> EmailRoute:
        if self.starttls and self.implicit_tls:
            raise ValueError("starttls and implicit_tls exclude each other (pick the server's)")
        return self

    @model_validator(mode="after")
    def _credentials_paired(self) -> EmailRoute:
        names = (self.username_env, self.password_env)
        if (names[0] is None) != (names[1] is None):
            raise ValueError("username_env and password_env go together (give both or neither)")
        for name in names:
            if name is not None and not _ENV_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not an environment variable name")
        return self

    def credentials(self) -> tuple[str, str] | None:
        """(username, password) from the environment, None without login; KeyError if unset."""
        if self.username_env is None or self.password_env is None:
            return None
        missing = self.missing_secrets()
        if missing:
            raise KeyError(f"environment variable {missing[0]} is not set")
        return os.environ[self.username_env], os.environ[self.password_env]

    def _secret_names(self) -> list[str]:
        return [name for name in (self.username_env, self.password_env) if name]


Route = Annotated[SlackRoute | WebhookRoute | EmailRoute, Field(discriminator="kind")]


class Routes(BaseModel):
    """The routes of a file, and the marketplace's time zone that quiet hours are read in."""

    model_config = ConfigDict(extra="forbid")

    routes: list[Route] = Field(default_factory=list)
    timezone: str = Field(default="UTC", description="IANA name of the marketplace's local time")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name!r} (use an IANA name, e.g. UTC)") from None
        return name

    @model_validator(mode="after")
    def _unique_names(self) -> Routes:
        names = [route.name for route in self.routes]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"route names must be unique; repeated: {', '.join(repeated)}")
        return self

    def get(self, name: str) -> SlackRoute | WebhookRoute | EmailRoute | None:
        """The route called `name`, if any."""
        return next((route for route in self.routes if route.name == name), None)

    def local(self, moment: dt.datetime) -> dt.datetime:
        """`moment` as naive marketplace-local time (a naive moment already is, as in the data)."""
        if moment.tzinfo is None:
            return moment
        return moment.astimezone(ZoneInfo(self.timezone)).replace(tzinfo=None)


def load_routes(path: Path | str, timezone: str | None = None) -> Routes:
    """Read and validate a routes file.

    `timezone` (the world's local time zone) overrides the file's `timezone:` key; quiet hours
    are read in it. Errors raise RoutesError naming the file, the route and the field; a secret
    written in the file (`url:`, `password:`) is refused."""
    path = Path(path)
    if not path.is_file():
        raise RoutesError(f"{path}: routes file not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise RoutesError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("routes"), list):
        raise RoutesError(f"{path}: expected a mapping with a list under 'routes:'")
    _refuse_secrets(path, raw["routes"])
    if timezone is not None:
        raw = {**raw, "timezone": timezone}
    try:
        return Routes.model_validate(raw)
    except ValidationError as error:
        raise RoutesError(f"{path}: {_describe(error, raw['routes'])}") from None


def _route_label(routes: list[Any], index: int) -> str:
    entry = routes[index] if index < len(routes) else None
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"route {name!r} (routes[{index}])" if name else f"routes[{index}]"


def _refuse_secrets(path: Path, routes: list[Any]) -> None:
    for index, entry in enumerate(routes):
        for key in sorted(set(entry) & set(_SECRET_KEYS) if isinstance(entry, dict) else ()):
            raise RoutesError(
                f"{path}: {_route_label(routes, index)}: {key}: secrets are not read from the "
                f"routes file; put the value in an environment variable and name it with "
                f"{_SECRET_KEYS[key]}"
            )


def _describe(error: ValidationError, routes: list[Any]) -> str:
    problems = []
    for item in error.errors():
        loc = list(item["loc"])
        where = "file"
        if loc[:1] == ["routes"] and len(loc) > 1 and isinstance(loc[1], int):
            where = _route_label(routes, loc[1])
            loc = loc[3:] if len(loc) > 2 and loc[2] in ("slack", "webhook", "email") else loc[2:]
        field = ".".join(str(part) for part in loc)
        if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
            field = ".".join(filter(None, (field, "kind")))
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {field}: {message}" if field else f"{where}: {message}")
    return "; ".join(problems)
