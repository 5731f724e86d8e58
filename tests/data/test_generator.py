"""The world generator: schema conformance, determinism, exact counterfactuals, ground truth,
the signature each cause kind leaves in the data, baseline levels and atomic output."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from scipy import stats

import data.generator
from analytics.metrics import CX_SCORE, metric_frame
from data import world_config as cfg
from data.generator import MANIFEST_FILE, TRUTH_FILE, WorldExistsError, generate_world
from data.interventions import CHANGE_SPECS
from data.interventions.kinds.dasher_shortage import supply_factor
from data.scenario import CAUSE_KINDS, Intervention, Scenario, Scope
from data.schema import (
    ARROW_TYPES,
    CHANGE_KINDS,
    DAYPARTS,
    ISSUE_TYPES,
    ORDER_FACTS,
    TABLES,
    Table,
)
from data.warehouse import open_warehouse

ScenarioFactory = Callable[..., Scenario]
WorldFactory = Callable[[Scenario], Path]

ORDER_TABLES = ("orders", "deliveries", "items", "ratings", "support_events")
# Batching and the surge touch few orders (one region's evenings); a larger world keeps their
# signatures well clear of the noise.
ORDERS_PER_DAY_BY_KIND = {"batching_threshold": 6000, "demand_surge": 6000}
COUNTERFACTUAL_CASES = [pytest.param(kind, id=kind) for kind in CAUSE_KINDS] + [
    pytest.param("demo", id="demo-without-batching")
]


def _cause_scenario(small_scenario: ScenarioFactory, name: str) -> Scenario:
    if name in ORDERS_PER_DAY_BY_KIND:
        return small_scenario(name, orders_per_day=ORDERS_PER_DAY_BY_KIND[name])
    return small_scenario(name)


def _read(world: Path, table: str) -> pd.DataFrame:
    return pd.read_parquet(world / f"{table}.parquet")


def _truth(world: Path) -> dict:
    return json.loads((world / TRUTH_FILE).read_text())


def _rows_in_order(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    key = list(TABLES[table].primary_key)
    return frame.sort_values(key).reset_index(drop=True)


def _assert_same_rows(actual: pa.Table, expected: pa.Table, table: str) -> None:
    """The two tables hold the same rows (in primary-key order); else show some that differ."""
    order = [(column, "ascending") for column in TABLES[table].primary_key]
    actual, expected = actual.sort_by(order), expected.sort_by(order)
    if actual.equals(expected):
        return
    merged = actual.to_pandas().merge(expected.to_pandas(), how="outer", indicator=True)
    differing = merged[merged["_merge"] != "both"]
    pytest.fail(f"{table}: {len(differing)} rows differ, for example\n{differing.head(6)}")


def _matches_scope(
    scope: Scope,
    when: pd.Series,
    region: pd.Series,
    category: pd.Series | None = None,
    store_id: pd.Series | None = None,
) -> pd.Series:
    """Rows matching the scope's filters (hours from `when`); None columns are not filtered."""
    mask = pd.Series(True, index=when.index)
    if scope.region:
        mask &= region.isin(scope.region)
    if scope.category and category is not None:
        mask &= category.isin(scope.category)
    if scope.store_ids and store_id is not None:
        mask &= store_id.isin(scope.store_ids)
    if scope.hours:
        mask &= when.dt.hour.isin(scope.hours)
    return mask


def _in_scope(
    intervention: Intervention,
    when: pd.Series,
    region: pd.Series,
    category: pd.Series | None = None,
    store_id: pd.Series | None = None,
) -> pd.Series:
    """Rows inside the intervention's scope and active window."""
    mask = when >= intervention.onset
    if intervention.end is not None:
        mask &= when < intervention.end
    return mask & _matches_scope(intervention.scope, when, region, category, store_id)


def _orders_in_scope(orders: pd.DataFrame, intervention: Intervention) -> set[str]:
    # A dasher shortage acts on whole region-hours of supply.
    when = orders["order_time"]
    if intervention.kind == "dasher_shortage":
        when = when.dt.floor("h")
    mask = _in_scope(intervention, when, orders["region"], orders["category"], orders["store_id"])
    return set(orders.loc[mask, "order_id"])


# --- schema conformance -------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_world(small_scenario: ScenarioFactory, make_world: WorldFactory) -> Path:
    return make_world(small_scenario("demo"))


@pytest.fixture
def warehouse(demo_world: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with open_warehouse(demo_world) as con:
        yield con


@pytest.mark.parametrize("name", list(TABLES))
def test_parquet_table_has_exactly_the_schema_columns_types_and_nullability(
    name: str, demo_world: Path
) -> None:
    schema = pq.read_schema(demo_world / f"{name}.parquet")

    assert [(f.name, f.type, f.nullable) for f in schema] == [
        (c.name, ARROW_TYPES[c.type], c.nullable) for c in TABLES[name].columns
    ]


@pytest.mark.parametrize("table", [*TABLES.values(), ORDER_FACTS], ids=lambda t: t.name)
def test_warehouse_table_has_exactly_the_schema_columns_and_duckdb_types(
    table: Table, warehouse: duckdb.DuckDBPyConnection
) -> None:
    rows = warehouse.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? ORDER BY ordinal_position",
        [table.name],
    ).fetchall()

    assert rows == [(c.name, c.type) for c in table.columns]


@pytest.mark.parametrize("table", [*TABLES.values(), ORDER_FACTS], ids=lambda t: t.name)
def test_non_nullable_columns_hold_no_nulls(
    table: Table, warehouse: duckdb.DuckDBPyConnection
) -> None:
    required = [c.name for c in table.columns if not c.nullable]
    counts = warehouse.execute(
        f"SELECT {', '.join(f'count(*) - count({name})' for name in required)} FROM {table.name}"
    ).fetchone()

    assert dict(zip(required, counts, strict=True)) == dict.fromkeys(required, 0)


@pytest.mark.parametrize(
    "table", [t for t in (*TABLES.values(), ORDER_FACTS) if t.primary_key], ids=lambda t: t.name
)
def test_primary_key_is_unique(table: Table, warehouse: duckdb.DuckDBPyConnection) -> None:
    key = ", ".join(table.primary_key)
    rows, distinct = warehouse.execute(
        f"SELECT count(*), count(DISTINCT ({key})) FROM {table.name}"
    ).fetchone()

    assert rows > 0
    assert distinct == rows


FOREIGN_KEYS = [
    pytest.param(table.name, column, target, id=f"{table.name}.{column}")
    for table in TABLES.values()
    for column, target in table.foreign_keys.items()
]


@pytest.mark.parametrize(("table", "column", "target"), FOREIGN_KEYS)
def test_foreign_key_resolves(
    table: str, column: str, target: str, warehouse: duckdb.DuckDBPyConnection
) -> None:
    target_table, target_column = target.split(".")
    dangling = warehouse.execute(
        f"SELECT count(*) FROM {table} t WHERE NOT EXISTS "
        f"(SELECT 1 FROM {target_table} u WHERE u.{target_column} = t.{column})"
    ).fetchone()[0]

    assert dangling == 0


def test_the_order_tables_reference_orders_as_the_contract_says() -> None:
    references = {name: TABLES[name].foreign_keys for name in ORDER_TABLES[1:]}

    assert references == dict.fromkeys(ORDER_TABLES[1:], {"order_id": "orders.order_id"})
    assert TABLES["orders"].foreign_keys == {"store_id": "stores.store_id"}


def test_every_order_has_one_delivery_and_one_fact_row(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    orders, deliveries, facts = warehouse.execute(
        "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM deliveries), "
        "(SELECT count(*) FROM order_facts)"
    ).fetchone()

    assert deliveries == orders
    assert facts == orders


def test_columns_with_a_vocabulary_hold_only_its_values(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    def values(sql: str) -> set:
        return {row[0] for row in warehouse.execute(sql).fetchall()}

    assert values("SELECT DISTINCT region FROM orders") == set(cfg.REGIONS)
    assert values("SELECT DISTINCT category FROM orders") == set(cfg.CATEGORIES)
    assert values("SELECT DISTINCT region FROM stores") == set(cfg.REGIONS)
    assert values("SELECT DISTINCT issue_type FROM support_events") <= set(ISSUE_TYPES)
    assert values("SELECT DISTINCT kind FROM changes") <= set(CHANGE_KINDS)
    assert values("SELECT DISTINCT stars FROM ratings") <= {1, 2, 3, 4, 5}
    assert values("SELECT DISTINCT daypart FROM order_facts") == set(DAYPARTS)
    assert values("SELECT DISTINCT basket_size FROM order_facts") == {"small", "medium", "large"}
    assert values("SELECT DISTINCT eta_model_version FROM orders") <= {
        cfg.ETA_MODEL_VERSION,
        cfg.ETA_MODEL_NEXT_VERSION,
    }


def test_canceled_orders_have_no_arrival_and_delivered_orders_arrive_after_pickup(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    inconsistent = warehouse.execute(
        "SELECT count(*) FROM deliveries d JOIN orders o USING (order_id) WHERE "
        "(canceled_flag AND (actual_eta IS NOT NULL OR pickup_time IS NOT NULL)) OR "
        "(NOT canceled_flag AND NOT (o.order_time <= pickup_time AND pickup_time <= actual_eta "
        "AND actual_eta <= delivery_time))"
    ).fetchone()[0]

    assert inconsistent == 0


def test_manifest_row_counts_match_the_tables(
    demo_world: Path, warehouse: duckdb.DuckDBPyConnection
) -> None:
    manifest = json.loads((demo_world / MANIFEST_FILE).read_text())

    for name in TABLES:
        parquet_rows = pq.read_metadata(demo_world / f"{name}.parquet").num_rows
        warehouse_rows = warehouse.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        assert manifest["row_counts"][name] == parquet_rows == warehouse_rows


def test_small_world_delivers_every_order_within_hours_not_days(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    longest_duration, longest_wait = warehouse.execute(
        "SELECT max(duration_min), max(dasher_wait_min) FROM order_facts"
    ).fetchone()

    assert longest_duration < 240
    assert longest_wait < 120


# --- determinism --------------------------------------------------------------------------

GENERATE_SCRIPT = """
import sys
from pathlib import Path
from data.generator import generate_world
from data.scenario import Scenario
generate_world(Scenario.model_validate_json(sys.argv[1]), Path(sys.argv[2]))
"""


def test_same_scenario_and_seed_give_byte_identical_tables_in_another_process(
    small_scenario: ScenarioFactory, tmp_path: Path
) -> None:
    scenario = small_scenario("demo", orders_per_day=1000)
    generate_world(scenario, tmp_path / "here")
    # Another interpreter with another string-hash seed, so set or dict order cannot leak in.
    subprocess.run(
        [
            sys.executable,
            "-c",
            GENERATE_SCRIPT,
            scenario.model_dump_json(),
            str(tmp_path / "there"),
        ],
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )

    for file in [*(f"{name}.parquet" for name in TABLES), TRUTH_FILE, MANIFEST_FILE]:
        assert (tmp_path / "here" / file).read_bytes() == (tmp_path / "there" / file).read_bytes()
    with open_warehouse(tmp_path / "here") as here, open_warehouse(tmp_path / "there") as there:
        for name in [*TABLES, "order_facts"]:
            pd.testing.assert_frame_equal(
                here.table(name).df(), there.table(name).df(), check_exact=True
            )


def test_a_different_seed_gives_a_different_world(
    small_scenario: ScenarioFactory, tmp_path: Path
) -> None:
    scenario = small_scenario("null", orders_per_day=1000, days=3)
    reseeded = scenario.model_copy(update={"seed": scenario.seed + 1})
    generate_world(scenario, tmp_path / "first")
    generate_world(reseeded, tmp_path / "second")

    for name in ("orders", "deliveries", "items"):
        assert not _read(tmp_path / "first", name).equals(_read(tmp_path / "second", name))


# --- counterfactuals ----------------------------------------------------------------------


@pytest.fixture
def world_pair(
    request: pytest.FixtureRequest, small_scenario: ScenarioFactory, make_world: WorldFactory
) -> tuple[Scenario, Path, Path]:
    """(scenario, its world, the world with intervention 0 removed) for the case's scenario."""
    scenario = _cause_scenario(small_scenario, request.param)
    return scenario, make_world(scenario), make_world(scenario.without(0))


@pytest.mark.parametrize("world_pair", COUNTERFACTUAL_CASES, indirect=True)
def test_removing_an_intervention_changes_no_order_outside_its_truth(
    world_pair: tuple[Scenario, Path, Path],
) -> None:
    _, world, counterfactual = world_pair
    touched = pa.array(_truth(world)["interventions"][0]["order_ids"], pa.string())

    changed: set[str] = set()
    for table in ORDER_TABLES:
        actual = pq.read_table(world / f"{table}.parquet")
        without = pq.read_table(counterfactual / f"{table}.parquet")
        untouched = [
            rows.filter(pc.invert(pc.is_in(rows["order_id"], value_set=touched)))
            for rows in (actual, without)
        ]
        _assert_same_rows(*untouched, table)
        # The truth is not vacuous: some of the orders it lists really changed.
        touched_rows = [
            rows.filter(pc.is_in(rows["order_id"], value_set=touched)).to_pandas()
            for rows in (actual, without)
        ]
        merged = touched_rows[0].merge(touched_rows[1], how="outer", indicator=True)
        changed |= set(merged.loc[merged["_merge"] != "both", "order_id"])
    assert changed


@pytest.mark.parametrize("world_pair", COUNTERFACTUAL_CASES, indirect=True)
def test_touched_orders_are_exactly_the_orders_inside_the_scope_and_window(
    world_pair: tuple[Scenario, Path, Path],
) -> None:
    scenario, world, _ = world_pair
    intervention = scenario.interventions[0]
    touched = _truth(world)["interventions"][0]["order_ids"]

    assert len(touched) > 0
    assert set(touched) == _orders_in_scope(_read(world, "orders"), intervention)


@pytest.mark.parametrize("world_pair", COUNTERFACTUAL_CASES, indirect=True)
def test_removing_an_intervention_changes_supply_and_stock_checks_only_inside_its_scope(
    world_pair: tuple[Scenario, Path, Path],
) -> None:
    scenario, world, counterfactual = world_pair
    intervention = scenario.interventions[0]
    stores = _read(world, "stores")

    def outside(table: str, path: Path) -> pd.DataFrame:
        frame = _read(path, table)
        if table == "dasher_supply":
            mask = _in_scope(intervention, frame["hour_start"], frame["region"])
        else:
            located = frame.merge(stores, on="store_id", how="left")
            mask = _in_scope(
                intervention,
                located["event_time"],
                located["region"],
                located["category"],
                located["store_id"],
            )
        return _rows_in_order(frame[~mask.to_numpy()], table)

    for table in ("dasher_supply", "inventory_events"):
        pd.testing.assert_frame_equal(
            outside(table, world), outside(table, counterfactual), check_exact=True
        )


@pytest.mark.parametrize("world_pair", COUNTERFACTUAL_CASES, indirect=True)
def test_removing_an_intervention_removes_only_its_own_change_row(
    world_pair: tuple[Scenario, Path, Path],
) -> None:
    scenario, world, counterfactual = world_pair
    change_id = _truth(world)["interventions"][0]["change_id"]
    actual = _read(world, "changes")
    without = _read(counterfactual, "changes")

    # Change ids are numbered by time, so they shift when a row goes; compare the rest.
    expected = actual[actual["change_id"] != change_id].drop(columns="change_id")
    pd.testing.assert_frame_equal(
        expected.reset_index(drop=True), without.drop(columns="change_id").reset_index(drop=True)
    )
    assert (change_id is not None) == scenario.interventions[0].logged


# --- ground truth -------------------------------------------------------------------------


DECOY_SCENARIO = Scenario.model_validate(
    {
        "name": "decoy",
        "seed": 5,
        "start": "2025-12-06",
        "days": 4,
        "orders_per_day": 3000,
        "interventions": [
            {
                "kind": "inventory_drop",
                "onset": "2025-12-08T00:00",
                "scope": {"region": ["north"]},
                "magnitude": 0.0,
                "logged": True,
            },
            {
                "kind": "eta_model_bias",
                "onset": "2025-12-08T12:00",
                "scope": {"region": ["south"]},
                "magnitude": 1.0,
                "logged": True,
                "name": "eta_model_v42",
                "description": "Retrained ETA model",
            },
            {"kind": "dasher_shortage", "onset": "2025-12-09T00:00", "magnitude": 0.5},
        ],
    }
)


@pytest.fixture(scope="module", params=["demo", "decoy"])
def truth_case(
    request: pytest.FixtureRequest, small_scenario: ScenarioFactory, make_world: WorldFactory
) -> tuple[Scenario, Path]:
    scenario = small_scenario("demo") if request.param == "demo" else DECOY_SCENARIO
    return scenario, make_world(scenario)


def test_truth_lists_each_intervention_as_the_scenario_states_it(
    truth_case: tuple[Scenario, Path],
) -> None:
    scenario, world = truth_case
    truth = _truth(world)

    assert truth["scenario"] == scenario.name
    assert len(truth["interventions"]) == len(scenario.interventions)
    for index, (entry, intervention) in enumerate(
        zip(truth["interventions"], scenario.interventions, strict=True)
    ):
        assert entry["index"] == index
        assert entry["kind"] == intervention.kind
        assert dt.datetime.fromisoformat(entry["onset"]) == intervention.onset
        assert Scope.model_validate(entry["scope"]) == intervention.scope
        assert entry["magnitude"] == intervention.magnitude
        assert entry["logged"] == intervention.logged


def test_truth_change_ids_point_at_change_rows_with_the_right_name_time_and_scope(
    truth_case: tuple[Scenario, Path],
) -> None:
    scenario, world = truth_case
    changes = _read(world, "changes").set_index("change_id")

    entries = _truth(world)["interventions"]
    for entry, intervention in zip(entries, scenario.interventions, strict=True):
        assert (entry["change_id"] is not None) == intervention.logged
        if intervention.logged:
            row = changes.loc[entry["change_id"]]
            spec = CHANGE_SPECS[intervention.kind]
            assert row["name"] == (intervention.name or spec.name)
            assert row["kind"] == spec.change_kind
            assert row["change_time"] == intervention.onset
            assert json.loads(row["scope"]) == intervention.scope.as_filters()
            assert row["description"] == (intervention.description or spec.description)


def test_truth_affected_orders_counts_its_unique_order_ids_which_all_exist(
    truth_case: tuple[Scenario, Path],
) -> None:
    _, world = truth_case
    order_ids = set(_read(world, "orders")["order_id"])

    for entry in _truth(world)["interventions"]:
        assert entry["affected_orders"] == len(entry["order_ids"])
        assert len(set(entry["order_ids"])) == len(entry["order_ids"])
        assert set(entry["order_ids"]) <= order_ids


def test_a_logged_decoy_touches_no_order_but_has_a_change_row(make_world: WorldFactory) -> None:
    world = make_world(DECOY_SCENARIO)
    decoy, real, unlogged = _truth(world)["interventions"]
    changes = _read(world, "changes")

    assert decoy["affected_orders"] == 0
    assert decoy["order_ids"] == []
    assert decoy["change_id"] in set(changes["change_id"])
    assert real["affected_orders"] > 0
    assert unlogged["affected_orders"] > 0
    assert unlogged["change_id"] is None


@pytest.mark.parametrize("kind", CAUSE_KINDS)
def test_a_decoy_of_any_kind_changes_nothing_but_the_change_log(
    kind: str, make_world: WorldFactory
) -> None:
    scenario = Scenario.model_validate(
        {
            "name": f"decoy-{kind}",
            "seed": 3,
            "start": "2025-12-06",
            "days": 2,
            "orders_per_day": 1000,
            "interventions": [
                {"kind": kind, "onset": "2025-12-07T00:00", "magnitude": 0.0, "logged": True}
            ],
        }
    )
    world, counterfactual = make_world(scenario), make_world(scenario.without(0))

    for table in (*ORDER_TABLES, "dasher_supply", "inventory_events", "stores"):
        pd.testing.assert_frame_equal(
            _read(world, table), _read(counterfactual, table), check_exact=True
        )
    assert len(_read(world, "changes")) == len(_read(counterfactual, "changes")) + 1


# --- signatures of each cause kind --------------------------------------------------------

Window = tuple[dt.datetime, dt.datetime]


def _after_and_before(
    scenario: Scenario, intervention: Intervention
) -> tuple[Window, list[Window]]:
    """The active window, and the same weekdays and hours one and two weeks earlier."""
    end = intervention.end or dt.datetime.combine(scenario.end + dt.timedelta(days=1), dt.time())
    after = (intervention.onset, end)
    before = [
        (intervention.onset - dt.timedelta(weeks=weeks), end - dt.timedelta(weeks=weeks))
        for weeks in (1, 2)
    ]
    assert before[0][1] <= after[0], "the active window is longer than a week"
    return after, before


def _scope_sql(scope: Scope) -> tuple[str, list]:
    clauses, parameters = [], []
    for field, column in (
        ("region", "region"),
        ("category", "category"),
        ("store_ids", "store_id"),
        ("hours", "hour"),
    ):
        values = getattr(scope, field)
        if values:
            clauses.append(f"list_contains(?, {column})")
            parameters.append(values)
    return " AND ".join(clauses) or "true", parameters


def _windows_sql(windows: list[Window], column: str = "order_time") -> tuple[str, list]:
    sql = " OR ".join(f"({column} >= ? AND {column} < ?)" for _ in windows)
    return f"({sql})", [bound for window in windows for bound in window]


def _proportion_z(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Two-proportion z statistic of after vs before, from (successes, trials)."""
    (x1, n1), (x2, n2) = before, after
    pooled = (x1 + x2) / (n1 + n2)
    return (x2 / n2 - x1 / n1) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))


def _welch_t(before: np.ndarray, after: np.ndarray) -> float:
    """Welch's t statistic of after vs before (unequal variances)."""
    return float(stats.ttest_ind(after, before, equal_var=False).statistic)


# How each signature metric is measured on order_facts: "share" of orders where a boolean column
# is true, "mean" of a column, or "item_accuracy" over delivered lines (as the metrics registry).
SIGNATURES = [
    pytest.param("batching_threshold", "batched", "share", +1, id="batching-batched_share_up"),
    pytest.param("batching_threshold", "on_time", "share", -1, id="batching-on_time_down"),
    pytest.param("prep_time_drift", "prep_min", "mean", +1, id="prep_drift-prep_time_up"),
    pytest.param("dasher_shortage", "dasher_wait_min", "mean", +1, id="shortage-dasher_wait_up"),
    pytest.param("inventory_drop", "", "item_accuracy", -1, id="inventory-item_accuracy_down"),
    pytest.param("inventory_drop", "refunded", "share", +1, id="inventory-refund_rate_up"),
    pytest.param("eta_model_bias", "eta_error_min", "mean", +1, id="eta_bias-signed_error_up"),
    pytest.param("eta_model_bias", "on_time", "share", -1, id="eta_bias-on_time_down"),
]


def _change_statistic(
    con: duckdb.DuckDBPyConnection,
    column: str,
    measure: str,
    where: tuple[str, list],
    after: Window,
    before: list[Window],
) -> float:
    """z (shares) or Welch t (means) of the metric in `after` vs `before`, for rows in `where`."""

    def query(windows: list[Window]) -> tuple:
        window_sql, window_parameters = _windows_sql(windows)
        filters = f"WHERE ({where[0]}) AND {window_sql}"
        parameters = [*where[1], *window_parameters]
        if measure == "mean":
            sql = f"SELECT {column} FROM order_facts {filters} AND {column} IS NOT NULL"
            return con.execute(sql, parameters).fetchnumpy()[column]
        if measure == "share":
            sql = f"SELECT count(*) FILTER (WHERE {column}), count({column}) FROM order_facts"
        else:
            sql = (
                "SELECT sum(item_lines - substituted_lines - missing_lines), sum(item_lines) "
                "FROM order_facts"
            )
            filters += " AND delivered"
        return con.execute(f"{sql} {filters}", parameters).fetchone()

    if measure == "mean":
        return _welch_t(query(before), query([after]))
    return _proportion_z(query(before), query([after]))


@pytest.mark.parametrize(("kind", "column", "measure", "direction"), SIGNATURES)
def test_cause_moves_its_signature_metric_inside_its_scope_and_not_outside(
    kind: str,
    column: str,
    measure: str,
    direction: int,
    small_scenario: ScenarioFactory,
    make_world: WorldFactory,
) -> None:
    scenario = _cause_scenario(small_scenario, kind)
    intervention = scenario.interventions[0]
    after, before = _after_and_before(scenario, intervention)
    scope_sql, scope_parameters = _scope_sql(intervention.scope)

    with open_warehouse(make_world(scenario)) as con:
        inside = _change_statistic(
            con, column, measure, (scope_sql, scope_parameters), after, before
        )
        outside = _change_statistic(
            con, column, measure, (f"NOT ({scope_sql})", scope_parameters), after, before
        )

    assert direction * inside > 4
    assert abs(outside) < 3


def test_eta_model_bias_leaves_delivery_duration_unchanged_inside_its_scope(
    small_scenario: ScenarioFactory, make_world: WorldFactory
) -> None:
    scenario = _cause_scenario(small_scenario, "eta_model_bias")
    intervention = scenario.interventions[0]
    after, before = _after_and_before(scenario, intervention)
    scope = _scope_sql(intervention.scope)

    with open_warehouse(make_world(scenario)) as con:
        duration = _change_statistic(con, "duration_min", "mean", scope, after, before)
        quoted = _change_statistic(con, "quoted_min", "mean", scope, after, before)

    assert abs(duration) < 3
    assert quoted < -4


def test_eta_model_bias_quotes_with_the_new_model_version_exactly_inside_its_scope(
    small_scenario: ScenarioFactory, make_world: WorldFactory
) -> None:
    scenario = _cause_scenario(small_scenario, "eta_model_bias")
    orders = _read(make_world(scenario), "orders")

    quoted_by_new_model = set(
        orders.loc[orders["eta_model_version"] == cfg.ETA_MODEL_NEXT_VERSION, "order_id"]
    )

    assert quoted_by_new_model == _orders_in_scope(orders, scenario.interventions[0])
    assert set(orders["eta_model_version"]) == {cfg.ETA_MODEL_VERSION, cfg.ETA_MODEL_NEXT_VERSION}


def test_dasher_shortage_cuts_online_dashers_only_inside_its_scope(
    small_scenario: ScenarioFactory, make_world: WorldFactory
) -> None:
    scenario = _cause_scenario(small_scenario, "dasher_shortage")
    intervention = scenario.interventions[0]
    after, before = _after_and_before(scenario, intervention)
    # Two weeks earlier: dashers are scheduled to forecast demand, and the week before the
    # shortage holds Christmas, whose low volume would look like a supply change.
    two_weeks_before = before[1]
    supply = _read(make_world(scenario), "dasher_supply")
    in_scope = _matches_scope(intervention.scope, supply["hour_start"], supply["region"])

    def online_ratio(rows: pd.Series) -> float:
        start = supply["hour_start"]
        in_after = rows & (start >= after[0]) & (start < after[1])
        in_before = rows & (start >= two_weeks_before[0]) & (start < two_weeks_before[1])
        return (
            supply.loc[in_after, "online_dashers"].sum()
            / supply.loc[in_before, "online_dashers"].sum()
        )

    kept = supply_factor(intervention.magnitude)
    assert online_ratio(in_scope) == pytest.approx(kept, rel=0.15)
    assert online_ratio(~in_scope) == pytest.approx(1.0, abs=0.05)


def test_inventory_drop_lowers_in_stock_estimates_only_inside_its_scope(
    small_scenario: ScenarioFactory, make_world: WorldFactory
) -> None:
    scenario = _cause_scenario(small_scenario, "inventory_drop")
    intervention = scenario.interventions[0]
    after, before = _after_and_before(scenario, intervention)
    world = make_world(scenario)
    checks = _read(world, "inventory_events").merge(_read(world, "stores"), on="store_id")
    when = checks["event_time"]
    in_scope = _matches_scope(intervention.scope, when, checks["region"], checks["category"])

    def estimates(rows: pd.Series, windows: list[Window]) -> np.ndarray:
        in_windows = np.zeros(len(checks), dtype=bool)
        for start, end in windows:
            in_windows |= (when >= start) & (when < end)
        return checks.loc[rows & in_windows, "in_stock_prob"].to_numpy()

    inside = _welch_t(estimates(in_scope, before), estimates(in_scope, [after]))
    outside = _welch_t(estimates(~in_scope, before), estimates(~in_scope, [after]))

    assert inside < -4
    assert abs(outside) < 3


def test_demand_surge_raises_order_volume_only_in_its_region_and_hours(
    small_scenario: ScenarioFactory, make_world: WorldFactory
) -> None:
    scenario = _cause_scenario(small_scenario, "demand_surge")
    intervention = scenario.interventions[0]
    after, before = _after_and_before(scenario, intervention)
    hours = intervention.scope.hours
    orders = _read(make_world(scenario), "orders")
    day = orders["order_time"].dt.normalize()

    def days_of(window: Window) -> pd.Series:
        # Whole days, so a region's own daily volume (its weather, holidays) cancels out.
        first = pd.Timestamp(window[0]).normalize()
        return (day >= first) & (day < pd.Timestamp(window[1]))

    def evening_share_z(region: str) -> float:
        """z of the change in the share of the region's daily orders placed in the surge hours."""
        of_region = orders["region"] == region
        in_hours = orders["order_time"].dt.hour.isin(hours)
        in_before = days_of(before[0]) | days_of(before[1])
        counts = [
            (int((of_region & in_hours & days).sum()), int((of_region & days).sum()))
            for days in (in_before, days_of(after))
        ]
        return _proportion_z(*counts)

    (surge_region,) = intervention.scope.region
    assert evening_share_z(surge_region) > 4
    for region in set(cfg.REGIONS) - {surge_region}:
        assert abs(evening_share_z(region)) < 3


# --- baseline levels ----------------------------------------------------------------------

BASELINES = [
    pytest.param("avg(on_time::INTEGER)", 0.88, 0.92, id="on_time_rate"),
    pytest.param("avg(canceled::INTEGER)", 0.01, 0.03, id="cancellation_rate"),
    pytest.param("avg(refunded::INTEGER)", 0.05, 0.08, id="refund_rate"),
    pytest.param("avg(support_contact::INTEGER)", 0.03, 0.06, id="support_rate"),
    pytest.param("avg(stars)", 4.4, 4.7, id="mean_stars"),
    pytest.param(
        "sum(item_lines - substituted_lines - missing_lines) FILTER (WHERE delivered) "
        "/ sum(item_lines) FILTER (WHERE delivered)",
        0.95,
        0.97,
        id="item_accuracy",
    ),
    pytest.param("avg(batched::INTEGER)", 0.15, 0.25, id="batched_share"),
    pytest.param("median(duration_min)", 35.0, 45.0, id="median_duration_min"),
]


@pytest.fixture(scope="module")
def null_warehouse(
    small_scenario: ScenarioFactory, make_world: WorldFactory
) -> Iterator[duckdb.DuckDBPyConnection]:
    world = make_world(small_scenario("null", orders_per_day=6000, days=14))
    with open_warehouse(world) as con:
        yield con


@pytest.mark.parametrize(("sql", "low", "high"), BASELINES)
def test_quiet_world_metric_sits_at_its_realistic_baseline(
    sql: str, low: float, high: float, null_warehouse: duckdb.DuckDBPyConnection
) -> None:
    level = null_warehouse.execute(f"SELECT {sql} FROM order_facts").fetchone()[0]

    assert low <= level <= high


def test_quiet_world_has_about_the_scenario_volume(
    null_warehouse: duckdb.DuckDBPyConnection,
) -> None:
    orders = null_warehouse.execute("SELECT count(*) FROM orders").fetchone()[0]

    assert orders == pytest.approx(6000 * 14, rel=0.05)


# --- the demo -----------------------------------------------------------------------------


def test_demo_daily_cx_on_jan_4_is_below_each_of_the_seven_days_before(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    daily = metric_frame(warehouse, grain="day").set_index("period")[CX_SCORE]
    incident_day = pd.Timestamp("2026-01-04")
    week_before = daily.loc[
        incident_day - pd.Timedelta(days=7) : incident_day - pd.Timedelta(days=1)
    ]

    assert len(week_before) == 7
    assert (daily.loc[incident_day] < week_before).all()


# --- atomic output ------------------------------------------------------------------------

TINY = Scenario.model_validate(
    {"name": "tiny", "seed": 1, "start": "2025-12-06", "days": 2, "orders_per_day": 200}
)


def _leftovers(parent: Path, name: str) -> list[str]:
    """Staging or retired copies of `name` left beside it."""
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


def test_generating_into_a_directory_that_is_not_a_world_raises_and_leaves_it_untouched(
    tmp_path: Path,
) -> None:
    out_dir = tmp_path / "notes"
    out_dir.mkdir()
    (out_dir / "todo.txt").write_text("keep me")

    with pytest.raises(WorldExistsError):
        generate_world(TINY, out_dir)

    assert [p.name for p in out_dir.iterdir()] == ["todo.txt"]
    assert (out_dir / "todo.txt").read_text() == "keep me"
    assert _leftovers(tmp_path, "notes") == []


def test_generating_onto_a_file_raises_and_leaves_it_untouched(tmp_path: Path) -> None:
    target = tmp_path / "world"
    target.write_text("not a directory")

    with pytest.raises(WorldExistsError):
        generate_world(TINY, target)

    assert target.read_text() == "not a directory"


def test_generating_into_an_empty_directory_fills_it(tmp_path: Path) -> None:
    out_dir = tmp_path / "world"
    out_dir.mkdir()

    generate_world(TINY, out_dir)

    assert (out_dir / MANIFEST_FILE).is_file()
    assert _leftovers(tmp_path, "world") == []


def test_a_failure_mid_generation_leaves_no_output_and_no_staging_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_build(world_dir: Path) -> Path:
        raise RuntimeError("disk full")

    monkeypatch.setattr(data.generator, "build_warehouse", broken_build)

    with pytest.raises(RuntimeError, match="disk full"):
        generate_world(TINY, tmp_path / "world")

    assert list(tmp_path.iterdir()) == []


def test_a_failure_while_regenerating_keeps_the_previous_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out_dir = tmp_path / "world"
    generate_world(TINY, out_dir)
    before = {p.name: p.read_bytes() for p in out_dir.iterdir()}

    def broken_build(world_dir: Path) -> Path:
        raise RuntimeError("disk full")

    monkeypatch.setattr(data.generator, "build_warehouse", broken_build)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_world(TINY.model_copy(update={"seed": 2}), out_dir)

    assert {p.name: p.read_bytes() for p in out_dir.iterdir()} == before
    assert _leftovers(tmp_path, "world") == []


def test_regenerating_into_an_existing_world_replaces_it(tmp_path: Path) -> None:
    out_dir = tmp_path / "world"
    generate_world(TINY, out_dir)
    (out_dir / "stale.txt").write_text("from the old world")

    generate_world(TINY.model_copy(update={"seed": 2}), out_dir)

    manifest = json.loads((out_dir / MANIFEST_FILE).read_text())
    assert manifest["scenario"]["seed"] == 2
    assert not (out_dir / "stale.txt").exists()
    assert _leftovers(tmp_path, "world") == []


def test_a_small_marketplaces_dasher_waits_saturate_instead_of_running_to_weeks(
    small_scenario: ScenarioFactory, make_world: WorldFactory
) -> None:
    """At 200 orders a day one dasher often faces several orders in an hour (load 2-3): the
    median wait for a dasher saturates at MAX_ASSIGN_MEDIAN_MIN, where 1 + 2 exp(6 (load - 1))
    minutes once gave waits of up to 1,089,889 minutes (a 63-day null world)."""
    world = make_world(small_scenario("null", orders_per_day=200, days=21))
    with open_warehouse(world) as con:
        longest, p99, crowded = con.execute(
            "SELECT max(dasher_wait_min), quantile_cont(dasher_wait_min, 0.99), "
            "count(*) FILTER (WHERE dasher_wait_min > 30) FROM order_facts"
        ).fetchone()
    assert crowded > 0  # the small marketplace does get crowded hours
    assert p99 < 2 * cfg.MAX_ASSIGN_MEDIAN_MIN
    assert longest < 6 * cfg.MAX_ASSIGN_MEDIAN_MIN
