"""Offline question reading: a user's question read, by rules, into a QuestionPlan.

The rules (deterministic; nothing here raises on user text, what cannot be read becomes a note):
- The kind comes from cue words, strongest first: help (a greeting alone, "what can you do"),
  sql, explain ("how did you compute"), plan, what-if, diagnose ("why", "what happened", "root
  cause"), changes ("what changed", "did the batching change hurt"), incidents ("anything
  wrong", "any incidents"), compare ("vs", "compared to"), rank ("worst", "top 5", "which
  stores"), trend ("trend", "daily", "by hour", "over time"), help about the data ("what
  tables"), lookup ("what was", "how many"), then words of movement ("drop", "up", "worse":
  diagnose). A question with no cue but a metric, cohort or date is a lookup.
- Text addressed to the agent as instructions, and SQL that is not a read-only SELECT, make the
  question hostile: out_of_scope, answered without tools. A SELECT the user writes is the sql
  kind (the run_sql tool checks and runs it read-only).
- Dates and ranges: agent/dates.py. Times of day, metrics, cohorts, actions: agent/vocabulary.py.
- Follow-ups ("and for convenience?", "what about the day before?", "show it by hour", "only the
  north region") reuse the previous turn's kind, metric, cohort and period, replacing what they
  name; a new kind that names no scope of its own ("which stores are worst?", "what if we add a
  3 minute buffer?") takes the previous turn's scope, which after a diagnosis is the incident's
  (its top slice, days and slice metric).
- Only the first MAX_QUESTION_CHARS characters are read.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field

from agent.dates import (
    NUMBER,
    SAME_DAY_LAST_WEEK,
    WEEKDAYS,
    DateReading,
    Scanner,
    number,
    read_dates,
)
from agent.question import (
    CONFIDENCE,
    ORDERS_METRIC,
    STANDALONE_KINDS,
    Filters,
    Kind,
    Order,
    Period,
    QuestionPlan,
    Side,
    other_group,
)
from agent.question_notes import (
    amount_thresholds,
    near_misses,
    thresholds_of_bands,
    unknown_breakdowns,
    unknown_places,
    unknown_weather,
    written_out,
)
from agent.vocabulary import (
    DIMENSION_WORDS,
    DRIVER_PATTERNS,
    GRAIN_WORDS,
    METRIC_PATTERNS,
    ORDER_WORDS,
    ORDERS_WORDS,
    SYNTHETIC,
    NamedCohort,
    TimeMention,
    Vocabulary,
    action_parameters,
    actions_named,
    add_filter,
    blank,
    compiled,
    counts_events,
    custom_dimension_words,
    dimension_names,
    dimension_words,
    first_match,
    hours_between,
    named_cohort,
    rank_size,
    time_mentions,
    world_dimension_words,
)
from analytics.cohorts import describe_slice
from analytics.comparisons import is_mean
from analytics.drivers import DRIVERS
from analytics.metrics import METRICS, SLOW_DELIVERY_MIN
from tools.hypotheses import LIBRARY

MAX_QUESTION_CHARS = 2_000
MAX_NOTES = 12
DEFAULT_RANK_SIZE = 5

# Any dimension a ranking can be over, as the vocabulary names it (stores, regions or cities,
# categories or cuisines, dayparts, baskets, hours, weekdays, days).
_DIMENSION_NOUNS = "|".join(f"(?:{pattern.pattern})" for _, pattern in DIMENSION_WORDS)
# The nouns of the groups a breakdown ranks (not the hours, days or weekdays of a series).
_GROUP_NOUNS = "|".join(
    f"(?:{pattern.pattern})"
    for name, pattern in DIMENSION_WORDS
    if name not in ("hour", "day", "weekday")
)
# How sure the diagnosis is: the latest cause ranking, explained.
_CONFIDENCE = re.compile(
    r"\bhow\s+(?:sure|confident|certain)\b|\bhow\s+(?:reliable|trustworthy|solid)\s+is\b"
    r"|\b(?:can|should)\s+(?:i|we)\s+trust\b|\bhow\s+much\s+(?:should\s+)?(?:i|we)\s+trust\b"
    r"|\bconfidence\s+(?:score|level)\b|\bwhat\s+(?:is|does)\s+(?:the\s+)?confidence\b"
)
# Groups ranked by how the metric moved ('which region got worse the most last week?'): a change
# word with a ranking cue and a dimension noun.
_WORSENED = re.compile(
    r"\b(?:got|gotten|get|gets|getting|became|become|grew|grown)\s+worse\b|\bworsen\w*"
    r"|\bdeclin\w*|\bdeteriorat\w*|\bdrop(?:ped|s)?\b|\bfell\b|\bslipp\w*|\bregress\w*"
    r"|\b(?:hit|affected|impacted|hurt)\s+(?:the\s+)?(?:hardest|most|worst)\b"
    r"|\bhardest[\s-]+hit\b"
    r"|\b(?:biggest|largest|most|sharpest|steepest)\s+(?:drop|declin\w*|fall|decrease|deteriorat\w*)"
)
_IMPROVED = re.compile(
    r"\b(?:got|gotten|get|gets|getting|became|become)\s+better\b|\bimprov\w*|\brecover\w*"
)


def _change_order(text: str) -> Order | None:
    """'worst' for a question about groups that got worse, 'best' for ones that improved (and
    did not also get worse), None when it names no change."""
    if _WORSENED.search(text):
        return "worst"
    return "best" if _IMPROVED.search(text) else None


# The comparatives the cues below read, and what "than" sets one against when it is no other
# group or period ("than usual", "than a normal day", "than before": the days before).
_COMPARATIVES = r"better|worse|higher|lower|faster|slower|later|quicker|longer|shorter"
_USUAL = r"(?:an?\s+)?(?:usual|normal|typical|expected|average|regular|before|ever)\b"
# "is delivery slower in stormy weather?", with a cohort and no date: that cohort against the
# rest, not a regression ("is the north getting worse?" asks for the course: a trend).
_COMPARATIVE = re.compile(
    r"^\s*(?:is|are|was|were)\b[^?.]{0,60}?(?<!getting\s)(?<!growing\s)\b(?:"
    + _COMPARATIVES
    + r"|(?:more|less)\s+(?:often|likely|frequently)|(?:more|less)(?=\s*[?.!]?\s*$))"
    + rf"\b(?!\s+than\s+{_USUAL})"  # "are small baskets cancelled more?" compares too
    # "does the north have more cancellations?", "do big orders take longer?", "do large
    # baskets get refunded more?" ("did grocery get worse?" asks for the course: the days before)
    + r"|^\s*(?:does|do|did)\b[^?.]{0,60}?\b(?:(?:have|get|see)\s+(?:more|fewer|less|higher"
    + r"|lower)|(?<!get\s)(?<!got\s)(?<!become\s)(?:"
    + _COMPARATIVES
    + rf"|more|less))\b(?![^?.]*\bthan\s+{_USUAL})"
)
# Weekends as a group of days, against weekdays: "weekends", or "weekend" beside "weekdays".
_WEEKENDS = re.compile(
    r"\bweekends\b|\bweekend\b(?=[^?.]*\bweek\s*days?\b)|\bweek\s*days?\b(?=[^?.]*\bweekend)"
)
_DAYS = tuple(day.capitalize() for day in WEEKDAYS)  # as the weekday dimension names them
_WEEKEND_DAYS = _DAYS[5:]
# A weekday as a group of days: "on Sundays", "do Mondays ...?" (the plural, not one date).
_WEEKDAY_GROUP = re.compile(r"\b(?P<day>" + "|".join(WEEKDAYS) + r")s\b")
# ... or in the singular, in a question in the present tense that compares it and names no
# particular week: "is Sunday worse?", "are deliveries slower on a Monday?"
_WEEKDAY_IN_GENERAL = re.compile(
    r"^\s*(?:is|are)\b(?=[^?.]*\b(?:" + _COMPARATIVES + r"|busier|quieter)\b)"
    r"(?![^?.]*\b(?:last|this|past|previous|next|yesterday|today)\b)"
    r"[^?.]*?\b(?P<day>" + "|".join(WEEKDAYS) + r")\b"
)
# A health check naming no metric: the headline metric and the period's incidents (a lookup).
_OVERVIEW = re.compile(
    r"\bhow\s+(?:are|is|were|was)\s+(?:we|things|it|everything|the\s+(?:marketplace|business"
    r"|platform))\s+(?:doing|going|looking|holding\s+up)\b|\bhow(?:'s|\s+is)\s+(?:it|everything"
    r"|business)\s+(?:going|looking)\b|\bhow(?:'s|\s+is)\s+business\b|\bhow\s+did\s+we\s+do\b"
    r"|\bhealth[\s-]*check\b|\b(?:what|where)\s+should\s+(?:i|we)\s+(?:look\s+(?:at\s+)?|check"
    r"|start|focus\s+on|worry\s+about)(?:\s+first)?\b"
    r"|\b(?:anything|what)\s+(?:(?:i|we)\s+should|should\s+(?:i|we)|to)\s+(?:know|worry"
    r"|care)\b"
    r"|\bhow\s+are\s+things\b"
    r"|^\s*(?:give\s+me\s+|show\s+me\s+)?(?:an?\s+|the\s+)?(?:overview|summary|status"
    r"(?:\s+report)?)\b"
)
# A named group's effect ("how does fog affect ...?"), not what drives the metric inside it.
_GROUP_EFFECT = re.compile(
    r"^(?!.*\bwhat\b).*\b(?:does|do|did)\b[^?.]{1,40}?\b(?:affect|impact|influence|matter|hurt"
    r"|help|slow|delay)\w*"
)
# Deliveries that took over some minutes: the slow-delivery rate ("orders take more than 40
# minutes", "deliveries over an hour" is not read).
_OVER_MINUTES = re.compile(
    r"\b(?:orders?|deliver(?:y|ies)|they)\b[^?.;]{0,30}?\b(?:takes?|took|taking|lasts?|lasted)?"
    r"\s*(?:more\s+than|longer\s+than|over|above|beyond|exceed\w*)\s+(?:(?P<n>\d{1,3})\s*"
    rf"(?:min(?:ute)?s?)|(?P<hours>{NUMBER})\s+hours?)\b"
)


def _over_minutes(over: re.Match[str]) -> int:
    """The minutes of an _OVER_MINUTES match ('more than 40 minutes', 'longer than an hour')."""
    return int(over["n"]) if over["n"] else round(60 * number(over["hours"]))


# Lateness asked of the on-time rate: "the most late" is its lowest value.
_LATE = re.compile(r"\b(?:late|delayed|overdue)\b")
# People the data holds no results per: "which dashers are slowest?" is no ranking it can give.
_PEOPLE = re.compile(
    r"\b(?:which|what|who)\s+(?:of\s+(?:the|our)\s+)?(?P<who>dashers?|drivers?|couriers?"
    r"|riders?|customers?|users?|consumers?|buyers?|shoppers?)\b"
)
# "A is slower than B" (B no usual level or number): the comparison reads A minus B, and "why is
# north worse than south?" sets the two against each other.
_MORE_THAN = re.compile(
    r"\b(?:" + _COMPARATIVES + r"|more|less|fewer)\b[^?.]{0,40}\bthan\b"
    # "more than 40 minutes" and "longer than an hour" are thresholds
    rf"(?!\s+{_USUAL})(?!\s+(?:an?\s+)?\d)(?!\s+(?:{NUMBER})\s+hours?\b)"
)
# How a question of its own begins (see _plan): "how long ...", "what's the ...".
_OWN_QUESTION = re.compile(
    r"\s*(?:how\s+(?:long|many|much|fast|quick\w*|often|accurate|good|bad|reliable|well)"
    r"|what(?:'s|\s+is|\s+was|\s+are|\s+were)\s+(?:the|our|my)\b|are\s+(?:we|our)\b|is\s+our\b)"
)
# "did on-time get better or worse in March?": either way asked, a value against the days before
_EITHER_WAY = re.compile(r"\b(?:better\s+or\s+worse|worse\s+or\s+better|up\s+or\s+down"
                         r"|down\s+or\s+up)\b")  # fmt: skip
# "compare that with ...", "this vs ...": the previous turn's cohort is one side.
_COMPARE_THAT = re.compile(
    r"\bcompar\w*\s+(?:that|this|it|them|those)\b|\b(?:that|this|it)\s+(?:vs\.?|versus|against)\b"
    r"|\b(?:does|did|do)\s+(?:that|this|it)\s+compar\w*"  # "how does that compare with ...?"
)
# "is grocery worse than usual?" (a yes/no question): the value against the days before
_THAN_USUAL = re.compile(rf"\bthan\s+{_USUAL}")
_RANKS_GROUPS = re.compile(r"\bwhich\b|\bmost\b|\bbiggest\b|\blargest\b|\brank\w*|\bwhere\s+did\b")
# Asking what to do about a problem, with no action named: the diagnosis answers it (why, then
# the recommended fix with its simulated gain and cost, the alternative and the test plan).
# "how many stores are there?": the world's description counts them (not a ranking of stores)
_HOW_MANY_THERE = re.compile(
    rf"\bhow\s+many\s+(?:different\s+)?(?:{_DIMENSION_NOUNS})\s+(?:are\s+there|do\s+(?:we|you)"
    r"\s+have|(?:are|is)\s+(?:in\s+)?(?:the|this|your)\s+(?:data|world|dataset)|in\s+total"
    r"|exist)\b"
)
_RECOMMEND = re.compile(
    r"\bwhat\s+(?:should|can|could|do|would|must)\s+(?:we|i)\s+do\s+(?:about|with|for|to\s+fix"
    r"|now|next)\b|\bhow\s+(?:do|can|could|should|would|to)\s+(?:we\s+|i\s+)?(?:fix|solve"
    r"|address|mitigate|resolve|recover\s+from|improve)\b|\bwhat(?:'s|\s+is|\s+would\s+be)\s+"
    r"the\s+(?:best\s+|right\s+)?(?:fix|remedy|solution)\b|\bwhat\s+(?:would|do|should|can)\s+"
    r"you\s+(?:recommend|suggest|advise|propose)\b|\b(?:any|your|the)\s+recommendations?\b"
    r"|\bwhat\s+are\s+(?:our|the|my)\s+options\b|\bnext\s+steps?\b"
)
_KIND_CUES: tuple[tuple[Kind, re.Pattern[str]], ...] = compiled(
    (
        ("out_of_scope", r"\b(?:poems?|jokes?|songs?|haikus?|limericks?|recipes?|essays?"
                         r"|translat\w*|stock\s+price|bitcoin|horoscope)\b"
                         r"|\bwho\s+(?:won|is|was|are|were)\b"
                         r"(?!\s+(?:most\s+)?(?:affected|hit|impacted|hurt))"),
        ("help", r"^(?:hi|hello|hey|hiya|yo|howdy|greetings|good\s+(?:morning|afternoon|evening)"
                 r"|thanks?(?:\s+you)?|thank\s+you|ok(?:ay)?|cool|great)(?:\s+there)?[\s!.?]*$"
                 r"|^\s*help\b|\bwhat\s+(?:can|could|should)\s+(?:you|i)\s+(?:do|ask|answer)\b"
                 r"(?!\s+(?:about|with|for|to|if|when|now|next)\b)"
                 r"|\bhow\s+(?:do|can)\s+i\s+use\b|\bwho\s+are\s+you\b|\bwhat\s+are\s+you\b"),
        ("sql", r"\bsql\b|\b(?:show|see|print|display|give|share|view|write|run)\b[^.?!]{0,40}"
                r"\bquer(?:y|ies)\b|^\s*(?:select|with)\b"),
        ("explain", _CONFIDENCE.pattern +
                    r"|\bhow\s+(?:did|do|does|was|were|is|are)\s+(?:you\s+)?[^?.]{0,50}?\b(?:comput"
                    r"|calculat|measur|defin|deriv|estimat|come\s+up\s+with|arriv\w*\s+at)\w*"
                    r"|\bwhere\s+(?:does|did|do)\s+[^?]{0,40}\bcome\s+from\b|\bexplain\s+e\d+"
                    r"|\bwhat\s+(?:is|does)\s+e\d+\b|\bwhat\s+does\s+[^?.]{0,40}\bmean\b"
                    r"|\bdefinition\s+of\b|\bwhat\s+is\s+the\s+(?:formula|definition)\b"
                    r"|\bformula\s+(?:for|of)\b|\bmethodology\b|\bhow\s+(?:is|are)\s+[^?.]{0,40}"
                    r"\bdefined\b|\bsource\s+of\s+(?:that|this|the)\s+number\b"
                    # "how did you get the 67.1%?", "where did you get that number?"
                    r"|\b(?:how|where)\s+did\s+you\s+(?:get|find|obtain|work\s+out)\b"),
        ("plan", r"\bplan\b|\bexperiment\w*|\ba\s*/\s*b\b|\bab\s+test|\bswitchback\b"
                 r"|\bhow\s+(?:would|should|do|can|could)\s+we\s+test\b|\bsample\s+size\b"
                 # "how long until we know if it works?": the plan's duration
                 r"|\bhow\s+long\s+(?:until|till|before)\s+(?:we|i)\s+(?:know|find\s+out|see)\b"
                 r"|\bhow\s+long\s+(?:should|would|will|must)\s+(?:we|it|the\s+test)\s+run\b"),
        ("what_if", r"\bwhat\s+(?:if|would\s+happen|happens\s+if|would\s+it\s+look)\b"
                    r"|\bsuppose\b|\bimagine\b|\bsimulat\w*|\bcounterfactual\w*"
                    r"|\bwould\s+it\s+help\b|\bhow\s+much\s+would\b|\bif\s+we\b|\bshould\s+we\b"
                    r"|\bcould\s+we\b|\bwhat\s+would\b"),
        ("drivers", r"\bwhat\s+(?:drives|explains|affects|influences|determines|predicts)\b"
                    # "does traffic matter more than weather?" (not a logged change's effect)
                    r"|\b(?:does|do|how\s+did)\s+(?![^?.]{0,40}\b(?:change|rollout|release|deploy\w*"
                    r"|update)\b)[^?.]{1,40}?\b(?:matter|affect|impact|influence)\w*"
                    r"|\bmatters?\s+(?:more|most)\b"
                    r"|\bkey[\s-]+drivers?\b|\bdrivers?\s+of\b|\bwhat\s+makes\s+(?:some\s+)?"
                    r"\w+(?:\s+\w+)?\s+(?:slow|late|fast|longer|shorter)"
                    r"|\bwhy\s+(?:are|is|do|does|were)\s+some\b|\bwhich\s+(?:factors|attributes"
                    r"|dimensions)\b"),
        ("diagnose", r"\bwhy\b|\bwhat\s+happened\b|\b(?:affected|hit|impacted)\s+(?:the\s+)?"
                     r"(?:most|hardest|worst)\b|\bwho\s+(?:is|was|were|are|got)\s+(?:affected"
                     r"|hit|impacted)\b|\bwhat\s+went\s+wrong\b|\bwhat\s+caused\b"
                     r"|\broot[\s-]+cause\w*|\bdiagnos\w*|\binvestigat\w*|\bwhat(?:'s|\s+is|\s+was)"
                     r"\s+(?:going\s+on|wrong|up|happening)\b|\bexplain\s+(?:the|this|that)\s+"
                     r"(?:drop|dip|spike|jump|rise|decline|regression|incident)\b"
                     r"|\bwhat\s+(?:drove|is\s+driving|was\s+driving)\b"
                     r"|\bwhat(?:'s|\s+is|\s+was)\s+behind\b"),
        ("changes", r"\bwhat\s+(?:was\s+|got\s+|has\s+been\s+|have\s+we\s+)?(?:changed|changes?"
                    r"|deployed|shipped|released|rolled\s+out)\b|\bchange[\s-]?log\b"
                    r"|\b(?:did|has|have)\s+(?:anything|something|much)\s+(?:change|been\s+changed"
                    r"|been\s+(?:deployed|released|shipped))\b"
                    r"|\b(?:any|recent|logged|which|list\s+(?:the\s+)?)\s*(?:changes|deploy\w*"
                    r"|releases?|rollouts?)\b|\bdid\s+we\s+(?:change|deploy|ship|release|roll)\b"
                    r"|\b(?:effect|impact)\s+of\s+(?:the\s+)?[\w\s-]{0,30}?(?:change|rollout"
                    r"|release|deploy\w*|update)\b|\b(?:did|does|is|was|has)\s+(?:the\s+)?"
                    r"[\w\s-]{0,30}?(?:change|rollout|release|deploy\w*|update)\s+(?:(?:on|of|in"
                    r"|at|from)\s+[\w\s,-]{1,20}?\s+)?(?:(?:still|really|actually)\s+)?(?:help"
                    r"|hurt|matter|work"
                    r"|do\s+anything|cause|break|affect|responsible|make)"
                    r"|\bwhat\s+did\s+(?:the\s+)?[\w\s-]{0,30}?(?:change|rollout|release|deploy\w*"
                    r"|update)\b[^?.]{0,30}?\bdo\b|\bc\d{4}\b"
                    # "list all changes", "when was the batching threshold changed?", "did the
                    # eta model change?"
                    r"|\blist\s+(?:all\s+)?(?:the\s+)?(?:changes|deploy\w*|releases?)\b"
                    r"|\bwhen\s+(?:was|were|did)\s+(?:the\s+|we\s+)?[\w\s-]{1,30}?\s+(?:changed?"
                    r"|deployed|released|rolled\s+out|updated)\b"
                    r"|^\s*(?:did|has)\s+(?:the\s+)?[\w\s-]{0,30}?\b(?:model|threshold|policy|feed"
                    r"|config\w*|version|pay|algorithm|rules?|settings?|logic)\s+(?:changed?"
                    r"|been\s+changed)\s*\??$"
                    # "did refunds go up after the batching change?": that change's effect
                    r"|\b(?:after|since|following)\s+(?:the\s+|we\s+|our\s+)?[\w\s-]{0,30}?"
                    r"(?:change|rollout|release|deploy\w*|update)\b"),
        ("incidents", r"\bincidents?\b|\b(?:anything|something)\s+(?:wrong|off|broken|odd|weird"
                      r"|unusual|going\s+on|bad)\b|\bany\s+(?:issues?|problems?|anomal\w*"
                      r"|alerts?|regressions?|outages?|trouble)\b|\bwere\s+there\s+(?:any\s+)?"
                      r"(?:issues?|problems?|anomal\w*|alerts?|regressions?|drops?|outages?)\b"
                      r"|\blist\s+(?:the\s+)?(?:regressions|anomalies|alerts|problems)\b"
                      r"|\b(?:did|has|have)\s+(?:anything|something)\s+(?:go|gone|went)\s+wrong\b"
                      r"|\bwhen\s+did\s+[^?.]{0,40}\b(?:break|go\s+wrong)\b"
                      # "how long did it last?", "is it still going on?" (after a diagnosis)
                      r"|\bhow\s+long\s+did\s+(?:it|that|this)\s+last\b|\bis\s+(?:it|that|this)"
                      r"\s+still\s+(?:going\s+on|on|open|ongoing|happening)\b"
                      r"|\bwhen\s+did\s+(?:it|that|this)\s+(?:start|begin|end|stop|recover)\b"
                      # "how many customers were affected?", "what was the impact?"
                      r"|\bhow\s+many\s+(?:customers|orders|users|people)\s+(?:were|got)\s+"
                      r"(?:affected|hit|impacted)\b|\bwhat(?:\s+is|\s+was|'s)\s+the\s+impact\b"
                      # "how much did that cost us?", "how bad was it?" (after a diagnosis)
                      r"|\bhow\s+much\s+(?:did|has|does)\s+(?:it|that|this)\s+cost\b"
                      r"|\bwhat\s+did\s+(?:it|that|this)\s+cost\b"
                      r"|\bhow\s+(?:bad|big|serious|severe)\s+(?:was|is)\s+(?:it|that|this)\b"
                      r"|\b(?:top|biggest|main|major|worst|largest|key)\s+(?:\w+\s+)?(?:issues?"
                      r"|problems?|incidents?|regressions?)\b"),
        ("compare", r"\bcompar\w*|\bvs\.?(?!\w)|\bversus\b|\bdifference\s+between\b"
                    rf"|{_MORE_THAN.pattern}|\bagainst\b"),
        ("rank", r"\b(?:worst|best|top|bottom|highest|lowest|most|fewest|least|poorest|busiest"
                 rf"|slowest|fastest|biggest|quietest)\b[^.?!]{{0,40}}(?:{_DIMENSION_NOUNS})"
                 rf"|\bwhich\s+(?:\w+\s+){{0,2}}(?:{_DIMENSION_NOUNS})"
                 rf"|\bwhat\s+(?:\w+\s+){{0,2}}(?:{_DIMENSION_NOUNS})(?:[\s-]+[\w-]+){{0,4}}?"
                 r"\s+(?:the\s+)?(?:worst|best|slowest|fastest|busiest|quietest|highest|lowest"
                 r"|most|least)\b"
                 rf"|\bany\s+(?:{_DIMENSION_NOUNS})\s+with\b"  # "any stores with bad prep times?"
                 # "stores with on-time under 80%", "how many stores are late more than 20%"
                 rf"|^\s*(?:show\s+(?:me\s+)?|list\s+)?(?:the\s+|all\s+)?(?:{_DIMENSION_NOUNS})"
                 r"\s+(?:with|where|whose)\b"
                 rf"|^\s*how\s+many\s+(?:{_DIMENSION_NOUNS})\s+(?:are|were|have|had|is|was)\b"
                 # "when are we busiest?": the hours of the day, ranked; "where do deliveries
                 # take longest?": the regions
                 r"|^\s*(?:when|where)\s+(?:are|is|do|does|were|was|did)\b[^?.]{0,40}\b(?:busiest"
                 r"|quietest|slowest|fastest|longest|worst|best|latest)\b"
                 r"|\brank\w*|\bbreak\s*(?:it\s+|that\s+|this\s+)?down\b|\bbreakdown\b"
                 r"|\bsplit\s+(?:it\s+|that\s+)?by\b|\bper\s+(?:store|region|category|daypart"
                 r"|basket)\b|\bby\s+(?:store|region|categor(?:y|ie)|daypart|basket(?:\s+size)?"
                 r"|merchant|hour\s+of\s+(?:the\s+)?day|day\s+of\s+(?:the\s+)?week|weekday)s?\b"
                 # "orders per city type", "on-time across cuisines": any group's noun
                 rf"|\b(?:per|by|across|for\s+each)\s+(?:the\s+)?(?:{_GROUP_NOUNS})"),
        ("trend", r"\btrend\w*|\bover\s+time\b|\btime\s+series\b|\bdaily\b|\bhourly\b|\bweekly\b"
                  r"|\b(?:by|per|each|every)\s+(?:day|hour|week)\b(?!\s+of)|\bday\s+by\s+day\b"
                  r"|\bweek\s+over\s+week\b|\bplot\b|\bchart\b|\bgraph\b|\bhow\s+(?:has|have"
                  r"|did)\s+[^?.]{0,40}\b(?:changed|moved|evolved|developed|trended|behaved)\b"
                  # "is the north getting worse?" asks for the course, "why is ..." a diagnosis
                  r"|^\s*(?:is|are)\s+[^?.]{0,40}\b(?:getting|growing|becoming)\s+(?:"
                  + _COMPARATIVES + r")\b"),
        ("help", r"\bwhat\s+(?:data|tables|metrics|period|dates|cohorts|dimensions)\b"
                 r"|\bhow\s+(?:many|much)\s+(?:\w+\s+)?(?:of\s+)?(?:data|history)\b"
                 r"|\bwhich\s+(?:tables|metrics|data)\b|\bwhat(?:'s|\s+is)\s+in\s+(?:the|this|your)"
                 r"\s+(?:data|world|warehouse|dataset)\b|\bdescribe\s+(?:the|this|your)\s+"
                 r"(?:data|world|warehouse|dataset)\b|\bwhat\s+do\s+you\s+(?:know|have)\b"
                 r"|\bwhat\s+can\s+i\s+ask\b"),
        ("lookup", r"\bwhat(?:'s|\s+is|\s+was|\s+were|\s+are)\b|\bhow\s+(?:many|much)\b"
                   r"|\bwhat\s+(?:share|percent(?:age)?|fraction|proportion)\s+of\b"
                   r"|\bhow\s+(?:was|were|is|are|did|does)\b|\bshow\s+me\b|\btell\s+me\b"
                   r"|\blook\s*up\b|\bgive\s+me\b"),
        ("diagnose", r"\bdrop\w*|\bdip\w*|\bfell\b|\bfall\w*|\bdeclin\w*|\bworse\w*|\bspik\w*"
                     r"|\bjump\w*|\brose\b|\brising\b|\bincreas\w*|\bdegrad\w*|\bregress\w*"
                     r"|\bup\b|\bdown\b|\bslow\w*|\bbad\b|\bproblem\w*|\bissues?\b|\bwrong\b"
                     r"|\bbroke\w*|\btank\w*|\bplummet\w*|\bsurg\w*"),
    )
)  # fmt: skip
_RANK_CUE = dict(_KIND_CUES)["rank"]
_FOLLOW_UP = re.compile(
    r"^\s*(?:and|but|also|now|ok(?:ay)?|then|so|same)\b|\bwhat\s+about\b|\bhow\s+about\b"
    r"|\bsame\s+(?:for|but|thing|question)\b|\binstead\b|\bonly\b|\bjust\b"
    r"|\bthe\s+(?:day|week)\s+(?:before|after)\b|\b(?:previous|next|following|prior)\s+(?:day|week)\b"
    r"|\b(?:a|one)\s+(?:day|week)\s+(?:earlier|later)\b|\bshow\s+(?:it|that|this|them)\b"
    r"|\b(?:it|that|this)\s+by\b|\bbreak\s+(?:it|that)\s+down\b|\boverall\b|\beverywhere\b"
    r"|\bfor\s+(?:the\s+)?(?:same|that)\b|^\s*(?:for|in|at|on|by)\b|" + SAME_DAY_LAST_WEEK
)
_SHIFTS = (
    (re.compile(r"\b(?:the\s+)?day\s+before\b|\bprevious\s+day\b|\bprior\s+day\b"
                r"|\b(?:a|one)\s+day\s+earlier\b"), -1),
    (re.compile(r"\b(?:the\s+)?day\s+after\b|\bnext\s+day\b|\bfollowing\s+day\b"
                r"|\b(?:a|one)\s+day\s+later\b"), 1),
    (re.compile(r"\b(?:the\s+)?week\s+before\b|\b(?:a|one)\s+week\s+earlier\b|"
                + SAME_DAY_LAST_WEEK), -7),
    (re.compile(r"\b(?:the\s+)?week\s+after\b|\bfollowing\s+week\b|\b(?:a|one)\s+week\s+later\b"),
     7),
)  # fmt: skip
_EVERYWHERE = re.compile(
    r"\boverall\b|\beverywhere\b|\bwhole\s+marketplace\b|\bmarketplace[\s-]+wide\b"
    r"|\bfor\s+everyone\b|\bacross\s+the\s+board\b|\ball\s+(?:orders|regions|categories)\b"
)
_INSTRUCTIONS = re.compile(
    r"\b(?:ignore|disregard|forget)\b[^.?!]{0,40}\b(?:instructions?|prompts?|rules?|above"
    r"|previous|everything)\b|\bsystem\s+prompt\b|\byou\s+are\s+now\b|\bjailbreak\w*"
    r"|\bact\s+as\b|\bpretend\s+(?:to\s+be|you)\b|\bnew\s+instructions?\b"
)
_HOSTILE_SQL = re.compile(
    r"\b(?:drop|alter|truncate|create)\s+(?:table|view|schema|database|index)\b"
    r"|\bdelete\s+from\b|\binsert\s+into\b|\bupdate\s+\w+\s+set\b|;\s*--|'\s*or\s+'?1'?\s*=\s*'?1"
    r"|\b(?:attach|pragma|copy|install|load)\s+\S+|\bunion\s+(?:all\s+)?select\b"
)
_SELECT = re.compile(r"(?is)\b(?:select|with)\b\s+.+?\bfrom\b.*")
_EVIDENCE_ID = re.compile(r"\be(?P<n>\d{1,5})\b")
_QUOTED_NUMBER = re.compile(r"(?<![\w.])[-+]?\$?\d[\d,]*(?:\.\d+)?\s*(?:%|pp\b|min\b|points?\b)?")
_CHANGE_ID = re.compile(r"\bc(?P<n>\d{4})\b")
_CHANGE_NAME = re.compile(
    r"\b(?:the\s+)?(?P<name>[a-z][\w-]*(?:[\s_][a-z][\w-]*){0,2}?)\s+(?:(?:been\s+)?changed?"
    r"|rollout|release|deploy\w*|update)\b"
)
_NOT_CHANGE_NAMES = {"the", "a", "an", "that", "this", "any", "which", "what", "last", "recent",
                     "logged", "did", "does", "do", "has", "have", "was", "is", "how", "of",
                     "effect", "impact", "our", "we", "us", "big", "new", "anything",
                     "something", "nothing", "everything", "much", "after", "since",
                     "following", "before"}  # fmt: skip
_WHY_ONLY = re.compile(
    r"^(?!.*\b(?:what\s+happened|went\s+wrong|going\s+on|root\s+cause|diagnos"
    r"|investigat|incident|regression|drop|dip|spike)).*\bwhy\b"
)
_RESULT_WORDS = re.compile(r"\b(?:that|this|it|the)\s+(?:number|figure|value|result|answer)\b")


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
    text = re.sub(r"[\s\x00-\x1f\x7f]+", " ", text).strip()
    return _against_the_current(written_out(text))


# "are we better than last week?", "is grocery worse than yesterday?": the current period
# (so far) against the one named, as "this week vs last week" reads
_THAN_LAST = re.compile(
    r"\bthan\s+(?:the\s+)?(?P<named>(?:last|previous)\s+(?P<unit>week|month|quarter|year)"
    r"|yesterday)\b"
)
_TWO_NAMED = re.compile(r"\bvs\.?(?!\w)|\bversus\b|\bcompar\w*"
                        r"|\bthis\s+(?:week|month|quarter|year)\b"
                        r"|\btoday\b")  # fmt: skip


def _against_the_current(text: str) -> str:
    """'than last week' written as 'this week vs last week' (and 'than yesterday' as 'today vs
    yesterday') when the question names no other period to set it against."""
    match = _THAN_LAST.search(text)
    if match is None or _TWO_NAMED.search(text):
        return text
    current = f"this {match['unit']}" if match["unit"] else "today"
    return f"{text[: match.start()]}{current} vs {match['named']}{text[match.end() :]}"


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


@dataclass
class _Reading:
    """What one question says, before it is merged with the previous turn."""

    text: str
    kind: Kind | None
    metric: str | None
    filters: Filters
    dates: DateReading
    action: str | None
    notes: list[str] = field(default_factory=list)
    dimension_words: tuple[tuple[str, re.Pattern[str]], ...] = DIMENSION_WORDS
    share_of: str | None = None  # "what share of orders is grocery?": the dimension ranked
    undated: str = ""  # the text without its date mentions ("the day before" names no days)
    hour_groups: list[list[str | int]] = field(default_factory=list)  # per time of day named
    all_but: Filters = field(default_factory=dict)  # groups left when some were excluded
    driver: str | None = None  # a driver asked about where no metric is ("how busy were ...")

    @property
    def has_scope(self) -> bool:
        return bool(self.filters or self.dates.periods)

    @property
    def has_content(self) -> bool:
        return bool(self.metric or self.has_scope or self.action or self.driver)


def _filters_and_times(
    scanner: Scanner, dates: DateReading, notes: list[str], vocabulary: Vocabulary
) -> tuple[NamedCohort, list[list[str | int]]]:
    """The named cohort, its filters with the dayparts and hours the question names, and the
    hours of each time of day named ('evenings' and 'mornings': two groups)."""
    times: list[TimeMention | _TimeOfDay] = [*time_mentions(scanner, notes)]
    for mention in dates.hours:
        assert mention.hours is not None
        start, end = mention.hours
        times.append(_TimeOfDay(mention.start, start, end))
    named = named_cohort(scanner.text, notes, vocabulary)
    hour_groups: list[list[str | int]] = []
    for time in sorted(times, key=lambda m: m.position):
        if time.daypart:
            add_filter(named.filters, "daypart", time.daypart)
        for hour in time.hours:
            add_filter(named.filters, "hour", hour)
        if time.hours:
            hour_groups.append(list(time.hours))
    return named, hour_groups


@dataclass(frozen=True)
class _TimeOfDay:
    """Hours a relative day names ("this morning"), as a time mention."""

    position: int
    start: int
    end: int
    daypart: str | None = None

    @property
    def hours(self) -> tuple[int, ...]:
        return hours_between(self.start, self.end)


def _read(
    text: str,
    first: dt.date,
    last: dt.date,
    anchor: dt.date,
    notes: list[str],
    vocabulary: Vocabulary,
) -> _Reading:
    """The cues, dates, cohort, metric and action of one cleaned question."""
    scanner = Scanner(text)
    dates = read_dates(scanner, first, last, anchor, notes)
    named, hour_groups = _filters_and_times(scanner, dates, notes, vocabulary)
    filters = named.filters
    near_misses(text, filters, vocabulary, notes)
    # Metrics are named outside the dates and times ("how are we doing of late?" names none)
    undated = scanner.untaken()
    metrics = first_match(METRIC_PATTERNS, undated)
    over = _OVER_MINUTES.search(text)
    if over and metrics in ([], ["duration_min"]):
        # "what share of orders take more than 40 minutes?": the slow-delivery rate
        metrics = ["slow_rate"]
        minutes = _over_minutes(over)
        if minutes != SLOW_DELIVERY_MIN:
            notes.append(
                f"the slow-delivery rate counts deliveries over {SLOW_DELIVERY_MIN} min (a fixed "
                f"threshold), not the {minutes} min asked (read-only SQL can count another: "
                f"avg(CASE WHEN duration_min > {minutes} THEN 1 ELSE 0 END))"
            )
    # A driver asked about where no metric is ("how busy were dashers?", "orders per dasher")
    drivers = [] if metrics else first_match(DRIVER_PATTERNS, undated)
    if not metrics and not drivers and ORDERS_WORDS.search(text):
        metrics = [ORDERS_METRIC]
    if len(metrics) > 1:
        notes.append(f"several metrics named ({', '.join(metrics)}); using {metrics[0]}")
    actions = actions_named(text)
    if len(actions) > 1:
        notes.append(f"several actions named ({', '.join(actions)}); using {actions[0]}")
    kind = next((kind for kind, pattern in _KIND_CUES if pattern.search(text)), None)
    nouns = dimension_words(vocabulary)
    if kind == "drivers" and re.match(r"\s*how\s+did\b", text) and not first_match(nouns, text):
        kind = None  # "how did the storm affect deliveries?" names no dimension to analyse
    if (
        kind in (None, "rank", "compare", "diagnose", "lookup", "trend")
        and not text.startswith("why")
        and _change_order(text)
        and _RANKS_GROUPS.search(text)
        and first_match(nouns, text)
    ):
        kind = "rank"  # ranked by the change, see _kind_fields
    if _HOW_MANY_THERE.search(text) and not dates.periods:
        kind = "help"
    if not actions and _RECOMMEND.search(text):
        kind = "diagnose"  # its answer ends with the ranked fixes, their gains and the plan
    if kind in (None, "lookup", "trend", "diagnose") and _ranks_custom(text, vocabulary):
        kind = "rank"  # "delivery time by weather": a breakdown of a custom dimension
    if kind == "compare" and dates.versus and _RANK_CUE.search(text):
        kind = "rank"  # "which stores are worst on Jan 4 vs Jan 3?": ranked by the change
    if kind is None and dates.versus:
        kind = "compare"
    if (
        kind == "compare"
        and not filters
        and not dates.versus
        and len(dates.periods) < 2
        and any(
            re.search(rf"\bcompar\w*\s+(?:the\s+|all\s+|our\s+|each\s+)?(?:{noun.pattern})", text)
            for _, noun in nouns
        )
    ):
        kind = "rank"  # "compare cities by on-time": no two named, so a breakdown of them all
    custom = first_match(custom_dimension_words(vocabulary.dimensions), text)
    if (
        kind == "compare"
        and not filters
        and not dates.versus
        and len(dates.periods) < 2
        and custom
        and not _MORE_THAN.search(text)
    ):
        kind = "rank"  # "how do older couriers compare with younger ones?": the age groups
    if (
        kind in (None, "lookup", "diagnose")
        and not dates.periods
        and re.match(r"(?:does|do|did|is|are)\b", text)
        and [name for name in custom if name not in filters]
    ):  # "does multiple deliveries slow things down?": what that dimension's groups contribute
        kind = "drivers"
    effect = _GROUP_EFFECT.search(text)
    yes_no = {name for name, groups in vocabulary.dimensions if set(groups) == {"yes", "no"}}
    if kind == "drivers" and effect and custom and custom[0] not in filters and custom[0] in yes_no:
        # "how does the festival affect on-time?": a yes/no dimension's groups, one against
        # the other (see _sides)
        add_filter(filters, custom[0], "yes")
    if kind == "drivers" and filters and effect and (not custom or custom[0] in filters):
        kind = "compare"  # "how does fog affect delivery time?": the group against the rest
    if kind == "diagnose" and _THAN_USUAL.search(text) and re.match(r"(?:is|are|was|were)\b", text):
        kind = "lookup"  # "is grocery worse than usual?": the value against the days before
    if (
        kind == "diagnose"
        and not dates.periods
        and _MORE_THAN.search(text)
        and any(len(values) == 2 for values in filters.values())
    ):
        kind = "compare"  # "why is north worse than south?": the two against each other
    people = _PEOPLE.search(text)
    if people and kind in (None, "rank", "diagnose", "lookup") and not first_match(nouns, text):
        notes.append(
            f"'{people['who']}' are not among the groups the data is broken down by "
            f"({dimension_names(vocabulary)}): it holds no results per person"
        )
        kind = "out_of_scope"
    if (
        kind in (None, "lookup", "diagnose")
        and not dates.periods
        and re.search(r"\bduring\b", text)
        and other_group(filters) is not None
        and not _ORDER_SHARE.search(text)  # "what share of orders are during festivals?"
    ):
        kind = "compare"  # "did delivery times change during the festival?": against the rest
    if kind == "diagnose" and _EITHER_WAY.search(text):
        kind = "lookup"  # no drop is asked about: which way it moved, against the days before
    if (
        kind in ("diagnose", "lookup", None)
        and filters
        and not dates.periods
        and _COMPARATIVE.search(text)
    ):
        kind = "compare"  # one cohort named: against the whole marketplace (see _sides)
    if kind is None and actions:
        kind = "what_if"
    if kind == "lookup" and actions and re.search(r"\bcost\w*|\bhow\s+much\b|\bworth\b", text):
        kind = "what_if"  # "what's the cost of peak pay?": the simulation prices it
    share_of = None
    if kind in ("lookup", None) and (filters or custom) and _ORDER_SHARE.search(text):
        # "what share of orders is grocery?" ("... are festival orders?"): every category's
        # (festival group's) orders, with their shares
        share_of = next(iter(filters)) if filters else custom[0]
        whose = f"{describe_slice(filters)}'s" if filters else "each group's"
        notes.append(
            f"{whose} share of the orders: every {share_of} group's orders, each with its share"
        )
        kind, metrics, filters = "rank", [ORDERS_METRIC], {}
    drivers = drivers if not metrics else []
    return _Reading(text, kind, metrics[0] if metrics else None, filters, dates,
                    actions[0] if actions else None,
                    dimension_words=nouns, share_of=share_of,
                    all_but=named.all_but, undated=undated,
                    hour_groups=hour_groups,
                    driver=drivers[0] if drivers else None)  # fmt: skip


# "what share of orders is grocery?", "what percentage of our orders come from the north?"
_ORDER_SHARE = re.compile(
    r"\b(?:share|percent(?:age)?|fraction|proportion|part)\s+of\s+(?:our\s+|the\s+|all\s+)?"
    r"orders\b|\bhow\s+much\s+of\s+(?:our\s+|the\s+)?orders\b"
)


# "what is our target on-time?", "what's a good cancellation rate?": no targets are in the data
_TARGET = re.compile(
    r"\btargets?\b(?!\s+share)|\bgoals?\b|\bbenchmarks?\b|\bslas?\b|\bindustry\s+(?:average|standard"
    r"|norm)s?\b|\bwhat(?:'s|\s+is)\s+(?:a\s+)?(?:good|normal|healthy|acceptable)\b"
)
_QUANTILE = re.compile(r"\bmedian\b|\b(?:per)?centiles?\b|\bquantiles?\b|\bp(?:50|75|90|95|99)\b")
# Measures a question may ask for that the metrics do not hold (noted, not guessed at).
_NOT_A_METRIC = re.compile(
    r"\b(?:dashers?|drivers?|couriers?)\s+(?:(?:were|are|was|is)\s+)?(?:online|on[\s-]+shift"
    r"|available|working|busy|idle)\b"
    r"|\b(?:online|available)\s+(?:dashers?|drivers?|couriers?)\b|\b(?:average|mean|avg)\s+"
    r"(?:basket|order\s+value|ticket)\b|\bbasket\s+values?\b|\brevenue\b|\bgmv\b|\btips?\b"
    r"|\bprofit\w*\b|\bmargins?\b|\bcosts?\s+per\s+(?:order|delivery)\b|\bsales\b"
)


def _ranks_custom(text: str, vocabulary: Vocabulary) -> bool:
    """Whether the question breaks down or ranks the groups of a custom dimension ('by
    weather', 'which road traffic levels are slowest'), or of a built-in one by the word its
    values share ('which protocol is late most often?'), as the rank cue does built-in ones."""
    cue = (
        r"\b(?:by|per|across|for\s+each|split\s+by)\s+(?:the\s+)?(?:{0})"
        r"|\bwhich\s+(?:\w+\s+){{0,2}}(?:{0})|\b(?:worst|best|top|bottom|highest|lowest|slowest"
        r"|fastest)\b[^.?!]{{0,40}}(?:{0})"
    )
    return any(
        re.search(cue.format(pattern.pattern), text)
        for _, pattern in world_dimension_words(vocabulary)
    )


def read_question(
    text: str,
    data_start: dt.date,
    data_end: dt.date,
    previous: QuestionPlan | None = None,
    scope: QuestionPlan | None = None,
    today: dt.date | None = None,
    vocabulary: Vocabulary = SYNTHETIC,
) -> QuestionPlan:
    """Read a question by rules (see the module docstring); never raises on user text.

    `previous` is the last turn's plan and `scope` what a new kind inherits after it (the
    incident's scope after a diagnosis; else the previous plan). Relative dates count from
    `today`, or from `data_end` (the data's "today") when it is None. `vocabulary` holds the
    world's regions and categories.
    """
    notes: list[str] = []
    cleaned = _clean(text, notes)
    if not cleaned:
        return QuestionPlan(kind="out_of_scope", notes=[*notes, "the question is empty"])
    hostile = _hostile(cleaned, notes)
    if hostile is not None:
        return hostile
    if (select := _SELECT.search(text[:MAX_QUESTION_CHARS])) and re.match(
        r"\s*(?:run|execute|sql:?|query:?)?\s*(?:this\s*:?\s*)?(?:select|with)\b", cleaned
    ):
        return QuestionPlan(kind="sql", sql=select.group(0).strip(), notes=_capped(notes))
    if _looks_foreign(cleaned):
        notes.append("the question does not look like English; only English words are read")
    anchor = today or data_end
    incident = _INCIDENT_ID.search(cleaned)
    cleaned, _ = blank(cleaned, _INCIDENT_ID)  # its digits are no date, hour or number
    reading = _read(cleaned, data_start, data_end, anchor, notes, vocabulary)

    def reads_as_content(words: str) -> bool:
        return _read(words, data_start, data_end, data_end, [], vocabulary).has_content

    notes += unknown_places(text[:MAX_QUESTION_CHARS], vocabulary, reads_as_content)
    notes += thresholds_of_bands(cleaned, reading.filters, vocabulary)
    notes += amount_thresholds(cleaned, vocabulary) if reading.action is None else []
    notes += unknown_breakdowns(cleaned, vocabulary, reads_as_content)
    notes += unknown_weather(cleaned, reading.filters, vocabulary)
    unknown = None if reading.metric or reading.driver else _NOT_A_METRIC.search(cleaned)
    if unknown is not None:
        metrics = ", ".join(name for name, _ in METRIC_PATTERNS if name != "cx_score")
        unnamed = f"'{unknown.group(0)}' is not one of the metrics"
        if reading.action is None and reading.kind in (None, "lookup", "trend", "compare", "rank"):
            # "what was our revenue last week?": said, not answered with another metric
            problem = (
                f"{unnamed}: they measure the delivery experience (the CX score and {metrics}); "
                "read-only SQL can read any other column the data holds"
            )
            return QuestionPlan(kind="out_of_scope", problem=problem, notes=_capped(notes))
        notes.append(f"{unnamed} (they are the CX score and {metrics})")
    if _TARGET.search(cleaned) and reading.action is None:
        notes.append(
            "the data holds no targets, goals or benchmarks: a value is set against the days "
            "before it (its own baseline)"
        )
    if _QUANTILE.search(cleaned):
        notes.append(
            "medians and percentiles are not among the metrics: means and rates are given "
            "(read-only SQL can compute one, e.g. quantile_cont(duration_min, 0.9))"
        )
    origin = "today" if today else "the data's last day"
    if reading.dates.first_relative is not None and reading.dates.periods:
        period = reading.dates.periods[0]
        notes.append(f"'{period.label}' is {period.describe()}, counting from {origin} ({anchor})")
    for period in reading.dates.periods:
        if period.end < data_start or period.start > data_end:
            notes.append(f"{period.describe()} is outside the data ({data_start} to {data_end})")
    plan = _plan(reading, text, previous, scope or previous, notes)
    if (
        plan.kind == "rank"
        and plan.follow_up
        and reading.kind is None
        and plan.dimension is not None
        and len(reading.filters.get(plan.dimension, [])) == 1
    ):  # "what about pizza?" after a ranking of the cuisines: pizza's value, not a ranking of one
        plan = plan.model_copy(
            update={"kind": "lookup", "dimension": None, "order": None, "k": None,
                    "count": False, "by_change": False}
        )  # fmt: skip
    days = _day_group(cleaned)
    if days and plan.kind == "rank" and plan.dimension != "weekday":
        # "what's the slowest region on weekends?": ranked on those days only
        period = _whole_weeks(plan, data_start, data_end)
        filters = {**plan.filters, "weekday": list(days)}
        plan = plan.model_copy(update={"filters": filters, "periods": [period]})
    if days and plan.kind in ("compare", "lookup", "diagnose"):
        plan = _days_against_the_rest(plan, days, data_start, data_end)
    if days and plan.kind in ("compare", "lookup", "diagnose", "rank"):
        read_as_a_day = ("'the weekend'", "'weekend'", *(f"'{day.casefold()}'" for day in days))
        notes = [note for note in notes if not note.startswith(read_as_a_day)]
    if plan.kind != "lookup" and plan.driver:
        plan.driver = None  # a driver is only looked up
    if reading.driver and plan.kind in ("compare", "trend", "rank") and not plan.metric:
        notes.append(
            f"{DRIVERS[reading.driver].label.lower()} is a driver of the metrics, not a metric: "
            f"it is looked up against the days before ('what was it last week?'), not read in a "
            f"{plan.kind}"
        )
    plan.notes = _capped([*notes, *plan.notes])
    cause = _cause_asked(cleaned, reading)
    if cause is not None:  # "was it the dashers?": what the latest diagnosis found of that cause
        return QuestionPlan(kind="explain", cause=cause, notes=_read_after_all(plan.notes))
    if incident is not None and not (
        reading.kind in _KEEP_WITH_AN_INCIDENT and plan.kind == reading.kind
    ):  # not the last turn's kind again: 'INC-20260104-1800' alone after a what-if
        return _about_incident(plan, incident, reading.metric)
    if incident is not None and plan.kind == "changes" and not reading.dates.periods:
        return _changes_before(plan, incident)
    return plan


_UNREAD = "nothing in the question was recognized; try e.g. 'why did CX drop on Jan 4?'"


def _read_after_all(notes: list[str]) -> list[str]:
    """The notes of a question read after all (an incident id, a cause to blame), without the
    note that nothing in it was recognized."""
    return [note for note in notes if note != _UNREAD]


# A cause asked about as the one to blame: "was it the dashers?", "is batching to blame?",
# "did the weather cause it?", "was the ETA model the culprit?"
_BLAME = re.compile(
    r"^\s*(?:so\s+|and\s+|but\s+)?(?:was|is)\s+it\s+(?:the\s+|a\s+|due\s+to\s+|because\s+of\s+)?"
    r"|\bto\s+blame\b|\bthe\s+(?:cause|culprit|reason)\b|\bresponsible\b|\bblame\b"
    r"|\bdid\s+[^?.]{1,40}\bcause\s+(?:it|this|that|the\s+\w+)\b"
)


def _cause_asked(text: str, reading: _Reading) -> str | None:
    """The cause of the library a question asks about as the one to blame, after a diagnosis
    ('was it the dashers?'); None for a question of its own ('why did on-time drop due to
    the storm on Dec 30?' names a day: a diagnosis)."""
    if (
        reading.kind not in (None, "diagnose")
        or reading.action is not None
        or reading.dates.periods
        or text.startswith("why")
        or not _BLAME.search(text)
    ):
        return None
    return next((kind for kind, h in LIBRARY.items() if h.asked and re.search(h.asked, text)), None)


# An incident's id named: its diagnosis, whatever its day ('tell me about INC-20260104-1800')
_INCIDENT_ID = re.compile(r"\binc-(?P<day>\d{8})-(?P<time>\d{4})\b")
# Kinds that act on their own subject when an incident is named beside it
_KEEP_WITH_AN_INCIDENT: tuple[Kind, ...] = ("what_if", "plan", "sql", "changes", "help")


def _incident_id(incident: re.Match[str]) -> str:
    return f"INC-{incident['day']}-{incident['time']}"


def _about_incident(
    plan: QuestionPlan, incident: re.Match[str], metric: str | None
) -> QuestionPlan:
    """The diagnosis of the named incident, on the metric the question names (if any); its
    own window and cohort replace any period or cohort named beside it."""
    return QuestionPlan(
        kind="diagnose",
        incident=_incident_id(incident),
        metric=metric,
        notes=_read_after_all(plan.notes),
    )


def _changes_before(plan: QuestionPlan, incident: re.Match[str]) -> QuestionPlan:
    """'what changed before INC-20260104-1800?': the changes logged anywhere on the incident's
    first day (its id's date) and the day before."""
    try:
        began = dt.datetime.strptime(incident["day"], "%Y%m%d").date()
    except ValueError:
        return _about_incident(plan, incident, None)  # 'INC-20261399-0000': no such incident
    period = Period(
        start=began - dt.timedelta(days=1),
        end=began,
        label=f"the day {_incident_id(incident)} began and the day before",
    )
    return plan.model_copy(update={"periods": [period], "filters": {}, "change": None})


def _day_group(text: str) -> tuple[str, ...] | None:
    """The days of the week a question sets against the others: weekends, or a weekday named
    in the plural ('on Sundays')."""
    if _WEEKENDS.search(text):
        return _WEEKEND_DAYS
    if match := _WEEKDAY_GROUP.search(text) or _WEEKDAY_IN_GENERAL.search(text):
        return (match["day"].capitalize(),)
    return None


def _days_against_the_rest(
    plan: QuestionPlan, days: tuple[str, ...], first: dt.date, last: dt.date
) -> QuestionPlan:
    """'are deliveries slower on weekends?', 'the weekend vs weekdays', 'is CX lower on
    Sundays?': those days against the other days of the week (the named days minus the rest),
    over the period named or kept from the last turn when it holds a whole week (not the
    weekend itself, nor a day), else over the whole data."""
    period = _whole_weeks(plan, first, last)
    rest = [day for day in _DAYS if day not in days]
    named = "weekends" if days == _WEEKEND_DAYS else f"{days[0]}s"
    others = "weekdays" if days == _WEEKEND_DAYS else "the other days"
    sides = [
        Side(label=label, filters={**plan.filters, "weekday": list(group)}, period=period)
        for label, group in ((others, rest), (named, days))
    ]
    return plan.model_copy(update={"kind": "compare", "periods": [period], "sides": sides})


def _whole_weeks(plan: QuestionPlan, first: dt.date, last: dt.date) -> Period:
    """The period days of the week are read over: the one named or kept from the last turn
    when it holds a whole week (not the weekend itself, nor a day), else the whole data."""
    periods = [p for p in plan.periods if "weekend" not in (p.label or "") and p.days >= 7]
    return periods[0] if periods else Period(start=first, end=last, label="the whole data")


def _hostile(cleaned: str, notes: list[str]) -> QuestionPlan | None:
    """An out_of_scope plan for instructions to the agent or SQL that is not a SELECT."""
    _, instructed = blank(cleaned, _INSTRUCTIONS)
    if instructed:
        notes.append("text addressed to the agent as instructions was not followed")
    _, has_sql = blank(cleaned, _HOSTILE_SQL)
    if has_sql:
        notes.append("SQL in a question is never run unless it is one read-only SELECT")
    if instructed or has_sql:
        return QuestionPlan(kind="out_of_scope", notes=_capped(notes))
    return None


def _plan(
    reading: _Reading,
    original: str,
    previous: QuestionPlan | None,
    scope: QuestionPlan | None,
    notes: list[str],
) -> QuestionPlan:
    """The plan of a reading, merged with the previous turn where it follows up on it."""
    text = reading.text
    problem = reading.dates.problems[0] if reading.dates.problems else None
    # A question of its own that names a metric ("how long do deliveries take on average?") is
    # a lookup, not the last turn's kind again.
    own = reading.kind is None and reading.metric is not None and bool(_OWN_QUESTION.match(text))
    follow_up = previous is not None and (
        (reading.kind is None and not own) or bool(_FOLLOW_UP.search(text))
    ) and reading.kind not in ("help", "out_of_scope")  # fmt: skip
    kind = reading.kind or (previous.kind if follow_up and previous else None)
    if reading.kind is None and reading.driver:
        kind = "lookup"  # a driver named where no metric is is looked up, whatever came before
    overview = (
        reading.kind in (None, "lookup") and not reading.metric and bool(_OVERVIEW.search(text))
    )
    if overview:
        kind = "lookup"
    if kind is None:
        kind = "lookup" if reading.has_content else "out_of_scope"
    if (
        kind == "lookup"
        and re.search(r"\b(?:show|plot|chart|graph)\b", text)
        and any(p.days > 1 for p in reading.dates.periods)
    ):
        kind = "trend"  # "show me CX for the last 10 days": a series, not one number
    grounded = (
        reading.has_content
        or overview
        or previous is not None  # a follow-up inherits its content
        or (kind == "rank" and bool(first_match(reading.dimension_words, text)))
        or (kind == "trend" and bool(first_match(GRAIN_WORDS, text)))
    )
    if kind in ("lookup", "trend", "compare", "rank") and not grounded:
        kind = "out_of_scope"  # "what's the weather in Paris?"
    if kind == "diagnose" and not grounded and _WHY_ONLY.search(text):
        kind = "out_of_scope"  # "why is the sky blue?"; "what happened?" stays a diagnosis
    if kind == "out_of_scope":
        if not reading.has_content:
            notes.append(_UNREAD)
        return QuestionPlan(kind=kind)
    # ("how busy were dashers that day?" after a comparison had repeated the comparison)
    if follow_up and previous is not None and reading.kind is None and not reading.driver:
        kind = _follow_up_kind(text, previous, reading.dimension_words)
    plan = QuestionPlan(
        kind=kind,
        metric=reading.metric,
        filters=reading.filters,
        periods=reading.dates.periods[:2],
        action=reading.action if kind in ("what_if", "plan") else None,
        problem=problem,
        follow_up=follow_up,
        overview=overview,
        driver=reading.driver if kind == "lookup" else None,
    )

    # "what changed on Jan 4 compared with the week before?", "which category got worse on
    # Jan 4 compared with the Sunday before?": both periods (events.changes, rank_by_change)
    against = reading.dates.versus and kind in ("changes", "rank")
    keep = 2 if kind == "compare" or against else 1
    if len(reading.dates.periods) > keep:
        notes.append(f"several dates named; using {plan.periods[0].describe()}")
        plan.periods = plan.periods[:keep]
    if len(plan.periods) == 2:
        plan.periods = _apart(plan.periods, notes)
    if reading.action and kind not in ("what_if", "plan"):
        notes.append(f"the action {reading.action} was ignored: the question reads as {kind}")
    base = _base(kind, previous, scope)
    if base is not None and (follow_up or not reading.has_scope):
        _inherit(plan, base, reading)
    if not reading.dates.periods:
        _shift_periods(plan, text, follow_up)
    _fill_kind_fields(plan, reading, original, base if follow_up else None, notes)
    if plan.kind == "compare" and previous is not None and _COMPARE_THAT.search(text):
        _against_previous(plan, previous, notes)
    if plan.kind == "out_of_scope" and not reading.has_content:
        notes.append(_UNREAD)
    return plan


def _against_previous(plan: QuestionPlan, previous: QuestionPlan, notes: list[str]) -> None:
    """'compare that with Metropolitian' after a question about Urban: the previous turn's
    cohort against the one named (not the named one against the whole marketplace); 'how does
    that compare with last week?' after a question about Jan 4: the previous turn's period
    against the one named, on its metric and cohort."""
    named_period = plan.periods[0] if len(plan.periods) == 1 else None
    if not plan.sides and named_period and previous.periods and previous.periods[0] != named_period:
        plan.periods = _apart([previous.periods[0], named_period], notes)
        plan.metric = plan.metric or previous.metric
        plan.filters = plan.filters or dict(previous.filters)
        plan.sides = _sides(plan, notes) if len(plan.periods) == 2 else []
        return
    if len(plan.sides) != 2 or plan.sides[0].filters or not previous.filters:
        return  # not one cohort against the marketplace, or nothing before to compare
    earlier, named = dict(previous.filters), plan.sides[1]
    if earlier == named.filters:
        return
    plan.metric = plan.metric or previous.metric
    period = named.period or (previous.periods[0] if len(previous.periods) == 1 else None)
    plan.sides = [
        Side(label=_described(earlier), filters=earlier, period=period),
        named.model_copy(update={"period": period}),
    ]
    notes[:] = [note for note in notes if not note.startswith("one cohort named; compared")]


def _apart(periods: list[Period], notes: list[str]) -> list[Period]:
    """Two periods to set against each other, the longer cut to its days outside the shorter
    when it holds it at one end ("Jan 4 vs the previous week", read as Dec 29 - Jan 4: Jan 4
    against Dec 29 - Jan 3); when it holds it in the middle, as they are (the sides share
    orders, which the comparison's test does not allow for); the same days named twice ("Jan 4
    vs Sunday"), once, with a note."""
    first, second = periods
    inner, outer = sorted((first, second), key=lambda p: p.days)
    if (inner.start, inner.end) == (outer.start, outer.end):
        notes.append(f"both periods named are {first.describe()}")
        return [first]
    if not (outer.start <= inner.start and inner.end <= outer.end):
        return periods
    if outer.start < inner.start and inner.end < outer.end:
        notes.append(f"{outer.describe()} holds {inner.describe()}: the two sides share its orders")
        return periods
    day = dt.timedelta(days=1)
    start, end = (
        (outer.start, inner.start - day) if inner.end == outer.end else (inner.end + day, outer.end)
    )
    rest = Period(start=start, end=end, label=outer.label)
    notes.append(
        f"{outer.label or outer.describe()} ({outer.describe()}) holds {inner.describe()}; "
        f"compared with its other days, {rest.describe()}"
    )
    return [rest if period is outer else period for period in periods]


def _follow_up_kind(
    text: str, previous: QuestionPlan, words: tuple[tuple[str, re.Pattern[str]], ...]
) -> Kind:
    """The kind of a follow-up with no cue of its own: a grain makes it a trend, a dimension a
    breakdown; otherwise it keeps the previous kind."""
    if first_match(GRAIN_WORDS, text) and previous.kind != "rank":
        return "trend"
    if re.search(r"\bby\s+\w+", text) and first_match(words, text):
        return "rank"
    return previous.kind


def _base(
    kind: Kind, previous: QuestionPlan | None, scope: QuestionPlan | None
) -> QuestionPlan | None:
    """What a question inherits from: the previous plan for the same kind, the scope (after a
    diagnosis: the incident's) for a new one; nothing for kinds that stand alone."""
    if previous is None or kind in STANDALONE_KINDS:
        return None
    return previous if kind == previous.kind else scope


def _inherit(plan: QuestionPlan, base: QuestionPlan, reading: _Reading) -> None:
    """Take the base's metric (or driver), cohort and period where the question names none."""
    if plan.metric is None and plan.driver is None:
        plan.metric = base.metric
        if plan.kind == "lookup" and base.metric is None:
            plan.driver = base.driver  # "and in the north?" after a driver's value
    if _EVERYWHERE.search(reading.text):
        plan.filters = dict(reading.filters)
    else:
        plan.filters = {**_shared_scope(base, plan.kind), **reading.filters}
    grains = first_match(GRAIN_WORDS, reading.text)
    one_day = len(base.periods) == 1 and base.periods[0].days == 1
    if not plan.periods and not (
        plan.kind == "trend" and one_day and grains[:1] in (["day"], ["week"])
    ):
        # "how many orders do we get per day?" after a question about one day: not that day
        plan.periods = list(base.periods)
    if plan.kind == base.kind:
        if plan.kind == "compare" and not reading.has_scope:
            plan.sides = list(base.sides)
        if plan.kind in ("what_if", "plan") or base.kind in ("what_if", "plan"):
            plan.action = plan.action or base.action
            if plan.action == base.action:
                plan.parameters = dict(base.parameters)
        plan.grain, plan.dimension = base.grain, base.dimension
        plan.k, plan.order, plan.count = base.k, base.order, base.count
        plan.by_change = base.by_change
        plan.change = base.change
    elif plan.kind in ("what_if", "plan") and base.kind in ("what_if", "plan"):
        plan.action = plan.action or base.action
        if plan.action == base.action:
            plan.parameters = dict(base.parameters)


def _shared_scope(base: QuestionPlan, kind: Kind) -> dict[str, list[str | int]]:
    """The cohort a question inherits from `base`: its filters, or, from a comparison read by
    another kind, only what both sides share ('grocery in north vs south' leaves grocery; 'stormy
    vs sunny' leaves the whole marketplace, not both weathers at once)."""
    if base.kind != "compare" or kind == "compare" or len(base.sides) < 2:
        return dict(base.filters)
    first, *others = (side.filters for side in base.sides)
    return {
        name: list(values)
        for name, values in first.items()
        if all(list(other.get(name, [])) == list(values) for other in others)
    }


def _shift_periods(plan: QuestionPlan, text: str, follow_up: bool) -> None:
    """'the day before', 'the week after': move the inherited periods (and a comparison's); a
    new comparison sets the inherited period against the moved one."""
    if not follow_up or not (plan.periods or plan.sides):
        return
    days = next((days for pattern, days in _SHIFTS if pattern.search(text)), None)
    if days is None:
        return
    step = dt.timedelta(days=days)

    def moved(period: Period) -> Period:
        return Period(start=period.start + step, end=period.end + step)

    if plan.kind == "compare" and len(plan.periods) == 1 and not plan.sides:
        # "compare with the day before" after a question about Jan 2: Jan 2 against Jan 1
        plan.periods = sorted([plan.periods[0], moved(plan.periods[0])], key=lambda p: p.start)
        return
    plan.periods = [moved(p) for p in plan.periods]
    plan.sides = [
        side.model_copy(update={"period": moved(side.period)}) if side.period else side
        for side in plan.sides
    ]


def _fill_kind_fields(
    plan: QuestionPlan,
    reading: _Reading,
    original: str,
    base: QuestionPlan | None,
    notes: list[str],
) -> None:
    """The fields only some kinds use: rank, trend, compare, what-if, changes, explain, sql."""
    text = reading.text
    words = reading.dimension_words
    if plan.kind == "rank":
        # A group's noun outside the dates ("and the day before?" ranks no days)
        named = first_match(words, reading.undated or text)
        dimensions = [name for name in named if name not in reading.filters] or named
        # "when are we busiest?": the hours; "where is it slowest?": the regions
        asks = re.match(r"\s*(when|where)\b", text)
        when = {"when": "hour", "where": "region"}[asks[1]] if asks else None
        plan.dimension = (
            reading.share_of
            or (dimensions[0] if dimensions else None)
            or when
            or plan.dimension
            or "store"
        )
        crossed = [
            name
            for name in dimensions[1:]
            if name != plan.dimension and _joined(text, words, plan.dimension, name)
        ]
        if crossed and plan.dimension == dimensions[0]:
            # "a breakdown by weather and traffic": one at a time, said
            notes.append(
                f"groups are ranked one dimension at a time: by {plan.dimension} here; ask "
                f"'by {crossed[0]}' for the other, or what drives the metric for all of them"
            )
        if plan.dimension in plan.filters and plan.dimension not in reading.filters:
            # "which hour was worst that day?" after an incident in hours 18-21: every hour
            plan.filters = {k: v for k, v in plan.filters.items() if k != plan.dimension}
        orders = first_match(ORDER_WORDS, text)
        # Order counts with no direction asked ('how many orders by category?'): the most first.
        unasked: Order = "highest" if plan.metric == ORDERS_METRIC else "worst"
        plan.order = orders[0] if orders else (plan.order or unasked)
        breakdown = re.search(r"\bbreak\s*\w*\s*down\b|\bbreakdown\b|\bsplit\b|\beach\b", text)
        custom = plan.dimension not in {name for name, _ in DIMENSION_WORDS}
        breakdown = breakdown or (re.search(r"\bby\s", text) if custom else None)
        plan.k = rank_size(text) or plan.k or (50 if breakdown and not orders else None)
        plan.count = counts_events(text) or (plan.count and base is not None)
        if plan.metric in METRICS and is_mean(plan.metric):
            plan.count = False  # "the most long deliveries": a mean has no events to count
        if (
            plan.metric == "on_time_rate"
            and not plan.count
            and plan.order in ("highest", "lowest")
            and _LATE.search(text)
        ):  # "which category is late most often?": the most late is the lowest on-time rate
            plan.order = "worst" if plan.order == "highest" else "best"
        moved = _change_order(text)
        plan.by_change = (
            bool(moved) or len(plan.periods) == 2 or (plan.by_change and base is not None)
        )
        if moved:  # "the most" is the size of the move; its direction says worst or best
            plan.order = moved
            plan.count = False  # "got worse the most in cancellations": the rate's move
        if plan.metric is None and plan.count:
            plan.metric = ORDERS_METRIC if re.search(r"\borders\b", text) else None
    elif plan.kind == "drivers":
        plan.dimensions = [name for name in first_match(words, text) if name not in plan.filters]
    elif plan.kind == "lookup":
        plan.count = counts_events(text)
    elif plan.kind == "trend":
        grains = first_match(GRAIN_WORDS, text)
        plan.grain = grains[0] if grains else plan.grain
    elif plan.kind == "compare" and not plan.sides:
        plan.sides = _sides(plan, notes, reading.all_but, reading.hour_groups)
        two_groups = len(plan.sides) == 2 and len(plan.periods) < 2
        if two_groups and plan.sides[0].filters and _MORE_THAN.search(text):
            # "how much slower is jam than low traffic?": read as jam minus low (the later side
            # minus the earlier one), not low minus jam
            plan.sides = plan.sides[::-1]
    elif plan.kind in ("what_if", "plan") and plan.action:
        plan.parameters = {**plan.parameters, **action_parameters(plan.action, text)}
    elif plan.kind == "changes":
        plan.change = _change_named(text) or plan.change
    elif plan.kind == "explain":
        if match := _EVIDENCE_ID.search(text):
            plan.evidence_id = f"E{int(match['n'])}"
        elif _CONFIDENCE.search(text):
            plan.number = CONFIDENCE
        elif (match := _QUOTED_NUMBER.search(original)) and not reading.dates.periods:
            plan.number = match.group(0).strip()
        elif _RESULT_WORDS.search(text) and not plan.metric:
            plan.number = "last"
    elif plan.kind == "sql":
        dimensions = first_match(words, text)
        plan.dimension = dimensions[0] if dimensions else None


def _joined(
    text: str, words: tuple[tuple[str, re.Pattern[str]], ...], first: str | None, second: str
) -> bool:
    """Whether the question names two dimensions side by side ('by weather and traffic', 'city
    and vehicle', 'region x category'), not one inside the other's words ('time of day')."""
    patterns = dict(words)
    if first not in patterns or second not in patterns:
        return False
    for one in patterns[first].finditer(text):
        for other in patterns[second].finditer(text):
            between = text[one.end() : other.start()]
            if re.fullmatch(r"\s*(?:and|&|x|,|\+|or)\s+(?:by\s+|per\s+)?(?:the\s+)?", between):
                return True
    return False


def _change_named(text: str) -> str | None:
    """A change id ('C0007') or the words before 'change' ('the batching change')."""
    if match := _CHANGE_ID.search(text):
        return f"C{match['n']}"
    for match in _CHANGE_NAME.finditer(text):
        words = [w for w in re.split(r"[\s_]+", match["name"]) if w not in _NOT_CHANGE_NAMES]
        if words:
            return "_".join(words[-2:])
    return None


def _described(filters: Filters) -> str:
    return ", ".join(f"{k}={'/'.join(map(str, v))}" for k, v in filters.items())


def _split(
    filters: Filters, dimension: str, groups: list[list[str | int]], period: Period | None
) -> list[Side]:
    """One side per group of `dimension`, the cohort's other filters on both."""
    common = {name: v for name, v in filters.items() if name != dimension}
    return [
        Side(label=_described({dimension: group}), filters={**common, dimension: group},
             period=period)
        for group in groups
    ]  # fmt: skip


def _sides(
    plan: QuestionPlan,
    notes: list[str],
    all_but: Filters | None = None,
    hour_groups: list[list[str | int]] | None = None,
) -> list[Side]:
    """Two sides of a comparison: two periods, a group and every other of its dimension
    ('grocery vs everything but grocery'; `all_but`: per dimension, the groups left when the
    question excluded some), the two values of one dimension (not a complement: 'excluding
    grocery' is one cohort), two times of day (`hour_groups`: 'evenings vs mornings'), or one
    group of a yes/no dimension and the other; failing those, the cohort against the whole
    marketplace."""
    if len(plan.periods) == 2:
        first, second = plan.periods
        if any(len(values) == 2 for values in plan.filters.values()):
            notes.append(
                "two periods and two cohorts named; compared the periods, cohorts together"
            )
        return [
            Side(label=first.label or first.describe(), filters=plan.filters, period=first),
            Side(label=second.label or second.describe(), filters=plan.filters, period=second),
        ]
    period = plan.period
    for dimension, rest in (all_but or {}).items():
        values = plan.filters.get(dimension)
        if values and not set(values) & set(rest):
            return _split(plan.filters, dimension, [values, rest], period)
    for dimension, values in plan.filters.items():
        if len(values) == 2 and values != (all_but or {}).get(dimension):
            return _split(plan.filters, dimension, [[value] for value in values], period)
    groups = hour_groups or []
    if len(groups) == 2 and plan.filters.get("hour") == [*groups[0], *groups[1]]:
        return _split(plan.filters, "hour", groups, period)
    if (other := other_group(plan.filters)) is not None:  # a yes/no group against the other
        return [  # the named group minus the other, as a cohort minus the marketplace below
            Side(label=_described(filters), filters=filters, period=period)
            for filters in (other, plan.filters)
        ]
    if plan.filters:
        described = _described(plan.filters)
        notes.append(f"one cohort named; compared {described} with the whole marketplace")
        return [  # the cohort minus the marketplace
            Side(label="the whole marketplace", filters={}, period=period),
            Side(label=described, filters=plan.filters, period=period),
        ]
    return []
