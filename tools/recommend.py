"""Tools for "what should we do": what-if simulation, ranked recommendations with tradeoffs and
a Pareto frontier, and sensitivity curves."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from pydantic import BaseModel, Field

from analytics.cohorts import CohortError
from analytics.experiment_design import PRIMARY_METRICS
from analytics.metrics import CX_SCORE, METRICS
from analytics.sampling import describe
from analytics.whatif import ASSUMPTIONS, Interval, Simulator, WhatIfError, WhatIfResult, simulate
from tools.actions import ACTIONS, ActionSpec, ParameterError, supported_actions
from tools.base import Figure, ToolContext, ToolError, ToolOutput, Unit, tool

MARGIN_PER_ORDER_USD = 5.0  # contribution margin of an order lost to longer quotes (assumption)
# Units of what a what-if reports that the metrics registry does not hold.
_OTHER_UNITS: dict[str, Unit] = {"cx_score": "points", "quoted_min": "minutes"}
# Parameters a what-if derives rather than takes (the registry gives the units of the others).
_DERIVED_PARAMETER_UNITS: dict[str, Unit] = {
    "quote_minutes_added": "minutes",
    "mean_quote_minutes_added": "minutes",
}


def _unit(name: str) -> Unit | None:
    """The unit of a metric a what-if reports (the registry's), None for other figures."""
    if name in METRICS:
        return cast(Unit, METRICS[name].unit)
    return _OTHER_UNITS.get(name)


class Scope(BaseModel):
    """Where and when to simulate: cohort filters and the incident window."""

    filters: dict[str, list[str | int]] = Field(default_factory=dict)
    start: dt.datetime
    end: dt.datetime
    baseline_days: int = Field(default=14, ge=3, le=60)


def _simulator(context: ToolContext, scope: Scope) -> Simulator:
    key = ("simulator", scope.model_dump_json(include=set(Scope.model_fields)))

    def build() -> Simulator:
        baseline = (scope.start - dt.timedelta(days=scope.baseline_days), scope.start)
        try:
            return Simulator.build(context.con, scope.filters, baseline, (scope.start, scope.end))
        except (WhatIfError, CohortError) as error:
            raise ToolError(f"cannot simulate: {error}") from None

    return context.shared.get(key, build)


def _simulator_for(context: ToolContext, scope: Scope, spec: ActionSpec) -> Simulator:
    """The scope's simulator, with its SKU lines when the action needs them (suppress_skus)."""
    simulator = _simulator(context, scope)
    if not spec.whatif.needs_sku_lines:
        return simulator
    key = ("sku_simulator", scope.model_dump_json(include=set(Scope.model_fields)))

    def build() -> Simulator:
        try:
            return simulator.with_sku_lines(context.con)
        except WhatIfError as error:
            raise ToolError(f"cannot simulate: {error}") from None

    return context.shared.get(key, build)


def parameter_unit(action: str, name: str) -> Unit:
    """The figure unit of an action's parameter: minutes, usd or share (ratio if unknown)."""
    spec = ACTIONS.get(action)
    if spec is not None and name in {p.name for p in spec.parameter_specs}:
        return spec.parameter(name).unit
    return _DERIVED_PARAMETER_UNITS.get(name, "ratio")


def _known_action(action: str) -> ActionSpec:
    if action not in ACTIONS:
        raise ToolError(f"unknown action {action!r}; supported: {supported_actions()}")
    return ACTIONS[action]


class IntervalModel(BaseModel):
    estimate: float
    low: float
    high: float

    @classmethod
    def of(cls, interval: Interval) -> IntervalModel:
        return cls(estimate=interval.estimate, low=interval.low, high=interval.high)


def efficiency_cost_usd(result: WhatIfResult) -> float:
    """Cost per order in USD: dasher cost, or margin lost on orders turned away."""
    cost = 0.0
    if "cost_per_delivery_usd" in result.efficiency:
        cost += result.efficiency["cost_per_delivery_usd"].estimate
    if "order_volume_share" in result.efficiency:
        cost += -result.efficiency["order_volume_share"].estimate * MARGIN_PER_ORDER_USD
    return cost


class WhatIfInput(Scope):
    """Arguments of what_if."""

    action: str = Field(description=f"One of: {', '.join(ACTIONS)}.")
    parameters: dict[str, float] = Field(
        default_factory=dict,
        description="Parameters of the action, each within its range. "
        + " ".join(
            f"{spec.name} takes {p.signature()}: {p.description}"
            for spec in ACTIONS.values()
            for p in spec.parameter_specs
        ),
    )


class WhatIfOutput(ToolOutput):
    action: str
    title: str
    parameters: dict[str, float]
    orders: int  # incident orders simulated
    orders_in_scope: int  # the scope's incident orders (more when `orders` is a sample)
    observed: dict[str, float]
    deltas: dict[str, IntervalModel]
    efficiency: dict[str, IntervalModel]
    cost_usd_per_order: float
    assumptions: list[str]

    def figures(self) -> dict[str, Figure]:
        figures: dict[str, Figure] = {
            "orders": Figure(value=self.orders, unit="orders"),
            "orders_in_scope": Figure(value=self.orders_in_scope, unit="orders"),
        }
        for name, value in self.observed.items():
            if (known := _unit(name)) is not None:
                figures[f"observed.{name}"] = Figure(value=round(value, 4), unit=known)
        for name, interval in self.deltas.items():
            unit: Unit = _unit(name) or "ratio"
            digits = 4 if unit == "share" else 2
            for part in ("estimate", "low", "high"):
                figures[f"{name}.{part}"] = Figure(
                    value=round(getattr(interval, part), digits),
                    unit=unit,
                )
        for name, interval in self.efficiency.items():
            efficiency_unit: Unit = (
                "usd" if name.endswith("usd") else ("share" if name.endswith("share") else "ratio")
            )
            for part in ("estimate", "low", "high"):
                figures[f"efficiency.{name}.{part}"] = Figure(
                    value=round(getattr(interval, part), 4),
                    unit=efficiency_unit,
                )
        figures["cost_usd_per_order"] = Figure(value=round(self.cost_usd_per_order, 2), unit="usd")
        for name, value in self.parameters.items():
            figures[f"parameter.{name}"] = Figure(
                value=round(value, 4),
                unit=parameter_unit(self.action, name),
            )
        return figures

    def table(self) -> list[dict[str, Any]]:
        return [
            {"metric": name, "change": i.estimate, "90% low": i.low, "90% high": i.high}
            for name, i in self.deltas.items()
        ]


def run_what_if(
    context: ToolContext, scope: Scope, spec: ActionSpec, parameters: dict[str, float]
) -> WhatIfOutput:
    """Simulate one action of the library on a scope (parameters already checked)."""
    if spec.precondition is not None and (
        reason := spec.precondition(context.con, scope.filters, (scope.start, scope.end))
    ):
        raise ToolError(f"{spec.title_for(parameters)} does not apply here: {reason}")
    simulator = _simulator_for(context, scope, spec)
    try:
        result = simulate(simulator, spec.whatif, **{**spec.parameters, **parameters})
    except WhatIfError as error:
        raise ToolError(str(error)) from None
    cx = result.deltas["cx_score"]
    title = spec.title_for(parameters)
    sample = describe(simulator.samples, ("baseline", "incident"))
    return WhatIfOutput(
        summary=f"{title}: CX {cx.estimate:+.2f} points (90% {cx.low:+.2f} to {cx.high:+.2f}) "
        f"on {result.orders:,} orders" + (f"; {sample}" if sample else ""),
        action=spec.name,
        title=title,
        parameters=result.parameters,
        orders=result.orders,
        orders_in_scope=simulator.samples[1].rows if simulator.samples else result.orders,
        observed=result.observed,
        deltas={k: IntervalModel.of(v) for k, v in result.deltas.items()},
        efficiency={k: IntervalModel.of(v) for k, v in result.efficiency.items()},
        cost_usd_per_order=efficiency_cost_usd(result),
        assumptions=list(result.assumptions),
    )


@tool
def what_if(context: ToolContext, args: WhatIfInput) -> WhatIfOutput:
    """Simulate an action on the incident's scope from models fitted on its baseline days:
    change in CX score and each sub-metric and the efficiency cost, with 90% intervals.
    Parameters outside an action's range, or that it does not take, are an error."""
    spec = _known_action(args.action)
    try:
        parameters = spec.validate(args.parameters)
    except ParameterError as error:
        raise ToolError(str(error)) from None
    return run_what_if(context, args, spec, parameters)


class CauseWeight(BaseModel):
    kind: str
    confidence: float = Field(ge=0, le=1)


class RecommendInput(Scope):
    """Arguments of recommend_actions."""

    causes: list[CauseWeight] = Field(description="Supported causes with their confidence.")


MITIGATION_WEIGHT = 0.8  # a heuristic: how much a mitigation counts against an undo


class Recommendation(BaseModel):
    rank: int
    action: str
    title: str
    addresses: list[str]
    undoes_cause: bool
    cx_gain: IntervalModel
    on_time_gain: IntervalModel
    # The per-order rate the action moves most in CX points (what its experiment tests):
    # on-time for timing actions, refunds for an inventory action that leaves timings alone.
    test_metric: str
    test_metric_gain: IntervalModel
    cost_usd_per_order: float
    pareto: bool
    tradeoff: str
    evidence: str
    parameters: dict[str, float] = {}  # the action's parameters as simulated (in the title)


def _test_metric(deltas: dict[str, Any]) -> str:
    """The rate an experiment plan can test (`PRIMARY_METRICS` but the CX score) whose simulated
    change adds the most CX points; on-time on ties."""

    def cx_points(name: str) -> float:
        spec = METRICS[name]
        return abs(deltas[name].estimate * spec.cx_weight * spec.score[1])

    rates = [name for name in PRIMARY_METRICS if name != CX_SCORE and name in deltas]
    return max(rates, key=cx_points)


class RecommendOutput(ToolOutput):
    recommendations: list[Recommendation]

    def figures(self) -> dict[str, Figure]:
        figures = {}
        for r in self.recommendations:
            key = r.action
            figures[f"{key}.cx_gain"] = Figure(value=round(r.cx_gain.estimate, 2), unit="points")
            figures[f"{key}.cx_gain_low"] = Figure(value=round(r.cx_gain.low, 2), unit="points")
            figures[f"{key}.cx_gain_high"] = Figure(value=round(r.cx_gain.high, 2), unit="points")
            figures[f"{key}.on_time_gain"] = Figure(
                value=round(r.on_time_gain.estimate, 4), unit="share"
            )
            figures[f"{key}.cost_usd_per_order"] = Figure(
                value=round(r.cost_usd_per_order, 2), unit="usd"
            )
            for name, value in r.parameters.items():
                figures[f"{key}.{name}"] = Figure(
                    value=value,
                    unit=parameter_unit(r.action, name),
                )
        return figures

    def table(self) -> list[dict[str, Any]]:
        return [
            {
                "rank": r.rank,
                "action": r.title,
                "addresses": ", ".join(r.addresses),
                "CX gain": r.cx_gain.estimate,
                "CX 90% low": r.cx_gain.low,
                "CX 90% high": r.cx_gain.high,
                "on-time": f"{100 * r.on_time_gain.estimate:+.1f} pp",
                "cost $/order": round(r.cost_usd_per_order, 2),
                "Pareto": r.pareto,
                "evidence": r.evidence,
            }
            for r in self.recommendations
        ]


def pareto_front(points: list[tuple[float, float]]) -> list[bool]:
    """Which (gain, cost) points no other point beats on both (higher gain, lower cost)."""
    front = []
    for index, (gain, cost) in enumerate(points):
        dominated = any(
            other_gain >= gain and other_cost <= cost and (other_gain > gain or other_cost < cost)
            for other_index, (other_gain, other_cost) in enumerate(points)
            if other_index != index
        )
        front.append(not dominated)
    return front


@tool
def recommend_actions(context: ToolContext, args: RecommendInput) -> RecommendOutput:
    """Simulate every action that undoes or mitigates the supported causes and rank them:
    actions that undo a cause come first (by the cause's confidence, then CX gained), then
    mitigations; each with CX and on-time gains (90% intervals), cost per order and whether it
    is on the Pareto frontier of CX gained vs cost."""
    kinds = {c.kind: c.confidence for c in args.causes}
    if not kinds:
        raise ToolError("no cause to act on")
    candidates = [spec for spec in ACTIONS.values() if any(spec.addresses(k) for k in kinds)]
    simulated: list[tuple[ActionSpec, WhatIfOutput, str]] = []
    failed: list[tuple[str, ToolError]] = []
    for spec in candidates:
        try:
            output, item = context.call(
                "what_if", {**args.model_dump(exclude={"causes"}), "action": spec.name}
            )
        except ToolError as error:  # e.g. suppress_skus on a warehouse without inventory data
            failed.append((spec.name, error))
            continue
        simulated.append((spec, cast(WhatIfOutput, output), item.id))  # what_if's output
    if not simulated:
        raise failed[0][1]
    front = pareto_front(
        [(o.deltas["cx_score"].estimate, o.cost_usd_per_order) for _, o, _ in simulated]
    )

    def priority(entry: tuple[tuple[ActionSpec, WhatIfOutput, str], bool]) -> tuple:
        (spec, output, _), _ = entry
        undone = max((kinds[k] for k in spec.undoes if k in kinds), default=0.0)
        mitigated = max((kinds[k] for k in spec.mitigates if k in kinds), default=0.0)
        # Undoing a cause beats softening it, but not when the softened cause is far likelier
        # (a surge has no undo; its throttle should lead a weak batching cause's revert).
        return (
            -max(undone, MITIGATION_WEIGHT * mitigated),
            -undone,
            -output.deltas["cx_score"].estimate,
        )

    ordered = sorted(zip(simulated, front, strict=True), key=priority)
    recommendations = [
        Recommendation(
            rank=rank,
            action=spec.name,
            title=spec.title,
            addresses=[k for k in kinds if spec.addresses(k)],
            undoes_cause=any(k in spec.undoes for k in kinds),
            cx_gain=output.deltas["cx_score"],
            on_time_gain=output.deltas["on_time_rate"],
            test_metric=(test := _test_metric(output.deltas)),
            test_metric_gain=output.deltas[test],
            cost_usd_per_order=output.cost_usd_per_order,
            pareto=on_front,
            tradeoff=spec.tradeoff,
            evidence=evidence_id,
            parameters=dict(spec.parameters),
        )
        for rank, ((spec, output, evidence_id), on_front) in enumerate(ordered, start=1)
    ]
    top = recommendations[0]
    not_simulated = "; ".join(f"{name} not simulated: {error}" for name, error in failed)
    return RecommendOutput(
        summary=f"top action: {top.title} (CX {top.cx_gain.estimate:+.2f}, "
        f"${top.cost_usd_per_order:.2f}/order)" + (f"; {not_simulated}" if failed else ""),
        recommendations=recommendations,
    )


class SensitivityInput(Scope):
    """Arguments of sensitivity: an action and the parameter values to step through."""

    action: str = Field(default="revert_batching")
    parameter: str = Field(default="target_share")
    values: list[float] = Field(min_length=2, max_length=12)


class SensitivityOutput(ToolOutput):
    action: str
    parameter: str
    rows: list[dict[str, float]]

    def figures(self) -> dict[str, Figure]:
        figures = {}
        for row in self.rows:
            key = f"{self.parameter}={row['value']:g}"
            figures[f"{key}.cx_gain"] = Figure(value=round(row["cx_gain"], 2), unit="points")
            figures[f"{key}.on_time_gain"] = Figure(
                value=round(row["on_time_gain"], 4), unit="share"
            )
            figures[f"{key}.cost_usd_per_order"] = Figure(
                value=round(row["cost_usd"], 2), unit="usd"
            )
        return figures

    def table(self) -> list[dict[str, Any]]:
        return self.rows


@tool
def sensitivity(context: ToolContext, args: SensitivityInput) -> SensitivityOutput:
    """Step an action's parameter (e.g. the batched share a threshold allows, from today's back
    to the old one; or the ETA buffer in minutes) and report CX, on-time and cost at each."""
    spec = _known_action(args.action)
    try:  # the values may step outside the what-if's range (a sweep may start from no action)
        spec.check_names({args.parameter: 0.0})
    except ParameterError as error:
        raise ToolError(str(error)) from None
    rows = []
    for value in args.values:
        output = run_what_if(context, args, spec, {args.parameter: value})
        rows.append(
            {
                "value": value,
                "cx_gain": output.deltas["cx_score"].estimate,
                "cx_low": output.deltas["cx_score"].low,
                "cx_high": output.deltas["cx_score"].high,
                "on_time_gain": output.deltas["on_time_rate"].estimate,
                "cost_usd": output.cost_usd_per_order,
            }
        )
    return SensitivityOutput(
        summary=f"{spec.title}: CX gain from {rows[0]['cx_gain']:+.2f} to "
        f"{rows[-1]['cx_gain']:+.2f} as {args.parameter} goes {args.values[0]:g} -> "
        f"{args.values[-1]:g}",
        action=args.action,
        parameter=args.parameter,
        rows=rows,
    )


ASSUMPTION_NOTES = {**ASSUMPTIONS, "margin_per_order_usd": MARGIN_PER_ORDER_USD}
