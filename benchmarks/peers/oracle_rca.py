"""cx-agent's own root-cause step handed what the root-cause peers are handed: its hypothesis
testing and ranking (tools.investigation.investigate_window: plan_tests, gather, assess, the
rank_causes tool) on the truth's window and scope, with the peers' 7-day baseline, so a
detection miss does not count against it (the like-for-like row of the table)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import tools.catalog  # noqa: F401  (registers the tools)
from analytics.changes import scope_filters
from analytics.incidents import SLICE_METRIC
from analytics.metrics import CX_SCORE
from benchmarks.peers.root_cause import BASELINE_DAYS
from evals.scoring import COUNTED
from tools.base import ToolContext
from tools.investigation import Investigation, investigate_window

ORACLE = "cx-agent (given the true window and scope)"
# The share metric cx-agent localizes a CX score drop on (the peers explain the CX score).
ORACLE_METRIC = SLICE_METRIC[CX_SCORE]


def oracle_investigation(
    context: ToolContext, scope: dict[str, list], window: tuple[dt.datetime, dt.datetime]
) -> Investigation:
    """cx-agent's investigation of an intervention's scope (truth.json's scope keys) over the
    incident window [start, end), against the BASELINE_DAYS before it; every tool call lands
    in `context`'s ledger."""
    start, end = window
    return investigate_window(
        context, start, end, scope_filters(scope), ORACLE_METRIC, baseline_days=BASELINE_DAYS
    )


def found_causes(investigation: Investigation) -> list[str]:
    """The cause kinds cx-agent holds (supported or weak), in rank order, as the evals count
    them (evals.scoring.counted_causes)."""
    ranked = investigation.causes.causes if investigation.causes else []
    return [cause.kind for cause in ranked if cause.status in COUNTED]


def oracle_ranking(
    world: Path, scope: dict[str, list], window: tuple[dt.datetime, dt.datetime]
) -> list[str]:
    """cx-agent's ranked cause kinds on a world, given the true window and scope (a
    ToolContext on the world directory, as the agent makes one)."""
    context = ToolContext(world_dir=world)
    try:
        return found_causes(oracle_investigation(context, scope, window))
    finally:
        context.close()
