"""The one list of tools: importing this module registers every tool in `REGISTRY`."""

from tools import (  # noqa: F401  (registers their tools)
    change_ranking,
    detection,
    key_drivers,
    plan,
    quality,
    questions,
    rca,
    recommend,
    sql,
)
from tools.base import REGISTRY, Tool

__all__ = ["REGISTRY", "Tool"]
