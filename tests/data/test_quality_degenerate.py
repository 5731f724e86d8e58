"""Degenerate columns from a stranger's mapping (a constant canceled flag, a rating table that
covers a handful of orders, a column null in every row) are found by the data-quality report and
left out of the CX score, which is then computed from the sub-scores that carry information."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from analytics.comparisons import measure
from analytics.metrics import CX_SCORE, cx_coverage, metric_frame, metric_gaps, usable_metrics
from data.ingest import ingest
from data.quality import load_report
from data.warehouse import open_warehouse

ORDERS = 1200  # above CONSTANT_MIN_ORDERS: a flag never set over this many orders is suspect
START = dt.datetime(2026, 1, 5)


def _export(folder: Path, canceled: str) -> None:
    """orders.csv (a quote per order, null cuisines) and ratings.csv (5 ratings), seed 3."""
    rng = np.random.default_rng(3)
    lines = ["id,created_at,market,cuisine,quoted_at,delivered_at,canceled,tip"]
    for index in range(ORDERS):
        created = START + dt.timedelta(minutes=int(index * 14 + rng.integers(0, 10)))
        quoted = created + dt.timedelta(minutes=40)
        late = int(rng.integers(-15, 25))
        delivered = quoted + dt.timedelta(minutes=late)
        cuisine = "" if index % 7 == 0 else ("thai" if index % 2 else "pizza")
        flag = canceled if canceled != "random" else str(bool(rng.random() < 0.05)).lower()
        lines.append(
            f"{index},{created:%Y-%m-%d %H:%M:%S},m{index % 3},{cuisine},"
            f"{quoted:%Y-%m-%d %H:%M:%S},{delivered:%Y-%m-%d %H:%M:%S},{flag},"
        )
    (folder / "orders.csv").write_text("\n".join(lines) + "\n")
    ratings = ["rating_ref,order_ref,stars,rated_at"]
    for index in range(5):
        rated = START + dt.timedelta(minutes=index * 14 + 90)
        ratings.append(f"r{index},{index},{1 + index % 5},{rated:%Y-%m-%d %H:%M:%S}")
    (folder / "ratings.csv").write_text("\n".join(ratings) + "\n")


def _world(
    tmp_path: Path, canceled_flag: str, canceled: str = "false", promised: str = "quoted_at"
) -> Path:
    """Ingest the export through a mapping whose deliveries.canceled_flag is `canceled_flag`
    and whose orders.promised_eta is `promised`."""
    _export(tmp_path, canceled)
    mapping = {
        "source_timezone": "UTC",
        "local_timezone": "UTC",
        "tables": {
            "orders": {
                "source": "orders.csv",
                "columns": {
                    "order_id": "CAST(id AS VARCHAR)",
                    "region": "market",
                    "category": "coalesce(cuisine, 'unknown')",
                    "order_time": "created_at",
                    "promised_eta": promised,
                    "basket_value": "CAST(tip AS DOUBLE)",  # an empty column: null everywhere
                },
            },
            "deliveries": {
                "source": "orders.csv",
                "columns": {
                    "order_id": "CAST(id AS VARCHAR)",
                    "actual_eta": "delivered_at",
                    "canceled_flag": canceled_flag,
                },
            },
            "ratings": {
                "source": "ratings.csv",
                "columns": {
                    "rating_id": "rating_ref",
                    "order_id": "CAST(order_ref AS VARCHAR)",
                    "stars": "stars",
                    "rating_time": "rated_at",
                },
            },
        },
    }
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(mapping))
    out = tmp_path / "world"
    ingest(path, out)
    return out


@pytest.fixture(scope="module")
def constant_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _world(tmp_path_factory.mktemp("constant"), "false")  # as in the issue


def test_report_flags_the_constant_flag_and_the_empty_column(constant_world: Path) -> None:
    report = load_report(constant_world)
    assert report is not None
    found = {finding.check: finding for finding in report.findings}
    constant = found["constant_deliveries_canceled_flag"]
    assert (constant.level, constant.rows, constant.share) == ("warning", ORDERS, 1.0)
    assert "'false'" in constant.describe()
    empty = found["all_null_orders_basket_value"]
    assert (empty.level, empty.rows) == ("warning", ORDERS)
    # nulls mapped to 'unknown' are a value like any other, not a degenerate column
    assert not any("category" in check for check in found)


def test_constant_and_nearly_empty_sub_scores_are_left_out_of_cx(constant_world: Path) -> None:
    with open_warehouse(constant_world) as con:
        coverage, gaps = cx_coverage(con), metric_gaps(con)
        whole = metric_frame(con, [CX_SCORE, "on_time_rate"], grain=None)
        window = measure(con, [CX_SCORE, "on_time_rate"], {}, START, START + dt.timedelta(days=30))
        scanned = usable_metrics(con, [CX_SCORE, "cancellation_rate", "rating", "on_time_rate"])
    assert coverage.weights == {"on_time_rate": 1.0}
    assert set(coverage.left_out) == {"cancellation_rate", "rating"}
    text = coverage.describe()
    assert "cancellation rate (left out: deliveries.canceled_flag is constant" in text
    assert f"0% over all {ORDERS:,} orders" in text
    assert f"mean rating (left out: ratings.stars is nearly empty: held by 5 of {ORDERS:,}" in text
    reason = f"the cancellation rate is 0% over all {ORDERS:,} orders"
    assert gaps["cancellation_rate"] == [f"a varying deliveries.canceled_flag ({reason})"]
    on_time = float(whole["on_time_rate"].iloc[0])
    assert 0.3 < on_time < 0.9
    # the CX score is the on-time sub-score alone, not diluted by a constant 100 or 5 ratings
    assert float(whole[CX_SCORE].iloc[0]) == pytest.approx(100 * on_time)
    assert window.values[CX_SCORE] == pytest.approx(100 * on_time)
    assert scanned == (CX_SCORE, "on_time_rate")


def test_a_promise_almost_never_kept_is_reported_as_a_likely_mapping_error(
    tmp_path: Path, constant_world: Path
) -> None:
    """Deliveries arrive 25-65 min after the order: a promise of order time + 5 min is missed by
    all of them (a mis-mapped promised_eta); + 30 min by three in four, which a late
    marketplace can be; the export's own quotes (+ 40 min) by under half."""

    for name in ("early", "late"):
        (tmp_path / name).mkdir()

    def missed(world: Path) -> list[str]:
        report = load_report(world)
        assert report is not None
        return [f.describe() for f in report.findings if f.check == "promise_missed"]

    (early,) = missed(
        _world(tmp_path / "early", "false", promised="created_at + INTERVAL 5 MINUTE")
    )
    assert early.startswith("order_facts: delivered over 5 min after the promised ETA (a median")
    assert "check that promised_eta maps the arrival time" in early
    assert early.endswith(f"in {ORDERS:,} rows (100.0%)")
    assert (
        missed(_world(tmp_path / "late", "false", promised="created_at + INTERVAL 30 MINUTE")) == []
    )
    assert missed(constant_world) == []


def test_a_comparison_of_a_one_part_cx_score_names_that_part(constant_world: Path) -> None:
    """The CX score here is the on-time rate alone: a comparison of two days says so and gives
    the part's own test (was 'None of the CX score's parts moved beyond chance (Holm over the 1
    tested)')."""
    from agent.service import Agent
    from agent.settings import AgentSettings

    agent = Agent(constant_world, AgentSettings(llm="offline"))
    try:
        answer = agent.ask("how did CX on Jan 12 compare with Jan 6?", thread_id="one-part")
    finally:
        agent.close()
    text = answer["answer"]
    assert answer["grounding"]["ok"], answer["grounding"]
    assert "Holm" not in text
    assert re.search(
        r"The CX score here is its on-time rate alone \(the data measures no other part\), which "
        r"(moved|did not move) beyond chance: \d+\.\d% to \d+\.\d% \(.*p [=<] [01]\.\d+\) \[E\d+\]",
        text,
    ), text


def test_a_varying_cancellation_flag_stays_in_cx(tmp_path: Path) -> None:
    world = _world(tmp_path, "canceled", canceled="random")
    with open_warehouse(world) as con:
        coverage = cx_coverage(con)
    assert list(coverage.left_out) == ["rating"]
    assert coverage.weights == pytest.approx(
        {"on_time_rate": 0.30 / 0.45, "cancellation_rate": 0.15 / 0.45}, abs=1e-4
    )
    report = load_report(world)
    assert report is not None
    assert not any(f.check.startswith("constant_deliveries") for f in report.findings)


def test_the_shown_cx_query_reads_a_left_out_sub_score_as_null(constant_world: Path) -> None:
    import tools.catalog  # noqa: F401 (registers the tools)
    from tools.base import ToolContext

    context = ToolContext(world_dir=constant_world)
    try:
        output, _ = context.call("metric_definition", {"metric": CX_SCORE})
    finally:
        context.close()
    assert "CAST(NULL AS BOOLEAN) AS canceled" in output.example_sql


def test_report_flags_text_standing_for_a_missing_value(tmp_path: Path) -> None:
    # Exports write 'NaN ' or 'null' where a value is missing; read as text it becomes a region
    # called 'NaN'. The report names the column, the text and how to map it to NULL.
    markets = ["north", "NaN ", "south", "null", "north"] * 40
    lines = ["id,created_at,market,delivered_at"]
    for index, market in enumerate(markets):
        created = START + dt.timedelta(minutes=index * 11)
        delivered = created + dt.timedelta(minutes=35)
        lines.append(f"{index},{created:%Y-%m-%d %H:%M:%S},{market},{delivered:%Y-%m-%d %H:%M:%S}")
    (tmp_path / "orders.csv").write_text("\n".join(lines) + "\n")

    def report_of(region: str, out: str) -> list[str]:
        mapping = {
            "local_timezone": "UTC",
            "tables": {
                "orders": {
                    "source": "orders.csv",
                    "read_options": {"all_varchar": True},
                    "columns": {"order_id": "id", "order_time": "CAST(created_at AS TIMESTAMP)",
                                "region": region},
                },
                "deliveries": {
                    "source": "orders.csv",
                    "read_options": {"all_varchar": True},
                    "columns": {"order_id": "id", "actual_eta": "CAST(delivered_at AS TIMESTAMP)"},
                },
            },
        }  # fmt: skip
        path = tmp_path / f"{out}.yaml"
        path.write_text(yaml.safe_dump(mapping))
        report = load_report(ingest(path, tmp_path / out).out_dir)
        assert report is not None
        return [f.describe() for f in report.findings if f.check.startswith("text_null_")]

    (raw,) = report_of("trim(market)", "raw")
    assert raw.startswith("orders: region holds 'NaN' for a missing value")
    assert "nullif(trim(...), 'NaN')" in raw and "in 80 rows (40.0%)" in raw
    assert report_of("nullif(nullif(trim(market), 'NaN'), 'null')", "tidy") == []
