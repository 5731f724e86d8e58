"""The action library: what an engineer can do about each cause, and how to simulate it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from analytics.experiment_design import Family
from analytics.whatif_actions import (
    ETA_BUFFER,
    ETA_ROLLBACK,
    INVENTORY_ROLLBACK,
    MERCHANT_PREP_FIX,
    PEAK_PAY,
    PREP_QUOTE_FIX,
    REVERT_BATCHING,
    STORM_ETA_BUFFER,
    SUPPRESS_SKUS,
    THROTTLE_DEMAND,
    WhatIfAction,
)

ParameterUnit = Literal["minutes", "usd", "share"]  # figure units (tools.base.Unit)
_UNIT_TEXT = {"minutes": "minutes", "usd": "USD per order", "share": "share"}


class ParameterError(ValueError):
    """Parameters an action does not take, or values outside their range."""


@dataclass(frozen=True)
class ParameterSpec:
    """A parameter of an action's what-if: its meaning, unit, default and allowed range."""

    name: str
    label: str  # what an answer calls it: "ETA buffer"
    unit: ParameterUnit  # minutes; usd (per order); share (a fraction, shown as a percentage)
    default: float | None  # None: the simulator derives it from the scope, or it is optional
    minimum: float
    maximum: float
    description: str

    def format(self, value: float) -> str:
        """The value as an answer writes it: "3 minutes", "$3.00 per order", "40%"."""
        if not math.isfinite(value):
            return str(value)
        if self.unit == "minutes":
            return f"{round(value, 2):g} minute{'' if value == 1 else 's'}"
        if self.unit == "usd":
            return f"${value:.2f} per order"
        return f"{round(100 * value, 1):g}%"

    def range_text(self) -> str:
        """The allowed range as an answer writes it: "0.5-30 minutes", "1%-50%"."""
        if self.unit == "minutes":
            return f"{self.minimum:g}-{self.maximum:g} minutes"
        if self.unit == "usd":
            return f"${self.minimum:.2f}-${self.maximum:.2f} per order"
        return f"{100 * self.minimum:g}%-{100 * self.maximum:g}%"

    def signature(self) -> str:
        """Name, unit and range, for listings: "usd_per_order (USD per order, 0.25-20)"."""
        return f"{self.name} ({_UNIT_TEXT[self.unit]}, {self.minimum:g}-{self.maximum:g})"

    def check(self, value: float) -> None:
        """Raise ParameterError when `value` is outside the range (or not a finite number)."""
        if not (math.isfinite(value) and self.minimum <= value <= self.maximum):
            article = "an" if self.label[0].lower() in "aeiou" else "a"
            raise ParameterError(
                f"{article} {self.label} of {self.format(value)} is outside {self.range_text()}"
            )


@dataclass(frozen=True)
class ActionSpec:
    """An action: the causes it undoes or mitigates, its what-if, and how to test it."""

    name: str
    title: str  # with the parameters' defaults
    undoes: tuple[str, ...]  # cause kinds this action reverses
    mitigates: tuple[str, ...]  # cause kinds it softens without removing
    whatif: WhatIfAction  # what analytics.whatif.simulate runs for it
    parameter_specs: tuple[ParameterSpec, ...] = ()
    # The title when parameters are given: a str.format template over the parameter names,
    # each replaced by its formatted value ("Add {minutes} of buffer" -> "Add 3 minutes ...").
    parameter_title: str = ""
    # Its experiment family, which sets the unit of randomization of its test
    # (analytics.experiment_design.UNITS: marketplace policy -> region switchback, merchant ->
    # store, model -> user).
    family: Family = "marketplace_policy"
    tradeoff: str = ""
    words: tuple[str, ...] = ()  # how an answer names this action ("batching"), lower case

    def addresses(self, kind: str) -> bool:
        return kind in self.undoes or kind in self.mitigates

    @property
    def parameters(self) -> dict[str, float]:
        """Default parameter values (parameters without a fixed default are left out)."""
        return {p.name: p.default for p in self.parameter_specs if p.default is not None}

    def parameter(self, name: str) -> ParameterSpec:
        return next(p for p in self.parameter_specs if p.name == name)

    def signature(self) -> str:
        """What the action takes: "usd_per_order (USD per order, 0.25-20)", or "no parameters"."""
        return ", ".join(p.signature() for p in self.parameter_specs) or "no parameters"

    def check_names(self, parameters: Mapping[str, float]) -> None:
        """Raise ParameterError naming what the action takes when a parameter is not one of its."""
        known = {p.name for p in self.parameter_specs}
        unknown = [name for name in parameters if name not in known]
        if unknown:
            raise ParameterError(f"{self.name} takes {self.signature()}; got {', '.join(unknown)}")

    def validate(self, parameters: Mapping[str, float]) -> dict[str, float]:
        """The parameters as floats, after checking their names and ranges (ParameterError)."""
        self.check_names(parameters)
        for name, value in parameters.items():
            self.parameter(name).check(float(value))
        return {name: float(value) for name, value in parameters.items()}

    def title_for(self, parameters: Mapping[str, float]) -> str:
        """The title with the given parameters (the default title when they are the defaults)."""
        defaults = self.parameters
        if not self.parameter_title or all(defaults.get(k) == v for k, v in parameters.items()):
            return self.title
        values = {**defaults, **parameters}
        return self.parameter_title.format(
            **{p.name: p.format(values[p.name]) for p in self.parameter_specs if p.name in values}
        )


def supported_actions() -> str:
    """Every action with its title and parameters, for an error that says what is supported."""
    return "; ".join(
        f"{spec.name} ({spec.title}; takes {spec.signature()})" for spec in ACTIONS.values()
    )


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
        ),
        ActionSpec(
            "storm_eta_buffer",
            "Pad quoted ETAs in the storm's regions and hours by its extra delivery minutes "
            "while it lasts",
            undoes=(),
            mitigates=("weather_disruption",),
            whatif=STORM_ETA_BUFFER,
            parameter_specs=(
                ParameterSpec(
                    "minutes",
                    label="storm ETA buffer",
                    unit="minutes",
                    default=None,  # without it: what restores the baseline's quote margin
                    minimum=0.5,
                    maximum=30.0,
                    description="Minutes added to every quoted ETA in the storm (default: the "
                    "minutes that bring quotes back to the baseline's margin over delivery "
                    "times).",
                ),
            ),
            parameter_title="Pad quoted ETAs in the storm's regions and hours by {minutes} "
            "while it lasts",
            tradeoff="longer quotes lower conversion while the storm lasts",
            words=("storm eta buffer", "storm buffer", "pad quoted etas"),
        ),
    )
}
