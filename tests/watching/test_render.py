"""Rendering: data text escaped for Slack and unable to make links or mentions; units shown."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from watching.alert import SimilarIncident
from watching.render import clip, email_message, format_value, plain_text, slack_message

if TYPE_CHECKING:
    from conftest import AlertFactory

HOSTILE = "<!channel> <https://evil.example|click here> & <@U024BE7LH> @here"


def text_objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every Block Kit text object in a payload."""
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text"):
            yield node
        for value in node.values():
            yield from text_objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from text_objects(value)


def hostile_alert(make_alert: AlertFactory) -> Any:
    return make_alert(
        cohort=f"store={HOSTILE}",
        top_slice=f"store={HOSTILE}, hour=18-20",
        top_cause_title=HOSTILE,
        action_title=HOSTILE,
        similar=[
            SimilarIncident(
                incident_id=HOSTILE,
                start=dt.datetime(2025, 12, 10, 18),
                reasons=[HOSTILE],
                outcome=HOSTILE,
                feedback=HOSTILE,
            )
        ],
    )


def test_slack_data_text_cannot_make_links_or_mentions(make_alert: AlertFactory) -> None:
    message = slack_message(hostile_alert(make_alert))
    objects = list(text_objects(message["blocks"]))
    assert len(objects) > 5
    for text in objects:
        assert "<" not in text["text"] and ">" not in text["text"]
        if text["type"] == "mrkdwn":
            assert text["verbatim"] is True  # no auto-linked URLs, names or @here
    joined = "\n".join(t["text"] for t in objects)
    assert "&lt;!channel&gt; &lt;https://evil.example|click here&gt; &amp; &lt;@U024BE7LH&gt;" in (
        joined
    )
    assert "evil" not in message["text"] and "<" not in message["text"]


def test_slack_data_text_cannot_add_lines_or_fields(make_alert: AlertFactory) -> None:
    message = slack_message(make_alert(top_slice="grocery\n*Severity*\nlow\u202e"))
    fields = [f["text"] for b in message["blocks"] for f in b.get("fields", [])]
    fields += [b["text"]["text"] for b in message["blocks"] if "text" in b]
    assert "*Top slice*\ngrocery *Severity* low" in fields


def test_long_data_text_is_clipped() -> None:
    assert len(clip("x" * 5000)) == 200 and clip("x" * 5000).endswith("…")


def test_workbench_button_only_for_an_http_link(make_alert: AlertFactory) -> None:
    for link in ("javascript:alert(1)", "http://x.example/a b", None):
        blocks = slack_message(make_alert(link=link))["blocks"]
        assert not [b for b in blocks if b["type"] == "actions"], link
        assert "javascript" not in plain_text(make_alert(link=link))


def test_email_subject_stays_one_line(make_alert: AlertFactory) -> None:
    email = email_message(make_alert(cohort="grocery\r\nBcc: victim@example.com"))
    assert "\n" not in email.subject and "\r" not in email.subject
    assert email.subject == (
        "[cx-agent] CX incident: On-time rate in grocery Bcc: victim@example.com (high)"
    )


def test_reminder_is_marked_in_every_rendering(make_alert: AlertFactory) -> None:
    alert = make_alert()
    assert slack_message(alert, reminder=True)["blocks"][0]["text"]["text"].startswith("Still open")
    assert email_message(alert, reminder=True).subject.startswith("[cx-agent] Still open: ")
    assert "Still open: as of 2026-01-04 19:00" in plain_text(alert, reminder=True)


def test_values_are_shown_in_the_metric_unit() -> None:
    assert format_value("on_time_rate", 0.9123) == "91.2%"
    assert format_value("cx_score", 81.26) == "81.3 pts"
    assert format_value("duration_min", 41.25) == "41.2 minutes"
    assert format_value("on_time_rate", None) == "n/a"
