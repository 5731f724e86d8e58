"""The experiment_plan tool: a Markdown test plan for an action, with every number from the
warehouse-based design (analytics.experiment_design) exposed as a figure."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from analytics.cohorts import CohortError
from analytics.experiment_design import (
    MAX_DAYS,
    PRIMARY_METRICS,
    DesignError,
    ExperimentDesign,
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


def render_plan(
    design: ExperimentDesign,
    action: str,
    title: str,
    cause: str | None,
    guardrails: list[Guardrail],
) -> tuple[str, dict[str, Figure], list[dict[str, Any]]]:
    """The plan's Markdown, its figures and the power-calculation inputs (table rows)."""
    s = _Sheet()
    primary = design.primary
    label = _label(design.metric)
    units = {"switchback": "region-window", "store": "store", "user": "customer"}[design.unit.kind]
    denominator = "delivered orders" if design.metric == "on_time_rate" else "orders"
    scope = s.text("scope", _scope_text(design.filters))
    history_days = s.count("history_days", primary.history_days, label="days of history")
    history = (
        f"{s.when('history_start', design.history_start.date())} to "
        f"{s.when('history_last_day', (design.history_end - dt.timedelta(days=1)).date())}"
    )
    action_text = s.text("action", action)
    title_text = s.text("title", title)
    unit_label = s.text("unit_label", design.unit.label)
    s.number("alpha", design.alpha, 3)
    s.number("power", design.power, 3)
    alpha, power = f"{design.alpha:g}", f"{design.power:g}"
    min_days = s.count("min_days", design.min_days, label="minimum days")
    recommended = s.count("recommended_days", design.recommended_days, label="recommended days")
    lines: list[str] = [f"# Experiment plan: {title_text}", ""]
    lines.append(
        f"**Action:** {action_text} · **Scope:** {scope} · **Primary metric:** {label} · "
        f"**Unit:** {unit_label}"
    )
    lines.append("")
    status = ""
    if design.status_quo is not None:
        status = (
            f" The control arm keeps the status quo measured from "
            f"{s.when('status_quo_start', design.status_quo[0])} to "
            f"{s.when('status_quo_end', design.status_quo[1])}."
        )
    lines += [
        f"Estimated from the {history_days} days of orders in scope from {history}.{status}",
        "",
    ]

    # Hypothesis
    level = s.level("baseline", primary)
    effect = s.change("effect", primary, design.effect)
    if design.effect_source == "what-if":
        source = "the what-if estimate"
        if design.effect_low is not None and design.effect_high is not None:
            interval = s.pct("interval_level", INTERVAL_LEVEL, 0)
            source += (
                f", {interval} interval {s.change('effect_low', primary, design.effect_low)} "
                f"to {s.change('effect_high', primary, design.effect_high)}"
            )
    else:
        lift = s.pct("default_relative_lift", abs(design.relative_lift), 0)
        source = f"a {lift} relative change, the default detectable effect"
    history_note = ""
    if design.status_quo is not None:
        history_note = f"; {s.level('history_level', primary, primary.history_level)} before"
    because = ""
    if cause in LIBRARY:
        because = f" because it addresses the cause {cause} ({LIBRARY[cause].title.lower()})"
    lines += [
        "## Hypothesis",
        "",
        f"If we {s.text('action_phrase', action[:1].lower() + action[1:])} in {scope}, the "
        f"{_lower(label)} "
        f"will {'rise' if design.effect > 0 else 'fall'} from {level} (status "
        f"quo{history_note}) by {effect} ({source}){because}.",
        "",
        f"- Null hypothesis: treatment and control have the same {_lower(label)}.",
        f"- Alternative: they differ; a two-sided z-test at alpha {alpha} with power {power}, "
        f"errors clustered by {units}.",
        "",
    ]

    # Metrics
    def metric_line(stats: MetricStats, role: str, key: str, mde_value: float) -> str:
        better = "rise" if stats.higher_is_better else "fall"
        return (
            f"- **{_label(stats.metric)}** ({role}): status quo {s.level(key, stats)}; "
            f"the test detects a {better} of "
            f"{s.change(f'mde.{stats.metric}', stats, mde_value, False)} in {recommended} days."
        )

    co_primary = CX_SCORE if design.metric != CX_SCORE else "on_time_rate"
    lines += ["## Primary metrics", ""]
    lines.append(metric_line(primary, "primary, decides the test", "baseline", design.mde.effect))
    if co_primary in design.secondary:
        other = design.secondary[co_primary]
        lines.append(
            metric_line(
                other.stats,
                "co-primary, reported with the decision",
                f"level.{co_primary}",
                other.mde.effect,
            )
        )
    lines += ["", "## Secondary metrics", ""]
    for name, watched in design.secondary.items():
        if name != co_primary:
            mde_value = watched.mde.effect
            lines.append(metric_line(watched.stats, "secondary", f"level.{name}", mde_value))
    lines += ["", "## Guardrails", ""]
    guardrail_lines, guardrail_alerts = [], []
    baselines = design.guardrail_baselines
    for guard in guardrails:
        key = f"guardrail.{guard.name}"
        shown = guard.label or guard.name.replace("_", " ")
        if guard.threshold_unit == "relative":
            limit = s.pct(f"{key}.threshold", guard.max_worsening, 1)
        elif guard.threshold_unit == "minutes":
            limit = s.minutes(f"{key}.threshold", guard.max_worsening)
        elif guard.threshold_unit == "pp":
            limit = s.pp(f"{key}.threshold", guard.max_worsening, signed=False)
        else:
            limit = f"${s.number(f'{key}.threshold', guard.max_worsening, 2)}"
        rule = f"more than {limit} {_worse(guard.higher_is_better)} control"
        if guard.name in baselines:
            value = baselines[guard.name]
            if guard.name == "orders_per_day":
                now = f"{s.count(f'{key}.baseline', value, 'orders')} orders per day"
            elif guard.name.endswith("_min"):
                now = s.minutes(f"{key}.baseline", value)
            else:
                now = s.number(f"{key}.baseline", value, 2)
            measured = f"now {now}" + (f" ({guard.note})" if guard.note else "")
        else:
            measured = guard.note or "not in the warehouse: measure it from its own source"
        guardrail_lines.append(f"- **{shown}**: {measured}; alert if {rule}.")
        guardrail_alerts.append(f"{shown} is {rule}")
    lines += [*guardrail_lines, ""]
    if "deliveries_per_dasher_hour" in baselines:
        lines += [
            "Deliveries per dasher hour are delivered orders per online dasher hour in the "
            "scope's regions and hours over all categories (dashers are shared).",
            "",
        ]

    # Unit of randomization
    cluster_size = s.number("cluster_size", primary.cluster_size, 1, unit="orders")
    effective = s.number(
        "cluster_size_effective",
        primary.effective_cluster_size(design.duration_days),
        1,
        unit="orders",
    )
    icc_used = max(primary.icc, 0.0)
    icc_text = s.number("icc", icc_used, 4)
    raw = ""
    if primary.icc < 0:
        raw = f" (raw estimate {s.number('icc_raw', primary.icc, 4)}, clamped at zero)"
    lines += [
        "## Unit of randomization",
        "",
        f"**{unit_label}** (a cluster in the data: {design.unit.cluster}).",
        "",
        design.unit.reason,
        "",
    ]
    if design.unit.kind == "switchback":
        hours = s.count("switchback_hours", design.switchback_hours, label="hours per window")
        delivery = design.guardrail_baselines.get("delivery_min")
        carry = ""
        if delivery:
            ratio = s.number("window_to_delivery_ratio", design.switchback_hours * 60 / delivery, 1)
            carry = (
                f" A {hours}-hour window is {ratio}x the mean delivery time of "
                f"{s.minutes('delivery_min', delivery)}, so few orders straddle a switch."
            )
        per_day = s.number("units_per_day", design.units, 1)
        per_arm = s.number("units_per_arm", design.units_per_arm, 1)
        lines += [
            f"Each day every region's window is assigned to treatment or control at random, "
            f"balanced by region and weekday.{carry} The scope has {per_day} region-windows a "
            f"day: {per_arm} per arm in {recommended} days.",
            "",
        ]
    else:
        seen = s.count("units_in_scope", design.units, label=f"{units}s in the history")
        lines += [
            f"Assignment is by a hash of the {units} id, fixed for the whole test; "
            f"{seen} {units}s ordered in the scope in the {history_days} history days.",
            "",
        ]
    deff = s.number("design_effect", design.design_effect, 2)
    lines += [
        f"Clustering: ICC {icc_text}{raw} by one-way ANOVA over "
        f"{s.count('clusters', primary.clusters)} {design.unit.cluster}s of the history, "
        f"{cluster_size} {denominator} per cluster on average (CV "
        f"{s.number('cluster_cv', primary.cluster_cv, 2)}; size-weighted {effective} over "
        f"{s.count('duration_days', design.duration_days, label='planned days')} days), so the "
        f"design effect is {deff}.",
        "",
    ]

    # Duration and sample size
    sample = design.sample
    daily = s.count("daily_volume", primary.daily_volume, "orders")
    n_arm = s.count("n_per_arm", sample.n_per_arm_ceil, "orders")
    n_order_level = s.count("n_per_arm_unadjusted", sample.n_per_arm_unadjusted, "orders")
    n_total = s.count("n_total", sample.n_total, "orders")
    sd = s.number("sd", primary.sd, 3 if primary.kind == "proportion" else 2)
    test = (
        "two-sample z-test on proportions (Cohen's h)"
        if primary.kind == "proportion"
        else "two-sample z-test on means (delta-method per-order sd)"
    )
    power_inputs = [
        {"input": "test", "value": test},
        {"input": "alpha (two-sided)", "value": alpha},
        {"input": "power", "value": power},
        {"input": "baseline (control)", "value": level},
        {"input": "per-order sd", "value": sd},
        {"input": "effect to detect", "value": effect},
        {"input": "ICC", "value": icc_text},
        {"input": "design effect", "value": deff},
        {"input": f"daily {denominator} in scope", "value": daily},
    ]
    lines += [
        "## Duration and sample size",
        "",
        "| Power calculation input | Value |",
        "|---|---|",
        *(f"| {row['input']} | {row['value']} |" for row in power_inputs),
        "",
    ]
    sd_note = (
        "the per-order sd of a proportion at the baseline"
        if primary.kind == "proportion"
        else "the sd of each order's delta-method influence on the CX score (Deng et al.)"
    )
    lines.append(
        f"The sd is {sd_note}. Sample size: {n_arm} {denominator} per arm ({n_order_level} for "
        f"an order-level test times the design effect {deff}), {n_total} in all."
    )
    if design.days_required is not None:
        needed = s.count("days_required", design.days_required, label="days to collect")
        lines.append(
            f"At {daily} {denominator} a day that takes {needed} {_days(design.days_required)};"
            f" the duration is the "
            f"larger of that and the {min_days}-day minimum (a full weekly cycle): "
            f"{s.count('duration_days', design.duration_days)} days. Recommended: "
            f"{recommended} days, two weekly cycles."
        )
    else:
        cap = s.count("max_days", MAX_DAYS, label="days")
        lines.append(
            f"The scope cannot reach this sample within {cap} days at {daily} {denominator} "
            f"a day with this unit: plan the recommended {recommended} days and read the "
            "detectable effect below."
        )
    mde = s.change("mde", primary, design.mde.effect, signed=False)
    detect = f"In {recommended} days the minimum detectable effect is {mde}"
    if design.power_at_low is not None and design.effect_conservative is not None:
        detect += (
            f"; if the effect is only the interval's end nearest zero "
            f"({s.change('effect_conservative', primary, design.effect_conservative)}) the "
            f"power is {s.number('power_at_low', design.power_at_low, 3)}"
        )
    lines += [f"{detect}.", ""]
    reduction = primary.cuped_reduction
    if primary.cuped is not None:
        cuped = primary.cuped
        cuped_n = s.count("cuped_n_per_arm", design.cuped_sample.n_per_arm_ceil, "orders")
        cuped_days = s.count("cuped_duration_days", design.cuped_duration_days)
        cuped_mde = s.change("cuped_mde", primary, design.mde_cuped.effect, signed=False)
        saving = design.duration_days - design.cuped_duration_days
        if saving > 0:
            buys = f"it shortens the test by {s.count('cuped_days_saved', saving)} days"
        elif cuped_mde == mde:
            buys = "too small a gain to change the plan"
        else:
            buys = (
                f"the {min_days}-day minimum still binds, so it buys no time here but lowers "
                f"the detectable effect in {recommended} days from {mde} to {cuped_mde}"
            )
        correlation = (
            f"the correlation between {s.count('cuped_pairs', cuped.pairs)} {units}s' values "
            f"in consecutive weeks is {s.number('cuped_correlation', cuped.correlation, 3)}, "
            f"and {s.pct('cuped_coverage', primary.cuped_coverage, 1)} of the last week's "
            f"{denominator} have a previous-week value"
        )
        if reduction > 0:
            estimate = (
                f"Estimated variance reduction {s.pct('cuped_reduction', reduction, 1)} "
                f"({correlation}; squared and shrunk for the number of pairs). With it: "
                f"{cuped_n} {denominator} per arm and {cuped_days} days; {buys}."
            )
        else:
            s.pct("cuped_reduction", 0.0, 1)
            estimate = (
                f"Here {correlation}: no stable {units} effect to adjust for, so the plan "
                "assumes no reduction; keep the covariate in the analysis anyway (it costs "
                "nothing if it does not help)."
            )
        lines += [
            f"**CUPED option** (Deng et al.): use each {units}'s value in the previous week as "
            f"a covariate. {estimate}",
            "",
        ]
    else:
        lines += [
            f"**CUPED option**: not estimable here (fewer than {s.count('cuped_weeks', 2)} "
            f"weeks of history or too few {units}s seen in both weeks); plan without it.",
            "",
        ]

    # Rollout plan
    first, middle, full = ROLLOUT_STAGES
    ramp = s.count("ramp_days", RAMP_DAYS, label="days at the first stage")
    srm = s.number("srm_p_value", SRM_P_VALUE, 3)
    lines += [
        "## Rollout plan",
        "",
        f"- **{s.pct('stage1_share', first, 0)} of {units}s treated** for {ramp} days, a "
        f"safety ramp outside the analysis. Checkpoint: no sample-ratio mismatch, no alert "
        f"fired, guardrails within their thresholds; then widen.",
        f"- **{s.pct('stage2_share', middle, 0)}** (the experiment) for {recommended} days. "
        f"Checkpoint on day {min_days}: a harm-only look (no early stop for benefit). Decision "
        f"on day {recommended}: ship if the {_lower(label)} improves at p < {alpha} and no "
        f"guardrail is breached.",
        f"- **{s.pct('stage3_share', full, 0)}** after a ship decision, keeping a "
        f"{s.pct('holdback_share', HOLDBACK_SHARE, 0)} holdback of {units}s for "
        f"{recommended} days to confirm the effect lasts.",
        "",
    ]

    # Monitoring checklist
    consecutive = s.count("consecutive_days", CONSECUTIVE_DAYS, label="days in a row")
    band_level = s.pct("alert_band_level", design.alert_level, 0)
    lines += [
        "## Monitoring checklist",
        "",
        f"Daily, treatment vs control; a metric alert fires when one day's difference is "
        f"beyond the {band_level} noise band of that difference at the scope's daily volume "
        f"and the design effect of one day.",
        "",
        f"- [ ] Sample ratio mismatch: chi-square test of {denominator} and {units}s per arm "
        f"against the planned split; p < {srm} halts the test until assignment and logging "
        f"are fixed.",
        f"- [ ] {label}: alert if treatment is more than "
        f"{s.change('alert.primary', primary, design.primary_alert_band, False)} "
        f"{_worse(primary.higher_is_better)} control on a day.",
    ]
    for name, watched in design.secondary.items():
        band = s.change(f"alert.{name}", watched.stats, watched.alert_band, False)
        lines.append(
            f"- [ ] {_label(name)}: alert if treatment is more than {band} "
            f"{_worse(watched.stats.higher_is_better)} control on a day."
        )
    lines += [f"- [ ] Guardrail: alert if {alert}." for alert in guardrail_alerts]
    lines += [
        "- [ ] Data completeness: the day's orders are all resolved (delivered or canceled) "
        "before the day is read.",
        "",
        "## Rollback criteria",
        "",
        "Turn the treatment off everywhere if any of these holds:",
        "",
        f"- a sample-ratio mismatch (p < {srm}) that a logging fix does not explain;",
        f"- the {_lower(label)} alert fires on {consecutive} days in a row, or the cumulative "
        f"difference is worse than control at p < {alpha} (two-sided) on any daily check;",
        f"- a secondary metric's alert fires on {consecutive} days in a row;",
        f"- any guardrail is breached on {consecutive} days in a row.",
        "",
    ]
    return "\n".join(lines), s.figures, power_inputs


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
    family = infer_family(" ".join([args.action, title, args.description or ""]), args.cause)
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
        f"{design.recommended_days} recommended",
        action=args.action,
        title=title,
        metric=args.primary_metric,
        unit=design.unit.kind,
        unit_label=design.unit.label,
        markdown=markdown,
        numbers=figures,
        power_inputs=power_inputs,
    )
