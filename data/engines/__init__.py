"""The engine seam: what every query runs through (DuckDB embedded by default, Spark at scale).

Queries are written once in DuckDB's dialect; `base.Engine` is the connection interface they
use, `transpile` turns them into another engine's SQL, and each engine module opens a world
(DuckDB's is data.warehouse.open_warehouse: its connection is an Engine as it is).
Importing this package does not import pyspark.
"""

from data.engines.base import Engine, EngineError, Result

__all__ = ["Engine", "EngineError", "Result"]
