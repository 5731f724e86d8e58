"""The peer benchmark's harness (benchmarks/peers) on small worlds: the hand-written baselines,
cx-agent given the true window and scope, and the scoring run without the `peers` extra; the
packaged peers are skipped without it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.peers.detectors import (
    DETECTION_PEERS,
    binseg_scores,
    mstl_scores,
    seasonal_z,
)
from benchmarks.peers.evaluate import SHIFT, CaseResult
from benchmarks.peers.oracle_rca import ORACLE, found_causes, oracle_investigation
from benchmarks.peers.report import OURS, build_rows, table, wins
from benchmarks.peers.root_cause import (
    BASELINE_DAYS,
    largest_shift,
    order_features,
    sampled,
    windows,
)
from benchmarks.peers.scoring import alarm_candidates, peer_delay, top1, tune_threshold
from benchmarks.peers.series import cohort_series
from data.generator import TRUTH_FILE
from data.scenario import load_scenario
from data.warehouse import open_warehouse
from evals.detection import AffectedSpan, affected_span, register_truth
from evals.scoring import ScenarioScore, is_top
from evals.suite import ExpectedFindings, load_suite
from evals.worlds import cached_world
from tools.base import ToolContext
from tools.rca import DriverShiftInput

SMALL_ORDERS_PER_DAY = 3000  # as tests/evals/test_fast_subset.py
BASELINE = DETECTION_PEERS[0]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("peers-cache")


def _small_world(name: str, cache_dir: Path) -> Path:
    scenario = next(c.scenario for c in load_suite(names=[name]))
    small = scenario.model_copy(update={"orders_per_day": SMALL_ORDERS_PER_DAY})
    return cached_world(small, cache_dir)[0]


def _span(world: Path, kind: str) -> tuple[AffectedSpan, dict]:
    truth = json.loads((world / TRUTH_FILE).read_text())
    intervention = next(i for i in truth["interventions"] if i["kind"] == kind)
    con = open_warehouse(world)
    try:
        register_truth(con, intervention["order_ids"])
        span = affected_span(con, intervention)
    finally:
        con.close()
    assert span is not None
    return span, intervention


def test_seasonal_z_baseline_detects_the_demo_as_of_with_a_positive_delay(
    cache_dir: Path,
) -> None:
    null = load_scenario("null").model_copy(
        update={"seed": 1, "orders_per_day": SMALL_ORDERS_PER_DAY}
    )
    con = open_warehouse(cached_world(null, cache_dir)[0])
    threshold = tune_threshold(alarm_candidates(BASELINE, cohort_series(con, "hour"), "hour"), 31)
    con.close()
    world = _small_world("demo", cache_dir)
    span, _ = _span(world, "batching_threshold")
    con = open_warehouse(world)
    candidates = alarm_candidates(BASELINE, cohort_series(con, "hour"), "hour", span.first_hour)
    con.close()
    horizon = span.first_hour + dt.timedelta(hours=24)
    delay = peer_delay(candidates, threshold, span, "hour", horizon)
    assert np.isfinite(threshold) and threshold > 3
    assert delay is not None and 0 < delay <= 24


def test_largest_shift_names_the_eta_model_on_a_single_cause_world(cache_dir: Path) -> None:
    world = _small_world("eta_bias_grocery", cache_dir)
    span, intervention = _span(world, "eta_model_bias")
    baseline_window, incident_window = windows(span.first_hour, span.end)
    con = open_warehouse(world)
    baseline = sampled(order_features(con, intervention["scope"], baseline_window))
    incident = sampled(order_features(con, intervention["scope"], incident_window))
    con.close()
    assert len(baseline) > 500 and len(incident) > 100
    assert largest_shift(baseline, incident)[0] == "eta_model_bias"


def test_cx_agent_given_the_true_window_and_scope_ranks_the_batching_change_first(
    cache_dir: Path,
) -> None:
    world = _small_world("demo", cache_dir)
    span, intervention = _span(world, "batching_threshold")
    _, incident_window = windows(span.first_hour, span.end)
    context = ToolContext(world_dir=world)
    try:
        investigation = oracle_investigation(context, intervention["scope"], incident_window)
    finally:
        context.close()
    found = found_causes(investigation)
    expected = load_suite(names=["demo"])[0].expected
    assert found[0] == "batching_threshold" and top1(found, expected)
    tools = [item.tool for item in context.ledger.items]
    assert "detect_incidents" not in tools and "top_slices" not in tools
    shifts = [
        DriverShiftInput.model_validate(item.args)
        for item in context.ledger.items
        if item.tool == "driver_shift"
    ]
    assert len(shifts) >= len(investigation.library)
    for shift in shifts:
        assert (shift.start, shift.end) == incident_window
        assert shift.filters == {"category": ["grocery"], "hour": [18, 19, 20]}
        assert shift.baseline_days == BASELINE_DAYS


def _ours(name: str, hit: bool) -> ScenarioScore:
    return ScenarioScore(
        name=name,
        source="suite",
        orders_per_day=SMALL_ORDERS_PER_DAY,
        question="why?",
        expected_causes=["batching_threshold"],
        expected_slice=None,
        found_causes=["batching_threshold"] if hit else [],
        top1=hit,
    )


def test_root_cause_peers_are_compared_with_cx_agent_given_the_truth() -> None:
    ours = [_ours("caught", True), _ours("missed", False)]
    peers = [
        CaseResult(
            name=name,
            grain="hour",
            causes={ORACLE: ["batching_threshold"], SHIFT: ["batching_threshold"]},
            top1={ORACLE: True, SHIFT: True},
        )
        for name in ("caught", "missed")
    ]
    rows = {row.peer: row for row in build_rows(ours, peers, [])}
    assert [rows[OURS].top1, rows[ORACLE].top1, rows[SHIFT].top1] == [1, 2, 2]
    assert rows[SHIFT].ratio == pytest.approx(1.0) and rows[SHIFT].against == ORACLE
    shift_line = next(line for line in table(list(rows.values())) if line.startswith(f"| {SHIFT}"))
    assert shift_line.endswith("| 1.00 | cx-agent given the truth |")
    assert [line.split(":")[0].strip() for line in wins(ours, peers)] == ["missed"]
    without_oracle = [case.model_copy(update={"top1": {SHIFT: True}}) for case in peers]
    rows = {row.peer: row for row in build_rows(ours, without_oracle, [])}
    assert ORACLE not in rows and rows[SHIFT].against == OURS
    assert rows[SHIFT].ratio == pytest.approx(2.0)


def _candidates(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    periods = [pd.Timestamp(period) for _, period, _ in rows]
    return pd.DataFrame(
        {
            "metric": "cx_score",
            "cohort": [cohort for cohort, _, _ in rows],
            "period": periods,
            "known_at": [p + pd.Timedelta(hours=2) for p in periods],
            "score": [score for _, _, score in rows],
        }
    )


def test_delay_counts_only_alarms_in_scope_on_affected_periods_as_the_eval_does() -> None:
    span = AffectedSpan(
        first_hour=dt.datetime(2026, 1, 4, 18),
        end=dt.datetime(2026, 1, 6),
        scope={"category": ["grocery"], "hours": [18, 19, 20]},
    )
    horizon = span.first_hour + dt.timedelta(hours=24)
    candidates = _candidates(
        [
            ("category=retail", "2026-01-04 18:00", 9.0),  # another category
            ("all", "2026-01-04 17:00", 9.0),  # before the first affected hour
            ("category=grocery", "2026-01-04 19:00", 2.0),  # under the threshold
            ("region=north", "2026-01-04 20:00", 9.0),  # region unrestricted: in scope
        ]
    )
    assert peer_delay(candidates, 5.0, span, "hour", horizon) == 4.0  # known 22:00 - 18:00
    assert peer_delay(candidates, 1.0, span, "hour", horizon) == 3.0
    assert peer_delay(candidates, 10.0, span, "hour", horizon) is None
    late = span.first_hour + dt.timedelta(hours=3)
    assert peer_delay(candidates, 5.0, span, "hour", late) is None  # beyond the replay


def test_top1_is_the_evals_check() -> None:
    ordered = ExpectedFindings(question="why?", causes=["batching_threshold", "prep_time_drift"])
    either = ordered.model_copy(update={"ordered": False})
    found = ["prep_time_drift", "batching_threshold"]
    assert not top1(found, ordered) and top1(found, either)
    assert top1(found, ordered) == is_top(found, list(ordered.causes), ordered.ordered)
    assert not top1([], either)


def _step_series() -> np.ndarray:
    rng = np.random.default_rng(0)
    hours = np.arange(24 * 21)
    values = 90 + 3 * np.sin(hours * 2 * np.pi / 24) + rng.normal(0, 0.5, len(hours))
    values[-10:] -= 6.0  # a drop in the last ten hours
    return values


@pytest.mark.parametrize("scorer", [seasonal_z, binseg_scores, mstl_scores])
def test_a_score_uses_no_value_after_its_period(scorer: object) -> None:
    name = getattr(scorer, "__name__", "")
    if name == "binseg_scores":
        pytest.importorskip("ruptures")
    if name == "mstl_scores":
        pytest.importorskip("statsforecast")
    values = _step_series()
    start = len(values) - 30
    full = scorer(values, "hour", start)  # type: ignore[operator]
    cut = len(values) - 5
    prefix = scorer(values[:cut], "hour", start)  # type: ignore[operator]
    np.testing.assert_allclose(prefix, full[:cut], equal_nan=True)
    assert np.nanmax(full[-10:]) > np.nanmax(full[start:-10])  # the drop scores highest
