"""Exact counterfactual effects: the same world regenerated without an intervention."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from analytics.whatif import Simulator, cx_from_values
from data.generator import MANIFEST_FILE, generate_world
from data.scenario import Scenario
from data.warehouse import open_warehouse


def scenario_of(world_dir: Path) -> Scenario:
    """The scenario a generated world was made from (its manifest)."""
    manifest = json.loads((Path(world_dir) / MANIFEST_FILE).read_text())
    return Scenario.model_validate(manifest["scenario"])


def counterfactual_world(world_dir: Path, intervention: int, cache_dir: Path) -> Path:
    """The world without intervention `intervention` (generated once into `cache_dir`)."""
    scenario = scenario_of(world_dir).without(intervention)
    digest = hashlib.sha256(scenario.model_dump_json().encode()).hexdigest()[:12]
    key = f"{scenario.name}-without-{intervention}-{digest}"
    out = Path(cache_dir) / key
    if not (out / MANIFEST_FILE).exists():
        generate_world(scenario, out)
    return out


def scope_values(
    world_dir: Path,
    filters: Mapping[str, list],
    start: dt.datetime,
    end: dt.datetime,
    baseline_days: int = 14,
) -> dict[str, float]:
    """Metric values of a scope's window in a world (as the what-if simulator observes them)."""
    con = open_warehouse(world_dir)
    try:
        baseline = (start - dt.timedelta(days=baseline_days), start)
        observed = Simulator.observe(con, filters, baseline, (start, end))
    finally:
        con.close()
    observed["cx_score"] = cx_from_values(observed)
    return observed


def exact_effect(
    world_dir: Path,
    intervention: int,
    filters: Mapping[str, list],
    start: dt.datetime,
    end: dt.datetime,
    cache_dir: Path,
) -> dict[str, float]:
    """Metric changes in the scope's window had the intervention never happened."""
    factual = scope_values(world_dir, filters, start, end)
    counterfactual = scope_values(
        counterfactual_world(world_dir, intervention, cache_dir), filters, start, end
    )
    return {name: counterfactual[name] - factual[name] for name in factual}
