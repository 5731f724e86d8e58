"""The REST API over real HTTP: incidents, RCA, recommendations, plan, PM brief, the agent (its
answer's kind, table and chart), the OpenAPI docs, clear 4xx errors, and two conversations at
once."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

DEMO_INCIDENT = "INC-20260104-1800"
DEMO_QUESTION = "why did CX drop on Jan 4?"


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=180) as session:
        yield session


def _cited(answer: str) -> set[str]:
    return set(re.findall(r"E\d+", " ".join(re.findall(r"\[(E\d+(?:, E\d+)*)\]", answer))))


def test_health_names_the_world_its_span_and_the_offline_backend(client: httpx.Client) -> None:
    body = client.get("/api/health").json()

    assert body["status"] == "ok"
    assert body["backend"] == "offline"
    assert body["data_start"].startswith("2025-12-06")
    assert body["data_end"].startswith("2026-01-05")
    assert body["incidents"] >= 1


def test_incidents_lead_with_the_demo_incident_and_its_grocery_slice(client: httpx.Client) -> None:
    listed = client.get("/api/incidents").json()["incidents"]
    detail = client.get(f"/api/incidents/{DEMO_INCIDENT}").json()

    assert listed[0]["incident_id"] == DEMO_INCIDENT
    assert listed[0]["start"] == "2026-01-04T18:00:00"
    assert listed[0]["severity_label"] == "high"
    top = detail["slices"]["slices"][0]
    assert top["filters"] == {"category": ["grocery"], "hour": [18, 19, 20]}
    assert top["current_value"] < top["baseline_value"]
    assert detail["evidence"]["tool"] == "top_slices"


@pytest.mark.parametrize(
    "path",
    ["incidents/{id}", "rca/{id}", "recommendations/{id}", "plan/{id}", "summary/{id}"],
)
def test_an_unknown_incident_is_a_404_naming_the_known_ones(
    client: httpx.Client, path: str
) -> None:
    response = client.get("/api/" + path.format(id="INC-19990101-0000"))

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json()["detail"]
    assert "INC-19990101-0000" in detail and DEMO_INCIDENT in detail


def test_rca_ranks_batching_first_and_every_cited_id_is_in_its_evidence(
    client: httpx.Client,
) -> None:
    body = client.get(f"/api/rca/{DEMO_INCIDENT}").json()

    causes = body["causes"]
    assert causes[0]["kind"] == "batching_threshold"
    assert causes[0]["status"] == "supported"
    ids = {item["id"] for item in body["evidence"]}
    assert all(set(cause["evidence"]) <= ids for cause in causes)
    assert body["causes_evidence"] in ids
    assert "## Ranked causes" in body["report"]
    assert "diff_in_diff" in {item["tool"] for item in body["evidence"]}


def test_recommendations_put_reverting_batching_first_with_a_gain_and_a_cost(
    client: httpx.Client,
) -> None:
    body = client.get(f"/api/recommendations/{DEMO_INCIDENT}").json()

    top = body["recommendations"][0]
    assert top["action"] == "revert_batching"
    assert top["cx_gain"]["low"] <= top["cx_gain"]["estimate"] <= top["cx_gain"]["high"]
    assert top["cx_gain"]["estimate"] > 0
    assert top["cost_usd_per_order"] > 0
    assert any(r["pareto"] for r in body["recommendations"])
    assert body["scope"] == {"category": ["grocery"], "hour": [18, 19, 20]}


def test_plan_is_a_markdown_download_with_every_section(client: httpx.Client) -> None:
    response = client.get(f"/api/plan/{DEMO_INCIDENT}")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/markdown")
    assert "attachment" in response.headers["content-disposition"]
    plan = response.text
    assert plan.startswith("# Experiment plan: Reduce the batching threshold")
    for section in ("Hypothesis", "Guardrails", "Duration and sample size", "Rollback criteria"):
        assert f"## {section}" in plan


def test_plan_for_another_action_and_an_unknown_action(client: httpx.Client) -> None:
    buffer = client.get(f"/api/plan/{DEMO_INCIDENT}", params={"action": "eta_buffer"})
    unknown = client.get(f"/api/plan/{DEMO_INCIDENT}", params={"action": "paint_it_red"})

    assert buffer.status_code == 200
    assert "Add 5 minutes of buffer" in buffer.text
    assert unknown.status_code == 422
    assert "paint_it_red" in unknown.json()["detail"]


def test_pm_summary_speaks_business_not_model_internals(client: httpx.Client) -> None:
    response = client.get(f"/api/summary/{DEMO_INCIDENT}")

    brief = response.text
    assert response.headers["content-type"].startswith("text/markdown")
    assert "Priority P1" in brief
    assert "batching policy change" in brief
    assert re.search(r"\$\d", brief)  # impact and tradeoff in dollars
    for heading in ("What broke", "Who is affected", "Since when", "Impact", "Recommended action"):
        assert f"## {heading}" in brief
    for jargon in ("SHAP", "p-value", "z-score", "q-value", "AUC", "diff-in-diff", "[E"):
        assert jargon not in brief


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "missing"),
        ({"question": ""}, "string_too_short"),
        ({"question": "   "}, "string_too_short"),
        ({"question": 5}, "string_type"),
        ({"question": "why?", "colour": "red"}, "extra_forbidden"),
        ({"question": "why?", "thread_id": "no spaces allowed"}, "string_pattern_mismatch"),
    ],
)
def test_a_bad_ask_body_is_a_422_saying_what_is_wrong(
    client: httpx.Client, body: dict[str, Any], problem: str
) -> None:
    response = client.post("/api/ask", json=body)

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == problem


def test_ask_with_a_body_that_is_not_json_is_a_422(client: httpx.Client) -> None:
    response = client.post(
        "/api/ask", content=b"why did CX drop", headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_openapi_documents_every_route(client: httpx.Client) -> None:
    paths = set(client.get("/openapi.json").json()["paths"])

    assert {
        "/api/health",
        "/api/incidents",
        "/api/incidents/{incident_id}",
        "/api/rca/{incident_id}",
        "/api/recommendations/{incident_id}",
        "/api/plan/{incident_id}",
        "/api/summary/{incident_id}",
        "/api/ask",
    } <= paths
    assert client.get("/docs").status_code == 200


def _strict_json(text: str) -> Any:
    """JSON as the standard has it: NaN and Infinity are not numbers there."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_ask_returns_a_ranking_as_its_kind_and_table_rows(client: httpx.Client) -> None:
    response = client.post(
        "/api/ask", json={"question": "which regions were worst for on-time last week?"}
    )

    body = _strict_json(response.text)
    assert response.status_code == 200
    assert body["kind"] == "rank"
    assert body["chart"] is None
    table = body["table"]
    assert {row["region"] for row in table} == {"north", "south", "east", "west", "central"}
    assert [row["rank"] for row in table] == list(range(1, len(table) + 1))
    assert all(isinstance(row["orders"], int) and row["orders"] > 0 for row in table)
    assert table[0]["region"] in body["answer"]


def test_ask_returns_a_trend_with_a_chart_over_its_table(client: httpx.Client) -> None:
    response = client.post(
        "/api/ask", json={"question": "show on-time by day for the last two weeks"}
    )

    body = _strict_json(response.text)
    assert body["kind"] == "trend"
    chart, table = body["chart"], body["table"]
    assert chart == {"x": "period", "y": "on_time_rate", "label": "On-time rate", "grain": "day"}
    assert len(table) == 14
    assert all(0.0 <= row[chart["y"]] <= 1.0 for row in table)  # a share, not a percentage
    periods = [row[chart["x"]] for row in table]
    assert periods == sorted(periods) and periods[-1].startswith("2026-01-05")


def test_ask_answers_without_a_table_say_so_with_null(client: httpx.Client) -> None:
    body = client.post("/api/ask", json={"question": "how did you compute the on-time rate?"})

    answer = _strict_json(body.text)
    assert answer["kind"] == "explain"
    assert answer["table"] is None and answer["chart"] is None


def test_two_users_asking_at_once_each_get_their_own_conversation(client: httpx.Client) -> None:
    questions = {"alice": DEMO_QUESTION, "bob": "why did CX drop on Dec 10?"}

    def ask(thread: str) -> dict[str, Any]:
        response = client.post(
            "/api/ask", json={"question": questions[thread], "thread_id": thread}
        )
        response.raise_for_status()
        return response.json()

    with ThreadPoolExecutor(max_workers=2) as pool:
        alice, bob = pool.map(ask, ["alice", "bob"])
    follow_up = client.post(
        "/api/ask", json={"question": "what if we cut the batching threshold back?",
                          "thread_id": "alice"},
    ).json()  # fmt: skip

    assert alice["thread_id"] == "alice" and bob["thread_id"] == "bob"
    assert "batching" in alice["answer"].lower()
    assert alice["incident"]["id"] == DEMO_INCIDENT
    assert alice["grounding"]["ok"] is True
    assert _cited(alice["answer"]) <= {item["id"] for item in alice["evidence"]}
    # Bob's day had no incident: his answer may point at the nearest one but diagnoses nothing.
    assert bob["incident"] is None and bob["causes"] == []
    assert "Most likely cause" not in bob["answer"]
    assert bob["evidence"][0]["id"] == "E1" and alice["evidence"][0]["id"] == "E1"
    # Alice's follow-up builds on her own incident and evidence, untouched by Bob's question.
    assert follow_up["kind"] == "what_if"
    assert "detect" not in [step["node"] for step in follow_up["trace"]]  # no new investigation
    assert follow_up["evidence"][: len(alice["evidence"])] == alice["evidence"]
    what_ifs = {item["id"] for item in follow_up["evidence"] if item["tool"] == "what_if"}
    assert _cited(follow_up["answer"]) & what_ifs


def test_on_loopback_the_page_offers_the_eval_suite(base_url: str) -> None:
    config = httpx.get(f"{base_url}/config", timeout=60).text

    assert "evals-run" in config
    assert "CXAGENT_EVAL_BUTTON" not in config
