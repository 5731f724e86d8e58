"""Property-based ingest of the real samples (hypothesis): random but valid mappings of the
DoorDash 2015 sample and the India food-delivery sample (columns renamed, CSV/TSV/gzip/Parquet,
timestamps written in other zones and formats, optional tables and columns dropped, constant
and all-null columns, junk rows filtered by `where`) ingest with the expected rows and local
times and answer "why did delivery times get worse?" grounded, with no None or NaN; invalid
ones fail with a MappingError or IngestError naming the file, the column and the problem, and
leave nothing behind.

The samples are read in place (never copied into the repository); each drawn case writes its
variant of a slice of a sample to a temporary directory. `make test` draws a few dozen cases
from slices; benchmarks/ingest_properties.py draws hundreds from the whole files.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import gzip
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from agent.service import Agent
from agent.settings import AgentSettings
from data.ingest import IngestError, ingest
from data.mapping import MappingError, load_mapping

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_MAPPING = REPO / "examples" / "doordash_2015" / "mapping.yaml"
QUESTION = "why did delivery times get worse?"
# The slices `make test` draws from: the DoorDash one keeps the Super Bowl incident (and the
# incident path of the agent) while its eight largest cuisines keep detection quick.
SLICES = {
    "doordash": ("store_primary_category IN ('american', 'pizza', 'mexican', 'burger', "
                 "'sandwich', 'chinese', 'japanese', 'dessert')", 8_000),
    "india": ("TRUE", 4_000),
}  # fmt: skip
BROKEN_SLICE_ROWS = 1_000  # a broken mapping fails before the data matters
VALID_EXAMPLES = 10
BROKEN_EXAMPLES_EACH = 2  # per breakage
SEED = 17  # the same cases on every run (derandomize would draw mostly the simplest ones)
# Zones with whole, half and quarter hour offsets on both sides of UTC; none changes its offset
# between 2015-01-21 and 2015-02-18 or between 2022-02-11 and 2022-04-06.
ZONES = (
    "UTC", "America/Los_Angeles", "America/New_York", "America/St_Johns", "Asia/Kolkata",
    "Asia/Kathmandu", "Asia/Tokyo", "Australia/Adelaide", "Pacific/Chatham",
    "Pacific/Kiritimati", "Pacific/Pago_Pago",
)  # fmt: skip
# Hypothesis keeps caches in its home directory (./.hypothesis by default), written as soon as
# its tests are collected, before any fixture runs: keep them out of the repository.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "cx-agent-hypothesis")
MISSING = re.compile(r"\b(None|NaN|nan|inf|-inf|Infinity)\b")


def real_samples() -> dict[str, Path]:
    """The real samples, where the example mapping finds them (CXAGENT_DOORDASH_CSV or
    ../shared/data/real/ beside the checkout)."""
    doordash = load_mapping(EXAMPLE_MAPPING).source_path("orders")
    return {"doordash": doordash, "india": doordash.parent / "food_delivery_india" / "train.csv"}


# --- drawing a case ------------------------------------------------------------------------


@dataclass
class Layout:
    """How a case writes its variant of a sample: names, file format, clock and junk rows."""

    names: dict[str, str]  # the sample's column -> the name in the written file
    file_format: str  # csv | tsv | semicolon | gzip | parquet
    clock: str  # how the DoorDash times are written: naive | offset | epoch | text | split
    source_zone: str  # the zone the times are written in
    junk: tuple[str, ...]  # junk rows appended: blank | header | test | footer
    textual: bool  # every column read as text (all_varchar)

    @property
    def file_name(self) -> str:
        suffix = {"csv": "csv", "tsv": "tsv", "semicolon": "csv", "gzip": "csv.gz"}
        return f"export.{suffix.get(self.file_format, 'parquet')}"

    def read_options(self) -> dict[str, Any]:
        """The read_csv options a careful user gives for this file."""
        if self.file_format == "parquet":
            return {}
        options: dict[str, Any] = {}
        if self.file_format == "tsv":
            options["delim"] = "\t"
        if self.file_format == "semicolon":
            options["delim"] = ";"
        if self.textual:
            options["all_varchar"] = True
        if "footer" in self.junk:
            options["null_padding"] = True
        return options

    def col(self, name: str) -> str:
        """The written column, quoted as an identifier."""
        return '"' + self.names[name].replace('"', '""') + '"'


@dataclass
class Case:
    """A drawn mapping of a sample and what an ingest through it must give."""

    sample: str
    layout: Layout
    local_zone: str
    tables: dict[str, dict[str, Any]]  # the mapping's tables (sources are file names)
    expected_rows: str  # SQL over `base` (the sample's rows): the orders that must be ingested
    extra_files: dict[str, str] = field(default_factory=dict)  # file name -> SQL over `base`
    mutation: str | None = None  # for an invalid case: what was broken

    def mapping(self) -> dict[str, Any]:
        """The mapping file's content (a copy: a breakage edits it, not the case)."""
        return copy.deepcopy(
            {
                "source_timezone": self.layout.source_zone,
                "local_timezone": self.local_zone,
                "tables": self.tables,
            }
        )

    def describe(self) -> str:
        """One line saying what the case is, for reports."""
        layout = self.layout
        kept = {t: sorted(spec["columns"]) for t, spec in self.tables.items()}
        return (
            f"{self.sample} {layout.file_format} clock={layout.clock} zone={layout.source_zone}"
            f"->{self.local_zone} junk={list(layout.junk)} textual={layout.textual} "
            f"renamed={sum(k != v for k, v in layout.names.items())} tables={kept}"
            + (f" mutation={self.mutation}" if self.mutation else "")
        )


DOORDASH_COLUMNS = (
    "column00", "market_id", "created_at", "actual_delivery_time", "store_id",
    "store_primary_category", "order_protocol", "total_items", "subtotal", "num_distinct_items",
    "min_item_price", "max_item_price", "total_onshift_dashers", "total_busy_dashers",
    "total_outstanding_orders", "estimated_order_place_duration",
    "estimated_store_to_consumer_driving_duration", "created_hours", "delivery_time",
)  # fmt: skip
INDIA_COLUMNS = (
    "ID", "Delivery_person_ID", "Delivery_person_Age", "Delivery_person_Ratings",
    "Restaurant_latitude", "Restaurant_longitude", "Delivery_location_latitude",
    "Delivery_location_longitude", "Order_Date", "Time_Orderd", "Time_Order_picked",
    "Weatherconditions", "Road_traffic_density", "Vehicle_condition", "Type_of_order",
    "Type_of_vehicle", "multiple_deliveries", "Festival", "City", "Time_taken(min)",
)  # fmt: skip
ESTIMATES = ("estimated_order_place_duration", "estimated_store_to_consumer_driving_duration")
# Names a user's export may carry, SQL keywords among them (they must be quoted).
KEYWORD_NAMES = ("order", "time", "date", "group", "select", "from", "Order ID", "Created At")
STYLES: dict[str, Callable[[str], str]] = {
    "same": lambda name: name,
    "upper": str.upper,
    "spaced": lambda name: name.replace("_", " ").title(),
    "prefixed": lambda name: f"src_{name}",
    "suffixed": lambda name: f"{name} (raw)",
}


@st.composite
def layouts(draw: st.DrawFn, sample: str) -> Layout:
    """Names, format, clock, zone and junk rows of a written variant of `sample`."""
    columns = DOORDASH_COLUMNS if sample == "doordash" else INDIA_COLUMNS
    style = STYLES[draw(st.sampled_from(sorted(STYLES)))]
    names = {column: style(column) for column in columns}
    for column in draw(st.sets(st.sampled_from(columns), max_size=3)):
        names[column] = draw(st.sampled_from(KEYWORD_NAMES))
    if len({name.lower() for name in names.values()}) < len(names):  # DuckDB ignores case
        names = {column: style(column) for column in columns}
    file_format = draw(st.sampled_from(("csv", "tsv", "semicolon", "gzip", "parquet")))
    junk = tuple(draw(st.sets(st.sampled_from(("blank", "header", "test", "footer")))))
    if file_format == "parquet":
        junk = tuple(kind for kind in junk if kind != "footer")
    if sample == "india":
        return Layout(names, file_format, "india", "Asia/Kolkata", junk, textual=True)
    clock = draw(st.sampled_from(("naive", "offset", "epoch", "text", "split")))
    textual = bool(junk) or clock == "text" or draw(st.booleans())
    return Layout(names, file_format, clock, draw(st.sampled_from(ZONES)), junk, textual)


def _typed(layout: Layout, column: str, sql_type: str) -> str:
    """A written column as a value of `sql_type` (TRY_CAST when the file is read as text)."""
    return f"TRY_CAST({layout.col(column)} AS {sql_type})" if layout.textual else layout.col(column)


def _doordash_time(layout: Layout, column: str) -> str:
    """The mapping expression of a DoorDash time column as the layout writes it."""
    if layout.clock == "split":
        date, time = layout.col(f"{column}:date"), layout.col(f"{column}:time")
        return f"TRY_CAST({date} AS DATE) + TRY_CAST({time} AS TIME)"
    if layout.clock == "epoch":
        return f"to_timestamp({_typed(layout, column, 'BIGINT')})"
    if layout.clock == "text":
        return f"try_strptime({layout.col(column)}, '%d/%m/%Y %H:%M:%S')"
    sql_type = "TIMESTAMPTZ" if layout.clock == "offset" else "TIMESTAMP"
    return _typed(layout, column, sql_type)


@st.composite
def doordash_cases(draw: st.DrawFn) -> Case:
    """A valid mapping of the DoorDash sample."""
    layout = draw(layouts("doordash"))
    if layout.clock == "split":
        for column in ("created_at", "actual_delivery_time"):
            layout.names[f"{column}:date"] = f"{layout.names[column]} date"
            layout.names[f"{column}:time"] = f"{layout.names[column]} time"
    number = functools.partial(_typed, layout)
    order_id = draw(st.sampled_from(("CAST({} AS VARCHAR)", "'dd-' || CAST({} AS BIGINT)")))
    order_id = order_id.format(number("column00", "BIGINT"))
    order_time = _doordash_time(layout, "created_at")
    market = f"CAST(CAST({number('market_id', 'DOUBLE')} AS INTEGER) AS VARCHAR)"
    store_prefix = draw(st.sampled_from(("", "store ")))
    store = f"'{store_prefix}' || CAST({number('store_id', 'BIGINT')} AS VARCHAR)"
    category = layout.col("store_primary_category")
    # A quote the sample does not hold: the model's place and drive estimates plus some slack.
    quoted_seconds = " + ".join(
        [f"coalesce({number(column, 'DOUBLE')}, 0)" for column in ESTIMATES]
        + [str(draw(st.integers(0, 2400)))]
    )
    optional_orders = {
        "store_id": (store, "'the one store'"),
        "region": (f"'market ' || {market}", f"coalesce('market ' || {market}, 'unknown')",
                   "'everywhere'"),
        "category": (category, f"coalesce({category}, 'unknown')", f"upper({category})",
                     "'food'"),
        "basket_value": (f"{number('subtotal', 'DOUBLE')} / 100.0", "0", "NULL"),
        "promised_eta": (f"({order_time}) + to_seconds({quoted_seconds})",),
    }  # fmt: skip
    optional_deliveries = {
        "actual_eta": (_doordash_time(layout, "actual_delivery_time"),),
        "canceled_flag": ("false", f"({_doordash_time(layout, 'actual_delivery_time')}) IS NULL"),
        "batched_flag": ("false",),
        "onshift_dashers": (number("total_onshift_dashers", "DOUBLE"), "0"),
        "busy_dashers": (number("total_busy_dashers", "DOUBLE"),),
        "outstanding_orders": (number("total_outstanding_orders", "DOUBLE"), "NULL"),
    }
    orders = {"order_id": order_id, "order_time": order_time}
    orders |= _draw_optional(draw, optional_orders, keep=0.6)
    deliveries = {"order_id": order_id} | _draw_optional(draw, optional_deliveries, keep=0.8)
    where = f"TRY_CAST({layout.col('column00')} AS BIGINT) IS NOT NULL" if layout.junk else None
    tables = {
        "orders": _table(layout, orders, where),
        "deliveries": _table(layout, deliveries, where),
    }
    extra: dict[str, str] = {}
    if "store_id" in orders and orders["store_id"] == store and draw(st.booleans()):
        extra["stores.csv"] = (
            "SELECT store_id AS store, any_value(market_id) AS market_id, "
            "any_value(store_primary_category) AS cuisine FROM base GROUP BY store_id"
        )
        stores_market = "CAST(CAST(market_id AS DOUBLE) AS INTEGER)"
        tables["stores"] = {
            "source": "stores.csv",
            "columns": {
                "store_id": f"'{store_prefix}' || CAST(store AS VARCHAR)",
                "region": f"'market ' || CAST({stores_market} AS VARCHAR)",
                "category": "cuisine",
                "name": "'Store #' || CAST(store AS VARCHAR)",
            },
        }
    if orders.get("region") == f"'market ' || {market}" and draw(st.booleans()):
        extra["supply.csv"] = (  # per market and UTC hour, like a supply log
            "SELECT market_id AS market, date_trunc('hour', CAST(created_at AS TIMESTAMP)) AS hour,"
            " round(avg(CAST(total_onshift_dashers AS DOUBLE))) AS online, count(*) AS placed "
            "FROM base WHERE market_id IS NOT NULL AND total_onshift_dashers IS NOT NULL "
            "GROUP BY ALL"
        )
        tables["dasher_supply"] = {
            "source": "supply.csv",
            "source_timezone": "UTC",
            "columns": {
                "region": "'market ' || CAST(CAST(market AS INTEGER) AS VARCHAR)",
                "hour_start": "hour",
                "online_dashers": "online",
                "open_orders": "placed",
            },
        }
    local_zone = draw(st.sampled_from(ZONES))
    return Case("doordash", layout, local_zone, tables, "SELECT count(*) FROM base", extra)


def _draw_optional(
    draw: st.DrawFn, choices: dict[str, tuple[str, ...]], keep: float
) -> dict[str, str]:
    """Each optional column kept (with one of its expressions) or left out."""
    kept: dict[str, str] = {}
    for column, expressions in choices.items():
        if draw(st.floats(0, 1)) < keep:
            kept[column] = draw(st.sampled_from(expressions))
    return kept


def _table(layout: Layout, columns: dict[str, str], where: str | None) -> dict[str, Any]:
    table: dict[str, Any] = {"source": layout.file_name, "columns": columns}
    if where:
        table["where"] = where
    if layout.read_options():
        table["read_options"] = layout.read_options()
    return table


@st.composite
def india_cases(draw: st.DrawFn) -> Case:
    """A valid mapping of the India sample (read as text: its missing values are 'NaN ')."""
    layout = draw(layouts("india"))
    col = layout.col
    order_id = draw(st.sampled_from((f"trim({col('ID')})", col("ID"))))
    day = f"CAST(strptime(trim({col('Order_Date')}), '%d-%m-%Y') AS DATE)"
    ordered = f"TRY_CAST(trim({col('Time_Orderd')}) AS TIME)"
    picked = f"TRY_CAST(trim({col('Time_Order_picked')}) AS TIME)"
    fill_missing_times = draw(st.booleans())
    if fill_missing_times:  # no order time: ten minutes before pickup (the median interval)
        order_time = f"{day} + coalesce({ordered}, {picked} - INTERVAL 10 MINUTE)"
    else:
        order_time = f"{day} + {ordered}"
    minutes = f"CAST(replace({col('Time_taken(min)')}, '(min) ', '') AS BIGINT)"
    city = f"nullif(trim({col('City')}), 'NaN')"
    kind = f"trim({col('Type_of_order')})"
    latitude = f"TRY_CAST({col('Restaurant_latitude')} AS DOUBLE)"
    longitude = f"TRY_CAST({col('Restaurant_longitude')} AS DOUBLE)"
    multiple = f"TRY_CAST(nullif(trim({col('multiple_deliveries')}), 'NaN') AS INTEGER)"
    optional_orders = {
        "store_id": (f"printf('%.4f,%.4f', {latitude}, {longitude})", "'one kitchen'"),
        "region": (city, f"coalesce({city}, 'unknown')", "'india'"),
        "category": (kind, "'food'"),
    }
    optional_deliveries = {
        "actual_eta": (f"({order_time}) + to_minutes({minutes})",),
        "batched_flag": (f"{multiple} > 1", "false"),
        "canceled_flag": ("false",),
    }
    orders = {"order_id": order_id, "order_time": order_time}
    orders |= _draw_optional(draw, optional_orders, keep=0.6)
    deliveries = {"order_id": order_id} | _draw_optional(draw, optional_deliveries, keep=0.85)
    conditions = [] if fill_missing_times else [f"trim({col('Time_Orderd')}) <> 'NaN'"]
    if layout.junk:
        conditions.append(f"starts_with(trim({col('ID')}), '0x')")
    where = " AND ".join(conditions) or None
    tables = {
        "orders": _table(layout, orders, where),
        "deliveries": _table(layout, deliveries, where),
    }
    expected = "SELECT count(*) FROM base" + (
        "" if fill_missing_times else " WHERE trim(Time_Orderd) <> 'NaN'"
    )
    return Case("india", layout, draw(st.sampled_from(ZONES)), tables, expected)


def valid_cases() -> st.SearchStrategy[Case]:
    return st.one_of(doordash_cases(), india_cases())


# --- invalid mappings ----------------------------------------------------------------------


@dataclass(frozen=True)
class Breakage:
    """A way to break a valid mapping, and what the error must then say."""

    error: type[Exception]
    column: str  # the entry the message must name
    problems: tuple[str, ...]  # phrases of the problem, one of which it must state
    applies: Callable[[Case], bool]
    apply: Callable[[Case, dict[str, Any]], None]


def _set(table: str, column: str, value: str) -> Callable[[Case, dict[str, Any]], None]:
    def edit(_case: Case, mapping: dict[str, Any]) -> None:
        mapping["tables"][table]["columns"][column] = value

    return edit


def _typo(case: Case) -> str:
    """A source column the written file does not have: a misspelt name."""
    key = "created_at" if case.sample == "doordash" else "Time_Orderd"
    return f'"{key}_typo"'


def _numeric(case: Case) -> str:
    return case.layout.col("total_items" if case.sample == "doordash" else "Vehicle_condition")


def _text(case: Case) -> str:
    return case.layout.col("store_primary_category" if case.sample == "doordash" else "City")


def _repeated(case: Case) -> str:
    return case.layout.col("store_id" if case.sample == "doordash" else "Type_of_order")


def _drop_where(_case: Case, mapping: dict[str, Any]) -> None:
    for table in ("orders", "deliveries"):
        mapping["tables"][table].pop("where", None)


def _wrong_delimiter(_case: Case, mapping: dict[str, Any]) -> None:
    for table in ("orders", "deliveries"):
        mapping["tables"][table].setdefault("read_options", {})["delim"] = "|"


def _always(_case: Case) -> bool:
    return True


def _dangling(case: Case, mapping: dict[str, Any]) -> None:
    expression = case.tables["orders"]["columns"]["order_time"]
    mapping["tables"]["orders"]["columns"]["order_time"] = f"{expression} +"


NO_VALUE = ("rows have no value", "fails on the data")  # null, or a strict parse of junk
BREAKAGES: dict[str, Breakage] = {
    "column not in the file": Breakage(
        IngestError, "orders.order_time", ("is not in the file",), _always,
        lambda case, m: _set("orders", "order_time", _typo(case))(case, m),
    ),
    "unknown time zone": Breakage(
        MappingError, "local_timezone", ("unknown time zone",), _always,
        lambda _case, m: m.update(local_timezone="Mars/Olympus_Mons"),
    ),
    "unknown table time zone": Breakage(
        MappingError, "tables.deliveries.source_timezone", ("unknown time zone",), _always,
        lambda _case, m: m["tables"]["deliveries"].update(source_timezone="Mars/Base"),
    ),
    "junk rows kept": Breakage(
        IngestError, "orders.order_", NO_VALUE, lambda case: bool(case.layout.junk), _drop_where,
    ),
    "missing order times kept": Breakage(
        IngestError, "orders.order_time", NO_VALUE,
        lambda case: "NaN" in str(case.tables["orders"].get("where")), _drop_where,
    ),
    "a number as the order time": Breakage(
        IngestError, "orders.order_time", ("is a number", "unparseable timestamps"), _always,
        lambda case, m: _set("orders", "order_time", _numeric(case))(case, m),
    ),
    "text as the basket value": Breakage(
        IngestError, "orders.basket_value", ("not DOUBLE values",), _always,
        lambda case, m: _set("orders", "basket_value", _text(case))(case, m),
    ),
    "a repeated value as the order id": Breakage(
        IngestError, "orders.order_id", ("duplicate keys",), _always,
        lambda case, m: _set("orders", "order_id", _repeated(case))(case, m),
    ),
    "order id not mapped": Breakage(
        MappingError, "tables.deliveries", ("required column(s) not mapped: order_id",), _always,
        lambda _case, m: m["tables"]["deliveries"]["columns"].pop("order_id"),
    ),
    "a column we do not have": Breakage(
        MappingError, "tables.orders", ("unknown column 'eta_minutes'",), _always,
        lambda case, m: _set("orders", "eta_minutes", "1")(case, m),
    ),
    "a missing file": Breakage(
        IngestError, "tables.deliveries.source", ("file not found",), _always,
        lambda _case, m: m["tables"]["deliveries"].update(source="exports/nowhere.csv"),
    ),
    "an expression that does not parse": Breakage(
        MappingError, "tables.orders.columns.order_time",
        ("does not parse", "cannot be checked", "one SQL expression"), _always, _dangling,
    ),
    "a second statement": Breakage(
        MappingError, "tables.orders.columns.region", ("one SQL expression",), _always,
        lambda case, m: _set("orders", "region", "'x'; DROP TABLE orders")(case, m),
    ),
    "a wrong delimiter": Breakage(
        IngestError, "orders.", ("is not in the file",),
        lambda case: case.layout.file_format != "parquet", _wrong_delimiter,
    ),
}  # fmt: skip


def broken_cases(breakage: str) -> st.SearchStrategy[Case]:
    """Valid cases that `breakage` applies to, broken by it (each breakage is drawn on its
    own: one strategy choosing among them would favour the first few)."""
    return (
        valid_cases()
        .filter(BREAKAGES[breakage].applies)
        .map(lambda case: dataclasses.replace(case, mutation=breakage))
    )


# --- writing a case and checking it --------------------------------------------------------


def slice_sample(source: Path, target: Path, rows: int, where: str = "TRUE") -> Path:
    """`rows` random rows of a sample matching `where`, as text (its exact strings)."""
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT * FROM read_csv('{source}', all_varchar = true) WHERE {where} "
            f"USING SAMPLE reservoir({rows} ROWS) REPEATABLE (17)) TO '{target}' (HEADER)"
        )
    return target


def _written_columns(case: Case) -> list[tuple[str, str]]:
    """(SQL over `base`, written name) for each column of the written file."""
    layout = case.layout
    columns = DOORDASH_COLUMNS if case.sample == "doordash" else INDIA_COLUMNS
    written = []
    for column in columns:
        source = '"' + column + '"'
        if case.sample == "doordash" and column in ("created_at", "actual_delivery_time"):
            utc = f"CAST({source} || '+00' AS TIMESTAMPTZ)"
            wall = f"CAST({utc} AS TIMESTAMP)"  # in the session's zone: the layout's
            if layout.clock == "split":
                written.append((f"strftime({wall}, '%Y-%m-%d')", layout.names[f"{column}:date"]))
                written.append((f"strftime({wall}, '%H:%M:%S')", layout.names[f"{column}:time"]))
                continue
            source = {
                "naive": f"strftime({wall}, '%Y-%m-%d %H:%M:%S')",
                "offset": f"strftime({utc}, '%Y-%m-%d %H:%M:%S%z')",
                "epoch": f"CAST(epoch({utc}) AS BIGINT)",
                "text": f"strftime({wall}, '%d/%m/%Y %H:%M:%S')",
            }[layout.clock]
        written.append((source, layout.names[column]))
    return written


def _junk_lines(kind: str, names: list[str], delimiter: str, rows: int) -> str:
    width = len(names)
    line = {
        "blank": [""] * width,
        "header": names,
        "test": ["TEST-ORDER"] + ["n/a"] * (width - 1),
        "footer": ["TOTAL", str(rows)],
    }[kind]
    return delimiter.join(line) + "\n"


def write_case(case: Case, base_file: Path, folder: Path) -> Path:
    """Write the case's export (and extra files) into `folder`; return its mapping file."""
    layout = case.layout
    folder.mkdir(parents=True, exist_ok=True)
    written = _written_columns(case)
    names = [name for _, name in written]
    delimiter = {"tsv": "\t", "semicolon": ";"}.get(layout.file_format, ",")
    text_file = folder / "export.txt"
    with duckdb.connect() as con:
        con.execute(f"SET TimeZone = '{layout.source_zone}'")
        con.execute(
            f"CREATE VIEW base AS SELECT * FROM read_csv('{base_file}', all_varchar = true)"
        )
        select = ", ".join(f"{sql} AS c{index}" for index, (sql, _) in enumerate(written))
        con.execute(
            f"COPY (SELECT {select} FROM base) TO '{text_file}' "
            f"(HEADER false, DELIMITER '{delimiter}')"
        )
        rows = int(con.execute("SELECT count(*) FROM base").fetchall()[0][0])
        for name, sql in case.extra_files.items():
            con.execute(f"COPY ({sql}) TO '{folder / name}' (HEADER)")
    body = text_file.read_text()
    junk = "".join(_junk_lines(kind, names, delimiter, rows) for kind in layout.junk)
    text = delimiter.join(names) + "\n" + body + junk
    text_file.unlink()
    export = folder / layout.file_name
    if layout.file_format == "gzip":
        export.write_bytes(gzip.compress(text.encode()))
    elif layout.file_format == "parquet":
        csv_file = folder / "export.csv"
        csv_file.write_text(text)
        with duckdb.connect() as con:
            con.execute(
                f"COPY (SELECT * FROM read_csv('{csv_file}', all_varchar = {layout.textual})) "
                f"TO '{export}' (FORMAT parquet)"
            )
        csv_file.unlink()
    else:
        export.write_text(text)
    mapping = case.mapping()
    if case.mutation:
        BREAKAGES[case.mutation].apply(case, mapping)
    path = folder / "mapping.yaml"
    path.write_text(yaml.safe_dump(mapping, sort_keys=False, allow_unicode=True))
    return path


def _expected(case: Case, base_file: Path) -> tuple[int, list[Any] | None]:
    """The orders an ingest must give and, for DoorDash, their local order times (sorted)."""
    with duckdb.connect() as con:
        con.execute(
            f"CREATE VIEW base AS SELECT * FROM read_csv('{base_file}', all_varchar = true)"
        )
        rows = int(con.execute(case.expected_rows).fetchall()[0][0])
        if case.sample != "doordash":
            return rows, None
        times = con.execute(
            f"SELECT timezone('{case.local_zone}', CAST(created_at || '+00' AS TIMESTAMPTZ)) AS t "
            "FROM base ORDER BY t"
        ).fetchall()
    return rows, [row[0] for row in times]


def _ingested_times(world: Path) -> list[Any]:
    with duckdb.connect() as con:
        return [
            row[0]
            for row in con.execute(
                f"SELECT order_time FROM read_parquet('{world / 'orders.parquet'}') ORDER BY 1"
            ).fetchall()
        ]


def check_valid(case: Case, base_file: Path, folder: Path) -> dict[str, Any]:
    """Ingest a valid case and ask the question; assert the properties; return the answer."""
    mapping = write_case(case, base_file, folder)
    world = folder / "world"
    result = ingest(mapping, world, threads=1)
    rows, times = _expected(case, base_file)
    assert result.row_counts["orders"] == result.row_counts["deliveries"] == rows
    if times is not None:
        assert _ingested_times(world) == times
    agent = Agent(world, AgentSettings(llm="offline"))
    try:
        answer = agent.ask(QUESTION)
    finally:
        agent.close()
    text = "\n".join([answer["answer"], *answer.get("notes", [])])
    assert answer["answer"].strip()
    assert not MISSING.search(text), MISSING.search(text)
    assert answer["grounding"]["ok"], answer["grounding"]
    return answer


def check_invalid(case: Case, base_file: Path, folder: Path) -> str:
    """Ingest a broken case; assert it fails naming file, column and problem; return the
    message."""
    breakage = BREAKAGES[case.mutation or ""]
    mapping = write_case(case, base_file, folder)
    world = folder / "world"
    with pytest.raises((MappingError, IngestError)) as raised:
        ingest(mapping, world, threads=1)
    error = raised.value
    message = str(error)
    assert isinstance(error, breakage.error), message
    if isinstance(error, MappingError):
        assert str(mapping.resolve()) in message, message
        named = [message]
    else:
        named = [f"{p.file}: {p.column}: {p.problem}" for p in error.problems]
        assert all(Path(p.file).name in (case.layout.file_name, "nowhere.csv")
                   for p in error.problems), message  # fmt: skip
    assert any(
        breakage.column in line and any(phrase in line for phrase in breakage.problems)
        for line in named
    ), message
    assert "Traceback" not in message
    assert not world.exists()
    assert [p.name for p in folder.iterdir() if p.name.startswith(".world")] == []
    return message


# --- the tests -------------------------------------------------------------------------------

SAMPLES = real_samples()
pytestmark = pytest.mark.skipif(
    not all(path.is_file() for path in SAMPLES.values()),
    reason=f"the real samples are not at {', '.join(map(str, SAMPLES.values()))}",
)
_SETTINGS = {
    "database": None,  # nothing written into the repository
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
}


@pytest.fixture(scope="module")
def slices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A slice of each sample, written once: the valid cases are drawn from it."""
    folder = tmp_path_factory.mktemp("slices")
    return {
        sample: slice_sample(path, folder / f"{sample}.csv", SLICES[sample][1], SLICES[sample][0])
        for sample, path in SAMPLES.items()
    }


@pytest.fixture(scope="module")
def small_slices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small slice of each sample for the broken cases."""
    folder = tmp_path_factory.mktemp("small-slices")
    return {
        sample: slice_sample(path, folder / f"{sample}.csv", BROKEN_SLICE_ROWS)
        for sample, path in SAMPLES.items()
    }


class _Folders:
    """A fresh directory per hypothesis example (function-scoped tmp_path is shared by all)."""

    def __init__(self, root: Path) -> None:
        self.root, self.count = root, 0

    def __call__(self) -> Path:
        self.count += 1
        folder = self.root / f"case{self.count}"
        shutil.rmtree(folder, ignore_errors=True)
        return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> _Folders:
    return _Folders(tmp_path_factory.mktemp("cases"))


@seed(SEED)
@settings(max_examples=VALID_EXAMPLES, **_SETTINGS)
@given(case=valid_cases())
def test_a_valid_mapping_ingests_the_expected_rows_and_answers_grounded(
    slices: dict[str, Path], folders: _Folders, case: Case
) -> None:
    check_valid(case, slices[case.sample], folders())


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
@seed(SEED)
@settings(max_examples=BROKEN_EXAMPLES_EACH, **_SETTINGS)
@given(data=st.data())
def test_a_broken_mapping_fails_naming_the_file_the_column_and_the_problem(
    small_slices: dict[str, Path], folders: _Folders, breakage: str, data: st.DataObject
) -> None:
    case = data.draw(broken_cases(breakage))
    check_invalid(case, small_slices[case.sample], folders())


# --- what the drawn cases found, pinned as examples ------------------------------------------


def _tiny_export(folder: Path, where: str | None, order_time: str) -> Path:
    (folder / "orders.csv").write_text('"Order ID","Created At"\n1,2026-01-05 02:30:00\n')
    table: dict[str, Any] = {"source": "orders.csv", "columns": {"order_id": '"Order ID"'}}
    if where:
        table["where"] = where
    orders = {**table, "columns": {**table["columns"], "order_time": order_time}}
    mapping = {"local_timezone": "UTC", "tables": {"orders": orders, "deliveries": table}}
    path = folder / "mapping.yaml"
    path.write_text(yaml.safe_dump(mapping))
    return path


def test_a_where_over_a_column_the_file_lacks_is_quoted_in_the_error(tmp_path: Path) -> None:
    mapping = _tiny_export(tmp_path, "\"Time Ordered\" <> 'NaN'", '"Created At"')
    with pytest.raises(IngestError) as raised:
        ingest(mapping, tmp_path / "world")
    (problem, *_) = raised.value.problems
    assert problem.column == "orders.where"
    assert problem.problem.startswith(
        "column 'Time Ordered' is not in the file (expression '\"Time Ordered\" <> \\'NaN\\'')"
    )


def test_a_missing_column_whose_name_has_spaces_is_named_whole(tmp_path: Path) -> None:
    mapping = _tiny_export(tmp_path, None, '"Created (UTC)"')
    with pytest.raises(IngestError) as raised:
        ingest(mapping, tmp_path / "world")
    (problem,) = raised.value.problems
    assert problem.column == "orders.order_time"
    assert "column 'Created (UTC)' is not in the file" in problem.problem
    assert "the file's columns: Order ID, Created At" in problem.problem


@pytest.mark.parametrize(
    ("footer", "explained"),
    [
        (
            "TOTAL,x,x,x,n/a,n/a,n/a,n/a,n/a,n/a,n/a,x,x,n/a,x,x,x,x,x,x",
            "column 'Restaurant_latitude' holds 'n/a', not DOUBLE as detected from the file's "
            "first rows; read the file as text (read_options {all_varchar: true}",
        ),
        ("TOTAL,45593", "has 2 fields where the header has 20; pad short rows with nulls"),
    ],
    ids=["a value of another type", "a short row"],
)
def test_a_junk_row_past_the_rows_types_are_detected_from_is_explained_once(
    tmp_path: Path, footer: str, explained: str
) -> None:
    export = tmp_path / "train.csv"
    export.write_bytes(SAMPLES["india"].read_bytes() + f"{footer}\r\n".encode())
    orders = {"order_id": "trim(ID)", "order_time": "Order_Date + TRY_CAST(Time_Orderd AS TIME)"}
    mapping = {
        "local_timezone": "Asia/Kolkata",
        "tables": {
            "orders": {"source": "train.csv", "columns": orders},
            "deliveries": {"source": "train.csv", "columns": {"order_id": "trim(ID)"}},
        },
    }
    (tmp_path / "mapping.yaml").write_text(yaml.safe_dump(mapping))
    with pytest.raises(IngestError) as raised:
        ingest(tmp_path / "mapping.yaml", tmp_path / "world")
    (problem,) = raised.value.problems  # the file, read once for both tables
    assert (problem.file, problem.column) == (str(export), "orders")
    assert problem.problem.startswith("cannot read: line 45,595 of the file")
    assert explained in problem.problem
    assert "TOTAL" not in problem.problem  # the row itself is not quoted
