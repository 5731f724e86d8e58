"""Bounded samples of orders drawn in the engine, for the model fits that read order rows (SHAP
attribution, what-if simulation, experiment sizing), so that at warehouse scale only a bounded
number of rows leaves the engine.

A sample keeps an order when the first 8 hex digits of md5(order_id) fall below the window's
share of 16^8: a Bernoulli sample of each window (stratified by window: each keeps about
`cap` orders, or all of them when it holds fewer), the same orders on every engine and every
run (md5 is standard SQL on DuckDB, Spark, Snowflake, BigQuery and Trino, and compares as text
here). Within a window the sample is uniform, so days, hours and outcomes keep their shares up
to sampling noise; volumes read from a sample are scaled back by its fraction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

_HASH_DIGITS = 8
_HASH_RANGE = 16**_HASH_DIGITS


@dataclass(frozen=True)
class WindowSample:
    """How many orders a window holds and the share of them a sample keeps."""

    start: dt.datetime
    end: dt.datetime
    rows: int
    cap: int

    @property
    def fraction(self) -> float:
        return 1.0 if self.rows <= self.cap else self.cap / self.rows

    @property
    def sampled(self) -> bool:
        return self.fraction < 1.0

    def predicate(self, key: str = "order_id") -> str:
        """SQL true for the orders this sample keeps (the hash threshold is written in)."""
        if not self.sampled:
            return "TRUE"
        threshold = format(max(1, round(self.fraction * _HASH_RANGE)), f"0{_HASH_DIGITS}x")
        return f"substr(md5(CAST({key} AS VARCHAR)), 1, {_HASH_DIGITS}) < '{threshold}'"


def window_samples(
    con: duckdb.DuckDBPyConnection,
    condition: str,
    parameters: Sequence[object],
    windows: Sequence[tuple[dt.datetime, dt.datetime]],
    cap: int,
) -> list[WindowSample]:
    """Each window's orders in the scope (`condition` over order_facts, with its parameters),
    counted in one aggregate query, and the sample of at most about `cap` of them."""
    counts = ", ".join(
        "count(CASE WHEN order_time >= ? AND order_time < ? THEN 1 END)" for _ in windows
    )
    bounds = [bound for window in windows for bound in window]
    row = con.execute(
        f"SELECT {counts} FROM order_facts WHERE {condition}", [*bounds, *parameters]
    ).fetchone()
    totals = row if row is not None else (0,) * len(windows)
    return [
        WindowSample(start, end, int(total or 0), cap)
        for (start, end), total in zip(windows, totals, strict=True)
    ]


def sampled_predicate(
    samples: Sequence[WindowSample], time_column: str = "order_time", key: str = "order_id"
) -> tuple[str, list[object]]:
    """SQL keeping each window's sampled orders (TRUE when no window is sampled)."""
    if not any(sample.sampled for sample in samples):
        return "TRUE", []
    cases = " ".join(
        f"WHEN {time_column} >= ? AND {time_column} < ? THEN {sample.predicate(key)}"
        for sample in samples
    )
    bounds: list[object] = [b for sample in samples for b in (sample.start, sample.end)]
    return f"(CASE {cases} ELSE FALSE END)", bounds


def describe(samples: Sequence[WindowSample], names: Sequence[str]) -> str | None:
    """'fitted on a sample of about 20,000 of 1,204,511 baseline orders (drawn in the engine,
    by order id)', or None. 'About': a Bernoulli draw keeps the expected number, not exactly it
    (the fit's own figures give the rows it read)."""
    parts = [
        f"{round(sample.rows * sample.fraction):,} of {sample.rows:,} {name} orders"
        for sample, name in zip(samples, names, strict=True)
        if sample.sampled
    ]
    if not parts:
        return None
    listed = " and ".join(parts)
    return f"fitted on a sample of about {listed} (drawn in the engine, by order id)"
