"""The experiment_plan tool: a Markdown test plan for an action, with every number from the
warehouse-based design (analytics.experiment_design) exposed as a figure."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from analytics.cohorts import CohortError
from analytics.experiment_design import (
    MAX_DAYS,
    PRIMARY_METRICS,
    DesignError,
    ExperimentDesign,
    Family,
    MetricStats,
    design_experiment,
    infer_family,
)
from analytics.metrics import CX_SCORE, METRICS, MetricError
from tools.actions import ACTIONS
from tools.base import Figure, ToolContext, ToolError, ToolOutput, Unit, tool
from tools.hypotheses import LIBRARY

# The plan's section headings, in order (PROJECT_PLAN.md, "6. Experiment Plan Generator").
SECTIONS: tuple[str, ...] = (
    "Hypothesis",
    "Primary metrics",
    "Secondary metrics",
    "Guardrails",
    "Unit of randomization",
    "Duration and sample size",
    "Rollout plan",
    "Monitoring checklist",
    "Rollback criteria",
)
ROLLOUT_STAGES = (0.10, 0.50, 1.00)
RAMP_DAYS = 2  # days at the first stage before widening
HOLDBACK_SHARE = 0.05
SRM_P_VALUE = 0.001
CONSECUTIVE_DAYS = 2  # a daily alert on this many days in a row triggers a rollback
INTERVAL_LEVEL = 0.90  # the what-if's interval
QUOTE_MARGIN_MIN = 2.0  # quoted-ETA guardrail beyond an intended buffer


class ExpectedEffect(BaseModel):
    """The change a what-if expects on the primary metric (a share difference, or CX points)."""

    estimate: float
    low: float | None = Field(default=None, description="Low end of its 90% interval.")
    high: float | None = Field(default=None, description="High end of its 90% interval.")


class Guardrail(BaseModel):
    """A metric the action must not hurt, and how much worse than control triggers an alert."""

    name: str = Field(
        description="orders_per_day, quoted_eta_min, deliveries_per_dasher_hour, "
        "cost_per_delivery_usd, or any other name (no baseline then)."
    )
    label: str = Field(default="", description="Shown in the plan (default: the name).")
    max_worsening: float = Field(gt=0, description="e.g. 0.05 (relative) or 2 (minutes).")
    threshold_unit: Literal["relative", "minutes", "pp", "usd"] = "relative"
    higher_is_better: bool = True
    note: str = ""


DEFAULT_GUARDRAILS: tuple[Guardrail, ...] = (
    Guardrail(
        name="deliveries_per_dasher_hour",
        label="Deliveries per dasher hour (efficiency)",
        max_worsening=0.05,
    ),
    Guardrail(
        name="cost_per_delivery_usd",
        label="Dasher cost per delivery (efficiency)",
        max_worsening=0.05,
        higher_is_better=False,
        note="from the pay ledger; pay is not in the warehouse",
    ),
    Guardrail(name="orders_per_day", label="Order volume", max_worsening=0.03),
    Guardrail(
        name="quoted_eta_min",
        label="Quoted ETA",
        max_worsening=QUOTE_MARGIN_MIN,
        threshold_unit="minutes",
        higher_is_better=False,
    ),
)


class ExperimentPlanInput(BaseModel):
    """Arguments of experiment_plan."""

    action: str = Field(
        description=f"A library action ({', '.join(ACTIONS)}) or a free-text description of "
        "the change to test, e.g. 'revert the batching threshold to 5 min'."
    )
    description: str | None = Field(default=None, description="What the action does.")
    cause: str | None = Field(
        default=None, description=f"The cause kind it addresses: {', '.join(LIBRARY)}."
    )
    filters: dict[str, list[str | int]] = Field(
        default_factory=dict,
        description="The scope, e.g. {'category': ['grocery'], 'hour': [18, 19, 20]}.",
    )
    primary_metric: str = Field(
        default="on_time_rate", description=f"One of: {', '.join(PRIMARY_METRICS)}."
    )
    start: dt.datetime | None = Field(
        default=None, description="Incident start: the control arm keeps this window's level."
    )
    end: dt.datetime | None = Field(default=None, description="Incident end (exclusive).")
    expected_effect: ExpectedEffect | None = Field(
        default=None,
        description="The what-if's change on the primary metric with its 90% interval; "
        "without it the plan detects a 5% relative lift.",
    )
    guardrails: list[Guardrail] | None = Field(
        default=None,
        description="Guardrails with thresholds (default: deliveries per dasher hour, cost per "
        "delivery, order volume, quoted ETA).",
    )


class ExperimentPlanOutput(ToolOutput):
    action: str
    title: str
    metric: str
    unit: str
    unit_label: str
    markdown: str
    numbers: dict[str, Figure]
    power_inputs: list[dict[str, Any]]

    def figures(self) -> dict[str, Figure]:
        return dict(self.numbers)

    def table(self) -> list[dict[str, Any]]:
        return self.power_inputs

    def write_markdown(self, path: str | Path) -> Path:
        """Write the plan to `path` (parents created); returns the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.markdown, encoding="utf-8")
        return target


class _Sheet:
    """Formats numbers for the plan and records each as a figure under a name, so the Markdown
    holds no number that is not a figure."""

    def __init__(self) -> None:
        self.figures: dict[str, Figure] = {}

    def _put(self, name: str, value: float | str, unit: Unit, label: str = "") -> None:
        if name in self.figures and self.figures[name].value != value:
            raise ValueError(f"figure {name} recorded twice with different values")
        self.figures[name] = Figure(value=value, unit=unit, label=label)

    def pct(self, name: str, share: float, decimals: int = 1, label: str = "") -> str:
        value = round(share, decimals + 2)
        self._put(name, value, "share", label)
        return f"{100 * value:.{decimals}f}%"

    def pp(self, name: str, share: float, signed: bool = True, label: str = "") -> str:
        value = round(share if signed else abs(share), 4)
        self._put(name, value, "share", label)
        return f"{100 * value:{'+' if signed else ''}.2f} pp"

    def score(self, name: str, value: float, label: str = "") -> str:
        value = round(value, 2)
        self._put(name, value, "score", label)
        return f"{value:.2f}"

    def points(self, name: str, value: float, signed: bool = True, label: str = "") -> str:
        value = round(value if signed else abs(value), 2)
        self._put(name, value, "points", label)
        return f"{value:{'+' if signed else ''}.2f} points"

    def number(
        self, name: str, value: float, decimals: int, label: str = "", unit: Unit = "ratio"
    ) -> str:
        value = round(value, decimals)
        self._put(name, value, unit, label)
        return f"{value:.{decimals}f}"

    def count(self, name: str, value: float, unit: Unit = "count", label: str = "") -> str:
        whole = round(value)
        self._put(name, whole, unit, label)
        return f"{whole:,}"

    def minutes(self, name: str, value: float, decimals: int = 1, label: str = "") -> str:
        value = round(value, decimals)
        self._put(name, value, "minutes", label)
        return f"{value:.{decimals}f} min"

    def text(self, name: str, value: str) -> str:
        self._put(name, value, "text")
        return value

    def when(self, name: str, value: dt.datetime | dt.date) -> str:
        if isinstance(value, dt.datetime):
            self._put(name, value.isoformat(timespec="minutes"), "datetime")
            return f"{value:%Y-%m-%d %H:%M}"
        self._put(name, value.isoformat(), "datetime")
        return value.isoformat()

    # metric-aware formats: shares as % and pp, the CX score as a score and points
    def level(self, name: str, stats: MetricStats, value: float | None = None) -> str:
        value = stats.level if value is None else value
        if stats.kind == "mean":
            return self.score(name, value)
        return self.pct(name, value, 1 if stats.metric == "on_time_rate" else 2)

    def change(self, name: str, stats: MetricStats, value: float, signed: bool = True) -> str:
        if stats.kind == "mean":
            return self.points(name, value, signed)
        return self.pp(name, value, signed)


def _label(metric_name: str) -> str:
    return "CX score" if metric_name == CX_SCORE else METRICS[metric_name].label


def _lower(label: str) -> str:
    return label if label.startswith("CX") else label.lower()


def _scope_text(filters: dict[str, list[str | int]]) -> str:
    parts = []
    for name, values in filters.items():
        numbers = sorted(v for v in values if isinstance(v, int))
        if (
            numbers
            and len(numbers) == len(values)
            and numbers == list(range(numbers[0], numbers[-1] + 1))
        ):
            shown = f"{numbers[0]}-{numbers[-1]}" if len(numbers) > 1 else str(numbers[0])
        else:
            shown = "/".join(str(v) for v in values)
        parts.append(f"{name}={shown}")
    return ", ".join(parts) or "the whole marketplace"


def _days(count: int) -> str:
    return "day" if count == 1 else "days"


def _worse(higher_is_better: bool) -> str:
    return "below" if higher_is_better else "above"


@dataclass(frozen=True)
class _PlanText:
    """What several sections of the plan show, formatted once (and recorded as figures)."""

    label: str  # the primary metric's label
    units: str  # what is randomized, in words: region-window, store or customer
    denominator: str  # what the primary metric counts: delivered orders or orders
    scope: str
    history: str  # the history window, first to last day
    history_days: str
    action: str
    title: str
    unit_label: str
    alpha: str
    power: str
    min_days: str
    recommended: str
    status_quo: str  # the sentence on the status quo window, or ""
    level: str  # the primary metric's status quo
    effect: str  # the effect to detect on it


@dataclass(frozen=True)
class _Clustering:
    """The clustering figures the power calculation reuses, formatted."""

    icc: str
    design_effect: str


@dataclass(frozen=True)
class _Sample:
    """The sample size figures, formatted."""

    daily: str
    n_per_arm: str
    n_per_arm_unadjusted: str
    n_total: str
    sd: str


def _plan_text(sheet: _Sheet, design: ExperimentDesign, action: str, title: str) -> _PlanText:
    """The shared values, recorded in the order the figures are listed."""
    scope = sheet.text("scope", _scope_text(design.filters))
    history_days = sheet.count("history_days", design.primary.history_days, label="days of history")
    history = (
        f"{sheet.when('history_start', design.history_start.date())} to "
        f"{sheet.when('history_last_day', (design.history_end - dt.timedelta(days=1)).date())}"
    )
    action_text = sheet.text("action", action)
    title_text = sheet.text("title", title)
    unit_label = sheet.text("unit_label", design.unit.label)
    sheet.number("alpha", design.alpha, 3)
    sheet.number("power", design.power, 3)
    min_days = sheet.count("min_days", design.min_days, label="minimum days")
    recommended = sheet.count("recommended_days", design.recommended_days, label="recommended days")
    status = ""
    if design.status_quo is not None:
        status = (
            f" The control arm keeps the status quo measured from "
            f"{sheet.when('status_quo_start', design.status_quo[0])} to "
            f"{sheet.when('status_quo_end', design.status_quo[1])}."
        )
    return _PlanText(
        label=_label(design.metric),
        units={"switchback": "region-window", "store": "store", "user": "customer"}[
            design.unit.kind
        ],
        denominator="delivered orders" if design.metric == "on_time_rate" else "orders",
        scope=scope,
        history=history,
        history_days=history_days,
        action=action_text,
        title=title_text,
        unit_label=unit_label,
        alpha=f"{design.alpha:g}",
        power=f"{design.power:g}",
        min_days=min_days,
        recommended=recommended,
        status_quo=status,
        level=sheet.level("baseline", design.primary),
        effect=sheet.change("effect", design.primary, design.effect),
    )


def _introduction(text: _PlanText) -> list[str]:
    return [
        f"# Experiment plan: {text.title}",
        "",
        f"**Action:** {text.action} · **Scope:** {text.scope} · **Primary metric:** "
        f"{text.label} · **Unit:** {text.unit_label}",
        "",
        f"Estimated from the {text.history_days} days of orders in scope from {text.history}."
        f"{text.status_quo}",
        "",
    ]


def _hypothesis(
    sheet: _Sheet, design: ExperimentDesign, text: _PlanText, cause: str | None
) -> list[str]:
    primary = design.primary
    if design.effect_source == "what-if":
        source = "the what-if estimate"
        if design.effect_low is not None and design.effect_high is not None:
            interval = sheet.pct("interval_level", INTERVAL_LEVEL, 0)
            source += (
                f", {interval} interval {sheet.change('effect_low', primary, design.effect_low)} "
                f"to {sheet.change('effect_high', primary, design.effect_high)}"
            )
    else:
        lift = sheet.pct("default_relative_lift", abs(design.relative_lift), 0)
        source = f"a {lift} relative change, the default detectable effect"
    history_note = ""
    if design.status_quo is not None:
        history_note = f"; {sheet.level('history_level', primary, primary.history_level)} before"
    because = ""
    if cause in LIBRARY:
        because = f" because it addresses the cause {cause} ({LIBRARY[cause].title.lower()})"
    phrase = sheet.text("action_phrase", text.action[:1].lower() + text.action[1:])
    return [
        "## Hypothesis",
        "",
        f"If we {phrase} in {text.scope}, the {_lower(text.label)} "
        f"will {'rise' if design.effect > 0 else 'fall'} from {text.level} (status "
        f"quo{history_note}) by {text.effect} ({source}){because}.",
        "",
        f"- Null hypothesis: treatment and control have the same {_lower(text.label)}.",
        f"- Alternative: they differ; a two-sided z-test at alpha {text.alpha} with power "
        f"{text.power}, errors clustered by {text.units}.",
        "",
    ]


def _metric_line(
    sheet: _Sheet,
    stats: MetricStats,
    role: str,
    key: str,
    mde_value: float | None,
    recommended: str,
) -> str:
    better = "rise" if stats.higher_is_better else "fall"
    head = f"- **{_label(stats.metric)}** ({role}): status quo {sheet.level(key, stats)}; "
    if mde_value is None:  # too rare in this scope for any change to be detectable
        return (
            f"{head}no {better} is detectable in {recommended} days at this volume (watched "
            "for harm, not powered)."
        )
    return (
        f"{head}the test detects a {better} of "
        f"{sheet.change(f'mde.{stats.metric}', stats, mde_value, False)} in {recommended} days."
    )


def _metrics(sheet: _Sheet, design: ExperimentDesign, text: _PlanText) -> list[str]:
    """The primary (with the co-primary) and secondary metrics sections."""
    co_primary = CX_SCORE if design.metric != CX_SCORE else "on_time_rate"
    lines = ["## Primary metrics", ""]
    lines.append(
        _metric_line(
            sheet,
            design.primary,
            "primary, decides the test",
            "baseline",
            design.mde.effect,
            text.recommended,
        )
    )
    if co_primary in design.secondary:
        other = design.secondary[co_primary]
        lines.append(
            _metric_line(
                sheet,
                other.stats,
                "co-primary, reported with the decision",
                f"level.{co_primary}",
                other.mde.effect if other.mde else None,
                text.recommended,
            )
        )
    lines += ["", "## Secondary metrics", ""]
    for name, watched in design.secondary.items():
        if name != co_primary:
            lines.append(
                _metric_line(
                    sheet,
                    watched.stats,
                    "secondary",
                    f"level.{name}",
                    watched.mde.effect if watched.mde else None,
                    text.recommended,
                )
            )
    return [*lines, ""]


def _guardrail(sheet: _Sheet, guard: Guardrail, baselines: dict[str, float]) -> tuple[str, str]:
    """The guardrail's line in the plan, and its alert rule for the monitoring checklist."""
    key = f"guardrail.{guard.name}"
    shown = guard.label or guard.name.replace("_", " ")
    if guard.threshold_unit == "relative":
        limit = sheet.pct(f"{key}.threshold", guard.max_worsening, 1)
    elif guard.threshold_unit == "minutes":
        limit = sheet.minutes(f"{key}.threshold", guard.max_worsening)
    elif guard.threshold_unit == "pp":
        limit = sheet.pp(f"{key}.threshold", guard.max_worsening, signed=False)
    else:
        limit = f"${sheet.number(f'{key}.threshold', guard.max_worsening, 2)}"
    rule = f"more than {limit} {_worse(guard.higher_is_better)} control"
    if guard.name in baselines:
        value = baselines[guard.name]
        if guard.name == "orders_per_day":
            now = f"{sheet.count(f'{key}.baseline', value, 'orders')} orders per day"
        elif guard.name.endswith("_min"):
            now = sheet.minutes(f"{key}.baseline", value)
        else:
            now = sheet.number(f"{key}.baseline", value, 2)
        measured = f"now {now}" + (f" ({guard.note})" if guard.note else "")
    else:
        measured = guard.note or "not in the warehouse: measure it from its own source"
    return f"- **{shown}**: {measured}; alert if {rule}.", f"{shown} is {rule}"


def _guardrails(
    sheet: _Sheet, design: ExperimentDesign, guardrails: list[Guardrail]
) -> tuple[list[str], list[str]]:
    """The guardrails section, and each guardrail's alert rule for the monitoring checklist."""
    baselines = design.guardrail_baselines
    shown = [_guardrail(sheet, guard, baselines) for guard in guardrails]
    lines = ["## Guardrails", "", *(line for line, _ in shown), ""]
    if "deliveries_per_dasher_hour" in baselines:
        lines += [
            "Deliveries per dasher hour are delivered orders per online dasher hour in the "
            "scope's regions and hours over all categories (dashers are shared).",
            "",
        ]
    return lines, [alert for _, alert in shown]


def _assignment(sheet: _Sheet, design: ExperimentDesign, text: _PlanText) -> list[str]:
    """How units are assigned: switchback windows, or a hash of the store or customer id."""
    if design.unit.kind != "switchback":
        seen = sheet.count("units_in_scope", design.units, label=f"{text.units}s in the history")
        return [
            f"Assignment is by a hash of the {text.units} id, fixed for the whole test; "
            f"{seen} {text.units}s ordered in the scope in the {text.history_days} history days.",
            "",
        ]
    hours = sheet.count("switchback_hours", design.switchback_hours, label="hours per window")
    delivery = design.guardrail_baselines.get("delivery_min")
    carry = ""
    if delivery:
        ratio = sheet.number("window_to_delivery_ratio", design.switchback_hours * 60 / delivery, 1)
        carry = (
            f" A {hours}-hour window is {ratio}x the mean delivery time of "
            f"{sheet.minutes('delivery_min', delivery)}, so few orders straddle a switch."
        )
    per_day = sheet.number("units_per_day", design.units, 1)
    per_arm = sheet.number("units_per_arm", design.units_per_arm, 1)
    return [
        f"Each day every region's window is assigned to treatment or control at random, "
        f"balanced by region and weekday.{carry} The scope has {per_day} region-windows a "
        f"day: {per_arm} per arm in {text.recommended} days.",
        "",
    ]


def _unit_of_randomization(
    sheet: _Sheet, design: ExperimentDesign, text: _PlanText
) -> tuple[list[str], _Clustering]:
    """The unit of randomization section, and the clustering figures the power table shows."""
    primary = design.primary
    cluster_size = sheet.number("cluster_size", primary.cluster_size, 1, unit="orders")
    effective = sheet.number(
        "cluster_size_effective",
        primary.effective_cluster_size(design.duration_days),
        1,
        unit="orders",
    )
    icc_text = sheet.number("icc", max(primary.icc, 0.0), 4)
    raw = ""
    if primary.icc < 0:
        raw = f" (raw estimate {sheet.number('icc_raw', primary.icc, 4)}, clamped at zero)"
    lines = [
        "## Unit of randomization",
        "",
        f"**{text.unit_label}** (a cluster in the data: {design.unit.cluster}).",
        "",
        design.unit.reason,
        "",
        *_assignment(sheet, design, text),
    ]
    deff = sheet.number("design_effect", design.design_effect, 2)
    lines += [
        f"Clustering: ICC {icc_text}{raw} by one-way ANOVA over "
        f"{sheet.count('clusters', primary.clusters)} {design.unit.cluster}s of the history, "
        f"{cluster_size} {text.denominator} per cluster on average (CV "
        f"{sheet.number('cluster_cv', primary.cluster_cv, 2)}; size-weighted {effective} over "
        f"{sheet.count('duration_days', design.duration_days, label='planned days')} days), so "
        f"the design effect is {deff}.",
        "",
    ]
    return lines, _Clustering(icc=icc_text, design_effect=deff)


def _sample(sheet: _Sheet, design: ExperimentDesign) -> _Sample:
    primary, sample = design.primary, design.sample
    return _Sample(
        daily=sheet.count("daily_volume", primary.daily_volume, "orders"),
        n_per_arm=sheet.count("n_per_arm", sample.n_per_arm_ceil, "orders"),
        n_per_arm_unadjusted=sheet.count(
            "n_per_arm_unadjusted", sample.n_per_arm_unadjusted, "orders"
        ),
        n_total=sheet.count("n_total", sample.n_total, "orders"),
        sd=sheet.number("sd", primary.sd, 3 if primary.kind == "proportion" else 2),
    )


def _power_inputs(
    design: ExperimentDesign, text: _PlanText, clustering: _Clustering, sample: _Sample
) -> list[dict[str, Any]]:
    """The power calculation's inputs as table rows (input, value as shown)."""
    test = (
        "two-sample z-test on proportions (Cohen's h)"
        if design.primary.kind == "proportion"
        else "two-sample z-test on means (delta-method per-order sd)"
    )
    return [
        {"input": "test", "value": test},
        {"input": "alpha (two-sided)", "value": text.alpha},
        {"input": "power", "value": text.power},
        {"input": "baseline (control)", "value": text.level},
        {"input": "per-order sd", "value": sample.sd},
        {"input": "effect to detect", "value": text.effect},
        {"input": "ICC", "value": clustering.icc},
        {"input": "design effect", "value": clustering.design_effect},
        {"input": f"daily {text.denominator} in scope", "value": sample.daily},
    ]


def _duration(
    sheet: _Sheet,
    design: ExperimentDesign,
    text: _PlanText,
    sample: _Sample,
    clustering: _Clustering,
    power_inputs: list[dict[str, Any]],
) -> tuple[list[str], str]:
    """The duration and sample size section up to CUPED, and the minimum detectable effect."""
    primary, daily, denominator = design.primary, sample.daily, text.denominator
    sd_note = (
        "the per-order sd of a proportion at the baseline"
        if primary.kind == "proportion"
        else "the sd of each order's delta-method influence on the CX score (Deng et al.)"
    )
    lines = [
        "## Duration and sample size",
        "",
        "| Power calculation input | Value |",
        "|---|---|",
        *(f"| {row['input']} | {row['value']} |" for row in power_inputs),
        "",
        f"The sd is {sd_note}. Sample size: {sample.n_per_arm} {denominator} per arm "
        f"({sample.n_per_arm_unadjusted} for an order-level test times the design effect "
        f"{clustering.design_effect}), {sample.n_total} in all.",
    ]
    if design.days_required is not None:
        needed = sheet.count("days_required", design.days_required, label="days to collect")
        lines.append(
            f"At {daily} {denominator} a day that takes {needed} {_days(design.days_required)};"
            f" the duration is the larger of that and the {text.min_days}-day minimum (a full "
            f"weekly cycle): {sheet.count('duration_days', design.duration_days)} days. "
            f"Recommended: {text.recommended} days, two weekly cycles."
        )
    else:
        cap = sheet.count("max_days", MAX_DAYS, label="days")
        lines.append(
            f"The scope cannot reach this sample within {cap} days at {daily} {denominator} "
            f"a day with this unit: plan the recommended {text.recommended} days and read the "
            "detectable effect below."
        )
    mde = sheet.change("mde", primary, design.mde.effect, signed=False)
    detect = f"In {text.recommended} days the minimum detectable effect is {mde}"
    if design.power_at_low is not None and design.effect_conservative is not None:
        detect += (
            f"; if the effect is only the interval's end nearest zero "
            f"({sheet.change('effect_conservative', primary, design.effect_conservative)}) the "
            f"power is {sheet.number('power_at_low', design.power_at_low, 3)}"
        )
    return [*lines, f"{detect}.", ""], mde


def _cuped(sheet: _Sheet, design: ExperimentDesign, text: _PlanText, mde: str) -> list[str]:
    """The CUPED option (Deng et al. 2013): what a previous-week covariate would buy."""
    primary, units, denominator = design.primary, text.units, text.denominator
    cuped = primary.cuped
    if cuped is None:
        return [
            f"**CUPED option**: not estimable here (fewer than {sheet.count('cuped_weeks', 2)} "
            f"weeks of history or too few {units}s seen in both weeks); plan without it.",
            "",
        ]
    reduction = primary.cuped_reduction
    cuped_n = sheet.count("cuped_n_per_arm", design.cuped_sample.n_per_arm_ceil, "orders")
    cuped_days = sheet.count("cuped_duration_days", design.cuped_duration_days)
    cuped_mde = sheet.change("cuped_mde", primary, design.mde_cuped.effect, signed=False)
    saving = design.duration_days - design.cuped_duration_days
    if saving > 0:
        buys = f"it shortens the test by {sheet.count('cuped_days_saved', saving)} days"
    elif cuped_mde == mde:
        buys = "too small a gain to change the plan"
    else:
        buys = (
            f"the {text.min_days}-day minimum still binds, so it buys no time here but lowers "
            f"the detectable effect in {text.recommended} days from {mde} to {cuped_mde}"
        )
    correlation = (
        f"the correlation between {sheet.count('cuped_pairs', cuped.pairs)} {units}s' values "
        f"in consecutive weeks is {sheet.number('cuped_correlation', cuped.correlation, 3)}, "
        f"and {sheet.pct('cuped_coverage', primary.cuped_coverage, 1)} of the last week's "
        f"{denominator} have a previous-week value"
    )
    if reduction > 0:
        estimate = (
            f"Estimated variance reduction {sheet.pct('cuped_reduction', reduction, 1)} "
            f"({correlation}; squared and shrunk for the number of pairs). With it: "
            f"{cuped_n} {denominator} per arm and {cuped_days} days; {buys}."
        )
    else:
        sheet.pct("cuped_reduction", 0.0, 1)
        estimate = (
            f"Here {correlation}: no stable {units} effect to adjust for, so the plan "
            "assumes no reduction; keep the covariate in the analysis anyway (it costs "
            "nothing if it does not help)."
        )
    return [
        f"**CUPED option** (Deng et al.): use each {units}'s value in the previous week as "
        f"a covariate. {estimate}",
        "",
    ]


def _rollout(sheet: _Sheet, text: _PlanText) -> tuple[list[str], str]:
    """The rollout plan section, and the sample-ratio-mismatch p-value threshold as shown."""
    first, middle, full = ROLLOUT_STAGES
    ramp = sheet.count("ramp_days", RAMP_DAYS, label="days at the first stage")
    srm = sheet.number("srm_p_value", SRM_P_VALUE, 3)
    units, recommended = text.units, text.recommended
    lines = [
        "## Rollout plan",
        "",
        f"- **{sheet.pct('stage1_share', first, 0)} of {units}s treated** for {ramp} days, a "
        f"safety ramp outside the analysis. Checkpoint: no sample-ratio mismatch, no alert "
        f"fired, guardrails within their thresholds; then widen.",
        f"- **{sheet.pct('stage2_share', middle, 0)}** (the experiment) for {recommended} days. "
        f"Checkpoint on day {text.min_days}: a harm-only look (no early stop for benefit). "
        f"Decision on day {recommended}: ship if the {_lower(text.label)} improves at p < "
        f"{text.alpha} and no guardrail is breached.",
        f"- **{sheet.pct('stage3_share', full, 0)}** after a ship decision, keeping a "
        f"{sheet.pct('holdback_share', HOLDBACK_SHARE, 0)} holdback of {units}s for "
        f"{recommended} days to confirm the effect lasts.",
        "",
    ]
    return lines, srm


def _monitoring_and_rollback(
    sheet: _Sheet,
    design: ExperimentDesign,
    text: _PlanText,
    guardrail_alerts: list[str],
    srm: str,
) -> list[str]:
    """The monitoring checklist with its alert thresholds, and the rollback criteria."""
    primary = design.primary
    consecutive = sheet.count("consecutive_days", CONSECUTIVE_DAYS, label="days in a row")
    band_level = sheet.pct("alert_band_level", design.alert_level, 0)
    primary_band = sheet.change("alert.primary", primary, design.primary_alert_band, False)
    lines = [
        "## Monitoring checklist",
        "",
        f"Daily, treatment vs control; a metric alert fires when one day's difference is "
        f"beyond the {band_level} noise band of that difference at the scope's daily volume "
        f"and the design effect of one day.",
        "",
        f"- [ ] Sample ratio mismatch: chi-square test of {text.denominator} and {text.units}s "
        f"per arm against the planned split; p < {srm} halts the test until assignment and "
        f"logging are fixed.",
        f"- [ ] {text.label}: alert if treatment is more than {primary_band} "
        f"{_worse(primary.higher_is_better)} control on a day.",
    ]
    for name, watched in design.secondary.items():
        band = sheet.change(f"alert.{name}", watched.stats, watched.alert_band, False)
        lines.append(
            f"- [ ] {_label(name)}: alert if treatment is more than {band} "
            f"{_worse(watched.stats.higher_is_better)} control on a day."
        )
    return [
        *lines,
        *(f"- [ ] Guardrail: alert if {alert}." for alert in guardrail_alerts),
        "- [ ] Data completeness: the day's orders are all resolved (delivered or canceled) "
        "before the day is read.",
        "",
        "## Rollback criteria",
        "",
        "Turn the treatment off everywhere if any of these holds:",
        "",
        f"- a sample-ratio mismatch (p < {srm}) that a logging fix does not explain;",
        f"- the {_lower(text.label)} alert fires on {consecutive} days in a row, or the "
        f"cumulative difference is worse than control at p < {text.alpha} (two-sided) on any "
        f"daily check;",
        f"- a secondary metric's alert fires on {consecutive} days in a row;",
        f"- any guardrail is breached on {consecutive} days in a row.",
        "",
    ]


def render_plan(
    design: ExperimentDesign,
    action: str,
    title: str,
    cause: str | None,
    guardrails: list[Guardrail],
) -> tuple[str, dict[str, Figure], list[dict[str, Any]]]:
    """The plan's Markdown, its figures and the power-calculation inputs (table rows).

    Each section records its numbers on one sheet as it formats them, so the sections run in
    the plan's order and the figures are listed in the order the Markdown first shows them.
    """
    sheet = _Sheet()
    text = _plan_text(sheet, design, action, title)
    lines = [*_introduction(text), *_hypothesis(sheet, design, text, cause)]
    lines += _metrics(sheet, design, text)
    guardrail_lines, guardrail_alerts = _guardrails(sheet, design, guardrails)
    unit_lines, clustering = _unit_of_randomization(sheet, design, text)
    sample = _sample(sheet, design)
    power_inputs = _power_inputs(design, text, clustering, sample)
    duration_lines, mde = _duration(sheet, design, text, sample, clustering, power_inputs)
    cuped_lines = _cuped(sheet, design, text, mde)
    rollout_lines, srm = _rollout(sheet, text)
    lines += [*guardrail_lines, *unit_lines, *duration_lines, *cuped_lines, *rollout_lines]
    lines += _monitoring_and_rollback(sheet, design, text, guardrail_alerts, srm)
    return "\n".join(lines), sheet.figures, power_inputs


def _cause_family(cause: str | None) -> Family:
    """The family of the library's actions for `cause` (those undoing it first, then those
    mitigating it), for a free-text action: a marketplace policy when none address it."""
    undoing = [spec for spec in ACTIONS.values() if cause in spec.undoes]
    mitigating = [spec for spec in ACTIONS.values() if cause in spec.mitigates]
    return next((spec.family for spec in [*undoing, *mitigating]), "marketplace_policy")


@tool
def experiment_plan(context: ToolContext, args: ExperimentPlanInput) -> ExperimentPlanOutput:
    """Write the experiment plan for an action on a scope: hypothesis, primary (CX score,
    on-time) and secondary metrics, guardrails, the unit of randomization and why, sample size
    and duration from the warehouse's own baseline, variance, ICC and design effect (with the
    CUPED option), a 10% -> 50% -> 100% rollout, a monitoring checklist with alert thresholds
    and rollback criteria. Every number in the Markdown is one of the output's figures."""
    spec = ACTIONS.get(args.action)
    if args.cause is not None and args.cause not in LIBRARY:
        raise ToolError(f"unknown cause kind {args.cause!r}; known: {', '.join(LIBRARY)}")
    title = spec.title if spec else (args.description or args.action)
    action_text = (args.description or spec.title) if spec else args.action
    family = (
        spec.family
        if spec
        else infer_family(f"{args.action} {args.description or ''}", _cause_family(args.cause))
    )
    effect = args.expected_effect
    interval = None
    if effect is not None and effect.low is not None and effect.high is not None:
        interval = (effect.low, effect.high)
    try:
        design = design_experiment(
            context.con,
            args.primary_metric,
            args.filters,
            family,
            effect=effect.estimate if effect else None,
            effect_interval=interval,
            start=args.start,
            end=args.end,
        )
    except (DesignError, MetricError, CohortError) as error:
        raise ToolError(f"experiment_plan: {error}") from None
    guardrails = list(args.guardrails or DEFAULT_GUARDRAILS)
    if spec is not None and "minutes" in spec.parameters:
        # a quote buffer raises the quoted ETA on purpose: allow it, alert beyond it
        buffer = spec.parameters["minutes"]
        guardrails = [
            g.model_copy(
                update={
                    "max_worsening": buffer + QUOTE_MARGIN_MIN,
                    "note": "the quote buffer raises it on purpose",
                }
            )
            if g.name == "quoted_eta_min"
            else g
            for g in guardrails
        ]
    markdown, figures, power_inputs = render_plan(
        design, action_text, title, args.cause, guardrails
    )
    sample = design.sample
    return ExperimentPlanOutput(
        summary=f"{design.unit.label}: {sample.n_per_arm_ceil:,} per arm to detect "
        f"{design.effect:+.4g} on {args.primary_metric} (design effect "
        f"{design.design_effect:.2f}) -> {design.duration_days} days, "
        f"{design.recommended_days} recommended"
        + (f"; variance {design.sample_note}" if design.sample_note else ""),
        action=args.action,
        title=title,
        metric=args.primary_metric,
        unit=design.unit.kind,
        unit_label=design.unit.label,
        markdown=markdown,
        numbers=figures,
        power_inputs=power_inputs,
    )
