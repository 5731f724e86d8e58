"""The workbench's heatmaps and breakdowns step through the served world's own values (a real
export's markets and cuisines), not the synthetic world's."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxagent.web.workbench import HEATMAP_PAIRS, MAX_DIMENSION_VALUES, Workbench
from data.ingest import ingest
from data.mapping import load_mapping

MAPPING = Path(__file__).resolve().parents[2] / "examples" / "doordash_2015" / "mapping.yaml"
pytestmark = pytest.mark.skipif(
    not load_mapping(MAPPING).source_path("orders").is_file(), reason="no DoorDash sample here"
)


def test_breakdowns_and_heatmaps_of_a_real_export_show_its_markets_and_cuisines(
    tmp_path: Path,
) -> None:
    world = ingest(MAPPING, tmp_path / "doordash").out_dir
    workbench = Workbench(world)
    try:
        regions = workbench.dimension_values("region")
        categories = workbench.dimension_values("category")
        incident = workbench.incidents()[0]
        breakdown = workbench.breakdown(incident.incident_id, {}, "region")
        pair = next(name for name, dims in HEATMAP_PAIRS.items() if dims == ("region", "category"))
        heatmap = workbench.heatmap(incident.incident_id, pair)
    finally:
        workbench.close()

    assert regions and all(str(region).startswith("market ") for region in regions)
    assert 1 < len(categories) <= MAX_DIMENSION_VALUES and "american" in categories
    assert set(breakdown["region"]) <= set(regions) and len(breakdown) > 1
    assert heatmap["incident_orders"].sum() > 0
