"""Score and rank root-cause hypotheses from their test results (a documented heuristic).

confidence = (0.20 significance + 0.15 effect size + 0.15 specificity + 0.10 timing
              + 0.30 explained share + 0.10 supporting checks) x 0.5 per violated refuting check
             + 0.10 if a matching logged change overlaps the slice
             + 0.10 if its diff-in-diff is significant with parallel pre-trends,
clipped to 0-1, where significance = min(1, |z| / 8) of the primary driver's shift, effect size
= 1 - exp(-|d or h| / 0.25), specificity = how much more the slice moved than the rest (0-1),
timing = 1 when the driver moved with the incident and not before it, explained share = the
share of the outcome change that the decomposition attributes to the hypothesis' drivers.
A hypothesis whose primary driver did not move significantly (p >= 0.01) the expected way, or
moved by a negligible amount (|d or h| < 0.05), is ruled out; one whose data is missing, or
whose primary driver could not be measured (a tool error), is not testable. Causes rank by
confidence, then impact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

Status = Literal["supported", "weak", "ruled_out", "not_testable"]
RULE_OUT_P = 0.01
# Cohen's d (means) or h (shares) below which a significant move is negligible: over thousands
# of orders p < 0.01 is reached by shifts nobody would act on (seed 14028: quotes 0.3 min
# shorter, d 0.024, named an ETA model regression). Cohen's "small" is 0.2; this is a quarter.
MIN_EFFECT_SIZE = 0.05
SUPPORTED_AT = 0.5


# The confidence heuristic's weights (the module docstring gives the formula).
WEIGHTS = {
    "significance": 0.20,
    "effect_size": 0.15,
    "specificity": 0.15,
    "timing": 0.10,
    "explained_share": 0.30,
    "supporting": 0.10,
}
REFUTED_FACTOR = 0.5  # per violated refuting check
CHANGE_BONUS = 0.1  # a matching logged change overlaps the slice
DID_BONUS = 0.1  # its diff-in-diff is significant with parallel pre-trends


def formula() -> str:
    """The confidence formula with its weights, as an answer quotes it."""
    terms = " + ".join(f"{w:.2f} x {name.replace('_', ' ')}" for name, w in WEIGHTS.items())
    return (
        f"confidence = ({terms}) x {REFUTED_FACTOR:g} per violated refuting check"
        f" + {CHANGE_BONUS:.2f} if a matching logged change overlaps the slice"
        f" + {DID_BONUS:.2f} if its diff-in-diff is significant, clipped to 0-1"
    )


@dataclass(frozen=True)
class PrimaryTest:
    """The primary driver's shift in the slice, and whether it went the expected way."""

    statistic: float
    p_value: float
    effect_size: float
    specificity: float
    timing: float
    expected_direction: int  # +1 up, -1 down

    @property
    def moved_as_expected(self) -> bool:
        verdict = shift_verdict(
            self.statistic, self.p_value, self.effect_size, self.expected_direction
        )
        return verdict == "moved"


ShiftVerdict = Literal["moved", "negligible", "no"]


def shift_verdict(
    statistic: float, p_value: float, effect_size: float, direction: int
) -> ShiftVerdict:
    """How a driver moved against the way expected (+1 up, -1 down): 'moved' significantly (p <
    RULE_OUT_P) by more than a negligible amount (|effect size| >= MIN_EFFECT_SIZE),
    'negligible' when significant but smaller, else 'no'."""
    if statistic * direction <= 0 or p_value >= RULE_OUT_P:
        return "no"
    return "moved" if abs(effect_size) >= MIN_EFFECT_SIZE else "negligible"


@dataclass(frozen=True)
class HypothesisTests:
    """Everything measured for one hypothesis."""

    kind: str
    missing: tuple[str, ...] = ()
    untested: str | None = None  # why the primary driver could not be measured, data being there
    primary: PrimaryTest | None = None
    supporting: tuple[bool, ...] = ()  # each supporting check passed?
    refuting: tuple[bool, ...] = ()  # each refuting check violated?
    explained_share: float | None = None  # 0-1, from the driver decomposition
    logged_change: bool = False
    did_significant: bool = False
    orders_affected: int = 0
    evidence: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class CauseScore:
    """A ranked cause: status, confidence 0-1, impact, components, evidence ids."""

    kind: str
    status: Status
    confidence: float
    impact_share: float
    orders_affected: int
    components: dict[str, float] = field(default_factory=dict)
    evidence: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()


def score(tests: HypothesisTests) -> CauseScore:
    """Confidence and status of one hypothesis."""
    if tests.missing:
        return CauseScore(
            kind=tests.kind,
            status="not_testable",
            confidence=0.0,
            impact_share=0.0,
            orders_affected=0,
            evidence=tests.evidence,
            reasons=(f"not testable: missing {', '.join(tests.missing)}", *tests.reasons),
        )
    if tests.untested:
        return CauseScore(
            kind=tests.kind,
            status="not_testable",
            confidence=0.0,
            impact_share=0.0,
            orders_affected=0,
            evidence=tests.evidence,
            reasons=(f"not tested: {tests.untested}", *tests.reasons),
        )
    primary = tests.primary
    explained = min(1.0, max(0.0, tests.explained_share or 0.0))
    if primary is None or not primary.moved_as_expected:
        return CauseScore(
            kind=tests.kind,
            status="ruled_out",
            confidence=round(0.1 * explained, 3),
            impact_share=0.0,
            orders_affected=0,
            evidence=tests.evidence,
            reasons=tests.reasons,
        )
    components = {
        "significance": min(1.0, abs(primary.statistic) / 8.0),
        "effect_size": 1.0 - math.exp(-abs(primary.effect_size) / 0.25),
        "specificity": primary.specificity,
        "timing": primary.timing,
        "explained_share": explained,
        "supporting": (sum(tests.supporting) / len(tests.supporting)) if tests.supporting else 0.5,
    }
    base = sum(WEIGHTS[name] * value for name, value in components.items())
    penalty = REFUTED_FACTOR ** sum(tests.refuting)
    bonus = CHANGE_BONUS * tests.logged_change + DID_BONUS * tests.did_significant
    confidence = min(1.0, max(0.0, base * penalty + bonus))
    components.update(refuting_penalty=penalty, change_bonus=bonus)
    return CauseScore(
        kind=tests.kind,
        status="supported" if confidence >= SUPPORTED_AT else "weak",
        confidence=round(confidence, 3),
        impact_share=round(explained, 3),
        orders_affected=tests.orders_affected,
        components={name: round(value, 3) for name, value in components.items()},
        evidence=tests.evidence,
        reasons=tests.reasons,
    )


def rank(all_tests: list[HypothesisTests]) -> list[CauseScore]:
    """Scores ranked: supported and weak causes by confidence then impact; the rest after."""
    order = {"supported": 0, "weak": 1, "ruled_out": 2, "not_testable": 3}
    scores = [score(tests) for tests in all_tests]
    return sorted(scores, key=lambda s: (order[s.status], -s.confidence, -s.impact_share))
