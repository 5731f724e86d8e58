"""Dates and ranges read from a question, as people write them, into whole-day periods.

Rules (deterministic; nothing raises on user text, what cannot be read becomes a note or a
problem):
- "today" is the anchor: the caller's `today`, else the data's last day. Relative days
  ("yesterday", "two days ago", "last Tuesday") count back from it: "last Tuesday" is the latest
  Tuesday strictly before the anchor; "on Tuesday", "this Tuesday" or a bare "Tuesday" the latest
  on or before it; "Tuesday before last" one week earlier; "the Sunday before" after another
  date the last Sunday before that date's period ("the Super Bowl vs the Sunday before").
- Ranges: "last week" / "previous week" is the calendar week (Monday-Sunday) before the anchor's;
  "this week" runs from its Monday to the anchor; "past week", "last 7 days", "over the last N
  days / weeks" end on the anchor; "this month" / "last month" are calendar months; "the weekend",
  "last weekend" the latest Saturday-Sunday on or before the anchor ("last weekend" excludes the
  anchor's own weekend); a month name ("in December", "Dec 2025") is that month; "the holidays"
  is Dec 24 - Jan 1; "the week of Dec 29" is that date's Monday-Sunday week; "since Dec 28" ends
  on the anchor; "Jan 2-4", "between Jan 2 and Jan 4", "from Dec 30 to Jan 2" are ranges.
- Two dates joined by "vs", "versus", "compared to/with" or "against" are two periods.
- A date without a year ("Jan 4", "Christmas Eve", "the 24th", which also lacks a month) takes
  the year (and month) that puts it inside the data, the latest such date on or before the
  anchor first; when no reading is inside the data, the latest occurrence on or before the anchor.
- Slashed dates are US month/day ("1/4" is January 4); one that only works as day/month
  ("24/12") is read that way, with a note.
- An impossible date ("Feb 30", "Jan 45") is a problem: the question is answered with it, not
  with another day. Holidays: Christmas (Eve), Boxing Day, New Year's (Eve), Thanksgiving, Black
  Friday, Cyber Monday, Valentine's Day, Halloween, Independence Day, Memorial Day, Labor Day,
  Super Bowl Sunday (first Sunday of February until 2021, second from 2022).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from agent.question import Period


class Scanner:
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

    def untaken(self) -> str:
        """The text with every mention found so far blanked out (same length)."""
        pairs = zip(self.text, self.taken, strict=True)
        return "".join(" " if taken else ch for ch, taken in pairs)


NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fourteen": 14, "fifteen": 15,
    "twenty": 20, "thirty": 30, "couple": 2, "a couple": 2, "a couple of": 2, "couple of": 2,
    "few": 3, "a few": 3,
}  # fmt: skip
NUMBER = r"\d{1,5}(?:\.\d+)?|" + "|".join(sorted(map(re.escape, NUMBER_WORDS), key=len)[::-1])


def number(token: str) -> float:
    """A number written in digits or words."""
    return float(NUMBER_WORDS[token]) if token in NUMBER_WORDS else float(token)


_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9,
    "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH_WORD = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
)
_MONTH = r"(?P<month>" + _MONTH_WORD + r")\b\.?"
# The days of the week, Monday first (as datetime.weekday() counts them).
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY = r"(?P<weekday>mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day|nesday|sday|urday)?"
_WEEKDAY_FULL = r"(?P<weekday>" + "|".join(WEEKDAYS) + ")"
_ORDINAL = r"(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+(?P<year>\d{4}))?\b"


def _nth_weekday(year: int, month: int, weekday: int, nth: int) -> dt.date:
    """The nth (1-based; -1 = last) `weekday` (0 = Monday) of a month."""
    days = [
        day
        for day in range(1, calendar.monthrange(year, month)[1] + 1)
        if dt.date(year, month, day).weekday() == weekday
    ]
    return dt.date(year, month, days[nth - 1 if nth > 0 else nth])


def _super_bowl(year: int) -> dt.date:
    return _nth_weekday(year, 2, 6, 1 if year <= 2021 else 2)


# A holiday: its phrase and the day it falls on in a given year.
_FIXED_HOLIDAYS: dict[str, tuple[int, int]] = {
    "christmas eve": (12, 24), "christmas day": (12, 25), "christmas": (12, 25),
    "xmas": (12, 25), "boxing day": (12, 26), "new year's eve": (12, 31),
    "new years eve": (12, 31), "new year's day": (1, 1), "new years day": (1, 1),
    "new year's": (1, 1), "new years": (1, 1), "new year": (1, 1),
    "valentine's day": (2, 14), "valentines day": (2, 14), "valentine's": (2, 14),
    "halloween": (10, 31), "independence day": (7, 4), "fourth of july": (7, 4),
    "july 4th": (7, 4),
}  # fmt: skip
_MOVING_HOLIDAYS: dict[str, Callable[[int], dt.date]] = {
    "thanksgiving": lambda year: _nth_weekday(year, 11, 3, 4),
    "black friday": lambda year: _nth_weekday(year, 11, 3, 4) + dt.timedelta(days=1),
    "cyber monday": lambda year: _nth_weekday(year, 11, 3, 4) + dt.timedelta(days=4),
    "memorial day": lambda year: _nth_weekday(year, 5, 0, -1),
    "labor day": lambda year: _nth_weekday(year, 9, 0, 1),
    "super bowl sunday": _super_bowl,
    "super bowl": _super_bowl,
}
_HOLIDAY_NAMES = sorted([*_FIXED_HOLIDAYS, *_MOVING_HOLIDAYS], key=len, reverse=True)
_HOLIDAY = re.compile(
    r"\b(?P<holiday>" + "|".join(re.escape(name) for name in _HOLIDAY_NAMES) + r")(?:\s+day)?\b"
)
_HOLIDAYS_RANGE = re.compile(
    r"\b(?:over\s+|during\s+|around\s+)?(?:the\s+)?(?:holidays|holiday\s+(?:week|season)"
    r"|christmas\s+week|week\s+of\s+christmas)\b"
)

_ISO_DATE = re.compile(r"\b(?P<year>\d{4})[-/.](?P<month>\d{1,2})[-/.](?P<day>\d{1,2})\b")
_MONTH_DAY = re.compile(r"\b" + _MONTH + r"\s*(?P<day>\d{1,3})" + _ORDINAL + r"\b" + _YEAR)
_DAY_MONTH = re.compile(
    r"\b(?:the\s+)?(?P<day>\d{1,3})" + _ORDINAL + r"\s+(?:of\s+)?" + _MONTH + _YEAR
)
_MONTH_DAY_RANGE = re.compile(
    r"\b" + _MONTH + r"\s*(?P<day>\d{1,2})" + _ORDINAL
    + r"\s*(?:-|to|through|thru|until|till)\s*(?P<last>\d{1,2})" + _ORDINAL + r"\b" + _YEAR
)  # fmt: skip
_DAY_RANGE_MONTH = re.compile(
    r"\b(?P<day>\d{1,2})" + _ORDINAL + r"\s*(?:-|to|through|until|till)\s*(?P<last>\d{1,2})"
    + _ORDINAL + r"\s+(?:of\s+)?" + _MONTH + _YEAR
)  # fmt: skip
_SLASH_DATE = re.compile(  # "1/2 of the stores" is a fraction
    r"\b(?P<month>\d{1,2})/(?P<day>\d{1,2})(?:/(?P<year>\d{4}|\d{2}))?\b(?!\s+of\b)"
)
_MONTH_ONLY = re.compile(r"\b(?:(?:the\s+)?month\s+of\s+)?" + _MONTH + _YEAR)
_RELATIVE_DAY = re.compile(
    r"\b(?P<phrase>(?:the\s+)?day\s+before\s+yesterday|yesterday|today|tonight|last\s+night"
    r"|this\s+(?:morning|afternoon|evening))\b"
)
_DAYS_AGO = re.compile(
    r"\b(?P<count>" + NUMBER + r")\s+(?P<unit>days?|weeks?)\s+(?:ago|back|earlier)\b"
)
_WEEKDAY_BEFORE_LAST = re.compile(r"\b" + _WEEKDAY + r"\s+before\s+last\b")
_LAST_WEEKDAY = re.compile(r"\b(?:last|past|previous)\s+" + _WEEKDAY + r"\b")
_THIS_WEEKDAY = re.compile(r"\b(?:on|this)\s+" + _WEEKDAY + r"\b")
_BARE_WEEKDAY = re.compile(r"\b" + _WEEKDAY_FULL + r"\b")
_DAY_OF_MONTH = re.compile(
    r"\b(?:on\s+)?the\s+(?P<day>\d{1,2})(?:st|nd|rd|th)\b(?!\s*(?:percentile|centile|quantile))"
)
_LAST_N = re.compile(
    r"\b(?:(?:over|in|during|for|within)\s+)?(?:the\s+)?(?:last|past|previous|recent)\s+"
    r"(?P<count>" + NUMBER + r")\s+(?P<unit>days?|weeks?)\b"
)
_NAMED_RANGE = re.compile(
    r"\b(?P<phrase>(?:last|previous|this|past|current)\s+(?:week(?:end)?|month|quarter|year)"
    r"|the\s+weekend"
    r"(?!\s+(?:of|starting|beginning|before|after)\b)|over\s+the\s+weekend"
    # "of late" ends a clause ("how are we doing of late?"); "the share of late orders" is none
    r"|week\s+before\s+last|recently|lately|of\s+late(?=\s*(?:[?.!,]|$|in\b|for\b|at\b"
    r"|on\b)))\b"
)
_WEEK_OF = re.compile(r"\b(?:the\s+)?week\s+(?:of|starting|beginning)\s+$")
_NTH_WEEK_OF = re.compile(
    r"\b(?:the\s+)?(?P<nth>first|second|third|fourth|last|1st|2nd|3rd|4th)\s+week\s+of\s+"
    + _MONTH
    + _YEAR
)
_BEFORE_PREVIOUS = re.compile(
    r"\b(?:the\s+|a\s+)?(?P<unit>day|week|month|" + "|".join(WEEKDAYS) + r")\s+"
    r"(?:before|prior|earlier)\b(?!\s+(?:yesterday|last|that|this))"
)
# "yesterday vs the same day last week": the day a week before the one named (the parser's
# follow-ups read it too: "what about the same day last week?")
SAME_DAY_LAST_WEEK = (
    r"\bsame\s+(?:day|weekday|date)\s+(?:of\s+)?(?:last|the\s+previous|the\s+prior|the|a|one)"
    r"\s+week\b"
)
_SAME_DAY = re.compile(
    r"(?:\bthe\s+)?" + SAME_DAY_LAST_WEEK + r"(?:\s+(?:earlier|before|ago|prior)\b)?"
)
_YEAR_ONLY = re.compile(r"\b(?:in|during|for|of|over)\s+(?P<year>(?:19|20)\d{2})\b(?!\s*[-/])")
_SINCE = re.compile(r"\b(?:since|starting|after|from)\s+$")
_RANGE_JOIN = re.compile(r"^\s*(?:-|to|until|till|through|thru|and)\s*$")
_RANGE_OPEN = re.compile(r"\b(?:between|from)\s+$")
_VERSUS = re.compile(
    r"^\s*(?:,\s*)?(?:vs\.?|versus|compared\s+(?:to|with)|against|or|than|with)\s*$"
)
# "compare this week to last week", "compare Jan 3 and Jan 4": two periods after a compare cue
_COMPARED_JOIN = re.compile(r"^\s*(?:,\s*)?(?:to|and|with)\s*$")


def _compared(before: str) -> bool:
    """Whether the text before a date asks to compare it with the next one ('compare A to
    B'), not to run a range from it ('compare from A to B with ...')."""
    return bool(re.search(r"\bcompar\w*\b", before)) and not _RANGE_OPEN.search(before)


TIMES_OF_DAY = {"morning": (5, 12), "afternoon": (12, 17), "evening": (17, 22)}
_RELATIVE_OFFSETS = {"today": 0, "tonight": 0, "this morning": 0, "this afternoon": 0,
                     "this evening": 0, "yesterday": 1, "last night": 1,
                     "day before yesterday": 2, "the day before yesterday": 2}  # fmt: skip
_NTH = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4,
        "4th": 4, "last": -1}  # fmt: skip


@dataclass(frozen=True)
class DateMention:
    """A date or range the question names: where (span in the text), the period it resolves to
    (None if it is not a real date), whether it counts from the anchor, and any hours it names
    ("this morning")."""

    start: int
    end: int
    phrase: str
    period: Period | None
    relative: bool = False
    hours: tuple[int, int] | None = None
    before_previous: str | None = None  # "the week before": the unit to step back from the last


@dataclass
class _Reader:
    """The state of one reading: the data's span, the anchor, and what went wrong."""

    first: dt.date
    last: dt.date
    anchor: dt.date
    notes: list[str]
    problems: list[str]

    def pick(self, candidates: list[dt.date]) -> dt.date:
        """A partial date's reading: inside the data first, then on or before the anchor, the
        latest of each; failing both, the earliest reading."""
        inside = [c for c in candidates if self.first <= c <= self.last]
        for pool in ([c for c in inside if c <= self.anchor], inside,
                     [c for c in candidates if c <= self.anchor]):  # fmt: skip
            if pool:
                return max(pool)
        return min(candidates)

    def years(self) -> range:
        first_year = max(dt.MINYEAR, min(self.first.year, self.anchor.year) - 1)
        return range(first_year, min(dt.MAXYEAR, max(self.last.year, self.anchor.year) + 1) + 1)

    def yearless(self, month: int, day: int) -> dt.date | None:
        """A date with no year (and, when `month` is 0, no month)."""
        months = [month] if month else range(1, 13)
        candidates = [d for y in self.years() for m in months if (d := _make_date(y, m, day))]
        return self.pick(candidates) if candidates else None

    def calendar_date(self, phrase: str, year: str | None, month: int, day: int) -> dt.date | None:
        """A calendar date, or None with a problem saying why it is not one."""
        if year:
            date = _make_date(_full_year(year), month, day)
        else:
            date = self.yearless(month, day) if 1 <= day <= 31 else None
        if date is None:
            self.problems.append(_impossible(phrase, month, day))
        return date

    def shift(self, days: int) -> dt.date | None:
        try:
            return self.anchor - dt.timedelta(days=days)
        except OverflowError:
            return None

    def weekday(self, weekday: int, fewest: int = 0, weeks: int = 0) -> dt.date | None:
        """The latest `weekday` (0 Monday) at least `fewest` days before the anchor, `weeks`
        weeks earlier still."""
        back = (self.anchor.weekday() - weekday) % 7
        return self.shift(back + 7 * weeks + (7 if back < fewest else 0))


def _make_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _full_year(token: str) -> int:
    return int(token) + 2000 if len(token) == 2 else int(token)


def _month_number(token: str) -> int:
    return _MONTHS[token[:3]]


def _impossible(phrase: str, month: int, day: int) -> str:
    if 1 <= month <= 12 and day > 28:
        longest = max(calendar.monthrange(year, month)[1] for year in (2023, 2024))
        if day > longest:
            name = calendar.month_name[month]
            return f"'{phrase}' is not a date: {name} has at most {longest} days"
    return f"'{phrase}' is not a date"


def _day(date: dt.date | None, label: str) -> Period | None:
    return None if date is None else Period(start=date, end=date, label=label)


def _span(first: dt.date | None, last: dt.date | None, label: str) -> Period | None:
    if first is None or last is None:
        return None
    return Period(start=min(first, last), end=max(first, last), label=label)


def _month_period(year: int, month: int, label: str) -> Period:
    last = calendar.monthrange(year, month)[1]
    return Period(start=dt.date(year, month, 1), end=dt.date(year, month, last), label=label)


def _week_of(date: dt.date, label: str) -> Period:
    monday = date - dt.timedelta(days=date.weekday())
    return Period(start=monday, end=monday + dt.timedelta(days=6), label=label)


def _ranges(scanner: Scanner, reader: _Reader) -> list[DateMention]:
    """Mentions that name a range by themselves (tried before single days)."""
    mentions: list[DateMention] = []

    def add(match: re.Match[str], period: Period | None, relative: bool = False) -> None:
        mentions.append(DateMention(match.start(), match.end(), match.group(0).strip(), period,
                                    relative))  # fmt: skip

    for pattern in (_MONTH_DAY_RANGE, _DAY_RANGE_MONTH):
        for match in scanner.find(pattern):
            month = _month_number(match["month"])
            phrase = match.group(0).strip()
            first = reader.calendar_date(phrase, match["year"], month, int(match["day"]))
            last = None
            if first is not None:
                last = _make_date(first.year, month, int(match["last"]))
                if last is None:
                    reader.problems.append(_impossible(phrase, month, int(match["last"])))
            add(match, _span(first, last, phrase))
    for match in scanner.find(_NTH_WEEK_OF):
        month = _month_number(match["month"])
        year = _full_year(match["year"]) if match["year"] else None
        first_day = dt.date(year, month, 1) if year else reader.yearless(month, 1)
        if first_day is None:
            continue
        if _NTH[match["nth"]] == -1:
            last_day = first_day.replace(day=calendar.monthrange(first_day.year, month)[1])
            start = last_day - dt.timedelta(days=6)
        else:
            start = first_day + dt.timedelta(days=7 * (_NTH[match["nth"]] - 1))
        add(match, Period(start=start, end=start + dt.timedelta(days=6), label=match.group(0)))
    for match in scanner.find(_SAME_DAY):
        mentions.append(
            DateMention(match.start(), match.end(), match.group(0).strip(), None, True,
                        before_previous="week")
        )  # fmt: skip
    for match in scanner.find(_BEFORE_PREVIOUS):
        mentions.append(
            DateMention(match.start(), match.end(), match.group(0).strip(), None, True,
                        before_previous=match["unit"])
        )  # fmt: skip
    for match in scanner.find(_YEAR_ONLY):
        year = int(match["year"])
        add(
            match, Period(start=dt.date(year, 1, 1), end=dt.date(year, 12, 31), label=match["year"])
        )
    for match in scanner.find(_HOLIDAYS_RANGE):
        christmas_eve = reader.yearless(12, 24)
        end = christmas_eve + dt.timedelta(days=8) if christmas_eve else None
        add(match, _span(christmas_eve, end, "the holidays"))
    for match in scanner.find(_LAST_N):
        count = int(number(match["count"])) * (7 if match["unit"].startswith("week") else 1)
        first = reader.shift(count - 1) if count >= 1 else None
        add(match, _span(first, reader.anchor, match.group(0).strip()), relative=True)
    for match in scanner.find(_NAMED_RANGE):
        add(match, _named_range(re.sub(r"\s+", " ", match["phrase"]), reader), relative=True)
    return mentions


def _named_range(phrase: str, reader: _Reader) -> Period | None:
    """'last week', 'this month', 'the weekend', ... counted from the anchor."""
    anchor = reader.anchor
    monday = anchor - dt.timedelta(days=anchor.weekday())
    if phrase in ("last week", "previous week"):
        start = monday - dt.timedelta(days=7)
        return Period(start=start, end=start + dt.timedelta(days=6), label=phrase)
    if phrase == "week before last":
        start = monday - dt.timedelta(days=14)
        return Period(start=start, end=start + dt.timedelta(days=6), label=phrase)
    if phrase in ("this week", "current week"):
        return Period(start=monday, end=anchor, label=phrase)
    if phrase in ("past week", "recently", "lately", "of late"):
        return Period(start=anchor - dt.timedelta(days=6), end=anchor, label=phrase)
    if phrase.endswith("weekend"):
        saturday = anchor - dt.timedelta(days=(anchor.weekday() - 5) % 7)
        if phrase.startswith(("last", "previous")) and anchor.weekday() >= 5:
            saturday -= dt.timedelta(days=7)
        return Period(start=saturday, end=saturday + dt.timedelta(days=1), label=phrase)
    if phrase in ("this month", "current month"):
        return Period(start=anchor.replace(day=1), end=anchor, label=phrase)
    if phrase in ("last month", "previous month", "past month"):
        end = anchor.replace(day=1) - dt.timedelta(days=1)
        if phrase == "past month":
            return Period(start=anchor - dt.timedelta(days=29), end=anchor, label=phrase)
        return _month_period(end.year, end.month, phrase)
    if phrase.endswith("quarter"):  # calendar quarters: Jan-Mar, Apr-Jun, Jul-Sep, Oct-Dec
        first = anchor.replace(month=3 * ((anchor.month - 1) // 3) + 1, day=1)
        if phrase.startswith(("this", "current")):
            return Period(start=first, end=anchor, label=phrase)
        start = (first - dt.timedelta(days=1)).replace(day=1)
        start = start.replace(month=3 * ((start.month - 1) // 3) + 1)
        return Period(start=start, end=first - dt.timedelta(days=1), label=phrase)
    if phrase.endswith("year"):
        if phrase.startswith(("this", "current")):
            return Period(start=anchor.replace(month=1, day=1), end=anchor, label=phrase)
        if phrase == "past year":
            return Period(start=anchor - dt.timedelta(days=364), end=anchor, label=phrase)
        year = anchor.year - 1
        return Period(start=dt.date(year, 1, 1), end=dt.date(year, 12, 31), label=phrase)
    return None


def _singles(scanner: Scanner, reader: _Reader) -> list[DateMention]:
    """Mentions of one day (or a month, a holiday), in no particular order."""
    mentions: list[DateMention] = []

    def add(match: re.Match[str], period: Period | None, relative: bool = False,
            hours: tuple[int, int] | None = None, phrase: str | None = None) -> None:  # fmt: skip
        phrase = phrase or match.group(0).strip()
        mentions.append(DateMention(match.start(), match.end(), phrase, period, relative, hours))

    for match in scanner.find(_ISO_DATE):
        phrase = match.group(0)
        date = reader.calendar_date(phrase, match["year"], int(match["month"]), int(match["day"]))
        add(match, _day(date, phrase))
    for pattern in (_MONTH_DAY, _DAY_MONTH):
        for match in scanner.find(pattern):
            phrase = match.group(0).strip()
            month = _month_number(match["month"])
            date = reader.calendar_date(phrase, match["year"], month, int(match["day"]))
            add(match, _day(date, phrase))
    for match in scanner.find(_SLASH_DATE):
        month, day = int(match["month"]), int(match["day"])
        if match.group(0) == "24/7":  # "around the clock", not a date
            continue
        if month > 12 and 1 <= day <= 12:
            reader.notes.append(f"read '{match.group(0)}' as day/month")
            month, day = day, month
        if month <= 12:
            date = reader.calendar_date(match.group(0), match["year"], month, day)
            add(match, _day(date, match.group(0)))
        else:
            reader.problems.append(f"'{match.group(0)}' is not a date")
    for match in scanner.find(_HOLIDAY):
        name = match["holiday"]
        if name in _FIXED_HOLIDAYS:
            date = reader.yearless(*_FIXED_HOLIDAYS[name])
        else:
            days = [_MOVING_HOLIDAYS[name](year) for year in reader.years()]
            date = reader.pick(days)
        add(match, _day(date, match.group(0)))
    for match in scanner.find(_RELATIVE_DAY):
        phrase = re.sub(r"\s+", " ", match["phrase"])
        hours = TIMES_OF_DAY.get(phrase.split()[-1])
        if phrase in ("tonight", "last night"):
            hours = TIMES_OF_DAY["evening"]
        add(match, _day(reader.shift(_RELATIVE_OFFSETS[phrase]), phrase), True, hours, phrase)
    for match in scanner.find(_DAYS_AGO):
        days_back = int(number(match["count"])) * (7 if match["unit"].startswith("week") else 1)
        add(match, _day(reader.shift(days_back), match.group(0)), relative=True)
    # (pattern, fewest days back, extra weeks back): "last" excludes the anchor's own day.
    weekday_forms = ((_WEEKDAY_BEFORE_LAST, 1, 1), (_LAST_WEEKDAY, 1, 0),
                     (_THIS_WEEKDAY, 0, 0), (_BARE_WEEKDAY, 0, 0))  # fmt: skip
    for pattern, fewest, weeks in weekday_forms:
        for match in scanner.find(pattern):
            weekday = [name[:3] for name in WEEKDAYS].index(match["weekday"][:3])
            add(match, _day(reader.weekday(weekday, fewest, weeks), match.group(0)), relative=True)
    for match in scanner.find(_DAY_OF_MONTH):
        day = int(match["day"])
        date = reader.yearless(0, day) if 1 <= day <= 31 else None
        if date is None:
            reader.problems.append(f"'{match.group(0)}' is not a date")
        add(match, _day(date, match.group(0)))
    for match in scanner.find(_MONTH_ONLY):
        month = _month_number(match["month"])
        if match["year"]:
            year = _full_year(match["year"])
        else:
            first_days = [dt.date(y, month, 1) for y in reader.years()]
            year = reader.pick(
                [
                    d
                    for d in first_days
                    if d.replace(day=calendar.monthrange(d.year, month)[1]) >= reader.first
                ]
                or first_days  # fmt: skip
            ).year
        add(match, _month_period(year, month, match.group(0).strip()))
    return mentions


def _combine(text: str, mentions: list[DateMention], reader: _Reader) -> list[DateMention]:
    """Join 'from A to B' / 'between A and B' / 'A - B' into one range; 'since A' runs to the
    anchor; 'the week of A' is A's week. Mentions are in text order."""
    combined: list[DateMention] = []
    index = 0
    while index < len(mentions):
        mention = mentions[index]
        if mention.before_previous and combined and combined[-1].period is not None:
            earlier = _step_back(combined[-1].period, mention.before_previous, mention.phrase)
            mention = DateMention(mention.start, mention.end, mention.phrase, earlier, True)
        elif mention.before_previous in WEEKDAYS:  # "the Sunday before" with nothing before it
            day = reader.weekday(WEEKDAYS.index(mention.before_previous))
            mention = DateMention(
                mention.start, mention.end, mention.phrase, _day(day, mention.phrase), True
            )
        following = mentions[index + 1] if index + 1 < len(mentions) else None
        before = text[: mention.start]
        joiner = text[mention.end : following.start] if following else ""
        if (
            following is not None
            and mention.period is not None
            and following.period is not None
            and _RANGE_JOIN.match(joiner)
            and (joiner.strip() != "and" or _RANGE_OPEN.search(before))  # "between A and B"
            and not _compared(before)  # "compare Jan 3 to Jan 4": two days, not a range
        ):
            phrase = text[mention.start : following.end]
            period = _span(mention.period.start, following.period.end, phrase)
            combined.append(DateMention(mention.start, following.end, phrase, period,
                                        mention.relative or following.relative))  # fmt: skip
            index += 2
            continue
        if mention.period is not None and _SINCE.search(before):
            period = _span(mention.period.start, reader.anchor, f"since {mention.phrase}")
            mention = DateMention(mention.start, mention.end, f"since {mention.phrase}", period)
        elif mention.period is not None and _WEEK_OF.search(before):
            phrase = f"the week of {mention.phrase}"
            week = _week_of(mention.period.start, phrase)
            mention = DateMention(mention.start, mention.end, phrase, week)
        combined.append(mention)
        index += 1
    return combined


def _step_back(period: Period, unit: str, label: str) -> Period:
    """The period one day, week or month before `period` ('last week ... the week before'), or
    the last given weekday before it ('the Super Bowl ... the Sunday before')."""
    if unit in WEEKDAYS:
        day = period.start - dt.timedelta(days=1)
        day -= dt.timedelta(days=(day.weekday() - WEEKDAYS.index(unit)) % 7)
        return Period(start=day, end=day, label=label)
    if unit == "month":
        end = period.start - dt.timedelta(days=1)
        return _month_period(end.year, end.month, label)
    step = dt.timedelta(days=1 if unit == "day" else 7)
    return Period(start=period.start - step, end=period.end - step, label=label)


@dataclass(frozen=True)
class DateReading:
    """What a question says about when: its periods in text order, whether two of them are
    set against each other, any hours named by a relative day, and what could not be read."""

    periods: list[Period]
    versus: bool
    first_relative: DateMention | None
    hours: list[DateMention]
    problems: list[str]


def read_dates(
    scanner: Scanner, first: dt.date, last: dt.date, anchor: dt.date, notes: list[str]
) -> DateReading:
    """Every date and range the scanner's text names (see the module docstring)."""
    reader = _Reader(first, last, anchor, notes, [])
    mentions = sorted(
        [*_ranges(scanner, reader), *_singles(scanner, reader)], key=lambda m: m.start
    )
    mentions = _combine(scanner.text, mentions, reader)
    valid = [m for m in mentions if m.period is not None]
    joiner = scanner.text[valid[0].end : valid[1].start] if len(valid) >= 2 else ""
    versus = len(valid) >= 2 and bool(
        _VERSUS.match(joiner)
        or (_compared(scanner.text[: valid[0].start]) and _COMPARED_JOIN.match(joiner))
    )
    return DateReading(
        periods=[m.period for m in valid if m.period is not None],
        versus=versus,
        first_relative=valid[0] if valid and valid[0].relative else None,
        hours=[m for m in valid if m.hours],
        problems=reader.problems,
    )
