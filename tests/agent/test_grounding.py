"""The grounding checker: numbers in a narrative against the evidence items it cites."""

from __future__ import annotations

import pytest

from agent.grounding import check_grounding, extract_numbers
from tools.base import EvidenceItem, Figure


def _item(evidence_id: str, figures: dict[str, tuple[float | str, str]], **fields) -> EvidenceItem:
    return EvidenceItem(
        id=evidence_id,
        tool=fields.pop("tool", "driver_shift"),
        args=fields.pop("args", {}),
        summary=fields.pop("summary", ""),
        figures={name: Figure(value=value, unit=unit) for name, (value, unit) in figures.items()},
        seconds=0.01,
        **fields,
    )


EVIDENCE = [
    _item(
        "E1",
        {
            "INC-20260104-1800.start": ("2026-01-04T18:00:00", "datetime"),
            "INC-20260104-1800.detected_at": ("2026-01-04T20:00:00", "datetime"),
            "INC-20260104-1800.severity": (82.2, "score"),
            "INC-20260104-1800.cx_drop": (2.76, "points"),
            "INC-20260104-1800.detection_delay_hours": (2.0, "ratio"),
            "series_scanned": (63.0, "count"),
        },
        tool="detect_incidents",
        summary="1 incident(s); top INC-20260104-1800: on_time_rate in category=grocery",
    ),
    _item(
        "E2",
        {
            "slice1.baseline_value": (0.8695, "share"),
            "slice1.current_value": (0.6713, "share"),
            "slice1.delta": (-0.1981, "share"),
            "slice1.orders": (5340.0, "orders"),
            "slice1.q_value": (9.4e-54, "ratio"),
        },
        tool="top_slices",
        summary="1 slice(s) explain 100% of the on_time_rate change; top: category=grocery, "
        "hour=18-20",
    ),
    _item(
        "E3",
        {
            "C0007.change_time": ("2026-01-03T21:00", "datetime"),
            "C0007.name": ("batching_threshold", "text"),
            "C0007.new_value": ("15 min detour", "text"),
        },
        tool="change_log",
    ),
    _item(
        "E4",
        {
            "estimate": (0.187, "share"),
            "ci_low": (0.1736, "share"),
            "ci_high": (0.2004, "share"),
            "p_value": (9.03e-30, "ratio"),
        },
        tool="diff_in_diff",
    ),
    _item(
        "E6",
        {
            "baseline": (0.2161, "share"),
            "incident": (0.5468, "share"),
            "delta": (0.3307, "share"),
            "relative_change": (1.5304, "share"),
            "z": (53.0, "ratio"),
            "incident_n": (5624.0, "count"),
        },
        args={
            "filters": {"category": ["grocery"], "hour": [18, 19, 20]},
            "start": "2026-01-04T18:00:00",
            "end": "2026-01-05T23:59:56",
            "baseline_days": 14,
        },
    ),
    _item(
        "E7",
        {
            "baseline": (46.45, "minutes"),
            "incident": (52.8, "minutes"),
            "wait": (90.0, "seconds"),
            "eta_bias": (-4.4, "minutes"),
        },
    ),
    _item(
        "E8",
        {
            "revert.cx_gain": (5.01, "points"),
            "revert.cx_gain_low": (4.51, "points"),
            "revert.cost_usd_per_order": (2.6, "usd"),
            "revert.monthly_cost": (1234.0, "usd"),
            "cx_change": (-4.4, "points"),
            "late_rate_change": (0.0125, "share"),
            "rating": (4.437, "stars"),
        },
        tool="recommend_actions",
    ),
    _item("E9", {"orders": (5624.0, "orders"), "all_orders": (40000.0, "orders")}),
]


def _check(narrative: str, allowed=()):
    return check_grounding(narrative, EVIDENCE, allowed=allowed)


def _assert_grounded(narrative: str, allowed=()) -> None:
    result = _check(narrative, allowed)
    assert result.ok, [(p.text, p.reason) for p in result.problems]
    assert result.numbers == result.grounded > 0


def _only_problem(narrative: str, allowed=()):
    result = _check(narrative, allowed)
    assert not result.ok
    assert len(result.problems) == 1, [(p.text, p.reason) for p in result.problems]
    return result.problems[0]


# --- extraction: (text, [(mention text, kind, value)]) pairs -------------------------------------

EXTRACTION_CASES = [
    ("fell to 78.4% [E3]", [("78.4%", "percent", 78.4)]),
    ("moved -3.1 % overall", [("-3.1 %", "percent", -3.1)]),
    ("rose +14.5 pp", [("+14.5 pp", "points", 14.5)]),
    ("14.5 percentage points", [("14.5 percentage points", "points", 14.5)]),
    ("worth +5.01 CX points", [("+5.01 CX points", "points", 5.01)]),
    ("costs $2.60 or $1,234", [("$2.60", "usd", 2.6), ("$1,234", "usd", 1234.0)]),
    ("about 40 cents", [("40 cents", "usd", 0.4)]),
    ("4.4 min and 12 minutes", [("4.4 min", "minutes", 4.4), ("12 minutes", "minutes", 12.0)]),
    ("30 s or 90 seconds", [("30 s", "seconds", 30.0), ("90 seconds", "seconds", 90.0)]),
    ("5,624 orders", [("5,624 orders", "count", 5624.0)]),
    ("5.6k orders", [("5.6k orders", "count", 5600.0)]),
    ("1,200 and 0.98", [("1,200", "number", 1200.0), ("0.98", "number", 0.98)]),
    ("rated 4.44 stars", [("4.44 stars", "stars", 4.44)]),
    ("+5.02 then −4.4", [("+5.02", "number", 5.02), ("−4.4", "number", -4.4)]),
    ("p 9e-30", [("9e-30", "number", 9e-30)]),
    ("from 86.9 to 67.1%", [("86.9", "percent", 86.9), ("67.1%", "percent", 67.1)]),
    ("on Jan 4", [("Jan 4", "date", "--01-04")]),
    ("January 4, 2026", [("January 4, 2026", "date", "2026-01-04")]),
    ("2026-01-04", [("2026-01-04", "date", "2026-01-04")]),
    ("Dec 24", [("Dec 24", "date", "--12-24")]),
    ("Jan 4-5", [("Jan 4", "date", "--01-04"), ("5", "date", "--01-05")]),
    ("18:00-20:59", [("18:00", "time", "18:00"), ("20:59", "time", "20:59")]),
    ("6-9 pm", [("6", "time", "18:00"), ("9 pm", "time", "21:00")]),
    ("at 2026-01-04 18:00", [("2026-01-04 18:00", "datetime", "2026-01-04T18:00")]),
    ("Jan 4 at 18:00", [("Jan 4 at 18:00", "datetime", "--01-04T18:00")]),
    ("hours 18-20", [("18", "time", "18:00"), ("20", "time", "20:00")]),
    ("the 1st", [("1st", "ordinal", 1.0)]),
    ("#1 and top 3", [("1", "rank", 1.0), ("3", "rank", 3.0)]),
    ("(95% CI +17.4 to +20.0 pp)", [("95%", "confidence_level", 95.0),
                                   ("+17.4", "points", 17.4), ("+20.0 pp", "points", 20.0)]),
    ("82.2 out of 100", [("82.2", "number", 82.2), ("100", "scale", 100.0)]),
    ("1. Revert batching", [("1", "list_marker", 1.0)]),
    ("three orders", [("three", "number", 3.0)]),
    ("one or two stores", []),
    ("cites [E12] and E3", []),
    ("INC-20260104-1800 and C0007", [("INC-20260104-1800", "identifier", "INC-20260104-1800"),
                                     ("C0007", "identifier", "C0007")]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), EXTRACTION_CASES)
def test_extract_numbers_reads_kind_and_value(text: str, expected: list) -> None:
    found = [(m.text, m.kind, m.value) for m in extract_numbers(text)]
    assert found == [
        (t, k, pytest.approx(v) if isinstance(v, float) else v) for t, k, v in expected
    ]


def test_extract_numbers_gives_spans_into_the_text() -> None:
    text = "On-time fell to 67.1% [E2] over 5,340 orders."
    for mention in extract_numbers(text):
        assert text[slice(*mention.span)] == mention.text


def test_bounds_and_approximations_are_marked() -> None:
    p_value, orders = extract_numbers("p < 0.001 over about 5,300 orders")
    assert p_value.bound == "<" and orders.approx


# --- narratives that must pass -------------------------------------------------------------------


def test_fully_grounded_narrative_passes() -> None:
    narrative = (
        "On-time rate in grocery 18:00-20:59 fell from 86.9% to 67.1% [E2], and batched share "
        "rose from 21.6% to 54.7% [E6]. Incident INC-20260104-1800 began 2026-01-04 18:00 and "
        "was detected at 2026-01-04 20:00, severity 82.2 out of 100 [E1]. The late rate moved "
        "+18.7 pp against comparable orders (95% interval +17.4 pp to +20.0 pp, p < 0.001) [E4]. "
        "Reverting is worth +5.01 CX points at $2.60 per order [E8]."
    )
    result = _check(narrative, allowed=["2026-01-04"])
    assert result.ok, result.problems
    assert result.numbers == result.grounded == 16
    assert result.citations == ["E2", "E6", "E1", "E4", "E8"]
    assert result.unknown_citations == []


def test_thousands_separators_match_counts() -> None:
    _assert_grounded("The slice holds 5,340 orders [E2] and 5,624 orders had a dasher [E6].")


def test_percentages_match_shares_at_zero_and_one_decimals() -> None:
    _assert_grounded("On-time fell to 67.1% [E2]. On-time fell to 67% [E2].")


def test_percentage_matches_score_figure() -> None:
    _assert_grounded("Severity reached 82.2% of the scale [E1].")


def test_half_way_value_may_round_either_way() -> None:
    _assert_grounded("Late rate changed 1.3% [E8]. Late rate changed 1.2% [E8].")


def test_pp_matches_points_figures_and_share_differences() -> None:
    _assert_grounded("CX dropped 2.76 points [E1]; the DiD estimate is +18.7 pp [E4].")


def test_money_matches_usd_figures() -> None:
    _assert_grounded("It costs $2.60 per order, $1,234 a month [E8].")


def test_minutes_and_seconds_convert() -> None:
    _assert_grounded("Dasher wait grew by 1.5 min [E7]. Delivery took 46.5 minutes [E7].")
    _assert_grounded("Delivery took 2,787 seconds [E7].")  # 46.45 min


def test_dates_and_times_match_datetime_figures() -> None:
    _assert_grounded(
        "It began on Jan 4 at 18:00 [E1]. It began January 4, 2026 [E1]. Detected at 20:00 [E1]. "
        "The change shipped 2026-01-03 21:00 [E3]."
    )


def test_hour_filter_of_cited_item_grounds_the_time_window() -> None:
    _assert_grounded("Between 18:00 and 20:59 batched share rose to 54.7% [E6].")


def test_date_range_inside_cited_window() -> None:
    _assert_grounded("Over Jan 4-5 batched share rose to 54.7% [E6].")


def test_allowed_context_date_needs_no_citation() -> None:
    _assert_grounded("You asked about Jan 4.", allowed=["2026-01-04"])
    _assert_grounded("You asked about 2026-01-04.", allowed=["2026-01-04"])


def test_unicode_minus_matches_negative_figure() -> None:
    _assert_grounded("CX changed by −4.4 points [E8] and ETA bias was −4.4 min [E7].")


def test_decrease_word_lets_an_unsigned_number_match_a_negative_figure() -> None:
    _assert_grounded("CX fell by 4.4 points [E8].")


def test_approximate_and_bounded_round_numbers() -> None:
    _assert_grounded("About 5,300 orders [E2] were affected; more than 5,000 orders [E6].")


def test_scientific_notation_and_hours_named_figures() -> None:
    _assert_grounded("The change is significant (p 9e-30) [E4]; detection took 2 hours [E1].")


def test_numbers_inside_text_figures_and_arguments() -> None:
    _assert_grounded("The threshold became 15 min detour [E3], over a 14-day baseline [E6].")


def test_citation_after_the_full_stop_belongs_to_that_sentence() -> None:
    _assert_grounded("Batched share rose to 54.7%. [E6] On-time fell to 67.1% [E2].")


def test_exempt_ranks_ordinals_and_markers_are_not_counted() -> None:
    result = _check("1. The #1 cause, top 3 overall, is the 1st change (95% CI) [E4].")
    assert result.ok and result.numbers == 0


def test_evidence_may_be_a_mapping_of_dicts() -> None:
    evidence = {item.id: item.model_dump(mode="json") for item in EVIDENCE}
    assert check_grounding("On-time fell to 67.1% [E2].", evidence).ok


# --- narratives that must fail -------------------------------------------------------------------


def test_number_one_unit_off_in_last_decimal_fails() -> None:
    problem = _only_problem("On-time fell to 67.2% [E2].")
    assert problem.text == "67.2%"
    assert "not in cited evidence E2" in problem.reason and "67.1%" in problem.reason


def test_count_one_off_fails() -> None:
    assert _only_problem("The slice holds 5,341 orders [E2].").text == "5,341 orders"


def test_percentage_computed_from_two_figures_fails() -> None:
    problem = _only_problem("Batched orders were 14% of all orders [E9].")  # 5,624 / 40,000
    assert problem.text == "14%" and "no share, points or score figure" in problem.reason


def test_uncited_number_fails() -> None:
    problem = _only_problem("On-time fell to 67.1%.")
    assert problem.reason.startswith("no citation in this sentence") and "E2" in problem.reason


def test_citation_in_another_sentence_does_not_count() -> None:
    problem = _only_problem("On-time fell to 67.1%. Batching is why [E2].")
    assert problem.reason.startswith("no citation in this sentence")


def test_number_cited_to_the_wrong_item_fails() -> None:
    problem = _only_problem("Batched share rose to 54.7% [E2].")
    assert "not in cited evidence E2" in problem.reason and "E6 holds it" in problem.reason


def test_unknown_citation_fails() -> None:
    result = _check("On-time fell to 67.1% [E2, E99].")
    assert not result.ok
    assert result.unknown_citations == ["E99"]
    assert result.numbers == result.grounded == 1
    assert [p.reason for p in result.problems] == ["cites unknown evidence E99"]


def test_sign_flip_fails() -> None:
    assert _only_problem("CX moved +4.4 points [E8].").text == "+4.4 points"
    assert _only_problem("The DiD estimate is -18.7 pp [E4].").text == "-18.7 pp"
    assert _only_problem("CX rose by 4.4 points [E8].").text == "4.4 points"


def test_wrong_unit_fails() -> None:
    assert _only_problem("It costs 2.6 minutes [E8].").text == "2.6 minutes"
    assert _only_problem("On-time fell to 0.6713 pp [E2].").text == "0.6713 pp"


def test_wrong_day_or_time_fails() -> None:
    assert _only_problem("It began on Jan 5 [E1].").text == "Jan 5"
    assert _only_problem("It began at 19:30 [E1].").text == "19:30"
    assert _only_problem("It began on Jan 4 at 21:00 [E1].").text == "Jan 4 at 21:00"


def test_date_outside_context_without_citation_fails() -> None:
    assert _only_problem("You asked about Jan 5.", allowed=["2026-01-04"]).text == "Jan 5"


def test_precise_number_after_bound_word_must_still_match() -> None:
    assert _only_problem("More than 5,337 orders were late [E2].").text == "5,337 orders"


def test_invented_identifier_fails() -> None:
    problem = _only_problem("Change C0099 caused it.")
    assert problem.reason == "identifier C0099 appears in no evidence"


def test_problems_carry_spans_into_the_narrative() -> None:
    narrative = "On-time fell to 67.2% [E2]."
    problem = _only_problem(narrative)
    assert narrative[slice(*problem.span)] == problem.text


def test_negative_number_matches_a_figure_named_as_a_drop() -> None:
    _assert_grounded("CX changed by −2.76 points [E1]. CX fell 2.76 points [E1].")
    assert _only_problem("CX changed by +2.76 points [E1].").text == "+2.76 points"


def test_a_custom_dimensions_binned_group_is_checked_as_a_name() -> None:
    # 'items=>=4' names a cohort (a custom dimension's numeric bin): it must occur in the
    # evidence as written, not be read as the numbers 4 and 2.
    item = EvidenceItem(
        id="E1", tool="compare_cohorts", seconds=0.0,
        args={"sides": [{"filters": {"items": [">=4"]}}, {"filters": {"items": ["<2"]}}]},
        summary="duration_min: items=>=4 51.9 min vs items=<2 45.3 min",
        figures={"a.value": Figure(value=51.9, unit="minutes")},
    )  # fmt: skip
    found = check_grounding("items=>=4 took 51.9 min, items=<2 less [E1].", [item])
    assert found.ok, [(p.text, p.reason) for p in found.problems]
    invented = check_grounding("items=>=9 took 51.9 min [E1].", [item])
    assert [p.text for p in invented.problems] == ["items=>=9"]


def test_a_number_that_ends_a_group_s_name_is_grounded_by_the_evidence_holding_that_name() -> None:
    """DoorDash's regions are 'market 1' ... 'market 6': 'tested in region=market 2, hour=18-21.'
    failed with "2: no citation in this sentence" though the cited slice's arguments hold it."""
    sliced = _item("E3", {"slice1.orders": (1370.0, "orders")}, tool="top_slices",
                   args={"filters": {"region": ["market 2"], "hour": [18, 19, 20, 21]}},
                   summary="top: hour=18-21")  # fmt: skip
    named = "The causes below were tested in region=market 2, hour=18-21. Ranked by market 2 first."
    result = check_grounding(named, [sliced])
    assert result.ok and result.grounded == result.numbers == 3, result.problems
    assert {m.source for m in result.matches if m.text == "2"} == {"evidence text (a name)"}
    # a group the evidence does not hold, a quantity after a name, and a decimal stay checked
    for text in (
        "The causes below were tested in region=market 7.",
        "It rose in region=market 2,370 orders.",
        "It took market 2.5 min longer.",
        "It fell over 2 days.",
    ):
        assert not check_grounding(text, [sliced]).ok, text


def test_a_number_word_inside_a_group_s_name_is_grounded_by_the_evidence_holding_that_name() -> (
    None
):
    """A mapping's bands 'one or two', 'three to five', 'six plus': 'On-time rate in items=six
    plus ...' failed with "six: not in cited evidence" though the cited summary's filters hold
    the group."""
    summary = _item("E1", {"on_time_rate.value": (0.316, "share")}, tool="metric_summary",
                    args={"filters": {"items": ["six plus"]}},
                    summary="items=six plus, 2015-02-09 00:00 to 2015-02-16 00:00")  # fmt: skip
    result = check_grounding("On-time rate in items=six plus: 31.6% [E1].", [summary])
    assert result.ok and result.grounded == result.numbers == 2, result.problems
    banded = _item("E2", {"on_time_rate.value": (0.491, "share")}, tool="metric_summary",
                   args={"filters": {"items": ["three to five"]}})  # fmt: skip
    result = check_grounding("On-time in items=three to five was 49.1% [E2].", [banded])
    assert result.ok and result.grounded == result.numbers == 3, result.problems
    # a name with letters beyond ASCII, as the evidence text writes it
    french = _item("E3", {"on_time_rate.value": (0.5, "share")}, tool="metric_summary",
                   args={"filters": {"items": ["six pièces"]}})  # fmt: skip
    result = check_grounding("On-time in items=six pièces was 50.0% [E3].", [french])
    assert result.ok and result.grounded == result.numbers == 2, result.problems
    # a number word the evidence holds in no name stays checked
    for text in ("On-time in items=seven plus was 31.6% [E1].", "Six orders were late [E1]."):
        assert not check_grounding(text, [summary]).ok, text
