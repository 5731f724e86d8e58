"""No answer, note or tool summary prints None, NaN, inf, n/a or an empty cohort, whatever the data
lacks: a small demo world is ingested again through mappings that leave out every optional table
and column (each at least once), map columns to constants or to nothing, and every question kind
is asked of each; every tool of the registry must have been summarized along the way."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.answers import ANSWERS
from agent.facts import Facts
from agent.narrative import template_narrative
from agent.service import Agent
from agent.settings import AgentSettings
from data.ingest import ingest
from data.mapping import REQUIRED_COLUMNS
from data.schema import TABLES
from tests.conftest import ScenarioFactory, WorldFactory
from tools.base import REGISTRY, ToolContext, ToolError

# One question per answer kind, and the diagnosis; the world is the demo (Dec 6 - Jan 5).
QUESTIONS = (
    "why did CX drop on Jan 4?",
    "why did delivery times get worse on Jan 4?",
    "what was the on-time rate in grocery yesterday?",
    "what's the cancellation rate in the north over the last 10 days?",
    "show the CX score by day for the last two weeks",
    "compare grocery and convenience on-time rate last week",
    "which stores were worst for on-time yesterday?",
    "which regions got worse the most for on-time last week?",
    "what drives late orders in grocery?",
    "any incidents this week?",
    "what changed last week?",
    "did the batching change hurt on-time?",
    "what if we lower the batching threshold in grocery?",
    "write an experiment plan for lowering the batching threshold",
    "how is the refund rate defined?",
    "give me the SQL for cancellation rate by region this week",
    "how many orders did we get last week?",
    "hello",
    "write me a poem about groceries",
)
FOLLOW_UPS = (
    "what if we add dashers?",
    "write the experiment plan",
    "show me the SQL",
    "how sure are you?",
)
FORBIDDEN = re.compile(
    r"\bNone\b(?! of\b)|\b(nan|NaN)\b|(?<![\w.])-?inf\b|\bInfinity\b|\bn/a\b|"  # never filled
    r"\b(region|category|store|store_id|daypart|hour|basket_size)=(?=$|[\s,;.)\]])"  # no value
)
OPTIONAL_TABLES = tuple(name for name, table in TABLES.items() if table.optional)


def _columns(table: str, drop: frozenset[str] = frozenset()) -> dict[str, str]:
    """Our column -> the same column in the generated Parquet file, without `drop`."""
    return {c: c for c in TABLES[table].column_names if c not in drop}


# Each variant: the tables it leaves out, the columns it leaves out, columns mapped to an
# expression (constants, nulls). Together they leave out every optional table and column.
VARIANTS: dict[str, dict[str, Any]] = {
    "bare": {  # orders and deliveries with their keys, times and arrival only
        "tables": OPTIONAL_TABLES,
        "keep": {"orders": ("order_id", "order_time"), "deliveries": ("order_id", "actual_eta")},
    },
    "doordash_like": {  # no quotes, items, tickets, ratings; market state per order
        "tables": OPTIONAL_TABLES,
        "drop": {
            "orders": {"promised_eta", "eta_model_version", "user_id"},
            "deliveries": {
                "dasher_wait",
                "merchant_prep_time",
                "distance",
                "batched_flag",
                "pickup_time",
                "delivery_time",
            },
        },
        "expressions": {
            "deliveries": {"canceled_flag": "false"},
            "orders": {"category": "coalesce(NULLIF(category, 'retail'), 'unknown')"},
        },
    },  # fmt: skip
    "no_cohorts": {  # every table, but no cohorts on orders and no arrival times
        "tables": (),
        "drop": {
            "orders": {"store_id", "region", "category", "basket_value"},
            "stores": {"region", "category", "name"},
            "deliveries": {"actual_eta", "pickup_time", "delivery_time"},
        },
    },  # fmt: skip
    "thin_tables": {  # every table, with only its keys and the columns nothing else needs
        "tables": ("changes", "dasher_supply"),
        "drop": {
            "items": {
                "sku_id",
                "ordered_qty",
                "unit_price",
                "substituted_flag",
                "missing_flag",
                "refund_amount",
            },
            "inventory_events": {"in_stock_prob", "oos_flag"},
            "support_events": {"issue_type", "ticket_created"},
            "ratings": {"stars", "free_text", "rating_time"},
            "deliveries": {
                "canceled_flag",
                "onshift_dashers",
                "busy_dashers",
                "outstanding_orders",
            },
        },
        "expressions": {"orders": {"region": "CAST(NULL AS VARCHAR)"}},
    },  # fmt: skip
    "keys_only_logs": {  # every table, the logs with little beyond their keys
        "tables": (),
        "drop": {
            "changes": {
                "change_time",
                "kind",
                "name",
                "scope",
                "old_value",
                "new_value",
                "description",
            },
            "dasher_supply": {"online_dashers", "open_orders"},
            "weather": {"condition", "precipitation_mm", "wind_kph"},
            "items": {"order_id"},
            "inventory_events": {"sku_id", "store_id", "event_time"},
            "support_events": {"order_id"},
            "ratings": {"order_id"},
        },
    },
    "degenerate_outcomes": {  # every table; flags and ratings that never vary
        "tables": ("stores", "inventory_events"),
        "expressions": {
            "deliveries": {"batched_flag": "false", "canceled_flag": "true AND order_id < ''"},
            "ratings": {"stars": "5"},
            "orders": {"eta_model_version": "'v1'"},
        },
    },
}


def _mapping(parquet: Path, variant: dict[str, Any]) -> dict[str, Any]:
    tables = {}
    for name in TABLES:
        if name in variant.get("tables", ()) or not (parquet / f"{name}.parquet").exists():
            continue
        keep = variant.get("keep", {}).get(name)
        columns = (
            {c: c for c in keep}
            if keep
            else _columns(name, frozenset(variant.get("drop", {}).get(name, ())))
        )
        columns.update(variant.get("expressions", {}).get(name, {}))
        tables[name] = {"source": str(parquet / f"{name}.parquet"), "columns": columns}
    return {"source_timezone": "UTC", "local_timezone": "UTC", "tables": tables}


def test_variants_leave_out_every_optional_table_and_column() -> None:
    left_out_tables = {t for variant in VARIANTS.values() for t in variant.get("tables", ())}
    assert left_out_tables == set(OPTIONAL_TABLES)
    for table in ("orders", "deliveries", *OPTIONAL_TABLES):
        optional = set(TABLES[table].column_names) - set(REQUIRED_COLUMNS[table])
        left_out = set()
        for variant in VARIANTS.values():
            keep = variant.get("keep", {}).get(table)
            left_out |= (
                (optional - set(keep)) if keep else set(variant.get("drop", {}).get(table, ()))
            )
        assert left_out == optional, table


@pytest.fixture(scope="module")
def parquet(small_scenario: ScenarioFactory, make_world: WorldFactory) -> Path:
    """The small demo world (shared with other tests): its Parquet tables feed every variant."""
    return make_world(small_scenario("demo"))


def _sensitivity(world: Path, results: list[dict[str, Any]]) -> tuple[bool, str]:
    """The sensitivity tool (the offline path never calls it) over the diagnosed incident's
    what-if scope: whether it ran, and its summary or its refusal."""
    scope = next(
        (item["args"] for r in results for item in r["evidence"] if item["tool"] == "what_if"),
        {"start": "2026-01-04T00:00", "end": "2026-01-06T00:00"},
    )
    context = ToolContext(world_dir=world)
    try:
        arguments = {k: scope[k] for k in ("filters", "start", "end") if k in scope}
        output, _ = context.call("sensitivity", {**arguments, "values": [0.2, 0.5]})
        return True, output.summary
    except ToolError as error:
        return False, str(error)
    finally:
        context.close()


@pytest.fixture(scope="module")
def texts(parquet: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Per variant and question: the answer, notes, plan and evidence summaries; tools seen."""
    collected: dict[str, list[tuple[str, str]]] = {}
    tools_seen: set[str] = set()
    kinds_seen: set[str] = set()
    for name, variant in VARIANTS.items():
        root = tmp_path_factory.mktemp(name)
        (root / "mapping.yaml").write_text(yaml.safe_dump(_mapping(parquet, variant)))
        world = ingest(root / "mapping.yaml", root / "world").out_dir
        agent = Agent(world, AgentSettings(llm="offline"))
        results = []
        try:
            for question in QUESTIONS:
                turns = [question, *(FOLLOW_UPS if question.startswith("why did CX") else ())]
                for turn in turns:
                    result = agent.ask(turn, thread_id=f"{name}:{question}")
                    results.append(result)
                    kinds_seen.add(result["kind"])
                    pieces = collected.setdefault(f"{name} | {turn}", [])
                    for text in (result["answer"], *result["notes"], result["experiment_plan"]):
                        pieces.append(("answer", text or ""))
                    for item in result["evidence"]:
                        tools_seen.add(item["tool"])
                        pieces.append((item["tool"], item["summary"]))
        finally:
            agent.close()
        ran, summary = _sensitivity(world, results)
        collected[f"{name} | sensitivity"] = [("sensitivity", summary)]
        if ran:  # the tool counts as rendered only where it ran (its refusal is checked too)
            tools_seen.add("sensitivity")
    # Every variant lacks something the simulator needs, so its summary is rendered over the
    # whole small world too (its refusals above are checked all the same).
    ran, summary = _sensitivity(parquet, [])
    collected["whole world | sensitivity"] = [("sensitivity", summary)]
    if ran:
        tools_seen.add("sensitivity")
    return {"texts": collected, "tools": tools_seen, "kinds": kinds_seen}


def test_no_answer_or_summary_prints_a_missing_value(texts: dict[str, Any]) -> None:
    found = [
        f"{where} [{source}]: ...{text[max(0, m.start() - 60) : m.end() + 40]}..."
        for where, pieces in texts["texts"].items()
        for source, text in pieces
        for m in FORBIDDEN.finditer(text)
    ]
    assert not found, "\n".join(found)


def test_every_tool_and_answer_template_was_rendered(texts: dict[str, Any]) -> None:
    assert set(REGISTRY) - texts["tools"] == set()
    assert {*ANSWERS, "diagnose"} - texts["kinds"] == set()


def test_the_template_drops_clauses_whose_figures_are_missing() -> None:
    """The reported failure: an incident whose primary values never reached the evidence (and
    a NaN confidence, a recommendation without its interval) reads without None or nan."""
    key = "INC-20150201-0000"
    evidence = [
        {
            "id": "E1",
            "figures": {
                f"{key}.primary_metric": {"value": "duration_min", "unit": "text"},
                f"{key}.start": {"value": "2015-02-01T00:00:00", "unit": "datetime"},
                f"{key}.severity": {"value": float("nan"), "unit": "score"},
            },
        },
        {"id": "E3", "figures": {"slice1.orders": {"value": 1406.0, "unit": "orders"}}},
        {"id": "E9", "figures": {"dasher_shortage.confidence": {"value": float("nan")}}},
        {"id": "E10", "figures": {"add_dashers.cx_gain": {"value": 1.5, "unit": "points"}}},
    ]
    facts = {
        "incident": key,
        "detect": "E1",
        "primary_cohort": "category=african",
        "slices": "E3",
        "top_slice": "hour=18-21",
        "slice_metric_label": "slow-delivery rate",
        "rank": "E9",
        "causes": [{"kind": "dasher_shortage", "title": "Dasher shortage"}],
        "recommend": "E10",
        "recommendations": [{"action": "add_dashers", "title": "Add dashers", "evidence": "E10"}],
    }
    text = template_narrative(Facts.model_validate(facts), evidence)
    assert not FORBIDDEN.search(text), text
    assert text.startswith(
        "Delivery duration in category=african regressed [E1]. Incident INC-20150201-0000 "
        "began 2015-02-01 00:00 [E1]. Most likely cause: dasher shortage [E9]."
    ), text


def test_an_asked_cohort_no_evidence_holds_is_not_named() -> None:
    """'the Super Bowl evening' read as hour=17-21 while the slice tested is hour=18-21: naming
    the asked hours would be an identifier the grounding checker finds in no evidence."""
    key = "INC-20150201-0000"
    evidence = [
        {"id": "E1", "summary": f"1 incident(s); top {key}", "figures": {}},
        {"id": "E3", "summary": "top: hour=18-21", "figures": {}},
    ]
    facts = {"incident": key, "detect": "E1", "primary_cohort": "all"}
    unasked = {**facts, "focus": {"asked": "hour=17-21", "site": "hour=18-21"}}
    text = template_narrative(Facts.model_validate(unasked), evidence)
    assert "hour=17-21" not in text
    assert "The causes below were tested in hour=18-21, the incident's slice within" in text
    asked = {**facts, "focus": {"asked": "hour=18-21", "site": "hour=18-21"}}
    text = template_narrative(Facts.model_validate(asked), evidence)
    assert "As asked about hour=18-21, the causes" in text
    # 'why is on-time so low in the evening?' on a stranger's India mapping: the hours asked
    # were the site, and no tool's summary named them either (the answer failed its grounding).
    unread = {**facts, "focus": {"asked": "hour=17-21", "site": "hour=17-21"}}
    text = template_narrative(Facts.model_validate(unread), evidence)
    assert "hour=17-21" not in text
    assert "The causes below were tested within the cohort asked about." in text


@pytest.mark.parametrize(("observed", "verb"), [(95.96, "went"), (95.23, "went"), (92.19, "fell")])
def test_the_lead_says_cx_fell_only_when_it_did(observed: float, verb: str) -> None:
    """Random seed 5057: an incident led by one metric's drop, whose cohort's CX score was
    higher than expected over its window, read "CX ... fell from 95.23 expected to 95.96"."""
    key = "INC-20251228-1700"
    figures = {
        f"{key}.cx_expected": {"value": 95.23, "unit": "score"},
        f"{key}.cx_observed": {"value": observed, "unit": "score"},
    }
    evidence = [{"id": "E1", "summary": f"1 incident(s); top {key}", "figures": figures}]
    facts = {"incident": key, "detect": "E1", "primary_cohort": "category=convenience"}
    text = template_narrative(Facts.model_validate(facts), evidence)
    assert text.startswith(
        f"CX in category=convenience {verb} from 95.23 expected to {observed:.2f} [E1]."
    ), text


def test_a_refuting_check_that_held_is_said_after_the_cause_with_its_evidence() -> None:
    """A leading cause whose refuting check held (random seed 5040's marketplace on Christmas
    Day: fewer dashers, and fewer orders with them) reads with "but" and the check's figures;
    a check whose item lost its figures is left out rather than printed empty."""
    key = "INC-20251225-1500"
    label = "Orders per hour vs usual for the hour"

    def shift(value: float) -> dict[str, Any]:
        return {"value": value, "unit": "ratio", "label": label}

    evidence = [
        {"id": "E1", "summary": f"1 incident(s); top {key}", "figures": {}},
        {"id": "E9", "figures": {"dasher_shortage.confidence": {"value": 0.33}}},
        {"id": "E14", "figures": {"baseline": shift(1.0), "incident": shift(0.74)}},
        {"id": "E15", "figures": {}},
    ]
    refutation = {"why": "orders fell with them (a quiet hour)", "label": label, "unit": "ratio"}
    facts = {
        "incident": key,
        "detect": "E1",
        "primary_cohort": "all",
        "rank": "E9",
        "causes": [{
            "kind": "dasher_shortage", "title": "Dasher shortage",
            "against": [{**refutation, "evidence": "E14"}, {**refutation, "evidence": "E15"}],
        }],
    }  # fmt: skip
    text = template_narrative(Facts.model_validate(facts), evidence)
    assert (
        "Most likely cause: dasher shortage (confidence 0.33) [E9]; but orders fell with them "
        "(a quiet hour): orders per hour vs usual for the hour went from 1.00 to 0.74 [E14]."
    ) in text, text
    assert "[E15]" not in text and not FORBIDDEN.search(text)
