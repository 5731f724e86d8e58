"""What an action is: its parameters, what it undoes or mitigates, its what-if and its test.

The library of actions is tools/actions.py (general actions) plus the `actions` of each cause
kind's module in tools/causes/ (actions only that kind needs, such as a storm's ETA buffer).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import duckdb

from analytics.cohorts import FilterValue
from analytics.experiment_design import Family
from analytics.whatif_actions import WhatIfAction

Precondition = Callable[
    [duckdb.DuckDBPyConnection, Mapping[str, FilterValue], tuple[dt.datetime, dt.datetime]],
    str | None,
]
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
    # How a question names it: a regular expression over the lower-cased question ("{gap}" stands
    # for a few words within the sentence). When two actions match at the same place, the longer
    # match wins (a storm's "pad ETAs ... storm" over a plain "pad ETAs").
    question_pattern: str = ""
    # Why the action cannot apply to a scope (cohort filters and incident window), or None when
    # it can: a storm's ETA buffer needs a storm in the scope. The what-if refuses with it.
    precondition: Precondition | None = None

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
