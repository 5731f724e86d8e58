"""An alert as each route shows it: a Slack Block Kit message, a webhook's JSON, an email.

Text that comes from the data (cohorts, slices, titles, feedback) is escaped for Slack mrkdwn
and rendered verbatim, so it cannot make a link or a mention; every piece of it is capped."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from analytics.metrics import CX_SCORE, METRICS
from watching.alert import Alert

MAX_DATA_TEXT = 200  # characters of one data text (a slice, a title) before it is cut
MAX_SIMILAR = 3  # similar incidents listed in a message
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SLACK_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


class Email(BaseModel):
    """A rendered email: its subject line and plain-text body."""

    subject: str
    body: str


def clip(text: str, limit: int = MAX_DATA_TEXT) -> str:
    """Data text on one line, control and direction characters removed, cut to `limit`.

    >>> clip("grocery\\n<!channel>", 12)
    'grocery <!c…'
    """
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def slack_escape(text: str) -> str:
    """Text safe in Slack mrkdwn: &, < and > as entities, so no <link|...> or <!here> forms.

    >>> slack_escape("<!here> & <https://x.example|click>")
    '&lt;!here&gt; &amp; &lt;https://x.example|click&gt;'
    """
    return "".join(_SLACK_ESCAPES.get(char, char) for char in text)


def format_value(metric: str, value: float | None) -> str:
    """A metric's value in its unit: shares as percentages, the CX score in points."""
    if value is None:
        return "n/a"
    if metric == CX_SCORE:
        return f"{value:.1f} pts"
    spec = METRICS.get(metric)
    if spec is not None and spec.unit == "share":
        return f"{100 * value:.1f}%"
    return f"{value:.1f} {spec.unit}" if spec is not None else f"{value:.3g}"


def facts(alert: Alert, reminder: bool = False) -> list[tuple[str, str]]:
    """The alert's facts as (label, plain text) lines, data text clipped but not escaped."""
    lines = [
        ("Metric", f"{clip(alert.metric_label)} in {clip(alert.cohort)}"),
        ("Severity", f"{alert.severity_label} ({alert.severity:.1f})"),
        ("Started", f"{alert.start:%Y-%m-%d %H:%M}"),
    ]
    if alert.expected is not None or alert.observed is not None:
        change = (
            f"{format_value(alert.metric, alert.expected)} expected, "
            f"{format_value(alert.metric, alert.observed)} observed"
        )
        lines.append(("Change", change))
    if alert.end is not None:
        lines.append(("Ended", f"{alert.end:%Y-%m-%d %H:%M}"))
    if reminder:
        lines.append(("Still open", f"as of {alert.as_of:%Y-%m-%d %H:%M}"))
    if alert.top_slice:
        lines.append(("Top slice", clip(alert.top_slice)))
    if alert.top_cause:
        cause = clip(alert.top_cause_title or alert.top_cause)
        if alert.cause_confidence is not None:
            cause += f" (confidence {100 * alert.cause_confidence:.0f}%)"
        lines.append(("Top cause", cause))
    if alert.action:
        action = clip(alert.action_title or alert.action)
        if alert.cx_gain is not None:
            action += f" (CX gain {alert.cx_gain:+.1f} pts)"
        lines.append(("Recommended action", action))
    return lines


def similar_lines(alert: Alert) -> list[str]:
    """One plain line per similar earlier incident (at most MAX_SIMILAR)."""
    lines = []
    for other in alert.similar[:MAX_SIMILAR]:
        parts = [f"{clip(other.incident_id, 60)} ({other.start:%Y-%m-%d})"]
        parts.append(clip(", ".join(other.reasons), 120))
        if other.top_cause:
            parts.append(f"cause {clip(other.top_cause, 60)}")
        parts.append(clip(other.outcome, 80))
        if other.feedback:
            parts.append(f"feedback: {clip(other.feedback, 120)}")
        lines.append("; ".join(parts))
    return lines


def headline(alert: Alert, reminder: bool = False) -> str:
    """The alert's headline on one line (plain text), prefixed when it is a reminder."""
    return ("Still open: " if reminder else "") + clip(alert.headline(), 300)


def _mrkdwn(text: str) -> dict[str, Any]:
    # verbatim: Slack does not auto-link URLs or parse names and mentions in the text
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _http_link(link: str | None) -> str | None:
    # Slack refuses a button URL over 3,000 characters; < > | would end a Slack link early
    usable = link is not None and len(link) <= 3000 and re.fullmatch(r"https?://[^\s<>|]+", link)
    return link if usable else None


def slack_message(alert: Alert, reminder: bool = False) -> dict[str, Any]:
    """The incoming-webhook payload: a header, the facts, similar incidents, a workbench button."""
    title = slack_escape(headline(alert, reminder))
    fields = [_mrkdwn(f"*{label}*\n{slack_escape(text)}") for label, text in facts(alert, reminder)]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150], "emoji": False}},
        {"type": "section", "fields": fields[:4]},
    ]
    blocks += [{"type": "section", "text": field} for field in fields[4:]]
    similar = similar_lines(alert)
    if similar:
        listed = "\n".join(f"• {slack_escape(line)}" for line in similar)
        blocks.append({"type": "context", "elements": [_mrkdwn(f"*Similar incidents*\n{listed}")]})
    link = _http_link(alert.link)
    if link:
        button = {"type": "button", "text": {"type": "plain_text", "text": "Open in workbench"}}
        blocks.append({"type": "actions", "elements": [{**button, "url": link}]})
    # The notification text, which Slack parses without `verbatim`, carries no data text.
    notice = f"cx-agent: incident {alert.event}, {alert.metric_label} ({alert.severity_label})"
    if reminder:
        notice = f"cx-agent: incident still open, {alert.metric_label} ({alert.severity_label})"
    return {
        "text": slack_escape(clip(notice)),
        "blocks": blocks,
        "unfurl_links": False,
        "unfurl_media": False,
    }


def plain_text(alert: Alert, reminder: bool = False) -> str:
    """The alert as plain text: the headline, one line per fact, similar incidents, the link."""
    lines = [headline(alert, reminder), ""]
    lines += [f"{label}: {text}" for label, text in facts(alert, reminder)]
    similar = similar_lines(alert)
    if similar:
        lines += ["", "Similar incidents:", *(f"- {line}" for line in similar)]
    link = _http_link(alert.link)
    if link:
        lines += ["", f"Open in the workbench: {link}"]
    return "\n".join(lines)


def webhook_payload(alert: Alert, reminder: bool = False, key: str | None = None) -> dict[str, Any]:
    """The generic webhook's JSON object: the alert's fields, `key` (the delivery's: the alert's
    own, or a reminder's), `reminder` and `text` (the plain-text rendering)."""
    return {
        **alert.model_dump(mode="json"),
        "key": key or alert.key,
        "reminder": reminder,
        "text": plain_text(alert, reminder),
    }


def email_message(alert: Alert, reminder: bool = False) -> Email:
    """The email: '[cx-agent] <headline>' as subject, the plain text and a footer as body."""
    footer = f"\n\n--\nSent by cx-agent's watcher; alert {clip(alert.key, 120)}."
    return Email(
        subject=f"[cx-agent] {headline(alert, reminder)}",
        body=plain_text(alert, reminder) + footer,
    )
