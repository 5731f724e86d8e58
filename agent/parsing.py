"""Offline question parsing: a user's question read, by rules, as intent, day, hours, metric,
cohort filters and what-if action.

The rules (deterministic; nothing here raises on user text, what cannot be read becomes a note):
- Relative dates ("yesterday", "today", "this morning", "two days ago", "last Tuesday") count
  from `today` when the caller gives it, else from the data's last day: the warehouse's last day
  is "today" for the data.
- "last Tuesday" is the latest Tuesday strictly before that anchor; "on Tuesday", "this
  Tuesday" or a bare "Tuesday" the latest on or before it; "Tuesday before last" one week earlier.
- A date without a year ("Jan 4", "4 Jan", "1/4", "Christmas Eve", and "the 24th", which also
  lacks a month) takes the year (and month) that puts it inside the data, the latest such date
  on or before the anchor first; when no reading is inside the data, the latest occurrence on or
  before the anchor.
- Slashed dates are US month/day ("1/4" is January 4); one that only works as day/month
  ("24/12") is read that way, with a note.
- A date outside the data is kept, with a note; the caller answers that it is outside the data.
  When several dates are named the first is used, with a note.
- Clock ranges are [start, end): "18:00-20:00" and "6-8pm" are hours 18 and 19; "hours 18-20"
  lists hour labels 18, 19 and 20. Dayparts (breakfast, lunch, dinner, late night) become a
  daypart filter; other times of day (morning, afternoon, evening) become an hour filter.
  start_hour/end_hour come from the first clock reading, else from the first time in words.
- Only the first MAX_QUESTION_CHARS characters are read.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from analytics.cohorts import DIMENSIONS, canonical_dimension
from analytics.metrics import CX_SCORE, METRICS
from data.schema import DAYPARTS
from data.world_config import CATEGORIES, REGIONS
from tools.actions import ACTIONS

MAX_QUESTION_CHARS = 2_000
MAX_NOTES = 12
METRIC_NAMES: tuple[str, ...] = (CX_SCORE, *METRICS)

Intent = Literal["diagnose", "what_if", "plan", "show_sql", "drill_down", "unknown"]


class ParsedQuestion(BaseModel):
    """A question as the agent acts on it (also the schema an LLM backend fills)."""

    intent: Intent = Field(
        "unknown",
        description=(
            "diagnose: why / what happened / is anything wrong; what_if: the effect of an action; "
            "plan: an experiment plan; show_sql: the SQL behind an answer; drill_down: a "
            "breakdown (which stores, regions or hours are worst); unknown: none of these"
        ),
    )
    day: dt.date | None = Field(
        None, description="The day asked about (local time); kept even when outside the data"
    )
    start_hour: int | None = Field(
        None, ge=0, le=23, description="First local hour of a named time range (0-23)"
    )
    end_hour: int | None = Field(
        None,
        ge=0,
        le=24,
        description="Hour the range ends, exclusive; below start_hour when it wraps past midnight",
    )
    metric: str | None = Field(
        None, description=f"One of {', '.join(METRIC_NAMES)}; null when none is named"
    )
    filters: dict[str, list[str | int]] = Field(
        default_factory=dict,
        description=f"Cohort filters {{dimension: [values]}}; dimensions {', '.join(DIMENSIONS)}",
    )
    action: str | None = Field(
        None, description=f"For what_if and plan: one of {', '.join(ACTIONS)}; else null"
    )
    parameters: dict[str, float] = Field(
        default_factory=dict,
        description=(
            'Action parameters, e.g. {"minutes": 3} (eta_buffer), {"share": 0.1} '
            '(throttle_demand), {"target_share": 0.3} (revert_batching)'
        ),
    )
    notes: list[str] = Field(
        default_factory=list, description="What was ignored, ambiguous or assumed"
    )
    unrecognized: bool = Field(False, description="True when nothing in the question was usable")

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str | None) -> str | None:
        if value is not None and value not in METRIC_NAMES:
            raise ValueError(f"unknown metric {value!r}; known: {', '.join(METRIC_NAMES)}")
        return value

    @field_validator("action")
    @classmethod
    def _known_action(cls, value: str | None) -> str | None:
        if value is not None and value not in ACTIONS:
            raise ValueError(f"unknown action {value!r}; known: {', '.join(ACTIONS)}")
        return value

    @field_validator("filters")
    @classmethod
    def _canonical_filters(cls, value: dict[str, list[str | int]]) -> dict[str, list[str | int]]:
        filters: dict[str, list[str | int]] = {}
        for name, values in value.items():
            if not values:
                raise ValueError(f"filter {name!r} has no values")
            filters.setdefault(canonical_dimension(name), []).extend(values)
        return filters

    @model_validator(mode="after")
    def _whole_time_range(self) -> ParsedQuestion:
        if (self.start_hour is None) != (self.end_hour is None):
            raise ValueError("start_hour and end_hour are given together or not at all")
        return self


# --- text -----------------------------------------------------------------------------------


def _clean(text: str, notes: list[str]) -> str:
    """The question capped, NFKC-normalized, lower-cased, with control characters as spaces."""
    if len(text) > MAX_QUESTION_CHARS:
        notes.append(
            f"the question is {len(text):,} characters long; only the first "
            f"{MAX_QUESTION_CHARS:,} were read"
        )
        text = text[:MAX_QUESTION_CHARS]
    text = unicodedata.normalize("NFKC", text).casefold()
    text = text.replace("\u2019", "'").replace("\u2013", "-").replace("\u2014", "-")
    return re.sub(r"[\s\x00-\x1f\x7f]+", " ", text).strip()


class _Scanner:
    """Finds patterns in the text, each character used by at most one date or time mention."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.taken = [False] * len(text)

    def find(
        self, pattern: re.Pattern[str], accept: Callable[[re.Match[str]], bool] = bool
    ) -> Iterator[re.Match[str]]:
        """Matches that overlap no earlier mention and pass `accept`; marks them as used."""
        position = 0
        while match := pattern.search(self.text, position):
            start, end = match.span()
            if any(self.taken[start:end]) or not accept(match):
                position = start + 1  # retry inside: a shorter mention may start later
                continue
            self.taken[start:end] = [True] * (end - start)
            position = max(end, start + 1)
            yield match


_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "thirty": 30, "couple": 2, "a couple": 2, "a couple of": 2, "couple of": 2,
}  # fmt: skip
_NUMBER = r"\d{1,5}(?:\.\d+)?|" + "|".join(sorted(map(re.escape, _NUMBER_WORDS), key=len)[::-1])


def _number(token: str) -> float:
    return float(_NUMBER_WORDS[token]) if token in _NUMBER_WORDS else float(token)


# --- dates ----------------------------------------------------------------------------------

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH = (
    r"(?P<month>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?"
)
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY = r"(?P<weekday>mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day|nesday|sday|urday)?"
_WEEKDAY_FULL = r"(?P<weekday>" + "|".join(_WEEKDAYS) + ")"
_ORDINAL = r"(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+(?P<year>\d{4}))?\b"
_HOLIDAYS = {"christmas eve": (12, 24), "christmas": (12, 25), "boxing day": (12, 26),
             "new year's eve": (12, 31), "new years eve": (12, 31), "new year's": (1, 1),
             "new years": (1, 1), "new year": (1, 1)}  # fmt: skip

_ISO_DATE = re.compile(r"\b(?P<year>\d{4})[-/.](?P<month>\d{1,2})[-/.](?P<day>\d{1,2})\b")
_MONTH_DAY = re.compile(r"\b" + _MONTH + r"\s*(?P<day>\d{1,2})" + _ORDINAL + r"\b" + _YEAR)
_DAY_MONTH = re.compile(
    r"\b(?:the\s+)?(?P<day>\d{1,2})" + _ORDINAL + r"\s+(?:of\s+)?" + _MONTH + _YEAR
)
_SLASH_DATE = re.compile(  # "1/2 of the stores" is a fraction
    r"\b(?P<month>\d{1,2})/(?P<day>\d{1,2})(?:/(?P<year>\d{4}|\d{2}))?\b(?!\s+of\b)"
)
_HOLIDAY = re.compile(
    r"\b(?P<holiday>christmas eve|christmas|boxing day|new year'?s eve|new year'?s|new year)"
    r"(?:\s+day)?\b"
)
_RELATIVE_DAY = re.compile(
    r"\b(?P<phrase>(?:the\s+)?day\s+before\s+yesterday|yesterday|today|tonight|last\s+night"
    r"|this\s+(?:morning|afternoon|evening))\b"
)
_DAYS_AGO = re.compile(
    r"\b(?P<count>" + _NUMBER + r")\s+(?P<unit>days?|weeks?)\s+(?:ago|back|earlier)\b"
)
_WEEKDAY_BEFORE_LAST = re.compile(r"\b" + _WEEKDAY + r"\s+before\s+last\b")
_LAST_WEEKDAY = re.compile(r"\b(?:last|past|previous)\s+" + _WEEKDAY + r"\b")
_THIS_WEEKDAY = re.compile(r"\b(?:on|this)\s+" + _WEEKDAY + r"\b")
_BARE_WEEKDAY = re.compile(r"\b" + _WEEKDAY_FULL + r"\b")
_DAY_OF_MONTH = re.compile(r"\b(?:on\s+)?the\s+(?P<day>\d{1,2})(?:st|nd|rd|th)\b")
_DATE_RANGE = re.compile(
    r"\b(?P<phrase>(?:last|this|past|previous)\s+(?:week(?:end)?|month|few\s+days"
    r"|\d+\s+days)|over\s+the\s+holidays)\b"
)
# Start-of-day offsets of relative phrases and the hours they name.
_RELATIVE_OFFSETS = {"today": 0, "tonight": 0, "this morning": 0, "this afternoon": 0,
                     "this evening": 0, "yesterday": 1, "last night": 1,
                     "day before yesterday": 2, "the day before yesterday": 2}  # fmt: skip
_TIMES_OF_DAY = {"morning": (5, 12), "afternoon": (12, 17), "evening": (17, 22)}


@dataclass(frozen=True)
class _DateMention:
    """A date the question names: where, the day it resolves to (None if invalid), its hours."""

    position: int
    phrase: str
    day: dt.date | None
    relative: bool = False
    hours: tuple[int, int] | None = None


def _make_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _shift(anchor: dt.date, days: int) -> dt.date | None:
    try:
        return anchor - dt.timedelta(days=days)
    except OverflowError:
        return None


def _pick(candidates: list[dt.date], start: dt.date, end: dt.date, anchor: dt.date) -> dt.date:
    """The reading of a partial date: inside the data first, then on or before the anchor, the
    latest of each; failing both, the earliest reading."""
    inside = [c for c in candidates if start <= c <= end]
    for pool in (
        [c for c in inside if c <= anchor],
        inside,
        [c for c in candidates if c <= anchor],
    ):
        if pool:
            return max(pool)
    return min(candidates)


def _yearless(
    month: int, day: int | None, start: dt.date, end: dt.date, anchor: dt.date
) -> dt.date | None:
    """A date with no year (and, when `month` is 0, no month) resolved by `_pick`."""
    first_year = max(dt.MINYEAR, min(start.year, anchor.year) - 1)
    years = range(first_year, min(dt.MAXYEAR, max(end.year, anchor.year) + 1) + 1)
    months = [month] if month else range(1, 13)
    candidates = [date for year in years for m in months if (date := _make_date(year, m, day or 0))]
    return _pick(candidates, start, end, anchor) if candidates else None


def _month_number(token: str) -> int:
    return _MONTHS[token[:3]]


def _full_year(token: str) -> int:
    return int(token) + 2000 if len(token) == 2 else int(token)


def _date_mentions(
    scanner: _Scanner, start: dt.date, end: dt.date, anchor: dt.date, notes: list[str]
) -> list[_DateMention]:
    """Every date the question names, in text order (patterns tried most specific first)."""
    mentions: list[_DateMention] = []

    def add_calendar(match: re.Match[str], month: int, day: int, year: str | None) -> None:
        if year:
            date = _make_date(_full_year(year), month, day)
        else:
            date = _yearless(month, day, start, end, anchor) if 1 <= day <= 31 else None
        if date is None:
            notes.append(f"'{match.group(0)}' is not a date; ignored")
        mentions.append(_DateMention(match.start(), match.group(0), date))

    for match in scanner.find(_ISO_DATE):
        add_calendar(match, int(match["month"]), int(match["day"]), match["year"])
    for pattern in (_MONTH_DAY, _DAY_MONTH):
        for match in scanner.find(pattern):
            add_calendar(match, _month_number(match["month"]), int(match["day"]), match["year"])
    for match in scanner.find(_SLASH_DATE):
        month, day = int(match["month"]), int(match["day"])
        if match.group(0) == "24/7":  # "around the clock", not a date
            continue
        if month > 12 and 1 <= day <= 12:
            notes.append(f"read '{match.group(0)}' as day/month")
            month, day = day, month
        if month <= 12:
            add_calendar(match, month, day, match["year"])
    for match in scanner.find(_HOLIDAY):
        month, day = _HOLIDAYS[match["holiday"]]
        mentions.append(
            _DateMention(match.start(), match.group(0), _yearless(month, day, start, end, anchor))
        )
    for match in scanner.find(_RELATIVE_DAY):
        phrase = re.sub(r"\s+", " ", match["phrase"])
        hours = _TIMES_OF_DAY.get(phrase.split()[-1])
        if phrase in ("tonight", "last night"):
            hours = _TIMES_OF_DAY["evening"]
        day = _shift(anchor, _RELATIVE_OFFSETS[phrase])
        mentions.append(_DateMention(match.start(), phrase, day, relative=True, hours=hours))
    for match in scanner.find(_DAYS_AGO):
        days = int(_number(match["count"])) * (7 if match["unit"].startswith("week") else 1)
        mentions.append(
            _DateMention(match.start(), match.group(0), _shift(anchor, days), relative=True)
        )
    # (pattern, fewest days back, extra weeks back): "last" excludes the anchor's own day.
    weekday_forms = ((_WEEKDAY_BEFORE_LAST, 1, 1), (_LAST_WEEKDAY, 1, 0),
                     (_THIS_WEEKDAY, 0, 0), (_BARE_WEEKDAY, 0, 0))  # fmt: skip
    for pattern, fewest, weeks in weekday_forms:
        for match in scanner.find(pattern):
            weekday = [name[:3] for name in _WEEKDAYS].index(match["weekday"][:3])
            back = (anchor.weekday() - weekday) % 7
            back += 7 * weeks + (7 if back < fewest else 0)
            mentions.append(
                _DateMention(match.start(), match.group(0), _shift(anchor, back), relative=True)
            )
    for match in scanner.find(_DAY_OF_MONTH):
        day = int(match["day"])
        date = _yearless(0, day, start, end, anchor) if 1 <= day <= 31 else None
        if date is None:
            notes.append(f"'{match.group(0)}' is not a date; ignored")
        mentions.append(_DateMention(match.start(), match.group(0), date))
    for match in scanner.find(_DATE_RANGE):
        notes.append(f"'{match['phrase']}' names a range, not a day; no day was taken from it")
    return sorted(mentions, key=lambda mention: mention.position)


# --- times of day ---------------------------------------------------------------------------

_CLOCK = r"(?P<h{n}>\d{{1,2}})(?::(?P<m{n}>\d{{2}}))?\s*(?P<ap{n}>am|pm|a\.m\.|p\.m\.)?"
_CLOCK_RANGE = re.compile(
    r"\b(?:between\s+)?"
    + _CLOCK.format(n=1)
    + r"\s*(?:-|to|until|till|and)\s*"
    + _CLOCK.format(n=2)
    + r"(?!\w)"
)
_HOUR_LIST = re.compile(r"\bhours?\s+(?P<list>\d{1,2}(?:\s*(?:,|-|to|and|,\s*and)\s*\d{1,2})*)\b")
_SINGLE_CLOCK = re.compile(
    r"\b(?P<h1>\d{1,2})(?::(?P<m1>\d{2})\s*(?P<ap1>am|pm|a\.m\.|p\.m\.)?"
    r"|\s*(?P<ap2>am|pm|a\.m\.|p\.m\.))(?!\w)"
)
_DAYPART_WORDS = re.compile(
    r"\b(?P<word>breakfast|brunch|lunch(?:time)?|dinner(?:time)?|supper|late[\s-]*night"
    r"|overnight|morning|afternoon|evening)s?\b"
)
_DAYPART_OF_WORD = {"breakfast": "breakfast", "brunch": "breakfast", "lunch": "lunch",
                    "lunchtime": "lunch", "dinner": "dinner", "dinnertime": "dinner",
                    "supper": "dinner", "overnight": "late_night"}  # fmt: skip


@dataclass(frozen=True)
class _TimeMention:
    """A time range the question names: [start, end) hours, the filter it becomes (a daypart,
    or hour labels), and whether it was given by the clock rather than in words."""

    position: int
    phrase: str
    start: int
    end: int
    daypart: str | None = None
    hours: tuple[int, ...] = ()
    by_clock: bool = False


def _hour_of(hour: str, minute: str | None, meridiem: str | None) -> int | None:
    """The hour (0-24) of a clock reading, or None if it is not one."""
    value = int(hour)
    if meridiem:
        if not 1 <= value <= 12:
            return None
        value = value % 12 + (12 if meridiem.startswith("p") else 0)
    if value > 24 or (minute is not None and int(minute) > 59):
        return None
    return value


def _hours_between(start: int, end: int) -> tuple[int, ...]:
    """Hour labels in [start, end), wrapping past midnight when end <= start."""
    if end > start:
        return tuple(range(start, end))
    return (*range(start, 24), *range(0, end))


def _clock_range(match: re.Match[str], notes: list[str]) -> _TimeMention | None:
    """'18:00-20:00', '6-8pm', 'between 11am and 2pm' as [start, end) hours."""
    first, second = match["ap1"], match["ap2"]
    h1, h2 = int(match["h1"]) % 12, int(match["h2"]) % 12
    # A missing am/pm is the other end's, unless that would make the range run backwards.
    if first and not second:
        second = first if h2 >= h1 else ("pm" if first.startswith("a") else "am")
    if second and not first:
        first = second if h1 <= h2 else ("am" if second.startswith("p") else "pm")
    start = _hour_of(match["h1"], match["m1"], first)
    stop = _hour_of(match["h2"], match["m2"], second)
    if start is not None and stop is not None:
        stop += 1 if match["m2"] and int(match["m2"]) else 0  # 18:00-20:30 includes hour 20
        stop = 24 if stop == 0 and start > 0 else stop
        if start < 24 and stop <= 24 and stop != start:
            hours = _hours_between(start, stop)
            phrase = match.group(0).strip()
            return _TimeMention(match.start(), phrase, start, stop, None, hours, by_clock=True)
    notes.append(f"'{match.group(0).strip()}' is not a time range; ignored")
    return None


def _is_clock(match: re.Match[str]) -> bool:
    """Whether a range has a colon or am/pm: without them "2-3" is a count or hour labels."""
    return bool(match["ap1"] or match["ap2"] or match["m1"] or match["m2"])


def _time_mentions(scanner: _Scanner, notes: list[str]) -> list[_TimeMention]:
    """Every time range the question names, in order."""
    mentions: list[_TimeMention] = []
    for match in scanner.find(_CLOCK_RANGE, _is_clock):
        mentions.extend(filter(None, [_clock_range(match, notes)]))
    for match in scanner.find(_HOUR_LIST):
        labels = [int(n) for n in re.findall(r"\d+", match["list"])]
        if re.search(r"-|to", match["list"]) and len(labels) == 2:
            labels = list(range(labels[0], labels[1] + 1))
        if not labels or max(labels) > 23:
            notes.append(f"'{match.group(0)}' names hours outside 0-23; ignored")
            continue
        mentions.append(
            _TimeMention(
                match.start(), match.group(0), labels[0], labels[-1] + 1, None, tuple(labels), True
            )
        )
    for match in scanner.find(_SINGLE_CLOCK):
        hour = _hour_of(match["h1"], match["m1"], match["ap1"] or match["ap2"])
        if hour is not None and hour < 24:
            mentions.append(
                _TimeMention(match.start(), match.group(0), hour, hour + 1, None, (hour,), True)
            )
    for match in scanner.find(_DAYPART_WORDS):
        word = match["word"]
        daypart = "late_night" if word.startswith("late") else _DAYPART_OF_WORD.get(word, word)
        if daypart in DAYPARTS:
            start, end = DAYPARTS[daypart]
            mentions.append(_TimeMention(match.start(), match.group(0), start, end, daypart))
        else:
            start, end = _TIMES_OF_DAY[word]
            hours = _hours_between(start, end)
            mentions.append(_TimeMention(match.start(), match.group(0), start, end, hours=hours))
    return sorted(mentions, key=lambda mention: mention.position)


# --- metrics, filters, actions, intent ------------------------------------------------------

_METRIC_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("eta_abs_error_min", r"\beta\s+(?:errors?|accuracy|mae)\b|\bmean\s+absolute\s+eta\b"),
        ("eta_bias_min", r"\beta\s+bias\b|\b(?:over|under)[\s-]*quot\w*"),
        ("on_time_rate", r"\bon[\s-]*time\b|\bontime\b|\blate\b(?![\s-]*night)|\blateness\b"
                         r"|\beta\s+miss\w*|\bmissed\s+etas?\b|\bdelay\w*|\btardi\w*"),
        ("cx_score", r"\bcx\b|\bcustomer[\s-]+experience\b|\bsatisf\w*|\bcsat\b"),
        ("cancellation_rate", r"\bcancel\w*"),
        ("refund_rate", r"\brefund\w*"),
        ("item_accuracy", r"\bitem[\s-]*accuracy\b|\bmissing\s+(?:items?|lines?|products?)\b"
                          r"|\bsubstitut\w*|\bsubs\b|\bwrong\s+(?:items?|products?)\b"
                          r"|\bout[\s-]*of[\s-]*stocks?\b|\baccuracy\b"),
        ("support_rate", r"\bsupport\b|\btickets?\b|\bcontacts?\b|\bcomplain\w*"),
        ("rating", r"\bratings?\b|\bstars?\b|\brated\b|\breviews?\b"),
        ("duration_min", r"\bslow\w*|\bdelivery[\s-]*(?:times?|speed)\b|\bduration\w*"
                         r"|\btook\s+longer\b|\blonger\s+deliver\w*"),
        ("batched_rate", r"\bbatch(?:ed|ing)\s+(?:rate|share)\b|\bshare\s+batched\b"
                         r"|\bbatched\s+orders\b"),
        ("prep_min", r"\bprep(?:aration)?[\s-]*times?\b|\bprep\s+minutes\b"),
        ("dasher_wait_min", r"\bdasher[\s-]*wait\w*|\bwait\w*\s+(?:time\s+)?for\s+dashers?\b"),
    )
)  # fmt: skip

_REGION = re.compile(r"\b(?P<value>" + "|".join(REGIONS) + r")(?:ern)?\b")
_REGION_WORDS = re.compile(r"\b(?P<word>[a-z][a-z-]*)\s+region\b")
_NOT_REGION_NAMES = {"the", "a", "an", "each", "every", "which", "what", "that", "this",
                     "one", "any", "same", "other", "worst", "best", "affected", "whole",
                     "entire", "per", "by", "its", "their", "our", "my", "your",
                     "whose"}  # fmt: skip
_CATEGORY_WORDS = {"grocery": r"grocer(?:y|ies|s)?", "convenience": r"convenience|c-stores?",
                   "retail": r"retail(?:ers?)?"}  # fmt: skip
_CATEGORY = tuple(
    (name, re.compile(r"\b(?:" + _CATEGORY_WORDS.get(name, re.escape(name)) + r")\b"))
    for name in CATEGORIES
)
_BASKET = re.compile(
    r"\b(?P<size>small(?:er)?|little|tiny|medium|mid-?sized?|large(?:r)?|big(?:ger)?|huge)"
    r"\s+(?:baskets?|orders?|carts?)\b|\bbaskets?\s+(?:size\s+)?(?P<after>small|medium|large)\b"
)
_BASKET_SIZE = {"small": "small", "smaller": "small", "little": "small", "tiny": "small",
                "medium": "medium", "large": "large", "larger": "large", "big": "large",
                "bigger": "large", "huge": "large"}  # fmt: skip
_STORE = re.compile(
    r"\bs(?P<id>\d{3,6})\b|\bstore\s*(?:#\s*|no\.?\s*|number\s+|id\s+)?(?P<n>\d{1,6})\b"
)

_GAP = r"[^.?!;]{0,40}"
_ACTION_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("revert_batching",
         r"\b(?:cut|reduc\w*|lower\w*|revert\w*|roll\w*\s*back|undo\w*|restor\w*|disabl\w*"
         r"|turn\w*\s+off|stop\w*|tighten\w*|shrink\w*|decreas\w*|less|fewer|go\w*\s+back"
         r"|pull\w*\s+back|back\s*out)\b" + _GAP + r"\bbatch\w*"
         r"|\bbatch\w*" + _GAP + r"\b(?:back|revert\w*|roll\w*\s*back|undo\w*)\b"
         r"|\bno\s+batching\b|\bunbatch\w*"),
        ("eta_buffer",
         r"\bbuffer\w*|\bpad\w*\b" + _GAP + r"\b(?:etas?|quotes?|estimates?|promises?)\b"
         r"|\b(?:etas?|quotes?)\s+(?:by|with)\s+\S+\s+(?:more\s+)?min\w*"
         r"|\b(?:lengthen\w*|extend\w*|longer)\b" + _GAP + r"\b(?:etas?|quotes?|promises?)\b"
         r"|\badd\w*\b" + _GAP + r"\bmin\w*\s+(?:to|on)\s+(?:the\s+|our\s+|all\s+)?"
         r"(?:etas?|quotes?|promises?)\b"),
        ("prep_quote_fix",
         r"\bprep\w*[\s-]*(?:time\s+)?(?:estimat\w*|quot\w*|predict\w*|forecast\w*|model\w*)"
         r"|\b(?:estimat\w*|quot\w*)\s+(?:of\s+|for\s+)?(?:the\s+)?prep\w*"),
        ("merchant_prep_fix",
         r"\bmerchant[\s-]*prep[\s-]*fix\b|\bwork\w*\s+with\s+(?:the\s+)?(?:stores|merchants)\b"
         r"|\b(?:fix\w*|restor\w*|speed\w*\s+up|improv\w*|reduc\w*|cut|lower\w*|shorten\w*)\s+"
         r"(?:the\s+|their\s+|merchant\s+|store\s+)*prep\w*+"
         r"(?!(?:[\s-]*times?)?[\s-]*(?:estimat|quot|predict|forecast|model))"),
        ("peak_pay",
         r"\bpeak[\s-]*pay\b|\b(?:dasher|driver|courier)s?\W*(?:incentiv\w*|bonus\w*|pay|boost\w*)"
         r"|\bincentiv\w*|\b(?:more|add\w*|extra|boost\w*)\s+(?:\w+\s+)?(?:dashers|drivers"
         r"|couriers|supply)\b|\b(?:surge|boost)\s+pay\b"),
        ("eta_rollback",
         r"\b(?:roll\w*\s*back|revert\w*|undo\w*|restor\w*)\b" + _GAP +
         r"\beta[\s-]*(?:model|version|change|update|release|deploy\w*)\b"
         r"|\beta[\s-]*(?:model|version)\b" + _GAP + r"\b(?:roll\w*\s*back|revert\w*|undo\w*)\b"
         r"|\b(?:old|previous|prior)\s+eta[\s-]*(?:model|version)\b"),
        ("throttle_demand",
         r"\bthrottl\w*|\b(?:narrow\w*|shrink\w*|reduc\w*|cut|tighten\w*|smaller)\b" + _GAP +
         r"\b(?:radius|radii|delivery\s+(?:area|zone)s?)\b"
         r"|\b(?:limit\w*|cap\w*|shed\w*)\s+(?:the\s+)?(?:demand|orders|volume)\b"),
        ("inventory_rollback",
         r"\b(?:roll\w*\s*back|revert\w*|undo\w*|restor\w*|fix\w*)\b" + _GAP + r"\binventory\b"
         r"|\binventory[\s-]*(?:feed\s+)?(?:rollback|roll[\s-]*back|revert\w*)"
         r"|\bsuppress\w*\b" + _GAP + r"\b(?:skus?|items?|products?)\b"
         r"|\bskus?\b" + _GAP + r"\bsuppress\w*"
         r"|\bhide\b" + _GAP + r"\b(?:skus?|out[\s-]*of[\s-]*stock)"),
    )
)  # fmt: skip
_MINUTES = re.compile(r"(?<![\w.])(?P<n>" + _NUMBER + r")[\s-]*(?:min(?:ute)?s?)\b")
_PERCENT = re.compile(r"(?P<n>\d{1,3}(?:\.\d+)?)\s*(?:%|percent\b|pct\b)")
_SHARE = re.compile(r"(?<![\w.])(?P<n>0?\.\d+)\s+(?:share|of\s+(?:the\s+)?orders)\b")
_BATCHING_TARGET = re.compile(r"\bto\s+(?P<n>\d{1,3}(?:\.\d+)?)\s*(?:%|percent\b|pct\b)")

# Strong cues, in priority order: the first that matches is the intent.
_INTENT_CUES: tuple[tuple[Intent, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("show_sql", r"\bsql\b|\b(?:show|see|print|display|give|share|view)\b[^.?!]{0,40}"
                     r"\bquer(?:y|ies)\b"),
        ("plan", r"\bplan\b|\bexperiment\w*|\ba\s*/\s*b\b|\bab\s+test|\bswitchback\b"
                 r"|\bhow\s+(?:would|should|do|can|could)\s+we\s+test\b|\bsample\s+size\b"),
        ("what_if", r"\bwhat\s+(?:if|would\s+happen|happens\s+if|would\s+it\s+look)\b"
                    r"|\bsuppose\b|\bimagine\b|\bsimulat\w*|\bcounterfactual\w*"
                    r"|\bwould\s+it\s+help\b|\bhow\s+much\s+would\b|\bif\s+we\b|\bshould\s+we\b"
                    r"|\bcould\s+we\b|\bwhat\s+would\b"),
        ("drill_down", r"\bdrill\w*|\bbreak\s*(?:it\s+|that\s+)?down\b|\bbreakdown\b"
                       r"|\bzoom\w*\s+in|\bdig\s+into\b|\bsplit\s+(?:it\s+)?by\b"
                       r"|\bby\s+(?:store|region|hour|categor(?:y|ie)|daypart|basket)s?\b"
                       r"|\bwhich\s+(?:\w+\s+){0,2}(?:stores?|regions?|hours?|categor(?:y|ies)"
                       r"|dayparts?|merchants?|baskets?|slices?|cohorts?|segments?)\b"
                       r"|\b(?:worst|best|top|bottom)\s+(?:\d+\s+)?(?:stores?|regions?|hours?"
                       r"|categor(?:y|ies)|merchants?|dayparts?)\b"),
    )
)  # fmt: skip
_DIAGNOSE_CUE = re.compile(
    r"\bwhy\b|\bwhat\s+happened\b|\bwhat(?:'s|\s+is|\s+was)\s+(?:going\s+on|wrong|up|happening)"
    r"|\b(?:anything|something)\s+(?:wrong|off|broken|odd|weird|unusual|going\s+on)\b"
    r"|\bany\s+(?:issues?|problems?|incidents?|anomal\w*|alerts?)\b|\bdrop\w*|\bdip\w*|\bfell\b"
    r"|\bfall\w*|\bdeclin\w*|\bworse\w*|\bspik\w*|\bjump\w*|\brose\b|\brising\b|\bincreas\w*"
    r"|\bdegrad\w*|\bregress\w*|\bup\b|\bdown\b|\bslow\w*|\bbad\b|\bproblem\w*|\bissues?\b"
    r"|\bincident\w*|\banomal\w*|\bexplain\w*|\bdiagnos\w*|\broot[\s-]+cause\w*|\bcaus\w*"
    r"|\bhow\s+(?:was|were|did|is|are)\b|\binvestigat\w*|\bcheck\w*|\blook\s+into\b|\bwrong\b"
)
_ABOUT_CUE = re.compile(r"\b(?:what|how)\s+about\b|\bsame\s+for\b|\band\s+(?:in|for)\s+the\b")
_INSTRUCTIONS = re.compile(
    r"\b(?:ignore|disregard|forget)\b[^.?!]{0,40}\b(?:instructions?|prompts?|rules?|above"
    r"|previous)\b|\bsystem\s+prompt\b|\byou\s+are\s+now\b|\bjailbreak\w*|\bact\s+as\b"
)
_SQL_TEXT = re.compile(
    r"\b(?:drop|alter|truncate)\s+(?:table|view|schema|database)\b|\bdelete\s+from\b"
    r"|\binsert\s+into\b|\bupdate\s+\w+\s+set\b|\bselect\s+[\w.,*()\s]{1,80}?\bfrom\b"
    r"|\bunion\s+(?:all\s+)?select\b|;\s*--|'\s*or\s+'?1'?\s*=\s*'?1|\b(?:attach|pragma)\s+\S+"
)


def _blank(text: str, pattern: re.Pattern[str]) -> tuple[str, bool]:
    """The text with the pattern's matches replaced by spaces (so positions hold), and whether
    there were any."""
    blanked = pattern.sub(lambda match: " " * len(match.group(0)), text)
    return blanked, blanked != text


def _first_match(patterns: tuple[tuple[str, re.Pattern[str]], ...], text: str) -> list[str]:
    """Names whose pattern matches, ordered by where they first match (ties: list order)."""
    found = [(match.start(), index, name) for index, (name, pattern) in enumerate(patterns)
             if (match := pattern.search(text))]  # fmt: skip
    return [name for _, _, name in sorted(found)]


def _add(filters: dict[str, list[str | int]], dimension: str, value: str | int) -> None:
    values = filters.setdefault(dimension, [])
    if value not in values:
        values.append(value)


def _cohort_filters(text: str, notes: list[str]) -> dict[str, list[str | int]]:
    """Regions, categories, basket sizes and store ids the question names, in order."""
    found: list[tuple[int, str, str]] = []
    found += [(m.start(), "region", m["value"]) for m in _REGION.finditer(text)]
    for name, pattern in _CATEGORY:
        found += [(m.start(), "category", name) for m in pattern.finditer(text)]
    for match in _BASKET.finditer(text):
        size = match["after"] or re.sub(r"-?sized?$", "", match["size"])
        found.append((match.start(), "basket_size", _BASKET_SIZE.get(size, "medium")))
    for match in _STORE.finditer(text):
        found.append((match.start(), "store", f"S{int(match['id'] or match['n']):05d}"))
    filters: dict[str, list[str | int]] = {}
    for _, dimension, value in sorted(found):
        _add(filters, dimension, value)
    for match in _REGION_WORDS.finditer(text):
        word = match["word"]
        if word not in _NOT_REGION_NAMES and not _REGION.fullmatch(word):
            notes.append(
                f"'{match.group(0)}' is not a known region (known: {', '.join(REGIONS)}); ignored"
            )
    return filters


def _action_parameters(action: str, text: str, notes: list[str]) -> dict[str, float]:
    """Numbers the question gives for its action: minutes of ETA buffer, shares of orders."""
    if action == "eta_buffer" and (match := _MINUTES.search(text)):
        minutes = _number(match["n"])
        if 0 < minutes <= 60:
            return {"minutes": minutes}
        notes.append(f"an ETA buffer of {minutes:g} minutes is outside 0-60; the default is used")
    if action == "throttle_demand" and (match := _PERCENT.search(text) or _SHARE.search(text)):
        share = float(match["n"]) / (100 if match.re is _PERCENT else 1)
        if 0 < share < 1:
            return {"share": share}
        notes.append(f"a share of {share:g} is outside (0, 1); the default is used")
    if action == "revert_batching" and _PERCENT.search(text):
        target = _BATCHING_TARGET.search(text)
        share = float(target["n"]) / 100 if target else None
        if share is not None and 0 <= share < 1:
            return {"target_share": share}
        notes.append("a batching share is read only as a target ('to 30%'); it was ignored")
    return {}


def _intent(text: str, action: str | None, has_content: bool, notes: list[str]) -> Intent:
    """The intent: strong cues by priority, then diagnosis words, then an action, then content."""
    strong = [name for name, pattern in _INTENT_CUES if pattern.search(text)]
    if strong:
        if len(strong) > 1:
            notes.append(
                f"the question also reads as {', '.join(strong[1:])}; answered as {strong[0]}"
            )
        return strong[0]
    if _DIAGNOSE_CUE.search(text):
        return "diagnose"
    if action:
        return "what_if"
    if _ABOUT_CUE.search(text):
        return "drill_down"
    if has_content:
        notes.append("no question word was recognized; read as a diagnosis")
        return "diagnose"
    return "unknown"


def _capped(notes: list[str]) -> list[str]:
    """Notes without repeats, at most MAX_NOTES of them (a hostile question can yield hundreds)."""
    unique = list(dict.fromkeys(notes))
    if len(unique) <= MAX_NOTES:
        return unique
    return [*unique[: MAX_NOTES - 1], f"and {len(unique) - MAX_NOTES + 1} more notes"]


def _looks_foreign(text: str) -> bool:
    """Whether most letters are outside ASCII (the rules only know English words)."""
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and sum(not ch.isascii() for ch in letters) > len(letters) / 2


def parse_question(
    text: str, data_start: dt.date, data_end: dt.date, today: dt.date | None = None
) -> ParsedQuestion:
    """Read a question by rules (see the module docstring); never raises on user text.

    Relative dates count from `today`, or from `data_end` (the data's "today") when it is None.
    """
    notes: list[str] = []
    cleaned = _clean(text, notes)
    if not cleaned:
        return ParsedQuestion(notes=[*notes, "the question is empty"], unrecognized=True)
    anchor = today or data_end
    cleaned, instructed = _blank(cleaned, _INSTRUCTIONS)
    if instructed:
        notes.append("text addressed to the agent as instructions was not followed")
    cleaned, has_sql = _blank(cleaned, _SQL_TEXT)
    if has_sql:
        notes.append("SQL in a question is never run; it was left out of the reading")
    if _looks_foreign(cleaned):
        notes.append("the question does not look like English; only English words are read")

    scanner = _Scanner(cleaned)
    dates = [m for m in _date_mentions(scanner, data_start, data_end, anchor, notes) if m.day]
    times = _time_mentions(scanner, notes)
    day = dates[0].day if dates else None
    if dates:
        first = dates[0]
        others = sorted({str(m.day) for m in dates} - {str(day)})
        if others:
            notes.append(f"several dates named ({', '.join(others)} too); using {day}")
        if first.relative:
            origin = "today" if today else "the last day of the data"
            notes.append(f"'{first.phrase}' is {day}, counting from {anchor} ({origin})")
        if first.hours:
            start, end = first.hours
            hours = _hours_between(start, end)
            times.insert(0, _TimeMention(first.position, first.phrase, start, end, hours=hours))
            times.sort(key=lambda mention: mention.position)
    if day is not None and not data_start <= day <= data_end:
        notes.append(f"{day} is outside the data ({data_start} to {data_end})")

    filters = _cohort_filters(cleaned, notes)
    for mention in times:
        if mention.daypart:
            _add(filters, "daypart", mention.daypart)
        for hour in mention.hours:
            _add(filters, "hour", hour)
    # A clock reading is more specific than a word: "dinner 18:00-20:00" means 18-20.
    chosen = next((m for m in times if m.by_clock), times[0]) if times else None
    if chosen and len(times) > 1:
        notes.append(f"several times of day named; start and end hours are from '{chosen.phrase}'")

    metrics = _first_match(_METRIC_PATTERNS, cleaned)
    if len(metrics) > 1:
        notes.append(f"several metrics named ({', '.join(metrics)}); using {metrics[0]}")
    actions = _first_match(_ACTION_PATTERNS, cleaned)
    if len(actions) > 1:
        notes.append(f"several actions named ({', '.join(actions)}); using {actions[0]}")
    action = actions[0] if actions else None

    intent = _intent(cleaned, action, bool(day or metrics or filters), notes)
    parameters: dict[str, float] = {}
    if action and intent not in ("what_if", "plan"):
        notes.append(f"the action {action} was ignored: the question reads as {intent}")
        action = None
    if action:
        parameters = _action_parameters(action, cleaned, notes)
    elif intent == "what_if":
        notes.append(f"no known action was recognized (known: {', '.join(ACTIONS)})")
    if intent == "unknown":
        notes.append("nothing in the question was recognized; try e.g. 'why did CX drop on Jan 4?'")
    return ParsedQuestion(
        intent=intent,
        day=day,
        start_hour=chosen.start if chosen else None,
        end_hour=chosen.end if chosen else None,
        metric=metrics[0] if metrics else None,
        filters=filters,
        action=action,
        parameters=parameters,
        notes=_capped(notes),
        unrecognized=intent == "unknown",
    )
