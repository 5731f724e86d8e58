"""The answer to 'which region got worse the most last week?': groups ranked by how much the
metric moved from the period before (rank_changes), with the groups whose move is beyond chance."""

from __future__ import annotations

import datetime as dt

from agent.answers.base import Answer, AnswerContext, failed
from agent.answers.format import change, cohort, figure, period, table_rows, value
from agent.question import Order, Period, QuestionPlan
from analytics.metrics import CX_SCORE, METRICS, higher_is_better
from tools.base import EvidenceItem, ToolError

SIGNIFICANT_Q = 0.05


def previous_period(window: Period) -> Period:
    """The period as long as `window`, just before it."""
    days = dt.timedelta(days=window.days)
    return Period(start=window.start - days, end=window.end - days, label="the period before")


def _group(dimension: str, item: EvidenceItem, index: int) -> str:
    """'north', 'S00042', or 'hour=18' for hours."""
    name = "cohort" if dimension == "hour" else "name"
    return value(figure(item, f"r{index}.{name}"))


def _beyond_chance(
    item: EvidenceItem, count: int, metric: str, dimension: str
) -> tuple[list[str], list[str]]:
    """The listed groups whose move is beyond chance (BH q < 0.05): worse, better."""
    worse: list[str] = []
    better: list[str] = []
    for index in range(1, count + 1):
        q, moved = figure(item, f"r{index}.q_value"), figure(item, f"r{index}.change")
        if q is None or moved is None or isinstance(moved.value, str) or not moved.value:
            continue
        if float(q.value) < SIGNIFICANT_Q:
            improved = (moved.value > 0) == higher_is_better(metric)
            (better if improved else worse).append(_group(dimension, item, index))
    return worse, better


def _moved(item: EvidenceItem, metric: str, order: Order, index: int = 1) -> bool:
    """Whether the listed group `index` moved the asked way (worse for worst, better for
    best)."""
    moved = figure(item, f"r{index}.change")
    if moved is None or isinstance(moved.value, str) or not moved.value:
        return False
    return ((moved.value > 0) == higher_is_better(metric)) == (order == "best")


def rank_by_change(
    plan: QuestionPlan,
    context: AnswerContext,
    metric: str,
    window: Period,
    order: Order,
    against: Period | None = None,
) -> Answer:
    """The groups of the plan's dimension by the change of `metric` from the period before
    `window` to `window`: the earlier period `against` when given and as long as `window` (the
    tool compares periods of one length), else the one just before it, with a note."""
    dimension = plan.dimension or "region"
    before = previous_period(window)
    notes = []
    if against is not None and against.days == window.days:
        before = against
    elif against is not None:
        notes.append(
            f"{against.describe()} is not a period as long as {window.describe()} before it; "
            f"compared with {before.describe()}, the days just before it"
        )
    periods = [window] if against is None else [window, before]
    resolved = plan.model_copy(
        update={"periods": periods, "metric": metric, "dimension": dimension, "order": order}
    )
    start, end = window.bounds()
    arguments = {
        "dimension": dimension, "metric": metric, "order": order, "k": plan.k or 5,
        "filters": plan.filters, "start": start, "end": end,
        "previous_start": before.bounds()[0],
    }  # fmt: skip
    try:
        _, item = context.call("rank_changes", arguments)
    except ToolError as error:
        return failed(resolved, context, error, f"rank {dimension} groups by change")
    count = len(item.table or [])  # the ranked rows
    named = METRICS[metric].label.lower() if metric in METRICS else "CX score"
    cite = f"[{item.id}]"
    if not count:
        text = (
            f"No {dimension} group in {cohort(plan.filters)} has enough orders in both periods "
            f"(at least {value(figure(item, 'min_orders'))} in each) {cite}."
        )
        return Answer(text=text, resolved=resolved, notes=notes)
    shown = [
        f"{_group(dimension, item, i)} {change(figure(item, f'r{i}.change'))} "
        f"({value(figure(item, f'r{i}.before'))} to {value(figure(item, f'r{i}.after'))})"
        for i in range(1, count + 1)
    ]
    where = (
        f"in {cohort(plan.filters)} {period(window)} against {before.describe()} (groups with at "
        f"least {value(figure(item, 'min_orders'))} orders in each) {cite}"
    )
    if order in ("worst", "best") and not _moved(item, metric, order):
        text = (
            f"No {dimension} group's {named} {'got worse' if order == 'worst' else 'improved'} "
            f"{where}; the changes, {'smallest gain' if order == 'worst' else 'least loss'} "
            f"first: {'; '.join(shown)} {cite}."
        )
    else:
        how = {"worst": "that got worse the most", "best": "that improved the most"}.get(
            order, f"by change, {order} first"
        )
        asked = [i for i in range(1, count + 1) if order not in ("worst", "best")
                 or _moved(item, metric, order, i)]  # fmt: skip
        listed = "; ".join(shown[i - 1] for i in asked)
        text = f"{dimension.capitalize()} groups {how} in the {named}, {where}: {listed} {cite}."
        others = [shown[i - 1] for i in range(1, count + 1) if i not in asked]
        if others:  # listed after them, but moved the other way (or not at all)
            other_way = "improved or held" if order == "worst" else "got worse or held"
            text += f" The next ones {other_way}: {'; '.join(others)} {cite}."
    text += (
        f" The whole cohort: {value(figure(item, 'overall.before'))} to "
        f"{value(figure(item, 'overall.after'))} {cite}."
    )
    if metric == CX_SCORE:
        text += (
            " A group's CX score change is not tested; ask for a rate (e.g. the on-time rate) "
            "to see which moves are beyond chance."
        )
    else:
        worse, better = _beyond_chance(item, count, metric, dimension)
        if not (worse or better):
            text += " None of these moves is beyond chance once multiple comparisons are corrected."
        for names, word in ((worse, "worse"), (better, "better")):
            if names:
                text += (
                    f" Got {word} beyond chance (multiple comparisons corrected): "
                    f"{', '.join(names)} {cite}."
                )
    return Answer(text=text, resolved=resolved, table=table_rows(item.table), notes=notes)
