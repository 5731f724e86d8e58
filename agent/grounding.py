"""The grounding checker: every number in a narrative must be held by evidence it cites.

Pure functions over the narrative text and the evidence items; no LLM, no I/O.

Citations. A narrative cites evidence ids in square brackets: `[E2]`, `[E2, E6]`, `[E2][E6]`,
`[E2-E4]`. A number is checked against the items cited anywhere in the SAME SENTENCE (sentences
end at `.`, `!` or `?` followed by white space, except after abbreviations such as "vs." or
"Jan.", at blank lines, and before Markdown list items, table rows and headings). Citations that
open a sentence (`... 67.1%. [E2] Next ...`) belong to the sentence before. Bare ids ("see E2")
are neither numbers nor citations. Citing an id that is not in the evidence is a problem.

Matching rules. A figure's value v (its shortest decimal form, 0.8695) is rounded to the
narrative number's decimals d: the nearest value, and at an exact tie either neighbour (half
away from zero, half to even, half down: 86.95 may be written 87.0 or 86.9, since the stored
figure is itself rounded). A number one unit off in its last decimal never matches otherwise.
- percentage "67.1%": a "share" figure with round(100 v, d) = 67.1, or a "points"/"score" figure
  with round(v, d) = 67.1.
- percentage points "+18.7 pp", "2.76 points", "2.76 CX points": a "points" or "score" figure, or
  a "share" figure times 100 (a difference of two shares that a tool reports as a figure).
- money "$2.60", "40 cents": a "usd" figure. Minutes "4.4 min": a "minutes" figure or a "seconds"
  figure divided by 60; seconds the other way round. Hours "21 hours": a "minutes" figure / 60,
  or a "ratio" figure whose name or label says "hour". Stars: a "stars" figure.
- counts "5,340 orders" (a number followed by a count noun such as orders, tickets, series):
  an "orders" or "count" figure; "5.6k orders" matches at its stated precision (5,550-5,649).
- plain numbers "0.98", "-5.89", "9e-30", "2.5x" (and a number with only thousands
  separators): any numeric figure as it is stored (a share stays a fraction: 0.216), or a
  numeric argument of a cited item ("a 14-day baseline" when its arguments say 14).
- a number before a range word takes the unit after it: "from 86.9 to 67.1%" is two percentages.
- the sign: "+4.4" never matches a negative figure and "-4.4" (or "−4.4", Unicode minus) never a
  positive one. An unsigned number matches a negative figure by its absolute value only when its
  sentence has a word of decrease (fell, dropped, declined, decreased, down, lower, lost, ...):
  "fell by 4.4 points" matches a figure -4.4; "rose by 4.4 points" does not. A figure whose
  name says it is a decrease ("cx_drop": 2.76) also matches "-2.76", never "+2.76".
- "about/around/roughly/~ 5,300": an integer's trailing zeros set the precision (nearest 100).
- a bound written with a round number ("p < 0.001", "more than 5,000 orders", "under 2 min";
  at most two significant digits) holds if a compatible cited figure satisfies it.
- no arithmetic between figures: a percentage that is the ratio of two figures, a sum or a
  difference that no tool reported, fails.
- numbers inside text figures (e.g. a change's "15 min detour") ground the same number and unit,
  and so do numbers in the message of a failed call ("0.5-30 minutes" in a what-if's refusal).

Dates and times ("Jan 4", "January 4, 2026", "4 Jan", "2026-01-04", "1/4/2026", "January 2026",
"18:00", "6 pm", "18:00-20:59", "2026-01-04 18:00", "Jan 4 at 18:00", "Jan 4-5", "hours 18-20"):
a date matches a "datetime" figure or an ISO date/time argument of a cited item on the same day
(the year only when written); a time of day matches one with the same hour:minute, or the hour
window of a cited item's hour filter (hours 18-20 ground 18:00, 20:59 and 21:00); a date with a
time must match one datetime (or a grounded date plus a time from an hour window or `allowed`).
Anything in `allowed` (the question's day, the incident window: "2026-01-04", "18:00-20:59",
dates, datetimes, numbers) needs no citation.

Identifiers with digits ("INC-20260104-1800", "C0007", "eta_v2", "hour=18-20") are checked as
text: they must occur in some evidence item (its summary, arguments, figure names or values,
table) or in `allowed`; they need no citation because they name things rather than measure them.

Exemptions (extracted with their kind but not checked, kept narrow on purpose):
- ordinals "1st", "4th" (not part of a date) and ranks "#1", "No. 2", "top 3", "rank 2",
  "step 2"; list markers "1." / "2)" at the start of a line and "(1)" up to 20.
- confidence levels 50/80/90/95/98/99/99.9% followed by "interval", "CI", "confidence".
- scale ends: "out of 1/5/10/100", "/5", "/10", "/100" after a number, and "0-100".
- spelled-out "one" and "two", ordinal words ("first", "second") and multiplicative words
  ("twice", "doubled", "half") are not read at all; other number words from "zero" to
  "ninety-nine" (e.g. "three orders") are checked as plain numbers.
- evidence ids ("E12") and numbers inside citation brackets.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, Field

from tools.base import EvidenceItem

MentionKind = Literal[
    "percent",  # 67.1%
    "points",  # +18.7 pp, 2.76 points
    "usd",  # $2.60, 40 cents
    "minutes",
    "seconds",
    "hours",
    "stars",
    "count",  # 5,340 orders
    "number",  # 0.98, -5.89, 9e-30, 2.5x
    "date",  # Jan 4, 2026-01-04, January 2026
    "time",  # 18:00, 6 pm
    "datetime",  # 2026-01-04 18:00, Jan 4 at 6 pm
    "identifier",  # INC-20260104-1800, C0007, hour=18-20
    "ordinal",  # exempt: 1st
    "rank",  # exempt: #1, top 3
    "list_marker",  # exempt: "1." at a line start, "(2)"
    "confidence_level",  # exempt: 95% CI
    "scale",  # exempt: out of 100, 0-100
]
EXEMPT_KINDS = frozenset({"ordinal", "rank", "list_marker", "confidence_level", "scale"})
QUANTITY_KINDS = frozenset(
    {"percent", "points", "usd", "minutes", "seconds", "hours", "stars", "count", "number"}
)
WHEN_KINDS = frozenset({"date", "time", "datetime"})


@dataclass(frozen=True)
class NumberMention:
    """A number in a text: where it is, as written, its value and what kind of number it is.

    `value` is the quantity in the unit of its kind (67.1 for "67.1%", 5600.0 for "5.6k",
    0.4 for "40 cents"), or for dates and times an ISO-like text ("2026-01-04", "--01-04",
    "18:00", "2026-01-04T18:00"; an identifier's value is its text). `literal` is the signed
    mantissa as written without separators ("5.6" for "5.6k"), `exponent` its power of ten.
    """

    text: str
    span: tuple[int, int]
    value: float | str
    kind: MentionKind
    literal: str = ""
    decimals: int = 0
    exponent: int = 0
    signed: bool = False  # an explicit sign was written
    approx: bool = False  # "about", "~"
    bound: Literal["", "<", ">"] = ""  # "under", "more than", "p <"
    year: int | None = None
    month: int | None = None
    day: int | None = None
    hour: int | None = None
    minute: int | None = None

    @property
    def exempt(self) -> bool:
        """Exempt from grounding (ordinals, ranks, list markers, confidence levels, scales)."""
        return self.kind in EXEMPT_KINDS

    @property
    def moment(self) -> dt.datetime | None:
        """The moment a mention dated to the minute names (None without a year, a day, ...)."""
        year, month, day, hour, minute = self.year, self.month, self.day, self.hour, self.minute
        if year is None or month is None or day is None or hour is None or minute is None:
            return None
        return dt.datetime(year, month, day, hour, minute)


class GroundingProblem(BaseModel):
    """One number (or citation) that failed the check, and why."""

    text: str
    span: tuple[int, int]
    reason: str


class GroundingMatch(BaseModel):
    """One accepted number and what grounds it ("E2 slice1.current_value", "allowed", ...)."""

    text: str
    span: tuple[int, int]
    source: str


class GroundingResult(BaseModel):
    """The outcome of checking a narrative against its evidence."""

    numbers: int = 0  # numbers checked (exempt ones excluded)
    grounded: int = 0  # numbers accepted
    ok: bool = True  # every number accepted and every cited id exists
    citations: list[str] = Field(default_factory=list)  # ids cited, in order of first citation
    unknown_citations: list[str] = Field(default_factory=list)
    problems: list[GroundingProblem] = Field(default_factory=list)
    matches: list[GroundingMatch] = Field(default_factory=list)


# --- extraction ---------------------------------------------------------------------------------

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DAY = r"(?:3[01]|[12]\d|0?[1-9])"
_YEAR = r"(?:19|20)\d{2}"
_NUM = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
_SIGN_OK = r"(?<![\w)\]%.,:])"  # a dash after a digit or word is a range or a hyphen, not a sign
_MERIDIEM = r"(?i:a\.m\.|p\.m\.|am|pm)"
# A cohort filter's key: a built-in dimension, or a custom one (a lower-case identifier of 3+
# characters, data/dimensions.py); a custom group may be a numeric bin ('<2', '>=13.6').
_COHORT_KEYS = (
    r"(?:hours?|regions?|category|categories|stores?|store_id|dayparts?|basket(?:_size)?"
    r"|[a-z][a-z0-9_]{2,})"
)
_WORD_UNITS = {
    "zero": 0, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_WORD_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_ONES = "one|two|three|four|five|six|seven|eight|nine"

_TOKEN = re.compile(
    "|".join(
        [
            r"(?P<citation>\[\s*[Ee]\d+(?:\s*(?:[,;&]|and|[-–])\s*[Ee]\d+)*\s*\])",
            r"(?<!\d)(?P<iso>(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2})"
            r"(?:[T ](?P<ih>[01]\d|2[0-3]):(?P<imin>[0-5]\d)(?::\d{2}(?:\.\d+)?)?"
            r"(?![\d:])(?!\s*[-–]\s*\d))?)(?![\d])",
            r"(?<![\d-])(?P<mmdd>(?P<mm>0[1-9]|1[0-2])-(?P<md>0[1-9]|[12]\d|3[01])\s+"
            r"(?P<mh>[01]\d|2[0-3]):(?P<mmin>[0-5]\d))(?![\d:])",
            rf"(?<![\d/])(?P<mdy>(?P<um>1[0-2]|0?[1-9])/(?P<ud>{_DAY})/(?P<uy>{_YEAR}))(?![\d/])",
            rf"\b(?P<mdate>(?P<mmon>{_MONTH})\.?\s+(?P<mday>{_DAY})(?:st|nd|rd|th)?(?![\d\w])"
            rf"(?:,?\s+(?P<myear>{_YEAR})(?!\d))?)",
            rf"(?<![\d.])(?P<ddate>(?P<dday>{_DAY})(?:st|nd|rd|th)?\s+(?P<dmon>{_MONTH})\b\.?"
            rf"(?:,?\s+(?P<dyear>{_YEAR})(?!\d))?)",
            rf"\b(?P<monyear>(?P<ymon>{_MONTH})\.?\s+(?P<yyear>{_YEAR}))(?!\d)",
            r"(?<![\d:.,])(?P<clock>(?P<ch>[01]?\d|2[0-3]):(?P<cmin>[0-5]\d)(?::[0-5]\d)?"
            rf"(?:\s?(?P<cmer>{_MERIDIEM}))?)(?![\d:])(?![A-Za-z])",
            rf"(?<![\d:.,])(?P<ampm>(?P<ah>1[0-2]|0?[1-9])\s?(?P<amer>{_MERIDIEM}))(?![A-Za-z])",
            rf"{_SIGN_OK}(?P<money>(?P<msign>[+\-−–])?(?:US)?\$\s?(?P<msign2>[+\-−])?"
            rf"(?P<mnum>{_NUM}))",
            rf"\b(?P<usd>USD\s?(?P<unum>{_NUM}))",
            r"\b(?P<evidence>E\d+)\b",
            rf"\b(?P<cohort>{_COHORT_KEYS}=(?:[<>]=?)?[\w.:-]*\d[\w.:-]*)",
            r"(?<![\w.])(?P<ident>(?=[A-Za-z_][\w.-]*\d)[A-Za-z_]\w*(?:[-.]\w+)*)",
            rf"(?i:\b(?P<word>(?:{'|'.join(_WORD_TENS)})(?:-(?:{_ONES}))?"
            rf"|{'|'.join(_WORD_UNITS)})\b)",
            rf"{_SIGN_OK}(?P<sign>[+\-−–](?=\.?\d))?(?<![\w.])(?P<num>{_NUM})"
            r"(?:[eE](?P<exp>[+\-−]?\d+))?",
        ]
    )
)

_COUNT_NOUNS = (
    r"(?:orders?|deliveries|delivery|tickets?|alarms?|incidents?|series|changes?|dashers?"
    r"|stores?|items?|slices?|candidates?|customers?|ratings?|rows?|cancellations?|refunds?"
    r"|contacts?|hypothes[ie]s|causes?)"
)
# The unit after a number: a mention kind, or cents (read as dollars).
_UNIT_SUFFIXES: list[tuple[re.Pattern[str], MentionKind | Literal["cents"]]] = [
    (re.compile(r"\s?(?:%|percent\b)"), "percent"),
    (re.compile(r"\s?(?:pp\b|p\.p\.|ppts?\b|percentage[\s-]points?\b)", re.I), "points"),
    (re.compile(r"\s?(?:(?:CX|score)\s+)?(?:points?|pts?)\b", re.I), "points"),
    (re.compile(r"\s?(?:minutes?|mins?)\b", re.I), "minutes"),
    (re.compile(r"\s?(?:seconds?|secs?|s)\b"), "seconds"),
    (re.compile(r"\s?(?:hours?|hrs?|h)\b"), "hours"),
    (re.compile(r"\s?(?:stars?\b|★)", re.I), "stars"),
    (re.compile(r"\s?(?:USD\b|dollars?\b)"), "usd"),
    (re.compile(r"\s?(?:cents?\b|¢)"), "cents"),
    (re.compile(r"\s?(?:x\b|×)"), "number"),
    (re.compile(r"\s+(?:[A-Za-z][\w-]*\s+)?" + _COUNT_NOUNS + r"\b", re.I), "count"),
]
_SCALE_SUFFIX = re.compile(
    r"(?:\s?(?P<k>[kK])|\s?(?P<m>M)|\s(?P<thousand>thousand)|\s(?P<million>million))\b"
)
_ORDINAL_SUFFIX = re.compile(r"(?:st|nd|rd|th)\b")
_RANGE_WORD = re.compile(r"\s*(?:to|-|–|—|and|→|->|vs\.?|versus|or|through)\s*", re.I)
_RANK_BEFORE = re.compile(
    r"(?:#|\b(?:top|bottom|rank(?:ed)?|no\.|step|option|phase|priority|tier)[\s-]*)$", re.I
)
_LINE_START_BEFORE = re.compile(r"(?:^|\n)[ \t]*(?:#+[ \t]*)?(?:[-*+•][ \t]+)?$")
_CONFIDENCE_AFTER = re.compile(
    r"\s*(?:(?:confidence|prediction|credible|uncertainty)\s+)?(?:intervals?|CI|CrI|confidence|band)\b",
    re.I,
)
_CONFIDENCE_LEVELS = {50, 80, 90, 95, 98, 99, 99.9}
_APPROX_BEFORE = re.compile(
    r"(?:\b(?:about|around|approximately|approx\.|roughly|nearly|almost|some|close\s+to|circa)"
    r"\s+|[~≈]\s?)$",
    re.I,
)
_BOUND_BEFORE = re.compile(
    r"(?:(?P<op>[<>≤≥])=?\s*|\b(?P<cmp>less|fewer|lower|more|greater|higher)\s+than\s+"
    r"|\bat\s+(?P<atw>least|most)\s+|\b(?P<word>under|below|above|exceeding|exceeds?|up\s+to)\s+)$",
    re.I,
)
_HOUR_BEFORE = re.compile(r"\bhours?\s*(?:=\s*)?(?:\d{1,2}\s*(?:-|–|to|through|and|,)\s*)?$", re.I)
_SCALE_ENDS = {1, 5, 10, 100}


def _decimals(literal: str) -> int:
    return len(literal.split(".")[1]) if "." in literal else 0


def _month(name: str) -> int:
    return _MONTHS[name[:3].lower()]


def _clock_hour(hour: int, meridiem: str | None) -> int:
    if not meridiem:
        return hour
    pm = meridiem.lower().startswith("p")
    return (hour % 12) + (12 if pm else 0)


def _when_value(mention: NumberMention) -> str:
    date = ""
    if mention.month is not None:
        year = f"{mention.year:04d}" if mention.year else "-"
        date = f"{year}-{mention.month:02d}" + (f"-{mention.day:02d}" if mention.day else "")
    time = f"{mention.hour:02d}:{mention.minute or 0:02d}" if mention.hour is not None else ""
    return f"{date}T{time}" if date and time else date or time


def _when(
    text: str,
    span: tuple[int, int],
    kind: MentionKind,
    *,
    year: int | None = None,
    month: int | None = None,
    day: int | None = None,
    hour: int | None = None,
    minute: int | None = None,
) -> NumberMention:
    mention = NumberMention(
        text=text, span=span, value="", kind=kind,
        year=year, month=month, day=day, hour=hour, minute=minute,
    )  # fmt: skip
    return replace(mention, value=_when_value(mention))


def _quantity(
    text: str,
    match_start: int,
    literal: str,
    sign: str,
    number_end: int,
    exponent_text: str | None,
    units: bool = True,
) -> NumberMention:
    """A number at text[match_start:number_end] plus whatever unit follows it."""
    negative = sign in ("-", "−", "–")
    literal = literal.replace(",", "")
    if literal.startswith("."):
        literal = "0" + literal
    decimals = _decimals(literal)
    exponent = int(exponent_text.replace("−", "-")) if exponent_text else 0
    end = number_end
    kind: MentionKind | Literal["cents"] = "number"
    scale = _SCALE_SUFFIX.match(text, end)
    if scale and not exponent_text:
        exponent = 3 if (scale["k"] or scale["thousand"]) else 6
        end = scale.end()
    for pattern, unit in _UNIT_SUFFIXES if units else []:
        suffix = pattern.match(text, end)
        if suffix:
            kind, end = unit, suffix.end()
            break
    if kind == "cents":
        kind, exponent = "usd", exponent - 2
    signed_literal = ("-" if negative else "") + literal
    value = float(Decimal(signed_literal).scaleb(exponent))
    return NumberMention(
        text=text[match_start:end], span=(match_start, end), value=value, kind=kind,
        literal=signed_literal, decimals=decimals, exponent=exponent, signed=bool(sign),
    )  # fmt: skip


def _scan(text: str) -> Iterator[NumberMention]:
    """Raw mentions, left to right, before context rules (ranges, exemptions) are applied."""
    for token in _TOKEN.finditer(text):
        start, end = token.span()
        if token["citation"] or token["evidence"]:
            continue
        if token["iso"]:
            hour = token["ih"]
            fields = dict(year=int(token["iy"]), month=int(token["im"]), day=int(token["id"]))
            if not 1 <= fields["month"] <= 12 or not 1 <= fields["day"] <= 31:
                yield NumberMention(token["iso"], (start, end), token["iso"], "identifier")
                continue
            if hour is not None:
                fields.update(hour=int(hour), minute=int(token["imin"]))
            yield _when(token["iso"], (start, end), "datetime" if hour else "date", **fields)
        elif token["mmdd"]:
            yield _when(
                token["mmdd"], (start, end), "datetime", month=int(token["mm"]),
                day=int(token["md"]), hour=int(token["mh"]), minute=int(token["mmin"]),
            )  # fmt: skip
        elif token["mdy"]:
            yield _when(
                token["mdy"], (start, end), "date", year=int(token["uy"]), month=int(token["um"]),
                day=int(token["ud"]),
            )  # fmt: skip
        elif token["mdate"] or token["ddate"]:
            prefix = "m" if token["mdate"] else "d"
            year = token[f"{prefix}year"]
            yield _when(
                token.group(0), (start, end), "date", year=int(year) if year else None,
                month=_month(token[f"{prefix}mon"]), day=int(token[f"{prefix}day"]),
            )  # fmt: skip
        elif token["monyear"]:
            yield _when(
                token["monyear"], (start, end), "date", year=int(token["yyear"]),
                month=_month(token["ymon"]),
            )  # fmt: skip
        elif token["clock"]:
            hour = _clock_hour(int(token["ch"]), token["cmer"])
            yield _when(token["clock"], (start, end), "time", hour=hour, minute=int(token["cmin"]))
        elif token["ampm"]:
            hour = _clock_hour(int(token["ah"]), token["amer"])
            yield _when(token["ampm"], (start, end), "time", hour=hour, minute=0)
        elif token["money"] or token["usd"]:
            sign = token["msign"] or token["msign2"] or ""
            literal = token["mnum"] or token["unum"]
            yield replace(_quantity(text, start, literal, sign, end, None, units=False), kind="usd")
        elif token["cohort"] or token["ident"]:
            name = token.group(0).rstrip(".:-")  # "hours=18-20:" ends a clause, not the name
            yield NumberMention(name, (start, start + len(name)), name, "identifier")
        elif token["word"]:
            word = token["word"].lower()
            tens, _, ones = word.partition("-")
            value = _WORD_TENS.get(tens, _WORD_UNITS.get(tens, 0))
            value += {"one": 1, "two": 2, **_WORD_UNITS}.get(ones, 0) if ones else 0
            yield NumberMention(word, (start, end), float(value), "number", literal=str(value))
        elif token["num"]:
            number_end = token.end()
            ordinal = None if token["exp"] else _ORDINAL_SUFFIX.match(text, number_end)
            if ordinal:
                yield NumberMention(
                    text[start : ordinal.end()], (start, ordinal.end()), float(token["num"]),
                    "ordinal", literal=token["num"],
                )  # fmt: skip
                continue
            mention = _quantity(
                text, start, token["num"], token["sign"] or "", number_end, token["exp"]
            )
            if mention.kind == "number" and re.match(r"[A-Za-z_]", text[mention.span[1] :]):
                tail = re.match(r"[\w.-]*\w", text[start:])
                assert tail is not None
                yield NumberMention(
                    tail.group(0), (start, start + tail.end()), tail.group(0), "identifier"
                )
                continue
            yield mention


def _is_integer(mention: NumberMention) -> bool:
    return mention.kind in QUANTITY_KINDS and mention.decimals == 0 and mention.exponent == 0


def _exemption(text: str, mention: NumberMention) -> MentionKind | None:
    """The exempt kind of a number from its surroundings, or None."""
    start, end = mention.span
    before, after = text[max(0, start - 40) : start], text[end : end + 40]
    value = mention.value
    if mention.kind == "percent" and value in _CONFIDENCE_LEVELS and _CONFIDENCE_AFTER.match(after):
        return "confidence_level"
    if not _is_integer(mention) or mention.signed or mention.kind not in ("number", "count"):
        return None
    if _RANK_BEFORE.search(before):
        return "rank"
    if _LINE_START_BEFORE.search(before) and re.match(r"[.)](?:\s|$)", after):
        return "list_marker"
    if before.endswith("(") and after.startswith(")") and 0 < float(value) <= 20:
        return "list_marker"
    if value in _SCALE_ENDS and re.search(r"\bout\s+of\s*$", before, re.I):
        return "scale"
    if value in (5, 10, 100) and re.search(r"[\d%]\s?/$", before):
        return "scale"
    if value == 0 and re.match(r"\s*(?:-|–|to)\s*100\b", after):
        return "scale"
    if value == 100 and re.search(r"(?<![\d.])0\s*(?:-|–|to)\s*$", before):
        return "scale"
    return None


_UNIT_KINDS = frozenset({"percent", "points", "minutes", "seconds", "hours", "stars"})


def _apply_context(text: str, mentions: list[NumberMention]) -> list[NumberMention]:
    """Ranges, date/time merging, hours of day, exemptions, approximations and bounds."""
    # a number before a range word takes the unit (or am/pm, or month) of its partner
    for index in range(len(mentions) - 2, -1, -1):
        mention, partner = mentions[index], mentions[index + 1]
        between = text[mention.span[1] : partner.span[0]]
        if mention.kind != "number" or not _RANGE_WORD.fullmatch(between):
            continue
        if partner.kind in _UNIT_KINDS:
            mentions[index] = replace(mention, kind=partner.kind)
        elif (
            partner.kind == "time"
            and re.search(r"[ap]\.?m\.?$", partner.text, re.I)
            and _is_integer(mention)
            and 1 <= float(mention.value) <= 12
            and not mention.signed
        ):
            meridiem = "pm" if partner.hour is not None and partner.hour >= 12 else "am"
            hour = _clock_hour(int(mention.value), meridiem)
            mentions[index] = _when(mention.text, mention.span, "time", hour=hour, minute=0)
    for index in range(1, len(mentions)):
        mention, previous = mentions[index], mentions[index - 1]
        between = text[previous.span[1] : mention.span[0]]
        if (
            previous.kind == "date"
            and previous.day is not None
            and mention.kind == "number"
            and _is_integer(mention)
            and not mention.signed
            and 1 <= float(mention.value) <= 31
            and re.fullmatch(r"\s*(?:-|–|—|to|through|and|&)\s*", between)
        ):
            mentions[index] = _when(
                mention.text, mention.span, "date", year=previous.year, month=previous.month,
                day=int(mention.value),
            )  # fmt: skip
    merged: list[NumberMention] = []
    for mention in mentions:
        prior = merged[-1] if merged else None
        if (
            prior is not None
            and prior.kind == "date"
            and prior.day is not None
            and mention.kind == "time"
            and re.fullmatch(r"\s*,?\s*(?:at\s+|@\s*)?", text[prior.span[1] : mention.span[0]])
            and not re.match(r"\s*(?:-|–|to)\s*\d", text[mention.span[1] :])
        ):
            span = (prior.span[0], mention.span[1])
            merged[-1] = _when(
                text[span[0] : span[1]], span, "datetime", year=prior.year,
                month=prior.month, day=prior.day, hour=mention.hour, minute=mention.minute,
            )  # fmt: skip
            continue
        merged.append(mention)
    result = []
    for mention in merged:
        start = mention.span[0]
        before = text[max(0, start - 40) : start]
        if (
            mention.kind == "number"
            and _is_integer(mention)
            and not mention.signed
            and float(mention.value) <= 23
            and _HOUR_BEFORE.search(before)
        ):
            mention = _when(mention.text, mention.span, "time", hour=int(mention.value), minute=0)
        exempt = _exemption(text, mention) if mention.kind in QUANTITY_KINDS else None
        if exempt:
            mention = replace(mention, kind=exempt)
        elif mention.kind in QUANTITY_KINDS:
            if _APPROX_BEFORE.search(before):
                mention = replace(mention, approx=True)
            bound = _BOUND_BEFORE.search(before)
            if bound:
                word = (bound["op"] or bound["cmp"] or bound["atw"] or bound["word"]).lower()
                below = word in ("<", "≤", "less", "fewer", "lower", "most", "under", "below")
                mention = replace(mention, bound="<" if below or word.startswith("up") else ">")
        result.append(mention)
    return result


def extract_numbers(text: str) -> list[NumberMention]:
    """Every number in `text` (quantities, dates, times, identifiers with digits, and exempt
    ordinals, ranks, list markers, confidence levels and scale ends), in order of position.

    Evidence ids ("E12") and citation brackets are not numbers and are left out.
    """
    return _apply_context(text, list(_scan(text)))


# --- evidence ------------------------------------------------------------------------------------

_NUMERIC_UNITS = (
    "share", "points", "minutes", "seconds", "orders", "count", "usd", "stars", "score", "ratio",
    "argument",  # a number among a cited item's arguments (e.g. baseline_days 14)
)  # fmt: skip
_CONVERSIONS: dict[str, dict[str, Decimal]] = {
    "percent": {"share": Decimal(100), "points": Decimal(1), "score": Decimal(1)},
    "points": {"points": Decimal(1), "score": Decimal(1), "share": Decimal(100)},
    "usd": {"usd": Decimal(1)},
    "minutes": {"minutes": Decimal(1), "seconds": Decimal(1) / 60},
    "seconds": {"seconds": Decimal(1), "minutes": Decimal(60)},
    "hours": {"minutes": Decimal(1) / 60, "seconds": Decimal(1) / 3600, "ratio": Decimal(1)},
    "stars": {"stars": Decimal(1)},
    "count": {"orders": Decimal(1), "count": Decimal(1)},
    "number": {unit: Decimal(1) for unit in _NUMERIC_UNITS},
}
_KIND_UNIT = {
    "percent": "points", "points": "points", "usd": "usd", "minutes": "minutes",
    "seconds": "seconds", "hours": "ratio", "stars": "stars", "count": "count", "number": "ratio",
}  # fmt: skip
_UNIT_WORDS = {
    "percent": "share, points or score", "points": "points, score or share", "usd": "usd",
    "minutes": "minutes or seconds", "seconds": "seconds or minutes",
    "hours": "minutes or hour-named", "stars": "stars", "count": "orders or count",
    "number": "numeric",
}  # fmt: skip
_DECREASE = re.compile(
    r"\b(?:fell|fall(?:s|ing)?|drop(?:s|ped|ping)?|declin(?:e|es|ed|ing)|decreas(?:e|es|ed|ing)"
    r"|down|lower(?:ed)?|lost|los(?:e|es|ing)|shr[ai]nk|shrunk|reduc(?:e|ed|es|ing|tion)"
    r"|cut|below|negative|early|fewer|less|slipped|dipped|sank|plunged|plummeted|worse)\b",
    re.I,
)


_FALL_NAME = re.compile(r"drop|decrease|decline|loss|fall", re.I)


@dataclass(frozen=True)
class _Quantity:
    source: str  # "E2 slice1.current_value"
    unit: str
    value: Decimal
    hourly: bool = False  # the name or label says the figure counts hours
    fall: bool = False  # the name says the value is a decrease ("cx_drop": 2.76 means -2.76)


@dataclass(frozen=True)
class _Moment:
    source: str
    when: dt.datetime


@dataclass
class _ItemFacts:
    quantities: list[_Quantity]
    moments: list[_Moment]
    window_times: set[tuple[int, int]]
    text: str  # lower-cased text for identifiers


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every node of a JSON-like value with its dotted path (list items keep their list's path)."""
    yield path, value
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _walk(inner, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for inner in value:
            yield from _walk(inner, path)


def _parse_moment(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not re.match(r"\d{4}-\d{2}-\d{2}", value):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def _window(hours: Iterable[int]) -> set[tuple[int, int]]:
    """Times of day an hour filter grounds: each hour's start, its last minute, its end."""
    times: set[tuple[int, int]] = set()
    for hour in hours:
        times |= {(hour, 0), (hour, 59), ((hour + 1) % 24, 0)}
    return times


def _hours_in_text(text: str) -> set[int]:
    hours: set[int] = set()
    for match in re.finditer(r"\bhours?\s*=\s*(\d{1,2})(?:\s*-\s*(\d{1,2}))?", text, re.I):
        first, last = int(match[1]), int(match[2] or match[1])
        hours |= {h for h in range(first, last + 1) if h < 24}
    return hours


def _facts(item: EvidenceItem) -> _ItemFacts:
    quantities: list[_Quantity] = []
    moments: list[_Moment] = []
    for name, figure in item.figures.items():
        source = f"{item.id} {name}"
        if figure.unit == "datetime":
            moment = _parse_moment(str(figure.value))
            if moment is not None:
                moments.append(_Moment(source, moment))
        elif figure.unit == "text":
            for mention in extract_numbers(str(figure.value)):
                if mention.kind in QUANTITY_KINDS:
                    value = Decimal(repr(float(mention.value)))
                    quantities.append(_Quantity(source, _KIND_UNIT[mention.kind], value))
        else:
            try:
                value = Decimal(repr(float(figure.value)))
            except (TypeError, ValueError):
                continue
            hourly = "hour" in f"{name} {figure.label}".lower()
            fall = bool(_FALL_NAME.search(name.rsplit(".", 1)[-1]))
            quantities.append(_Quantity(source, figure.unit, value, hourly, fall))
    if not item.ok:  # a failed call's message is its output: its numbers ground like a text figure
        for mention in extract_numbers(item.summary):
            if mention.kind in QUANTITY_KINDS:
                value = Decimal(repr(float(mention.value)))
                quantities.append(_Quantity(f"{item.id} summary", _KIND_UNIT[mention.kind], value))
    hours: set[int] = set()
    for path, value in _walk(item.args):
        moment = _parse_moment(value)
        if moment is not None:
            moments.append(_Moment(f"{item.id} args.{path}", moment))
        if path.rsplit(".", 1)[-1] in ("hour", "hours") and isinstance(value, int):
            hours |= {value} if 0 <= value < 24 else set()
        elif isinstance(value, int | float) and not isinstance(value, bool):
            value = Decimal(repr(float(value)))
            quantities.append(_Quantity(f"{item.id} args.{path}", "argument", value))
    table = json.dumps(item.table, ensure_ascii=False, default=str) if item.table else ""
    hours |= _hours_in_text(item.summary) | _hours_in_text(table)
    text = " ".join(
        [
            item.id, item.tool, item.summary,
            json.dumps(item.args, ensure_ascii=False, default=str), " ".join(item.figures),
            " ".join(str(f.value) for f in item.figures.values()), table,
        ]
    ).lower()  # fmt: skip
    return _ItemFacts(quantities, moments, _window(hours), text)


@dataclass
class _Allowed:
    numbers: list[Decimal]
    dates: set[tuple[int | None, int | None, int | None]]  # (year, month, day)
    times: set[tuple[int | None, int]]
    moments: list[dt.datetime]
    text: str

    @classmethod
    def parse(cls, allowed: Iterable[str | float | dt.date]) -> _Allowed:
        context = cls([], set(), set(), [], "")
        texts = []
        for entry in allowed:
            if isinstance(entry, dt.datetime):
                context.moments.append(entry)
                context.dates.add((entry.year, entry.month, entry.day))
                context.times.add((entry.hour, entry.minute))
            elif isinstance(entry, dt.date):
                context.dates.add((entry.year, entry.month, entry.day))
            elif isinstance(entry, int | float):
                context.numbers.append(Decimal(repr(float(entry))))
            else:
                texts.append(str(entry))
                context._add_text(str(entry))
        context.text = " ".join(texts).lower()
        return context

    def _add_text(self, text: str) -> None:
        self.times |= _window(_hours_in_text(text))
        for mention in extract_numbers(text):
            if mention.kind in ("date", "datetime"):
                self.dates.add((mention.year, mention.month, mention.day))
            if mention.kind in ("time", "datetime"):
                self.times.add((mention.hour, mention.minute or 0))
            if mention.kind == "datetime" and (moment := mention.moment) is not None:
                self.moments.append(moment)
            if mention.kind in QUANTITY_KINDS:
                self.numbers.append(Decimal(repr(float(mention.value))))


# --- matching ------------------------------------------------------------------------------------


_TIE_MODES = (ROUND_HALF_UP, ROUND_HALF_EVEN, ROUND_HALF_DOWN)


def _quantum(mention: NumberMention) -> Decimal:
    if mention.approx and mention.decimals == 0:
        digits = mention.literal.lstrip("-")
        zeros = len(digits) - len(digits.rstrip("0")) if digits.strip("0") else 0
        return Decimal(1).scaleb(zeros)
    return Decimal(1).scaleb(-mention.decimals)


def _roundings(value: Decimal, mention: NumberMention) -> set[Decimal]:
    """The figure value (in the mention's unit) rounded to the mention's precision: the nearest
    value, and at an exact tie both neighbours (half up, half even and half down)."""
    scaled = value.scaleb(-mention.exponent)
    quantum = _quantum(mention)
    try:
        return {scaled.quantize(quantum, mode) for mode in _TIE_MODES}
    except InvalidOperation:
        return set()


def _is_round(mention: NumberMention) -> bool:
    digits = mention.literal.lstrip("-").replace(".", "").strip("0")
    return len(digits) <= 2


def _matches(value: Decimal, mention: NumberMention, decrease: bool) -> bool:
    written = Decimal(mention.literal)
    if mention.bound and _is_round(mention):
        scaled = value.scaleb(-mention.exponent)
        return scaled <= written if mention.bound == "<" else scaled >= written
    targets = {written}
    if decrease and not mention.signed:
        targets.add(-written)
    return bool(_roundings(value, mention) & targets)


def _candidates(
    mention: NumberMention, facts: Iterable[_ItemFacts]
) -> Iterator[tuple[_Quantity, Decimal]]:
    """Figures whose unit fits the mention, converted to the mention's unit."""
    conversions = _CONVERSIONS[mention.kind]
    for item in facts:
        for quantity in item.quantities:
            factor = conversions.get(quantity.unit)
            if factor is None:
                continue
            if mention.kind == "hours" and quantity.unit == "ratio" and not quantity.hourly:
                continue
            yield quantity, quantity.value * factor


def _format(value: Decimal, mention: NumberMention) -> str:
    rounded = min(_roundings(value, mention) or {value}, key=lambda r: abs(r - value))
    number = f"{rounded:f}"
    if mention.exponent:
        number += {3: "k", 6: "M"}.get(mention.exponent, f"e{mention.exponent}")
    return {
        "percent": f"{number}%", "points": f"{number} pp", "usd": f"${number}",
        "minutes": f"{number} min", "seconds": f"{number} s", "hours": f"{number} h",
        "stars": f"{number} stars",
    }.get(mention.kind, number)  # fmt: skip


def _check_quantity(
    mention: NumberMention,
    cited: list[_ItemFacts],
    context: _Allowed,
    decrease: bool,
) -> tuple[str | None, str | None]:
    """(source, None) when grounded, else (None, closest figure text or None)."""
    for allowed in context.numbers:
        if _matches(allowed, replace(mention, bound=""), decrease):
            return "allowed", None
    closest: tuple[Decimal, str] | None = None
    written = Decimal(mention.literal).scaleb(mention.exponent)
    for quantity, value in _candidates(mention, cited):
        if quantity.fall and mention.signed:  # a drop written with its sign: "-2.76"
            value = -value
        if _matches(value, mention, decrease):
            return quantity.source, None
        distance = abs(value - written)
        if closest is None or distance < closest[0]:
            closest = (distance, f"{_format(value, mention)} in {quantity.source}")
    return None, (closest[1] if closest else None)


def _date_fits(
    mention: NumberMention, year: int | None, month: int | None, day: int | None
) -> bool:
    return (
        mention.month == month
        and (mention.day is None or day is None or mention.day == day)
        and (mention.year is None or year is None or mention.year == year)
    )


def _time_fits(mention: NumberMention, hour: int | None, minute: int) -> bool:
    return (mention.hour, mention.minute or 0) == (hour, minute)


def _check_when(
    mention: NumberMention, cited: list[_ItemFacts], context: _Allowed
) -> tuple[str | None, str | None]:
    moments = [m for item in cited for m in item.moments]
    windows = set().union(*(item.window_times for item in cited)) if cited else set()
    has_date = mention.kind in ("date", "datetime")
    has_time = mention.kind in ("time", "datetime")
    for moment in moments:
        w = moment.when
        if (not has_date or _date_fits(mention, w.year, w.month, w.day)) and (
            not has_time or _time_fits(mention, w.hour, w.minute)
        ):
            return moment.source, None
    for w in context.moments:
        if (not has_date or _date_fits(mention, w.year, w.month, w.day)) and (
            not has_time or _time_fits(mention, w.hour, w.minute)
        ):
            return "allowed", None
    date_source = None
    if has_date:
        if any(_date_fits(mention, y, m, d) for y, m, d in context.dates):
            date_source = "allowed"
        else:
            date_source = next(
                (
                    m.source
                    for m in moments
                    if _date_fits(mention, m.when.year, m.when.month, m.when.day)
                ),
                None,
            )
    time_source = None
    if has_time:
        if any(_time_fits(mention, h, m) for h, m in context.times):
            time_source = "allowed"
        elif any(_time_fits(mention, h, m) for h, m in windows):
            time_source = "hour window of cited evidence"
    if (not has_date or date_source) and (not has_time or time_source):
        return date_source or time_source, None
    closest = None
    if moments:
        target = _target_moment(mention, moments[0].when)
        nearest = min(moments, key=lambda m: abs((m.when - target).total_seconds()))
        closest = f"{nearest.when:%Y-%m-%d %H:%M} in {nearest.source}"
    return None, closest


def _target_moment(mention: NumberMention, reference: dt.datetime) -> dt.datetime:
    try:
        return dt.datetime(
            mention.year or reference.year,
            mention.month or reference.month,
            mention.day or reference.day,
            mention.hour if mention.hour is not None else reference.hour,
            mention.minute or 0,
        )
    except ValueError:
        return reference


# --- sentences and citations ---------------------------------------------------------------------

_CITATION = re.compile(r"\[\s*([Ee]\d+(?:\s*(?:[,;&]|and|[-–])\s*[Ee]\d+)*)\s*\]")
_BOUNDARY = re.compile(r"[.!?](?=\s|$)|\n[ \t]*\n|\n(?=[ \t]*(?:[-*+•|>#]|\d+[.)][ \t]))")
_ABBREVIATIONS = {
    "vs", "e.g", "i.e", "etc", "approx", "ca", "no", "fig", "cf", "incl", "est", "jan", "feb",
    "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "a.m", "p.m", "mr",
    "ms", "dr", "st",
}  # fmt: skip


def _cited_ids(inner: str) -> list[str]:
    ids: list[str] = []
    for part in re.finditer(r"[Ee](\d+)(?:\s*[-–]\s*[Ee](\d+))?", inner):
        first, last = int(part[1]), int(part[2] or part[1])
        ids += [f"E{n}" for n in range(first, min(last, first + 50) + 1)]
    return ids


def _sentences(text: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for boundary in _BOUNDARY.finditer(text):
        if boundary.group(0) == ".":
            word = re.search(r"([A-Za-z.]+)$", text[: boundary.start()])
            if word and word.group(1).lstrip(".").lower() in _ABBREVIATIONS:
                continue
        spans.append((start, boundary.end()))
        start = boundary.end()
    spans.append((start, len(text)))
    return spans


def _sentence_citations(
    text: str, sentences: list[tuple[int, int]]
) -> tuple[list[list[str]], list[tuple[str, tuple[int, int], list[str]]]]:
    """Ids cited per sentence, and every citation (text, span, ids) in order."""
    per_sentence: list[list[str]] = [[] for _ in sentences]
    citations = []
    for citation in _CITATION.finditer(text):
        ids = _cited_ids(citation[1])
        citations.append((citation.group(0), citation.span(), ids))
        index = next(i for i, (s, e) in enumerate(sentences) if s <= citation.start() < e)
        lead = _CITATION.sub("", text[sentences[index][0] : citation.start()])
        if index > 0 and not re.search(r"\w", lead):
            index -= 1
        per_sentence[index] += ids
    return per_sentence, citations


# --- the check -----------------------------------------------------------------------------------


def _items(evidence: Mapping[str, Any] | Iterable[Any]) -> dict[str, EvidenceItem]:
    values = evidence.values() if isinstance(evidence, Mapping) else evidence
    items = [v if isinstance(v, EvidenceItem) else EvidenceItem.model_validate(v) for v in values]
    return {item.id: item for item in items}


def check_grounding(
    narrative: str,
    evidence: Mapping[str, EvidenceItem] | Iterable[EvidenceItem],
    allowed: Iterable[str | float | dt.date] = (),
) -> GroundingResult:
    """Check every number of `narrative` against the evidence its sentence cites.

    `evidence` holds the items (EvidenceItem or their dicts) by id or as a list; `allowed` holds
    context values that need no citation (the day asked about, the incident window). See the
    module docstring for the rules.
    """
    items = _items(evidence)
    facts = {evidence_id: _facts(item) for evidence_id, item in items.items()}
    context = _Allowed.parse(allowed)
    all_text = " ".join(f.text for f in facts.values()) + " " + context.text
    sentences = _sentences(narrative)
    per_sentence, citations = _sentence_citations(narrative, sentences)
    result = GroundingResult()
    for citation_text, span, ids in citations:
        for evidence_id in ids:
            if evidence_id not in result.citations:
                result.citations.append(evidence_id)
            if evidence_id not in items:
                if evidence_id not in result.unknown_citations:
                    result.unknown_citations.append(evidence_id)
                result.problems.append(
                    GroundingProblem(
                        text=citation_text,
                        span=span,
                        reason=f"cites unknown evidence {evidence_id}",
                    )
                )
    for mention in extract_numbers(narrative):
        if mention.exempt:
            continue
        result.numbers += 1
        index = next(i for i, (s, e) in enumerate(sentences) if s <= mention.span[0] < e)
        start, end = sentences[index]
        cited_ids = list(dict.fromkeys(per_sentence[index]))
        source, reason = _ground(mention, narrative[start:end], cited_ids, facts, context, all_text)
        if source is None and (
            _names_a_value(narrative, mention, all_text)
            or _inside_a_group_name(narrative, mention, all_text)
        ):
            source = "evidence text (a name)"
        if source is not None:
            result.grounded += 1
            result.matches.append(
                GroundingMatch(text=mention.text, span=mention.span, source=source)
            )
        else:
            result.problems.append(
                GroundingProblem(
                    text=mention.text, span=mention.span, reason=reason or "ungrounded"
                )
            )
    result.problems.sort(key=lambda p: p.span)
    result.ok = result.grounded == result.numbers and not result.unknown_citations
    return result


_NAME_WORDS = re.compile(
    r"(?:(?<=\s)|^)(?:[a-z_]+=)?(?P<words>[A-Za-z][\w-]*(?:\s[A-Za-z][\w-]*){0,2})\s$"
)


def _names_a_value(narrative: str, mention: NumberMention, all_text: str) -> bool:
    """Whether an integer ends a name that evidence holds as a value: 'market 2' in
    'region=market 2' or 'market 2 54.8 min' (a region of the DoorDash sample), where evidence
    has "market 2" as a string. One to three words before the number are tried."""
    if not _is_integer(mention) or mention.kind != "number":
        return False
    start, end = mention.span
    if re.match(r"[.,]\d", narrative[end : end + 2]):
        return False
    match = _NAME_WORDS.search(narrative[max(0, start - 80) : start])
    if match is None:
        return False
    words = match["words"].split()
    return any(
        _holds_as_value([*words[-count:], mention.literal], all_text)
        for count in range(1, len(words) + 1)
    )


def _holds_as_value(words: list[str], all_text: str) -> bool:
    """Whether evidence holds these words, joined, as a whole string value."""
    return json.dumps(" ".join(words).lower(), ensure_ascii=False) in all_text  # as _facts writes


def _inside_a_group_name(narrative: str, mention: NumberMention, all_text: str) -> bool:
    """Whether a number word is part of a group's name that evidence holds as a value: 'six'
    in 'items=six plus' or 'three' and 'five' in 'items=three to five' (a mapping's bands),
    where evidence has "six plus" as a string. Phrases of up to four words around it are tried."""
    if not mention.text.isalpha():
        return False
    start, end = mention.span
    before = re.findall(r"[A-Za-z][\w-]*", narrative[max(0, start - 40) : start].split("=")[-1])
    after = re.findall(r"[A-Za-z][\w-]*", re.split(r"[^\w\s-]", narrative[end : end + 40])[0])
    return any(
        _holds_as_value([*before[len(before) - left :], mention.text, *after[:right]], all_text)
        for left in range(min(len(before), 3) + 1)
        for right in range(min(len(after), 3 - left) + 1)
        if left + right > 0
    )


def _ground(
    mention: NumberMention,
    sentence: str,
    cited_ids: list[str],
    facts: dict[str, _ItemFacts],
    context: _Allowed,
    all_text: str,
) -> tuple[str | None, str | None]:
    """(source, None) when the mention is grounded, else (None, reason)."""
    if mention.kind == "identifier":
        pattern = rf"(?<![\w-]){re.escape(str(mention.value).lower())}(?![\w-])"
        if re.search(pattern, all_text):
            return "evidence text", None
        return None, f"identifier {mention.text} appears in no evidence"
    decrease = bool(_DECREASE.search(sentence))

    def check(items: list[_ItemFacts], allowed: _Allowed) -> tuple[str | None, str | None]:
        if mention.kind in WHEN_KINDS:
            return _check_when(mention, items, allowed)
        return _check_quantity(mention, items, allowed, decrease)

    known = [i for i in cited_ids if i in facts]
    source, closest = check([facts[i] for i in known], context)
    if source is not None:
        return source, None
    nothing = _Allowed.parse(())
    elsewhere = [i for i, item in facts.items() if i not in known and check([item], nothing)[0]]
    hint = f"; {', '.join(elsewhere[:3])} hold{'s' if len(elsewhere) == 1 else ''} it"
    hint = hint if elsewhere else ""
    if not cited_ids:
        return None, f"no citation in this sentence{hint}"
    if not known:
        return None, f"cites no known evidence ({', '.join(cited_ids)}){hint}"
    where = f"not in cited evidence {', '.join(known)}"
    if mention.kind in QUANTITY_KINDS and closest is None:
        return None, f"{where} (no {_UNIT_WORDS[mention.kind]} figure){hint}"
    return None, f"{where}{f' (closest: {closest})' if closest else ''}{hint}"
