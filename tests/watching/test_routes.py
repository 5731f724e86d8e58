"""The routes file: what it accepts, what it refuses (secrets above all), and how it matches."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from watching.routes import (
    EmailRoute,
    QuietHours,
    RoutesError,
    SlackRoute,
    load_routes,
    parse_duration,
)

if TYPE_CHECKING:
    from conftest import AlertFactory

EXAMPLE = Path(__file__).parents[2] / "examples" / "alert_routes.yaml"


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def test_example_file_loads() -> None:
    routes = load_routes(EXAMPLE)
    slack, webhook, email = routes.routes
    assert isinstance(slack, SlackRoute) and slack.url_env == "SLACK_WEBHOOK_URL"
    assert slack.min_severity == "medium" and str(slack.quiet_hours) == "23:00-07:00"
    assert slack.renotify_after == dt.timedelta(hours=24)
    assert webhook.events == ["opened", "resolved"]
    assert isinstance(email, EmailRoute) and email.sender == "cx-agent@example.com"
    assert email.to == ["oncall@example.com"] and email.credentials() is None
    assert routes.timezone == "America/Los_Angeles"


@pytest.mark.parametrize(
    ("entry", "field", "instead"),
    [
        ("{name: team, kind: slack, url: 'https://hooks.slack.com/T/B/x'}", "url", "url_env"),
        ("{name: team, kind: webhook, url_env: X, token: abc}", "token", "url_env"),
        (
            "{name: team, kind: email, smtp_host: h, from: a@b.c, to: [d@e.f], password: pw}",
            "password",
            "password_env",
        ),
    ],
)
def test_secret_in_the_file_is_refused(
    tmp_path: Path, entry: str, field: str, instead: str
) -> None:
    path = write(tmp_path, f"routes:\n  - {entry}\n")
    with pytest.raises(RoutesError) as refused:
        load_routes(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: route 'team' (routes[0]): {field}: secrets are not read")
    assert f"name it with {instead}" in message
    assert "hooks.slack.com" not in message


def test_errors_name_the_file_the_route_and_the_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        routes:
          - {name: ok, kind: webhook, url_env: HOOK}
          - {name: mail, kind: email, smtp_host: h, smtp_port: many, from: a@b.c, to: [d@e.f]}
          - {name: pager, kind: pager}
          - {name: late, kind: slack, url_env: HOOK, quiet_hours: "11pm-7am"}
          - {name: picky, kind: slack, url_env: HOOK, filters: {metric: [ontime]}}
        """,
    )
    with pytest.raises(RoutesError) as refused:
        load_routes(path)
    problems = str(refused.value).removeprefix(f"{path}: ").split("; ")
    assert problems[0].startswith("route 'mail' (routes[1]): smtp_port: Input should be")
    assert problems[1].startswith("route 'pager' (routes[2]): kind: Input tag 'pager'")
    assert problems[2] == (
        "route 'late' (routes[3]): quiet_hours: quiet hours '11pm-7am': write them as "
        "HH:MM-HH:MM, e.g. 23:00-07:00"
    )
    assert problems[3].startswith("route 'picky' (routes[4]): filters.metric: unknown metric")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("routes: [{name: a, kind: webhook, url_env: X}, {name: a, kind: slack, url_env: Y}]",
         "route names must be unique; repeated: a"),
        ("routes: [{name: a, kind: webhook, url_env: 'not a name'}]", "is not an environment"),
        ("routes: [{name: a, kind: webhook, url_env: X, colour: red}]", "colour: Extra inputs"),
        ("routes: [{name: a, kind: webhook, url_env: X, renotify_after: 5m}]", "at least 15m"),
        ("routes: [{name: a, kind: email, smtp_host: h, from: a@b.c, to: [d@e.f],"
         " username_env: U}]", "username_env and password_env go together"),
        ("routes: [{name: a, kind: webhook, url_env: X}]\ntimezone: Mars/Olympus", "time zone"),
        ("routes: {name: a}", "expected a mapping with a list under 'routes:'"),
        ("routes: [", "not valid YAML"),
    ],
)  # fmt: skip
def test_bad_files_are_refused_with_the_reason(tmp_path: Path, body: str, expected: str) -> None:
    with pytest.raises(RoutesError, match=expected):
        load_routes(write(tmp_path, body))


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RoutesError, match="routes.yaml: routes file not found"):
        load_routes(tmp_path / "routes.yaml")


def test_timezone_argument_overrides_the_file() -> None:
    assert load_routes(EXAMPLE, timezone="Europe/Madrid").timezone == "Europe/Madrid"
    routes = load_routes(EXAMPLE, timezone="Europe/Madrid")
    winter_noon_utc = dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC)
    assert routes.local(winter_noon_utc) == dt.datetime(2026, 1, 5, 13)
    assert routes.local(dt.datetime(2026, 1, 5, 12)) == dt.datetime(2026, 1, 5, 12)


def test_quiet_hours_wrapping_midnight_end_the_next_morning() -> None:
    night = QuietHours.parse("23:00-07:00")
    assert night.ends_at(dt.datetime(2026, 1, 4, 23, 30)) == dt.datetime(2026, 1, 5, 7)
    assert night.ends_at(dt.datetime(2026, 1, 5, 6, 59)) == dt.datetime(2026, 1, 5, 7)
    assert night.ends_at(dt.datetime(2026, 1, 5, 7, 0)) is None
    assert night.ends_at(dt.datetime(2026, 1, 4, 22, 59)) is None
    lunch = QuietHours.parse("12:00 - 13:30")
    assert lunch.ends_at(dt.datetime(2026, 1, 4, 12, 0)) == dt.datetime(2026, 1, 4, 13, 30)
    assert lunch.ends_at(dt.datetime(2026, 1, 4, 13, 30)) is None


def test_durations_read_days_hours_and_minutes() -> None:
    assert parse_duration("24h") == dt.timedelta(hours=24)
    assert parse_duration("1d12h30m") == dt.timedelta(days=1, hours=12, minutes=30)
    for bad in ("", "24", "h", "1w", "-1h"):
        with pytest.raises(ValueError, match="is not a duration"):
            parse_duration(bad)


def test_cohort_filters_match_the_cohort_or_the_top_slice(
    tmp_path: Path, make_alert: AlertFactory
) -> None:
    path = write(
        tmp_path,
        """
        routes:
          - {name: late-night, kind: webhook, url_env: X, filters: {cohort: ["hour=23", "hour=0"]}}
          - {name: north, kind: webhook, url_env: X, filters: {cohort: region=north}}
        """,
    )
    late_night, north = load_routes(path).routes
    assert late_night.admit(make_alert(top_slice="category=grocery, hour=22-01"))
    assert late_night.admit(make_alert(top_slice="hour=00/05"))
    assert not late_night.admit(make_alert(top_slice="category=grocery, hour=18-20"))
    assert north.admit(make_alert(cohort="region=north", top_slice=None))
    assert north.admit(make_alert(cohort="all", top_slice="region=south/north"))
    assert not north.admit(make_alert(cohort="region=northeast", top_slice=None))
