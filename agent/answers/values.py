"""Answers about a metric's values: lookup (value vs baseline), trend (a series), compare (two
sides with a test) and rank (the worst or best groups of a dimension)."""

from __future__ import annotations

import datetime as dt

from statsmodels.stats.multitest import multipletests

from agent.answers.base import (
    HOURLY_DEFAULT_DAYS,
    HOURLY_MAX_DAYS,
    Answer,
    AnswerContext,
    failed,
    metric_of,
)
from agent.answers.change_ranking import rank_by_change
from agent.answers.format import change, cohort, figure, p_value, period, table_rows, value, when
from agent.question import ORDERS_METRIC, Period, QuestionPlan, Side
from analytics.comparisons import ranks_events
from analytics.drivers import DRIVERS
from analytics.metrics import CX_COMPONENTS, CX_SCORE, METRICS, higher_is_better, usable_metrics
from tools.base import EvidenceItem, Figure, ToolError

SIGNIFICANT_P = 0.05
MAX_PARTS = 3  # the CX score's parts a comparison lists


def label(metric: str) -> str:
    """'On-time rate', 'CX score', 'Orders'."""
    if metric == CX_SCORE:
        return "CX score"
    if metric == ORDERS_METRIC:
        return "Orders"
    return METRICS[metric].label


def named(metric: str) -> str:
    """The label inside a sentence: 'on-time rate', 'CX score', 'ETA error (MAE)', 'orders'."""
    text = label(metric)
    return text if text[:2].isupper() else text[0].lower() + text[1:]  # acronyms keep their case


def worsened(metric: str) -> str:
    """'dropped' for a metric where higher is better, 'rose' for one where lower is."""
    better_high = metric == CX_SCORE or metric not in METRICS or METRICS[metric].higher_is_better
    return "dropped" if better_high else "rose"


def _window(plan: QuestionPlan, context: AnswerContext, days: int | None = None) -> Period:
    """The plan's first period clipped to the data, or the default last days of the data."""
    if plan.period is None:
        return context.default_period(days) if days else context.default_period()
    clipped, _ = context.clip(plan.period)
    return clipped


def _clip_notes(plan: QuestionPlan, context: AnswerContext) -> list[str]:
    notes = []
    for asked in plan.periods:
        _, note = context.clip(asked)
        if note:
            notes.append(note)
    return notes


def test_text(item: EvidenceItem, prefix: str) -> str:
    """'(-5.2 pp, 95% interval -5.8 pp to -4.6 pp, p < 0.001)' or '(-0.85 points; no test)'."""
    delta = figure(item, f"{prefix}delta") or figure(item, f"{prefix}difference")
    parts = [change(delta)]
    low, high = figure(item, f"{prefix}ci_low"), figure(item, f"{prefix}ci_high")
    if low is not None and high is not None:
        parts.append(f"95% interval {change(low)} to {change(high)}")
    p = figure(item, f"{prefix}p_value")
    if p is not None and isinstance(p.value, float):
        parts.append(p_value(p.value))
    return ", ".join(parts)


def against_before(item: EvidenceItem, prefix: str, days: int) -> str:
    """'against 22.1 min over the 14 days before (-0.5 min, 95% interval ..., p = 0.2)', or,
    when those days hold no orders (a window that starts with the data), 'with no orders in the
    14 days before to compare with'."""
    baseline = figure(item, f"{prefix}baseline")
    if baseline is None or baseline.value is None:
        return f"with no orders in the {days} days before to compare with"
    return f"against {value(baseline)} over the {days} days before ({test_text(item, prefix)})"


def _significant(item: EvidenceItem, name: str) -> bool:
    p = figure(item, name)
    return p is not None and isinstance(p.value, float) and p.value < SIGNIFICANT_P


def lookup(plan: QuestionPlan, context: AnswerContext) -> Answer:
    """A metric's value for a cohort and period, beside the days before it (metric_summary); a
    driver's, where the question names one and no metric (driver_shift)."""
    if plan.driver:
        return _driver_lookup(plan, plan.driver, context)
    metric = metric_of(plan, context)
    window = _window(plan, context)
    resolved = plan.model_copy(update={"periods": [window], "metric": metric})
    start, end = window.bounds()
    asked = [context.default_metric()] if metric == ORDERS_METRIC else [metric]
    try:
        _, item = context.call(
            "metric_summary",
            {"metrics": asked, "filters": plan.filters, "start": start, "end": end},
        )
    except ToolError as error:
        return failed(resolved, context, error, f"look up {named(metric)}")
    where, when_text = cohort(plan.filters), period(window)
    days = item.args.get("baseline_days", 14)
    if metric == ORDERS_METRIC:
        text = f"Orders in {where} {when_text}: {value(figure(item, 'orders'))} orders"
        per_day, before = figure(item, "orders_per_day"), figure(item, "baseline_orders_per_day")
        if window.days > 1 and per_day is not None:
            text += f" ({value(per_day)} a day)"
        if before is not None:  # a day's count against a day's, not against 14 days' sum
            with_orders = figure(item, "baseline_days_with_orders")
            partly = (
                f", on the {value(with_orders)} of them with orders"
                if with_orders is not None and float(with_orders.value) < days
                else ""
            )
            text += (
                f", against {value(before)} a day over the {days} days before "
                f"({value(figure(item, 'baseline_orders'))} orders{partly}) [{item.id}]."
            )
        else:
            text += f", with no orders in the {days} days before to compare with [{item.id}]."
    else:
        key = f"{metric}."
        text = (
            f"{label(metric)} in {where} {when_text}: {value(figure(item, key + 'value'))}"
            f"{_sign_meaning(metric, figure(item, key + 'value'))} over "
            f"{value(figure(item, 'orders'))} orders, {against_before(item, key, days)} "
            f"[{item.id}]."
        )
        if plan.count and figure(item, key + "events") is not None and METRICS[metric].event_phrase:
            text = _event_count(item, key, metric, f"in {where} {when_text}") + text
        text += _verdict(item, key, metric, when_text)
    return Answer(
        text=text, resolved=resolved, table=table_rows(item.table), notes=_clip_notes(plan, context)
    )


def _sign_meaning(metric: str, found: Figure | None) -> str:
    """' (earlier than quoted on average)' after a signed mean's value; '' for other metrics."""
    signs = METRICS[metric].signs if metric in METRICS else None  # the CX score is unsigned
    if signs is None or found is None or isinstance(found.value, str) or found.value == 0:
        return ""
    return f" ({signs[0] if found.value > 0 else signs[1]} on average)"


def _driver_lookup(plan: QuestionPlan, driver: str, context: AnswerContext) -> Answer:
    """A driver's mean over the period against the days before it (driver_shift), or its
    registry stand-in's where the data lacks it (on-shift dashers for online ones)."""
    window = _window(plan, context)
    resolved = plan.model_copy(update={"periods": [window], "driver": driver})
    start, end = window.bounds()
    spec = DRIVERS[driver]
    try:
        _, item = context.call(
            "driver_shift", {"driver": driver, "filters": plan.filters, "start": start, "end": end}
        )
    except ToolError as error:
        if spec.stand_in:
            notes = [f"{spec.label.lower()}: {error}; read {DRIVERS[spec.stand_in].label.lower()}"]
            instead = plan.model_copy(update={"driver": spec.stand_in})
            answer = _driver_lookup(instead, spec.stand_in, context)
            answer.notes[:0] = notes
            return answer
        return failed(resolved, context, error, f"look up {spec.label.lower()}")
    days = item.args.get("baseline_days", 14)
    unit = " miles" if spec.unit == "miles" else ""  # minutes and shares show their own
    text = (
        f"{spec.label} in {cohort(plan.filters)} {period(window)}: "
        f"{value(figure(item, 'incident'))}{unit} against {value(figure(item, 'baseline'))}{unit} "
        f"over the {days} days before ({change(figure(item, 'delta'))}, z "
        f"{value(figure(item, 'z'))}, {p_value(float(item.figures['p_value'].value))}) "
        f"[{item.id}]."
    )
    text += (  # driver_shift always tests
        " The change is unlikely to be chance."
        if _significant(item, "p_value")
        else " The difference is within what chance alone gives."
    )
    notes = [
        *_clip_notes(plan, context),
        "a driver of the metrics, not a metric: its value is not part of the CX score",
    ]
    return Answer(text=text, resolved=resolved, notes=notes)


def _event_count(item: EvidenceItem, key: str, metric: str, where: str) -> str:
    """'2,011 orders in ... were canceled [E1]. '; for a rate of good events, both sides ('18,318
    of the 21,165 orders ... counted in the on-time rate arrived on time and 2,847 did not'), so
    'how many were late?' is answered as well as 'how many were on time?'."""
    phrase = METRICS[metric].event_phrase
    events, others = figure(item, key + "events"), figure(item, key + "non_events")
    if METRICS[metric].higher_is_better and others is not None:
        return (
            f"{value(events)} of the {value(figure(item, key + 'n'))} orders {where} counted in "
            f"the {named(metric)} {phrase} and {value(others)} did not [{item.id}]. "
        )
    return f"{value(events)} orders {where} {phrase} [{item.id}]. "


def _verdict(item: EvidenceItem, key: str, metric: str, when_text: str) -> str:
    """What the test says, in words; nothing claimed where no test ran."""
    if figure(item, key + "p_value") is None:
        return " No significance test ran (too few days to compare)." if metric == CX_SCORE else ""
    if not _significant(item, key + "p_value"):
        return " The difference is within what chance alone gives."
    if _worse(metric, item, key + "delta"):
        return (
            f" That is a significant change for the worse: ask why it {worsened(metric)} "
            f"{when_text} for a diagnosis."
        )
    return " That is a significant change for the better."


def _worse(metric: str, item: EvidenceItem, name: str) -> bool:
    delta = figure(item, name)
    if delta is None or isinstance(delta.value, str):
        return False
    return (delta.value < 0) == higher_is_better(metric) and delta.value != 0


def trend(plan: QuestionPlan, context: AnswerContext) -> Answer:
    """A metric per hour, day or week over a range (cx_timeseries), with its extremes."""
    metric = metric_of(plan, context)
    notes = _clip_notes(plan, context)
    window = plan.period
    if window is not None:
        window, _ = context.clip(window)
    grain = plan.grain or ("hour" if window is not None and window.days <= 2 else "day")
    if window is None:
        days = HOURLY_DEFAULT_DAYS if grain == "hour" else None
        window = context.default_period(days) if days else context.data_span()
    if grain == "hour" and window.days > HOURLY_MAX_DAYS:
        notes.append(f"an hourly series over {window.describe()} is long; showing its last days")
        last_days = dt.timedelta(days=HOURLY_MAX_DAYS - 1)
        window = Period(start=window.end - last_days, end=window.end)
    resolved = plan.model_copy(update={"periods": [window], "metric": metric, "grain": grain})
    if grain == "week":
        notes.extend(_partial_weeks(window))
    start, end = window.bounds()
    series = [context.default_metric()] if metric == ORDERS_METRIC else [metric]
    try:
        _, item = context.call(
            "cx_timeseries",
            {
                "metrics": series,
                "grain": grain,
                "filters": plan.filters,
                "start": start,
                "end": end,
            },
        )
    except ToolError as error:
        return failed(resolved, context, error, f"chart {named(metric)}")
    where = cohort(plan.filters)
    rows = item.table or []
    column = "orders" if metric == ORDERS_METRIC else metric
    chart = {"x": "period", "y": column, "label": label(metric), "grain": grain}
    if metric == ORDERS_METRIC:
        periods = figure(item, "orders.periods")
        mean = (
            f"{value(figure(item, 'orders.mean'))} on average over the {grain}s with orders "
            f"({value(periods)} of them), "
            if periods is not None and periods.value != 1
            else ""
        )
        text = (
            f"Orders per {grain} in {where} {period(window)}: {mean}fewest "
            f"{value(figure(item, 'orders.min'))} "
            f"({_period_label(figure(item, 'orders.min_period'), grain)}), most "
            f"{value(figure(item, 'orders.max'))} "
            f"({_period_label(figure(item, 'orders.max_period'), grain)}) [{item.id}]."
        )
        return Answer(text=text, resolved=resolved, table=rows, chart=chart, notes=notes)
    key = f"{metric}."
    if figure(item, key + "overall") is None:  # no period holds a value: say why
        why = figure(item, key + "unavailable") or figure(item, "cx_coverage")
        text = f"{label(metric)} in {where} per {grain} {period(window)}: no values [{item.id}]"
        text += f"; {why.value} [{item.id}]." if why is not None else "."
        return Answer(text=text, resolved=resolved, table=rows, chart=chart, notes=notes)
    low, high = figure(item, key + "min_period"), figure(item, key + "max_period")
    lowest, highest = figure(item, key + "min"), figure(item, key + "max")
    precise = value(lowest) == value(highest)  # one decimal would show a flat line
    text = (
        f"{label(metric)} in {where} per {grain} {period(window)}: "
        f"{value(figure(item, key + 'overall'), precise)} over the whole range [{item.id}]; "
        f"lowest {value(lowest, precise)} ({_period_label(low, grain)}), highest "
        f"{value(highest, precise)} ({_period_label(high, grain)}) [{item.id}]; from "
        f"{value(figure(item, key + 'first'), precise)} in the first {grain} to "
        f"{value(figure(item, key + 'last'), precise)} in the last [{item.id}]."
    )
    text += _trend_sentence(item, metric, grain)
    return Answer(text=text, resolved=resolved, table=rows, chart=chart, notes=notes)


def _partial_weeks(window: Period) -> list[str]:
    """A note when a weekly series' first or last week (Monday to Sunday) is cut by the range:
    its value rests on fewer days than the others'."""
    first = 7 - window.start.weekday()
    last = window.end.weekday() + 1
    if window.start.isocalendar()[:2] == window.end.isocalendar()[:2]:
        return []  # one week: nothing to set it against
    cut = [
        f"the first (from {window.start:%a %b} {window.start.day}) holds {first} of its 7 days"
        if first < 7
        else "",
        f"the last (to {window.end:%a %b} {window.end.day}) {last}" if last < 7 else "",
    ]
    shown = " and ".join(part for part in cut if part)
    return [f"partial weeks: {shown}; their values rest on fewer orders"] if shown else []


TREND_P = 0.05
_EVERY = {"hour": "hourly", "day": "daily", "week": "weekly"}


def _trend_sentence(item: EvidenceItem, metric: str, grain: str) -> str:
    """' Trend: ... getting worse / better / no clear trend' from the series' Theil-Sen line and
    Mann-Kendall test ('' for a series too short or flat to have one)."""
    key = f"{metric}."
    p_figure = figure(item, key + "trend_p")
    moved = figure(item, key + "trend_change")
    if p_figure is None or moved is None or isinstance(moved.value, str):
        return ""
    periods = value(figure(item, key + "trend_periods"))
    if float(p_figure.value) >= TREND_P:
        verdict = "no steady trend"
    else:
        verdict = (
            "getting better" if (moved.value > 0) == higher_is_better(metric) else "getting worse"
        )
    return (
        f" Trend over the {periods} {_EVERY[grain]} values: {change(moved)} from the first to the "
        "last along "
        f"a Theil-Sen line (95% interval {change(figure(item, key + 'trend_low'))} to "
        f"{change(figure(item, key + 'trend_high'))}), Mann-Kendall "
        f"{p_value(float(p_figure.value))}: {verdict} (a heuristic: {grain}s read as "
        f"independent) [{item.id}]."
    )


def _period_label(found: Figure | None, grain: str) -> str:
    """'Jan 4, 2026', 'Jan 4, 2026 18:00' or 'the week of Dec 29, 2025'."""
    if found is None:
        return "n/a"
    text = str(found.value)
    try:
        shown = when(text)
    except ValueError:
        return text
    return f"the week of {shown}" if grain == "week" else shown


def compare(plan: QuestionPlan, context: AnswerContext, with_parts: bool = True) -> Answer:
    """Two sides (cohorts and/or periods) with the difference and a test (compare_metric); a CX
    score with no test of its own (a side of one day) is followed by its parts that moved beyond
    chance, unless `with_parts` is False (the caller lists them)."""
    metric = metric_of(plan, context)
    if metric == ORDERS_METRIC:
        metric = context.default_metric()
    if len(plan.sides) != 2:
        text = (
            "Which two should I compare? Name two cohorts ('grocery vs convenience', 'north vs "
            "south') or two periods ('last week vs the week before')."
        )
        return Answer(text=text, resolved=plan)
    sides = []
    for side in plan.sides:
        window = side.period or plan.period or context.default_period()
        window, _ = context.clip(window)
        sides.append(side.model_copy(update={"period": window}))
    earlier, later = (side.period for side in sides)
    if earlier is not None and later is not None and earlier.start > later.start:
        sides.reverse()  # "Jan 4 vs the week before": the difference reads later minus earlier
    resolved = plan.model_copy(update={"sides": sides, "metric": metric})
    try:
        _, item = context.call("compare_metric", {"metric": metric, "sides": _arguments(sides)})
    except ToolError as error:
        return failed(resolved, context, error, f"compare {named(metric)}")
    first, second = sides
    text = (
        f"{label(metric)}: {_side_text(first)} {value(figure(item, 'a.value'))} over "
        f"{value(figure(item, 'a.orders'))} orders, {_side_text(second)} "
        f"{value(figure(item, 'b.value'))} over {value(figure(item, 'b.orders'))} orders "
        f"[{item.id}]. {_side_label(second, first)} minus {_side_label(first, second)}: "
        f"{test_text(item, '')} [{item.id}]."
    )
    allowed: list[str] = []
    if figure(item, "p_value") is None:
        text += f" No significance test ran: {value(figure(item, 'untested'))} [{item.id}]."
        if metric == CX_SCORE and with_parts:  # its parts are tested order by order
            parts, allowed = parts_moved(sides, context)
            text += parts
    elif _significant(item, "p_value"):
        text += " The difference is unlikely to be chance."
    else:
        text += " The difference is within what chance alone gives."
    return Answer(
        text=text,
        resolved=resolved,
        table=table_rows(item.table),
        notes=_clip_notes(plan, context),
        allowed=allowed,
    )


def _arguments(sides: list[Side]) -> list[dict[str, object]]:
    """compare_metric's sides."""
    return [
        {"label": side.label, "filters": side.filters, "start": side.period.bounds()[0],
         "end": side.period.bounds()[1]}
        for side in sides if side.period is not None
    ]  # fmt: skip


def parts_moved(sides: list[Side], context: AnswerContext) -> tuple[str, list[str]]:
    """' Of the CX score's parts, these moved beyond chance (Holm over the 6 tested): the
    on-time rate 89.6% to 86.5% (-3.0 pp, ..., p < 0.001) [E3]; ...' between two resolved sides
    (side 2 - side 1), the smallest p-value first; parts a side cannot measure are left out.
    Also the count tested, which the text states without a cite."""
    tested = []
    for name in CX_COMPONENTS:
        try:
            _, item = context.call("compare_metric", {"metric": name, "sides": _arguments(sides)})
        except ToolError:
            continue
        p = figure(item, "p_value")
        if p is not None and isinstance(p.value, float):
            tested.append((p.value, name, item))
    if not tested:
        return "", []
    # Two periods: how the parts moved; two cohorts over one period: how they differ.
    verb = "moved" if sides[0].period != sides[1].period else "differ"
    alone = len(usable_metrics(context.tools.con, CX_COMPONENTS)) == 1
    if alone and len(tested) == 1:  # the score is that part alone (the data measures no other)
        _, name, item = tested[0]
        how = {
            ("moved", True): "moved",
            ("moved", False): "did not move",
            ("differ", True): "differs",
            ("differ", False): "does not differ",
        }[verb, _significant(item, "p_value")]
        sides_text = f"{value(figure(item, 'a.value'))} to {value(figure(item, 'b.value'))}"
        return (
            f" The CX score here is its {named(name)} alone (the data measures no other part),"
            f" which {how} beyond chance: {sides_text} ({test_text(item, '')}) [{item.id}].",
            [],
        )
    tested.sort(key=lambda found: (found[0], found[1]))
    rejected = multipletests([p for p, _, _ in tested], alpha=SIGNIFICANT_P, method="holm")[0]
    moved = [(name, item) for (_, name, item), hit in zip(tested, rejected, strict=True) if hit]
    scope = f"Holm over the {len(tested)} tested"
    if not moved:
        return f" None of the CX score's parts {verb} beyond chance ({scope}).", [str(len(tested))]
    listed = [
        f"the {named(name)} {value(figure(item, 'a.value'))} to {value(figure(item, 'b.value'))}"
        f" ({test_text(item, '')}) [{item.id}]"
        for name, item in moved[:MAX_PARTS]
    ]
    text = f" Of the CX score's parts, these {verb} beyond chance ({scope}): {'; '.join(listed)}."
    return text, [str(len(tested))]


def _group_name(dimension: str, item: EvidenceItem, index: int) -> str:
    """How a ranked group is written: 'north', 'S00042', 'hour=18', 'Jan 4, 2026'."""
    if dimension == "day":
        return value(figure(item, f"r{index}.day"))
    if dimension == "hour":
        return value(figure(item, f"r{index}.cohort"))
    return value(figure(item, f"r{index}.name"))


def _volume(orders: str, plan: QuestionPlan) -> str:
    """' of 844 orders' after a count, ' (844 orders)' after a rate."""
    return f" of {orders} orders" if plan.count else f" ({orders} orders)"


def _standing_out(
    item: EvidenceItem, rows: list[tuple[int, str]], metric: str
) -> tuple[list[str], list[str]]:
    """The shown groups that differ from the rest of the cohort (BH q < 0.05): worse, better."""
    higher_is_better = metric in (CX_SCORE, ORDERS_METRIC) or METRICS[metric].higher_is_better
    worse: list[str] = []
    better: list[str] = []
    for index, name in rows:
        q, versus = figure(item, f"r{index}.q_value"), figure(item, f"r{index}.vs_rest")
        if q is None or versus is None or isinstance(versus.value, str):
            continue
        if float(q.value) < SIGNIFICANT_P and versus.value:
            (better if (versus.value > 0) == higher_is_better else worse).append(name)
    return worse, better


def _close(item: EvidenceItem, count: int) -> bool:
    """Whether the ranked shares lie so close that one decimal would show them equal."""
    shares = [
        float(found.value)
        for index in range(1, count + 1)
        if (found := figure(item, f"r{index}.value")) is not None and found.unit == "share"
    ]
    return len(shares) > 1 and len({f"{100 * share:.1f}" for share in shares}) < len(shares)


def _side_label(side: Side, other: Side) -> str:
    """How a difference names a side: by what sets it apart from the other side."""
    when_text = side.period.describe() if side.period else ""
    if side.filters == other.filters:
        return when_text
    if side.period == other.period or not when_text:
        return cohort(side.filters)
    return f"{cohort(side.filters)} {when_text}"


def _side_text(side: Side) -> str:
    where = cohort(side.filters)
    when_text = period(side.period) if side.period else ""
    return f"{where} {when_text}".strip()


def _share(share: Figure | None) -> str:
    """' (48.1% of the orders)' after a group's order count; '' without its share."""
    return f" ({value(share)} of the orders)" if share is not None else ""


def rank(plan: QuestionPlan, context: AnswerContext) -> Answer:
    """The worst or best groups of a dimension by a metric or an event count (rank_cohorts)."""
    metric = metric_of(plan, context)
    dimension = plan.dimension or "store"
    # Days of the week need several weeks to compare, and the busiest or worst day is sought
    # over all of them; other groups, the last week of data.
    window = (
        _window(plan, context)
        if plan.period or dimension not in ("weekday", "day")
        else context.data_span()
    )
    order = plan.order or "worst"
    if plan.by_change and metric != ORDERS_METRIC and not plan.count:
        if len(plan.periods) == 2:  # "... on Jan 4 compared with the Sunday before"
            earlier, later = sorted(plan.periods, key=lambda p: p.start)
            window, _ = context.clip(later)
            return rank_by_change(plan, context, metric, window, order, earlier)
        return rank_by_change(plan, context, metric, window, order)
    resolved = plan.model_copy(
        update={"periods": [window], "metric": metric, "dimension": dimension, "order": order}
    )
    start, end = window.bounds()
    arguments = {
        "dimension": dimension, "metric": metric, "count": plan.count, "order": order,
        "k": plan.k or 5, "filters": plan.filters, "start": start, "end": end,
    }  # fmt: skip
    try:
        _, item = context.call("rank_cohorts", arguments)
    except ToolError as error:
        return failed(resolved, context, error, f"rank {dimension} groups")
    rows = []
    for index in range(1, (plan.k or 5) + 1):
        name = figure(item, f"r{index}.name")
        if name is None:
            break
        rows.append((index, _group_name(dimension, item, index)))
    precise = _close(item, len(rows))
    shown = [
        f"{name} {value(figure(item, f'r{index}.value'), precise)}"
        + (
            _share(figure(item, f"r{index}.share"))
            if metric == ORDERS_METRIC
            else _volume(value(figure(item, f"r{index}.orders")), plan)
        )
        for index, name in rows
    ]
    worse, better = _standing_out(item, rows, metric)
    phrase = METRICS[metric].event_phrase if metric in METRICS else ""
    counted = ranks_events(metric, plan.count)
    measure = (
        f"number of orders that {phrase}"
        if counted and phrase
        else f"number of orders counted in the {named(metric)}"
        if counted
        else named(metric)
    )
    if not shown:
        text = (
            f"No {dimension} group in {cohort(plan.filters)} {period(window)} has enough orders "
            f"to rank (at least {value(figure(item, 'min_orders'))} orders) [{item.id}]."
        )
        return Answer(text=text, resolved=resolved)
    excluded = figure(item, "excluded_groups")
    rule = f"groups with at least {value(figure(item, 'min_orders'))} orders"
    if excluded is not None and excluded.value:
        groups = "group" if excluded.value == 1 else "groups"
        rule += f"; {value(excluded)} smaller {groups} left out"
    text = (
        f"{order.capitalize()} {dimension} groups by {measure} in {cohort(plan.filters)} "
        f"{period(window)} ({rule}) [{item.id}]: {'; '.join(shown)} [{item.id}]."
    )
    overall = figure(item, "overall.value")
    if overall is not None:
        text += f" The whole cohort: {value(overall, precise)} [{item.id}]."
    if rows and figure(item, "r1.q_value") is not None:
        if not (worse or better):
            text += (
                " None of them differs from the rest of the cohort beyond chance once multiple "
                "comparisons are corrected for."
            )
        for names, how in ((worse, "worse"), (better, "better")):
            if names:
                text += (
                    f" {how.capitalize()} than the rest of the cohort beyond chance (multiple "
                    f"comparisons corrected): {', '.join(names)} [{item.id}]."
                )
    return Answer(
        text=text, resolved=resolved, table=table_rows(item.table), notes=_clip_notes(plan, context)
    )
