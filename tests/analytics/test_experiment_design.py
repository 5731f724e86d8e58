"""Experiment design on a small demo world: unit choice, baseline from the registry, delta-method
CX variance, sample size and duration from solve_power, clustering, and clear errors."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator

import duckdb
import numpy as np
import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from analytics.experiment_design import (
    MIN_DAYS,
    RECOMMENDED_DAYS,
    UNITS,
    DesignError,
    Family,
    cx_linearization,
    design_experiment,
    infer_family,
    order_frame,
)
from analytics.metrics import CX_SCORE, MetricError, metric_frame
from data.warehouse import open_warehouse

GROCERY_DINNER = {"category": ["grocery"], "hour": [18, 19, 20]}
INCIDENT = (dt.datetime(2026, 1, 4, 18), dt.datetime(2026, 1, 6))
HISTORY = (dt.datetime(2025, 12, 21), dt.datetime(2026, 1, 4))


@pytest.fixture(scope="module")
def con(small_scenario, make_world) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = open_warehouse(make_world(small_scenario("demo")))
    yield connection
    connection.close()


@pytest.mark.parametrize(
    ("text", "default", "family"),
    [
        ("revert the batching threshold to 5 min", None, "marketplace_policy"),
        ("Add peak pay for dashers in the affected regions and hours", None, "marketplace_policy"),
        ("Add 5 minutes of buffer to quoted ETAs", None, "marketplace_policy"),
        ("Throttle demand in the surge", None, "marketplace_policy"),
        ("Correct prep-time estimates for the affected stores", None, "merchant"),
        ("Suppress low-confidence SKUs", None, "merchant"),
        ("Roll back the ETA model to its previous version", None, "model"),
        ("do the obvious fix", "merchant", "merchant"),
        ("do the obvious fix", "model", "model"),
        ("do the obvious fix", None, "marketplace_policy"),
        ("display fewer out-of-stock items", "merchant", "merchant"),
        ("revert_batching", None, "marketplace_policy"),
    ],
)
def test_free_text_action_family_follows_its_words_then_the_default(
    text: str, default: Family | None, family: str
) -> None:
    assert (infer_family(text, default) if default else infer_family(text)) == family


def test_each_family_has_its_unit_with_a_reason() -> None:
    assert {family: unit.kind for family, unit in UNITS.items()} == {
        "marketplace_policy": "switchback",
        "merchant": "store",
        "model": "user",
    }
    assert "interference" in UNITS["marketplace_policy"].reason
    assert all(len(unit.reason) > 80 for unit in UNITS.values())


def test_batching_revert_design_matches_solve_power_and_statsmodels(con) -> None:
    design = design_experiment(
        con,
        "on_time_rate",
        GROCERY_DINNER,
        "marketplace_policy",
        effect=0.19,
        effect_interval=(0.16, 0.22),
        start=INCIDENT[0],
        end=INCIDENT[1],
    )

    status_quo = metric_frame(
        con, ["on_time_rate"], None, GROCERY_DINNER, start=INCIDENT[0], end=INCIDENT[1]
    )
    assert design.primary.level == pytest.approx(status_quo["on_time_rate"].iloc[0])
    assert (design.history_start, design.history_end) == HISTORY
    assert design.primary.level < design.primary.history_level  # the incident hurt on-time
    unclustered = NormalIndPower().solve_power(
        effect_size=proportion_effectsize(design.primary.level + 0.19, design.primary.level),
        alpha=0.05,
        power=0.8,
    )
    assert design.sample.n_per_arm == pytest.approx(unclustered * design.design_effect, rel=1e-9)
    assert design.unit.kind == "switchback"
    assert design.duration_days == max(
        MIN_DAYS, math.ceil(design.sample.n_total / design.primary.daily_volume)
    )
    assert design.duration_days >= MIN_DAYS
    assert design.recommended_days >= RECOMMENDED_DAYS
    assert 0 < design.mde.effect < 0.19
    assert design.power_at_low is not None and design.power_at_low > 0.8


def test_switchback_clusters_are_region_day_window_cells(con) -> None:
    design = design_experiment(con, "on_time_rate", GROCERY_DINNER, "marketplace_policy")

    # 5 regions x 14 days x one 3-hour window (18-20)
    assert design.primary.clusters == 5 * 14
    assert design.units == pytest.approx(5.0)
    assert design.design_effect >= 1.0


def test_default_effect_is_a_five_percent_relative_lift(con) -> None:
    design = design_experiment(con, "cancellation_rate", GROCERY_DINNER, "marketplace_policy")

    assert design.effect_source == "default lift"
    # cancellations are lower-is-better: the lift is a 5% fall
    assert design.effect == pytest.approx(-0.05 * design.primary.level)


def test_store_randomization_design_effect_grows_with_duration(con) -> None:
    design = design_experiment(
        con, "on_time_rate", GROCERY_DINNER, "merchant", start=INCIDENT[0], end=INCIDENT[1]
    )

    stats = design.primary
    assert design.unit.kind == "store"
    assert stats.design_effect(14) >= stats.design_effect(7) >= 1.0
    if stats.icc > 0:
        assert stats.design_effect(14) > stats.design_effect(7)
    assert design.sample.design_effect == pytest.approx(stats.design_effect(design.duration_days))


def test_cx_linearization_reproduces_the_registry_score(con) -> None:
    frame, _ = order_frame(con, GROCERY_DINNER, *HISTORY)

    level, influence = cx_linearization(frame)

    registry = metric_frame(
        con, [CX_SCORE], None, GROCERY_DINNER, start=HISTORY[0], end=HISTORY[1]
    )[CX_SCORE].iloc[0]
    assert level == pytest.approx(registry, abs=1e-9)
    assert influence.mean() == pytest.approx(0.0, abs=1e-9)  # influence values are centered


def test_delta_method_sd_predicts_the_spread_of_cx_over_random_groups(con) -> None:
    frame, _ = order_frame(con, {"category": ["grocery"]}, *HISTORY)
    _, influence = cx_linearization(frame)
    groups = np.random.default_rng(0).integers(0, 100, len(frame))

    scores = [cx_linearization(frame.loc[groups == g])[0] for g in range(100)]

    predicted = influence.std(ddof=1) / math.sqrt(len(frame) / 100)
    assert np.std(scores, ddof=1) == pytest.approx(predicted, rel=0.2)


def test_cx_primary_is_a_mean_with_a_positive_sd(con) -> None:
    design = design_experiment(con, CX_SCORE, GROCERY_DINNER, "marketplace_policy")

    assert design.primary.kind == "mean"
    assert design.primary.sd > 0
    assert design.effect == pytest.approx(0.05 * design.primary.level)
    assert "on_time_rate" in design.secondary


def test_empty_scope_is_a_design_error_naming_the_scope(con) -> None:
    with pytest.raises(DesignError, match="no orders in the scope .*category=pharmacy"):
        design_experiment(con, "on_time_rate", {"category": ["pharmacy"]}, "merchant")


def test_unknown_metric_is_a_metric_error(con) -> None:
    with pytest.raises(MetricError, match="unknown metric 'nps'"):
        design_experiment(con, "nps", GROCERY_DINNER, "merchant")


def test_effect_beyond_a_proportion_asks_for_the_incident_window(con) -> None:
    with pytest.raises(DesignError, match="incident window"):
        design_experiment(con, "on_time_rate", GROCERY_DINNER, "marketplace_policy", effect=0.4)


def test_history_before_the_incident_excludes_the_incident(con) -> None:
    design = design_experiment(
        con,
        "on_time_rate",
        GROCERY_DINNER,
        "marketplace_policy",
        start=INCIDENT[0],
        end=INCIDENT[1],
    )

    assert design.history_end <= INCIDENT[0]
    assert design.status_quo == INCIDENT


def test_a_rare_secondary_metric_in_a_small_scope_is_watched_not_a_failed_design(con) -> None:
    """In one store no fall of a rare event's rate (refunds, cancellations: a few percent) is
    detectable in the recommended days (random world 1079's plan failed on this): the design
    keeps the metric as a guardrail with no detectable effect, and the primary is powered."""
    store = con.execute(
        "SELECT store_id FROM order_facts WHERE category = 'retail' GROUP BY 1 ORDER BY count(*) "
        "LIMIT 1"
    ).fetchone()[0]
    design = design_experiment(con, "on_time_rate", {"store": [store]}, "merchant")
    unpowered = [name for name, metric in design.secondary.items() if metric.mde is None]
    assert unpowered and design.mde.effect > 0
    assert all(not design.secondary[name].stats.higher_is_better for name in unpowered)
