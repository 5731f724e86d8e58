"""The meaning check of a diagnosis: numbers are checked by agent/grounding.py; this checks that
the answer says what the tools found. It must name the top-ranked cause and the recommended
action (or say there is none), cite the evidence of each in the same sentence, and make no claim
that contradicts the ranking (a ruled-out cause given as the cause, "nothing needs to change").

A heuristic over words (each cause and action declares the words an answer names it by, in its
registry): it can be fooled by paraphrase; what it catches is an answer that drops or reverses
the tools' conclusion.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from agent.facts import CauseFact, Facts
from agent.grounding import check_grounding
from tools.actions import ACTIONS
from tools.hypotheses import LIBRARY

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n{2,}")
_CITED = re.compile(r"\[(E\d+(?:\s*[,-]\s*E\d+)*)\]", re.IGNORECASE)
_CAUSAL = re.compile(
    r"\b(?:caus\w*|because|due\s+to|driven\s+by|driver|behind|blame\w*|explain\w*|responsible"
    r"|root|most\s+likely|main\s+reason)\b"
)
_NEGATION = re.compile(
    r"\b(?:not|no|never|ruled?\s+out|unlikely|rather\s+than|instead\s+of|isn't|wasn't|n't"
    r"|neither|nor|without|excluded)\b"
)
_DISMISSAL = re.compile(
    r"\b(?:nothing\s+(?:needs?\s+to\s+change|to\s+do|is\s+wrong)|no\s+(?:action|change)\s+"
    r"(?:is\s+)?(?:needed|required)|(?:everything|all)\s+(?:is|looks)\s+(?:fine|normal|ok)"
    r"|(?:is|was)\s+fine\b|no\s+(?:real\s+)?(?:problem|issue|regression)\b)"
)


def _names(text: str, words: tuple[str, ...]) -> bool:
    return any(word in text for word in words)


def _cited_ids(sentence: str) -> set[str]:
    ids: set[str] = set()
    for group in _CITED.findall(sentence):
        ids |= {part.strip().upper() for part in re.split(r"[,-]", group)}
    return ids


def check_meaning(answer: str, facts: Facts) -> list[str]:
    """Problems with a diagnosis answer's conclusion (empty when it states the tools' one):
    the top cause and the top recommendation named with their evidence, no ruled-out cause
    given as a cause."""
    if not facts.rank:
        return []  # no ranking ran: nothing to contradict
    sentences = [s.lower() for s in _SENTENCE.split(answer) if s.strip()]
    problems: list[str] = []
    causes = facts.causes
    if causes:
        top = causes[0]
        words = LIBRARY[top.kind].words if top.kind in LIBRARY else (top.kind,)
        supporting = {facts.rank, *(e for e in (top.primary, top.did) if e)}
        if not any(_names(s, words) and _cited_ids(s) & supporting for s in sentences):
            problems.append(
                f"the top-ranked cause ({top.kind}) is not named with its evidence "
                f"[{facts.rank}] cited in the same sentence"
            )
    recommendations = facts.recommendations
    if recommendations and facts.recommend:
        action = recommendations[0].action
        words = ACTIONS[action].words if action in ACTIONS else (action,)
        evidence = {facts.recommend, recommendations[0].evidence}
        if not any(_names(s, words) and _cited_ids(s) & evidence for s in sentences):
            problems.append(
                f"the recommended action ({action}) is not named with its evidence "
                f"[{facts.recommend}] cited in the same sentence"
            )
    clauses = [c.strip() for s in sentences for c in s.split(";") if c.strip()]
    for kind in facts.ruled_out:
        words = LIBRARY[kind].words if kind in LIBRARY else (kind,)
        problems += [
            f"'{sentence[:80]}' gives {kind} as a cause; it was ruled out"
            for sentence in clauses
            if _names(sentence, words)
            and _CAUSAL.search(sentence)
            and not _NEGATION.search(sentence)
            and not _names(sentence, _leading_words(causes))
        ]
    if causes:
        problems += [
            f"'{s[:80]}' dismisses the incident the tools found" for s in sentences
            if _DISMISSAL.search(s)
        ]  # fmt: skip
    return problems


def _leading_words(causes: Sequence[CauseFact]) -> tuple[str, ...]:
    return tuple(w for c in causes if c.kind in LIBRARY for w in LIBRARY[c.kind].words)


def cites_evidence(answer: str, evidence: Any) -> bool:
    """Whether the answer cites at least one existing evidence item of a call that succeeded
    (a failed call, e.g. a refused query, is evidence of nothing about the data)."""
    result = check_grounding(answer, evidence)
    succeeded = {item.id for item in evidence if item.ok}
    return bool((set(result.citations) - set(result.unknown_citations)) & succeeded)
