"""Key drivers on exports with planted drivers (a causal one, a correlated bystander, a weaker
one and noise), the method's invariants, and the drivers answer through the agent."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest

import tools.catalog  # noqa: F401  (registers the tools)
from agent.service import Agent
from agent.settings import AgentSettings
from analytics.key_drivers import KeyDriverError, KeyDrivers, key_drivers
from data.warehouse import open_warehouse
from evals.planted_drivers import BYSTANDER, CAUSAL, WEAKER, planted_world
from tools.base import ToolContext, ToolError


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("planted")
    return [planted_world(folder, seed) for seed in (1, 2, 3)]


def test_the_causal_driver_ranks_first_and_the_correlated_bystander_never_above_it(
    planted: list[Path],
) -> None:
    for world in planted:
        found = key_drivers(open_warehouse(world), "duration_min")
        ranked = [driver.dimension for driver in found.drivers]
        assert ranked[0] == CAUSAL
        assert ranked.index(BYSTANDER) > ranked.index(WEAKER)
        # The raw group differences alone would put the bystander second.
        assert found.marginal_order[:2] == (CAUSAL, BYSTANDER)


def test_the_bystander_is_called_confounded_and_tied_to_the_causal_driver(
    planted: list[Path],
) -> None:
    found = key_drivers(open_warehouse(planted[0]), "duration_min")
    bystander = next(d for d in found.drivers if d.dimension == BYSTANDER)
    assert bystander.agreement == "confounded"
    assert bystander.associated == CAUSAL
    assert bystander.association == pytest.approx(0.66, abs=0.1)
    causal = next(d for d in found.drivers if d.dimension == CAUSAL)
    assert causal.agreement == "agree" and causal.custom
    storm = next(e for e in found.effects if (e.dimension, e.group) == (CAUSAL, "Stormy"))
    assert storm.q_value is not None and storm.q_value < 1e-6
    assert storm.difference.estimate == pytest.approx(4.0, abs=1.0)  # STORM_MINUTES
    closed = next(e for e in found.effects if (e.dimension, e.group) == (BYSTANDER, "yes"))
    assert closed.difference.estimate > 1.0  # looks like a driver on its own
    assert abs(closed.adjusted or 0.0) < 0.5 * closed.difference.estimate


def test_group_sizes_match_a_plain_group_by_and_q_values_control_many_tests(
    planted: list[Path],
) -> None:
    con = open_warehouse(planted[1])
    found = key_drivers(con, "duration_min", min_support=40)
    for dimension in (CAUSAL, "region", "daypart"):
        counts = dict(
            con.execute(
                f"SELECT CAST({dimension} AS VARCHAR), count(*) FROM order_facts "
                "WHERE duration_min IS NOT NULL GROUP BY 1"
            ).fetchall()
        )
        tested = {e.group: e.orders for e in found.effects if e.dimension == dimension}
        assert tested == {g: n for g, n in counts.items() if n >= 40 and found.orders - n >= 40}
    assert found.tests == sum(e.difference.p_value is not None for e in found.effects)
    for effect in found.effects:
        assert effect.q_value is None or effect.q_value >= effect.difference.p_value
        assert effect.orders >= found.min_support


def test_with_one_dimension_the_attribution_equals_the_marginal_spread(
    planted: list[Path],
) -> None:
    found = key_drivers(open_warehouse(planted[2]), "duration_min", dimensions=["vehicle"])
    (driver,) = found.drivers
    assert driver.attribution == pytest.approx(driver.marginal_spread, rel=1e-9)


def _assert_same_group_readings(found: KeyDrivers, expected: KeyDrivers) -> None:
    """The per-group tests (not the model's adjusted effects) say the same of the same groups
    in the same order: names and counts exactly, figures to the last bits a multi-threaded sum
    may order differently from run to run."""
    assert [(e.dimension, e.group, e.orders) for e in found.effects] == [
        (e.dimension, e.group, e.orders) for e in expected.effects
    ]
    for mine, theirs in zip(found.effects, expected.effects, strict=True):
        figures = [(e.value, e.rest, e.difference.estimate, e.difference.ci_low,
                    e.difference.ci_high, e.difference.p_value, e.q_value)
                   for e in (mine, theirs)]  # fmt: skip
        assert figures[0] == pytest.approx(figures[1], rel=1e-9)


def test_a_capped_model_fits_about_the_cap_and_leaves_the_group_tests_unchanged(
    planted: list[Path],
) -> None:
    con = open_warehouse(planted[0])
    full = key_drivers(con, "duration_min")
    capped = key_drivers(con, "duration_min", model_cap=1000)
    assert full.model_orders == full.orders == 3000 and full.sample_note is None
    # The group tests are sums aggregated in the engine: the cap does not touch them (to the
    # last bits, which a multi-threaded sum may order differently from run to run).
    _assert_same_group_readings(capped, full)
    assert capped.marginal_order == full.marginal_order
    assert {d.dimension: d.marginal_spread for d in capped.drivers} == pytest.approx(
        {d.dimension: d.marginal_spread for d in full.drivers}, rel=1e-9
    )
    share = 1000 / full.orders  # a Bernoulli sample by order id: binomial size
    assert abs(capped.model_orders - 1000) <= 4 * math.sqrt(full.orders * share * (1 - share))
    assert capped.sample_note == (
        "fitted on a sample of about 1,000 of 3,000 cohort orders "
        "(drawn in the engine, by order id)"
    )
    assert capped.drivers[0].dimension == full.drivers[0].dimension == CAUSAL
    again = key_drivers(con, "duration_min", model_cap=1000)  # the same orders every run
    assert (again.model_orders, again.r_squared) == (capped.model_orders, capped.r_squared)


class _Fetched:
    """A query's result that notes how many rows were fetched from it (any other way of
    reading it fails, so that no rows leave uncounted)."""

    def __init__(self, result: duckdb.DuckDBPyConnection, sql: str, log: list) -> None:
        self._result, self._sql, self._log = result, sql, log

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows = self._result.fetchall()
        self._log.append((len(rows), self._sql))
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        row = self._result.fetchone()
        self._log.append((int(row is not None), self._sql))
        return row

    def df(self) -> Any:
        frame = self._result.df()
        self._log.append((len(frame), self._sql))
        return frame

    def to_arrow_table(self) -> Any:
        table = self._result.to_arrow_table()
        self._log.append((table.num_rows, self._sql))
        return table


class _Counting:
    """A warehouse connection that logs the rows each query returned to Python."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con, self.fetched = con, []

    def execute(self, sql: str, parameters: object = None) -> _Fetched:
        return _Fetched(self._con.execute(sql, parameters or []), sql, self.fetched)

    def __getattr__(self, name: str) -> object:
        return getattr(self._con, name)


def test_only_group_sums_and_the_bounded_sample_leave_the_engine(planted: list[Path]) -> None:
    connection = _Counting(open_warehouse(planted[1]))
    found = key_drivers(connection, "duration_min", model_cap=500)
    assert found.orders == 3000 and found.model_orders < 600
    fetched = sum(rows for rows, _ in connection.fetched)
    assert fetched < found.model_orders + 100  # the rest: one row per group, catalog lookups
    (per_order,) = [sql for rows, sql in connection.fetched if rows > 100]
    assert "ORDER BY order_id" in per_order and "md5(" in per_order  # the engine's sample


def test_the_cx_score_and_a_tiny_cohort_are_refused(planted: list[Path]) -> None:
    con = open_warehouse(planted[0])
    with pytest.raises(KeyDriverError, match="no value per order"):
        key_drivers(con, "cx_score")
    with pytest.raises(KeyDriverError, match="needs at least"):
        key_drivers(con, "duration_min", filters={"region": ["north"]}, min_support=5000)


def test_the_tool_names_unknown_dimensions_and_unavailable_metrics(planted: list[Path]) -> None:
    context = ToolContext(world_dir=planted[0])
    with pytest.raises(ToolError, match="unknown dimension 'traffic'"):
        context.call("key_drivers", {"dimensions": ["traffic"]})
    with pytest.raises(ToolError, match="on_time_rate is unavailable"):
        context.call("key_drivers", {"metric": "on_time_rate"})
    _, item = context.call("key_drivers", {"metric": "slow_rate"})  # a rate: shares
    assert item.figures["d1.attribution"].unit == "share"
    assert item.figures["overall.value"].unit == "share"


def test_every_driver_dimension_gets_its_group_most_apart_beyond_the_listed_ones(
    planted: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # With one group listed by significance, each other dimension still gets its group most
    # apart from the rest ('are younger couriers faster?' reads courier_age's)
    monkeypatch.setattr("tools.key_drivers.MAX_GROUPS", 1)
    output, item = ToolContext(world_dir=planted[0]).call("key_drivers", {})
    found = key_drivers(open_warehouse(planted[0]), "duration_min")
    assert output.groups[0].group == found.effects[0].group  # the most significant first
    dimensions = [group.dimension for group in output.groups]
    assert sorted(dimensions) == sorted({d.dimension for d in found.drivers})
    for row in output.groups[1:]:
        own = [e for e in found.effects if e.dimension == row.dimension]
        most = max(abs(e.difference.estimate) for e in own)
        assert abs(row.difference) == pytest.approx(most, rel=1e-9)  # sums in another order
    assert f"g{len(output.groups)}.cohort" in item.figures


def test_the_tool_states_the_models_sample_when_the_cohort_is_beyond_the_cap(
    planted: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("analytics.key_drivers.MAX_MODEL_ROWS", 1000)
    output, item = ToolContext(world_dir=planted[0]).call("key_drivers", {})
    assert output.model_sample == (
        "fitted on a sample of about 1,000 of 3,000 cohort orders "
        "(drawn in the engine, by order id)"
    )
    assert f"model {output.model_sample}" in item.summary
    assert item.figures["orders"].value == 3000
    assert item.figures["model_orders"].value == output.model_orders < 3000


def test_the_answer_says_when_the_model_fitted_a_sample(
    planted: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("analytics.key_drivers.MAX_MODEL_ROWS", 1000)
    agent = Agent(planted[0], AgentSettings(llm="offline", result_cache=False))
    try:
        result = agent.ask("what drives delivery time?")
    finally:
        agent.close()
    assert result["grounding"]["ok"], result["grounding"]
    assert re.search(
        r"one regression on all of them, fitted on [0-9,]+ of the 3,000 orders, a sample drawn "
        r"by order id\)",
        result["answer"],
    ), result["answer"]


def test_asking_what_drives_delivery_time_is_answered_grounded(planted: list[Path]) -> None:
    agent = Agent(planted[0], AgentSettings(llm="offline"))
    try:
        result = agent.ask("what drives delivery time?")
        follow = agent.ask("and for bicycles?")
    finally:
        agent.close()
    assert result["kind"] == "drivers"
    assert result["grounding"]["ok"], result["grounding"]
    assert f"are {CAUSAL} (" in result["answer"]
    assert f"{BYSTANDER}'s groups differ by" in result["answer"]
    assert f"it goes with {CAUSAL}" in result["answer"]
    assert result["table"][0]["dimension"] == f"{CAUSAL} (custom)"
    assert follow["grounding"]["ok"], follow["grounding"]


def test_a_synthetic_world_has_drivers_over_its_built_in_dimensions(
    make_world, small_scenario
) -> None:
    con = open_warehouse(make_world(small_scenario("demo")))
    found = key_drivers(con, "on_time_rate", filters={"category": ["grocery"]})
    assert {d.dimension for d in found.drivers} <= {"region", "daypart", "weekday",
                                                    "basket_size", "store"}  # fmt: skip
    assert "category" not in {d.dimension for d in found.drivers}  # fixed by the filter
    assert (
        found.orders
        == con.execute(
            "SELECT count(on_time) FROM order_facts WHERE category = 'grocery'"
        ).fetchone()[0]
    )


def test_an_in_memory_table_without_a_warehouse_is_refused() -> None:
    with pytest.raises(duckdb.Error):
        key_drivers(duckdb.connect(), "duration_min")
