"""The drivers answer: what drives a metric across orders (key_drivers), the model's ranking of
dimensions, the groups that differ most from the rest, and where the two readings disagree."""

from __future__ import annotations

from agent.answers.base import Answer, AnswerContext, failed, metric_of
from agent.answers.format import cohort, figure, period, table_rows, value
from agent.answers.values import named
from agent.question import QuestionPlan
from analytics.metrics import CX_SCORE, METRICS, usable_metrics
from tools.base import EvidenceItem, ToolError

SHOWN_DRIVERS = 3
SHOWN_GROUPS = 4
# A metric with a value per order stands in for the CX score (which has none), first supported.
PER_ORDER_DEFAULTS = ("on_time_rate", "duration_min", "cancellation_rate")


def _metric(plan: QuestionPlan, context: AnswerContext) -> tuple[str, list[str]]:
    """The metric analysed and a note when it stands in for the CX score or order counts."""
    asked = metric_of(plan, context)
    if asked in METRICS:
        return asked, []
    usable = usable_metrics(context.tools.con, PER_ORDER_DEFAULTS)
    chosen = usable[0] if usable else "duration_min"
    what = "the CX score" if asked == CX_SCORE else "order counts"
    return chosen, [f"{what} has no value per order; analysed {named(chosen)} instead"]


def _amount(item: EvidenceItem, name: str) -> str:
    """An unsigned amount in the metric's unit: '2.7 min', '3.1 pp'."""
    found = figure(item, name)
    if found is not None and found.unit == "share" and not isinstance(found.value, str):
        return f"{100 * found.value:.1f} pp"
    return value(found)


def _drivers_text(item: EvidenceItem, metric: str) -> str:
    shown = []
    for rank in range(1, SHOWN_DRIVERS + 1):
        name = figure(item, f"d{rank}.name")
        if name is None:
            break
        shown.append(f"{value(name)} ({_amount(item, f'd{rank}.attribution')})")
    if not shown:
        return ""
    fitted, orders = figure(item, "model_orders"), figure(item, "orders")
    sampled = (
        f", fitted on {value(fitted)} of the {value(orders)} orders, a sample drawn by order id"
        if fitted is not None and orders is not None and fitted.value != orders.value
        else ""
    )
    return (
        f" Holding every other dimension fixed (one regression on all of them{sampled}), the "
        f"dimensions that move an order's {named(metric)} most, by their mean contribution, are "
        f"{', '.join(shown)} [{item.id}]."
    )


def _asked_text(item: EvidenceItem, output: object, asked: list[str]) -> str:
    """' Of the dimensions asked about, by mean contribution: road_traffic 2.7 min, the largest
    of all (its group most apart: road_traffic=Jam 31.5 min vs 24.0 min for the rest, 13,589
    orders); weather 1.6 min, behind ... [E1].' A dimension the model could not use is said so."""
    rows = {row.dimension: row for row in getattr(output, "drivers", [])}
    groups = list(enumerate(getattr(output, "groups", []), start=1))
    found = sorted((rows[name] for name in asked if name in rows), key=lambda row: row.rank)
    missing = [name for name in asked if name not in rows]
    if not found:
        return f" {', '.join(missing)}: not analysed (see the notes)." if missing else ""
    ranked = [r.dimension for r in sorted(rows.values(), key=lambda r: r.rank)]
    shown = []
    for row in found:
        ahead = ranked[: row.rank - 1]
        place = (
            "the largest of all" if row.rank == 1
            else f"behind {', '.join(ahead[:3])}{' and others' if len(ahead) > 3 else ''}"
        )  # fmt: skip
        text = f"{row.dimension} {_amount(item, f'd{row.rank}.attribution')}, {place}"
        own = [(i, g) for i, g in groups if g.dimension == row.dimension]
        if own:
            index, _ = max(own, key=lambda pair: abs(pair[1].difference))
            key = f"g{index}"
            text += (
                f" (its group most apart: {value(figure(item, f'{key}.cohort'))} "
                f"{value(figure(item, f'{key}.value'))} vs {value(figure(item, f'{key}.rest'))} "
                f"for the rest, {value(figure(item, f'{key}.orders'))} orders)"
            )
        shown.append(text)
    absent = f"; {', '.join(missing)} not analysed" if missing else ""
    about = "the dimensions asked about" if len(asked) > 1 else "the dimension asked about"
    return f" Of {about}, by mean contribution: {'; '.join(shown)}{absent} [{item.id}]."


def _groups_text(item: EvidenceItem) -> str:
    shown = []
    for index in range(1, SHOWN_GROUPS + 1):
        q, threshold = figure(item, f"g{index}.q_value"), figure(item, "significance")
        if q is None or threshold is None or float(q.value) >= float(threshold.value):
            break
        shown.append(
            f"{value(figure(item, f'g{index}.cohort'))} {value(figure(item, f'g{index}.value'))}"
            f" vs {value(figure(item, f'g{index}.rest'))} for the rest "
            f"({value(figure(item, f'g{index}.orders'))} orders)"
        )
    if not shown:
        return " No group differs from the rest beyond chance once multiple tests are corrected."
    return (
        f" Groups that differ most from the rest of the cohort (Benjamini-Hochberg q < "
        f"{value(figure(item, 'significance'))} over "
        f"{value(figure(item, 'tests'))} tests of groups with at least "
        f"{value(figure(item, 'min_support'))} orders): {'; '.join(shown)} [{item.id}]."
    )


def _disagreements(item: EvidenceItem, output: object) -> str:
    """Dimensions whose raw group differences and model attribution disagree."""
    sentences = []
    rows = getattr(output, "drivers", [])
    # The largest gaps between the readings first.
    for row in sorted(rows, key=lambda r: -abs(r.marginal_spread - r.attribution)):
        if row.agreement == "agree":
            continue
        key = f"d{row.rank}"
        raw, held = _amount(item, f"{key}.marginal"), _amount(item, f"{key}.attribution")
        strength = value(figure(item, f"{key}.association"))
        along = f"; it goes with {row.associated} (Cramér's V {strength})" if row.associated else ""
        if row.agreement == "confounded":
            sentences.append(
                f"{row.dimension}'s groups differ by {raw} on average, but only {held} remains "
                f"with the other dimensions held fixed{along}"
            )
        else:
            sentences.append(
                f"{row.dimension} matters more ({held}) once the other dimensions are held fixed "
                f"than its raw group differences show ({raw}){along}"
            )
    if not sentences:
        return " The per-group tests and the model agree on every dimension."
    return f" Where the two readings disagree: {'; '.join(sentences[:3])} [{item.id}]."


def drivers(plan: QuestionPlan, context: AnswerContext) -> Answer:
    """The key drivers of a metric over every dimension, built-in and custom (key_drivers)."""
    metric, notes = _metric(plan, context)
    window = context.clip(plan.period)[0] if plan.period else context.data_span()
    resolved = plan.model_copy(update={"metric": metric, "periods": [window]})
    start, end = window.bounds()
    arguments = {"metric": metric, "filters": plan.filters, "start": start, "end": end}
    try:
        output, item = context.call("key_drivers", arguments)
    except ToolError as error:
        return failed(resolved, context, error, f"find what drives {named(metric)}")
    text = (
        f"What drives {named(metric)} in {cohort(plan.filters)} {period(window)}: "
        f"{value(figure(item, 'orders'))} orders, overall {value(figure(item, 'overall.value'))} "
        f"[{item.id}]."
    )
    text += _drivers_text(item, metric)
    text += _asked_text(item, output, plan.dimensions)
    text += _groups_text(item)
    text += _disagreements(item, output)
    left_out = getattr(output, "left_out", {})
    if left_out:
        notes.append(f"not analysed: {', '.join(f'{k} ({v})' for k, v in left_out.items())}")
    # Group names are data ('multiple_deliveries=2', 'courier_age=<25'), not figures.
    labels = [str(f.value) for name, f in item.figures.items() if name.endswith(".cohort")]
    return Answer(
        text=text, resolved=resolved, table=table_rows(item.table), notes=notes, allowed=labels
    )
