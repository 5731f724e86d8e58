"""Notes on what a question names that the data does not hold, so nothing asked is dropped
without a word: a place or a breakdown the data lacks, a threshold on a dimension of numeric
bands, a misspelt region or category (read as the nearest one, with a note), and chat
shorthand written out before the question is read ("yday", "last wk", "7d")."""

from __future__ import annotations

import calendar
import difflib
import re
from collections.abc import Callable

from agent.dates import WEEKDAYS
from agent.question import Filters
from agent.vocabulary import (
    GRAIN_WORDS,
    METRIC_PATTERNS,
    Vocabulary,
    add_filter,
    custom_dimension_words,
    dimension_names,
    dimension_words,
    first_match,
)
from data.schema import DAYPARTS

# Whether a word or name alone reads as something of the data (a value, date, metric, action).
ReadsAsContent = Callable[[str], bool]


def written_out(text: str) -> str:
    """A cleaned question with its chat shorthand written out."""
    for pattern, words in SHORTHAND:
        text = pattern.sub(words, text)
    return text


# Chat shorthand, written out before the question is read ('why did cx drop yday?', 'on-time
# last wk', 'grocery vs convenience last 7d' were read without their dates, and no note).
SHORTHAND: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), words)
    for pattern, words in (
        (r"\b(?:yday|yest|ystd)\b", "yesterday"),
        (r"\b(?:tdy|tday)\b", "today"),
        (r"\bwk\b", "week"),
        (r"\bwks\b", "weeks"),
        (r"\bmo\b(?=\s*[?.!]?$)|\bmth\b", "month"),
        (r"\bprev\b", "previous"),
        (r"\b(?P<n>\d{1,3})\s?d\b", r"\g<n> days"),
        (r"\b(?P<n>\d{1,2})\s?w\b", r"\g<n> weeks"),
        (r"\bhow\s+r\s+(?=we|things)", "how are "),
        (r"\bw/o\b", "without"),
        (r"\bw/(?=\s|\w)", "with "),
    )
)


# "in Paris", "in New York", "in Market 9", "how is Paris doing": a capitalized name after "in"
# or asked after (a name typed in lower case is not told from words such as "in total" or "in
# general", and is not read as a place).
_PLACE = re.compile(
    r"(?:\b[Ii]n\s+|\b[Hh]ow(?:'s|\s+is|\s+are)\s+(?=[A-Z][\w\s-]*?\s+doing\b))"
    r"(?P<name>[A-Z][a-z]+(?:[\s-]+[A-Z][a-z]+)*(?:\s+\d+)?)\b"
)


# What sets a number as a bound: "over 10 km", "under $20", "at least 3".
_BOUND = r"\b(?:over|above|more\s+than|under|below|less\s+than|at\s+least|at\s+most"
# "orders over 10 km", "couriers older than 35": a number set against a banded dimension.
_BAND_THRESHOLD = re.compile(
    _BOUND + r"|longer\s+than|older\s+than|younger\s+than|shorter\s+than)\s+"
    r"(?P<n>\d+(?:\.\d+)?)(?:\s*(?P<unit>[a-z]+))?"
)
_BAND = re.compile(r"(?:<|>=)?\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)?")


# A lower-case word after "in" or "for" that may be a misspelt region or category ("cx in nrth").
_AFTER_IN = re.compile(r"\b(?:in|for)\s+(?:the\s+)?(?P<word>[a-z][a-z-]{3,})\b")
NEAR_MISS_CUTOFF = 0.8  # difflib's ratio: 'nrth' and 'north' 0.89, 'general' and 'central' 0.71
# ... never a day part, weekday or month ('for dinner' is no misspelt 'diner')
_OTHER_WORD = re.compile(
    "|".join(
        (
            *DAYPARTS,
            *WEEKDAYS,
            *(m.lower() for m in (*calendar.month_name, *calendar.month_abbr) if m),
        )
    )
)


def near_misses(
    text: str, filters: dict[str, list[str | int]], vocabulary: Vocabulary, notes: list[str]
) -> None:
    """Read a misspelt region or category after "in"/"for" as the one it is closest to, with a
    note ('cx in nrth' was the whole marketplace, without a word); only when the question names
    none of that dimension."""
    known = {
        value.casefold(): (dimension, value)
        for dimension, values in (
            ("region", vocabulary.regions),
            ("category", vocabulary.categories),
        )
        for value in values
    }
    for match in _AFTER_IN.finditer(text):
        word = match["word"]
        if word in known or any(word in value for value in known) or _OTHER_WORD.fullmatch(word):
            continue
        close = difflib.get_close_matches(word, list(known), n=1, cutoff=NEAR_MISS_CUTOFF)
        if close and known[close[0]][0] not in filters:
            dimension, value = known[close[0]]
            add_filter(filters, dimension, value)
            notes.append(f"'{word}' read as {dimension}={value}")


# Weather a question may name ("are deliveries slower when it rains?")
_WEATHER_WORD = re.compile(
    r"\b(?P<word>rain(?:s|y|ing|ed|fall)?|snow(?:s|y|ing|ed|fall)?|hail\w*|drizzl\w*|sleet\w*)\b"
)


# A dimension of the weather: so named, or holding conditions ('sky': Sunny, Fog, Stormy)
_CONDITIONS = re.compile(r"sun|cloud|fog|storm|rain|wind|snow|clear|overcast|drizzl|hail")


def _is_weather(name: str, groups: tuple[str, ...]) -> bool:
    named = "weather" in name
    return named or sum(bool(_CONDITIONS.search(str(g).casefold())) for g in groups) >= 2


def unknown_weather(
    text: str, filters: dict[str, list[str | int]], vocabulary: Vocabulary
) -> list[str]:
    """A note for weather named that no group of the data holds ('when it rains' on data whose
    weather groups are Sunny, Fog, ...; or on data with no weather dimension at all): it would
    be answered without it, and without a word."""
    match = _WEATHER_WORD.search(text)
    if match is None:
        return []
    word = match["word"]
    groups = [(name, values) for name, values in vocabulary.dimensions if _is_weather(name, values)]
    if any(name in filters for name, _ in groups):
        return []  # a group of it was read ('rainy weather': weather=Rainy)
    if groups:
        name, values = groups[0]
        return [
            f"'{word}' was not read as one of the {name} groups ({', '.join(values)}), so it "
            "was not applied: name one to apply it"
        ]
    return [f"'{word}': the orders are not broken down by weather here, so it was not applied"]


# "delivery time by vehicle": a breakdown asked by a word that may be no dimension of the data.
_BY_WORD = re.compile(r"\b(?:by|per|across|split\s+by|broken\s+down\s+by)\s+(?:each\s+)?"
                      r"(?P<word>[a-z][a-z_-]{2,})\b")  # fmt: skip
# Words after "by" that are no breakdown ("by far", "by then", "by how much", "by default").
_NOT_BREAKDOWNS = {"far", "then", "now", "how", "default", "itself", "the", "what", "which",
                   "much", "more", "less", "over", "about", "around", "roughly", "nearly",
                   "almost", "type", "name", "orders", "volume"}  # fmt: skip


def unknown_breakdowns(
    text: str, vocabulary: Vocabulary, reads_as_content: ReadsAsContent
) -> list[str]:
    """Notes for a breakdown by a word that is no dimension, time grain, value, date or metric
    of this data ('delivery time by vehicle' on data without vehicles): it would be answered
    without the breakdown, and without a word."""
    notes = []
    nouns = dimension_words(vocabulary)
    for match in _BY_WORD.finditer(text):
        word, after = match["word"], text[match.start("word") :]
        if (
            word in _NOT_BREAKDOWNS
            or any(pattern.match(after) for _, pattern in nouns)  # 'by courier age'
            or any(pattern.match(after) for _, pattern in METRIC_PATTERNS)  # 'by delivery time'
            or first_match(GRAIN_WORDS, f"by {word}")
        ):
            continue
        if re.fullmatch(r"(?:month|year|quarter)s?", word):
            *others, last = (grain for grain, _ in GRAIN_WORDS)
            grains = f"{', '.join(others)} or {last}"
            notes.append(f"'{match.group(0)}': series are by {grains}, not by {word}")
            continue
        if re.fullmatch(r"(?:minute|week|day|hour)s?", word):
            continue
        if not reads_as_content(word):
            known = dimension_names(vocabulary)
            notes.append(f"'{match.group(0)}': '{word}' is not a dimension of this data ({known})")
    return notes


def thresholds_of_bands(text: str, filters: Filters, vocabulary: Vocabulary) -> list[str]:
    """Notes for a threshold on a custom dimension of numeric bands ('<4.66', '4.66-9.19',
    '>=13.6'), named or by its unit ('over 10 km' for distance_km): its groups are the bands,
    so the threshold is not applied (it would be ignored without a word)."""
    banded = [
        (name, groups)
        for name, groups in vocabulary.dimensions
        if name not in filters
        and any(group.startswith("<") for group in groups)
        and all(_BAND.fullmatch(group) for group in groups)
    ]
    if not banded:
        return []
    notes = []
    named = set(first_match(custom_dimension_words(vocabulary.dimensions), text))
    for match in _BAND_THRESHOLD.finditer(text):
        for name, groups in banded:
            unit = name.rsplit("_", 1)[-1] if "_" in name else None
            if name in named or match["unit"] == unit:
                asked = match.group(0)[: match.end("n") - match.start()]
                asked += f" {unit}" if match["unit"] == unit else ""
                notes.append(
                    f"'{asked}' is not one of {name}'s groups "
                    f"({', '.join(groups)}); not applied: name a group, or ask by {name}"
                )
    return notes


def unknown_places(
    text: str, vocabulary: Vocabulary, reads_as_content: ReadsAsContent
) -> list[str]:
    """Notes for names after "in" that the question's reading does not know (not a region,
    category, date, metric or action of this data): they would be ignored without a word."""
    notes = []
    for match in _PLACE.finditer(text):
        name = match["name"]
        if not reads_as_content(name.casefold()):
            known = ", ".join(vocabulary.regions[:12])
            notes.append(
                f"'{name}' is not a region or category of this data (regions: {known}); ignored"
            )
    return notes


# "orders over $50": an amount set against the orders, which are filtered by basket size only.
_AMOUNT = re.compile(
    _BOUND + r")\s+(?:\$\s*\d[\d,]*(?:\.\d+)?|\d[\d,]*(?:\.\d+)?\s*(?:dollars?|usd|bucks)\b)"
)


def amount_thresholds(text: str, vocabulary: Vocabulary) -> list[str]:
    """Notes for an amount set against the orders ('on-time for orders over $50'): baskets are
    filtered by size, not by value, so the amount is not applied (it was dropped without a
    word). Not for a question naming an action, whose amounts are its parameters."""
    sizes = ", ".join(vocabulary.basket_sizes)
    where = f"by basket size ({sizes})" if sizes else "not at all (this data has no basket values)"
    return [
        f"'{match.group(0)}' is not applied: orders are filtered {where}, not by an amount"
        for match in _AMOUNT.finditer(text)
    ]
