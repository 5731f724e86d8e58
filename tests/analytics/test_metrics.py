"""Metrics registry checked against values computed by hand on a tiny hand-made world."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analytics.cohorts import CohortError
from analytics.metrics import (
    CX_COMPONENTS,
    METRICS,
    MetricError,
    available_metrics,
    metric_frame,
)
from data.schema import TABLES
from data.warehouse import build_warehouse, open_warehouse


def T(day: int, hour: int, minute: int) -> dt.datetime:  # noqa: N802 - reads like a literal
    return dt.datetime(2026, 1, day, hour, minute)


# Five orders over two days. Hand-computed expectations are in the tests below.
ORDERS = [
    # order, store, region, category, basket, order_time, promised
    ("O1", "S1", "north", "grocery", 30.0, T(1, 18, 10), T(1, 18, 50)),
    ("O2", "S1", "north", "grocery", 50.0, T(1, 18, 20), T(1, 19, 0)),
    ("O3", "S2", "south", "convenience", 20.0, T(1, 9, 5), T(1, 9, 35)),
    ("O4", "S2", "south", "convenience", 80.0, T(2, 23, 30), T(3, 0, 0)),
    ("O5", "S1", "north", "grocery", 10.0, T(2, 12, 0), T(2, 12, 40)),
]
ARRIVALS = {
    "O1": T(1, 18, 54),
    "O2": T(1, 19, 10),
    "O3": None,
    "O4": T(2, 23, 58),
    "O5": T(2, 12, 45),
}
# order -> (lines, substituted, missing, refund per missing line)
ITEMS = {"O1": (4, 1, 0), "O2": (2, 0, 1), "O3": (1, 0, 0), "O4": (3, 0, 0), "O5": (1, 0, 0)}
TICKETS = [("O2", "missing_item"), ("O3", "order_canceled"), ("O5", "other"), ("O5", "other")]
RATINGS = {"O1": 5, "O2": 2, "O4": 4}


def _write(directory: Path, name: str, rows: list[dict]) -> None:
    schema = TABLES[name].arrow_schema()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), directory / f"{name}.parquet")


def _tiny_world(directory: Path, with_details: bool = True) -> Path:
    _write(
        directory,
        "stores",
        [
            {"store_id": "S1", "region": "north", "category": "grocery", "name": "Fresh #1"},
            {"store_id": "S2", "region": "south", "category": "convenience", "name": "Quick #2"},
        ],
    )
    _write(
        directory,
        "orders",
        [
            {
                "order_id": o,
                "user_id": "U1",
                "store_id": s,
                "category": c,
                "region": r,
                "basket_value": b,
                "order_time": t,
                "promised_eta": p,
                "eta_model_version": "eta-v41",
            }
            for o, s, r, c, b, t, p in ORDERS
        ],
    )
    _write(
        directory,
        "deliveries",
        [
            {
                "order_id": o,
                "actual_eta": ARRIVALS[o],
                "dasher_wait": 60,
                "merchant_prep_time": 600,
                "distance": 2.0,
                "batched_flag": o == "O2",
                "canceled_flag": ARRIVALS[o] is None,
                "pickup_time": None,
                "delivery_time": ARRIVALS[o],
            }
            for o, *_ in ORDERS
        ],
    )
    if with_details:
        items = []
        for order, (lines, substituted, missing) in ITEMS.items():
            for line in range(lines):
                items.append(
                    {
                        "item_id": f"{order}-{line}",
                        "order_id": order,
                        "sku_id": "SKU-1",
                        "ordered_qty": 1,
                        "unit_price": 3.5,
                        "substituted_flag": line < substituted,
                        "missing_flag": substituted <= line < substituted + missing,
                        "refund_amount": 3.5 if substituted <= line < substituted + missing else 0,
                    }
                )
        _write(directory, "items", items)
        _write(
            directory,
            "support_events",
            [
                {
                    "ticket_id": f"T{i}",
                    "order_id": o,
                    "issue_type": kind,
                    "ticket_created": T(3, 0, 0),
                }
                for i, (o, kind) in enumerate(TICKETS)
            ],
        )
        _write(
            directory,
            "ratings",
            [
                {
                    "rating_id": f"R{o}",
                    "order_id": o,
                    "stars": s,
                    "free_text": None,
                    "rating_time": T(3, 1, 0),
                }
                for o, s in RATINGS.items()
            ],
        )
    build_warehouse(directory)
    return directory


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    con = open_warehouse(_tiny_world(tmp_path_factory.mktemp("tiny")))
    yield con
    con.close()


def test_daily_sub_metrics_match_hand_computed_values(tiny) -> None:
    frame = metric_frame(tiny, grain="day").set_index("period")
    day1, day2 = frame.loc["2026-01-01"], frame.loc["2026-01-02"]
    # Day 1: O1 on time (+4 min), O2 late (+10 min), O3 canceled.
    assert day1.orders == 3
    assert day1.on_time_rate == pytest.approx(1 / 2)
    assert day1.item_accuracy == pytest.approx(4 / 6)  # O3's line is not delivered
    assert day1.cancellation_rate == pytest.approx(1 / 3)
    assert day1.refund_rate == pytest.approx(1 / 3)
    assert day1.support_rate == pytest.approx(2 / 3)
    assert day1.rating == pytest.approx(3.5)
    # Day 2: O5 arrives exactly at promised + 5 min, which counts as on time.
    assert day2.on_time_rate == pytest.approx(1.0)
    assert day2.support_rate == pytest.approx(1 / 2)  # two tickets on O5 are one contact
    assert day2.rating == pytest.approx(4.0)


def test_cx_score_follows_the_documented_weights(tiny) -> None:
    frame = metric_frame(tiny, grain="day").set_index("period")
    day1 = 0.30 * 50 + 0.25 * 100 * 4 / 6 + 0.15 * 100 * 2 / 3 + 0.15 * 100 * 2 / 3
    day1 += 0.10 * 100 / 3 + 0.05 * 100 * (3.5 - 1) / 4
    day2 = 0.30 * 100 + 0.25 * 100 + 0.15 * 100 + 0.15 * 100 + 0.10 * 50 + 0.05 * 75
    assert frame.loc["2026-01-01", "cx_score"] == pytest.approx(day1)
    assert frame.loc["2026-01-02", "cx_score"] == pytest.approx(day2)
    assert sum(METRICS[name].cx_weight for name in CX_COMPONENTS) == pytest.approx(1.0)


def test_cx_score_renormalizes_over_sub_scores_a_cohort_has(tiny) -> None:
    # Breakfast holds only O3 (canceled, one ticket, no delivery, no rating): only the
    # cancellation, refund and support sub-scores exist: (0.15*0 + 0.15*100 + 0.10*0) / 0.40.
    frame = metric_frame(tiny, grain=None, filters={"daypart": "breakfast"})
    assert frame.loc[0, "on_time_rate"] != frame.loc[0, "on_time_rate"]  # NaN
    assert frame.loc[0, "cx_score"] == pytest.approx(37.5)


def test_eta_and_duration_metrics_over_delivered_orders(tiny) -> None:
    frame = metric_frame(
        tiny, metrics=["eta_abs_error_min", "eta_bias_min", "duration_min"], grain=None
    )
    assert frame.loc[0, "eta_abs_error_min"] == pytest.approx((4 + 10 + 2 + 5) / 4)
    assert frame.loc[0, "eta_bias_min"] == pytest.approx((4 + 10 - 2 + 5) / 4)
    assert frame.loc[0, "duration_min"] == pytest.approx((44 + 50 + 28 + 45) / 4)


def test_cohort_dimensions_follow_their_definitions(tiny) -> None:
    by_daypart = metric_frame(tiny, ["cancellation_rate"], grain=None, group_by=["daypart"])
    assert dict(zip(by_daypart.daypart, by_daypart.orders, strict=True)) == {
        "breakfast": 1,
        "dinner": 2,
        "late_night": 1,
        "lunch": 1,
    }
    by_basket = metric_frame(tiny, ["cancellation_rate"], grain=None, group_by=["basket_size"])
    assert dict(zip(by_basket.basket_size, by_basket.orders, strict=True)) == {
        "large": 1,
        "medium": 2,
        "small": 2,
    }


def test_filters_group_bys_and_hourly_grain_combine(tiny) -> None:
    frame = metric_frame(
        tiny,
        ["on_time_rate"],
        grain="hour",
        filters={"region": "north", "hour": [18, 12]},
        group_by=["store"],
    )
    assert list(frame.store) == ["S1", "S1"]
    assert list(frame.orders) == [2, 1]
    assert list(frame.on_time_rate) == pytest.approx([0.5, 1.0])


def test_time_window_is_half_open(tiny) -> None:
    frame = metric_frame(
        tiny, ["cancellation_rate"], grain=None, start=T(1, 18, 10), end=T(2, 12, 0)
    )
    assert frame.loc[0, "orders"] == 2  # O1 and O2; O5 at the end bound is excluded


def test_unknown_names_are_clear_errors(tiny) -> None:
    with pytest.raises(MetricError, match="unknown metric 'latenes'"):
        metric_frame(tiny, ["latenes"])
    with pytest.raises(CohortError, match="unknown dimension 'regoin'"):
        metric_frame(tiny, ["on_time_rate"], group_by=["regoin"])
    with pytest.raises(MetricError, match="unknown grain"):
        metric_frame(tiny, ["on_time_rate"], grain="month")  # type: ignore[arg-type]


def test_filter_values_are_parameters_not_sql(tiny) -> None:
    frame = metric_frame(tiny, ["on_time_rate"], grain=None, filters={"region": "north' OR '1'='1"})
    assert frame.loc[0, "orders"] == 0


def test_warehouse_without_items_tickets_or_ratings_reports_those_metrics_unavailable(
    tmp_path: Path,
) -> None:
    con = open_warehouse(_tiny_world(tmp_path, with_details=False))
    available = available_metrics(con)
    assert available["on_time_rate"] and available["cancellation_rate"]
    assert not available["item_accuracy"]
    assert not available["refund_rate"]
    assert not available["rating"]
    frame = metric_frame(con, grain="day").set_index("period")
    # Only on-time and cancellation remain: (0.30 * 50 + 0.15 * 100 * 2/3) / 0.45 on day 1.
    assert frame.loc["2026-01-01", "cx_score"] == pytest.approx((15 + 10) / 0.45)


def test_degenerate_metrics_are_read_again_when_the_warehouse_changes(
    small_scenario, make_world, tmp_path
) -> None:
    import shutil

    import duckdb

    from analytics.metrics import degenerate_metrics
    from data.warehouse import open_warehouse, release_warehouse

    world = tmp_path / "world"
    shutil.copytree(make_world(small_scenario("null", days=7)), world)
    with open_warehouse(world) as con:
        before = degenerate_metrics(con)
    release_warehouse(world / "warehouse.duckdb")
    writer = duckdb.connect(str(world / "warehouse.duckdb"))
    writer.execute("UPDATE order_facts SET canceled = false")
    writer.execute("CHECKPOINT")
    writer.close()
    with open_warehouse(world) as con:
        after = degenerate_metrics(con)
        again = degenerate_metrics(con)

    assert "cancellation_rate" not in before
    assert after["cancellation_rate"].kind == "constant" and again == after


def test_a_stand_in_is_a_registry_metric_without_one_of_its_own() -> None:
    """A stand-in answers for a metric the warehouse cannot compute (lateness without promised
    times: the share of slow deliveries, else their mean time), so it needs none of what that
    metric lacks; the slices of an incident read the first share among them."""
    stand_ins = {name: m.stand_in for name, m in METRICS.items() if m.stand_in}
    assert stand_ins == {"on_time_rate": ("slow_rate", "duration_min")}
    for name, readings in stand_ins.items():
        for stand_in in readings:
            assert stand_in in METRICS and not METRICS[stand_in].stand_in
            assert not set(METRICS[stand_in].requires) & set(METRICS[name].requires)
    from analytics.incidents import SLICE_FALLBACK

    assert SLICE_FALLBACK == {"on_time_rate": "slow_rate"}


def test_the_stand_in_read_is_the_first_the_warehouse_computes_that_varies(
    small_scenario, make_world, tmp_path
) -> None:
    """Without promised times the on-time rate's stand-in is the slow-delivery rate; where no
    delivery takes an hour (the India sample: 10-54 min) that rate is 0% everywhere and
    delivery duration is read instead. A computable metric has no stand-in."""
    import shutil

    import duckdb

    from analytics.metrics import stand_in_for, varying_metrics
    from data.warehouse import release_warehouse

    world = tmp_path / "world"
    shutil.copytree(make_world(small_scenario("null", days=7)), world)
    with open_warehouse(world) as con:
        assert stand_in_for(con, "on_time_rate") is None
    for update, expected in (
        ("UPDATE orders SET promised_eta = NULL", "slow_rate"),
        ("UPDATE order_facts SET duration_min = least(duration_min, 59)", "duration_min"),
    ):
        release_warehouse(world / "warehouse.duckdb")
        writer = duckdb.connect(str(world / "warehouse.duckdb"))
        writer.execute(update)
        writer.execute("UPDATE order_facts SET on_time = NULL")
        writer.execute("CHECKPOINT")
        writer.close()
        with open_warehouse(world) as con:
            assert stand_in_for(con, "on_time_rate") == expected
            assert ("slow_rate" in varying_metrics(con)) == (expected == "slow_rate")
