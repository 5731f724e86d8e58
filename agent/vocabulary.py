"""The reader's vocabulary: times of day, metric words, cohort words, actions and their
parameters, as patterns over a cleaned (lower-cased, NFKC) question.

- Clock ranges are [start, end): "18:00-20:00" and "6-8pm" are hours 18 and 19; "hours 18-20"
  lists hour labels 18, 19 and 20. Dayparts (breakfast, lunch, dinner, late night) become a
  daypart filter; other times of day (morning, afternoon, evening) become an hour filter.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from agent.dates import NUMBER, TIMES_OF_DAY, Scanner, number
from agent.question import Grain, Order
from analytics.comparisons import WorldProfile
from analytics.drivers import DRIVERS
from analytics.metrics import CX_SCORE, CX_SYNONYMS, METRICS
from data.schema import DAYPARTS
from data.world_config import CATEGORIES, REGIONS
from tools.actions import ACTIONS

# --- times of day ---------------------------------------------------------------------------

Name = TypeVar("Name", bound=str)  # the names a table of patterns gives (a kind, a grain, ...)

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
    r"|overnight|(?<!last\s)(?<!to)night(?:time)?|morning|afternoon|evening)s?\b"
)
_DAYPART_OF_WORD = {"breakfast": "breakfast", "brunch": "breakfast", "lunch": "lunch",
                    "lunchtime": "lunch", "dinner": "dinner", "dinnertime": "dinner",
                    "supper": "dinner", "overnight": "late_night", "night": "late_night",
                    "nighttime": "late_night"}  # fmt: skip


@dataclass(frozen=True)
class TimeMention:
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


def hours_between(start: int, end: int) -> tuple[int, ...]:
    """Hour labels in [start, end), wrapping past midnight when end <= start."""
    if end > start:
        return tuple(range(start, end))
    return (*range(start, 24), *range(0, end))


def _clock_range(match: re.Match[str], notes: list[str]) -> TimeMention | None:
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
            hours = hours_between(start, stop)
            phrase = match.group(0).strip()
            return TimeMention(match.start(), phrase, start, stop, None, hours, by_clock=True)
    notes.append(f"'{match.group(0).strip()}' is not a time range; ignored")
    return None


def _is_clock(match: re.Match[str]) -> bool:
    """Whether a range has a colon or am/pm: without them "2-3" is a count or hour labels."""
    return bool(match["ap1"] or match["ap2"] or match["m1"] or match["m2"])


def time_mentions(scanner: Scanner, notes: list[str]) -> list[TimeMention]:
    """Every time range the question names, in order."""
    mentions: list[TimeMention] = []
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
            TimeMention(
                match.start(), match.group(0), labels[0], labels[-1] + 1, None, tuple(labels), True
            )
        )
    for match in scanner.find(_SINGLE_CLOCK):
        hour = _hour_of(match["h1"], match["m1"], match["ap1"] or match["ap2"])
        if hour is not None and hour < 24:
            mentions.append(
                TimeMention(match.start(), match.group(0), hour, hour + 1, None, (hour,), True)
            )
    for match in scanner.find(_DAYPART_WORDS):
        word = match["word"]
        daypart = "late_night" if word.startswith("late") else _DAYPART_OF_WORD.get(word, word)
        if daypart in DAYPARTS:
            start, end = DAYPARTS[daypart]
            mentions.append(TimeMention(match.start(), match.group(0), start, end, daypart))
        else:
            start, end = TIMES_OF_DAY[word]
            hours = hours_between(start, end)
            mentions.append(TimeMention(match.start(), match.group(0), start, end, hours=hours))
    return sorted(mentions, key=lambda mention: mention.position)


# --- metrics, filters, actions --------------------------------------------------------------

# The words that name each metric: the CX score's, then the registry's (ties: this order).
METRIC_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (CX_SCORE, re.compile(CX_SYNONYMS)),
    *((name, re.compile(m.synonyms)) for name, m in METRICS.items() if m.synonyms),
)
# The drivers a question may ask the value of when it names no metric ("how busy were dashers
# on Jan 4?"), from the driver registry.
DRIVER_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(spec.synonyms)) for name, spec in DRIVERS.items() if spec.synonyms
)


@dataclass(frozen=True)
class Vocabulary:
    """The cohort values of the world being asked about: its regions and categories (the
    synthetic world's by default; a real export's from its warehouse), and its custom
    dimensions with their groups ({name: groups}, as data/dimensions.py declares them)."""

    regions: tuple[str, ...] = tuple(REGIONS)
    categories: tuple[str, ...] = tuple(CATEGORIES)
    basket_sizes: tuple[str, ...] = ("small", "medium", "large")  # none: no basket values
    dimensions: tuple[tuple[str, tuple[str, ...]], ...] = ()


SYNTHETIC = Vocabulary()


def world_vocabulary(profile: WorldProfile) -> Vocabulary:
    """The vocabulary of a world, from its profile (analytics.comparisons.world_profile)."""
    return Vocabulary(
        regions=profile.regions,
        categories=profile.categories,
        basket_sizes=profile.basket_sizes,
        dimensions=tuple((d.name, tuple(d.labels)) for d in profile.custom_dimensions),
    )


# Words a custom dimension's name is not known by alone: they name metrics or built-in
# dimensions ("delivery time", "rating"), or are too vague.
_NOT_DIMENSION_WORDS = {"delivery", "deliveries", "rating", "ratings", "time", "times", "order",
                        "orders", "rate", "store", "stores", "hour", "day", "days", "type",
                        "flag", "level", "count", "number", "min", "km", "id"}  # fmt: skip
# A custom dimension's group named anywhere in a question (without its dimension's name) must
# be text of 3+ letters and not a common word.
# Quantity words too ("how many deliveries ...?" named a stranger's items=many).
_NOT_ALONE_VALUES = {"yes", "no", "low", "high", "medium", "other", "none", "unknown", "true",
                     "false", "all", "any", "not", "nan", "null", "many", "few", "some", "more",
                     "most", "less", "least", "much", "both", "each"}  # fmt: skip


def _words(name: str) -> str:
    return name.replace("_", r"[\s_-]*")


# Adjectives that name a custom dimension by a word of its name ("are younger couriers faster?"
# names courier_age).
_ADJECTIVES = {"age": r"old(?:er|est)?|young(?:er|est)?"}


@functools.lru_cache(maxsize=16)
def custom_dimension_words(
    dimensions: tuple[tuple[str, tuple[str, ...]], ...],
) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """A pattern per custom dimension: its name ('road_traffic', 'road traffic'), or one of
    its name's words that no other custom dimension shares ('traffic'), or an adjective of such
    a word ('older' for 'age')."""
    tokens = [token for name, _ in dimensions for token in name.split("_")]
    patterns = []
    for name, _ in dimensions:
        own = [
            token for token in name.split("_")
            if "_" in name and len(token) >= 3 and tokens.count(token) == 1
            and token not in _NOT_DIMENSION_WORDS and token not in {n for n, _ in dimensions}
        ]  # fmt: skip
        adjectives = [_ADJECTIVES[t] for t in own if t in _ADJECTIVES]
        body = "|".join([_words(name), *own, *adjectives])
        patterns.append((name, re.compile(rf"\b(?:{body})s?\b")))
    return tuple(patterns)


def _separated(value: str) -> str:
    """A value's pattern with any run of spaces, underscores or hyphens for each of its own
    ('Semi-Urban' is 'semi urban' too, 'electric_scooter' 'electric scooter')."""
    return re.sub(r"(?:\\ |_|\\-)+", lambda _: r"[\s_-]+", re.escape(value.casefold()))


def custom_filters(text: str, vocabulary: Vocabulary) -> list[tuple[int, str, str]]:
    """(position, dimension, group) of each custom dimension group the question names: after
    the dimension's name ('traffic jam vs low', 'festival yes', 'multiple deliveries 2') or just
    before it ('low traffic'), alone
    when the group is distinctive text ('sunny', 'motorcycles': a plural names the group too;
    'electric scooters' is one group, not also 'scooter'), or, for a yes/no dimension, by its
    name after 'during', 'on' or 'with' (yes) or 'without', 'outside' or 'no' (no); once the
    dimension is named, after 'those with' too ('many items ... than those with few')."""
    found: list[tuple[int, str, str]] = []
    taken: list[tuple[int, int]] = []
    for name, pattern in custom_dimension_words(vocabulary.dimensions):
        groups = dict(vocabulary.dimensions)[name]
        if set(groups) == {"yes", "no"}:
            for match in _yes_no_named(pattern).finditer(text):
                taken.append(match.span())
                negated = match["negated"] or match["non"]
                found.append((match.start(), name, "no" if negated else "yes"))
        alternatives = "|".join(_separated(g) for g in sorted(groups, key=len, reverse=True))
        if not alternatives:
            continue
        value = rf"(?<![\w<>=.-])(?:{alternatives})(?:e?s)?(?![\w.])"
        listed = re.compile(
            rf"{pattern.pattern}\s*(?:=|:|is|of|was|were)?\s*(?P<first>{value})"
            rf"(?P<rest>(?:\s*(?:,|vs\.?|versus|and|or|against|than)\s*(?:{value}))*)"
        )
        for match in listed.finditer(text):
            taken.append(match.span())
            for part in re.finditer(value, match.group(0)[match.start("first") - match.start() :]):
                group = _group_named(part.group(0), groups)
                found.append((match.start("first") + part.start(), name, group))
        # ... or before it: "low traffic", "high traffic" (a group too common to stand alone)
        before = re.compile(
            rf"(?<![\w<>=.-])(?P<group>(?:{alternatives}){_INFLECTED}?)\s+(?:{pattern.pattern})"
        )
        for match in before.finditer(text):
            if not any(start < match.end() and match.start() < end for start, end in taken):
                taken.append(match.span())
                found.append((match.start(), name, _group_named(match["group"], groups)))
        # ... or, once it is named, as the other side: "many items ... than those with few"
        if pattern.search(text):
            echo = re.compile(rf"\b(?:those|ones)\s+(?:with|of)\s+(?P<group>{alternatives})\b")
            for match in echo.finditer(text):
                if not any(start < match.end() and match.start() < end for start, end in taken):
                    taken.append(match.span())
                    found.append((match.start(), name, _group_named(match["group"], groups)))
    named_alone = [
        (name, group)
        for name, groups in vocabulary.dimensions
        for group in groups
        if len(group) >= 3
        and re.sub(r"[\s_-]", "", group).isalpha()
        and group.casefold() not in _NOT_ALONE_VALUES
    ]
    for name, group in sorted(named_alone, key=lambda pair: -len(pair[1])):  # longest first
        alone = rf"(?<![\w-])(?:{_separated(group)})(?:e?s|{_INFLECTED})?(?![\w-])"
        for match in re.finditer(alone, text):
            if not any(start < match.end() and match.start() < end for start, end in taken):
                taken.append(match.span())
                found.append((match.start(), name, group))
    return found


def _yes_no_named(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """A yes/no dimension named without a value: 'during the festival', 'on festival days',
    'festival days' (yes); 'without a festival', 'outside the festival', 'no festival',
    'non-festival days' (no)."""
    days = r"(?:days?|periods?|times?|weeks?)"
    return re.compile(
        rf"(?:\b(?:(?P<negated>without|outside(?:\s+of)?|not\s+during|no)|during|on|with|in)"
        rf"\s+(?:the\s+|a\s+)?(?:{pattern.pattern})(?:\s+{days})?\b"
        rf"|\b(?P<non>non|not)[\s-]*(?:{pattern.pattern})(?:\s+{days})?\b"
        rf"|(?<![\w-])(?:{pattern.pattern})\s+{days}\b)"
        rf"(?!\s*(?:=|:|is\b|was\b)?\s*(?:yes|no|true|false)\b)"
    )


# An adjective or participle of a group's name: 'foggy' (Fog), 'sunny' (Sun), 'jammed' (Jam).
_INFLECTED = r"(?:[a-z]?(?:y|ed))"


def _group_named(text: str, groups: tuple[str, ...]) -> str:
    """The group a matched text names (groups differ in more than case and separators; a
    plural ending, or an adjective's ('foggy', 'jammed'), names the group too)."""
    key = re.sub(r"[\s_-]+", " ", text.casefold())
    stem = re.sub(_INFLECTED + "$", "", key) if re.search(r"(?:y|ed)$", key) else key
    for candidate in (key, re.sub(r"e?s$", "", key), key[:-1], stem):
        for group in groups:
            if re.sub(r"[\s_-]+", " ", group.casefold()) == candidate:
                return group
    raise ValueError(f"{text!r} names none of {groups}")


# Values that read as other words in a question: never taken as a region or category name.
_NOT_COHORT_VALUES = {"other", "unknown", "none", "null", "fast", "breakfast", "lunch", "dinner",
                      "all", "any", "late night", "late_night"}  # fmt: skip


@functools.lru_cache(maxsize=16)
def _value_patterns(
    values: tuple[str, ...], synonyms: bool
) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """One pattern per usable value, longest first (so 'market 10' wins over 'market 1')."""
    usable = [v for v in values if v and v.casefold() not in _NOT_COHORT_VALUES][:500]
    patterns = []
    for value in sorted(usable, key=len, reverse=True):
        body = _separated(value)
        if synonyms and value in _CATEGORY_WORDS:
            body = _CATEGORY_WORDS[value]
        elif synonyms and value[-1:].isalpha():
            body += r"(?:e?s)?"  # a category named in the plural: 'motorcycles', 'snacks'
        patterns.append((value, re.compile(r"(?<![\w-])(?:" + body + r")(?:ern)?(?![\w-])")))
    return tuple(patterns)


def _mentions(text: str, values: tuple[str, ...], synonyms: bool) -> list[tuple[int, str]]:
    """(position, value) of each named value, a shorter name never inside a longer one's span."""
    taken: list[tuple[int, int]] = []
    found = []
    for value, pattern in _value_patterns(values, synonyms):
        for match in pattern.finditer(text):
            if not any(start < match.end() and match.start() < end for start, end in taken):
                taken.append(match.span())
                found.append((match.start(), value))
    return found


# A value named right after one of these is left out ("excluding grocery", "without the north").
_NEGATED = re.compile(
    r"\b(?:excluding|exclude|except(?:\s+for)?|without|other\s+than|not\s+(?:in|for|including)"
    r"|outside(?:\s+of)?|apart\s+from|besides|(?:everything|everywhere|all|anything)\s+but"
    r"|ex(?:cl)?\.?)\s+(?:the\s+|for\s+|in\s+)?$"
)
_REGION_WORDS = re.compile(r"\b(?P<word>[a-z][a-z-]*)\s+region\b")
_NOT_REGION_NAMES = {"the", "a", "an", "each", "every", "which", "what", "that", "this",
                     "one", "any", "same", "other", "worst", "best", "affected", "whole",
                     "entire", "per", "by", "its", "their", "our", "my", "your",
                     "whose"}  # fmt: skip
_CATEGORY_WORDS = {"grocery": r"grocer(?:y|ies|s)?", "convenience": r"convenience|c-stores?",
                   "retail": r"retail(?:ers?)?"}  # fmt: skip
_SIZE_WORD = r"small(?:er)?|little|tiny|medium|mid-?sized?|large(?:r)?|big(?:ger)?|huge"
# "small baskets", "small and large baskets", "small, medium or large orders", "basket size large"
_BASKET = re.compile(
    r"\b(?P<sizes>(?:(?:" + _SIZE_WORD + r")\s*(?:,|and|or|vs\.?|versus)?\s*)+)"
    r"(?:baskets?|orders?|carts?|ones)\b|\bbaskets?\s+(?:size\s+)?(?P<after>small|medium|large)\b"
)
_SIZE = re.compile(r"\b(?:" + _SIZE_WORD + r")\b")
_BASKET_SIZE = {"small": "small", "smaller": "small", "little": "small", "tiny": "small",
                "medium": "medium", "large": "large", "larger": "large", "big": "large",
                "bigger": "large", "huge": "large"}  # fmt: skip
_STORE = re.compile(
    r"\bs(?P<id>\d{3,6})\b|\bstore\s*(?:#\s*|no\.?\s*|number\s+|id\s+)?(?P<n>\d{1,6})\b"
)

_GAP = r"[^.?!;]{0,40}"
# How questions name actions: each action's question_pattern (tools/actions.py and the cause
# kinds' modules), with {gap} standing for a few words within one sentence.
ACTION_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(spec.question_pattern.replace("{gap}", _GAP)))
    for name, spec in ACTIONS.items()
    if spec.question_pattern
)
_MINUTES = re.compile(r"(?<![\w.])(?P<n>" + NUMBER + r")[\s-]*(?:min(?:ute)?s?)\b")
_PERCENT = re.compile(r"(?P<n>\d{1,3}(?:\.\d+)?)\s*(?:%|percent\b|pct\b)")
_SHARE = re.compile(r"(?<![\w.])(?P<n>0?\.\d+)\s+(?:share|of\s+(?:the\s+)?orders)\b")
_BATCHING_TARGET = re.compile(r"\bto\s+(?P<n>\d{1,3}(?:\.\d+)?)\s*(?:%|percent\b|pct\b)")


# Strong cues, in priority order: the first that matches is the intent.
def blank(text: str, pattern: re.Pattern[str]) -> tuple[str, bool]:
    """The text with the pattern's matches replaced by spaces (so positions hold), and whether
    there were any."""
    blanked = pattern.sub(lambda match: " " * len(match.group(0)), text)
    return blanked, blanked != text


def compiled(pairs: Iterable[tuple[Name, str]]) -> tuple[tuple[Name, re.Pattern[str]], ...]:
    """(name, regular expression) pairs with their expressions compiled."""
    return tuple((name, re.compile(pattern)) for name, pattern in pairs)


def first_match(patterns: tuple[tuple[Name, re.Pattern[str]], ...], text: str) -> list[Name]:
    """Names whose pattern matches, ordered by where they first match (ties: list order)."""
    found = [(match.start(), index, name) for index, (name, pattern) in enumerate(patterns)
             if (match := pattern.search(text))]  # fmt: skip
    return [name for _, _, name in sorted(found)]


def actions_named(text: str) -> list[str]:
    """The actions a question names, ordered by where they are named; of two named at the same
    place, the longer reading first (a storm's "pad ETAs during the storm" over "pad ETAs"),
    and a reading inside another one's is not a second action ("buffer" in "storm buffer")."""
    found = sorted(
        (match.start(), -len(match.group(0)), index, name)
        for index, (name, pattern) in enumerate(ACTION_PATTERNS)
        if (match := pattern.search(text))
    )
    named: list[str] = []
    covered: list[tuple[int, int]] = []
    for start, negative_length, _, name in found:
        end = start - negative_length
        if not any(a <= start and end <= b for a, b in covered):
            named.append(name)
        covered.append((start, end))
    return named


def add_filter(filters: dict[str, list[str | int]], dimension: str, value: str | int) -> None:
    values = filters.setdefault(dimension, [])
    if value not in values:
        values.append(value)


def cohort_filters(
    text: str, notes: list[str], vocabulary: Vocabulary = SYNTHETIC
) -> dict[str, list[str | int]]:
    """Regions, categories, basket sizes and store ids the question names, in order."""
    return named_cohort(text, notes, vocabulary).filters


@dataclass(frozen=True)
class NamedCohort:
    """The groups a question names, and per dimension it left groups out of ('excluding
    grocery'), the groups that are left (a complement reads as one cohort, not as two)."""

    filters: dict[str, list[str | int]]
    all_but: dict[str, list[str | int]]


def named_cohort(text: str, notes: list[str], vocabulary: Vocabulary = SYNTHETIC) -> NamedCohort:
    """cohort_filters, with what the question left out ('grocery vs everything but grocery'
    keeps grocery as its filter and the other categories in `all_but`)."""
    found: list[tuple[int, str, str]] = []
    found += [(at, "region", value) for at, value in _mentions(text, vocabulary.regions, False)]
    found += [(at, "category", v) for at, v in _mentions(text, vocabulary.categories, True)]
    for match in _BASKET.finditer(text):
        sizes = [match["after"]] if match["after"] else _SIZE.findall(match["sizes"])
        for offset, size in enumerate(sizes):
            size = _BASKET_SIZE.get(re.sub(r"-?sized?$", "", size), "medium")
            if size in vocabulary.basket_sizes:
                found.append((match.start() + offset, "basket_size", size))
            else:
                missing = f"no {size} baskets" if vocabulary.basket_sizes else "no basket values"
                notes.append(f"'{match.group(0)}': this data has {missing}; ignored")
    for match in _STORE.finditer(text):
        found.append((match.start(), "store", f"S{int(match['id'] or match['n']):05d}"))
    found += custom_filters(text, vocabulary)
    filters: dict[str, list[str | int]] = {}
    negated: dict[str, list[str]] = {}
    all_but: dict[str, list[str | int]] = {}
    groups: dict[str, tuple[str, ...]] = {
        "region": vocabulary.regions,
        "category": vocabulary.categories,
        **dict(vocabulary.dimensions),
    }
    for at, dimension, value in sorted(found):
        if dimension in groups and _NEGATED.search(text[:at]):
            negated.setdefault(dimension, []).append(value)
        else:
            add_filter(filters, dimension, value)
    for dimension, values in negated.items():
        # "on-time excluding grocery": every other category (it read grocery alone)
        every = groups[dimension]
        named = filters.get(dimension) or list(every)
        kept: list[str | int] = [v for v in named if v not in values]
        if not kept and set(named) == set(values):
            # "compare grocery with everything but grocery": grocery, and the rest beside it
            kept = [v for v in every if v not in values]
            all_but[dimension] = kept
        elif kept:
            filters[dimension] = kept
            all_but[dimension] = kept
        if kept:
            notes.append(
                f"all but {'/'.join(values)}: {dimension}={'/'.join(str(v) for v in kept)}"
            )
    for match in _REGION_WORDS.finditer(text):
        word = match["word"]
        known = {region.casefold() for region in vocabulary.regions}
        if word not in _NOT_REGION_NAMES and not word.endswith("est") and word not in known:
            shown = ", ".join(vocabulary.regions[:12])
            notes.append(f"'{match.group(0)}' is not a known region (known: {shown}); ignored")
    return NamedCohort(filters, all_but)


_USD = re.compile(
    r"\$\s*(?P<n>\d{1,4}(?:\.\d+)?)|(?P<m>\d{1,4}(?:\.\d+)?)\s*(?:dollars?|usd|bucks)\b"
)
_THRESHOLD = re.compile(
    r"(?:\b(?:under|below|less\s+than|lower\s+than|threshold)\b|<)[^?.\d]{0,40}?"
    r"(?P<n>\d{1,3}(?:\.\d+)?|\.\d+)\s*(?P<percent>%|percent\b)?"
)


def _parameter_value(name: str, text: str) -> float | None:
    """The value a question gives for an action parameter of this name, if any."""
    if name == "minutes" and (match := _MINUTES.search(text)):
        return number(match["n"])
    if name == "share" and (match := _PERCENT.search(text) or _SHARE.search(text)):
        return float(match["n"]) / (100 if match.re is _PERCENT else 1)
    if name == "target_share" and (match := _BATCHING_TARGET.search(text)):
        return float(match["n"]) / 100
    if name == "usd_per_order" and (match := _USD.search(text)):
        return float(match["n"] or match["m"])
    if name == "threshold" and (match := _THRESHOLD.search(text)):
        value = float(match["n"])
        return value / 100 if match["percent"] or value > 1 else value
    return None


def action_parameters(action: str, text: str) -> dict[str, float]:
    """Numbers the question gives for its action's parameters, as written (the what-if tool
    checks their ranges and says what is supported), read by what each parameter is: minutes
    (an ETA buffer), a share of orders (throttled), a batched share, dollars per order, an
    in-stock threshold."""
    spec = ACTIONS.get(action)
    for name in (p.name for p in spec.parameter_specs) if spec else ():
        if (value := _parameter_value(name, text)) is not None:
            return {name: value}
    return {}


# --- what a ranking, a trend or a breakdown is over -----------------------------------------

DIMENSION_WORDS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("store", r"\b(?:stores?|merchants?|shops?|restaurants?)\b(?!\s+(?:categor|types?))"),
        ("region", r"\b(?:regions?|areas?|markets?|zones?|cities|city)\b"),
        ("category", r"\b(?:categor(?:y|ies)|verticals?|cuisines?|(?:store|order)\s+types?"
                     r"|types?\s+of\s+(?:orders?|stores?))\b"),
        ("daypart", r"\b(?:dayparts?|day\s*parts?|meals?|meal\s+times?)\b"),
        ("basket_size", r"\bbasket(?:\s+sizes?|s)?\b|\border\s+sizes?\b"),
        ("hour", r"\bhours?(?:\s+of\s+(?:the\s+)?day)?\b|\btimes?\s+of\s+day\b"),
        ("weekday", r"\bdays?\s+of\s+(?:the\s+)?week\b|\bweekdays?\b"),
        ("day", r"\bdays?\b|\bdates?\b"),
    )
)  # fmt: skip
GRAIN_WORDS: tuple[tuple[Grain, re.Pattern[str]], ...] = compiled(
    (
        ("hour", r"\bhourly\b|\b(?:by|per|each|every)\s+hour\b(?!\s+of)|\bhour\s+by\s+hour\b"),
        ("day", r"\bdaily\b|\b(?:by|per|each|every)\s+day\b(?!\s+of)|\bday\s+by\s+day\b"),
        ("week", r"\bweekly\b|\b(?:by|per|each|every)\s+week\b|\bweek\s+(?:by|over)\s+week\b"),
    )
)  # fmt: skip
ORDER_WORDS: tuple[tuple[Order, re.Pattern[str]], ...] = compiled(
    (
        ("worst", r"\b(?:worst|poorest|weakest|most\s+problematic|bottom|slowest|laggards?)\b"),
        ("best", r"\b(?:best|strongest|fastest|healthiest)\b"),
        ("highest", r"\b(?:highest|most|biggest|largest|busiest|top)\b"),
        ("lowest", r"\b(?:lowest|fewest|least|smallest|quietest)\b"),
    )
)  # fmt: skip
_K = re.compile(
    r"\b(?:top|bottom|worst|best|first|highest|lowest|which)\s+(?P<n>" + NUMBER + r")\b"
    r"|\b(?P<m>\d{1,2}|" + "|".join(("two", "three", "four", "five", "six", "seven", "eight",
                                       "nine", "ten", "twelve", "fifteen", "twenty"))
    + r")\s+(?:worst|best|slowest|fastest|biggest|busiest|highest|lowest|top|bottom)\b"
)  # fmt: skip
# Counts of events ("the most cancellations") rather than rates ("the highest cancellation rate").
_EVENT_COUNT = re.compile(
    r"\b(?:most|fewest|least|number\s+of|how\s+many|count\s+of|total)\s+(?:\w+\s+)?"
    r"(?:cancel\w*s|refunds|tickets|contacts|complaints|late\s+(?:orders|deliveries)"
    r"|orders|deliveries)\b"
)
ORDERS_WORDS = re.compile(
    r"\b(?:order\s+(?:volume|counts?)|number\s+of\s+(?:[\w-]+\s+){0,2}?(?:orders|deliveries)"
    r"|how\s+many\s+(?:[\w-]+\s+){0,2}?(?:orders|deliveries)|volume"
    r"|busiest|quietest|most\s+orders|fewest\s+orders|orders\s+(?:did|were|came)"
    r"|(?:orders|deliveries)\s+(?:by|per|each|every)\s+\w+|(?:show|plot|chart|count)\s+(?:me\s+)?(?:the\s+)?"
    r"orders|(?:by|in)\s+(?:the\s+)?(?:number\s+of\s+|total\s+)?orders)\b"
)


def dimension_names(vocabulary: Vocabulary) -> str:
    """The dimensions a question can break the data down by, as a note lists them."""
    return ", ".join(name for name, _ in dimension_words(vocabulary))


def dimension_words(vocabulary: Vocabulary) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """What a ranking, a breakdown or a key-driver question can be over: the world's custom
    dimensions first (their names are the more specific), then a built-in dimension by the word
    all its values share, then the built-in dimensions' own words."""
    return (*world_dimension_words(vocabulary), *DIMENSION_WORDS)


@functools.lru_cache(maxsize=16)
def world_dimension_words(vocabulary: Vocabulary) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """The words only this world's data gives a dimension: its custom dimensions' names
    (longest first) and the word all of a built-in dimension's values share."""
    custom = sorted(custom_dimension_words(vocabulary.dimensions), key=lambda p: -len(p[0]))
    return (*custom, *_shared_value_words(vocabulary))


def _shared_value_words(vocabulary: Vocabulary) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """A region or category named by the first word all its values share: a mapping that
    writes categories as 'protocol 1' ... 'protocol 7' is asked 'which protocol is late most
    often?'. Only a word of 3+ letters that names no other dimension."""
    found = []
    for name, values in (("region", vocabulary.regions), ("category", vocabulary.categories)):
        words = {re.split(r"[\s_-]+", value.casefold(), maxsplit=1)[0] for value in values}
        word = next(iter(words)) if len(values) >= 2 and len(words) == 1 else ""
        if (
            len(word) >= 3
            and word.isalpha()
            and word not in _NOT_DIMENSION_WORDS
            and not first_match(DIMENSION_WORDS, word)
        ):
            found.append((name, re.compile(rf"\b{re.escape(word)}s?\b")))
    return tuple(found)


def rank_size(text: str) -> int | None:
    """The k of 'top 5', 'worst three', '3 worst', if any."""
    match = _K.search(text)
    if not match:
        return None
    value = int(number(match["n"] or match["m"]))
    return value if 1 <= value <= 50 else None


def counts_events(text: str) -> bool:
    """Whether a ranking is by the number of events ('most cancellations')."""
    return bool(_EVENT_COUNT.search(text))
