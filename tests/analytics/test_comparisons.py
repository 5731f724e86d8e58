"""Comparisons: tests checked against statsmodels and scipy on the same numbers, measurements
against plain SQL on a small demo world, rankings on hand-made frames, the week grain."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from analytics.changes import change_count, describe_scope, logged_changes
from analytics.comparisons import (
    ComparisonError,
    Sums,
    cx_score_of,
    measure,
    rank_groups,
    ranks_descending,
    render_sql,
    two_proportion,
    welch_from_sums,
    welch_over_days,
    world_profile,
)
from analytics.metrics import CX_COMPONENTS, CX_SCORE, cx_score_sql, metric_frame
from data.scenario import Scenario
from data.warehouse import open_warehouse

ScenarioFactory = Callable[..., Scenario]
WorldFactory = Callable[[Scenario], Path]

JAN_1, JAN_4, JAN_6 = dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 4), dt.datetime(2026, 1, 6)


@pytest.fixture(scope="module")
def con(
    small_scenario: ScenarioFactory, make_world: WorldFactory
) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = open_warehouse(make_world(small_scenario("demo")))
    yield connection
    connection.close()


# --- SQL for display ---------------------------------------------------------------------------


def test_render_sql_inlines_strings_numbers_and_timestamps_as_literals() -> None:
    rendered = render_sql(
        "SELECT 1 WHERE a IN (?, ?) AND t >= ? AND d = ? AND x IS ?",
        ["o'neil", 18, dt.datetime(2026, 1, 4, 18, 30), dt.date(2026, 1, 4), None],
        pretty=False,
    )

    assert rendered == (
        "SELECT 1 WHERE a IN ('o''neil', 18) AND t >= TIMESTAMP '2026-01-04 18:30:00' "
        "AND d = DATE '2026-01-04' AND x IS NULL"
    )


def test_render_sql_with_too_few_parameters_raises() -> None:
    with pytest.raises(ValueError, match="2 placeholders for 1 parameters"):
        render_sql("SELECT ? + ?", [1])


def test_rendered_query_returns_what_the_parameterized_query_returns(
    con: duckdb.DuckDBPyConnection,
) -> None:
    sql = (
        "SELECT count(*), sum(basket_value) FROM order_facts "
        "WHERE category IN (?) AND hour IN (?, ?) AND order_time >= ? AND order_time < ?"
    )
    parameters = ["grocery", 18, 19, JAN_4, JAN_6]

    assert con.execute(render_sql(sql, parameters)).fetchall() == (
        con.execute(sql, parameters).fetchall()
    )


# --- tests of a difference ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "events_a, n_a, events_b, n_b",
    [(120, 1000, 150, 1000), (3, 40, 11, 35), (5000, 90000, 480, 8000), (0, 50, 4, 60)],
)
def test_two_proportion_test_matches_statsmodels_on_the_same_counts(
    events_a: int, n_a: int, events_b: int, n_b: int
) -> None:
    found = two_proportion(events_a, n_a, events_b, n_b)

    _, p_value = proportions_ztest([events_b, events_a], [n_b, n_a])
    low, high = confint_proportions_2indep(
        events_b, n_b, events_a, n_a, method="newcomb", compare="diff"
    )
    assert found.estimate == pytest.approx(events_b / n_b - events_a / n_a)
    assert found.p_value == pytest.approx(p_value, rel=1e-9)
    assert (found.ci_low, found.ci_high) == pytest.approx((low, high), rel=1e-9)
    assert found.ci_low <= found.estimate <= found.ci_high


def test_two_proportion_without_any_event_is_not_tested_and_says_why() -> None:
    found = two_proportion(0, 500, 0, 400)

    assert (found.estimate, found.p_value, found.ci_low) == (0.0, None, None)
    assert found.method.startswith("no test: no variation")


def _sums(values: np.ndarray) -> Sums:
    return Sums(float(values.sum()), float(len(values)), float((values**2).sum()))


def test_welch_test_from_sums_matches_scipy_on_the_raw_values() -> None:
    rng = np.random.default_rng(7)
    before, after = rng.normal(30.0, 6.0, 400), rng.normal(31.5, 9.0, 250)

    found = welch_from_sums(_sums(before), _sums(after))

    raw = stats.ttest_ind(after, before, equal_var=False)
    from_stats = stats.ttest_ind_from_stats(
        after.mean(), after.std(ddof=1), len(after), before.mean(), before.std(ddof=1),
        len(before), equal_var=False,
    )  # fmt: skip
    interval = raw.confidence_interval(0.95)
    assert found.estimate == pytest.approx(after.mean() - before.mean())
    assert found.p_value == pytest.approx(raw.pvalue, rel=1e-6)
    assert found.p_value == pytest.approx(from_stats.pvalue, rel=1e-6)
    assert (found.ci_low, found.ci_high) == pytest.approx((interval.low, interval.high), rel=1e-6)


def test_welch_test_with_one_value_on_a_side_is_not_tested() -> None:
    found = welch_from_sums(_sums(np.array([4.0])), _sums(np.array([3.0, 5.0, 4.0])))

    assert found.p_value is None and found.method == "no test: a side has fewer than 2 values"


def test_welch_over_days_matches_scipy_when_the_estimate_is_the_difference_of_day_means() -> None:
    before, after = [93.1, 93.8, 93.5, 94.0, 93.6], [91.0, 92.2, 91.5]

    found = welch_over_days(before, after, float(np.mean(after) - np.mean(before)))

    raw = stats.ttest_ind(after, before, equal_var=False)
    interval = raw.confidence_interval(0.95)
    assert found.p_value == pytest.approx(raw.pvalue, rel=1e-9)
    assert (found.ci_low, found.ci_high) == pytest.approx((interval.low, interval.high))
    assert "heuristic" in found.method


def test_welch_over_days_with_a_single_day_is_not_tested_and_says_why() -> None:
    found = welch_over_days([93.1, 93.8, 93.5], [90.2], -3.2)

    assert found.estimate == -3.2 and found.p_value is None
    assert found.method == "no test: the CX score is tested over days; a side has under 2 days"


# --- the CX score and measurements -------------------------------------------------------------


def test_cx_score_of_sub_metric_values_equals_the_sql_cx_score(
    con: duckdb.DuckDBPyConnection,
) -> None:
    frame = metric_frame(con, [CX_SCORE], "day", start=JAN_1, end=JAN_6)
    # Drop one sub-score in one row: the weights of the others are renormalized in both.
    frame.loc[0, "rating"] = np.nan
    scratch = duckdb.connect()
    scratch.register("frame", frame)
    sql_cx = scratch.execute(f"SELECT {cx_score_sql()} AS cx FROM frame").df()["cx"]

    ours = [cx_score_of(row) for row in frame[list(CX_COMPONENTS)].to_dict("records")]
    assert ours == pytest.approx(list(sql_cx), rel=1e-12)
    assert len(ours) == 5


def test_measured_window_equals_plain_sql_on_order_facts(con: duckdb.DuckDBPyConnection) -> None:
    filters = {"category": ["grocery"], "hour": [18, 19, 20]}

    found = measure(con, [CX_SCORE, "on_time_rate", "rating"], filters, JAN_4, JAN_6)

    orders, on_time, delivered, stars, rated, squares = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE on_time), count(on_time), sum(stars), "
        "count(stars), sum(stars * stars) FROM order_facts WHERE category = 'grocery' "
        "AND hour IN (18, 19, 20) AND order_time >= ? AND order_time < ?",
        [JAN_4, JAN_6],
    ).fetchone()
    assert found.orders == orders
    assert found.values["on_time_rate"] == pytest.approx(on_time / delivered)
    assert found.values["rating"] == pytest.approx(stars / rated)
    assert found.sums["rating"].square == pytest.approx(squares)
    daily = metric_frame(con, [CX_SCORE], "day", filters, start=JAN_4, end=JAN_6)
    assert found.daily_cx == pytest.approx(tuple(daily[CX_SCORE]))
    # The SQL shown runs as it reads (values inlined) and gives the same days.
    assert "'grocery'" in found.sql and "2026-01-04 00:00:00" in found.sql
    assert con.execute(found.sql).df()["orders"].sum() == orders


def test_measuring_with_a_filter_value_of_the_wrong_type_is_a_comparison_error(
    con: duckdb.DuckDBPyConnection,
) -> None:
    with pytest.raises(ComparisonError, match="does not fit its dimension"):
        measure(con, ["on_time_rate"], {"hour": ["dinner"]}, JAN_4, JAN_6)


# --- ranking -----------------------------------------------------------------------------------


def _cancellations(rows: list[tuple[str, int, int]]) -> pd.DataFrame:
    """A grouped frame: region, orders, canceled orders (the denominator is every order)."""
    return pd.DataFrame(
        {
            "region": [r for r, _, _ in rows],
            "orders": [n for _, n, _ in rows],
            "cancellation_rate_num": [float(c) for _, _, c in rows],
            "cancellation_rate_den": [n for _, n, _ in rows],
        }
    )


def test_worst_cancellation_rate_ranks_the_highest_rate_first_and_leaves_out_small_groups() -> None:
    frame = _cancellations(
        [("north", 1000, 20), ("south", 800, 40), ("east", 12, 6), ("west", 900, 27)]
    )

    ranking = rank_groups(frame, "region", "cancellation_rate", order="worst")

    assert [g.group for g in ranking.groups] == ["south", "west", "north"]
    assert [g.value for g in ranking.groups] == pytest.approx([0.05, 0.03, 0.02])
    assert (ranking.excluded_groups, ranking.min_orders) == (1, 30)
    assert "default" in ranking.rule
    # The cohort's value counts every group, the small one too.
    assert ranking.overall == pytest.approx(93 / 2712)


def test_versus_rest_is_the_group_minus_the_rest_of_the_cohort_with_bh_q_values() -> None:
    frame = _cancellations(
        [("north", 1000, 20), ("south", 800, 40), ("east", 12, 6), ("west", 900, 27)]
    )

    ranking = rank_groups(frame, "region", "cancellation_rate")

    south = ranking.groups[0]
    p_values = []
    for group in ranking.groups:
        own = frame[frame["region"] == group.group].iloc[0]
        rest = frame[frame["region"] != group.group]
        expected = two_proportion(
            rest["cancellation_rate_num"].sum(), rest["orders"].sum(),
            own["cancellation_rate_num"], own["orders"],
        )  # fmt: skip
        assert group.versus_rest.estimate == pytest.approx(expected.estimate)
        assert group.versus_rest.p_value == pytest.approx(expected.p_value)
        low, high = group.interval
        assert low <= group.value <= high
        p_values.append(expected.p_value)
    q_values = multipletests(p_values, method="fdr_bh")[1]
    assert [g.q_value for g in ranking.groups] == pytest.approx(list(q_values))
    assert south.versus_rest.estimate > 0


def test_ties_are_broken_by_group_name_and_min_orders_as_asked_is_the_rule() -> None:
    frame = _cancellations([("west", 100, 5), ("east", 100, 5), ("north", 100, 1)])

    ranking = rank_groups(frame, "region", "cancellation_rate", min_orders=50)

    assert [g.group for g in ranking.groups] == ["east", "west", "north"]
    assert ranking.rule == "groups with at least 50 orders in the period (as asked)"


def test_counts_rank_events_without_interval_or_test() -> None:
    frame = _cancellations([("north", 2000, 30), ("south", 500, 25)])

    ranking = rank_groups(frame, "region", "cancellation_rate", count=True)

    assert [(g.group, g.value) for g in ranking.groups] == [("north", 30.0), ("south", 25.0)]
    assert all(g.interval is None and g.versus_rest is None for g in ranking.groups)
    assert ranking.overall == 55.0


def test_count_of_a_mean_metric_is_a_comparison_error() -> None:
    with pytest.raises(ComparisonError, match="duration_min is not a rate"):
        rank_groups(pd.DataFrame({"region": [], "orders": []}), "region", "duration_min",
                    count=True)  # fmt: skip


@pytest.mark.parametrize(
    "metric, order, descending",
    [
        ("cancellation_rate", "worst", True),
        ("cancellation_rate", "best", False),
        ("on_time_rate", "worst", False),
        (CX_SCORE, "worst", False),
        ("orders", "worst", False),
        ("orders", "best", True),
        ("on_time_rate", "highest", True),
        ("cancellation_rate", "lowest", False),
    ],
)
def test_worst_and_best_follow_the_metric_direction_highest_and_lowest_are_literal(
    metric: str, order: str, descending: bool
) -> None:
    assert ranks_descending(metric, False, order) is descending  # type: ignore[arg-type]


def test_mean_metric_groups_have_t_intervals_around_their_means(
    con: duckdb.DuckDBPyConnection,
) -> None:
    frame = metric_frame(con, ["duration_min"], None, group_by=["region"], start=JAN_1, end=JAN_6)

    ranking = rank_groups(frame, "region", "duration_min", order="worst")

    values = [g.value for g in ranking.groups]
    assert values == sorted(values, reverse=True)  # the slowest first
    for group in ranking.groups:
        raw = con.execute(
            "SELECT duration_min FROM order_facts WHERE region = ? AND duration_min IS NOT NULL "
            "AND order_time >= ? AND order_time < ?",
            [group.group, JAN_1, JAN_6],
        ).df()["duration_min"]
        interval = stats.ttest_1samp(raw, 0).confidence_interval(0.95)
        assert group.value == pytest.approx(raw.mean())
        assert group.interval == pytest.approx((interval.low, interval.high), rel=1e-6)


# --- the week grain ----------------------------------------------------------------------------


def test_week_grain_buckets_start_on_mondays_and_hold_that_week_orders(
    con: duckdb.DuckDBPyConnection,
) -> None:
    frame = metric_frame(con, ["on_time_rate"], "week")

    periods = [p.to_pydatetime() for p in frame["period"]]
    assert all(p.weekday() == 0 and p.time() == dt.time() for p in periods)
    days = con.execute("SELECT day, count(*) FROM order_facts GROUP BY day").fetchall()
    expected: dict[dt.date, int] = {}
    for day, orders in days:
        monday = day - dt.timedelta(days=day.weekday())
        expected[monday] = expected.get(monday, 0) + orders
    assert dict(zip([p.date() for p in periods], frame["orders"], strict=True)) == expected


def test_week_grain_reads_as_known_at_the_time_too(con: duckdb.DuckDBPyConnection) -> None:
    known = metric_frame(con, ["on_time_rate"], "week", maturity=dt.timedelta(hours=2))
    everything = metric_frame(con, ["on_time_rate"], "week")

    assert list(known["orders"]) == list(everything["orders"])
    # Only the last week can still miss outcomes recorded after the data ends.
    assert list(known["on_time_rate_den"])[:-1] == list(everything["on_time_rate_den"])[:-1]


# --- the change log and the world's profile ----------------------------------------------------


def test_describe_scope_shows_consecutive_hours_as_a_range() -> None:
    assert describe_scope({"category": ["grocery"], "hours": [18, 19, 20]}) == (
        "category=grocery, hours=18-20"
    )
    assert describe_scope({"region": ["west", "east"], "hours": [7, 9]}) == (
        "region=west/east, hours=7/9"
    )
    assert describe_scope({}) == "marketplace-wide"


def test_logged_changes_by_range_and_by_name(con: duckdb.DuckDBPyConnection) -> None:
    everything = logged_changes(con)
    since = logged_changes(con, start=dt.datetime(2025, 12, 25))
    named = logged_changes(con, name="batching_threshold")

    assert len(everything) == change_count(con) > len(since) > 0
    assert all(c.change_time >= dt.datetime(2025, 12, 25) for c in since)
    assert [c.change_time for c in everything] == sorted(
        (c.change_time for c in everything), reverse=True
    )
    assert [c.name for c in named] == ["batching_threshold"]
    assert named[0].hours_before_incident is None


def test_world_profile_matches_order_facts(con: duckdb.DuckDBPyConnection) -> None:
    profile = world_profile(con)

    orders, stores = con.execute(
        "SELECT count(*), count(DISTINCT store_id) FROM order_facts"
    ).fetchone()
    assert (profile.orders, profile.stores) == (orders, stores)
    assert profile.rows["orders"] == orders and "order_facts" not in profile.rows
    assert profile.regions == ("central", "east", "north", "south", "west")
    assert profile.dayparts == ("breakfast", "lunch", "dinner", "late_night")
    assert profile.basket_sizes == ("small", "medium", "large")
    assert profile.days == (profile.data_end.date() - profile.data_start.date()).days + 1
