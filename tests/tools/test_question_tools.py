"""The question tools (metric_summary, compare_metric, rank_cohorts, metric_definition,
describe_world) and the extended cx_timeseries, detect_incidents and change_log, on the small
demo world: values against plain SQL, tests against statsmodels, errors as ToolErrors."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

from data.scenario import Scenario
from data.warehouse import WAREHOUSE_FILE, build_warehouse
from tools.base import ToolContext, ToolError
from tools.catalog import REGISTRY

ScenarioFactory = Callable[..., Scenario]
WorldFactory = Callable[[Scenario], Path]

GROCERY_DINNER = {"category": ["grocery"], "hour": [18, 19, 20]}
QUESTION_TOOLS = {
    "metric_summary", "compare_metric", "rank_cohorts", "metric_definition", "describe_world",
}  # fmt: skip


@pytest.fixture(scope="module")
def demo_world(small_scenario: ScenarioFactory, make_world: WorldFactory) -> Path:
    return make_world(small_scenario("demo"))


@pytest.fixture
def context(demo_world: Path) -> Iterator[ToolContext]:
    fresh = ToolContext(world_dir=demo_world)
    yield fresh
    fresh.close()


def _one(context: ToolContext, sql: str, parameters: list[Any] | None = None) -> tuple:
    return context.con.execute(sql, parameters or []).fetchone()


def test_catalog_registers_the_question_tools() -> None:
    assert QUESTION_TOOLS - set(REGISTRY) == set()


# --- metric_summary ----------------------------------------------------------------------------


def test_metric_summary_value_and_baseline_equal_plain_sql_with_a_matching_z_test(
    context: ToolContext,
) -> None:
    output, item = context.call(
        "metric_summary",
        {"metrics": ["on_time_rate"], "filters": GROCERY_DINNER,
         "start": "2026-01-04", "end": "2026-01-06", "baseline_days": 7},
    )  # fmt: skip

    counts = []
    for start, end in [("2025-12-28", "2026-01-04"), ("2026-01-04", "2026-01-06")]:
        counts.append(
            _one(
                context,
                "SELECT count(*) FILTER (WHERE on_time), count(on_time), count(*) FROM order_facts "
                "WHERE category = 'grocery' AND hour IN (18, 19, 20) "
                "AND order_time >= CAST(? AS TIMESTAMP) AND order_time < CAST(? AS TIMESTAMP)",
                [start, end],
            )
        )
    (base_on_time, base_n, base_orders), (on_time, n, orders) = counts
    figures = item.figures
    assert figures["on_time_rate.value"].value == round(on_time / n, 6)
    assert figures["on_time_rate.baseline"].value == round(base_on_time / base_n, 6)
    assert figures["on_time_rate.delta"].value == round(on_time / n - base_on_time / base_n, 6)
    assert figures["on_time_rate.delta"].unit == "share"
    assert (figures["orders"].value, figures["baseline_orders"].value) == (orders, base_orders)
    assert figures["on_time_rate.n"].value == n
    # the z-test, its variance widened by the days' dispersion around each window's mean when
    # they vary more than their orders say (this synthetic world's do not)
    z, z_p = proportions_ztest([on_time, base_on_time], [n, base_n])
    daily = context.con.execute(
        "SELECT order_time >= TIMESTAMP '2026-01-04', count(*) FILTER (WHERE on_time), "
        "count(on_time) FROM order_facts WHERE category = 'grocery' AND hour IN (18, 19, 20) "
        "AND order_time >= TIMESTAMP '2025-12-28' AND order_time < TIMESTAMP '2026-01-06' "
        "GROUP BY CAST(order_time AS DATE), 1"
    ).fetchall()
    baseline = [row for row in daily if not row[0]]  # the earlier period's days
    pooled = sum(row[1] for row in baseline) / sum(row[2] for row in baseline)
    rates = np.array([row[1] / row[2] for row in baseline])
    df = len(rates) - 1
    sampling = np.mean([pooled * (1 - pooled) / row[2] for row in baseline])
    factor = max(1.0, float(np.var(rates, ddof=1)) / sampling)
    assert df == 6
    p_value = 2 * stats.t.sf(abs(z) / np.sqrt(factor), df) if factor > 1 else z_p
    assert output.metrics[0].p_value == pytest.approx(p_value, rel=1e-3)
    change = output.metrics[0]
    assert ("for day-to-day variation (6 df" if factor > 1 else "no more than") in change.method
    assert change.ci_low <= change.delta <= change.ci_high
    assert figures["baseline_start"].value == "2025-12-28T00:00:00"
    assert "'grocery'" in item.sql and "?" not in item.sql


def test_metric_summary_cx_score_over_one_day_is_not_tested_and_says_so(
    context: ToolContext,
) -> None:
    output, item = context.call(
        "metric_summary", {"start": "2026-01-04T18:00", "end": "2026-01-04T21:00"}
    )

    (change,) = output.metrics
    assert change.p_value is None and "under 2 days" in change.method
    assert item.figures["cx_score.value"].unit == "score"
    assert item.figures["cx_score.delta"].unit == "points"
    assert {"cx_score.p_value", "cx_score.ci_low"} & set(item.figures) == set()


def test_metric_summary_cx_score_over_several_days_is_tested_as_a_heuristic(
    context: ToolContext,
) -> None:
    output, item = context.call("metric_summary", {"start": "2026-01-03", "end": "2026-01-06"})

    (change,) = output.metrics
    assert "heuristic" in change.method
    assert item.figures["cx_score.n"].value == 3  # days
    assert item.figures["cx_score.ci_low"].value <= item.figures["cx_score.delta"].value
    assert 0 <= item.figures["cx_score.p_value"].value <= 1


def test_metric_summary_mean_metric_is_welch_tested_in_minutes(context: ToolContext) -> None:
    output, item = context.call(
        "metric_summary",
        {"metrics": ["duration_min"], "filters": GROCERY_DINNER,
         "start": "2026-01-04", "end": "2026-01-06"},
    )  # fmt: skip

    assert output.metrics[0].method.startswith("Welch")
    assert {item.figures[f"duration_min.{k}"].unit for k in ("value", "delta", "ci_high")} == {
        "minutes"
    }
    assert item.figures["duration_min.delta"].value > 0  # dinner deliveries got slower


def test_metric_summary_of_an_empty_window_is_a_tool_error_naming_it(context: ToolContext) -> None:
    with pytest.raises(ToolError, match=r"no orders in category=grocery, 2027-01-01 00:00"):
        context.call(
            "metric_summary",
            {"filters": {"category": ["grocery"]}, "start": "2027-01-01", "end": "2027-01-02"},
        )


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"metrics": ["happiness"]}, "unknown metric 'happiness'; known: cx_score"),
        ({"filters": {"planet": ["mars"]}}, "unknown dimension 'planet'"),
        ({"filters": {"hour": ["dinner"]}}, "does not fit its dimension"),
        ({"end": "2026-01-03"}, "is not after start"),
    ],
)
def test_metric_summary_bad_arguments_are_tool_errors(
    context: ToolContext, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ToolError, match=message):
        context.call("metric_summary", {"start": "2026-01-04", "end": "2026-01-05", **arguments})


@pytest.fixture(scope="module")
def world_without_ratings(demo_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    world = tmp_path_factory.mktemp("no-ratings") / "world"
    shutil.copytree(demo_world, world, ignore=shutil.ignore_patterns(WAREHOUSE_FILE))
    (world / "ratings.parquet").unlink()
    build_warehouse(world)
    return world


def test_metric_summary_lists_metrics_the_data_lacks_and_fails_if_none_is_left(
    world_without_ratings: Path,
) -> None:
    context = ToolContext(world_dir=world_without_ratings)
    try:
        output, _ = context.call(
            "metric_summary",
            {"metrics": ["rating", "on_time_rate"], "start": "2026-01-04", "end": "2026-01-05"},
        )
        with pytest.raises(ToolError, match=r"no asked metric is available: rating \(missing"):
            context.call("metric_summary", {"metrics": ["rating"], "start": "2026-01-04",
                                            "end": "2026-01-05"})  # fmt: skip
    finally:
        context.close()

    assert [m.metric for m in output.metrics] == ["on_time_rate"]
    assert "ratings table" in output.unavailable["rating"][0]


# --- compare_metric ----------------------------------------------------------------------------


def _side(label: str, start: str, end: str, **filters: list[str | int]) -> dict[str, Any]:
    return {"label": label, "filters": filters, "start": start, "end": end}


def test_compare_metric_difference_is_side_two_minus_side_one_with_statsmodels_p_value(
    context: ToolContext,
) -> None:
    sides = [
        _side("north", "2026-01-01", "2026-01-06", region=["north"]),
        _side("south", "2026-01-01", "2026-01-06", region=["south"]),
    ]

    output, item = context.call("compare_metric", {"metric": "cancellation_rate", "sides": sides})

    counts = {
        region: _one(
            context,
            "SELECT count(*) FILTER (WHERE canceled), count(canceled) FROM order_facts "
            "WHERE region = ? AND order_time >= '2026-01-01' AND order_time < '2026-01-06'",
            [region],
        )
        for region in ("north", "south")
    }
    (north_events, north_n), (south_events, south_n) = counts["north"], counts["south"]
    assert output.difference == pytest.approx(south_events / south_n - north_events / north_n)
    _, p_value = proportions_ztest([south_events, north_events], [south_n, north_n])
    assert output.p_value == pytest.approx(p_value, rel=1e-3)
    assert output.ci_low <= output.difference <= output.ci_high
    assert (item.figures["a.label"].value, item.figures["b.label"].value) == ("north", "south")
    assert item.figures["a.n"].value == north_n and item.figures["difference"].unit == "share"
    assert [row["side"] for row in item.table] == ["north", "south"]


def test_compare_metric_of_two_periods_of_the_cx_score_is_a_heuristic_in_points(
    context: ToolContext,
) -> None:
    sides = [
        _side("before", "2025-12-28", "2026-01-04", category=["grocery"]),
        _side("after", "2026-01-04", "2026-01-06", category=["grocery"]),
    ]

    output, item = context.call("compare_metric", {"sides": sides})

    assert "heuristic" in output.method
    assert item.figures["difference"].unit == "points"
    assert item.figures["a.value"].unit == "score"
    assert output.difference == pytest.approx(output.sides[1].value - output.sides[0].value)
    assert output.sides[0].n == 7 and output.sides[1].n == 2  # days


def test_compare_metric_with_an_empty_side_names_it(context: ToolContext) -> None:
    sides = [
        _side("december", "2025-12-10", "2025-12-12"),
        _side("next year", "2027-01-01", "2027-01-02"),
    ]

    with pytest.raises(ToolError, match="next year: no orders in all orders, 2027-01-01"):
        context.call("compare_metric", {"metric": "on_time_rate", "sides": sides})


def test_compare_metric_needs_exactly_two_sides(context: ToolContext) -> None:
    with pytest.raises(ToolError, match="invalid arguments: sides"):
        context.call("compare_metric", {"sides": [_side("one", "2026-01-01", "2026-01-02")]})


# --- rank_cohorts ------------------------------------------------------------------------------


def test_rank_cohorts_worst_regions_by_cancellation_follow_plain_sql(context: ToolContext) -> None:
    output, item = context.call(
        "rank_cohorts",
        {"dimension": "region", "metric": "cancellation_rate", "k": 3,
         "start": "2026-01-01", "end": "2026-01-06"},
    )  # fmt: skip

    expected = context.con.execute(
        "SELECT region, count(*) FILTER (WHERE canceled) / count(canceled) AS rate, count(*) "
        "FROM order_facts WHERE order_time >= '2026-01-01' AND order_time < '2026-01-06' "
        "GROUP BY region ORDER BY rate DESC, region LIMIT 3"
    ).fetchall()
    assert [(r.group, r.orders) for r in output.rows] == [(g, n) for g, _, n in expected]
    assert [r.value for r in output.rows] == pytest.approx([rate for _, rate, _ in expected])
    assert [item.figures[f"r{i}.name"].value for i in (1, 2, 3)] == [g for g, _, _ in expected]
    assert item.figures["r1.value"].unit == "share" and "r1.q_value" in item.figures
    assert (item.figures["groups"].value, item.figures["excluded_groups"].value) == (5, 0)
    for row in output.rows:
        assert row.ci_low <= row.value <= row.ci_high


def test_rank_cohorts_leaves_out_stores_below_the_minimum_volume_and_says_the_rule(
    context: ToolContext,
) -> None:
    window = {"start": "2026-01-05", "end": "2026-01-06"}
    default, item = context.call("rank_cohorts", {"dimension": "store", "metric": "on_time_rate",
                                                  **window})  # fmt: skip
    asked, _ = context.call(
        "rank_cohorts",
        {"dimension": "store", "metric": "on_time_rate", "min_orders": 5, **window},
    )

    per_store = context.con.execute(
        "SELECT count(*) AS orders FROM order_facts WHERE order_time >= '2026-01-05' "
        "AND order_time < '2026-01-06' GROUP BY store_id"
    ).df()["orders"]
    assert default.groups == (per_store >= 30).sum()
    assert default.excluded_groups == (per_store < 30).sum() > 0
    assert asked.groups == (per_store >= 5).sum() > default.groups
    assert item.figures["min_orders"].value == 30
    assert "at least 30 orders" in default.summary and "default" in default.summary
    assert all(row.orders >= 30 for row in default.rows)


def test_rank_cohorts_by_event_count_and_by_orders(context: ToolContext) -> None:
    by_count, count_item = context.call(
        "rank_cohorts", {"dimension": "category", "metric": "cancellation_rate", "count": True}
    )
    busiest, _ = context.call(
        "rank_cohorts", {"dimension": "hour", "metric": "orders", "order": "best", "k": 1}
    )

    canceled = context.con.execute(
        "SELECT category, count(*) FILTER (WHERE canceled) AS n FROM order_facts "
        "GROUP BY 1 ORDER BY n DESC, category"
    ).fetchall()
    assert [(r.group, r.value) for r in by_count.rows] == [(c, float(n)) for c, n in canceled]
    assert count_item.figures["r1.value"].unit == "count" and "r1.q_value" not in count_item.figures
    (top_hour,) = busiest.rows
    assert (top_hour.group, top_hour.orders) == _one(
        context, "SELECT hour, count(*) AS n FROM order_facts GROUP BY 1 ORDER BY n DESC LIMIT 1"
    )


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"dimension": "Planet!"}, "invalid arguments: dimension"),
        ({"dimension": "planet"}, "unknown dimension 'planet'; known: region, .*weekday"),
        ({"dimension": "region", "metric": "duration_min", "count": True}, "not a rate"),
        ({"dimension": "region", "metric": "happiness"}, "unknown metric 'happiness'"),
        ({"dimension": "region", "k": 0}, "invalid arguments: k"),
    ],
)
def test_rank_cohorts_bad_arguments_are_tool_errors(
    context: ToolContext, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ToolError, match=message):
        context.call("rank_cohorts", arguments)


# --- cx_timeseries by week ---------------------------------------------------------------------


def test_weekly_series_starts_on_mondays_with_overall_values_as_ratios_of_sums(
    context: ToolContext,
) -> None:
    output, item = context.call(
        "cx_timeseries", {"metrics": ["on_time_rate"], "grain": "week", "filters": GROCERY_DINNER}
    )

    periods = [dt.date.fromisoformat(row["period"]) for row in output.rows]
    assert periods and all(p.weekday() == 0 for p in periods)
    on_time, n = _one(
        context,
        "SELECT count(*) FILTER (WHERE on_time), count(on_time) FROM order_facts "
        "WHERE category = 'grocery' AND hour IN (18, 19, 20)",
    )
    assert item.figures["on_time_rate.overall"].value == round(on_time / n, 6)
    values = {row["period"]: row["on_time_rate"] for row in output.rows}
    lowest = min(values, key=values.__getitem__)
    assert item.figures["on_time_rate.min_period"].value == lowest
    assert item.figures["on_time_rate.min"].value == round(values[lowest], 6)
    assert item.figures["on_time_rate.last"].value == round(output.rows[-1]["on_time_rate"], 6)
    assert "weeks start on Monday; partial weeks: 2025-12-01 (" in output.summary
    assert output.rows[0]["days"] < 7 and "?" not in item.sql


def test_hourly_series_keeps_the_last_200_hours_as_figures_and_table(
    context: ToolContext,
) -> None:
    output, item = context.call("cx_timeseries", {"metrics": ["cx_score"], "grain": "hour"})

    assert len(output.rows) > 200
    assert len(item.table) == 200 and item.table[-1] == output.rows[-1]
    hourly = [name for name in item.figures if name.startswith("cx_score@")]
    assert len(hourly) == 200 and f"cx_score@{output.rows[-1]['period']}" in item.figures


# --- detect_incidents by range -----------------------------------------------------------------


def test_detect_incidents_in_a_range_keeps_only_the_incidents_active_then(
    context: ToolContext,
) -> None:
    everything, _ = context.call("detect_incidents", {"grain": "hour"})
    during, item = context.call(
        "detect_incidents", {"grain": "hour", "start": "2026-01-04", "end": "2026-01-05"}
    )
    before, _ = context.call(
        "detect_incidents", {"grain": "hour", "start": "2025-12-10", "end": "2025-12-12"}
    )

    dinner = next(i for i in everything.incidents if i.start == dt.datetime(2026, 1, 4, 18))
    assert dinner.incident_id in {i.incident_id for i in during.incidents}
    assert dinner.incident_id not in {i.incident_id for i in before.incidents}
    window = (dt.datetime(2025, 12, 10), dt.datetime(2025, 12, 13))
    assert all(
        i.start < window[1] and (i.end is None or i.end > window[0]) for i in before.incidents
    )
    key = dinner.incident_id
    assert item.figures[f"{key}.primary_metric"].value == dinner.primary_metric
    assert item.figures[f"{key}.primary_cohort"].unit == "text"


def test_detect_incidents_range_outside_the_data_names_the_data_span(
    context: ToolContext,
) -> None:
    with pytest.raises(ToolError, match=r"outside the data \(2025-12-06 to 2026-01"):
        context.call("detect_incidents", {"grain": "hour", "start": "2027-01-01"})


def test_detect_incidents_range_in_the_wrong_order_is_invalid(context: ToolContext) -> None:
    with pytest.raises(ToolError, match="invalid arguments"):
        context.call("detect_incidents", {"start": "2026-01-05", "end": "2026-01-01"})


# --- change_log by range and name --------------------------------------------------------------


def test_change_log_by_range_and_by_name_with_text_figures(context: ToolContext) -> None:
    ranged, _ = context.call("change_log", {"start": "2026-01-01", "end": "2026-01-05"})
    named, item = context.call("change_log", {"start": "2025-12-01", "name": "batching_threshold"})

    times = _one(
        context,
        "SELECT count(*) FROM changes WHERE change_time >= '2026-01-01' "
        "AND change_time <= '2026-01-05'",
    )
    assert len(ranged.changes) == times[0] > 0
    (change,) = named.changes
    key = change.change_id
    assert item.figures[f"{key}.scope"].value == "category=grocery, hours=18-20"
    assert item.figures[f"{key}.kind"].value == "policy"
    assert {f"{key}.old_value", f"{key}.new_value", f"{key}.description"} <= set(item.figures)
    assert f"{key}.hours_before_incident" not in item.figures


def test_change_log_without_a_time_or_a_range_is_invalid(context: ToolContext) -> None:
    with pytest.raises(ToolError, match="give `around`"):
        context.call("change_log", {"name": "batching_threshold"})


def test_change_log_around_a_time_still_counts_hours_before_it(context: ToolContext) -> None:
    output, item = context.call("change_log", {"around": "2026-01-04T18:00"})

    (change,) = [c for c in output.changes if c.name == "batching_threshold"]
    assert change.hours_before_incident == pytest.approx(21.0)
    assert item.figures[f"{change.change_id}.hours_before_incident"].value == 21.0


# --- metric_definition and describe_world ------------------------------------------------------


def test_metric_definition_gives_the_registry_description_and_sql(context: ToolContext) -> None:
    output, item = context.call("metric_definition", {"metric": "on_time_rate"})

    assert "+ 5 min" in item.figures["definition"].value
    assert item.figures["cx_weight"].value == 0.30
    assert output.numerator == "count(*) FILTER (WHERE on_time)"
    days = context.con.execute(item.sql).df()
    assert len(days) == _one(context, "SELECT count(DISTINCT day) FROM order_facts")[0]


def test_metric_definition_of_the_cx_score_has_weights_summing_to_one(
    context: ToolContext,
) -> None:
    _, item = context.call("metric_definition", {"metric": "cx_score"})

    weights = {k: f.value for k, f in item.figures.items() if k.startswith("weight.")}
    assert len(weights) == 6 and sum(weights.values()) == pytest.approx(1.0)
    assert "0.30 x (100 x on_time_rate)" in item.figures["definition"].value


def test_metric_definition_of_an_unknown_metric_lists_the_known_ones(
    context: ToolContext,
) -> None:
    with pytest.raises(ToolError, match="unknown metric 'joy'; known: cx_score, on_time_rate"):
        context.call("metric_definition", {"metric": "joy"})


def test_describe_world_counts_orders_tables_stores_and_changes(context: ToolContext) -> None:
    output, item = context.call("describe_world", {})

    orders, stores, changes = _one(
        context,
        "SELECT count(*), count(DISTINCT store_id), (SELECT count(*) FROM changes) "
        "FROM order_facts",
    )
    assert item.figures["orders"].value == item.figures["rows.orders"].value == orders
    assert (item.figures["stores"].value, item.figures["changes"].value) == (stores, changes)
    assert item.figures["regions"].value == "central, east, north, south, west"
    assert output.metrics_unavailable == {} and "cx_score" in output.metrics_available


def test_describe_world_without_ratings_names_what_the_rating_lacks(
    world_without_ratings: Path,
) -> None:
    context = ToolContext(world_dir=world_without_ratings)
    try:
        output, _ = context.call("describe_world", {})
    finally:
        context.close()

    assert "rating" in output.metrics_unavailable and "rating" not in output.metrics_available
    assert "ratings" not in output.rows
    assert "weights renormalized" in output.cx_coverage


def test_connection_stays_usable_after_tool_errors(context: ToolContext) -> None:
    with pytest.raises(ToolError):
        context.call("metric_summary", {"filters": {"hour": ["x"]}, "start": "2026-01-04",
                                        "end": "2026-01-05"})  # fmt: skip

    output, _ = context.call("describe_world", {})
    assert output.orders > 0
