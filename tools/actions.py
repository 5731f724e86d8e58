"""The action library: what an engineer can do about each cause, and how to simulate it."""

from __future__ import annotations

from analytics.whatif_actions import (
    ETA_BUFFER,
    ETA_ROLLBACK,
    INVENTORY_ROLLBACK,
    MERCHANT_PREP_FIX,
    PEAK_PAY,
    PREP_QUOTE_FIX,
    REVERT_BATCHING,
    SUPPRESS_SKUS,
    THROTTLE_DEMAND,
)
from tools.action_spec import ActionSpec, ParameterError, ParameterSpec
from tools.causes import CAUSES

__all__ = [
    "ACTIONS", "ActionSpec", "ParameterError", "ParameterSpec", "supported_action_lines",
    "supported_actions",
]  # fmt: skip


def supported_action_lines() -> list[str]:
    """Every action with its title and parameters, one line each: 'name: title (takes ...)'."""
    return [f"{spec.name}: {spec.title} (takes {spec.signature()})" for spec in ACTIONS.values()]


def supported_actions() -> str:
    """The supported actions on one line, for an error that says what is supported."""
    return "; ".join(supported_action_lines())


LATENESS_CAUSES = (
    "batching_threshold",
    "prep_time_drift",
    "dasher_shortage",
    "eta_model_bias",
    "demand_surge",
)
# Actions for several kinds; an action only one kind needs is declared in that kind's module.
_GENERAL: tuple[ActionSpec, ...] = (
    ActionSpec(
        "revert_batching",
        "Reduce the batching threshold back to its old value in the affected scope",
        undoes=("batching_threshold",),
        mitigates=(),
        whatif=REVERT_BATCHING,
        parameter_specs=(
            ParameterSpec(
                "target_share",
                label="batched share",
                unit="share",
                default=None,  # the baseline's batched share: the old threshold
                minimum=0.0,
                maximum=0.9,
                description="Share of orders batched under the reduced threshold "
                "(default: the baseline's share).",
            ),
        ),
        parameter_title="Reduce the batching threshold until {target_share} of orders are "
        "batched in the affected scope",
        tradeoff="fewer shared routes: more dasher time per delivery",
        words=("batching",),
        question_pattern=(
            r"\b(?:cut|reduc\w*|lower\w*|revert\w*|roll\w*\s*back|undo\w*|restor\w*|disabl\w*"
            r"|turn\w*\s+off|stop\w*|tighten\w*|shrink\w*|decreas\w*|less|fewer|go\w*\s+back"
            r"|pull\w*\s+back|back\s*out)\b{gap}\b(?:batch\w*|multiple\s+deliveries"
            r"|stack\w*\s+orders|order\s+stacking)"
            r"|\bbatch\w*{gap}\b(?:back|revert\w*|roll\w*\s*back|undo\w*)\b"
            r"|\bno\s+(?:batching|multiple\s+deliveries)\b|\bunbatch\w*"
        ),
    ),
    ActionSpec(
        "eta_buffer",
        "Add 5 minutes of buffer to quoted ETAs in the affected scope",
        undoes=(),
        mitigates=LATENESS_CAUSES,
        whatif=ETA_BUFFER,
        parameter_specs=(
            ParameterSpec(
                "minutes",
                label="ETA buffer",
                unit="minutes",
                default=5.0,
                minimum=0.5,
                maximum=30.0,
                description="Minutes added to every quoted ETA.",
            ),
        ),
        parameter_title="Add {minutes} of buffer to quoted ETAs in the affected scope",
        tradeoff="longer quotes lower conversion",
        words=("buffer", "pad"),
        question_pattern=(
            r"\bbuffer\w*|\bpad\w*\b{gap}\b(?:etas?|quotes?|estimates?|promises?)\b"
            r"|\b(?:etas?|quotes?)\s+(?:by|with)\s+\S+\s+(?:more\s+)?min\w*"
            r"|\b(?:lengthen\w*|extend\w*|longer)\b{gap}\b(?:etas?|quotes?|promises?)\b"
            r"|\badd\w*\b{gap}\bmin\w*\s+(?:to|on)\s+(?:the\s+|our\s+|all\s+)?"
            r"(?:etas?|quotes?|promises?)\b"
        ),
    ),
    ActionSpec(
        "prep_quote_fix",
        "Correct prep-time estimates for the affected stores in the ETA model",
        undoes=(),
        mitigates=("prep_time_drift",),
        whatif=PREP_QUOTE_FIX,
        family="merchant",
        tradeoff="longer quotes at those stores lower conversion",
        words=("prep-time estimates", "prep estimates", "prep-time quotes", "prep quote"),
        question_pattern=(
            r"\bprep\w*[\s-]*(?:time\s+)?(?:estimat\w*|quot\w*|predict\w*|forecast\w*|model\w*)"
            r"|\b(?:estimat\w*|quot\w*)\s+(?:of\s+|for\s+)?(?:the\s+)?prep\w*"
        ),
    ),
    ActionSpec(
        "merchant_prep_fix",
        "Work with the affected stores to restore their prep times",
        undoes=("prep_time_drift",),
        mitigates=(),
        whatif=MERCHANT_PREP_FIX,
        family="merchant",
        tradeoff="merchant operations effort; no marketplace cost",
        words=("prep times", "prep time", "merchant"),
        question_pattern=(
            r"\bmerchant[\s-]*prep[\s-]*fix\b"
            r"|\bwork\w*\s+with\s+(?:the\s+)?(?:stores|merchants)\b"
            r"|\b(?:fix\w*|restor\w*|speed\w*\s+up|improv\w*|reduc\w*|cut|lower\w*|shorten\w*)\s+"
            r"(?:the\s+|their\s+|merchant\s+|store\s+)*prep\w*+"
            r"(?!(?:[\s-]*times?)?[\s-]*(?:estimat|quot|predict|forecast|model))"
        ),
    ),
    ActionSpec(
        "peak_pay",
        "Add peak pay for dashers in the affected regions and hours",
        undoes=("dasher_shortage",),
        mitigates=("demand_surge",),
        whatif=PEAK_PAY,
        parameter_specs=(
            ParameterSpec(
                "usd_per_order",
                label="peak pay",
                unit="usd",
                default=None,  # without it: whatever restores the usual supply
                minimum=0.25,
                maximum=20.0,
                description="Extra dasher pay per order of the scope (default: the pay "
                "that brings on-shift dashers back to the baseline).",
            ),
        ),
        parameter_title="Add {usd_per_order} of peak pay for dashers in the affected "
        "regions and hours",
        tradeoff="incentive spend per delivery",
        words=("peak pay", "incentive"),
        question_pattern=(
            r"\bpeak[\s-]*pay\b"
            r"|\b(?:dasher|driver|courier)s?\W*(?:incentiv\w*|bonus\w*|pay|boost\w*)"
            r"|\bpa(?:y|id|ying)\s+(?:the\s+|our\s+)?(?:dashers|drivers|couriers)\b"
            r"|\bincentiv\w*|\b(?:more|add\w*|extra|boost\w*)\s+(?:\w+\s+)?(?:dashers|drivers"
            r"|couriers|supply)\b|\b(?:surge|boost)\s+pay\b"
        ),
    ),
    ActionSpec(
        "eta_rollback",
        "Roll back the ETA model to its previous version",
        undoes=("eta_model_bias",),
        mitigates=(),
        whatif=ETA_ROLLBACK,
        family="model",
        tradeoff="quotes return to their old, longer level",
        words=("eta model", "roll back the eta", "rollback"),
        question_pattern=(
            r"\b(?:roll\w*\s*back|revert\w*|undo\w*|restor\w*)\b{gap}"
            r"\beta[\s-]*(?:model|version|change|update|release|deploy\w*)\b"
            r"|\beta[\s-]*(?:model|version)\b{gap}\b(?:roll\w*\s*back|revert\w*|undo\w*)\b"
            r"|\b(?:old|previous|prior)\s+eta[\s-]*(?:model|version)\b"
        ),
    ),
    ActionSpec(
        "throttle_demand",
        "Throttle demand in the surge: narrower delivery radius for 15% of orders",
        undoes=(),
        mitigates=("demand_surge",),
        whatif=THROTTLE_DEMAND,
        parameter_specs=(
            ParameterSpec(
                "share",
                label="throttle",
                unit="share",
                default=0.15,
                minimum=0.01,
                maximum=0.5,
                description="Share of orders turned away by a narrower delivery radius.",
            ),
        ),
        parameter_title="Throttle demand in the surge: narrower delivery radius for {share} "
        "of orders",
        tradeoff="orders turned away",
        words=("throttl", "radius"),
        question_pattern=(
            r"\bthrottl\w*|\b(?:narrow\w*|shrink\w*|reduc\w*|cut|tighten\w*|smaller)\b{gap}"
            r"\b(?:radius|radii|delivery\s+(?:area|zone)s?)\b"
            r"|\b(?:limit\w*|cap\w*|shed\w*)\s+(?:the\s+)?(?:demand|orders|volume)\b"
        ),
    ),
    ActionSpec(
        "inventory_rollback",
        "Roll back the inventory feed (or suppress SKUs whose stock the new feed misreports)",
        undoes=("inventory_drop",),
        mitigates=(),
        whatif=INVENTORY_ROLLBACK,
        family="merchant",
        tradeoff="selection shown to customers shrinks where stock is uncertain",
        words=("inventory",),
        question_pattern=(
            r"\b(?:roll\w*\s*back|revert\w*|undo\w*|restor\w*|fix\w*)\b{gap}\binventory\b"
            r"|\binventory[\s-]*(?:feed\s+)?(?:rollback|roll[\s-]*back|revert\w*)"
        ),
    ),
    ActionSpec(
        "suppress_skus",
        "Hide SKUs whose in-stock estimate is under 50%",
        undoes=(),
        mitigates=("inventory_drop",),
        whatif=SUPPRESS_SKUS,
        parameter_specs=(
            ParameterSpec(
                "threshold",
                label="in-stock threshold",
                unit="share",
                default=0.5,
                minimum=0.05,
                maximum=0.95,
                description="SKUs whose in-stock estimate at their store is under it are "
                "hidden from customers.",
            ),
        ),
        parameter_title="Hide SKUs whose in-stock estimate is under {threshold}",
        family="merchant",
        tradeoff="selection shrinks: hidden SKUs are sales lost",
        words=("hide", "suppress", "skus"),
        question_pattern=(
            r"\b(?:suppress\w*|hid(?:e|ing|den)?|delist\w*|remov\w*)\b{gap}"
            r"\b(?:skus?|items?|products?|out[\s-]*of[\s-]*stock)"
            r"|\bskus?\b{gap}\b(?:suppress\w*|hid(?:e|den|ing))"
        ),
    ),
)


def _library() -> dict[str, ActionSpec]:
    """The general actions, then each cause kind's own, by name (a name used twice raises)."""
    actions = [*_GENERAL, *(a for cause in CAUSES.values() for a in cause.actions)]
    library = {a.name: a for a in actions}
    if len(library) != len(actions):
        names = [a.name for a in actions]
        raise RuntimeError(
            f"actions declared twice: {sorted({n for n in names if names.count(n) > 1})}"
        )
    return library


ACTIONS: dict[str, ActionSpec] = _library()
