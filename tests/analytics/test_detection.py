"""Detectors on synthetic z series, seasonal residuals on hand-made frames, and no look-ahead."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from analytics import alarms
from analytics.alarms import (
    COHORT_DIMENSIONS,
    CROSSED_DIMENSIONS,
    DetectionError,
    _cohort_columns,
    choose_grain,
    cohort_grains,
    data_span,
    scan,
    scan_series,
)
from analytics.detection import (
    DetectorSettings,
    SeriesInput,
    bocpd_recent_change,
    cusum_chart,
    ewma_chart,
    period_columns,
    residuals,
    residuals_many,
    rolled,
    run_detectors,
    run_detectors_many,
    window_alarms,
)
from analytics.metrics import metric_frame
from data.scenario import Intervention, Scenario, load_scenario
from data.warehouse import open_warehouse

ScenarioFactory = Callable[..., Scenario]
WorldFactory = Callable[[Scenario], Path]

SETTINGS = DetectorSettings()
EWMA_LIMIT = SETTINGS.ewma_limit * np.sqrt(SETTINGS.ewma_lambda / (2 - SETTINGS.ewma_lambda))

# --- detectors on synthetic z series -------------------------------------------------------

SHIFT_AT = 200


@pytest.fixture(scope="module")
def shifted_z() -> np.ndarray:
    """400 standard normals whose mean rises by 3 sd from index SHIFT_AT on."""
    z = np.random.default_rng(20260104).standard_normal(400)
    z[SHIFT_AT:] += 3.0
    return z


def test_cusum_crosses_its_limit_within_a_few_periods_of_a_three_sd_shift(
    shifted_z: np.ndarray,
) -> None:
    statistic, run_start = cusum_chart(shifted_z, slack=0.5)
    crossings = np.flatnonzero(statistic > SETTINGS.cusum_limit)
    # Drift after the shift is 3 - 0.5 = 2.5 per period, so a limit of 8 takes ~3-4 periods.
    assert SHIFT_AT <= crossings[0] <= SHIFT_AT + 5
    assert SHIFT_AT <= run_start[crossings[0]] <= SHIFT_AT + 2


def test_ewma_crosses_its_limit_shortly_after_a_three_sd_shift(shifted_z: np.ndarray) -> None:
    crossings = np.flatnonzero(ewma_chart(shifted_z, SETTINGS.ewma_lambda) > EWMA_LIMIT)
    assert SHIFT_AT <= crossings[0] <= SHIFT_AT + 5


def test_bocpd_recent_change_probability_peaks_right_after_a_three_sd_shift(
    shifted_z: np.ndarray,
) -> None:
    probability, level = bocpd_recent_change(
        shifted_z, SETTINGS.bocpd_hazard, SETTINGS.bocpd_recent, SETTINGS.bocpd_max_run
    )
    # The first `recent` periods are a run that began at the series start by definition.
    after_warm_up = np.arange(SETTINGS.bocpd_recent, len(shifted_z))
    peak = after_warm_up[np.argmax(probability[after_warm_up])]
    assert SHIFT_AT <= peak <= SHIFT_AT + SETTINGS.bocpd_recent
    assert probability[peak] > SETTINGS.bocpd_probability
    assert level[peak] == pytest.approx(3.0, abs=1.0)


def test_a_single_six_sd_spike_fires_the_z_score_but_not_the_cusum() -> None:
    z = np.random.default_rng(6).standard_normal(400)
    z[100] = 6.0
    votes = run_detectors(z, SETTINGS)
    statistic, _ = cusum_chart(z, SETTINGS.cusum_slack)
    assert np.flatnonzero(votes.fired["zscore"]).tolist() == [100]
    assert np.nanmax(statistic) < SETTINGS.cusum_limit
    assert not votes.fired["cusum"].any()


def test_run_detectors_on_pure_noise_raises_no_alarm() -> None:
    # About 7% of seeds raise an alarm somewhere in 2000 periods (measured over 300 seeds):
    # the detectors' combined in-control run length is a few tens of thousands of periods.
    votes = run_detectors(np.random.default_rng(2026).standard_normal(2000), SETTINGS)
    assert not votes.alarm.any()
    assert SETTINGS.min_votes == 2


def test_missing_periods_hold_the_ewma_cusum_and_bocpd_state(shifted_z: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    length = len(shifted_z) + 150
    positions = np.sort(rng.choice(length, size=len(shifted_z), replace=False))
    gappy = np.full(length, np.nan)
    gappy[positions] = shifted_z
    gaps = np.setdiff1d(np.arange(length), positions)

    np.testing.assert_array_equal(
        ewma_chart(gappy, SETTINGS.ewma_lambda)[positions],
        ewma_chart(shifted_z, SETTINGS.ewma_lambda),
    )
    statistic, run_start = cusum_chart(gappy, SETTINGS.cusum_slack)
    compact_statistic, compact_run_start = cusum_chart(shifted_z, SETTINGS.cusum_slack)
    np.testing.assert_array_equal(statistic[positions], compact_statistic)
    # Run starts are indices into the series, so they map through the positions.
    expected_start = np.where(compact_run_start >= 0, positions[compact_run_start], -1)
    np.testing.assert_array_equal(run_start[positions], expected_start)
    assert np.isnan(statistic[gaps]).all()
    bocpd = bocpd_recent_change(
        gappy, SETTINGS.bocpd_hazard, SETTINGS.bocpd_recent, SETTINGS.bocpd_max_run
    )
    compact_bocpd = bocpd_recent_change(
        shifted_z, SETTINGS.bocpd_hazard, SETTINGS.bocpd_recent, SETTINGS.bocpd_max_run
    )
    for gappy_values, compact_values in zip(bocpd, compact_bocpd, strict=True):
        np.testing.assert_array_equal(gappy_values[positions], compact_values)


def test_a_stack_of_series_is_charted_as_each_series_alone(shifted_z: np.ndarray) -> None:
    # The scan charts all its series together; each row must get what it would get alone,
    # whatever the other rows hold and wherever their gaps fall.
    rng = np.random.default_rng(11)
    stack = np.vstack([shifted_z, rng.standard_normal(400), rng.standard_normal(400) + 1.0])
    stack[1, rng.choice(400, size=150, replace=False)] = np.nan
    stack[2, :250] = np.nan  # a series that starts late
    together = run_detectors_many(stack, SETTINGS)
    charted = (
        ewma_chart(stack, SETTINGS.ewma_lambda),
        *cusum_chart(stack, SETTINGS.cusum_slack),
        *bocpd_recent_change(
            stack, SETTINGS.bocpd_hazard, SETTINGS.bocpd_recent, SETTINGS.bocpd_max_run
        ),
    )
    for row, votes in zip(stack, together, strict=True):
        alone = run_detectors(row, SETTINGS)
        assert set(votes.fired) == set(alone.fired)
        for name in alone.fired:
            np.testing.assert_array_equal(votes.fired[name], alone.fired[name])
        np.testing.assert_array_equal(votes.run_start, alone.run_start)
    for stacked, single in zip(
        charted,
        zip(
            *[
                (
                    ewma_chart(row, SETTINGS.ewma_lambda),
                    *cusum_chart(row, SETTINGS.cusum_slack),
                    *bocpd_recent_change(
                        row, SETTINGS.bocpd_hazard, SETTINGS.bocpd_recent, SETTINGS.bocpd_max_run
                    ),
                )
                for row in stack
            ],
            strict=True,
        ),
        strict=True,
    ):
        np.testing.assert_array_equal(stacked, np.vstack(single))
    assert together[0].alarm.any() and not together[0].alarm[:SHIFT_AT].any()


# --- residuals on hand-made hourly frames ----------------------------------------------------

DAY = 24
WEEK = 168
HOURS = 5 * WEEK
ORDERS_PER_HOUR = 200
BASE_RATES = {
    "on_time_rate": 0.9,
    "cancellation_rate": 0.05,
    "refund_rate": 0.04,
    "support_rate": 0.06,
    "item_accuracy": 0.97,
}
STAR_SHARES = (0.05, 0.05, 0.10, 0.25, 0.55)  # 1..5 stars
RATED_SHARE = 0.3
LINES_PER_ORDER = 3


def _hourly_frame(
    seed: int,
    rates: dict[str, np.ndarray] | None = None,
    orders: np.ndarray | None = None,
) -> pd.DataFrame:
    """Five weeks of hourly CX counts drawn around known rates (constant unless given per hour).

    Every count is binomial (ratings: multinomial stars), so the noise is exactly the sampling
    noise the detector's variance assumes.
    """
    rng = np.random.default_rng(seed)
    orders = np.full(HOURS, ORDERS_PER_HOUR) if orders is None else orders
    rates = {name: np.full(HOURS, rate) for name, rate in BASE_RATES.items()} | (rates or {})
    frame: dict[str, object] = {
        "period": pd.date_range("2025-11-03", periods=HOURS, freq="h"),
        "orders": orders,
    }
    for name in ("on_time_rate", "cancellation_rate", "refund_rate", "support_rate"):
        frame[f"{name}_num"] = rng.binomial(orders, rates[name])
        frame[f"{name}_den"] = orders
    lines = LINES_PER_ORDER * orders
    frame["item_accuracy_num"] = rng.binomial(lines, rates["item_accuracy"])
    frame["item_accuracy_den"] = lines
    rated = rng.binomial(orders, RATED_SHARE)
    star_counts = np.array([rng.multinomial(n, STAR_SHARES) for n in rated])
    stars = np.arange(1, 6)
    frame["rating_num"] = star_counts @ stars
    frame["rating_den"] = rated
    frame["rating_sq"] = star_counts @ stars**2
    return pd.DataFrame(frame)


def test_series_standardized_together_get_what_each_gets_alone() -> None:
    # The scan standardizes all series of a window length at once (one exact-tail call, one
    # rolling-median frame); each series must get exactly its own residuals.
    frames = [period_columns(_hourly_frame(seed=seed)) for seed in (5, 6)]
    dropped = frames[1]["on_time_rate_num"].astype(float)
    dropped[WEEK * 3 :] *= 0.8  # a drop in one frame only
    frames[1]["on_time_rate_num"] = dropped
    names = ("on_time_rate", "cancellation_rate", "rating", "cx_score")
    for window, floor in ((1, None), (DAY, np.full(HOURS, 1.3))):
        framed = [rolled(frame, window) for frame in frames]
        inputs = [
            SeriesInput(frame, name, dispersion_floor=floor) for frame in framed for name in names
        ]
        together = residuals_many(inputs, "hour", SETTINGS, window)
        for series, found in zip(inputs, together, strict=True):
            alone = residuals(series.frame, series.name, "hour", SETTINGS, window, floor)
            for field in ("value", "expected", "z", "orders", "dispersion"):
                np.testing.assert_array_equal(getattr(found, field), getattr(alone, field))
        assert np.nanmax(together[4].z) > SETTINGS.z_limit  # the drop is seen
        assert np.nanmax(together[0].z) < SETTINGS.z_limit


def _rate(value: float, from_hour: int, base: str) -> dict[str, np.ndarray]:
    rate = np.full(HOURS, BASE_RATES[base])
    rate[from_hour:] = value
    return {base: rate}


@pytest.mark.parametrize("name", ["on_time_rate", "cancellation_rate", "cx_score"])
def test_z_is_undefined_in_the_first_week_and_roughly_standard_afterwards(name: str) -> None:
    z = residuals(_hourly_frame(seed=1), name, "hour", SETTINGS).z
    assert np.isnan(z[:WEEK]).all()
    # The overdispersion factor needs two days of residuals before z is defined.
    judged = z[WEEK + 2 * DAY :]
    assert np.isfinite(judged).all()
    assert abs(judged.mean()) < 0.3
    assert 0.6 < judged.std() < 1.4


def test_on_time_rate_drop_in_the_last_day_gives_large_positive_z() -> None:
    frame = _hourly_frame(seed=2, rates=_rate(0.7, HOURS - DAY, "on_time_rate"))
    z = residuals(frame, "on_time_rate", "hour", SETTINGS).z
    # A 20-point drop on 200 orders is ~9 sampling sds; allow for noise and the inflation.
    assert z[-DAY:].min() > SETTINGS.z_limit
    assert z[-DAY:].mean() > 6


def test_on_time_rate_rise_in_the_last_day_gives_negative_z() -> None:
    frame = _hourly_frame(seed=2, rates=_rate(0.97, HOURS - DAY, "on_time_rate"))
    z = residuals(frame, "on_time_rate", "hour", SETTINGS).z
    assert z[-DAY:].max() < 0


def test_cancellation_rate_rise_in_the_last_day_gives_positive_z() -> None:
    frame = _hourly_frame(seed=2, rates=_rate(0.15, HOURS - DAY, "cancellation_rate"))
    z = residuals(frame, "cancellation_rate", "hour", SETTINGS).z
    assert z[-DAY:].min() > 0
    assert z[-DAY:].mean() > 3


def test_periods_with_fewer_orders_than_min_units_get_no_z() -> None:
    orders = np.full(HOURS, ORDERS_PER_HOUR)
    quiet = np.arange(3 * WEEK + 2, 3 * WEEK + 6)
    orders[quiet] = SETTINGS.min_units - 1
    z = residuals(_hourly_frame(seed=4, orders=orders), "on_time_rate", "hour", SETTINGS).z
    assert np.isnan(z[quiet]).all()
    assert np.isfinite(z[[quiet[0] - 1, quiet[-1] + 1]]).all()


def test_a_cx_score_read_from_one_rate_gets_that_rates_exact_tail_z() -> None:
    """12 orders an hour: only item accuracy (36 lines) has enough units for a verdict, so the
    CX score is that rate rescaled and must get its z, the exact binomial tail's, not the normal
    approximation's (which puts a few bad lines of 36 at several sds)."""
    rates = _rate(0.85, HOURS - 3, "item_accuracy")  # ~5 bad lines an hour instead of ~1
    frame = _hourly_frame(seed=7, rates=rates, orders=np.full(HOURS, 12))
    cx_score = residuals(frame, "cx_score", "hour", SETTINGS).z
    accuracy = residuals(frame, "item_accuracy", "hour", SETTINGS).z
    judged = np.isfinite(accuracy)
    np.testing.assert_array_equal(np.isfinite(cx_score), judged)
    np.testing.assert_allclose(cx_score[judged], accuracy[judged], rtol=1e-9, atol=1e-9)
    assert (accuracy[-3:] > 1.5).all()  # the burst is seen, at its exact tail's weight


# --- no look-ahead: causality on frames ------------------------------------------------------

CUT = 4 * WEEK + 12


@pytest.mark.parametrize("name", ["on_time_rate", "cancellation_rate", "rating", "cx_score"])
def test_residuals_and_votes_up_to_a_cut_do_not_change_when_later_periods_arrive(
    name: str,
) -> None:
    # The later periods hold a regression, so any use of them would show before the cut.
    rates = _rate(0.7, CUT, "on_time_rate") | _rate(0.15, CUT, "cancellation_rate")
    frame = _hourly_frame(seed=5, rates=rates)
    full = residuals(frame, name, "hour", SETTINGS)
    cut = residuals(frame.iloc[:CUT], name, "hour", SETTINGS)
    np.testing.assert_array_equal(cut.z, full.z[:CUT])
    np.testing.assert_array_equal(cut.expected, full.expected[:CUT])
    full_votes = run_detectors(full.z, SETTINGS)
    cut_votes = run_detectors(cut.z, SETTINGS)
    np.testing.assert_array_equal(cut_votes.votes, full_votes.votes[:CUT])
    np.testing.assert_array_equal(cut_votes.run_start, full_votes.run_start[:CUT])
    for window in SETTINGS.windows("hour"):
        full_window = residuals(
            rolled(frame, window), name, "hour", SETTINGS, window, full.dispersion
        )
        cut_window = residuals(
            rolled(frame.iloc[:CUT], window), name, "hour", SETTINGS, window, cut.dispersion
        )
        np.testing.assert_array_equal(cut_window.z, full_window.z[:CUT])


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_a_cohort_too_small_for_hourly_verdicts_is_caught_by_its_week_window(seed: int) -> None:
    """10 orders an hour (below min_units) and on-time down 10 points from week 4: no hour is
    judged, the week window alarms within six days, and the same cohort without the drop does
    not alarm in any window."""
    start = 4 * WEEK
    found = {}
    for drop in (0.1, 0.0):
        on_time = np.full(HOURS, BASE_RATES["on_time_rate"])
        on_time[start:] -= drop
        frame = _hourly_frame(seed, {"on_time_rate": on_time}, orders=np.full(HOURS, 10))
        hourly = residuals(frame, "on_time_rate", "hour", SETTINGS)
        assert not np.isfinite(hourly.z).any()
        found[drop] = {
            window: np.flatnonzero(
                window_alarms(
                    residuals(
                        rolled(frame, window), "on_time_rate", "hour", SETTINGS, window,
                        hourly.dispersion,
                    ).z,
                    SETTINGS,
                )
            )
            for window in SETTINGS.windows("hour")
        }  # fmt: skip
    assert start < found[0.1][WEEK][0] <= start + 6 * DAY
    assert all(alarms.size == 0 for alarms in found[0.0].values())


def test_rolled_sums_the_trailing_window_and_is_undefined_before_a_full_window() -> None:
    frame = _hourly_frame(seed=2)
    sums = rolled(frame, DAY)
    assert np.isnan(sums["orders"].iloc[: DAY - 1]).all()
    last_day = frame["on_time_rate_num"].iloc[6 : DAY + 6].sum()
    assert sums["on_time_rate_num"].iloc[DAY + 5] == last_day
    pd.testing.assert_series_equal(sums["period"], frame["period"])


# --- no look-ahead: scans of small worlds ----------------------------------------------------

# Mid-incident in the demo world: the grocery dinner peak of Jan 4 runs late from 18:00.
AS_OF = dt.datetime(2026, 1, 4, 20, 30)
INCIDENT_START = dt.datetime(2026, 1, 4, 18)


@pytest.fixture(scope="module")
def demo_con(
    small_scenario: ScenarioFactory, make_world: WorldFactory
) -> Iterator[duckdb.DuckDBPyConnection]:
    with open_warehouse(make_world(small_scenario("demo"))) as con:
        yield con


@pytest.fixture(scope="module")
def demo_alarms_as_of(demo_con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return scan(demo_con, "hour", as_of=AS_OF)


def test_scan_as_of_mid_incident_returns_only_alarms_known_by_then(
    demo_alarms_as_of: pd.DataFrame,
) -> None:
    assert (demo_alarms_as_of.known_at <= AS_OF).all()
    assert (demo_alarms_as_of.period >= INCIDENT_START).any()  # the incident already shows


def test_scan_as_of_equals_the_full_scan_alarms_known_by_then(
    demo_con: duckdb.DuckDBPyConnection, demo_alarms_as_of: pd.DataFrame
) -> None:
    full = scan(demo_con, "hour")
    known = full[full.known_at <= AS_OF].reset_index(drop=True)
    assert len(full) > len(known) > 0
    pd.testing.assert_frame_equal(demo_alarms_as_of, known)


def test_scan_as_of_is_unchanged_by_an_intervention_that_starts_after_it(
    small_scenario: ScenarioFactory,
    make_world: WorldFactory,
    demo_con: duckdb.DuckDBPyConnection,
    demo_alarms_as_of: pd.DataFrame,
) -> None:
    # Interventions transform the same random draws, so the two worlds agree before the onset;
    # any difference as of AS_OF would be information from after AS_OF.
    demo = small_scenario("demo")
    onset = AS_OF + dt.timedelta(days=1)
    shortage = Intervention(kind="dasher_shortage", onset=onset, magnitude=1.0)  # all regions
    with open_warehouse(
        make_world(small_scenario("demo", interventions=[*demo.interventions, shortage]))
    ) as con:
        pd.testing.assert_frame_equal(scan(con, "hour", as_of=AS_OF), demo_alarms_as_of)
        later = scan_series(con, "hour", metrics=("on_time_rate",), dimensions=())[0]
    baseline = scan_series(demo_con, "hour", metrics=("on_time_rate",), dimensions=())[0]
    # The shortage itself is plain from its first hour once that hour is known.
    first_full_hour = later.residuals.period.get_loc(pd.Timestamp(onset).ceil("h"))
    assert later.residuals.z[first_full_hour] > SETTINGS.z_limit
    assert baseline.residuals.z[first_full_hour] < SETTINGS.z_limit


def test_scan_covers_each_region_x_category_cohort_and_they_add_up_to_the_region(
    demo_con: duckdb.DuckDBPyConnection,
) -> None:
    results = scan_series(
        demo_con,
        "hour",
        as_of=AS_OF,
        metrics=("on_time_rate",),
        dimensions=(*COHORT_DIMENSIONS, *CROSSED_DIMENSIONS),
    )
    orders = {(r.dimension, r.cohort): r.residuals.orders.sum() for r in results}
    crossed = {key: total for key, total in orders.items() if key[0] == "region,category"}
    regions = {key[1] for key in orders if key[0] == "region"}
    categories = {key[1] for key in orders if key[0] == "category"}
    assert {cohort for _, cohort in crossed} == {f"{r},{c}" for r in regions for c in categories}
    for region in regions:
        in_region = sum(t for (_, c), t in crossed.items() if c.startswith(f"{region},"))
        assert in_region == pytest.approx(orders[("region", region)])


def test_cohorts_summed_from_the_finest_grouping_equal_a_query_per_dimension(
    demo_con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The scan sums its cohorts from one query grouped by region x category x daypart; past
    # MAX_FINEST_GROUPS combinations it queries each dimension. Both must give the same series.
    arguments = (
        demo_con,
        ("cx_score", "on_time_rate", "eta_abs_error_min"),
        "hour",
        dt.datetime.combine(data_span(demo_con).first.date(), dt.time()),
        AS_OF.replace(minute=0),
        SETTINGS.maturity,
        COHORT_DIMENSIONS,
    )
    summed = _cohort_columns(*arguments)
    monkeypatch.setattr(alarms, "MAX_FINEST_GROUPS", 0)
    queried = _cohort_columns(*arguments)
    assert list(summed) == list(queried)
    assert len(summed) > 30 and ("region,category", "south,grocery") in summed
    for key, columns in summed.items():
        assert columns.keys() == queried[key].keys()
        np.testing.assert_array_equal(columns["period"], queried[key]["period"])
        assert columns["orders"].sum() > 0, key
        for name in columns.keys() - {"period"}:
            np.testing.assert_allclose(columns[name], queried[key][name], rtol=1e-12)
    whole = summed[("all", "all")]
    regions = [v for (d, _), v in summed.items() if d == "region"]
    np.testing.assert_allclose(sum(r["orders"] for r in regions), whole["orders"])


def test_scan_as_of_before_the_data_starts_raises_detection_error(
    demo_con: duckdb.DuckDBPyConnection,
) -> None:
    with pytest.raises(DetectionError, match="before the data starts"):
        scan(demo_con, "hour", as_of=dt.datetime(2025, 12, 5, 12))


def test_metric_frame_at_one_hour_maturity_ignores_tickets_ratings_and_outcomes_after_then(
    demo_con: duckdb.DuckDBPyConnection,
) -> None:
    hour = dt.datetime(2026, 1, 4, 19)
    known_by = hour + dt.timedelta(hours=2)
    frame = metric_frame(
        demo_con,
        ("support_rate", "rating", "on_time_rate"),
        "hour",
        start=hour,
        end=hour + dt.timedelta(hours=1),
        maturity=dt.timedelta(hours=1),
    )
    row = frame.iloc[0]
    counts = demo_con.execute(
        """
        SELECT count(*) FILTER (WHERE first_ticket_at <= $known_by),
               count(*) FILTER (WHERE first_ticket_at > $known_by),
               count(stars) FILTER (WHERE rated_at <= $known_by),
               sum(stars) FILTER (WHERE rated_at <= $known_by),
               count(*) FILTER (WHERE rated_at > $known_by),
               count(on_time) FILTER (WHERE resolved_at <= $known_by),
               count(*) FILTER (WHERE on_time AND resolved_at <= $known_by),
               count(*) FILTER (WHERE delivered AND resolved_at > $known_by)
        FROM order_facts WHERE hour_start = $hour
        """,
        {"known_by": known_by, "hour": hour},
    ).fetchone()
    tickets, late_tickets, ratings, stars, late_ratings, delivered, on_time, in_flight = counts
    assert min(late_tickets, late_ratings, in_flight) > 0  # there is something to ignore
    assert row.support_rate_num == tickets
    assert (row.rating_den, row.rating_num) == (ratings, stars)
    assert (row.on_time_rate_den, row.on_time_rate_num) == (delivered, on_time)


# --- low volume: the grain the data supports ------------------------------------------------


@pytest.fixture(scope="module")
def small_marketplace(make_world: WorldFactory) -> Path:
    """The eval suite's marketplace of 20 orders a day, on-time down ~20 points for three
    weeks from Dec 6 08:00 (load_scenario reads evals/scenarios by path)."""
    return make_world(
        load_scenario(Path(__file__).parents[2] / "evals/scenarios/low_volume_20.yaml")
    )


def test_a_marketplace_of_20_orders_a_day_is_read_daily_and_judged_weekly(
    small_marketplace: Path,
) -> None:
    with open_warehouse(small_marketplace) as con:
        choice = choose_grain(con)
        results = scan_series(con, choice.grain, metrics=("on_time_rate",))
    assert choice.grain == "day"
    grains = cohort_grains(results)
    assert grains["all"] == "weekly"
    assert set(grains.values()) <= {"daily", "weekly", ""}


def test_a_three_week_drop_at_20_orders_a_day_alarms_within_a_week_and_not_before_it(
    small_marketplace: Path,
) -> None:
    onset = dt.datetime(2025, 12, 6, 8)
    with open_warehouse(small_marketplace) as con:
        alarms = scan(con, "day")
    marketplace = alarms[(alarms.dimension == "all") & (alarms.metric == "on_time_rate")]
    after = marketplace[marketplace.period >= onset.replace(hour=0)]
    assert marketplace[marketplace.period < onset - dt.timedelta(days=7)].empty
    assert not after.empty
    assert after.known_at.min() - onset <= dt.timedelta(days=7)
    assert "week_window" in after.sort_values("known_at").iloc[0].detectors


# --- a corner of the marketplace: the eval suite's region x category incidents --------------

SUITE_DIR = Path(__file__).parents[2] / "evals/scenarios"


@pytest.mark.parametrize(
    ("case", "cohort", "onset"),
    [
        # Out-of-stock lines tripled in south x convenience (~25 orders an hour in the morning).
        ("inventory_south_convenience", "south,convenience", dt.datetime(2025, 12, 29, 6)),
        # Five north grocery stores (~38% of the cohort's orders) prepare 50% slower.
        ("stores_prep_drift", "north,grocery", dt.datetime(2025, 12, 29, 8)),
    ],
)
def test_a_region_x_category_regression_alarms_there_within_six_hours_not_the_week_before(
    case: str, cohort: str, onset: dt.datetime, make_world: WorldFactory
) -> None:
    """Read as of six hours after onset (no later data), the cohort's 6-hour window has alarmed
    on a period after the onset; the same cohort raised no alarm in the week before."""
    world = make_world(load_scenario(SUITE_DIR / f"{case}.yaml"))
    with open_warehouse(world) as con:
        found = scan(con, "hour", as_of=onset + dt.timedelta(hours=6))
    in_cohort = found[(found.dimension == "region,category") & (found.cohort == cohort)]
    after = in_cohort[in_cohort.period >= onset]
    assert not after.empty
    assert "6h_window" in after.iloc[0].detectors
    assert in_cohort[in_cohort.period >= onset - dt.timedelta(days=7)].equals(after)
