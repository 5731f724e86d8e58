"""The action library: what an engineer can do about each cause, and how to simulate it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ActionSpec:
    """An action: the causes it undoes or mitigates, its what-if, and how to test it."""

    name: str
    title: str
    undoes: tuple[str, ...]  # cause kinds this action reverses
    mitigates: tuple[str, ...]  # cause kinds it softens without removing
    whatif: str  # analytics.whatif action
    parameters: dict[str, float] = field(default_factory=dict)
    randomization: str = "switchback"  # switchback (marketplace policy) or store (merchant)
    tradeoff: str = ""

    def addresses(self, kind: str) -> bool:
        return kind in self.undoes or kind in self.mitigates


LATENESS_CAUSES = (
    "batching_threshold",
    "prep_time_drift",
    "dasher_shortage",
    "eta_model_bias",
    "demand_surge",
)
ACTIONS: dict[str, ActionSpec] = {
    a.name: a
    for a in (
        ActionSpec(
            "revert_batching",
            "Reduce the batching threshold back to its old value in the affected scope",
            undoes=("batching_threshold",),
            mitigates=(),
            whatif="revert_batching",
            tradeoff="fewer shared routes: more dasher time per delivery",
        ),
        ActionSpec(
            "eta_buffer",
            "Add 5 minutes of buffer to quoted ETAs in the affected scope",
            undoes=(),
            mitigates=LATENESS_CAUSES,
            whatif="eta_buffer",
            parameters={"minutes": 5.0},
            tradeoff="longer quotes lower conversion",
        ),
        ActionSpec(
            "prep_quote_fix",
            "Correct prep-time estimates for the affected stores in the ETA model",
            undoes=(),
            mitigates=("prep_time_drift",),
            whatif="prep_quote_fix",
            randomization="store",
            tradeoff="longer quotes at those stores lower conversion",
        ),
        ActionSpec(
            "merchant_prep_fix",
            "Work with the affected stores to restore their prep times",
            undoes=("prep_time_drift",),
            mitigates=(),
            whatif="merchant_prep_fix",
            randomization="store",
            tradeoff="merchant operations effort; no marketplace cost",
        ),
        ActionSpec(
            "peak_pay",
            "Add peak pay for dashers in the affected regions and hours",
            undoes=("dasher_shortage",),
            mitigates=("demand_surge",),
            whatif="peak_pay",
            tradeoff="incentive spend per delivery",
        ),
        ActionSpec(
            "eta_rollback",
            "Roll back the ETA model to its previous version",
            undoes=("eta_model_bias",),
            mitigates=(),
            whatif="eta_rollback",
            tradeoff="quotes return to their old, longer level",
        ),
        ActionSpec(
            "throttle_demand",
            "Throttle demand in the surge: narrower delivery radius for 15% of orders",
            undoes=(),
            mitigates=("demand_surge",),
            whatif="throttle_demand",
            parameters={"share": 0.15},
            tradeoff="orders turned away",
        ),
        ActionSpec(
            "inventory_rollback",
            "Roll back the inventory feed (or suppress SKUs whose stock the new feed misreports)",
            undoes=("inventory_drop",),
            mitigates=(),
            whatif="inventory_rollback",
            randomization="store",
            tradeoff="selection shown to customers shrinks where stock is uncertain",
        ),
    )
}
