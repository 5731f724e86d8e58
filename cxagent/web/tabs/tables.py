"""The table cells the tabs share: a DataFrame from result rows, a share as a percentage."""

from __future__ import annotations

from typing import Any

import pandas as pd


def frame(rows: list[dict[str, Any]] | None, columns: list[str] | None = None) -> pd.DataFrame:
    """The rows as a table for gr.Dataframe (an empty one, with `columns` if given, for None)."""
    return pd.DataFrame(rows or [], columns=columns)


def percent(share: float) -> str:
    """0.123 -> '12.3%'; NaN -> '' (an empty cell)."""
    return "" if share != share else f"{100 * share:.1f}%"
