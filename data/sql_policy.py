"""SQL functions no user- or model-written SQL may call: those that read files, other databases
or the session, or write anything. One list for the read-only SQL tool (tools/sql.py) and for
mapping expressions (data/mapping.py), each of which adds its own structural checks."""

from __future__ import annotations

DENIED_FUNCTIONS = frozenset(
    {"glob", "query", "query_table", "getenv", "current_setting", "which_secret", "write_log"}
    | {"nextval", "setval", "checkpoint", "force_checkpoint"}
    | {"enable_profiling", "disable_profiling", "enable_logging", "disable_logging"}
)
# Families, including those of extensions that are not loaded here.
DENIED_FUNCTION_PREFIXES = (
    *("read_", "parquet_", "sniff_", "duckdb_", "pragma_", "iceberg_", "delta_", "sqlite_"),
    *("postgres_", "mysql_", "st_read", "http_", "json_execute"),
)


def denied_function(name: str) -> bool:
    """Whether a function (any case) is on the list or in a denied family."""
    name = name.lower()
    return name in DENIED_FUNCTIONS or name.startswith(DENIED_FUNCTION_PREFIXES)
