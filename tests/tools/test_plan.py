"""The experiment_plan tool on a small demo world: every section, no placeholder, the unit per
action, sample size vs statsmodels, every number in the Markdown traced to a figure, errors."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from analytics.experiment_design import UNITS, design_experiment, infer_family
from tools.actions import ACTIONS
from tools.base import Figure, ToolContext, ToolError
from tools.plan import SECTIONS, ExperimentPlanOutput

DEMO_PLAN: dict[str, Any] = {
    "action": "revert the batching threshold to 5 min",
    "cause": "batching_threshold",
    "filters": {"category": ["grocery"], "hour": [18, 19, 20]},
    "primary_metric": "on_time_rate",
    "start": "2026-01-04T18:00",
    "end": "2026-01-06T00:00",
    "expected_effect": {"estimate": 0.19, "low": 0.16, "high": 0.22},
}
UNIT_OF_ACTION = {
    "revert_batching": "switchback",
    "eta_buffer": "switchback",
    "peak_pay": "switchback",
    "throttle_demand": "switchback",
    "prep_quote_fix": "store",
    "merchant_prep_fix": "store",
    "inventory_rollback": "store",
    "eta_rollback": "user",
    "storm_eta_buffer": "switchback",
}


@pytest.fixture(scope="module")
def context(small_scenario, make_world) -> Iterator[ToolContext]:
    import tools.plan  # noqa: F401  (registers experiment_plan)

    made = ToolContext(world_dir=make_world(small_scenario("demo")))
    yield made
    made.close()


def plan(context: ToolContext, **overrides: Any) -> ExperimentPlanOutput:
    output, _ = context.call("experiment_plan", {**DEMO_PLAN, **overrides})
    assert isinstance(output, ExperimentPlanOutput)
    return output


@pytest.fixture(scope="module")
def demo_plan(context: ToolContext) -> ExperimentPlanOutput:
    return plan(context)


# --- grounding: every number in the Markdown is a figure -----------------------------------

DATE_OR_TIME = re.compile(r"\b\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2})?\b")
# A number not glued to a word or another number: "H0" and "E3" are names, not numbers.
NUMBER = re.compile(r"(?<![\w.])([-+])?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?![\w.]*\d)")


def ungrounded_numbers(markdown: str, figures: dict[str, Figure]) -> list[str]:
    """Numbers in `markdown` that no figure holds.

    Dates and times must equal a datetime figure; text figures (the scope, the action's own
    words) are taken out of the text first, since their numbers are quoted, not computed. Every
    other number x written with d decimals must be within half a unit of its last decimal of a
    numeric figure's value (or of 100 times a share figure's, for percentages and pp); a signed
    number must have the figure's sign, an unsigned one matches the figure's magnitude.
    """
    missing = []
    stamps = {str(f.value) for f in figures.values() if f.unit == "datetime"}
    for found in DATE_OR_TIME.finditer(markdown):
        if found.group().replace(" ", "T") not in stamps:
            missing.append(found.group())
    text = DATE_OR_TIME.sub(" ", markdown)
    quoted = [str(f.value) for f in figures.values() if f.unit == "text"]
    for value in sorted(quoted, key=len, reverse=True):
        text = text.replace(value, " ")
    numeric = [f for f in figures.values() if not isinstance(f.value, str)]
    for found in NUMBER.finditer(text):
        sign, whole, decimals = found.groups()
        written = float(whole.replace(",", "") + (f".{decimals}" if decimals else ""))
        tolerance = 0.5 * 10 ** -len(decimals or "") + 1e-9
        matched = False
        for figure in numeric:
            value = float(figure.value)
            if sign == "+" and value <= 0 or sign == "-" and value >= 0:
                continue
            scales = (1.0, 100.0) if figure.unit == "share" else (1.0,)
            if any(abs(abs(value) * scale - written) <= tolerance for scale in scales):
                matched = True
                break
        if not matched:
            missing.append(found.group())
    return missing


def test_the_grounding_check_catches_an_invented_number() -> None:
    figures = {
        "baseline": Figure(value=0.6713, unit="share"),
        "n": Figure(value=1234, unit="orders"),
        "start": Figure(value="2026-01-04T18:00", unit="datetime"),
        "scope": Figure(value="hour=18-20", unit="text"),
    }
    good = "On-time 67.1% over 1,234 orders in hour=18-20 from 2026-01-04 18:00; H0 holds."

    assert ungrounded_numbers(good, figures) == []
    assert ungrounded_numbers("On-time 67.2% and 1,235 orders", figures) == ["67.2", "1,235"]
    assert ungrounded_numbers("-67.1% and 2026-01-05", figures) == ["2026-01-05", "-67.1"]


def test_every_number_in_the_plan_is_one_of_its_figures(demo_plan) -> None:
    numbers = NUMBER.findall(DATE_OR_TIME.sub(" ", demo_plan.markdown))
    assert len(numbers) > 40  # the check below is not vacuous

    assert ungrounded_numbers(demo_plan.markdown, demo_plan.figures()) == []


@pytest.mark.parametrize(
    ("metric", "action"),
    [
        ("cx_score", "merchant_prep_fix"),
        ("cancellation_rate", "eta_rollback"),
        ("on_time_rate", "eta_buffer"),
    ],
)
def test_every_number_is_a_figure_for_other_metrics_and_units(
    context, metric: str, action: str
) -> None:
    output = plan(context, primary_metric=metric, expected_effect=None, action=action)

    assert ungrounded_numbers(output.markdown, output.figures()) == []


# --- content -------------------------------------------------------------------------------


def test_plan_has_every_section_heading_in_order(demo_plan) -> None:
    headings = [
        line.lstrip("#").strip() for line in demo_plan.markdown.splitlines() if line[:3] == "## "
    ]
    assert headings == list(SECTIONS)


def test_plan_has_no_unfilled_placeholder(demo_plan) -> None:
    markdown = demo_plan.markdown
    assert "TBD" not in markdown
    assert "{" not in markdown and "}" not in markdown
    assert not re.search(r"\b(nan|None|inf)\b", markdown, re.IGNORECASE)


def test_plan_fills_in_the_power_calculation_and_the_demo_numbers(demo_plan) -> None:
    figures = demo_plan.figures()
    assert demo_plan.unit == "switchback"
    assert figures["alpha"].value == 0.05 and figures["power"].value == 0.8
    assert figures["effect"].value == 0.19
    assert 0.5 < figures["baseline"].value < 0.8  # the incident's on-time, not the old level
    assert figures["history_level"].value > figures["baseline"].value
    for name in (
        "sd",
        "n_per_arm",
        "duration_days",
        "design_effect",
        "icc",
        "mde",
        "cuped_reduction",
        "alert.primary",
        "srm_p_value",
        "daily_volume",
    ):
        assert name in figures, name
    assert "Cohen's h" in demo_plan.markdown
    assert "p < 0.001" in demo_plan.markdown
    assert "10%" in demo_plan.markdown and "50%" in demo_plan.markdown
    assert "100%" in demo_plan.markdown
    inputs = {row["input"]: row["value"] for row in demo_plan.table()}
    assert inputs["alpha (two-sided)"] == "0.05" and inputs["power"] == "0.8"
    assert {"baseline (control)", "per-order sd", "design effect", "ICC"} <= set(inputs)


def test_sample_size_matches_statsmodels(context, demo_plan) -> None:
    figures = demo_plan.figures()
    # the baseline figure is rounded: take the exact level from the design behind the plan
    design = design_experiment(
        context.con,
        "on_time_rate",
        DEMO_PLAN["filters"],
        infer_family(DEMO_PLAN["action"]),
        effect=0.19,
        effect_interval=(0.16, 0.22),
        start=dt.datetime.fromisoformat(DEMO_PLAN["start"]),
        end=dt.datetime.fromisoformat(DEMO_PLAN["end"]),
    )
    h = proportion_effectsize(design.primary.level + 0.19, design.primary.level)
    order_level = NormalIndPower().solve_power(effect_size=h, alpha=0.05, power=0.8)

    assert figures["n_per_arm"].value == math.ceil(order_level * design.design_effect)
    assert figures["n_per_arm_unadjusted"].value == round(order_level)


def test_duration_is_at_least_a_week_and_two_weeks_are_recommended(demo_plan) -> None:
    figures = demo_plan.figures()
    assert figures["duration_days"].value >= 7
    assert figures["recommended_days"].value >= 14
    assert figures["min_days"].value == 7


@pytest.mark.parametrize("action", sorted(UNIT_OF_ACTION))
def test_unit_of_randomization_follows_the_action(context, action: str) -> None:
    output = plan(context, action=action, expected_effect=None)

    assert output.unit == UNIT_OF_ACTION[action]
    assert output.title == ACTIONS[action].title
    assert output.figures()["duration_days"].value >= 7


def test_each_library_action_is_tested_on_its_familys_unit() -> None:
    assert {name: UNITS[spec.family].kind for name, spec in ACTIONS.items()} == {
        **UNIT_OF_ACTION,
        "suppress_skus": "store",
    }


@pytest.mark.parametrize(
    ("cause", "unit"),
    [("inventory_drop", "store"), ("eta_model_bias", "user"), ("demand_surge", "switchback")],
)
def test_a_free_text_action_is_tested_on_the_unit_of_its_causes_actions(
    context, cause: str, unit: str
) -> None:
    output = plan(context, action="do the obvious fix", cause=cause, expected_effect=None)

    assert output.unit == unit


def test_quote_buffer_moves_the_quoted_eta_guardrail_by_the_buffer(context) -> None:
    output = plan(context, action="eta_buffer", expected_effect=None)

    assert output.figures()["guardrail.quoted_eta_min.threshold"].value == 7.0
    assert "raises it on purpose" in output.markdown


def test_custom_guardrails_replace_the_defaults(context) -> None:
    guardrail = {"name": "support_contacts", "label": "Support contacts", "max_worsening": 0.1}
    output = plan(context, guardrails=[guardrail])

    assert "Support contacts" in output.markdown
    assert "Quoted ETA" not in output.markdown
    assert output.figures()["guardrail.support_contacts.threshold"].value == 0.1


def test_plan_is_written_to_a_markdown_file(demo_plan, tmp_path: Path) -> None:
    path = demo_plan.write_markdown(tmp_path / "plans" / "batching.md")

    assert path.read_text(encoding="utf-8") == demo_plan.markdown


def test_plan_is_recorded_as_evidence_with_its_figures(context) -> None:
    output, item = context.call("experiment_plan", DEMO_PLAN)

    assert item.tool == "experiment_plan" and item.ok
    assert item.figures == output.figures()
    assert item.table == output.table()


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"primary_metric": "nps"}, "unknown metric 'nps'"),
        ({"primary_metric": "duration_min"}, "cannot be a primary metric"),
        ({"filters": {"category": ["pharmacy"]}}, "no orders in the scope"),
        ({"filters": {"planet": ["mars"]}}, "unknown dimension 'planet'"),
        ({"cause": "aliens"}, "unknown cause kind 'aliens'"),
        ({"start": None, "end": None}, "incident window"),
    ],
    ids=[
        "unknown metric",
        "unsupported metric",
        "empty scope",
        "bad dimension",
        "bad cause",
        "effect beyond 100%",
    ],
)
def test_bad_requests_are_tool_errors_with_a_clear_message(
    context, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ToolError, match=re.escape(message)):
        plan(context, **overrides)
    assert not context.ledger.items[-1].ok


def test_a_metric_too_rare_to_power_in_one_store_is_watched_and_the_plan_still_written(
    context,
) -> None:
    """A merchant fix in the smallest retail store: a rare event's rate cannot be powered
    there; the plan says so for that metric (a guardrail watched for harm), every number of it
    still a figure, instead of failing (random world 1079 got no plan)."""
    store = context.con.execute(
        "SELECT store_id FROM order_facts WHERE category = 'retail' GROUP BY 1 ORDER BY count(*) "
        "LIMIT 1"
    ).fetchone()[0]
    output = plan(
        context, action="merchant_prep_fix", cause="prep_time_drift",
        filters={"store": [store]}, expected_effect=None, primary_metric="cx_score",
    )  # fmt: skip
    assert re.search(
        r"no (?:rise|fall) is detectable in \d+ days at this volume \(watched for harm, not "
        r"powered\)",
        output.markdown,
    )
    assert ungrounded_numbers(output.markdown, output.figures()) == []
