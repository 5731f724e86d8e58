"""Custom dimensions (orders.dimensions in a mapping): validated when the mapping is read, typed
and binned when the warehouse is built, shown in the data-quality report, and usable in cohort
filters, comparisons, rankings, drill-downs, the slice search and the question reader."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import tools.catalog  # noqa: F401  (registers the tools)
from agent.parsing import read_question
from agent.service import Agent
from agent.settings import AgentSettings
from agent.vocabulary import Vocabulary, world_vocabulary
from analytics.cohorts import DIMENSIONS, CohortError, where_clause, world_dimensions
from analytics.comparisons import world_profile
from analytics.localization import slice_dimensions
from cxagent.web.workbench import DIMENSION_VALUES, Workbench
from data.append import append
from data.dimensions import BUILT_IN_NAMES, DECLARATIONS_TABLE, declared_dimensions
from data.dimensions import VALUES_TABLE as VALUES
from data.ingest import IngestError, ingest
from data.mapping import MappingError, load_mapping
from data.schema import TABLES
from data.warehouse import open_warehouse
from tools.base import ToolContext, ToolError

DIMENSION_EXPRESSIONS = {
    "weather": "nullif(replace(trim(weather), 'conditions ', ''), 'NaN')",
    "festival": "CASE trim(festival) WHEN 'Yes' THEN true WHEN 'No' THEN false END",
    "distance_km": "TRY_CAST(distance AS DOUBLE)",
    "multiple_deliveries": "TRY_CAST(nullif(trim(multiple), 'NaN') AS INTEGER)",
    "channel": "'app'",
}


def _export(folder: Path, orders: int = 3000, seed: int = 5, first_id: int = 0) -> Path:
    """A messy export: 'NaN ' strings, prefixes, trailing spaces; jams and storms are slower."""
    rng = np.random.default_rng(seed)
    start = dt.datetime(2026, 1, 1)
    weather = rng.choice(["Sunny", "Stormy", "Fog", "NaN"], size=orders, p=[0.5, 0.3, 0.18, 0.02])
    minutes = 20 + 8 * (weather == "Stormy") + rng.normal(0, 3, size=orders)
    created = [start + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 14 * 1440, orders)]
    frame = pd.DataFrame(
        {
            "id": [f"o{first_id + i} " for i in range(orders)],
            "created": [c.isoformat(sep=" ") for c in created],
            "city": rng.choice(["Urban ", "Metro "], size=orders),
            "weather": [f"conditions {w}" for w in weather],
            "festival": rng.choice(["Yes ", "No ", "NaN "], size=orders, p=[0.1, 0.88, 0.02]),
            "distance": rng.gamma(2.0, 3.0, size=orders).round(2),
            "multiple": rng.choice(["0", "1", "2", "NaN "], size=orders),
            "minutes": minutes.round(1),
        }
    )
    path = folder / f"orders_{seed}.csv"
    frame.to_csv(path, index=False)
    return path


def _mapping(
    root: Path, source: Path, dimensions: dict[str, Any] | None = None, **orders_extra: Any
) -> Path:
    orders = {
        "source": str(source),
        "read_options": {"all_varchar": True},
        "columns": {
            "order_id": "trim(id)",
            "region": "trim(city)",
            "order_time": "CAST(created AS TIMESTAMP)",
        },
        "dimensions": DIMENSION_EXPRESSIONS if dimensions is None else dimensions,
        **orders_extra,
    }
    deliveries = {
        "source": str(source),
        "read_options": {"all_varchar": True},
        "columns": {
            "order_id": "trim(id)",
            "actual_eta": "CAST(created AS TIMESTAMP) + to_seconds(CAST(minutes AS DOUBLE) * 60)",
        },
    }
    path = root / f"mapping_{source.stem}.yaml"
    mapping = {"local_timezone": "UTC", "tables": {"orders": orders, "deliveries": deliveries}}
    path.write_text(yaml.safe_dump(mapping))
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("custom")
    ingest(_mapping(root, _export(root)), root / "world")
    return root / "world"


def test_dimensions_are_typed_binned_and_declared_in_the_warehouse(world: Path) -> None:
    con = open_warehouse(world)
    declared = {d.name: d for d in declared_dimensions(con)}
    assert {name: d.kind for name, d in declared.items()} == {
        "weather": "categorical",
        "festival": "boolean",
        "distance_km": "numeric",
        "multiple_deliveries": "categorical",
        "channel": "categorical",
    }
    assert declared["weather"].labels == ["Fog", "Stormy", "Sunny"]  # 'NaN' is NULL
    assert declared["festival"].labels == ["no", "yes"]
    assert declared["multiple_deliveries"].labels == ["0", "1", "2"]
    distance = declared["distance_km"]
    assert len(distance.edges) == 3 and distance.edges == sorted(distance.edges)
    assert distance.labels[0] == f"<{distance.edges[0]:g}"
    assert distance.labels[-1] == f">={distance.edges[-1]:g}"
    assert declared["weather"].expression == DIMENSION_EXPRESSIONS["weather"]
    # Each bin holds [lower, upper): the labels match the raw values.
    low, high = con.execute(
        "SELECT max(v.distance_km) FILTER (WHERE f.distance_km = ?), "
        "min(v.distance_km) FILTER (WHERE f.distance_km = ?) "
        "FROM order_facts f JOIN order_dimensions v USING (order_id)",
        [distance.labels[0], distance.labels[1]],
    ).fetchone()
    assert low < distance.edges[0] <= high


def test_quality_report_shows_nulls_distinct_values_and_flags_constant_dimensions(
    world: Path,
) -> None:
    from data.quality import load_report

    report = load_report(world)
    assert report is not None
    dimensions = {d.name: d for d in report.dimensions}
    assert dimensions["weather"].distinct == 3
    assert 0 < dimensions["weather"].null_rate < 0.05
    assert dimensions["distance_km"].edges
    assert "custom dimensions:" in report.render()
    constant = [f for f in report.findings if f.check == "constant_dimension_channel"]
    assert constant and "channel holds one value ('app')" in constant[0].message


def test_custom_dimensions_rank_compare_and_drill_down(world: Path) -> None:
    context = ToolContext(world_dir=world)
    ranked, _ = context.call(
        "rank_cohorts", {"dimension": "weather", "metric": "duration_min", "order": "worst"}
    )
    assert [row.group for row in ranked.rows][0] == "Stormy"
    con = open_warehouse(world)
    counts = dict(
        con.execute(
            "SELECT weather, count(*) FROM order_facts WHERE weather IS NOT NULL GROUP BY 1"
        ).fetchall()
    )
    assert {row.group: row.orders for row in ranked.rows} == counts
    window = {"start": dt.datetime(2026, 1, 1), "end": dt.datetime(2026, 1, 20)}
    compared, _ = context.call(
        "compare_metric",
        {
            "metric": "duration_min",
            "sides": [
                {"label": "sunny", "filters": {"weather": ["Sunny"]}, **window},
                {"label": "stormy", "filters": {"weather": ["Stormy"]}, **window},
            ],
        },
    )
    assert compared.difference == pytest.approx(8, abs=0.6)
    drilled, _ = context.call(
        "rank_cohorts",
        {"dimension": "festival", "metric": "duration_min", "filters": {"weather": ["Stormy"]}},
    )
    assert {row.group for row in drilled.rows} == {"yes", "no"}
    binned, _ = context.call(
        "rank_cohorts",
        {"dimension": "multiple_deliveries", "metric": "orders", "filters": {"festival": ["no"]}},
    )
    assert {row.group for row in binned.rows} == {"0", "1", "2"}
    with pytest.raises(ToolError, match="unknown dimension 'traffic'.*weather"):
        context.call("rank_cohorts", {"dimension": "traffic", "metric": "duration_min"})
    world_output, _ = context.call("describe_world", {})
    weather = next(d for d in world_output.custom_dimensions if d.name == "weather")
    assert (weather.kind, weather.labels) == ("categorical", ["Fog", "Stormy", "Sunny"])


def test_world_dimensions_resolve_filters_and_slices(world: Path) -> None:
    con = open_warehouse(world)
    dimensions = world_dimensions(con)
    assert dimensions.names[: len(DIMENSIONS)] == tuple(DIMENSIONS)
    where, parameters = where_clause({"multiple_deliveries": [2], "region": ["Urban"]}, dimensions)
    assert parameters == ["2", "Urban"]  # a custom dimension's groups are text
    assert con.execute(f"SELECT count(*) FROM order_facts WHERE {where}", parameters).fetchone()[0]
    with pytest.raises(CohortError, match="unknown dimension 'weather'"):
        where_clause({"weather": ["Sunny"]})  # built-in dimensions only
    custom = ("festival", "multiple_deliveries", "weather", "distance_km")  # fewest groups first
    assert slice_dimensions(con)[-4:] == custom


def test_synthetic_worlds_have_no_custom_dimensions(make_world, small_scenario) -> None:
    con = open_warehouse(make_world(small_scenario("demo")))
    assert world_dimensions(con).custom == ()
    assert not con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
        [DECLARATIONS_TABLE],
    ).fetchone()[0]


def test_the_reader_reaches_custom_dimensions(world: Path) -> None:
    vocabulary = world_vocabulary(world_profile(open_warehouse(world)))
    first, last = dt.date(2026, 1, 1), dt.date(2026, 1, 14)
    by = read_question("delivery time by weather", first, last, vocabulary=vocabulary)
    assert (by.kind, by.dimension, by.metric) == ("rank", "weather", "duration_min")
    compare = read_question("compare stormy vs sunny", first, last, vocabulary=vocabulary)
    assert compare.kind == "compare"
    assert [side.filters for side in compare.sides] == [
        {"weather": ["Stormy"]},
        {"weather": ["Sunny"]},
    ]
    drill = read_question(
        "which multiple deliveries groups are slowest during festival yes?",
        first,
        last,
        vocabulary=vocabulary,
    )
    assert (drill.kind, drill.dimension, drill.filters) == (
        "rank",
        "multiple_deliveries",
        {"festival": ["yes"]},
    )
    festival = read_question(
        "delivery time by weather during the festival", first, last, vocabulary=vocabulary
    )
    assert (festival.kind, festival.dimension, festival.filters) == (
        "rank",
        "weather",
        {"festival": ["yes"]},
    )
    outside = read_question(
        "compare delivery time without the festival vs on festival days",
        first,
        last,
        vocabulary=vocabulary,
    )
    assert [side.filters for side in outside.sides] == [{"festival": ["no"]}, {"festival": ["yes"]}]
    plain = read_question("delivery time by weather", first, last, vocabulary=Vocabulary())
    assert plain.dimension != "weather"  # a synthetic world knows no weather


def test_a_trend_filtered_by_a_custom_dimension(world: Path) -> None:
    context = ToolContext(world_dir=world)
    stormy, _ = context.call(
        "cx_timeseries",
        {"grain": "day", "filters": {"weather": ["Stormy"]}, "metrics": ["duration_min"]},
    )
    everyone, _ = context.call("cx_timeseries", {"grain": "day", "metrics": ["duration_min"]})
    assert len(stormy.rows) == 14
    assert sum(r["orders"] for r in stormy.rows) < sum(r["orders"] for r in everyone.rows)
    # Stormy orders were drawn 8 minutes slower
    slower = stormy.overall["duration_min"].overall - everyone.overall["duration_min"].overall
    assert slower > 4


def test_the_workbench_breaks_down_and_maps_by_custom_dimensions(world: Path) -> None:
    workbench = Workbench(world)
    try:
        dimensions = workbench.dimensions()
        pairs = workbench.heatmap_pairs()
        # ~200 orders a day: the workbench detects at the grain the chat and the watcher use
        detection = workbench.overview().detection
        groups = workbench.dimension_values("weather")
        stormy = workbench.series(
            ["duration_min"],
            {"weather": ["Stormy"]},
            dt.datetime(2026, 1, 1),
            dt.datetime(2026, 1, 15),
        )
    finally:
        workbench.close()
    assert detection.grain == "day", detection.grain_reason
    assert dimensions[: len(DIMENSION_VALUES)] == tuple(DIMENSION_VALUES)
    assert {"weather", "festival", "distance_km"} <= set(dimensions)
    assert pairs["weather x hour"] == ("weather", "hour")
    assert pairs["weather x region"] == ("weather", "region")
    assert set(groups) == {"Sunny", "Stormy", "Fog"}
    assert 20 < stormy["duration_min"].mean() < 40  # stormy orders were drawn ~28 minutes


def test_the_agent_answers_questions_naming_custom_dimensions(world: Path) -> None:
    # The chat graph's reader reads the world's vocabulary, custom dimensions included.
    agent = Agent(world, AgentSettings(llm="offline"))
    try:
        compared = agent.ask("compare delivery time stormy vs sunny in the last 14 days")
        ranked = agent.ask("delivery time by weather over the last 14 days")
        first_days = agent.ask("what was the average delivery time from Jan 1 to Jan 7?")
    finally:
        agent.close()
    # The window starts with the data: nothing before it to compare with, said so (no 'n/a').
    assert "with no orders in the 14 days before to compare with" in first_days["answer"]
    assert "n/a" not in first_days["answer"]
    assert compared["kind"] == "compare", compared["answer"]
    assert "weather=Stormy" in compared["answer"] and "weather=Sunny" in compared["answer"]
    assert ranked["kind"] == "rank" and ranked["table"], ranked["answer"]
    assert [row["weather"] for row in ranked["table"]] == ["Stormy", "Fog", "Sunny"]
    for result in (compared, ranked):
        assert result["grounding"]["ok"], result["grounding"]


def _identity_mapping(world: Path, dimensions: dict[str, str], out: Path) -> Path:
    """A mapping that reads a generated world's own tables back, with custom dimensions."""
    tables: dict[str, Any] = {}
    for name, table in TABLES.items():
        source = world / f"{name}.parquet"
        if name == "order_facts" or not source.exists():
            continue
        present = set(pd.read_parquet(source).columns)
        columns = {c.name: c.name for c in table.columns if c.name in present}
        tables[name] = {"source": str(source), "columns": columns}
    tables["orders"]["dimensions"] = dimensions
    mapping = {"source_timezone": "UTC", "local_timezone": "UTC", "tables": tables}
    out.write_text(yaml.safe_dump(mapping))
    return out


def test_a_diagnosis_whose_top_slice_holds_a_custom_dimension(
    make_world: Any, small_scenario: Any, tmp_path: Path
) -> None:
    # The slice search may pick a custom dimension; every later step (changes, drivers,
    # attribution, what-if, the experiment plan) must filter by it too. The demo's incident is
    # grocery at dinner, which this dimension names exactly.
    zone = "CASE WHEN category = 'grocery' AND hour(order_time) BETWEEN 17 AND 21 THEN 'dinner' END"
    mapping = _identity_mapping(
        make_world(small_scenario("demo")),
        {"zone": f"coalesce({zone}, 'rest')"},
        tmp_path / "m.yaml",
    )
    world = ingest(mapping, tmp_path / "world").out_dir
    agent = Agent(world, AgentSettings(llm="offline"))
    try:
        result = agent.ask("why did CX drop on Jan 4?")
    finally:
        agent.close()
    assert "zone=dinner" in result["answer"], result["answer"]
    assert result["grounding"]["ok"], result["grounding"]
    assert "The experiment plan to test it is attached" in result["answer"]
    assert not [note for note in result["notes"] if "unknown dimension" in note], result["notes"]


def test_append_adds_the_new_orders_dimension_values_with_the_worlds_bins(
    tmp_path: Path,
) -> None:
    ingest(_mapping(tmp_path, _export(tmp_path, orders=600, seed=1)), tmp_path / "w")
    edges = declared_dimensions(open_warehouse(tmp_path / "w"))[2].edges
    more = _export(tmp_path, orders=200, seed=2, first_id=10_000)
    result = append(_mapping(tmp_path, more), tmp_path / "w")
    assert result.added["orders"] == 200 and result.added["order_dimensions"] == 200
    con = open_warehouse(tmp_path / "w")
    assert declared_dimensions(con)[2].edges == edges
    unlabelled = con.execute(
        "SELECT count(*) FROM order_facts WHERE weather IS NULL AND order_id >= 'o10000' "
        "AND order_id IN (SELECT order_id FROM order_dimensions WHERE weather IS NOT NULL)"
    ).fetchone()[0]
    assert unlabelled == 0
    nulls = "SELECT count(*) FROM {} WHERE distance_km IS NULL"
    facts, values = (con.execute(nulls.format(t)).fetchone()[0] for t in ("order_facts", VALUES))
    assert facts == values


@pytest.mark.parametrize(
    ("dimensions", "message"),
    [
        ({"region": "trim(city)"}, "tables.orders.dimensions: 'region' is a built-in dimension"),
        ({"Weather!": "weather"}, "'Weather!' is not a dimension name"),
        ({"duration_min": "minutes"}, "'duration_min' is an order_facts column"),
        ({"select": "weather"}, "'select' is an SQL keyword"),
        ({"weather": "(SELECT 1)"}, "tables.orders.dimensions.weather: must be one SQL"),
        ({"weather": "read_csv('x')"}, "read_csv(), which reads files"),
    ],
)
def test_malformed_dimension_declarations_are_refused_when_read(
    tmp_path: Path, dimensions: dict[str, str], message: str
) -> None:
    path = _mapping(tmp_path, tmp_path / "orders.csv", dimensions)
    with pytest.raises(MappingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_mapping(path)


def test_dimensions_on_another_table_are_refused(tmp_path: Path) -> None:
    path = _mapping(tmp_path, tmp_path / "orders.csv", {})
    raw = yaml.safe_load(path.read_text())
    raw["tables"]["deliveries"]["dimensions"] = {"weather": "weather"}
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(MappingError, match="tables.deliveries: dimensions are declared on orders"):
        load_mapping(path)


def test_a_dimension_over_a_missing_column_or_of_a_list_type_names_it(tmp_path: Path) -> None:
    source = _export(tmp_path, orders=50)
    path = _mapping(tmp_path, source, {"traffic": "trim(Road_traffic)", "tags": "['a', weather]"})
    with pytest.raises(IngestError) as failure:
        ingest(path, tmp_path / "w")
    problems = {problem.column: problem.problem for problem in failure.value.problems}
    assert "column 'Road_traffic' is not in the file" in problems["orders.dimensions.traffic"]
    assert "VARCHAR[] values; a dimension must be text" in problems["orders.dimensions.tags"]
    assert not (tmp_path / "w").exists()


def test_built_in_names_cover_the_cohort_dimensions_and_aliases() -> None:
    from analytics.cohorts import _ALIASES

    assert set(DIMENSIONS) | set(_ALIASES) == BUILT_IN_NAMES
