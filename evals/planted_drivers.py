"""Small exports with known planted drivers, ingested through a mapping with custom dimensions,
to check a key-driver analysis: delivery minutes rise with storms (the causal driver) and with
bicycles (a weaker one); road closures come with storms far more often but change nothing (the
correlated bystander); the channel and the region are noise."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from data.ingest import ingest

CAUSAL = "weather"  # storms add STORM_MINUTES
BYSTANDER = "road_closure"  # set with CLOSURE_GIVEN_STORM of storms, CLOSURE_OTHERWISE else
WEAKER = "vehicle"  # bicycles add BICYCLE_MINUTES
NOISE = ("channel", "region")
STORM_MINUTES = 4.0
BICYCLE_MINUTES = 2.0
NOISE_MINUTES = 8.0  # standard deviation of the rest of an order's minutes
STORM_SHARE = 0.3
CLOSURE_GIVEN_STORM = 0.8
CLOSURE_OTHERWISE = 0.1


def planted_frame(seed: int, orders: int = 3000) -> pd.DataFrame:
    """One export's rows (a CSV a marketplace might send: text flags, a minutes column)."""
    rng = np.random.default_rng(seed)
    storm = rng.random(orders) < STORM_SHARE
    closure = rng.random(orders) < np.where(storm, CLOSURE_GIVEN_STORM, CLOSURE_OTHERWISE)
    bicycle = rng.random(orders) < 0.3
    minutes = (
        25
        + STORM_MINUTES * storm
        + BICYCLE_MINUTES * bicycle
        + rng.normal(0, NOISE_MINUTES, orders)
    ).clip(5)
    start = dt.datetime(2026, 3, 2)
    created = [start + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 28 * 1440, orders)]
    return pd.DataFrame(
        {
            "id": [f"p{seed}-{i}" for i in range(orders)],
            "created": [c.isoformat(sep=" ") for c in created],
            "city": rng.choice(["north", "south", "east"], size=orders),
            "weather": np.where(storm, "Stormy", "Clear"),
            "closure": np.where(closure, "Yes", "No"),
            "vehicle": np.where(bicycle, "bicycle", "motorcycle"),
            "channel": rng.choice(["app", "web"], size=orders),
            "minutes": minutes.round(1),
        }
    )


def planted_mapping(source: Path) -> dict[str, object]:
    """The mapping of a planted export (custom dimensions for everything but the region)."""
    table = {"source": str(source), "read_options": {"all_varchar": True}}
    return {
        "local_timezone": "UTC",
        "tables": {
            "orders": {
                **table,
                "columns": {
                    "order_id": "id",
                    "region": "city",
                    "order_time": "CAST(created AS TIMESTAMP)",
                },
                "dimensions": {
                    CAUSAL: "weather",
                    BYSTANDER: "closure = 'Yes'",
                    WEAKER: "vehicle",
                    "channel": "channel",
                },
            },
            "deliveries": {
                **table,
                "columns": {
                    "order_id": "id",
                    "actual_eta": "CAST(created AS TIMESTAMP) "
                    "+ to_seconds(CAST(minutes AS DOUBLE) * 60)",
                },
            },
        },
    }


def planted_world(folder: Path, seed: int, orders: int = 3000) -> Path:
    """Write, map and ingest one planted export under `folder`; the world's directory."""
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"planted_{seed}.csv"
    planted_frame(seed, orders).to_csv(source, index=False)
    mapping = folder / f"planted_{seed}.yaml"
    mapping.write_text(yaml.safe_dump(planted_mapping(source)))
    world = folder / f"world_{seed}"
    ingest(mapping, world)
    return world
