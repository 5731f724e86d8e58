"""Answers about the answers and the agent: explain (how a cited number or a metric was
computed), sql (read-only SQL shown and run), help (what the world holds, what can be asked) and
out-of-scope (a short reply, no tools)."""

from __future__ import annotations

import json
import re

from agent.answers.base import Answer, AnswerContext, failed, metric_of
from agent.answers.format import change, day, figure, value
from agent.answers.values import label, named
from agent.question import CONFIDENCE, ORDERS_METRIC, QuestionPlan
from analytics.cohorts import CohortError, world_dimensions
from analytics.metrics import CX_COMPONENTS, CX_SCORE, METRICS, degenerate_metrics
from analytics.queries import described_query
from analytics.ranking import WEIGHTS, formula
from tools.base import REGISTRY, EvidenceItem, Figure, ToolError
from tools.hypotheses import LIBRARY

MAX_SHOWN_FIGURES = 12
EXAMPLES = (
    "how are we doing?",
    "why did CX drop yesterday?",
    "what was the on-time rate in grocery last week?",
    "show on-time by day for the last two weeks",
    "compare grocery and convenience cancellations last week",
    "which stores were worst for on-time yesterday?",
    "what drives delivery time?",
    "were there any incidents last week?",
    "what changed last week, and what did the batching change do?",
    "what if we pad ETAs for grocery by a few minutes?",
    "write an experiment plan for peak pay at dinner",
    "how did you compute the on-time rate?",
    "give me the SQL for cancellations by region last week",
)
CAPABILITIES = (
    "I answer questions about this marketplace's orders with the warehouse's own numbers, each "
    "cited to the tool call that produced it: how the marketplace is doing (the headline metric "
    "and the incidents), why a metric dropped (a diagnosis with causes, fixes and an experiment "
    "plan), a metric's value against its baseline, a trend by hour, day or week, a comparison of "
    "two cohorts or periods with a test, the worst or best stores, regions, categories, hours or "
    "dayparts, what drives a metric across orders, the incidents and logged changes in a period "
    "and a change's effect, what-ifs of an action with your parameters, experiment plans, how a "
    "number was computed, and read-only SQL."
)


def explain(plan: QuestionPlan, context: AnswerContext) -> Answer:
    """How a cited number (by evidence id or by its value) or a metric was computed."""
    ledger = context.tools.ledger
    item = None
    if plan.number == CONFIDENCE:
        return _confidence(plan, ledger.items)
    if plan.cause:
        return _cause_verdict(plan, context)
    if plan.evidence_id:
        item = next((i for i in ledger.items if i.id == plan.evidence_id), None)
        if item is None:
            known = f"E1 to E{len(ledger.items)}" if ledger.items else "none yet"
            text = (
                f"There is no {plan.evidence_id} in this conversation (evidence so far: {known})."
            )
            return Answer(text=text, resolved=plan)
    elif plan.number:
        item = _holding(ledger.items, plan.number)
        if item is None and plan.metric is None:
            text = (
                f"No evidence item of this conversation holds {plan.number}; ask about an evidence "
                "id (e.g. E2) or a metric (e.g. how is the on-time rate computed?)."
            )
            return Answer(text=text, resolved=plan)
    if item is not None:
        return _explain_item(plan, item)
    metric = metric_of(plan, context)
    if metric == ORDERS_METRIC:
        metric = "cx_score"
    try:
        output, found = context.call("metric_definition", {"metric": metric})
    except ToolError as error:
        return failed(plan, context, error, f"explain {metric}")
    text = f"{label(metric)}: {value(figure(found, 'definition')).rstrip('.')} [{found.id}]."
    weight = figure(found, "cx_weight")
    if weight is not None:
        text += f" It weighs {value(weight)} in the CX score [{found.id}]."
    weights = [(n, f) for n, f in found.figures.items() if n.startswith("weight.")]
    if weights:
        parts = ", ".join(f"{named(n.split('.', 1)[1])} {value(f)}" for n, f in weights)
        text += f" Weights: {parts} [{found.id}]."
    test = getattr(output, "test", "")
    if test:
        text += f" Comparisons of it use {test.removeprefix('compared with ')}."
    example = getattr(output, "example_sql", "")
    if example:
        text += f"\n\nThe query behind it, per day:\n\n```sql\n{example}\n```"
    return Answer(text=text, resolved=plan.model_copy(update={"metric": metric}))


def _confidence(plan: QuestionPlan, items: list[EvidenceItem]) -> Answer:
    """How sure the latest cause ranking is: the leading cause's confidence, what the score is
    made of (its components, cited) and how it is computed (a heuristic, quoted), the runner-up
    and the tests behind it."""
    ranking = _latest_ranking(items)
    if ranking is None:
        text = (
            "No cause has been ranked in this conversation yet, so there is no confidence to "
            "explain: ask why a metric dropped first (e.g. why did CX drop yesterday?)."
        )
        return Answer(text=text, resolved=plan)
    rows = [r for r in ranking.table or [] if r.get("status") in ("supported", "weak")]
    if not rows:
        text = (
            f"The ranking supports no cause of the library [{ranking.id}]: no hypothesis's "
            "primary driver moved the expected way beyond chance, so there is nothing to be "
            "sure of yet."
        )
        return Answer(text=text, resolved=plan.model_copy(update={"evidence_id": ranking.id}))
    top, cite = rows[0], f"[{ranking.id}]"
    kind = top["cause"]
    parts = ", ".join(
        f"{name.replace('_', ' ')} {_score(found)}"
        for name in (*WEIGHTS, "refuting_penalty", "change_bonus")
        if (found := figure(ranking, f"{kind}.{name}")) is not None
    )
    lines = [
        f"The leading cause, {_cause(kind)}, has confidence "
        f"{_score(figure(ranking, f'{kind}.confidence'))} ({top['status']}) {cite}. "
        f"It is made of: {parts} {cite}."
    ]
    if len(rows) > 1:
        other = rows[1]["cause"]
        lines.append(
            f"Next: {_cause(other)} at {_score(figure(ranking, f'{other}.confidence'))} {cite}."
        )
    evidence = top.get("evidence") or ""
    if evidence:
        lines.append(f"The tests behind it: {evidence} (ask 'explain E..' for any of them).")
    lines.append(
        "The confidence is a documented heuristic, not a probability:\n\n"
        f"```text\n{formula()}\n(each part is a score from 0 to 1)\n```"
    )
    return Answer(
        text=" ".join(lines[:-1]) + "\n\n" + lines[-1],
        resolved=plan.model_copy(update={"evidence_id": ranking.id}),
    )


_VERDICTS = {"supported": "supported", "weak": "weakly supported", "ruled_out": "ruled out",
             "not_testable": "not testable on this data"}  # fmt: skip


def _cause_verdict(plan: QuestionPlan, context: AnswerContext) -> Answer:
    """What the thread's diagnosis found of one cause ('was it the dashers?'): its status and
    confidence in the ranking, and the checks behind it, each cited."""
    kind = plan.cause or ""
    ranking = _latest_ranking(context.tools.ledger.items)
    incident = context.incident
    found = next((c for c in (incident.ranked if incident else []) if c["kind"] == kind), None)
    if ranking is None or incident is None or found is None:
        text = (
            f"No diagnosis in this conversation has tested {_cause(kind)} yet: ask why a metric "
            "dropped first (e.g. why did CX drop yesterday?)."
        )
        return Answer(text=text, resolved=plan)
    verdict = _VERDICTS.get(found["status"], found["status"].replace("_", " "))
    confidence = figure(ranking, f"{kind}.confidence")
    text = f"{LIBRARY[kind].title}: {verdict}"
    if confidence is not None and found["status"] in ("supported", "weak"):
        text += f", confidence {_score(confidence)}"
    text += f", in the diagnosis of {incident.incident_id} [{ranking.id}]."
    reasons = [r for r in found.get("reasons", []) if r]
    if reasons:
        text += " What was checked: " + "; ".join(reasons) + "."
    leading = incident.causes
    if leading and leading[0]["kind"] != kind:
        text += f" The leading cause is {_cause(leading[0]['kind'])} [{ranking.id}]."
    return Answer(text=text, resolved=plan.model_copy(update={"evidence_id": ranking.id}))


def _latest_ranking(items: list[EvidenceItem]) -> EvidenceItem | None:
    """The conversation's latest cause ranking (rank_causes), if any."""
    return next((i for i in reversed(items) if i.ok and i.tool == "rank_causes"), None)


def _score(found: Figure | None) -> str:
    """A 0-1 score at two decimals, as the diagnosis writes confidences."""
    return "n/a" if found is None or isinstance(found.value, str) else f"{found.value:.2f}"


def _cause(kind: str) -> str:
    """A cause kind as an answer names it ('batching policy: more orders batched, ...')."""
    return LIBRARY[kind].title[0].lower() + LIBRARY[kind].title[1:] if kind in LIBRARY else kind


def _holding(items: list[EvidenceItem], number: str) -> EvidenceItem | None:
    """The first evidence item with a figure written as `number` ('67.1%', '5,340', '2.56'):
    where it was computed (a later tool may carry it on: the experiment plan sizes its test
    from the slice's on-time rate)."""
    wanted = re.sub(r"[\s,$+]|points?$|pp$|min$", "", number.lower())
    for item in items:
        if not item.ok:
            continue
        for found in item.figures.values():
            shown = re.sub(r"[\s,$+]|points?$|pp$|min$", "", value(found).lower())
            if shown and (shown == wanted or shown.rstrip("%") == wanted.rstrip("%")):
                return item
    if number == "last":
        return next((item for item in reversed(items) if item.ok), None)
    return None


_DIFFERENCES = ("delta", "difference", "ci_low", "ci_high", "vs_rest", "estimate", "low", "high")


def _shown(name: str, found: Figure) -> str:
    """A figure in a listing: differences signed ('-6.2 pp'), values as values ('81.3%')."""
    return change(found) if name.rsplit(".", 1)[-1] in _DIFFERENCES else value(found)


def _explain_item(plan: QuestionPlan, item: EvidenceItem) -> Answer:
    """An evidence item's tool, arguments, method, figures and SQL."""
    tool = REGISTRY.get(item.tool)
    arguments = json.dumps(item.args, default=str, sort_keys=True)
    lines = [f"{item.id} is a call to `{item.tool}`: {item.summary} [{item.id}]."]
    lines.append(f"\nIts arguments:\n\n```json\n{arguments}\n```")
    if tool is not None:
        lines.append(
            f"\nWhat the tool does (its documentation):\n\n```text\n{tool.description}\n```"
        )
    shown = list(item.figures.items())[:MAX_SHOWN_FIGURES]
    if shown:
        lines.append("\nIts figures, the only numbers an answer may cite from it:\n")
        lines += [f"- {name}: {_shown(name, found)} [{item.id}]" for name, found in shown]
        if len(item.figures) > MAX_SHOWN_FIGURES:
            lines.append("- and the rest in the evidence inspector")
    if item.sql:
        lines.append(f"\nThe SQL it ran:\n\n```sql\n{item.sql}\n```")
    # The summary is quoted as the tool wrote it: its own numbers ('fitted on about 20,000 of
    # 37,953 orders', 'hourly detection: 100% of the hours') need no figure of their own; nor
    # do the dates in figure names ('orders@2025-12-24').
    return Answer(
        text="\n".join(lines),
        resolved=plan.model_copy(update={"evidence_id": item.id}),
        allowed=[item.summary, *(name for name, _ in shown)],
    )


def sql(plan: QuestionPlan, context: AnswerContext) -> Answer:
    """The user's SELECT, or a query written for the described question, checked and run
    read-only; with nothing described, the SQL behind the conversation's answers so far."""
    if plan.sql is None and not (plan.metric or plan.dimension or plan.periods or plan.filters):
        return _sql_so_far(plan, context)
    queries = [plan.sql] if plan.sql else []
    notes: list[str] = []
    resolved = plan
    if not queries:
        window = context.clip(plan.period)[0] if plan.period else context.default_period()
        resolved = plan.model_copy(update={"periods": [window]})
        start, end = window.bounds()
        metric = metric_of(plan, context)
        left_out = degenerate_metrics(context.tools.con)
        dimensions = world_dimensions(context.tools.con)
        try:
            queries.append(
                described_query(
                    metric,
                    start,
                    end,
                    plan.filters,
                    plan.dimension,
                    left_out=left_out,
                    dimensions=dimensions,
                )  # fmt: skip
            )
        except CohortError as error:
            return Answer(text=f"I could not write that query: {error}.", resolved=resolved)
    answers = []
    for query in queries:
        try:
            output, item = context.call("run_sql", {"sql": query, "reason": "asked in the chat"})
        except ToolError as error:
            notes.append(f"a query was refused: {error}")
            if plan.sql:
                return failed(plan, context, error, "run that query")
            continue
        rows = getattr(output, "row_count", 0)
        more = (
            " (more rows exist: it was cut at the row cap)"
            if getattr(output, "truncated", False)
            else ""
        )
        counted = f"{rows} row, which is" if rows == 1 else f"{rows} rows, which are"
        answers.append(
            f"The query ran read-only and returned {counted} in the table{more} [{item.id}]."
            f"\n\n```sql\n{item.sql}\n```"
        )
        return Answer(text=answers[0], resolved=resolved, table=item.table, notes=notes)
    return Answer(text="No query could be run; " + "; ".join(notes), resolved=resolved, notes=notes)


def _sql_so_far(plan: QuestionPlan, context: AnswerContext) -> Answer:
    items = context.tools.ledger.items
    with_sql = [item for item in items if item.sql][-5:]
    calls = "\n".join(
        f"{item.id} {item.tool}({json.dumps(item.args, default=str, sort_keys=True)[:160]})"
        for item in items[-60:]
    )
    if not items:
        text = (
            "Nothing has run in this conversation yet. Ask a question first, or describe a query: "
            "e.g. give me the SQL for cancellations by region last week."
        )
        return Answer(text=text, resolved=plan)
    text = (
        "Every number in this conversation came from these tool calls, in order:\n\n```text\n"
        + calls
        + "\n```"
    )
    if with_sql:
        blocks = "\n\n".join(
            f"{item.id} ({item.tool}):\n```sql\n{item.sql}\n```" for item in with_sql
        )
        text += "\n\nThe SQL they ran (latest last):\n\n" + blocks
    return Answer(text=text, resolved=plan)


def help_answer(plan: QuestionPlan, context: AnswerContext) -> Answer:
    """What the world holds (describe_world) and what can be asked."""
    try:
        output, item = context.call("describe_world", {})
    except ToolError as error:
        return failed(plan, context, error, "describe the data")
    unavailable = getattr(output, "metrics_unavailable", {})
    scored = any(part not in unavailable for part in CX_COMPONENTS)  # else no CX score at all
    metrics = [*([CX_SCORE] if scored else []), *METRICS]
    readable = ", ".join(named(m) for m in metrics if m not in unavailable)
    computed = f" Metrics it computes: {readable}." + (
        " Not available here: "
        + ", ".join(f"{m} (no {', '.join(n)})" for m, n in unavailable.items())
        + "."
        if unavailable
        else ""
    )
    text = (
        f"This world holds {value(figure(item, 'orders'))} orders from "
        f"{day(figure(item, 'data_start'))} to {day(figure(item, 'data_end'))}, in regions "
        f"{value(figure(item, 'regions'))} and categories {value(figure(item, 'categories'))}, "
        f"from {value(figure(item, 'stores'))} stores, with {value(figure(item, 'changes'))} "
        f"logged changes [{item.id}].{computed}\n\n{CAPABILITIES}\n\nFor example:\n"
        + "\n".join(f"- {example}" for example in EXAMPLES)
    )
    return Answer(text=text, resolved=plan, table=item.table)


def out_of_scope(plan: QuestionPlan, context: AnswerContext) -> Answer:
    """A short reply naming what the agent can do (after why not, when the reader said why);
    no tool runs."""
    lead = (
        f"I cannot answer that: {plan.problem}."
        if plan.problem
        else "That is outside what I can answer."
    )
    text = f"{lead} " + CAPABILITIES + " Try: " + "; ".join(EXAMPLES[:4]) + "."
    return Answer(text=text, resolved=plan)
